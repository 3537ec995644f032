"""The cached check of action server replies accepts and refuses exactly what Rasa's does."""

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
