"""Model evaluation: held-out sets, cross-validation against Rasa's default pipeline, stories.

``make evaluate`` runs everything and writes ``docs/evaluation.md`` (tables, confusion pairs and
the confusion matrix / confidence histogram images). ``make test`` runs the reduced form
(``--ci``: the two held-out sets and the test stories, no cross-validation, no docs) and fails
below the accuracy floors.

The held-out sets and the test stories are run in this process with the model loaded once
(``Agent.load``), every message parsed as the Rasa server parses it, *fallback included*: a
message the model is not sure enough about is refused (``nlu_fallback``, "could you put it
another way?"), as a patient would see. (``rasa test nlu`` undoes the fallback before scoring.)
The cross-validation figures come from ``rasa test nlu --cross-validation``'s own reports, as
Rasa computes them for any pipeline, so the default pipeline is scored the same way.

Definitions:
* refusal: the model answers ``out_of_scope`` or ``nlu_fallback`` (the patient is told the
  assistant cannot help / asked to rephrase, instead of getting a guessed answer);
* intent accuracy: share of messages answered with their intent; an off-topic message is right
  when it is refused, an in-scope message that is refused is wrong;
* FAQ answer accuracy: share of FAQ questions whose answer (the response selector's topic) is the
  right one;
* out-of-scope recall: share of off-topic messages refused;
* in-scope false refusals: share of in-scope messages refused.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from scripts import evaluate_external
from scripts.cross_validate import FOLD_SEED
from scripts.evaluate_external import REFUSALS, ExternalResult

logger = logging.getLogger("evaluate")

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "results" / "evaluate"
DOCS = ROOT / "docs"
MODEL = ROOT / "models" / "clinic.tar.gz"
HELD_OUT_SETS = {
    "held-out": ROOT / "tests" / "nlu_heldout.yml",
    "blind": ROOT / "tests" / "nlu_blind.yml",
    # Spanish, with the same floors. Two tuning sets (the second was written blind, then seen: its
    # header says how) and one blind set (tests/nlu_blind_es.yml, never seen).
    "held-out (es)": ROOT / "tests" / "nlu_heldout_es.yml",
    "held-out 2 (es)": ROOT / "tests" / "nlu_heldout_es_2.yml",
    "blind (es)": ROOT / "tests" / "nlu_blind_es.yml",
}
STORIES = ROOT / "tests" / "test_stories.yml"
# `rasa test nlu` options of every cross-validation besides data, config, folds and output; part
# of a result's inputs. --successes: the correct predictions are written too (intent_successes
# .json, response_selection_successes.json), so the figures can be split by language.
CV_OPTIONS = ("--successes",)
# Under data/nlu: the Spanish training examples (issue 20); every other file is English.
SPANISH_DIR = Path("es")
LANGUAGES = {"en": "English", "es": "Spanish"}
SPANISH_EXAMPLES = "spanish_examples.json"  # in a cross-validation's results: [text, intent, n]
SUMMARY_KEYS = {"accuracy", "macro avg", "weighted avg", "micro avg"}


@dataclass
class Floors:
    """The issue's targets for intents and refusals; FAQ answers have a regression guard."""

    heldout_intent: float = 0.95
    faq_answer: float = 0.92
    oos_recall: float = 0.95
    false_refusals: float = 0.02


@dataclass
class SetResult:
    name: str
    examples: int
    intent_accuracy: float
    answer_accuracy: float
    macro_f1: float
    oos_recall: float
    oos_examples: int
    false_refusals: float
    in_scope_examples: int
    errors: list[tuple[str, str, str, float]] = field(default_factory=list)
    # messages whose text is also a training example, and the intent accuracy on the others
    seen: int = 0
    unseen_accuracy: float = 0.0


def run_quietly(command: list[str]) -> None:
    logger.info("running: %s", " ".join(command[1:]))
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2"}
    subprocess.run(command, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)


