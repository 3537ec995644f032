"""Requests about earlier contact with the clinic, passed to staff as messages.

* "Please delete my chat and my details": the privacy notice promises deletion, and only staff
  may delete (the console's forget-me, with its audit log). The conversation is flagged
  ``privacy`` for the console and a message for staff goes through the outbox.
* "Cancel my appointment PMR-7KQ4TZ": until the clinic's calendar lets the patient cancel
  directly, a message for staff with the reference and the contact details the appointment was
  requested with. The reply is the same whether or not the reference exists, so a reference
  cannot be tried out.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.clinic import get_clinic
from actions.contact import find_email, find_phone
from actions.forms import latest_text
from actions.handoff import patient_fields, store_with_retry
from actions.settings import get_settings
from actions.storage import find_by_reference, get_engine

logger = logging.getLogger(__name__)

REFERENCE_RE = re.compile(r"\bPMR-[A-HJ-NP-TV-Z2-9]{6}\b", re.I)
NOT_GIVEN = "(name not given)"
MAX_QUOTED = 500


def find_reference(text: str) -> str | None:
    match = REFERENCE_RE.search(text)
    return match.group(0).upper() if match else None


def contact_fields(tracker: Tracker) -> dict[str, Any]:
    """Who is asking: the form's slots, or a phone number / e-mail in the message itself."""
    fields = patient_fields(tracker)
    text = latest_text(tracker)
    fields["phone"] = fields["phone"] or find_phone(text, get_clinic().country)
    fields["email"] = fields["email"] or find_email(text)
    fields["name"] = fields["name"] or NOT_GIVEN
    return fields


def message_key(tracker: Tracker, kind: str) -> str:
    """One stored message per patient message (a retried action stores it once)."""
    raw = f"{kind}|{tracker.sender_id}|{tracker.latest_message.get('message_id') or ''}|" \
          f"{latest_text(tracker)}"
    return hashlib.sha256(raw.encode()).hexdigest()


async def store_message(fields: dict[str, Any], key: str) -> str | None:
    try:
        stored = await store_with_retry({**fields, "kind": "handoff"}, key)
    except Exception:
        logger.exception("Could not store a message for staff")
        return None
    return stored.reference


class ActionRecordForgetMe(Action):
    """Record a request to delete the conversation and the patient's details."""

    def name(self) -> str:
        return "action_record_forget_me"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        fields = {**contact_fields(tracker),
                  "message": "Privacy request: the patient asks for this conversation and their "
                             "details to be deleted (staff console: forget-me, conversation "
                             f"{tracker.sender_id})."}
        stored = await store_message(fields, message_key(tracker, "forget"))
        dispatcher.utter_message(response="utter_forget_me_recorded" if stored
                                 else "utter_handoff_store_failed")
        logger.info("Privacy request recorded; conversation flagged for staff")
        return [SlotSet("flag_privacy", True)]


class ActionRecordAppointmentChange(Action):
    """Pass a cancellation or a change of a requested appointment to staff."""

    def name(self) -> str:
        return "action_record_appointment_change"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        text = latest_text(tracker)
        reference = find_reference(text)
        if reference is None:
            dispatcher.utter_message(response="utter_ask_appointment_reference")
            return []
        fields = contact_fields(tracker)
        original = await asyncio.to_thread(find_by_reference,
                                           get_engine(get_settings().database_url), reference)
        if original is not None:  # reach the patient the way the appointment was requested
            for key in ("name", "phone", "email"):
                fields[key] = original.get(key) or fields[key]
        known = "" if original else " (no request with this reference was found)"
        fields["message"] = (f"Cancel or change appointment {reference}{known}. "
                             f"The patient wrote: {text[:MAX_QUOTED]}")
        stored = await store_message(fields, message_key(tracker, "appointment-change"))
        if stored is None:
            dispatcher.utter_message(response="utter_handoff_store_failed")
            return []
        dispatcher.utter_message(response="utter_cancel_request_recorded", reference=reference)
        logger.info("Appointment change request recorded for staff")
        return []
