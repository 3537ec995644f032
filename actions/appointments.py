"""Calendar mode: free slots offered to the patient, held at once, booked on "yes".

With ``CALENDAR_URL`` set, the booking form asks one more question after "new or returning?":
which of the earliest free slots that match the patient's wish suits them
(:func:`prepare_offer`, shown by ``action_ask_appointment_slot``). Choosing one holds it in the
calendar at once (:func:`hold_choice`; ``actions/calendar.py`` makes the hold atomic), so two
patients never get the same time; the read-back then names the slot, and "yes" turns the hold
into the appointment (``actions/handoff.py``). Whenever the calendar is down, slow or refuses,
the patient is told and the form goes on in request mode: the front desk calls back, exactly as
without a calendar. With ``CALENDAR_URL`` empty nothing here runs.
"""

from __future__ import annotations

import logging
import re
import time
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from actions.calendar import CalendarClient, CalendarUnavailable
from actions.clinic import Clinic, EventDetails, reply_language
from actions.settings import get_settings
from actions.slots import Slot, Wish, free_slots, offer
from actions.storage import new_reference
from actions.when import Preferred, fold, normalize_spanish, spanish_clock

logger = logging.getLogger(__name__)

REQUEST_MODE = "request"  # appointment_slot value: no calendar slot, the front desk calls back
MORE_RE = re.compile(r"\b(other|more|different|later|another|else|next ones?|otras?|otros?|"
                     r"m[aá]s tarde|diferentes?|siguientes|despu[eé]s)\b", re.I)
CALL_RE = re.compile(r"\b(call me|ring me|call back|phone me|none of (these|them|those)|"
                     r"ll[aá]me(n)?me|que me llamen|me pueden llamar|"
                     r"ninguna de (estas|esas)|ninguno de (estos|esos))\b", re.I)
ORDINALS = {"first": 0, "1st": 0, "second": 1, "2nd": 1, "third": 2, "3rd": 2, "fourth": 3,
            "4th": 3, "fifth": 4, "5th": 4}


def calendar_enabled() -> bool:
    return bool(get_settings().calendar_url)


@lru_cache(maxsize=1)
def calendar_client() -> CalendarClient:
    settings = get_settings()
    return CalendarClient(settings.calendar_url, settings.calendar_user or None,
                          settings.calendar_password or None, settings.calendar_timeout,
                          settings.calendar_cache_seconds)


def wish_of(data: dict[str, Any] | None) -> Preferred | Wish | None:
    """The patient's wish as the form stored it (``preferred_time_data``)."""
    if not data:
        return None
    if "wish" in data:
        return Wish.from_dict(data["wish"])
    return Preferred.from_dict(data)


def prepare_offer(clinic: Clinic, wish: Preferred | Wish | None, kind: str, now: datetime,
                  page: int = 0) -> tuple[list[dict[str, str]], bool]:
    """The slots to offer (as stored in the ``appointment_offer`` slot) and whether they match
    the wish (False: the nearest alternatives). Raises CalendarUnavailable."""
    rules = clinic.booking
    horizon_end = now + timedelta(days=rules.horizon_days + 1)
    sweep_expired_holds(now)
    busy = calendar_client().busy(now, horizon_end, clinic.tz)
    slots = free_slots(clinic, busy, kind if kind in ("new", "returning") else "new", now)
    count = rules.offer_count
    if wish is None:
        chosen, matched = slots, True
    else:
        chosen, matched = offer(slots, wish, clinic.tz, count * (page + 1) + count)
    shown = chosen[page * count:(page + 1) * count] or chosen[:count]
    return [slot.as_dict() for slot in shown], matched


_last_sweep: list[float] = []  # monotonic time of this process's last sweep
SWEEP_EVERY = 300.0


def sweep_expired_holds(now: datetime) -> None:
    """Delete holds of abandoned conversations, at most every five minutes per process (an
    expired hold already counts as free; this only tidies the calendar)."""
    moment = time.monotonic()
    if _last_sweep and moment - _last_sweep[-1] < SWEEP_EVERY:
        return
    _last_sweep[:] = [moment]
    try:
        removed = calendar_client().expire_holds(now)
    except CalendarUnavailable:
        return
    if removed:
        logger.info("Removed %d expired hold(s) from the calendar", removed)


# Spanish ordinals as they are written (accents folded): "la segunda", "el 1º", "3ra".
ORDINALS_ES = {
    0: r"primer[oa]?|1\s*(?:o|a|º|ª|ro|ra|er|era)",
    1: r"segund[oa]|2\s*(?:o|a|º|ª|do|da)",
    2: r"tercer[oa]?|3\s*(?:o|a|º|ª|ro|ra|er|era)",
    3: r"(?<!y )(?<!menos )cuart[oa]|4\s*(?:o|a|º|ª|to|ta)",
    4: r"quint[oa]|5\s*(?:o|a|º|ª|to|ta)",
}
_LAST_ES_RE = re.compile(r"\b(?:ultim[oa]|la\s+de\s+mas\s+tarde)\b")


def slot_title(slot: Slot, clinic: Clinic, *, language: str = "en") -> str:
    """The slot's button title: 'Tuesday 8 December, 3:00 pm' / 'martes 8 de diciembre,
    3:00 p. m.'."""
    return slot.describe(clinic.tz, language=language)


