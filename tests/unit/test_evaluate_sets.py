"""The held-out set is unseen by training, and the evaluation says how much of each set is."""

from __future__ import annotations

import json
from pathlib import Path

from scripts import evaluate

ROOT = Path(__file__).resolve().parents[2]


def test_heldout_messages_are_not_training_examples():
    training = set(evaluate.example_texts(ROOT / "data" / "nlu"))
    heldout = evaluate.example_texts(ROOT / "tests" / "nlu_heldout.yml")
    assert len(training) > 2000 and len(heldout) > 200
    assert sorted(set(heldout) & training) == []


def test_texts_are_compared_without_case_spacing_or_entity_markup(tmp_path):
    nlu = tmp_path / "nlu.yml"
    nlu.write_text('version: "3.1"\nnlu:\n- intent: inform\n  examples: |\n'
                   "    - my name is [Maria Lopez](PERSON)\n    - Next  Tuesday\n")
    assert evaluate.example_texts(nlu) == ["my name is maria lopez", "next tuesday"]


def write_output(out: Path, errors: list[dict]) -> None:
    out.mkdir()
    report = {"greet": {"precision": 1, "recall": 1, "f1-score": 1, "support": 3},
              "faq": {"precision": 1, "recall": 1, "f1-score": 1, "support": 2},
              "out_of_scope": {"precision": 1, "recall": 1, "f1-score": 1, "support": 1},
              "accuracy": 0.5, "macro avg": {"f1-score": 0.5}}
    (out / "intent_report.json").write_text(json.dumps(report))
    (out / "response_selection_report.json").write_text(json.dumps({"accuracy": 1.0}))
    (out / "intent_errors.json").write_text(json.dumps(errors))


def test_accuracy_on_the_messages_not_in_training(tmp_path):
    def error(text: str, true: str, predicted: str) -> dict:
        return {"text": text, "intent": true,
                "intent_prediction": {"name": predicted, "confidence": 0.9}}

    write_output(tmp_path / "out", [error("Hola", "greet", "out_of_scope"),
                                    error("where are you", "faq", "greet"),
                                    error("tell me a joke", "out_of_scope", "faq")])
    texts = ["hi", "hola", "hey", "where are you", "opening hours", "tell me a joke"]
    result = evaluate.summarize("blind", tmp_path / "out", texts, {"hi", "hola", "bye"})
    assert result.seen == 2  # "hi" (right) and "hola" (wrong) are training examples
    assert result.unseen_accuracy == 2 / 4  # two of the other four are wrong
    assert result.false_refusals == 1 / 5 and result.oos_recall == 0.0
