"""Intent corrections: the intents offered, and the Rasa NLU YAML export."""

from __future__ import annotations

import yaml

from staff.db import corrections, save_correction, staff_engine
from staff.manage import main as manage
from staff.training import corrections_yaml, load_intents

ROWS = [
    {"text": "do u take insurance", "correct_intent": "faq/contact"},
    {"text": "how  many\nsessions will I need", "correct_intent": "faq/how_many_sessions"},
    {"text": "do u take insurance", "correct_intent": "faq/contact"},  # duplicate
    {"text": "yo", "correct_intent": "greet"},
    {"text": "#1: \"quoted\" - [not](an_entity) {x}: y", "correct_intent": "greet"},
    {"text": "   ", "correct_intent": "greet"},
]


def test_intents_come_from_the_domain_with_retrieval_intents_expanded():
    intents = load_intents()
    assert "faq/evidence" in intents and "faq/opening_hours" in intents
    assert "faq" not in intents and "nlu_fallback" not in intents
    assert {"greet", "book_appointment", "emergency", "request_human", "out_of_scope"} <= set(
        intents)


def test_corrections_yaml_is_rasa_nlu_data():
    text = corrections_yaml(ROWS)
    data = yaml.safe_load(text)
    assert data["version"] == "3.1"
    assert data["nlu"] == [
        {"intent": "faq/contact", "examples": "- do u take insurance\n"},
        {"intent": "faq/how_many_sessions", "examples": "- how many sessions will I need\n"},
        {"intent": "greet", "examples": "- yo\n- #1: \"quoted\" - [not](an_entity) {x}: y\n"},
    ]


def test_rasa_reads_the_export():
    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader

    training_data = RasaYAMLReader().reads(corrections_yaml(ROWS[:4]))
    examples = {(m.get("text"), m.get("intent")) for m in training_data.intent_examples}
    assert ("yo", "greet") in examples
    assert ("do u take insurance", "faq") in examples  # faq/contact: retrieval intent faq
    assert len(training_data.intent_examples) == 3


def test_no_corrections_is_still_valid_yaml():
    assert yaml.safe_load(corrections_yaml([])) == {"version": "3.1", "nlu": []}


def test_export_command_writes_the_file(tmp_path, monkeypatch, capsys):
    url = f"sqlite:///{tmp_path / 'clinic.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    from actions.settings import get_settings

    get_settings.cache_clear()
    try:
        engine = staff_engine(url)
        save_correction(engine, "conv-1", 7, "wat r ur hours", "greet", "faq/opening_hours",
                        "alice")
        save_correction(engine, "conv-1", 7, "wat r ur hours", "greet", "faq/contact", "bob")
        assert len(corrections(engine)) == 1  # marking again replaces the choice
        target = tmp_path / "out" / "corrections.yml"
        assert manage(["export-corrections", str(target)]) == 0
    finally:
        get_settings.cache_clear()
    assert "Wrote 1 example to" in capsys.readouterr().out
    assert yaml.safe_load(target.read_text())["nlu"] == [
        {"intent": "faq/contact", "examples": "- wat r ur hours\n"}]
