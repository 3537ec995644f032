"""The red-flag phrase layer on its own: every red flag in the test set, no ordinary question.

tests/safety_phrases.yml is not training data; the end-to-end tests send the same messages to
the running assistant.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from components.red_flags import RedFlagMatcher

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
