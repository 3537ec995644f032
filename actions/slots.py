"""Free appointment slots: the clinic's opening hours minus the calendar's busy times.

Pure functions, no I/O: the caller reads the calendar's busy intervals (and the slots held for
unfinished conversations, ``booking.hold_minutes``) and passes them in. Everything follows the
``booking:`` section of clinic.yml (``actions.clinic.BookingRules``):

* Each open day's wall-clock times are built in the clinic's time zone and converted to UTC, so
  a 9:00 opening stays 9:00 local on both sides of a daylight-saving change; a wall time the
  change skips (2:30 on the spring-forward night) is never offered.
* Slots start on the ``slot_step_minutes`` grid counted from the day's opening, last the visit
  length for the patient kind and end by closing time.
* Nothing sooner than ``min_notice_hours`` after now, nothing after ``horizon_days`` from today,
  nothing that overlaps a busy interval, even by a minute.

``matching`` picks the slots that fit what the patient asked for: a ``Preferred`` day and window
from ``actions.when`` ("next Tuesday afternoon", "Thursday at 10am") or a looser ``Wish`` ("as
soon as possible", "any morning this week") read by ``wish_from_text``. When none fit,
``nearest_alternatives`` gives the free slots closest to the request.

Descriptions and wishes come in English (default) or Spanish (``language="es"``): "martes 8 de
diciembre, 2:00 p. m.", "lo antes posible", "cualquier día por la mañana esta semana".
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from typing import Literal, Protocol

from actions.clinic import PATIENT_KINDS, WEEKDAYS, Clinic, reply_language
from actions.when import (
    _ES_MONTHS,
    _ES_WEEKDAY_RE,
    DAY_PARTS,
    Preferred,
    _clock,
    day_text,
    normalize_spanish,
    spanish_day_part,
)

UTC = timezone.utc
PatientKind = Literal["new", "returning"]


class Interval(Protocol):
    """Anything with aware ``start`` and ``end`` datetimes: a calendar event, a held Slot."""

    @property
    def start(self) -> datetime: ...

    @property
    def end(self) -> datetime: ...


def _aware_utc(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be a time-zone aware datetime, got {value!r}")
    return value.astimezone(UTC)


@dataclass(frozen=True, order=True)
class Slot:
    """A free appointment time; ``start`` and ``end`` are aware and kept in UTC."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", _aware_utc(self.start, "Slot.start"))
        object.__setattr__(self, "end", _aware_utc(self.end, "Slot.end"))
        if self.end <= self.start:
            raise ValueError(f"Slot ends before it starts: {self.start} - {self.end}")

    def local(self, tz: tzinfo) -> datetime:
        """The start in the clinic's time zone."""
        return self.start.astimezone(tz)

    def describe(self, tz: tzinfo, *, language: str = "en") -> str:
        """'Tuesday 8 December, 2:00 pm' in the clinic's time zone ('martes 8 de diciembre,
        2:00 p. m.' in Spanish)."""
        start = self.local(tz)
        if reply_language(language) == "es":
            return f"{day_text(start.date(), 'es')}, {_clock(start.time(), 'es')}"
        return (
            f"{WEEKDAYS[start.weekday()].capitalize()} {start.day} {start.strftime('%B')}, "
            f"{_clock(start.time())}"
        )

    def as_dict(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}

    @classmethod
    def from_dict(cls, raw: dict) -> Slot:
        return cls(
            start=datetime.fromisoformat(raw["start"]), end=datetime.fromisoformat(raw["end"])
        )


def _wall_to_utc(wall: datetime, tz: tzinfo) -> datetime | None:
    """A naive local wall time as UTC, or None when the time does not exist that day (DST)."""
    utc = wall.replace(tzinfo=tz).astimezone(UTC)
    if utc.astimezone(tz).replace(tzinfo=None) != wall:
        return None
    return utc


