"""The held-out set is unseen by training, and the evaluation says how much of each set is."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from scripts import evaluate

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["nlu_heldout.yml", "nlu_heldout_es.yml"])
def test_heldout_messages_are_not_training_examples(name):
    training = set(evaluate.example_texts(ROOT / "data" / "nlu"))
    heldout = evaluate.example_texts(ROOT / "tests" / name)
    assert len(training) > 2000 and len(heldout) > 150
    assert sorted(set(heldout) & training) == []


@pytest.mark.parametrize(("name", "coincidences"), [
    # everyday phrasings ("hola", "gracias", "¿dónde están ubicados?") that the sets' blind
    # authors and the training data's authors both wrote; none copied from the set since
    ("nlu_heldout_es_2.yml", 40), ("nlu_blind_es.yml", 43)])
def test_no_spanish_test_message_joins_the_training_data(name, coincidences):
    training = set(evaluate.example_texts(ROOT / "data" / "nlu"))
    messages = evaluate.example_texts(ROOT / "tests" / name)
    assert len(messages) > 300 and len(set(messages) & training) <= coincidences


def test_no_blind_message_joins_the_training_data():
    # 56 everyday phrasings ("hi", "thanks") were training examples before the blind set was
    # written (README); adding training data must not copy any more of the blind set in.
    training = set(evaluate.example_texts(ROOT / "data" / "nlu"))
    blind = evaluate.example_texts(ROOT / "tests" / "nlu_blind.yml")
    assert len(set(blind) & training) <= 56


def test_texts_are_compared_without_case_spacing_or_entity_markup(tmp_path):
    nlu = tmp_path / "nlu.yml"
    nlu.write_text('version: "3.1"\nnlu:\n- intent: inform\n  examples: |\n'
                   "    - my name is [Maria Lopez](PERSON)\n    - Next  Tuesday\n")
    assert evaluate.example_texts(nlu) == ["my name is maria lopez", "next tuesday"]


def said(text: str, true: str, predicted: str, answer: str | None = None,
         predicted_answer: str | None = None) -> evaluate.Prediction:
    return evaluate.Prediction(text=text, intent=true, answer=answer, predicted=predicted,
                               confidence=0.9, predicted_answer=predicted_answer)


def test_accuracy_on_the_messages_not_in_training():
    predictions = [said("hi", "greet", "greet"), said("hola", "greet", "out_of_scope"),
                   said("hey", "greet", "greet"), said("where are you", "faq", "greet"),
                   said("opening hours", "faq", "faq"),
                   said("tell me a joke", "out_of_scope", "faq")]
    result = evaluate.summarize("blind", predictions, {"hi", "hola", "bye"})
    assert result.seen == 2  # "hi" (right) and "hola" (wrong) are training examples
    assert result.unseen_accuracy == 2 / 4  # two of the other four are wrong
    assert result.false_refusals == 1 / 5 and result.oos_recall == 0.0


def test_a_fallback_is_a_refusal_the_patient_sees():
    predictions = [
        said("salutations", "greet", "nlu_fallback"),  # in scope, refused: wrong
        said("will it snow", "out_of_scope", "nlu_fallback"),  # off topic, refused: right
        said("what is the weather", "out_of_scope", "out_of_scope"),
        said("where are you", "faq", "faq", "faq/location", "faq/location"),
        said("when do you open", "faq", "faq", "faq/opening_hours", "faq/location"),
    ]
    result = evaluate.summarize("held-out", predictions)
    assert result.intent_accuracy == 4 / 5
    assert result.oos_recall == 1.0 and result.false_refusals == 1 / 3
    assert result.answer_accuracy == 1 / 2  # the second FAQ question got the wrong answer
    assert [e[0] for e in result.errors] == ["salutations"]


def test_no_external_message_is_a_training_example():
    # tests/external/ is evaluation only (its README): never trained on
    training = set(evaluate.example_texts(ROOT / "data" / "nlu"))
    for path in sorted((ROOT / "tests" / "external").glob("*.yml")):
        texts = {" ".join(m["text"].lower().split())
                 for m in yaml.safe_load(path.read_text())["messages"]}
        assert len(texts) > 100 and not texts & training, path.name
