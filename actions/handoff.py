"""Handing requests to the clinic: confirmed appointment requests and messages for staff.

The request is stored first (``actions.storage``) with its deliveries queued; the delivery
worker (``actions.outbox``) sends it to the front desk. The patient's confirmation therefore
never waits for, or depends on, the mail server.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import appointments
from actions.clinic import get_clinic
from actions.forms import BOOKING_SLOTS, FORM_NAME, HANDOFF_SLOTS, reply_language
from actions.notify import delivery_targets, patient_targets
from actions.settings import get_settings
from actions.slots import Slot
from actions.storage import StoredRequest, get_engine, store_request
from actions.when import Preferred

logger = logging.getLogger(__name__)

STORE_ATTEMPTS = 3


HANDOFF_FORM = "handoff_form"


def reset_request_slots() -> list[EventType]:
    """Forget everything a booking or a message for staff collected."""
    slots = (*BOOKING_SLOTS, *HANDOFF_SLOTS)
    return [SlotSet(slot, None) for slot in slots] + [SlotSet("requested_slot", None)]


def form_idempotency_key(tracker: Tracker, kind: str, form: str = FORM_NAME) -> str:
    """Stable for one filled form: the sender and the time the form was activated."""
    activated = next(
        (
            event.get("timestamp")
            for event in reversed(tracker.events)
            if event.get("event") == "active_loop" and event.get("name") == form
        ),
        None,
    )
    raw = f"{kind}|{tracker.sender_id}|{activated}"
    return hashlib.sha256(raw.encode()).hexdigest()


def patient_fields(tracker: Tracker) -> dict[str, Any]:
    """Who the request is from and where it came in: common to every kind of request."""
    return {
        "name": tracker.get_slot("patient_name"),
        "phone": tracker.get_slot("patient_phone"),
        "email": tracker.get_slot("patient_email"),
        "channel": tracker.get_latest_input_channel() or "unknown",
        "sender_id": tracker.sender_id,
        "language": tracker.get_slot("language") or "en",
    }


def appointment_fields(tracker: Tracker) -> dict[str, Any]:
    preferred_raw = tracker.get_slot("preferred_time_data")
    preferred = Preferred.from_dict(preferred_raw) if preferred_raw else None
    return {
        **patient_fields(tracker),
        "kind": "appointment",
        "preferred_day": preferred.day.isoformat() if preferred else None,
        "preferred_start": preferred.start.strftime("%H:%M") if preferred else None,
        "preferred_end": preferred.end.strftime("%H:%M") if preferred else None,
        "preferred_text": tracker.get_slot("preferred_time"),
        "reason": tracker.get_slot("visit_reason"),
        "patient_status": tracker.get_slot("patient_status"),
    }


async def store_with_retry(fields: dict[str, Any], key: str, reference: str | None = None,
                           extra_targets: Sequence[str] = ()) -> StoredRequest:
    """Store in a worker thread (the database call blocks), retrying a briefly failing database.
    ``extra_targets``: deliveries beyond the front desk's (the patient's confirmation)."""
    settings = get_settings()
    targets = [*delivery_targets(settings), *extra_targets]
    for attempt in range(1, STORE_ATTEMPTS + 1):
        try:
            engine = get_engine(settings.database_url)
            return await asyncio.to_thread(
                store_request, engine, fields, key, targets, reference
            )
        except Exception as exc:
            if attempt == STORE_ATTEMPTS:
                raise
            logger.warning("Storing a request failed (%s); retrying", type(exc).__name__)
            await asyncio.sleep(attempt)
    raise AssertionError("unreachable")


async def hand_over(
    dispatcher: CollectingDispatcher, fields: dict[str, Any], key: str, kind: str
) -> str | None:
    """Store a request and tell the patient its reference (``utter_<kind>_submitted``) or that
    it could not be stored (``utter_<kind>_store_failed``). Returns the reference, if stored."""
    try:
        stored = await store_with_retry(fields, key)
    except Exception:
        logger.exception("Could not store a %s request", kind)
        dispatcher.utter_message(response=f"utter_{kind}_store_failed")
        return None
    dispatcher.utter_message(response=f"utter_{kind}_submitted", reference=stored.reference,
                             name=fields["name"])
    return stored.reference


class ActionSubmitBooking(Action):
    """Store the confirmed request, queue it for the front desk, give the patient a reference."""

    def name(self) -> str:
        return "action_submit_booking"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        if tracker.get_slot("booking_confirmed") is not True:
            return []
        if tracker.get_slot("reschedule_reference"):  # moving an appointment, not a new one
            from actions.followups import finish_move

            await finish_move(dispatcher, tracker)
            return reset_request_slots()
        key = form_idempotency_key(tracker, "appointment")
        uid = tracker.get_slot("appointment_uid")
        if uid and tracker.get_slot("appointment_slot") not in (None, appointments.REQUEST_MODE):
            reference = await self._book_slot(dispatcher, tracker, key, uid)
        else:
            reference = await hand_over(dispatcher, appointment_fields(tracker), key, "booking")
        return [*reset_request_slots(), SlotSet("booking_reference", reference)]

    @staticmethod
    async def _book_slot(dispatcher: CollectingDispatcher, tracker: Tracker, key: str,
                         uid: str) -> str | None:
        """Calendar mode: the hold becomes the appointment, then the request is stored with
        it. If the calendar fails now, the hold is given back and the request goes to the
        front desk with the chosen time as the patient's preference: nothing is lost."""
        clinic = get_clinic()
        start = datetime.fromisoformat(tracker.get_slot("appointment_slot"))
        length = clinic.booking.visit_length(tracker.get_slot("patient_status") or "new")
        slot = Slot(start, start + length)
        reference = tracker.get_slot("appointment_reference")
        fields = appointment_fields(tracker)
        try:
            booked = await asyncio.to_thread(
                appointments.book, clinic, uid, reference, tracker.get_slot("patient_status"),
                tracker.get_slot("visit_reason"), tracker.get_slot("patient_name"))
        except appointments.CalendarUnavailable:
            booked = False
        if not booked:
            await asyncio.to_thread(appointments.release, uid)
            dispatcher.utter_message(response="utter_calendar_unavailable")
            return await hand_over(dispatcher, fields, key, "booking")
        fields.update(appointment_start=slot.start, appointment_end=slot.end,
                      calendar_uid=uid)
        try:
            stored = await store_with_retry(
                fields, key, reference, extra_targets=patient_targets(fields, get_settings()))
        except Exception:
            logger.exception("Could not store a booked appointment")
            dispatcher.utter_message(response="utter_booking_store_failed")
            return None
        response = "utter_appointment_booked" if clinic.booking.auto_confirm \
            else "utter_appointment_pending"
        dispatcher.utter_message(response=response, reference=stored.reference,
                                 name=fields["name"],
                                 when=slot.describe(clinic.tz, language=reply_language(tracker)))
        return stored.reference


