"""The red-flag phrase layer on its own: every red flag in the test set, no ordinary question.

tests/safety_phrases.yml is not training data; the end-to-end tests send the same messages to
the running assistant.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from rasa.shared.nlu.training_data.message import Message

from components.red_flags import RedFlagDetector, RedFlagMatcher

PHRASES = yaml.safe_load((Path(__file__).parent.parent / "safety_phrases.yml").read_text())


@pytest.fixture(scope="module")
def matcher() -> RedFlagMatcher:
    return RedFlagMatcher()


def test_the_test_set_is_big_enough():
    assert len(PHRASES["red_flags"]) >= 40 and len(PHRASES["ordinary"]) >= 40
    categories = {item["category"] for item in PHRASES["red_flags"]}
    assert categories == {"thunderclap", "stroke", "meningitis", "head_injury", "vision",
                          "fainting_seizure", "pregnancy", "self_harm"}


def test_every_red_flag_is_recognised(matcher):
    missed = [item["text"] for item in PHRASES["red_flags"] if matcher.find(item["text"]) is None]
    assert missed == []


def test_self_harm_is_told_apart(matcher):
    for item in PHRASES["red_flags"]:
        found = matcher.find(item["text"])
        assert (found.category == "self_harm") == (item["category"] == "self_harm"), item["text"]


def test_no_false_alarm_on_ordinary_questions(matcher):
    alarms = [text for text in PHRASES["ordinary"] if matcher.find(text) is not None]
    assert alarms == []


@pytest.mark.parametrize("text", ["", "   ", "\x00\x01", "🙂" * 50, "a" * 100_000])
def test_odd_input_is_not_an_emergency_and_does_not_crash(matcher, text):
    assert matcher.find(text) is None


def test_history_is_not_an_acute_stroke(matcher):
    assert matcher.find("my mum had a stroke years ago, her arm is still weak") is None
    assert matcher.find("my mum's arm suddenly went weak and her face is drooping").category == (
        "stroke")


CONTEXT = yaml.safe_load((Path(__file__).parent.parent / "red_flag_context.yml").read_text())


@pytest.mark.parametrize("group", ["present", "half_negated"])
def test_red_flags_happening_now_alarm(matcher, group):
    missed = [text for text in CONTEXT[group] if matcher.find(text) is None]
    assert missed == []


@pytest.mark.parametrize("group", ["negated", "long_past"])
def test_red_flags_said_not_to_be_happening_do_not_alarm(matcher, group):
    alarms = [text for text in CONTEXT[group] if matcher.find(text) is not None]
    assert alarms == []
    # ... but they were red-flag words: a classifier's "emergency" is set aside for them
    assert all(matcher.assess(text).not_an_emergency() for text in CONTEXT[group])


def test_self_harm_is_never_talked_down(matcher):
    assert matcher.find("i'm not suicidal but i keep thinking about ending it all").category == (
        "self_harm")
    assert matcher.find("i don't want to live anymore").category == "self_harm"


def test_general_emergencies_have_their_category(matcher):
    expected = {
        "sudden crushing pain in my chest": "chest_pain",
        "she's struggling to breathe": "breathing",
        "my 2 year old drank some drain cleaner": "poisoning",
        "the cut won't stop bleeding": "bleeding",
        "his tongue is swelling up": "allergic_reaction",
        "my baby is floppy and not responding": "unresponsive",
    }
    assert {text: matcher.find(text).category for text in expected} == expected


def test_an_overdose_on_purpose_is_self_harm_and_poisoning(matcher):
    categories = [f.category for f in matcher.find_all("i want to overdose, i took 40 pills")]
    assert categories[:2] == ["self_harm", "poisoning"]


def test_taking_medicine_as_usual_is_not_an_overdose(matcher):
    for text in ("i took 2 paracetamol for my headache", "i take all my meds in the morning",
                 "my phone is not responding", "is acupuncture safe if i'm on blood thinners"):
        assert matcher.find(text) is None, text


def classified(text: str, ranking: list[tuple[str, float]]) -> Message:
    intents = [{"name": name, "confidence": confidence} for name, confidence in ranking]
    return Message(data={"text": text, "intent": intents[0], "intent_ranking": intents})


def test_detector_alarms_and_names_every_category():
    message = classified("i want to overdose, i took 40 pills", [("out_of_scope", 0.6)])
    RedFlagDetector().process([message])
    assert message.get("intent") == {"name": "emergency", "confidence": 1.0}
    assert [e["value"] for e in message.get("entities") if e["entity"] == "red_flag"][:2] == [
        "self_harm", "poisoning"]


def test_detector_sets_a_classifier_emergency_aside_when_it_is_not_happening():
    message = classified("no stiff neck and no temperature, it's my usual migraine",
                         [("emergency", 0.7), ("faq", 0.2), ("inform", 0.1)])
    RedFlagDetector().process([message])
    assert message.get("intent") == {"name": "faq", "confidence": 0.2}
    assert [r["name"] for r in message.get("intent_ranking")] == ["faq", "inform"]
    # a classifier emergency with no red-flag words at all is kept (when in doubt, alarm)
    kept = classified("something is really wrong with my mum", [("emergency", 0.7),
                                                                 ("faq", 0.2)])
    RedFlagDetector().process([kept])
    assert kept.get("intent")["name"] == "emergency"
