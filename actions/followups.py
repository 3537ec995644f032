"""Requests about earlier contact with the clinic, passed to staff as messages.

* "Please delete my chat and my details": the privacy notice promises deletion, and only staff
  may delete (the console's forget-me, with its audit log). The conversation is flagged
  ``privacy`` for the console and a message for staff goes through the outbox.
* "Cancel my appointment PMR-7KQ4TZ": in calendar mode, an appointment booked in the calendar
  is cancelled at once when the patient also gives the phone number or e-mail it was booked
  with (asked for when missing; on SMS the number they text from counts): the event is removed,
  the request closed and staff told.
* "Move my appointment PMR-7KQ4TZ": the same check, then the booking form runs again with the
  appointment's details filled in, so the patient only says when suits them and picks a free
  time; "yes" moves the appointment (``actions/handoff.py``), keeping its reference.
* Otherwise (request mode, a change asked in the middle of another booking, a reference that is
  not a calendar booking, the calendar down) a message for staff with the reference and the
  contact details the appointment was requested with. The reply never says whether a reference
  exists, so a reference cannot be tried out.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from datetime import datetime
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import appointments
from actions.clinic import get_clinic
from actions.contact import find_email, find_phone, format_phone
from actions.forms import channel_phone, latest_text, reply_language
from actions.handoff import patient_fields, store_with_retry
from actions.notify import PATIENT_SMS, notice_targets
from actions.settings import get_settings
from actions.slots import Slot
from actions.storage import (
    as_utc,
    find_by_reference,
    get_engine,
    set_request_status,
    store_move,
)

logger = logging.getLogger(__name__)

MOVE_RE = re.compile(r"\b(move|moving|reschedul\w*|change|another (day|time)|different "
                     r"(day|time)|postpone|cambiar|cambio|mover|reprogramar|otro d[ií]a|"
                     r"otra (hora|fecha)|posponer|aplazar|pasar la cita)\b", re.I)
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
        pending = tracker.get_slot("pending_change_reference")
        reference = find_reference(text) or pending
        if reference is None:
            dispatcher.utter_message(response="utter_ask_appointment_reference")
            return []
        fields = contact_fields(tracker)
        engine = get_engine(get_settings().database_url)
        original = await asyncio.to_thread(find_by_reference, engine, reference)
        moving = bool(MOVE_RE.search(text)) or bool(pending and
                                                    tracker.get_slot("pending_change_move"))
        in_form = bool((tracker.active_loop or {}).get("name"))
        if self._cancellable(original) and not (moving and in_form):
            if not self._same_patient(original, text, tracker):
                if pending:  # asked once already: the details did not match
                    dispatcher.utter_message(response="utter_cancel_details_mismatch")
                    return [SlotSet("pending_change_reference", None),
                            SlotSet("pending_change_move", None)]
                dispatcher.utter_message(response="utter_ask_booking_contact")
                return [SlotSet("pending_change_reference", reference),
                        SlotSet("pending_change_move", moving)]
            if moving:
                return self._start_move(dispatcher, original, reply_language(tracker))
            if await self._cancel(dispatcher, tracker, engine, original):
                return [SlotSet("pending_change_reference", None)]
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
        return [SlotSet("pending_change_reference", None), SlotSet("pending_change_move", None)]

    @staticmethod
    def _cancellable(original: dict[str, Any] | None) -> bool:
        return bool(appointments.calendar_enabled() and original and original.get("calendar_uid")
                    and original.get("status") != "closed")

    @staticmethod
    def _start_move(dispatcher: CollectingDispatcher, original: dict[str, Any],
                    language: str) -> list[EventType]:
        """The booking form again, with the appointment's details: only the new time to ask."""
        clinic = get_clinic()
        when = Slot(as_utc(original["appointment_start"]),
                    as_utc(original["appointment_end"])).describe(clinic.tz, language=language)
        phone, email = original.get("phone"), original.get("email")
        shown = ([format_phone(phone, clinic.country)] if phone else []) + \
            ([email] if email else [])
        dispatcher.utter_message(response="utter_reschedule_start",
                                 reference=original["reference"], when=when)
        logger.info("Moving a calendar appointment: the booking form asks for the new time")
        return [SlotSet("pending_change_reference", None), SlotSet("pending_change_move", None),
                SlotSet("reschedule_reference", original["reference"]),
                SlotSet("reschedule_previous", when),
                SlotSet("patient_name", original["name"]),
                SlotSet("patient_contact", " / ".join(shown)),
                SlotSet("patient_phone", phone), SlotSet("patient_email", email),
                SlotSet("visit_reason", original.get("reason") or "(not given)"),
                SlotSet("patient_status", original.get("patient_status") or "returning"),
                FollowupAction("booking_form")]

    @staticmethod
    def _same_patient(original: dict[str, Any], text: str, tracker: Tracker) -> bool:
        """The phone or e-mail the appointment was booked with, in this message (or the SMS
        number the patient writes from)."""
        country = get_clinic().country
        phones = {find_phone(text, country), channel_phone(tracker)} - {None}
        email = find_email(text)
        return bool((original.get("phone") and original["phone"] in phones)
                    or (original.get("email") and email == original["email"].lower()))

    @staticmethod
    async def _cancel(dispatcher: CollectingDispatcher, tracker: Tracker, engine: Any,
                      original: dict[str, Any]) -> bool:
        """Remove the event, close the request, tell staff; False when the calendar fails."""
        try:
            await asyncio.to_thread(appointments.calendar_client().cancel,
                                    original["calendar_uid"])
        except appointments.CalendarUnavailable:
            return False
        await asyncio.to_thread(set_request_status, engine, original["id"], "closed")
        fields = {**contact_fields(tracker), "name": original["name"],
                  "phone": original.get("phone"), "email": original.get("email"),
                  "message": f"The patient cancelled appointment {original['reference']}; "
                             "it was removed from the calendar."}
        await store_message(fields, message_key(tracker, "appointment-cancelled"))
        clinic = get_clinic()
        slot = Slot(as_utc(original["appointment_start"]), as_utc(original["appointment_end"]))
        dispatcher.utter_message(response="utter_appointment_cancelled",
                                 reference=original["reference"],
                                 when=slot.describe(clinic.tz, language=reply_language(tracker)))
        logger.info("Appointment cancelled by the patient; calendar event removed")
        return True


