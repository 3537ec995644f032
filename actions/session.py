"""Conversation start: the clinic's facts into slots, and the privacy notice and disclaimer."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.appointments import calendar_enabled
from actions.clinic import SPOKEN, get_clinic

logger = logging.getLogger(__name__)


def notice_already_given(tracker: Tracker) -> bool:
    """True when this session already showed the privacy notice and the patient has said
    nothing since: a client that opens with ``/session_start`` on a brand-new conversation makes
    Rasa start the session twice, and the notice should appear once."""
    # Rasa logs an action's messages before its other events, so the notice of the session just
    # started sits *before* its session_started event: scan back to the last real user message.
    for event in reversed(tracker.events):
        kind = event.get("event")
        if kind == "user" and (event.get("parse_data") or {}).get("intent", {}).get(
            "name"
        ) != "session_start":
            return False
        if kind == "bot" and (event.get("metadata") or {}).get("utter_action") == (
            "utter_privacy_notice"
        ):
            return True
    return False


def conversation_language(tracker: Tracker) -> str:
    """``language`` from the session's start metadata when it is one the assistant speaks,
    else the conversation's current one, else English."""
    metadata = tracker.get_slot("session_started_metadata") or {}
    asked = str(metadata.get("language") or "").lower()[:2] if isinstance(metadata, dict) \
        else ""
    if asked in SPOKEN:
        return asked
    current = tracker.get_slot("language")
    return current if current in SPOKEN else "en"


class ActionSessionStart(Action):
    """Start a session: clinic facts into the ``clinic_*`` slots, privacy notice, disclaimer."""

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
        clinic_values = get_clinic().slot_values()
        events.extend(SlotSet(name, value) for name, value in clinic_values.items())
        # which booking texts apply: free times from the calendar, or a request for a call-back
        events.append(SlotSet("booking_mode", "calendar" if calendar_enabled() else "request"))
        # the replies' language: the page's (the widget sends {"language": "es"} with the start
        # of the conversation), else the one this conversation already had, else English
        language = conversation_language(tracker)
        events.append(SlotSet("language", language))
        # Once per conversation, before the first answer: what is stored, and what this is not.
        # The values go along: these messages are rendered before the slots above are set.
        if not notice_already_given(tracker):
            # the language goes along too (components/rasa_changes.py: Rasa would choose these
            # texts with the slot's value from before this action)
            dispatcher.utter_message(response="utter_privacy_notice", **clinic_values,
                                     language=language)
            dispatcher.utter_message(response="utter_disclaimer", **clinic_values,
                                     language=language)
        events.append(ActionExecuted("action_listen"))
        # A new session clears Rasa's pause: a person who has this conversation keeps it.
        from actions.live import pause_if_live

        events.extend(await pause_if_live(tracker.sender_id))
        return events