def load(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return json.load(handle)


def count_examples(report: dict[str, Any]) -> int:
    return int(sum(row["support"] for name, row in report.items()
                   if name not in SUMMARY_KEYS and isinstance(row, dict)))


def normalized(text: str) -> str:
    return " ".join(text.lower().split())


def example_texts(path: Path) -> list[str]:
    """The message texts of an NLU file or folder (entity annotations removed), normalized."""
    from rasa.shared.nlu.training_data.loading import load_data  # noqa: PLC0415 - slow import

    return [normalized(m.get("text")) for m in load_data(str(path)).intent_examples]


@dataclass(frozen=True)
class Prediction:
    """One held-out message: what it is, and what the assistant made of it."""

    text: str
    intent: str  # the true intent (base name: ``faq``)
    answer: str | None  # the true FAQ topic (``faq/location``), None for other intents
    predicted: str  # the intent after the fallback: ``nlu_fallback`` when refused as unsure
    confidence: float
    predicted_answer: str | None  # the response selector's topic

    @property
    def refused(self) -> bool:
        return self.predicted in REFUSALS

    @property
    def correct(self) -> bool:
        if self.intent == "out_of_scope":
            return self.refused
        return self.predicted == self.intent


def summarize(name: str, predictions: list[Prediction],
              training: set[str] | None = None) -> SetResult:
    """Accuracy, refusals and errors of one set; given the ``training`` texts (normalized), also
    how many of the set's messages are training examples too and the accuracy on the others."""
    from sklearn.metrics import f1_score  # noqa: PLC0415 - slow import

    training = training or set()
    total = len(predictions)
    off_topic = [p for p in predictions if p.intent == "out_of_scope"]
    in_scope = [p for p in predictions if p.intent != "out_of_scope"]
    questions = [p for p in predictions if p.answer]
    unseen = [p for p in predictions if normalized(p.text) not in training]
    # refusals of either kind count as the label "out_of_scope" for the F1 scores
    truth = [p.intent for p in predictions]
    said = ["out_of_scope" if p.refused else p.predicted for p in predictions]

    def share(items: list[Prediction], test: Any, empty: float) -> float:
        return sum(1 for p in items if test(p)) / len(items) if items else empty

    return SetResult(
        name=name,
        examples=total,
        intent_accuracy=share(predictions, lambda p: p.correct, 0.0),
        answer_accuracy=share(questions, lambda p: p.predicted_answer == p.answer, 1.0),
        macro_f1=float(f1_score(truth, said, average="macro", zero_division=0))
        if predictions else 0.0,
        oos_recall=share(off_topic, lambda p: p.refused, 1.0),
        oos_examples=len(off_topic),
        false_refusals=share(in_scope, lambda p: p.refused, 0.0),
        in_scope_examples=len(in_scope),
        errors=[(p.text, p.intent, p.predicted, round(p.confidence, 2))
                for p in predictions if not p.correct],
        seen=total - len(unseen),
        unseen_accuracy=share(unseen, lambda p: p.correct, 1.0),
    )


async def predict(agent: Any, path: Path) -> list[Prediction]:
    """Every message of an NLU file parsed by the loaded model, as the server parses it."""
    from rasa.shared.nlu.training_data.loading import load_data  # noqa: PLC0415 - slow import

    predictions = []
    for example in load_data(str(path)).intent_examples:
        parsed = await agent.parse_message(example.get("text"))
        intent = parsed.get("intent") or {}
        predicted = str(intent.get("name") or "")
        confidence = float(intent.get("confidence") or 0.0)
        if predicted == "nlu_fallback":  # the fallback keeps the guess it refused second
            ranking = parsed.get("intent_ranking") or []
            confidence = float(ranking[1]["confidence"]) if len(ranking) > 1 else confidence
        true = str(example.get("intent"))
        selector = (parsed.get("response_selector") or {}).get(true) or {}
        predictions.append(Prediction(
            text=example.get("text"),
            intent=true,
            answer=example.get("intent_response_key") or None,
            predicted=predicted,
            confidence=confidence,
            predicted_answer=(selector.get("response") or {}).get("intent_response_key"),
        ))
    return predictions


def per_intent(out: Path) -> dict[str, dict[str, float]]:
    report = load(out / "intent_report.json")
    return {name: {"precision": row["precision"], "recall": row["recall"],
                   "f1": row["f1-score"], "support": row["support"]}
            for name, row in sorted(report.items())
            if name not in SUMMARY_KEYS and isinstance(row, dict)}


def confusion_pairs(out: Path, top: int = 12) -> list[tuple[str, str, int]]:
    pairs = Counter((e["intent"], e["intent_prediction"]["name"])
                    for e in load(out / "intent_errors.json"))
    return [(true, predicted, n) for (true, predicted), n in pairs.most_common(top)]


@dataclass
class LanguageCV:
    """The cross-validation figures of one language's examples (the same folds and models)."""

    language: str
    examples: int
    intent_accuracy: float
    macro_f1: float
    faq_questions: int
    answer_accuracy: float


def spanish_examples(nlu: Path) -> Counter[tuple[str, str]]:
    """(normalized text, intent) of each Spanish training example: the examples of the files
    under ``nlu``/es/, counted (a text may be an example more than once)."""
    from rasa.shared.nlu.training_data.loading import load_data  # noqa: PLC0415 - slow import

    folder = nlu / SPANISH_DIR
    if not folder.is_dir():
        return Counter()
    return Counter((normalized(m.get("text")), str(m.get("intent")))
                   for m in load_data(str(folder)).intent_examples)


def split_by_language(rows: list[dict[str, Any]], spanish: Counter[tuple[str, str]],
                      intent_of: Any) -> dict[str, list[dict[str, Any]]]:
    """Rasa's per-example results (``*_successes.json`` + ``*_errors.json`` rows) by the
    language of their example: Spanish when the row's text and intent are a Spanish example
    (each Spanish example claims one row), English otherwise."""
    left = Counter(spanish)
    groups: dict[str, list[dict[str, Any]]] = {language: [] for language in LANGUAGES}
    for row in rows:
        key = (normalized(row["text"]), intent_of(row))
        if left[key] > 0:
            left[key] -= 1
            groups["es"].append(row)
        else:
            groups["en"].append(row)
    return groups


def cv_rows(out: Path, kind: str) -> list[dict[str, Any]] | None:
    """Every tested example of a cross-validation (``kind``: intent or response_selection),
    right and wrong; None when the run did not write its successes (older runs)."""
    successes, errors = out / f"{kind}_successes.json", out / f"{kind}_errors.json"
    if not successes.exists():
        return None
    # Rasa writes no errors file when every prediction is right
    return [*load(successes), *(load(errors) if errors.exists() else [])]


def cv_by_language(out: Path, spanish: Counter[tuple[str, str]]) -> dict[str, LanguageCV] | None:
    """Intent accuracy, macro F1 and FAQ answer accuracy of a cross-validation for the English
    and the Spanish examples separately, from Rasa's per-example results; None when the run
    has none."""
    from sklearn.metrics import f1_score  # noqa: PLC0415 - slow import

    intents = cv_rows(out, "intent")
    if intents is None:
        return None
    answers = cv_rows(out, "response_selection") or []
    by_intent = split_by_language(intents, spanish, lambda row: row["intent"])
    by_answer = split_by_language(
        answers, spanish, lambda row: row["intent_response_key_target"].split("/")[0])
    result = {}
    for language, rows in by_intent.items():
        truth = [row["intent"] for row in rows]
        said = [row["intent_prediction"]["name"] for row in rows]
        questions = by_answer[language]
        result[language] = LanguageCV(
            language=language,
            examples=len(rows),
            intent_accuracy=sum(a == b for a, b in zip(truth, said, strict=True)) / len(rows)
            if rows else 0.0,
            macro_f1=float(f1_score(truth, said, average="macro", zero_division=0))
            if rows else 0.0,
            faq_questions=len(questions),
            answer_accuracy=sum(row["intent_response_key_target"] ==
                                row["intent_response_key_prediction"]["name"]
                                for row in questions) / len(questions) if questions else 0.0,
        )
    return result


def cv_languages(cv: dict[str, Path]) -> dict[str, dict[str, LanguageCV] | None]:
    """Each cross-validation's figures per language (None for a run without successes)."""
    if not cv:
        return {}
    now: Counter[tuple[str, str]] | None = None
    figures = {}
    for label, out in cv.items():
        if (out / SPANISH_EXAMPLES).exists():  # the Spanish examples when the run started
            spanish = Counter({(text, intent): n for text, intent, n in load(
                out / SPANISH_EXAMPLES)})
        else:  # a run from before that file: the data as it is now
            now = spanish_examples(ROOT / "data" / "nlu") if now is None else now
            spanish = now
        figures[label] = cv_by_language(out, spanish)
    return figures


def language_lines(by_language: dict[str, dict[str, LanguageCV] | None]) -> list[str]:
    """The per-language table of the cross-validations (a column per pipeline and language)."""
    columns = [(label, language, figures[language])
               for label, figures in by_language.items() if figures
               for language in LANGUAGES if figures[language].examples]
    missing = [label for label, figures in by_language.items() if not figures]
    lines = ["", "Per language: the same folds and predictions, split by the example's file "
             f"(`data/nlu/{SPANISH_DIR.as_posix()}/` Spanish, the others English); Rasa's "
             "per-example results, no fallback, as in the table above.", ""]
    if missing:
        lines += [f"(No per-example results for {', '.join(missing)}: run without "
                  "`--reuse-cv`.)", ""]
    if not columns:
        return lines
    lines += ["| measure | " + " | ".join(f"{label}, {LANGUAGES[language]}"
                                         for label, language, _ in columns) + " |",
              "|---|" + "---|" * len(columns),
              "| examples | " + " | ".join(str(f.examples) for *_, f in columns) + " |",
              "| intent accuracy | " + " | ".join(pct(f.intent_accuracy) for *_, f in columns)
              + " |",
              "| intent macro F1 | " + " | ".join(f"{f.macro_f1:.3f}" for *_, f in columns)
              + " |",
              "| FAQ answer accuracy | " + " | ".join(
                  f"{pct(f.answer_accuracy)} ({f.faq_questions})" for *_, f in columns) + " |"]
    return lines


def default_config(path: Path) -> Path:
    """Rasa's ``rasa init`` config (pipeline left to the default recipe), copied unchanged."""
    import rasa.cli  # noqa: PLC0415 - only needed here, and slow to import

    template = Path(rasa.cli.__file__).parent / "initial_project" / "config.yml"
    shutil.copyfile(template, path)
    return path


def nlu_inputs(config: Path, folds: int) -> str:
    """What a cross-validation result depends on: the NLU pipeline, the language, the NLU data
    and the number of folds (not the dialogue policies)."""
    settings = yaml.safe_load(config.read_text(encoding="utf-8"))
    digest = hashlib.sha256(json.dumps(
        {"pipeline": settings.get("pipeline"), "language": settings.get("language"),
         "folds": folds, "fold_seed": FOLD_SEED, "options": list(CV_OPTIONS)},
        sort_keys=True).encode())
    for path in sorted((ROOT / "data" / "nlu").rglob("*.yml")):
        digest.update(path.relative_to(ROOT).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def cross_validate(label: str, config: Path, folds: int, reuse: bool = False) -> Path:
    """``rasa test nlu --cross-validation``; with ``reuse``, an earlier result for exactly the
    same pipeline, data and folds is kept instead (a 5-fold run takes most of an hour)."""
    out = RESULTS / f"cv-{label}"
    inputs = nlu_inputs(config, folds)
    stamp = out / "inputs.sha256"
    if reuse and (out / "intent_report.json").exists() and stamp.exists() \
            and stamp.read_text().strip() == inputs:
        logger.info("reusing the %s cross-validation of %s", label,
                    (out / "finished.txt").read_text().strip())
        return out
    shutil.rmtree(out, ignore_errors=True)
    started = time.monotonic()
    # which examples are Spanish, read with the data the run reads (the data may change later)
    spanish = spanish_examples(ROOT / "data" / "nlu")
    # Same seeded folds for every pipeline and every run (scripts/cross_validate.py).
    run_quietly([sys.executable, "-m", "scripts.cross_validate", "--folds", str(folds),
                 "--nlu", "data/nlu", "--config", str(config), "--out", str(out),
                 *CV_OPTIONS])
    (out / SPANISH_EXAMPLES).write_text(json.dumps(
        [[text, intent, n] for (text, intent), n in sorted(spanish.items())],
        ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "seconds.txt").write_text(f"{time.monotonic() - started:.0f}\n")
    (out / "finished.txt").write_text(f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC\n")
    stamp.write_text(inputs + "\n")
    return out


async def held_out_and_stories(training: set[str], with_stories: bool
                               ) -> tuple[list[SetResult], ExternalResult, tuple[int, int]]:
    """Both held-out sets, the external sets and the test stories, with the model loaded once."""
    import rasa.core.test  # noqa: PLC0415 - slow import
    from rasa.core.agent import Agent  # noqa: PLC0415

    agent = Agent.load(str(MODEL))
    sets = [summarize(name, await predict(agent, path), training)
            for name, path in HELD_OUT_SETS.items() if path.exists()]
    external = await evaluate_external.evaluate(agent)
    story = (0, 0)
    if with_stories:
        out = RESULTS / "stories"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        await rasa.core.test.test(str(STORIES), agent, out_directory=str(out),
                                  disable_plotting=True)
        # "conversation_accuracy" holds correct/total stories in Rasa 3.6's story report.
        conv = load(out / "story_report.json").get("conversation_accuracy", {})
        story = (int(conv.get("correct", 0)), int(conv.get("total", 0)))
    return sets, external, story


def pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def print_set(result: SetResult) -> None:
    print(f"\n{result.name}: {result.examples} messages")
    print(f"  intent accuracy        {pct(result.intent_accuracy)}")
    print(f"  FAQ answer accuracy    {pct(result.answer_accuracy)}")
    print(f"  out-of-scope recall    {pct(result.oos_recall)} of {result.oos_examples}")
    print(f"  in-scope refused       {pct(result.false_refusals)} of {result.in_scope_examples}")
    print(f"  also training examples {result.seen}; intent accuracy on the others "
          f"{pct(result.unseen_accuracy)}")
    for text, true, predicted, confidence in result.errors:
        print(f"    {true:>18s} -> {predicted:<18s} {confidence:.2f}  {text!r}")


def check_floors(results: list[SetResult], floors: Floors) -> list[str]:
    failures = []
    for r in results:
        if r.intent_accuracy < floors.heldout_intent:
            failures.append(f"{r.name}: intent accuracy {pct(r.intent_accuracy)} < "
                            f"{pct(floors.heldout_intent)}")
        if r.answer_accuracy < floors.faq_answer:
            failures.append(f"{r.name}: FAQ answer accuracy {pct(r.answer_accuracy)} < "
                            f"{pct(floors.faq_answer)}")
        if r.oos_recall < floors.oos_recall:
            failures.append(f"{r.name}: out-of-scope recall {pct(r.oos_recall)} < "
                            f"{pct(floors.oos_recall)}")
        if r.false_refusals > floors.false_refusals:
            failures.append(f"{r.name}: in-scope refused {pct(r.false_refusals)} > "
                            f"{pct(floors.false_refusals)}")
    return failures


def write_docs(sets: list[SetResult], external: ExternalResult, cv: dict[str, Path],
               story: tuple[int, int], folds: int, floors: Floors) -> None:
    images = DOCS / "images"
    images.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Model evaluation",
        "",
        f"Written by `make evaluate` (`scripts/evaluate.py`) on "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC. Do not edit by hand.",
        "",
        "## Held-out sets",
        "",
        "`tests/nlu_heldout.yml`: paraphrases not in the training data, written with it in view "
        "and used while tuning. `tests/nlu_blind.yml`: written by someone who had read only "
        "`domain.yml` and the README, never the training data, and not tuned against. "
        "Spanish: `tests/nlu_heldout_es.yml` (written with the training data in view), "
        "`tests/nlu_heldout_es_2.yml` (written blind, then seen while writing training data: "
        "a tuning set) and `tests/nlu_blind_es.yml` (written blind, never seen by whoever "
        "wrote training data); each file's header says how it was written.",
        "",
        "| set | messages | intent accuracy | FAQ answer accuracy | macro F1 | out-of-scope "
        "recall | in-scope refused | also in training data | intent accuracy on the others |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sets:
        lines.append(
            f"| {r.name} | {r.examples} | {pct(r.intent_accuracy)} | {pct(r.answer_accuracy)} | "
            f"{r.macro_f1:.3f} | {pct(r.oos_recall)} ({r.oos_examples}) | "
            f"{pct(r.false_refusals)} ({r.in_scope_examples}) | {r.seen} | "
            f"{pct(r.unseen_accuracy)} ({r.examples - r.seen}) |")
    lines += [
        "",
        "A message counts as also in the training data when its text, lower-cased and with "
        "spaces collapsed, is a training example; the held-out set has none by design (a unit "
        "test checks it). The blind set was written without seeing the training data, so its "
        "everyday phrases (\"hi\", \"thanks\", \"where is the clinic\") can coincide with "
        "training examples; the last column leaves those out.",
        "",
        f"Floors (`make test` fails below them): intent accuracy >= "
        f"{pct(floors.heldout_intent)}, FAQ answer accuracy >= {pct(floors.faq_answer)}, "
        f"out-of-scope recall >= {pct(floors.oos_recall)}, "
        f"in-scope refused <= {pct(floors.false_refusals)}. A refusal is `out_of_scope`, "
        "`nlu_fallback` or `other_language` (\"I can only answer in English\"). Every "
        "message is parsed as the Rasa server parses it, fallback included (a guess below "
        "the `FallbackClassifier` threshold is refused, as the patient would see); an "
        "off-topic message counts as right when it is refused.",
        "",
    ]
    for r in sets:
        if r.errors:
            lines += [f"Errors on {r.name}:", "", "| message | true | predicted | confidence |",
                      "|---|---|---|---|"]
            lines += [f"| {t.replace('|', '/')} | {a} | {b} | {c:.2f} |"
                      for t, a, b, c in r.errors]
            lines.append("")
    lines += evaluate_external.markdown(external, evaluate_external.Floors())
    by_language = cv_languages(cv)
    if cv:
        reports = {label: per_intent(out) for label, out in cv.items()}
        labels = list(cv)
        lines += [
            f"## {folds}-fold cross-validation on `data/nlu`",
            "",
            f"Same data and the same folds for both (split seeded with {FOLD_SEED}, "
            "`scripts/cross_validate.py`: Rasa's own split is random on every run); `clinic` "
            "is `config.yml`, `default` is the config "
            "`rasa init` writes (Rasa's default pipeline: whitespace tokens, sparse features, "
            "DIET with two 256-wide transformer layers, ResponseSelector).",
            "",
            "| measure | " + " | ".join(labels) + " |",
            "|---|" + "---|" * len(labels),
        ]
        summaries = {label: load(out / "intent_report.json") for label, out in cv.items()}
        answers = {label: load(out / "response_selection_report.json")
                   for label, out in cv.items()}
        seconds = {label: (out / "seconds.txt").read_text().strip() for label, out in cv.items()}
        finished = {label: (out / "finished.txt").read_text().strip()
                    if (out / "finished.txt").exists() else "unknown" for label, out in cv.items()}
        lines.append("| intent accuracy | " + " | ".join(
            pct(summaries[x]["accuracy"]) for x in labels) + " |")
        lines.append("| intent macro F1 | " + " | ".join(
            f"{summaries[x]['macro avg']['f1-score']:.3f}" for x in labels) + " |")
        lines.append("| intent weighted F1 | " + " | ".join(
            f"{summaries[x]['weighted avg']['f1-score']:.3f}" for x in labels) + " |")
        lines.append("| FAQ answer accuracy | " + " | ".join(
            pct(answers[x]["accuracy"]) for x in labels) + " |")
        lines.append("| time for all folds | " + " | ".join(
            f"{seconds[x]} s" for x in labels) + " |")
        lines.append("| finished | " + " | ".join(finished[x] for x in labels) + " |")
        if {"clinic", "default"} <= set(labels):
            gap = (summaries["clinic"]["macro avg"]["f1-score"]
                   - summaries["default"]["macro avg"]["f1-score"]) * 100
            lines += ["", f"Target: the clinic's macro F1 at least 3 points above the default "
                          f"pipeline's. Measured: {gap:+.1f} points, "
                          f"{'met' if gap >= 3 else '**missed**'}."]
        lines += language_lines(by_language)
        lines += ["", "Per intent (precision / recall / F1):", "",
                  "| intent | n | " + " | ".join(labels) + " |",
                  "|---|---|" + "---|" * len(labels)]
        first = reports[labels[0]]
        for intent, row in first.items():
            cells = []
            for label in labels:
                r = reports[label].get(intent)
                cells.append(f"{r['precision']:.2f} / {r['recall']:.2f} / {r['f1']:.2f}"
                             if r else "-")
            lines.append(f"| {intent} | {row['support']} | " + " | ".join(cells) + " |")
        for label, out in cv.items():
            lines += ["", f"Most frequent confusions ({label}):", "",
                      "| true intent | predicted | count |", "|---|---|---|"]
            lines += [f"| {a} | {b} | {n} |" for a, b, n in confusion_pairs(out)]
            for kind in ("intent_confusion_matrix", "intent_histogram"):
                source = out / f"{kind}.png"
                if source.exists():
                    target = images / f"evaluation-{label}-{kind}.png"
                    shutil.copyfile(source, target)
                    lines += ["", f"![{label} {kind.replace('_', ' ')}](images/{target.name})"]
    lines += ["", "## Test stories", "",
              f"`rasa test core --stories tests/test_stories.yml`: {story[0]} of {story[1]} "
              "stories correct.", ""]
    (DOCS / "evaluation.md").write_text("\n".join(lines), encoding="utf-8")
    (RESULTS / "summary.json").write_text(json.dumps(
        {"sets": [asdict(r) for r in sets], "stories": story,
         "external": evaluate_external.summary(external),
         "cv": {label: {"report": per_intent(out), "summary": load(out / "intent_report.json")
                        ["macro avg"],
                        "by_language": {language: asdict(figures) for language, figures
                                        in (by_language[label] or {}).items()}}
                for label, out in cv.items()}}, indent=2))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--ci", action="store_true",
                        help="reduced: held-out and external sets, stories; no cross-validation "
                             "or docs")
    parser.add_argument("--no-default", action="store_true",
                        help="skip the default-pipeline cross-validation")
    parser.add_argument("--no-cv", action="store_true", help="skip cross-validation")
    parser.add_argument("--reuse-cv", action="store_true",
                        help="keep the cross-validation results in results/evaluate when the "
                             "NLU pipeline, data/nlu and folds are the same as then")
    parser.add_argument("--no-stories", action="store_true",
                        help="skip the test stories (make test runs them on their own)")
    args = parser.parse_args(argv)
    # Rasa's own messages only when they are warnings (it logs every parse at debug level).
    logging.basicConfig(level=logging.WARNING, format="[evaluate] %(message)s")
    logger.setLevel(logging.INFO)
    from rasa.utils.log_utils import configure_structlog  # noqa: PLC0415 - slow import

    configure_structlog(logging.WARNING)
    if not MODEL.exists():
        print(f"no trained model at {MODEL}: run `make train`", file=sys.stderr)
        return 2
    RESULTS.mkdir(parents=True, exist_ok=True)
    floors = Floors()
    training = set(example_texts(ROOT / "data" / "nlu"))
    sets, external, story = asyncio.run(held_out_and_stories(training, not args.no_stories))
    for result in sets:
        print_set(result)
    evaluate_external.print_result(external)
    if not args.no_stories:
        print(f"\ntest stories: {story[0]} of {story[1]} correct")
    cv: dict[str, Path] = {}
    folds = args.folds
    if not (args.no_cv or args.ci):
        cv["clinic"] = cross_validate("clinic", ROOT / "config.yml", folds, args.reuse_cv)
        if not args.no_default:
            cv["default"] = cross_validate(
                "default", default_config(RESULTS / "default-config.yml"), folds, args.reuse_cv)
        by_language = cv_languages(cv)
        for label, out in cv.items():
            report = load(out / "intent_report.json")
            print(f"\n{folds}-fold CV ({label}): intent accuracy {pct(report['accuracy'])}, "
                  f"macro F1 {report['macro avg']['f1-score']:.3f}")
            for figures in (by_language[label] or {}).values():
                print(f"  {LANGUAGES[figures.language]:<8s} {figures.examples:5d} examples: "
                      f"intent accuracy {pct(figures.intent_accuracy)}, macro F1 "
                      f"{figures.macro_f1:.3f}, FAQ answer accuracy "
                      f"{pct(figures.answer_accuracy)} ({figures.faq_questions})")
    if not args.ci:
        write_docs(sets, external, cv, story, folds, floors)
        print(f"\nwrote {DOCS / 'evaluation.md'}")
    failures = check_floors(sets, floors)
    failures += evaluate_external.check_floors(external, evaluate_external.Floors())
    if story[0] != story[1]:
        failures.append(f"test stories: {story[1] - story[0]} failed")
    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
