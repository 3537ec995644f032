"""Patient safety: emergency advice first, a paused form, and a flag for staff."""

from __future__ import annotations

import logging

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

logger = logging.getLogger(__name__)

RED_FLAG_ENTITY = "red_flag"


def red_flag_category(tracker: Tracker) -> str | None:
    """The category set by the red-flag detector (components.red_flags), if it fired."""
    for entity in tracker.latest_message.get("entities") or []:
        if entity.get("entity") == RED_FLAG_ENTITY:
            return str(entity.get("value"))
    return None


class ActionEmergency(Action):
    """Emergency advice before anything else; pause any form; flag the conversation."""

    def name(self) -> str:
        return "action_emergency"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        category = red_flag_category(tracker)
        if category == "self_harm":
            dispatcher.utter_message(response="utter_emergency_self_harm")
        elif category is None:
            # The classifier alone saw an emergency: give both kinds of help.
            dispatcher.utter_message(response="utter_emergency_unspecified")
        else:
            dispatcher.utter_message(response="utter_emergency")
        events: list[EventType] = [
            SlotSet("flag_emergency", True),
            SlotSet("red_flag", category or "unspecified"),
        ]
        if tracker.active_loop.get("name"):
            dispatcher.utter_message(response="utter_form_paused")
            events += [ActiveLoop(None), SlotSet("requested_slot", None)]
        logger.warning("Emergency red flag (%s); conversation flagged for staff",
                       category or "classifier")
        return events