async def finish_move(dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
    """The patient said "yes" to moving their appointment to the time held for them: the hold
    becomes the appointment, the old event goes, the request follows (with an e-mail notice and
    its updated .ics when there is an address) and staff are told. When the calendar fails, or
    the appointment changed meanwhile, staff get the wish as a message instead: nothing lost."""
    settings, clinic = get_settings(), get_clinic()
    reference = tracker.get_slot("reschedule_reference")
    previous = tracker.get_slot("reschedule_previous")
    uid, chosen = tracker.get_slot("appointment_uid"), tracker.get_slot("appointment_slot")
    engine = get_engine(settings.database_url)
    original = await asyncio.to_thread(find_by_reference, engine, reference)
    fields = {**contact_fields(tracker)}
    if original is not None:
        fields.update({key: original.get(key) for key in ("name", "phone", "email")})
    if uid and chosen not in (None, appointments.REQUEST_MODE) and \
            ActionRecordAppointmentChange._cancellable(original):
        start = datetime.fromisoformat(chosen)
        slot = Slot(start, start + clinic.booking.visit_length(original.get("patient_status")
                                                               or "new"))
        try:
            moved = await asyncio.to_thread(
                appointments.move_booking, clinic, uid, original["calendar_uid"], reference,
                original.get("patient_status"), original.get("reason"), original["name"])
        except appointments.CalendarUnavailable:
            moved = False
        if moved:
            await _record_move(dispatcher, tracker, engine, original, uid, slot, previous,
                               fields)
            return
        dispatcher.utter_message(response="utter_calendar_unavailable")
    await asyncio.to_thread(appointments.release, uid)
    fields["message"] = (f"Move appointment {reference} (now {previous}). The patient would "
                         f"like: {tracker.get_slot('preferred_time') or '(no time given)'}.")
    stored = await store_message(fields, message_key(tracker, "appointment-move"))
    dispatcher.utter_message(response="utter_cancel_request_recorded" if stored
                             else "utter_handoff_store_failed", reference=reference)


async def _record_move(dispatcher: CollectingDispatcher, tracker: Tracker, engine: Any,
                       original: dict[str, Any], uid: str, slot: Slot, previous: str | None,
                       fields: dict[str, Any]) -> None:
    settings, clinic = get_settings(), get_clinic()
    reference = original["reference"]
    when = slot.describe(clinic.tz, language=reply_language(tracker))
    # told here in the chat; the e-mail brings the updated invitation for their calendar
    targets = [t for t in notice_targets(original, settings) if t != PATIENT_SMS]
    status = None if clinic.booking.auto_confirm else "new"  # staff confirm the new time
    if not await asyncio.to_thread(store_move, engine, original, uid, slot.start, slot.end,
                                   targets, status):
        logger.error("Appointment moved in the calendar but its request changed meanwhile")
    before = Slot(as_utc(original["appointment_start"]),
                  as_utc(original["appointment_end"])).describe(clinic.tz)
    fields["message"] = (f"The patient moved appointment {reference} from {before} to "
                         f"{slot.describe(clinic.tz)}; the calendar is updated.")
    await store_message(fields, message_key(tracker, "appointment-moved"))
    dispatcher.utter_message(
        response="utter_appointment_moved" if clinic.booking.auto_confirm
        else "utter_appointment_moved_pending", reference=reference, when=when,
        previous=previous)
    logger.info("Appointment moved by the patient; calendar and request updated")