def choice_from(text: str, offered: list[dict[str, str]], clinic: Clinic, *,
                language: str = "en") -> Slot | None:
    """The offered slot a reply means: its button title, its number ("2", "the second one")
    or its time ("2pm", "the 2:30"); in Spanish (``language="es"``) "2", "la segunda", "el
    primero", "la primera opción", "la última", "a las 3", "las 2:30", "15:00" or the Spanish
    button title (accents optional)."""
    slots = [Slot.from_dict(raw) for raw in offered]
    if reply_language(language) == "es":
        return _spanish_choice(text, slots, clinic)
    lowered = " ".join(text.lower().split()).strip(" .!")
    for slot in slots:
        if slot_title(slot, clinic).lower() == lowered:
            return slot
    number = re.fullmatch(r"(?:number |option |slot )?(\d)", lowered)
    if number and 1 <= int(number.group(1)) <= len(slots):
        return slots[int(number.group(1)) - 1]
    for word, index in ORDINALS.items():
        if re.search(rf"\b{word}\b", lowered) and index < len(slots):
            return slots[index]
    for slot in slots:
        local = slot.local(clinic.tz)
        clock = local.strftime("%I:%M").lstrip("0")
        short = clock[:-3] if clock.endswith(":00") else None
        pattern = rf"\b{re.escape(clock)}\b" + (rf"|\b{short}\s*(?:am|pm)\b" if short else "")
        if re.search(pattern, lowered):
            return slot
    return None


def _spanish_choice(text: str, slots: list[Slot], clinic: Clinic) -> Slot | None:
    said = fold(text).strip(" .!¡?¿")
    for slot in slots:  # the English title too: the buttons may predate a language change
        if said in (fold(slot_title(slot, clinic, language="es")),
                    fold(slot_title(slot, clinic))):
            return slot
    normalized = normalize_spanish(text)
    number = re.fullmatch(r"(?:(?:el|la)\s+)?(?:(?:numero|opcion|n|no|num)\s*)?(\d)",
                          normalized)
    if number and 1 <= int(number.group(1)) <= len(slots):
        return slots[int(number.group(1)) - 1]
    for index, pattern in ORDINALS_ES.items():
        if re.search(rf"\b(?:{pattern})(?!\w)", normalized) and index < len(slots):
            return slots[index]
    if slots and _LAST_ES_RE.search(normalized):
        return slots[-1]
    spoken, _ = spanish_clock(normalized)
    if spoken is None:
        return None
    candidates = spoken.candidates()
    for candidate in candidates:  # the likelier reading first: "a las 3" is 3:00, else 15:00
        for slot in slots:
            local = slot.local(clinic.tz).time()
            if (local.hour, local.minute) == (candidate.hour, candidate.minute):
                return slot
    return None


def wants_more(text: str) -> bool:
    return bool(MORE_RE.search(text))


def wants_call(text: str) -> bool:
    return bool(CALL_RE.search(text))


def event_texts(clinic: Clinic, reference: str, kind: str | None, reason: str | None,
                name: str | None) -> tuple[str, str]:
    """The event's summary and description: no more personal data than ``event_details``."""
    details = clinic.booking.event_details
    summary = f"Appointment {reference}"
    lines = [f"Reference: {reference}", f"Patient: {kind or 'unknown'}"]
    if details in (EventDetails.REASON, EventDetails.NAME_AND_REASON) and reason:
        lines.append(f"Reason: {reason}")
    if details == EventDetails.NAME_AND_REASON and name:
        summary = f"{name} ({reference})"
        lines.append(f"Name: {name}")
    return summary, "\n".join(lines)


def hold_choice(clinic: Clinic, slot: Slot, kind: str | None, reason: str | None,
                name: str | None, reference: str | None = None) -> tuple[str, str] | None:
    """Hold the slot now: (event uid, reference) or None when someone else has it.
    ``reference``: an appointment being moved keeps its own. Raises CalendarUnavailable."""
    reference = reference or new_reference()
    summary, description = event_texts(clinic, reference, kind, reason, name)
    uid = calendar_client().hold(slot.start, slot.end, reference, summary, description,
                                 expires_after=clinic.booking.hold)
    if uid is None:
        logger.info("Slot taken by another conversation; offering others")
        return None
    return uid, reference


def book(clinic: Clinic, uid: str, reference: str, kind: str | None, reason: str | None,
         name: str | None) -> bool:
    """Turn the hold into the appointment (CONFIRMED, or TENTATIVE until staff approve).
    False when the hold is gone; raises CalendarUnavailable."""
    summary, description = event_texts(clinic, reference, kind, reason, name)
    status = "CONFIRMED" if clinic.booking.auto_confirm else "TENTATIVE"
    return calendar_client().confirm(uid, status, summary, description)


def move_booking(clinic: Clinic, new_uid: str, old_uid: str, reference: str, kind: str | None,
                 reason: str | None, name: str | None) -> bool:
    """A patient moving their appointment: the hold of the new time becomes the appointment,
    then the old event is deleted (new first, so the patient never has neither). False when the
    hold is gone or the old event changed meanwhile (the new one is given back then); raises
    CalendarUnavailable, after giving the new one back."""
    if not book(clinic, new_uid, reference, kind, reason, name):
        return False
    client = calendar_client()
    try:
        if client.cancel(old_uid):
            return True
    except CalendarUnavailable:
        release(new_uid)
        raise
    release(new_uid)  # the old event is not there any more: leave it to staff
    return False


def release(uid: str | None) -> None:
    """Give a hold back (best effort: an unreleased hold expires on its own)."""
    if not uid:
        return
    try:
        calendar_client().cancel(uid)
    except CalendarUnavailable:
        logger.warning("Could not release a hold; it expires on its own")


__all__ = ["REQUEST_MODE", "CalendarUnavailable", "book", "calendar_enabled", "choice_from",
           "hold_choice", "move_booking", "prepare_offer", "release", "wants_call", "wants_more",
           "wish_of"]
