"""Check the held-out evaluation written by ``rasa test nlu`` against an accuracy floor.

Prints intent accuracy, FAQ answer (response selector) accuracy and the per-intent recall, and
exits 1 when either accuracy is below ``--min``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

SUMMARY_KEYS = {"accuracy", "macro avg", "weighted avg", "micro avg"}


def load(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        return json.load(handle)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("results", type=Path, help="folder written by rasa test nlu --out")
    parser.add_argument("--min", type=float, default=0.90, help="accuracy floor (0-1)")
    args = parser.parse_args()

    intents = load(args.results / "intent_report.json")
    answers = load(args.results / "response_selection_report.json")
    print(f"{'intent':28s} {'recall':>6s} {'prec':>6s} {'n':>4s}")
    for name, row in sorted(intents.items()):
        if name in SUMMARY_KEYS or not isinstance(row, dict):
            continue
        print(f"{name:28s} {row['recall']:6.2f} {row['precision']:6.2f} {row['support']:4d}")
    intent_acc = float(intents["accuracy"])
    answer_acc = float(answers["accuracy"])
    print(f"\nheld-out intent accuracy:     {intent_acc:.3f}")
    print(f"held-out FAQ answer accuracy: {answer_acc:.3f}")
    print(f"intent macro F1:              {intents['macro avg']['f1-score']:.3f}")
    failed = [n for n, v in (("intent", intent_acc), ("FAQ answer", answer_acc)) if v < args.min]
    if failed:
        print(f"FAIL: {' and '.join(failed)} accuracy below {args.min:.2f}", file=sys.stderr)
        return 1
    print(f"OK: both at or above {args.min:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
