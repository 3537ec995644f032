"""Patients' preferred appointment times: "next Tuesday afternoon", "tomorrow at 3pm", "the 14th".

Dates and clock times are read by parsing libraries (``parsedatetime`` first, ``dateparser`` for
what it misses, such as "the 14th"), relative to *now in the clinic's time zone*. This module adds
only what the libraries do not know: the clinic's parts of the day ("afternoon" is a window, not
13:00) and the clinic's opening hours. The result is checked against the clinic's calendar:
never in the past, only on open days, and inside opening hours.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import Enum

import dateparser
import parsedatetime

from actions.clinic import WEEKDAYS, Clinic

logger = logging.getLogger(__name__)

# Parts of the day a patient names, as clock windows; clipped to the clinic's hours.
DAY_PARTS: dict[str, tuple[time, time]] = {
    "morning": (time(0, 0), time(12, 0)),
    "lunchtime": (time(11, 30), time(14, 0)),
    "lunch": (time(11, 30), time(14, 0)),
    "midday": (time(11, 30), time(14, 0)),
    "noon": (time(11, 30), time(14, 0)),
    "afternoon": (time(12, 0), time(17, 0)),
    "evening": (time(17, 0), time(23, 59)),
    "after work": (time(17, 0), time(23, 59)),
}
_DAY_PART_RE = re.compile(r"\b(" + "|".join(sorted(DAY_PARTS, key=len, reverse=True)) + r")s?\b")
_ANY_TIME_RE = re.compile(r"\b(any ?time|whenever|all day|anytime)\b")
_VAGUE_RE = re.compile(r"\b(week|month|year|weekend|soon|asap)\b")
_SPECIFIC_DAY_RE = re.compile(
    r"\d|\b(mon|tue|wed|thu|fri|sat|sun)[a-z]*\b|\b(today|tonight|tomorrow)\b"
)
_CLOCK_RE = re.compile(r"\d\s*(am|pm|a\.m\.|p\.m\.)|\d:\d\d|\bat \d{1,2}\b|o'?clock", re.I)


class Problem(str, Enum):
    """Why a preferred time cannot be used; each has its own re-ask response."""

    NO_DATE = "no_date"          # nothing recognisable as a day
    PAST = "past"                # the day or time has already gone
    CLOSED_DAY = "closed_day"    # the clinic is closed that day
    OUTSIDE_HOURS = "outside_hours"  # open that day, but not at that time
    TOO_FAR = "too_far"          # more than the booking horizon ahead
    VAGUE = "vague"              # "next week": which day?


@dataclass(frozen=True)
class Preferred:
    """A patient's preferred day and time window, in the clinic's time zone."""

    day: date
    start: time
    end: time
    exact: bool  # True when the patient named a clock time ("3pm"), False for a window

    def describe(self) -> str:
        """'Tuesday 1 December 2026, 12:00 pm-5:00 pm' or '..., at 3:00 pm'."""
        day = f"{self.day.strftime('%A')} {self.day.day} {self.day.strftime('%B %Y')}"
        if self.exact:
            return f"{day}, at {_clock(self.start)}"
        return f"{day}, {_clock(self.start)}-{_clock(self.end)}"

    def as_dict(self) -> dict[str, str | bool]:
        return {
            "day": self.day.isoformat(),
            "start": self.start.strftime("%H:%M"),
            "end": self.end.strftime("%H:%M"),
            "exact": self.exact,
        }

    @classmethod
    def from_dict(cls, raw: dict) -> Preferred:
        return cls(
            day=date.fromisoformat(raw["day"]),
            start=time.fromisoformat(raw["start"]),
            end=time.fromisoformat(raw["end"]),
            exact=bool(raw["exact"]),
        )


@dataclass(frozen=True)
class Parsed:
    """The outcome of reading a preferred time: a usable value or the problem with it."""

    value: Preferred | None = None
    problem: Problem | None = None
    day: date | None = None  # the day the patient meant, when known (for the re-ask)


def _clock(value: time) -> str:
    hour = value.hour % 12 or 12
    return f"{hour}:{value.minute:02d} {'am' if value.hour < 12 else 'pm'}"


def _parse_day(text: str, now: datetime) -> tuple[date | None, time | None]:
    """The day (and an explicit clock time, if any) that the libraries find in ``text``."""
    naive_now = now.replace(tzinfo=None)
    calendar = parsedatetime.Calendar(version=parsedatetime.VERSION_CONTEXT_STYLE)
    found, context = calendar.parseDT(text, sourceTime=naive_now)
    day: date | None = found.date() if context.hasDate else None
    clock: time | None = None
    if context.hasTime and _CLOCK_RE.search(text):
        clock = found.time().replace(second=0, microsecond=0)
    if day is None:
        parsed = dateparser.parse(
            text,
            languages=["en"],
            settings={
                "PREFER_DATES_FROM": "future",
                "RELATIVE_BASE": naive_now,
                "REQUIRE_PARTS": ["day"],
            },
        )
        if parsed is not None:
            day = parsed.date()
            if day < naive_now.date() and not re.search(r"\b(19|20)\d\d\b", text):
                # "the 14th" said on the 25th means next month's 14th.
                day = _next_month_same_day(day, naive_now.date())
            if clock is None and _CLOCK_RE.search(text):
                clock = parsed.time().replace(second=0, microsecond=0)
    if day is None and clock is not None:
        day = naive_now.date()
    return day, clock


def _next_month_same_day(day: date, today: date) -> date:
    year, month = day.year, day.month
    candidate = day
    while candidate < today:
        month += 1
        if month > 12:
            year, month = year + 1, 1
        try:
            candidate = date(year, month, day.day)
        except ValueError:  # the 31st in a 30-day month: try the month after
            continue
    return candidate


def parse_preferred(
    text: str, clinic: Clinic, now: datetime, horizon_days: int = 180
) -> Parsed:
    """Read a preferred day and time from a patient's message, checked against the clinic."""
    lowered = " ".join(text.lower().split())
    part_match = _DAY_PART_RE.search(lowered)
    # The libraries read "afternoon" as 13:00; parse the day without the part-of-day word.
    day_text = _DAY_PART_RE.sub(" ", lowered) if part_match else lowered
    day_text = _ANY_TIME_RE.sub(" ", day_text)
    local_now = now.astimezone(clinic.tz)
    if _VAGUE_RE.search(day_text) and not _SPECIFIC_DAY_RE.search(day_text):
        return Parsed(problem=Problem.VAGUE)
    day, clock = _parse_day(day_text, local_now)
    if day is None:
        return Parsed(problem=Problem.NO_DATE)
    if day < local_now.date():
        return Parsed(problem=Problem.PAST, day=day)
    if day > local_now.date() + timedelta(days=horizon_days):
        return Parsed(problem=Problem.TOO_FAR, day=day)
    hours = clinic.hours_on(day.weekday())
    if hours is None:
        return Parsed(problem=Problem.CLOSED_DAY, day=day)
    opens, closes = hours
    if clock is not None:
        if not opens <= clock < closes:
            return Parsed(problem=Problem.OUTSIDE_HOURS, day=day)
        if day == local_now.date() and clock <= local_now.time():
            return Parsed(problem=Problem.PAST, day=day)
        return Parsed(value=Preferred(day, clock, clock, exact=True))
    start, end = opens, closes
    if part_match:
        part_start, part_end = DAY_PARTS[part_match.group(1)]
        start, end = max(opens, part_start), min(closes, part_end)
        if start >= end:
            return Parsed(problem=Problem.OUTSIDE_HOURS, day=day)
    if day == local_now.date():
        earliest = local_now.time().replace(second=0, microsecond=0)
        if earliest >= end:
            return Parsed(problem=Problem.PAST, day=day)
        start = max(start, earliest)
    return Parsed(value=Preferred(day, start, end, exact=False))


def next_open_days(clinic: Clinic, after: date, count: int = 2) -> list[str]:
    """The next ``count`` open days after ``after``, as 'Monday 30 November, 9:00 am-5:00 pm'."""
    found: list[str] = []
    day = after
    for _ in range(14):
        day += timedelta(days=1)
        hours = clinic.hours_on(day.weekday())
        if hours is not None:
            found.append(
                f"{WEEKDAYS[day.weekday()].capitalize()} {day.day} {day.strftime('%B')}, "
                f"{_clock(hours[0])}-{_clock(hours[1])}"
            )
            if len(found) == count:
                break
    return found