def _merged(busy: Iterable[Interval]) -> list[tuple[datetime, datetime]]:
    intervals = sorted(
        (_aware_utc(b.start, "busy start"), _aware_utc(b.end, "busy end")) for b in busy
    )
    merged: list[tuple[datetime, datetime]] = []
    for start, end in intervals:
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def free_slots(
    clinic: Clinic,
    busy: Iterable[Interval],
    patient_kind: PatientKind,
    now: datetime,
    start_day: date | None = None,
    days: int | None = None,
) -> list[Slot]:
    """Free slots for a visit of ``patient_kind``, earliest first.

    ``start_day`` (a local date, default today) and ``days`` (default: up to the horizon) narrow
    the days searched to ``start_day .. start_day + days - 1``, cut to today ..
    today + ``booking.horizon_days``.
    """
    if patient_kind not in PATIENT_KINDS:
        raise ValueError(f"patient kind must be one of {PATIENT_KINDS}, got {patient_kind!r}")
    rules = clinic.booking
    tz = clinic.tz
    now_utc = _aware_utc(now, "now")
    today = now_utc.astimezone(tz).date()
    earliest = now_utc + rules.min_notice
    asked = start_day or today
    first = max(asked, today)
    last = today + timedelta(days=rules.horizon_days)
    if days is not None:
        last = min(last, asked + timedelta(days=days - 1))
    visit = rules.visit_length(patient_kind)
    step = rules.slot_step
    merged = _merged(busy)
    ends = [end for _, end in merged]

    found: list[Slot] = []
    day = first
    while day <= last:
        hours = clinic.hours_on(day.weekday())
        day, this_day = day + timedelta(days=1), day
        if hours is None:
            continue
        opens, closes = hours
        closing_wall = datetime.combine(this_day, closes)
        closing = closing_wall.replace(tzinfo=tz).astimezone(UTC)
        wall = datetime.combine(this_day, opens)
        while wall < closing_wall:
            start, wall = _wall_to_utc(wall, tz), wall + step
            if start is None or start < earliest:
                continue
            end = start + visit
            if end > closing:
                continue
            index = bisect_right(ends, start)  # the first busy interval ending after start
            if index < len(merged) and merged[index][0] < end:
                continue
            found.append(Slot(start, end))
    return found


# --- What the patient asked for -------------------------------------------------------------

# Day-part words as DAY_PARTS in actions.when has them, read as one canonical part.
_PART_NAMES: dict[str, str] = {
    "morning": "morning",
    "lunchtime": "lunchtime",
    "lunch": "lunchtime",
    "midday": "lunchtime",
    "noon": "lunchtime",
    "afternoon": "afternoon",
    "evening": "evening",
    "after work": "evening",
}
_WHOLE_DAY: tuple[time, time] = (time.min, time.max)


