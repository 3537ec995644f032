"""Patient safety: emergency advice first, a paused form, and a flag for staff."""

from __future__ import annotations

import logging

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

logger = logging.getLogger(__name__)

RED_FLAG_ENTITY = "red_flag"


def red_flag_categories(tracker: Tracker) -> list[str]:
    """The categories the red-flag detector (components.red_flags) found, most urgent first."""
    return [str(entity.get("value")) for entity in tracker.latest_message.get("entities") or []
            if entity.get("entity") == RED_FLAG_ENTITY]


class ActionEmergency(Action):
    """Emergency advice before anything else; pause any form; flag the conversation.

    Self-harm gets the crisis line, poisoning or an overdose the Poison Help line, every other
    red flag the emergency number; a message with several gets each of their advice (an
    overdose taken on purpose: the crisis line and Poison Help)."""

    def name(self) -> str:
        return "action_emergency"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        categories = red_flag_categories(tracker)
        if not categories:
            # The classifier alone saw an emergency: give both kinds of help.
            dispatcher.utter_message(response="utter_emergency_unspecified")
        if "self_harm" in categories:
            dispatcher.utter_message(response="utter_emergency_self_harm")
        if "poisoning" in categories:
            dispatcher.utter_message(response="utter_emergency_poisoning")
        if set(categories) - {"self_harm", "poisoning"}:
            dispatcher.utter_message(response="utter_emergency")
        category = categories[0] if categories else None
        events: list[EventType] = [
            SlotSet("flag_emergency", True),
            SlotSet("red_flag", category or "unspecified"),
        ]
        if tracker.active_loop.get("name"):
            dispatcher.utter_message(response="utter_form_paused")
            events += [ActiveLoop(None), SlotSet("requested_slot", None)]
        logger.warning("Emergency red flag (%s); conversation flagged for staff",
                       category or "classifier")
        from actions.live import alert_emergency

        await alert_emergency(tracker)  # no one in the staff console: an e-mail instead
        return events
