"""A cheaper check of the action server's replies, same rules as Rasa's.

Rasa 3.6 checks every action server reply against its JSON schema with ``jsonschema.validate()``,
which also re-checks the (large) schema itself on every call. Measured on the 2-core development
machine: 36 ms of CPU per action call, against 1 ms with a validator built once; under load it
was 15-35% of the Rasa server's CPU (py-spy profile of a booking load, see README "Performance").

Built once, the check was still 5% of the server's CPU: the schema says each event must match
exactly one of 23 sub-schemas (``oneOf``), so every event was checked against all 23. Each of
them requires a different constant ``event`` name, so an event can only ever match the one for
its own name: checking the rest of the schema once, and then each event against the sub-schema
for its name, accepts and refuses exactly the same replies (an unknown or missing name matches
none) at a fraction of the cost.

:func:`use_cached_validator` swaps this in for ``RemoteAction._validate_action_result``: a reply
that Rasa would refuse is still refused with a ``ValidationError``.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jsonschema import ValidationError
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for
from rasa.core.actions.action import RemoteAction

logger = logging.getLogger(__name__)

RASA_HINT = (
    ". Failed to validate Action server response from API, make sure your response from the "
    "Action endpoint is valid."
)


@dataclass(frozen=True)
class ReplyValidator:
    """The reply schema without its per-event ``oneOf``, and one validator per event name."""

    outer: Validator
    by_event: dict[str, Validator]

    def validate(self, reply: Any) -> None:
        self.outer.validate(reply)  # object, events a list of objects with a string "event", ...
        events = reply.get("events") if isinstance(reply, dict) else None
        for event in events if isinstance(events, list) else []:
            name = event["event"]  # present and a string: the outer schema requires it
            sub = self.by_event.get(name)
            if sub is None:
                raise ValidationError(f"{event!r} is not valid under any of the given schemas "
                                      f"(no event is called {name!r})")
            sub.validate(event)


def _validator(schema: dict[str, Any]) -> Validator:
    cls = validator_for(schema)
    cls.check_schema(schema)  # once, instead of on every reply
    return cls(schema)


@lru_cache(maxsize=1)
def action_reply_validator() -> ReplyValidator:
    schema = copy.deepcopy(RemoteAction.action_response_format_spec())
    items = schema["properties"]["events"]["items"]
    alternatives = items.pop("oneOf")
    by_event: dict[str, Validator] = {}
    for alternative in alternatives:
        name = alternative["properties"]["event"]["const"]
        if name in by_event:  # two sub-schemas for one name: dispatching would not be the same
            raise RuntimeError(f"Rasa's reply schema has two sub-schemas for event {name!r}")
        by_event[name] = _validator(alternative)
    return ReplyValidator(outer=_validator(schema), by_event=by_event)


def validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
    """Drop-in for ``RemoteAction._validate_action_result``."""
    try:
        action_reply_validator().validate(result)
    except ValidationError as error:
        error.message += RASA_HINT
        raise
    return True


def use_cached_validator() -> None:
    """Make every remote action check its reply with the validator built once."""
    if RemoteAction._validate_action_result is not validate_action_result:
        RemoteAction._validate_action_result = validate_action_result
        logger.debug("action replies are checked with a cached JSON schema validator")