@dataclass(frozen=True)
class Wish:
    """A loose request: a part of the day (or any time) on any day from ``first_day`` to
    ``last_day`` (local dates; None = no bound). ``Wish()`` is "as soon as possible"."""

    part: str | None = None  # "morning", "lunchtime", "afternoon", "evening" or None (any time)
    first_day: date | None = None
    last_day: date | None = None

    def __post_init__(self) -> None:
        if self.part is not None and self.part not in DAY_PARTS:
            raise ValueError(f"unknown part of the day {self.part!r}")

    @property
    def window(self) -> tuple[time, time]:
        """The clock window a slot must start in (start inclusive, end exclusive)."""
        return DAY_PARTS[self.part] if self.part else _WHOLE_DAY

    def accepts(self, slot: Slot, tz: tzinfo) -> bool:
        local = slot.local(tz)
        if self.first_day is not None and local.date() < self.first_day:
            return False
        if self.last_day is not None and local.date() > self.last_day:
            return False
        start, end = self.window
        return start <= local.time() < end

    def describe(self, *, language: str = "en") -> str:
        """'as soon as possible', 'any morning', 'any afternoon from Monday 30 November to ...';
        in Spanish 'lo antes posible', 'cualquier día por la mañana', 'cualquier día por la
        tarde del lunes 30 de noviembre al domingo 6 de diciembre'."""
        if reply_language(language) == "es":
            return self._describe_spanish()
        what = f"any {self.part}" if self.part else "any day"
        if self.first_day is None and self.last_day is None:
            return what if self.part else "as soon as possible"
        words = [what]
        if self.first_day is not None:
            words.append(f"from {_day(self.first_day)}")
        if self.last_day is not None:
            words.append(f"{'to' if self.first_day else 'until'} {_day(self.last_day)}")
        return " ".join(words)

    def _describe_spanish(self) -> str:
        what = f"cualquier día {_PART_ES[self.part]}" if self.part else "cualquier día"
        if self.first_day is None and self.last_day is None:
            return what if self.part else "lo antes posible"
        if self.first_day is not None and self.last_day is not None:
            return f"{what} del {_day(self.first_day, 'es')} al {_day(self.last_day, 'es')}"
        if self.first_day is not None:
            return f"{what} a partir del {_day(self.first_day, 'es')}"
        return f"{what} hasta el {_day(self.last_day, 'es')}"

    def as_dict(self) -> dict[str, str | None]:
        return {
            "part": self.part,
            "first_day": self.first_day.isoformat() if self.first_day else None,
            "last_day": self.last_day.isoformat() if self.last_day else None,
        }

    @classmethod
    def from_dict(cls, raw: dict) -> Wish:
        first, last = raw.get("first_day"), raw.get("last_day")
        return cls(
            part=raw.get("part"),
            first_day=date.fromisoformat(first) if first else None,
            last_day=date.fromisoformat(last) if last else None,
        )


ASAP = Wish()
_PART_ES: dict[str, str] = {
    "morning": "por la mañana",
    "lunchtime": "a mediodía",
    "lunch": "a mediodía",
    "midday": "a mediodía",
    "noon": "a mediodía",
    "afternoon": "por la tarde",
    "evening": "por la noche",
    "after work": "por la noche",
}


def _day(value: date, language: str = "en") -> str:
    if reply_language(language) == "es":
        return day_text(value, "es")
    return f"{WEEKDAYS[value.weekday()].capitalize()} {value.day} {value.strftime('%B')}"


_ASAP_RE = re.compile(
    r"\b(asap|a\.s\.a\.p|as soon as (possible|you can|you have|can be|i can)|earliest|soonest"
    r"|(first|next) (available|free|open|opening|slot|appointment)|whenever|any ?time|any day"
    r"|any slot|anything|whatever)\b"
)
_PART_RE = re.compile(r"\b(" + "|".join(sorted(_PART_NAMES, key=len, reverse=True)) + r")s?\b")
_WEEK_RE = re.compile(r"\b(this|next) week\b")
# A named day, date or other period is for actions.when.parse_preferred, not a loose wish.
_SPECIFIC_RE = re.compile(
    r"\d|\b(today|tonight|tomorrow|weekend|month|year)\b"
    r"|\b(mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)\b"
    r"|\b(monday|tuesday|wednesday|thursday|friday|saturday|sunday)s?\b"
    r"|\b(january|february|march|april|june|july|august|september|october|november|december"
    r"|jan|feb|apr|jun|jul|aug|sep|sept|oct|nov|dec)\b"
)
# "No preference", "I don't mind": any time (read before the negations below).
_INDIFFERENT_RE = re.compile(
    r"\b(no (preference|preferences|particular time)|(don't|do not|dont) (mind|care)"
    r"|(doesn't|does not|doesnt) matter|i'm flexible|i am flexible|flexible|either is fine)\b"
)
# "not next week", "anything but mornings": ask again rather than guess.
_NEGATION_RE = re.compile(
    r"n't\b|\b(not|no|never|except|but|cannot|cant|wont|unless|busy|away|unavailable)\b"
)


