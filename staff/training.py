"""Feeding staff corrections back into training: the intents to choose from, and the export.

Staff mark a user message as misunderstood and pick the right intent (``faq`` is offered as its
retrieval intents, ``faq/evidence``, ...). ``python -m staff.manage export-corrections`` writes
them as Rasa NLU training data (``version: "3.1"``) to ``results/corrections.yml`` for a person
to review and merge into ``data/nlu/``; nothing goes into the training data by itself.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DOMAIN_FILE = PROJECT_ROOT / "domain.yml"
DEFAULT_EXPORT = PROJECT_ROOT / "results" / "corrections.yml"
# Not something a message can be trained as.
NOT_TRAINABLE = frozenset({"nlu_fallback", "session_start", "restart", "back"})


def load_intents(domain_file: Path = DOMAIN_FILE) -> tuple[str, ...]:
    """Intents from the domain, retrieval intents expanded (faq -> faq/evidence, ...)."""
    with domain_file.open(encoding="utf-8") as handle:
        domain: dict[str, Any] = yaml.safe_load(handle) or {}
    responses = domain.get("responses") or {}
    intents: list[str] = []
    for entry in domain.get("intents") or []:
        name = next(iter(entry)) if isinstance(entry, dict) else str(entry)
        if name in NOT_TRAINABLE:
            continue
        prefix = f"utter_{name}/"
        topics = sorted(key[len("utter_"):] for key in responses if key.startswith(prefix))
        intents.extend(topics or [name])
    return tuple(intents)


def clean_example(text: str) -> str:
    """One line of a YAML block: whitespace collapsed."""
    return " ".join(str(text).split())


def corrections_yaml(rows: Iterable[dict[str, Any]]) -> str:
    """Rasa NLU YAML with one ``- intent:`` block per corrected intent (examples deduplicated)."""
    by_intent: dict[str, list[str]] = {}
    for row in rows:
        example = clean_example(row["text"])
        if not example:
            continue
        examples = by_intent.setdefault(str(row["correct_intent"]), [])
        if example not in examples:
            examples.append(example)
    lines = [
        "# Messages the assistant misunderstood, with the intent staff chose (staff console).",
        "# Review each example before copying it into data/nlu/; then retrain (make train).",
        'version: "3.1"',
        "",
    ]
    if not by_intent:
        lines.append("nlu: []")
        return "\n".join(lines) + "\n"
    lines.append("nlu:")
    for intent in sorted(by_intent):
        lines.append(f"- intent: {intent}")
        lines.append("  examples: |")
        lines.extend(f"    - {example}" for example in by_intent[intent])
    return "\n".join(lines) + "\n"


def write_corrections(rows: Iterable[dict[str, Any]], path: Path = DEFAULT_EXPORT) -> int:
    """Write the YAML file; the number of examples written."""
    rows = list(rows)
    text = corrections_yaml(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    count = sum(1 for line in text.splitlines() if line.startswith("    - "))
    logger.info("Wrote %d corrected examples to %s", count, path)
    return count
