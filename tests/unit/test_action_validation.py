"""The cheaper check of action server replies accepts and refuses exactly what Rasa's does."""

from __future__ import annotations

import pytest
from jsonschema import ValidationError, validate
from rasa.core.actions.action import RemoteAction

from components.action_validation import use_cached_validator, validate_action_result

GOOD = {"events": [{"event": "slot", "name": "patient_name", "value": "Maria Lopez"},
                   {"event": "active_loop", "name": None}],
        "responses": [{"response": "utter_ask_patient_contact"}]}
BAD = [
    {"events": [{"event": "slot", "name": 42}]},
    {"events": "not a list"},
    {"events": [{"event": "no_such_event"}]},
    {"responses": ["not an object"]},
]


def test_accepts_what_rasa_accepts():
    validate(GOOD, RemoteAction.action_response_format_spec())
    assert validate_action_result(None, GOOD) is True


@pytest.mark.parametrize("reply", BAD)
def test_refuses_what_rasa_refuses(reply):
    with pytest.raises(ValidationError):
        validate(reply, RemoteAction.action_response_format_spec())
    with pytest.raises(ValidationError, match="Failed to validate Action server response"):
        validate_action_result(None, reply)


def test_installed_on_remote_actions(monkeypatch):
    monkeypatch.setattr(RemoteAction, "_validate_action_result",
                        RemoteAction._validate_action_result)
    use_cached_validator()
    action = RemoteAction("action_submit_booking", None)
    with pytest.raises(ValidationError):
        action._validate_action_result(BAD[0])
    assert action._validate_action_result(GOOD) is True


# --- differential check against Rasa's whole schema (with its oneOf), on many replies --------

VALUES = [None, 1, 2.5, "x", "", [], [{}], {}, {"name": "x"}, True]


@pytest.fixture(scope="module")
def reference():
    from jsonschema.validators import validator_for

    schema = RemoteAction.action_response_format_spec()
    return validator_for(schema)(schema)  # Rasa's rules, without re-checking the schema


def event_names() -> list[str]:
    items = RemoteAction.action_response_format_spec()["properties"]["events"]["items"]
    return [alt["properties"]["event"]["const"] for alt in items["oneOf"]]


def replies() -> list:
    names = event_names()
    out: list = [GOOD, *BAD, {}, [], "x", None, {"events": []}, {"events": [{}]},
                 {"events": [{"event": 3}]}, {"events": [None]}, {"responses": []},
                 {"events": [{"event": "user"}, {"event": "nope"}]}]
    for name in names:
        items = RemoteAction.action_response_format_spec()["properties"]["events"]["items"]
        alternative = next(a for a in items["oneOf"] if a["properties"]["event"]["const"] == name)
        out.append({"events": [{"event": name}]})
        out.append({"events": [{"event": name, "timestamp": "yesterday"}]})
        for field in [*alternative["properties"], *alternative.get("required", [])]:
            if field == "event":
                continue
            for value in VALUES:
                out.append({"events": [{"event": name, field: value}]})
    for field in ("text", "intent", "entities", "intent_ranking", "message_id"):
        for value in VALUES:
            out.append({"events": [{"event": "user", "text": "hi",
                                    "parse_data": {field: value}}]})
    return out


def test_same_verdict_as_rasas_schema_on_every_reply(reference):
    cases = replies()
    assert len(cases) > 250
    accepted = refused = 0
    for reply in cases:
        expected = reference.is_valid(reply)
        try:
            validate_action_result(None, reply)
            ours = True
        except ValidationError:
            ours = False
        assert ours == expected, reply
        accepted += ours
        refused += not ours
    assert accepted > 50 and refused > 50  # both verdicts were exercised, many times


def test_real_events_from_a_booking_pass(reference):
    from rasa.shared.core.events import (
        ActionExecuted,
        ActiveLoop,
        BotUttered,
        FollowupAction,
        SessionStarted,
        SlotSet,
        UserUttered,
    )

    events = [SessionStarted(), ActionExecuted("action_listen"),
              UserUttered("I'm Maria Lopez", {"name": "inform", "confidence": 0.9},
                          [{"entity": "PERSON", "value": "Maria Lopez", "start": 4, "end": 15}]),
              SlotSet("patient_name", "Maria Lopez"), ActiveLoop("booking_form"),
              BotUttered("What is your full name?", {"buttons": []}),
              FollowupAction("action_listen"), ActiveLoop(None)]
    reply = {"events": [e.as_dict() for e in events], "responses": [{"response": "utter_x"}]}
    assert reference.is_valid(reply)
    assert validate_action_result(None, reply) is True