def wish_from_text(
    text: str, clinic: Clinic, now: datetime, *, language: str = "en"
) -> Wish | None:
    """A loose wish in a patient's message, or None when there is none (or a day is named).

    Reads "as soon as possible", "earliest", "first available", "whenever", "no preference",
    "any morning", "afternoons", "any morning this week", "any afternoon next week", "any day
    next week": the phrases ``actions.when.parse_preferred`` refuses as vague or dateless.
    "This week" is today to Sunday, "next week" the Monday to Sunday after it, in the clinic's
    time zone.

    In Spanish (``language="es"``): "lo antes posible", "cuanto antes", "la primera cita
    disponible", "cuando sea", "me da igual", "no tengo preferencia", "cualquier día por la
    mañana", "por las tardes", "después del trabajo", "esta semana", "la semana que viene".
    """
    if reply_language(language) == "es":
        return _spanish_wish(text, clinic, now)
    lowered = " ".join(text.lower().replace("\u2019", "'").split())
    lowered = _INDIFFERENT_RE.sub("anytime", lowered)
    if not lowered or _SPECIFIC_RE.search(lowered) or _NEGATION_RE.search(lowered):
        return None
    part_match = _PART_RE.search(lowered)
    week = _WEEK_RE.search(lowered)
    if not (part_match or week or _ASAP_RE.search(lowered)):
        return None
    part = _PART_NAMES[part_match.group(1)] if part_match else None
    if week is None:
        return Wish(part=part)
    today = _aware_utc(now, "now").astimezone(clinic.tz).date()
    sunday = today + timedelta(days=6 - today.weekday())
    if week.group(1) == "this":
        return Wish(part=part, first_day=today, last_day=sunday)
    monday = sunday + timedelta(days=1)
    return Wish(part=part, first_day=monday, last_day=monday + timedelta(days=6))


_ES_ASAP_RE = re.compile(
    r"\b(?:lo\s+antes\s+posible|cuanto\s+antes|(?:lo\s+)?mas\s+(?:pronto|temprano)\s+posible"
    r"|lo\s+mas\s+pronto|en\s+cuanto\s+(?:pueda|puedan|haya)"
    r"|lo\s+primero\s+(?:que|disponible|libre)"
    r"|(?:la\s+|el\s+)?primer[ao]?\s+(?:cita|hueco|turno|hora|fecha|espacio)"
    r"|(?:cita|hueco|turno|hora|fecha)\s+(?:disponible|libre)"
    r"|cuando\s+(?:(?:usted|ustedes|tu)\s+)?(?:sea|quiera|quieras|quieran|pueda|puedas|puedan"
    r"|tenga|tengas|tengan|haya)"
    r"|(?:a\s+)?cualquier\s+(?:dia|hora|momento|fecha|cosa)|lo\s+que\s+sea|cualquiera)\b"
)
# "Me da igual", "no tengo preferencia": any time (read before the negations below).
_ES_INDIFFERENT_RE = re.compile(
    r"\b(?:no\s+tengo\s+(?:ninguna\s+)?preferencias?|sin\s+preferencias?"
    r"|(?:me\s+)?(?:da|es)\s+igual|no\s+me\s+importa|no\s+importa|soy\s+flexible"
    r"|tengo\s+flexibilidad)\b"
)
_ES_WISH_WEEK_RE = re.compile(
    r"\b(?:(?P<this>esta\s+semana)|(?:la\s+)?(?:semana\s+que\s+viene|proxima\s+semana"
    r"|semana\s+proxima|siguiente\s+semana|semana\s+siguiente))\b"
)
_ES_WISH_SPECIFIC_RE = re.compile(
    r"\d|\b(?:hoy|manana|ayer|anteayer|antier|pasado|finde|fin\s+de\s+semana|mes|meses|ano)\b|"
    + _ES_WEEKDAY_RE.pattern
    + rf"|\b(?:{_ES_MONTHS})\b"
)
_ES_NEGATION_RE = re.compile(
    r"\b(?:no|nunca|jamas|excepto|salvo|menos|pero|ni|sin|tampoco|ocupad[oa]s?|fuera)\b"
)


