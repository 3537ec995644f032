"""Conversation start: put the clinic's facts into slots so responses can quote them."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.clinic import get_clinic

logger = logging.getLogger(__name__)


def clinic_slot_events() -> list[EventType]:
    """``SlotSet`` events for every ``clinic_*`` slot, from the clinic configuration file."""
    return [SlotSet(name, value) for name, value in get_clinic().slot_values().items()]


class ActionSessionStart(Action):
    """Start a session with the clinic's current facts in the ``clinic_*`` slots."""

    def name(self) -> str:
        return "action_session_start"

    async def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: dict[str, Any],
    ) -> list[EventType]:
        events: list[EventType] = [SessionStarted()]
        if domain.get("session_config", {}).get("carry_over_slots_to_new_session"):
            for name, value in tracker.current_slot_values().items():
                if value is not None and name != "requested_slot":
                    events.append(SlotSet(name, value))
        events.extend(clinic_slot_events())
        events.append(ActionExecuted("action_listen"))
        return events
