"""`make evaluate` splits the cross-validation's per-example results into English and Spanish."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scripts import evaluate

ENGLISH = """version: "3.1"
nlu:
- intent: greet
  examples: |
    - hi
    - hello there
- intent: faq/location
  examples: |
    - where are you
"""
SPANISH = """version: "3.1"
nlu:
- intent: greet
  metadata:
    language: es
  examples: |
    - hola
    - Buenos  días
- intent: faq/location
  metadata:
    language: es
  examples: |
    - dónde están
    - dónde queda la clínica
"""


def row(text: str, intent: str, predicted: str) -> dict:
    return {"text": text, "intent": intent,
            "intent_prediction": {"name": predicted, "confidence": 0.9}}


def answer(text: str, target: str, predicted: str) -> dict:
    return {"text": text, "intent_response_key_target": target,
            "intent_response_key_prediction": {"name": predicted, "confidence": 0.9}}


@pytest.fixture
def project(tmp_path, monkeypatch):
    nlu = tmp_path / "data" / "nlu"
    (nlu / "es").mkdir(parents=True)
    (nlu / "smalltalk.yml").write_text(ENGLISH)
    (nlu / "es" / "smalltalk.yml").write_text(SPANISH)
    monkeypatch.setattr(evaluate, "ROOT", tmp_path)
    return tmp_path


def write_run(out: Path, successes: bool = True) -> Path:
    out.mkdir(parents=True)
    right = [row("hi", "greet", "greet"), row("hola", "greet", "greet"),
             row("where are you", "faq", "faq"), row("dónde queda la clínica", "faq", "faq")]
    wrong = [row("hello there", "greet", "faq"), row("buenos días", "greet", "out_of_scope"),
             row("dónde están", "faq", "out_of_scope")]
    if successes:
        (out / "intent_successes.json").write_text(json.dumps(right))
        (out / "response_selection_successes.json").write_text(json.dumps(
            [answer("where are you", "faq/location", "faq/location"),
             answer("dónde están", "faq/location", "faq/location")]))
    (out / "intent_errors.json").write_text(json.dumps(wrong))
    (out / "response_selection_errors.json").write_text(json.dumps(
        [answer("dónde queda la clínica", "faq/location", "faq/contact")]))
    return out


def test_examples_of_the_spanish_folder_are_spanish_the_others_english(project):
    spanish = evaluate.spanish_examples(project / "data" / "nlu")
    assert set(spanish) == {("buenos días", "greet"), ("dónde queda la clínica", "faq"),
                            ("dónde están", "faq"), ("hola", "greet")}
    figures = evaluate.cv_by_language(write_run(project / "cv"), spanish)
    en, es = figures["en"], figures["es"]
    assert (en.examples, es.examples) == (3, 4)
    assert en.intent_accuracy == 2 / 3 and es.intent_accuracy == 2 / 4
    assert (en.faq_questions, en.answer_accuracy) == (1, 1.0)
    assert (es.faq_questions, es.answer_accuracy) == (2, 0.5)
    assert 0 < es.macro_f1 < 1


def test_a_text_in_both_languages_counts_once_for_each_of_its_examples():
    spanish = {("no", "deny"): 1}
    rows = [row("no", "deny", "deny"), row("No", "deny", "affirm"), row("no", "greet", "deny")]
    groups = evaluate.split_by_language(rows, spanish, lambda r: r["intent"])
    assert len(groups["es"]) == 1 and len(groups["en"]) == 2


def test_a_run_without_successes_has_no_language_figures_and_says_so(project):
    out = write_run(project / "cv-old", successes=False)
    assert evaluate.cv_by_language(out, evaluate.spanish_examples(
        project / "data" / "nlu")) is None
    lines = evaluate.language_lines({"clinic": None})
    assert any("No per-example results for clinic" in line for line in lines)


def test_the_table_has_a_column_per_pipeline_and_language(project):
    figures = evaluate.cv_languages({"clinic": write_run(project / "cv")})
    table = [line for line in evaluate.language_lines(figures) if line.startswith("|")]
    assert table[0] == "| measure | clinic, English | clinic, Spanish |"
    assert table[2] == "| examples | 3 | 4 |"
    assert table[-1] == "| FAQ answer accuracy | 100.0% (1) | 50.0% (2) |"


def test_the_successes_are_asked_for_and_part_of_the_inputs(project, monkeypatch):
    config = project / "config.yml"
    config.write_text("language: en\npipeline: []\n")
    commands: list[list[str]] = []

    def fake_run(command: list[str]) -> None:
        commands.append(command)
        out = Path(command[command.index("--out") + 1])
        out.mkdir(parents=True)
        (out / "intent_report.json").write_text("{}")

    monkeypatch.setattr(evaluate, "RESULTS", project / "results")
    monkeypatch.setattr(evaluate, "run_quietly", fake_run)
    evaluate.cross_validate("clinic", config, 5)
    assert "--successes" in commands[0]
    # a result of a run without --successes (an older stamp) is not reused
    first = evaluate.nlu_inputs(config, 5)
    monkeypatch.setattr(evaluate, "CV_OPTIONS", ())
    assert evaluate.nlu_inputs(config, 5) != first


def test_the_spanish_examples_are_those_of_the_data_the_run_read(project, monkeypatch):
    config = project / "config.yml"
    config.write_text("language: en\npipeline: []\n")

    def fake_run(command: list[str]) -> None:
        write_run(Path(command[command.index("--out") + 1]))

    monkeypatch.setattr(evaluate, "RESULTS", project / "results")
    monkeypatch.setattr(evaluate, "run_quietly", fake_run)
    out = evaluate.cross_validate("clinic", config, 5)
    (project / "data" / "nlu" / "es" / "smalltalk.yml").unlink()  # the data changes afterwards
    figures = evaluate.cv_languages({"clinic": out})["clinic"]
    assert (figures["en"].examples, figures["es"].examples) == (3, 4)