def _spanish_wish(text: str, clinic: Clinic, now: datetime) -> Wish | None:
    normalized = normalize_spanish(text)
    normalized = _ES_INDIFFERENT_RE.sub("cuando sea", normalized)
    part, rest = spanish_day_part(normalized)  # "mañana" left over is tomorrow: a named day
    if not rest and part is None:
        return None
    if _ES_WISH_SPECIFIC_RE.search(rest) or _ES_NEGATION_RE.search(rest):
        return None
    week = _ES_WISH_WEEK_RE.search(rest)
    if not (part or week or _ES_ASAP_RE.search(rest)):
        return None
    if week is None:
        return Wish(part=part)
    today = _aware_utc(now, "now").astimezone(clinic.tz).date()
    sunday = today + timedelta(days=6 - today.weekday())
    if week.group("this"):
        return Wish(part=part, first_day=today, last_day=sunday)
    monday = sunday + timedelta(days=1)
    return Wish(part=part, first_day=monday, last_day=monday + timedelta(days=6))


# --- Choosing slots for a request -------------------------------------------------------------

Request = Preferred | Wish


def _fits(slot: Slot, preferred: Preferred, tz: tzinfo) -> bool:
    local = slot.local(tz)
    if local.date() != preferred.day:
        return False
    if preferred.exact:
        return True  # any time that day; ordered by distance from the time asked
    return preferred.start <= local.time() < preferred.end


def _gap(moment: datetime, window_start: datetime, window_end: datetime) -> timedelta:
    """How far ``moment`` is outside [window_start, window_end] (zero inside)."""
    if moment < window_start:
        return window_start - moment
    if moment > window_end:
        return moment - window_end
    return timedelta(0)


def _local(day: date, clock: time, tz: tzinfo) -> datetime:
    return datetime.combine(day, clock).replace(tzinfo=tz).astimezone(UTC)


def _distance(slot: Slot, request: Request, tz: tzinfo) -> timedelta:
    """How far a slot's start is from what the patient asked for."""
    if isinstance(request, Preferred):
        return _gap(
            slot.start,
            _local(request.day, request.start, tz),
            _local(request.day, request.end, tz),
        )
    day = slot.local(tz).date()
    if request.first_day is not None:
        day = max(day, request.first_day)
    if request.last_day is not None:
        day = min(day, request.last_day)
    start, end = request.window
    return _gap(slot.start, _local(day, start, tz), _local(day, end, tz))


def matching(slots: Sequence[Slot], preferred: Request, tz: tzinfo) -> list[Slot]:
    """The slots that fit the request, earliest first.

    A ``Preferred`` window (or a ``Wish``) takes the slots *starting* inside it on its day(s).
    An exact ``Preferred`` time takes that day's slots, the one starting at that time first and
    then the nearest to it (earlier first on a tie).
    """
    ordered = sorted(slots)
    if isinstance(preferred, Wish):
        return [slot for slot in ordered if preferred.accepts(slot, tz)]
    fitting = [slot for slot in ordered if _fits(slot, preferred, tz)]
    if preferred.exact:
        fitting.sort(key=lambda slot: (_distance(slot, preferred, tz), slot.start))
    return fitting


def nearest_alternatives(
    slots: Sequence[Slot], preferred: Request, tz: tzinfo, count: int
) -> list[Slot]:
    """The ``count`` free slots closest (before or after) to a request they do not fit.

    Chosen by distance from the requested window, returned earliest first.
    """
    fitting = set(matching(slots, preferred, tz))
    others = [slot for slot in slots if slot not in fitting]
    nearest = sorted(others, key=lambda slot: (_distance(slot, preferred, tz), slot.start))
    return sorted(nearest[: max(count, 0)])


def offer(
    slots: Sequence[Slot], preferred: Request, tz: tzinfo, count: int
) -> tuple[list[Slot], bool]:
    """Up to ``count`` slots to offer, and whether they fit the request (False: alternatives)."""
    fitting = matching(slots, preferred, tz)
    if fitting:
        return fitting[: max(count, 0)], True
    return nearest_alternatives(slots, preferred, tz, count), False