class ActionOfferHandoff(Action):
    """The patient asked for a person: a live chat with staff when someone is available now
    (``actions.live``: the patient is told someone will join and the conversation is paused);
    otherwise the front desk's phone and hours, and a message for staff."""

    def name(self) -> str:
        return "action_offer_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        from actions.live import start_live_chat, wait_ran_out

        if wait_ran_out(tracker):  # no one accepted the live chat in time
            dispatcher.utter_message(response="utter_live_unavailable")
            return [SlotSet("flag_handoff", True)]
        live = await start_live_chat(dispatcher, tracker)
        if live is not None:
            return live
        dispatcher.utter_message(response="utter_handoff_offer")
        logger.info("Hand-off to a person requested; conversation flagged for staff")
        return [SlotSet("flag_handoff", True)]


class ActionSubmitHandoff(Action):
    """Store the patient's message for staff; it goes through the same outbox as bookings."""

    def name(self) -> str:
        return "action_submit_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        message = tracker.get_slot("handoff_message")
        if not message:
            return []
        fields = {**patient_fields(tracker), "kind": "handoff", "message": message}
        key = form_idempotency_key(tracker, "handoff", HANDOFF_FORM)
        await hand_over(dispatcher, fields, key, "handoff")
        return reset_request_slots()


class ActionCancelBooking(Action):
    """The patient stopped the form: forget what was collected and say so."""

    def name(self) -> str:
        return "action_cancel_booking"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        if tracker.get_slot("reschedule_reference"):  # a move given up: the appointment stays
            dispatcher.utter_message(response="utter_reschedule_kept",
                                     reference=tracker.get_slot("reschedule_reference"),
                                     previous=tracker.get_slot("reschedule_previous"))
        else:
            dispatcher.utter_message(response="utter_booking_cancelled")
        await asyncio.to_thread(appointments.release, tracker.get_slot("appointment_uid"))
        return reset_request_slots()
