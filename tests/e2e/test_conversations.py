"""Whole conversations as patients have them: ``tests/conversations/*.yml`` against the running
servers, each scenario a fresh conversation on its channel (REST or SMS through Twilio's webhook).

Per user turn the test reads the responses the bot sent, by name, from the conversation's
events in the tracker store (``BotUttered`` carries ``utter_action``), and checks them against
the scenario; at the end, the request the conversation stored, if the scenario says one.
The format is described in ``tests/conversations/README.md``.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from actions.storage import get_engine, list_requests
from staff.db import events_table, tracker_engine
from tests.e2e.test_sms import as_sms, inbound_form, new_number, post_webhook

FOLDER = Path(__file__).resolve().parents[1] / "conversations"


def load_scenarios() -> list[dict[str, Any]]:
    scenarios = []
    for path in sorted(FOLDER.glob("*.yml")):
        # BaseLoader: every value a string (a patient's "yes" or "1" stays text); it builds
        # only strings, lists and dicts, so it is as safe as safe_load
        scenarios_in_file = yaml.load(path.read_text(), Loader=yaml.BaseLoader)  # noqa: S506
        for scenario in scenarios_in_file["scenarios"]:
            scenarios.append({**scenario, "file": path.stem})
    return scenarios


SCENARIOS = load_scenarios()


def bot_responses(engine, sender: str) -> list[str]:
    """The names of the responses the bot sent in this conversation so far, in order."""
    with engine.connect() as conn:
        rows = conn.execute(select(events_table.c.data)
                            .where(events_table.c.sender_id == sender)
                            .where(events_table.c.type_name == "bot")
                            .order_by(events_table.c.id)).all()
    names = []
    for (data,) in rows:
        event = json.loads(data)
        names.append((event.get("metadata") or {}).get("utter_action") or "(text)")
    return names


def matches(pattern: str, name: str) -> bool:
    return name in pattern.split("|")


def check_turn(step: dict[str, Any], said: list[str]) -> list[str]:
    """What is wrong with one turn's responses (empty when the turn is right)."""
    problems = []
    if not said:
        problems.append("no reply")
    if step.get("first") and (not said or not matches(step["first"], said[0])):
        problems.append(f"first response should be {step['first']}")
    position = 0
    for expected in step.get("expect", []):
        while position < len(said) and not matches(expected, said[position]):
            position += 1
        if position == len(said):
            problems.append(f"missing {expected} (in order)")
            break
        position += 1
    for forbidden in step.get("not", []):
        if any(matches(forbidden, name) for name in said):
            problems.append(f"sent {forbidden}")
    return problems


def digits(value: str | None) -> str:
    return re.sub(r"\D", "", value or "")[-10:]


def check_request(expected: dict[str, Any], stored: list[dict[str, Any]]) -> list[str]:
    if not stored:
        return ["no request stored"]
    request = stored[-1]
    problems = []
    for key, value in expected.items():
        got = request.get(key)
        if key == "phone":
            ok = digits(str(value)) == digits(got)
        elif key == "reason_contains":
            ok = str(value).lower() in (request.get("reason") or "").lower()
        else:
            ok = str(value).lower() == str(got or "").lower()
        if not ok:
            problems.append(f"request {key}: expected {value!r}, stored {got!r}")
    return problems


class Conversation:
    """One patient on one channel; ``say`` returns the names of the responses to that message.

    On SMS the webhook answers at once and the replies follow through Twilio's API (the fake
    one here); ``delivered`` holds the texts the phone received for the last message, in the
    order it received them (the channel sends emergency advice first)."""

    def __init__(self, assistant, channel: str, twilio=None) -> None:
        self.assistant = assistant
        self.channel = channel
        self.twilio = twilio
        self.delivered: list[str] = []
        self.tracker = tracker_engine(assistant.tracker_database_url)
        if channel == "sms":
            self.sender = new_number()
        else:
            self.sender = f"conv-{uuid.uuid4().hex[:12]}"
            assistant.send(self.sender, "/session_start")  # as the widget opens a conversation

    def say(self, text: str) -> list[str]:
        before = len(bot_responses(self.tracker, self.sender))
        if self.channel != "sms":
            self.assistant.send(self.sender, text)
            return bot_responses(self.tracker, self.sender)[before:]
        texts_before = len(self.twilio.sent_to(self.sender))
        reply = post_webhook(self.assistant, inbound_form(self.assistant, self.sender, text))
        assert reply.status_code == 200, reply.text
        # Done when every response in the tracker has reached the phone and nothing more came.
        deadline, settled = time.monotonic() + 30, None
        while time.monotonic() < deadline:
            said = bot_responses(self.tracker, self.sender)[before:]
            texts = self.twilio.sent_to(self.sender)[texts_before:]
            state = (len(said), len(texts))
            if said and len(texts) >= len(said):
                if settled == state:
                    break
                settled = state
            time.sleep(0.3)
        self.delivered = texts
        return said


def first_delivered(step: dict[str, Any], conversation: Conversation, domain) -> list[str]:
    """On SMS, ``first`` is what the phone shows first."""
    if not step.get("first") or not conversation.delivered:
        return []
    options = {as_sms(domain, name) for name in step["first"].split("|")}
    if conversation.delivered[0] in options:
        return []
    return [f"first text on the phone should be {step['first']}"]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: f"{s['file']}:{s['name']}")
def test_conversation(assistant, twilio_api, domain, scenario):  # noqa: F811
    conversation = Conversation(assistant, scenario.get("channel", "rest"), twilio_api)
    transcript, problems = [], []
    for number, step in enumerate(scenario["steps"], 1):
        said = conversation.say(step["user"])
        transcript.append(f"  {number}. {step['user']!r} -> {said}")
        if conversation.channel == "sms":
            # the tracker's order is Rasa's; the phone's order is the channel's
            problems += [f"turn {number}: {p}" for p in
                         check_turn({**step, "first": None}, said)]
            problems += [f"turn {number}: {p}" for p in first_delivered(step, conversation,
                                                                            domain)]
        else:
            problems += [f"turn {number}: {p}" for p in check_turn(step, said)]
    if scenario.get("request"):
        stored = [r for r in list_requests(get_engine(assistant.database_url))
                  if r["sender_id"] == conversation.sender]
        problems += check_request(scenario["request"], stored)
    assert not problems, "\n".join([*problems, "transcript:", *transcript])


def test_turn_checks_catch_wrong_order_missing_and_forbidden():
    assert check_turn({"expect": ["a", "b"]}, ["x", "a", "y", "b"]) == []
    assert check_turn({"expect": ["b", "a"]}, ["a", "b"]) == ["missing a (in order)"]
    assert check_turn({"first": "e|f"}, ["f", "a"]) == []
    assert check_turn({"first": "e"}, ["a", "e"]) == ["first response should be e"]
    assert check_turn({"not": ["utter_default"]}, ["utter_default"]) == ["sent utter_default"]
    assert check_turn({}, []) == ["no reply"]
