"""Patients' preferred appointment times: "next Tuesday afternoon", "tomorrow at 3pm", "the 14th".

Dates and clock times are read by parsing libraries (``parsedatetime`` first, ``dateparser`` for
what it misses, such as "the 14th"), relative to *now in the clinic's time zone*. This module adds
only what the libraries do not know: the clinic's parts of the day ("afternoon" is a window, not
13:00) and the clinic's opening hours. The result is checked against the clinic's calendar:
never in the past, only on open days, and inside opening hours.

Spanish (``language="es"``): parsedatetime knows no Spanish and dateparser 1.2.0, measured
against a fixed clock (tests/unit/test_when_es.py), reads only bare forms: "14 de diciembre",
"diciembre 14", "14/12", "3 de marzo de 2028", "en 2 días", "hoy", "mañana", bare weekday names.
It returns nothing for "el martes", "el 14", "el próximo martes", "el martes que viene",
"pasado mañana" and any day part ("por la tarde"), and misreads clock times ("a las 3" as the
3rd of the month, "mañana a las 3" as tomorrow at the current time). So the Spanish reader here
takes out what dateparser misreads: clock times ("a las 3 de la tarde", "a la una y media",
"15:30", "3 p. m."), parts of the day (with "mañana" alone = tomorrow, "por/en la mañana" =
morning), weekdays with "el", "este", "próximo", "que viene", "de la semana que viene",
"pasado", relative days ("hoy", "mañana", "pasado mañana", "ayer") and bare day numbers
("el 14"); dateparser reads the calendar dates. Accents are optional. A clock time said
without a.m./p.m. ("a las 3") is the one of the two that falls in the clinic's hours that day
(or in the part of the day the patient named). The checks are the same as in English.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import Enum

import dateparser
import parsedatetime

from actions.clinic import (
    MONTHS_ES,
    WEEKDAYS,
    WEEKDAYS_ES,
    Clinic,
    clock_text,
    reply_language,
)

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

    def describe(self, *, language: str = "en") -> str:
        """'Tuesday 1 December 2026, 12:00 pm-5:00 pm' or '..., at 3:00 pm'; in Spanish
        'martes 1 de diciembre de 2026, de 12:00 p. m. a 5:00 p. m.' or '..., a las 3:00 p. m.'
        ('a la 1:00 p. m.')."""
        if reply_language(language) == "es":
            day = day_text(self.day, "es", year=True)
            if self.exact:
                article = "a la" if self.start.hour % 12 == 1 else "a las"
                return f"{day}, {article} {_clock(self.start, 'es')}"
            return f"{day}, de {_clock(self.start, 'es')} a {_clock(self.end, 'es')}"
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


def _clock(value: time, language: str = "en") -> str:
    if reply_language(language) == "es":
        return clock_text(value, "es")
    hour = value.hour % 12 or 12
    return f"{hour}:{value.minute:02d} {'am' if value.hour < 12 else 'pm'}"


def day_text(day: date, language: str = "en", year: bool = False) -> str:
    """'Tuesday 8 December' or, in Spanish, 'martes 8 de diciembre' (with the year: 'Tuesday 8
    December 2026', 'martes 8 de diciembre de 2026')."""
    if reply_language(language) == "es":
        text = f"{WEEKDAYS_ES[day.weekday()]} {day.day} de {MONTHS_ES[day.month - 1]}"
        return f"{text} de {day.year}" if year else text
    text = f"{WEEKDAYS[day.weekday()].capitalize()} {day.day} {day.strftime('%B')}"
    return f"{text} {day.year}" if year else text


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
    text: str, clinic: Clinic, now: datetime, horizon_days: int = 180, *, language: str = "en"
) -> Parsed:
    """Read a preferred day and time from a patient's message, checked against the clinic.

    ``language``: the language of the message, "en" (default) or "es" (any "es-*" code)."""
    local_now = now.astimezone(clinic.tz)
    if reply_language(language) == "es":
        reading = _read_spanish(text, clinic, local_now)
    else:
        reading = _read_english(text, local_now)
    if isinstance(reading, Parsed):
        return reading
    day, clock, part = reading
    return _checked(day, clock, part, clinic, local_now, horizon_days)


def _read_english(
    text: str, local_now: datetime
) -> Parsed | tuple[date | None, time | None, str | None]:
    lowered = " ".join(text.lower().split())
    part_match = _DAY_PART_RE.search(lowered)
    # The libraries read "afternoon" as 13:00; parse the day without the part-of-day word.
    day_text_ = _DAY_PART_RE.sub(" ", lowered) if part_match else lowered
    day_text_ = _ANY_TIME_RE.sub(" ", day_text_)
    if _VAGUE_RE.search(day_text_) and not _SPECIFIC_DAY_RE.search(day_text_):
        return Parsed(problem=Problem.VAGUE)
    day, clock = _parse_day(day_text_, local_now)
    return day, clock, part_match.group(1) if part_match else None


def _checked(
    day: date | None,
    clock: time | None,
    part: str | None,
    clinic: Clinic,
    local_now: datetime,
    horizon_days: int,
) -> Parsed:
    """The day, clock time and part of the day read from a message, against the clinic."""
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
    if part:
        part_start, part_end = DAY_PARTS[part]
        start, end = max(opens, part_start), min(closes, part_end)
        if start >= end:
            return Parsed(problem=Problem.OUTSIDE_HOURS, day=day)
    if day == local_now.date():
        earliest = local_now.time().replace(second=0, microsecond=0)
        if earliest >= end:
            return Parsed(problem=Problem.PAST, day=day)
        start = max(start, earliest)
    return Parsed(value=Preferred(day, start, end, exact=False))


# --- Spanish ----------------------------------------------------------------------------------
# Every pattern below works on ``normalize_spanish`` text: lower case, no accents ("mañana" is
# "manana", "miércoles" "miercoles"), "p. m." as "pm", punctuation as spaces.


def fold(text: str) -> str:
    """Lower case without accents and with single spaces: 'Miércoles MAÑANA' -> 'miercoles
    manana'."""
    decomposed = unicodedata.normalize("NFD", str(text or "").lower())
    plain = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
    return " ".join(unicodedata.normalize("NFC", plain).split())


_ES_NUMBER_WORDS: dict[str, int] = {
    "una": 1, "uno": 1, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5, "seis": 6, "siete": 7,
    "ocho": 8, "nueve": 9, "diez": 10, "once": 11, "doce": 12,
}
_ES_MERIDIEM_RE = re.compile(
    r"(\d|\b(?:" + "|".join(_ES_NUMBER_WORDS) + r"))\s*([ap])\s?\.?\s?m\b\.?"
)
_ES_PUNCTUATION_RE = re.compile(r"[¿?¡!,;\"()«»\u201c\u201d]|(?<!\d)\.|\.(?!\d)")
_ES_GREETING_RE = re.compile(r"\b(?:buen(?:os|as)?\s+(?:dias|tardes|noches)|hola)\b")
# "esta tarde" is this afternoon: today, afternoon (also "esta mañana", "esta noche").
_ES_THIS_PART_RE = re.compile(r"\besta\s+(manana|tarde|noche)\b")


def normalize_spanish(text: str) -> str:
    """A Spanish message as the patterns here read it (see the note above)."""
    folded = fold(text).replace("\u2019", "'")
    folded = _ES_MERIDIEM_RE.sub(lambda m: f"{m.group(1)} {m.group(2)}m", folded)
    folded = _ES_PUNCTUATION_RE.sub(" ", folded)
    folded = _ES_GREETING_RE.sub(" ", folded)
    folded = _ES_THIS_PART_RE.sub(r"hoy por la \1", folded)
    return " ".join(folded.split())


@dataclass(frozen=True)
class SpokenClock:
    """A clock time as said: "a las 3" (``certain`` False: 3:00 or 15:00), "a las 3 de la
    tarde", "15:00", "3 p. m." (``certain``)."""

    hour: int
    minute: int
    certain: bool

    def candidates(self) -> list[time]:
        """The times it can mean, the likelier first."""
        if self.certain or self.hour in (0, 12) or self.hour > 12:
            return [time(self.hour, self.minute)]
        return [time(self.hour, self.minute), time(self.hour + 12, self.minute)]

    def resolve(self, *windows: tuple[time, time] | None) -> time:
        """The candidate inside the first window that has one (start inclusive, end
        exclusive), else the first candidate."""
        options = self.candidates()
        for window in windows:
            if window is None:
                continue
            inside = [c for c in options if window[0] <= c < window[1]]
            if inside:
                return inside[0]
        return options[0]


_ES_HOUR = r"(?:\b(?P<digits>\d{1,2})(?![\d/])|\b(?P<word>" + "|".join(_ES_NUMBER_WORDS) + r")\b)"
_ES_CLOCK_RE = re.compile(
    r"(?P<pre>\b(?:(?:a|sobre|hacia|tipo|como a|eso de|desde|para|de)\s+)?(?:las|la)\s+)?"
    + _ES_HOUR
    + r"(?:\s*(?::|h)\s*(?P<minute>\d{2})(?!\d))?"
    r"(?P<unit>\s*(?:hs|hrs|horas|h)\b)?"
    r"(?:\s+(?P<fraction>y media|y cuarto|menos cuarto|en punto)\b)?"
    r"(?:\s*\b(?P<meridiem>am|pm)\b"
    r"|\s+(?:de\s+la|del)\s+(?P<part>manana|tarde|noche|madrugada|mediodia)\b)?"
)


def spanish_clock(text: str) -> tuple[SpokenClock | None, str]:
    """The first clock time in normalized Spanish text, and the text without it.

    A number is a clock time only with a sign of one: "a las"/"las"/"la una" before it, or
    minutes ("10:30", "15h30"), "h"/"horas", "y media"/"y cuarto"/"menos cuarto", "am"/"pm",
    "de la mañana/tarde/noche" after it; "el 14" and "14 de diciembre" are days.
    """
    for match in _ES_CLOCK_RE.finditer(text):
        word = match.group("word")
        hour = int(match.group("digits")) if match.group("digits") else _ES_NUMBER_WORDS.get(
            word or "", -1)
        pre = match.group("pre")
        if pre and re.search(r"\bla\s*$", pre) and hour != 1:
            pre = None  # "a la una" is a time; "la 2" is not
        if word and not pre:
            continue  # "dos semanas", "una cita"
        minute_text, unit = match.group("minute"), match.group("unit")
        fraction, meridiem, part = (
            match.group("fraction"), match.group("meridiem"), match.group("part"))
        if not (pre or minute_text or unit or fraction or meridiem or part):
            continue
        minute = int(minute_text) if minute_text else 0
        if fraction == "y media" and not minute_text:
            minute = 30
        elif fraction == "y cuarto" and not minute_text:
            minute = 15
        elif fraction == "menos cuarto" and not minute_text:
            hour, minute = (hour - 1 if hour > 1 else 12), 45
        if not (0 <= hour <= 23 and 0 <= minute <= 59):
            continue
        certain = bool(unit) or hour == 0 or hour > 12 or (
            bool(match.group("digits")) and match.group("digits").startswith("0"))
        if meridiem or part:
            if not 1 <= hour <= 12:
                continue
            if part == "mediodia" or (part == "noche" and hour != 12):
                hour = hour % 12 + 12  # "las 12 del mediodía" 12:00, "la 1 del mediodía" 13:00
            elif part == "noche" or meridiem == "am" or part in ("manana", "madrugada"):
                hour = hour % 12  # "las 12 de la noche" is midnight
            else:  # "pm", "de la tarde"
                hour = hour % 12 + 12
            certain = True
        rest = f"{text[:match.start()]} {text[match.end():]}"
        return SpokenClock(hour, minute, certain), " ".join(rest.split())
    return None, text


_ES_PREP = r"\b(?:por|en|de|a|durante|para|toda|todas)\s+(?:la|las)\s+"
_ES_PART_RE = re.compile(
    rf"(?P<morning>{_ES_PREP}mananas?\b|\bcualquier\s+manana\b|\bmananas\b"
    r"|\ba\s+primera\s+hora\b|(?<!mas )\btemprano\b)"
    r"|(?P<lunchtime>\b(?:(?:a|al|en el|hacia el|sobre el|para el|por el)\s+)?mediodia\b"
    r"|\b(?:(?:a|en)\s+la\s+)?hora\s+(?:de\s+comer|del\s+almuerzo|de\s+la\s+comida)\b)"
    rf"|(?P<afternoon>{_ES_PREP}tardes?\b|(?<!mas )(?<!muy )\btardes?\b)"
    rf"|(?P<evening>{_ES_PREP}noches?\b|\bnoches?\b"
    r"|\b(?:despues|a\s+la\s+salida|al\s+salir)\s+del?\s+trabaj(?:o|ar)\b)"
)


def spanish_day_part(text: str) -> tuple[str | None, str]:
    """The first part of the day ("morning", "lunchtime", "afternoon", "evening") named in
    normalized Spanish text, and the text without any part-of-day words.

    "mañana" alone is tomorrow, not a part of the day: only "por/en/de/a la mañana", "las
    mañanas", "cualquier mañana", "a primera hora" and "temprano" are the morning."""
    match = _ES_PART_RE.search(text)
    if match is None:
        return None, text
    return match.lastgroup, " ".join(_ES_PART_RE.sub(" ", text).split())


_ES_WEEKDAYS_FOLDED: tuple[str, ...] = tuple(fold(name) for name in WEEKDAYS_ES)
_ES_MONTHS = "|".join(
    [fold(name) for name in MONTHS_ES]
    + ["setiembre", "ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sep", "sept",
       "set", "oct", "nov", "dic"]
)
_ES_WEEKDAY_RE = re.compile(r"\b(" + "|".join(_ES_WEEKDAYS_FOLDED) + r")\b")
_ES_NEXT_WEEK_RE = re.compile(
    r"\b(?:semana\s+que\s+viene|proxima\s+semana|semana\s+proxima|siguiente\s+semana"
    r"|semana\s+siguiente)\b"
)
_ES_THIS_WEEK_RE = re.compile(r"\besta\s+semana\b")
_ES_ANY_TIME_RE = re.compile(
    r"\b(?:a\s+)?cualquier\s+(?:hora|momento)\b|\bcuando\s+sea\b|\btodo\s+el\s+dia\b"
)
_ES_VAGUE_RE = re.compile(
    r"\b(?:semanas?|mes|meses|ano|anos|finde|fin\s+de\s+semana|pronto|cuanto\s+antes"
    r"|antes\s+posible|mas\s+pronto\s+posible)\b"
)
_ES_RELATIVE_DAYS: dict[str, int] = {
    "pasado manana": 2, "anteayer": -2, "antier": -2, "antes de ayer": -2, "hoy": 0,
    "manana": 1, "ayer": -1,
}
_ES_RELATIVE_RE = re.compile(
    r"\b(" + "|".join(sorted(_ES_RELATIVE_DAYS, key=len, reverse=True)).replace(" ", r"\s+")
    + r")\b"
)
_ES_SPECIFIC_DAY_RE = re.compile(
    r"\d(?!\d*\s+(?:semanas?|mes|meses|anos?)\b)|"  # "en 2 semanas" names no day
    + _ES_WEEKDAY_RE.pattern
    + "|"
    + _ES_RELATIVE_RE.pattern
)
# Calendar dates, read by dateparser: "14 de diciembre", "14 dic", "diciembre 14",
# "3 de marzo de 2028", "14/12", "14/12/2026", "en 2 días", "dentro de 3 días".
_ES_DATE_RE = re.compile(
    rf"\b\d{{1,2}}\s+(?:de\s+)?(?:{_ES_MONTHS})\b(?:\s+(?:de|del)\s+\d{{4}}\b|\s+\d{{4}}\b)?"
    rf"|\b(?:{_ES_MONTHS})\s+\d{{1,2}}\b(?:\s+(?:de|del)?\s*\d{{4}}\b)?"
    r"|\b\d{1,2}/\d{1,2}(?:/\d{2,4})?\b"
    r"|\b(?:en|dentro\s+de)\s+\d{1,2}\s+dias?\b"
)
# A day of the month on its own: "el 14", "el día 14", "para el 3", "14".
_ES_DAY_NUMBER_RE = re.compile(
    r"(?:^|\b(?:el|dia|" + "|".join(_ES_WEEKDAYS_FOLDED) + r")\s+)(\d{1,2})$"
    r"|\b(?:el|dia)\s+(\d{1,2})\b"
)


def _read_spanish(
    text: str, clinic: Clinic, local_now: datetime
) -> Parsed | tuple[date | None, time | None, str | None]:
    normalized = normalize_spanish(text)
    spoken, rest = spanish_clock(normalized)
    part, rest = spanish_day_part(rest)
    rest = " ".join(_ES_ANY_TIME_RE.sub(" ", rest).split())
    if _ES_VAGUE_RE.search(rest) and not _ES_SPECIFIC_DAY_RE.search(rest):
        return Parsed(problem=Problem.VAGUE)
    today = local_now.date()
    day = _spanish_day(rest, local_now)
    if day is None and spoken is not None:
        day = today
    clock: time | None = None
    if spoken is not None:
        hours = clinic.hours_on(day.weekday()) if day is not None else None
        clock = spoken.resolve(DAY_PARTS[part] if part else None, hours)
    return day, clock, part


def _spanish_day(text: str, local_now: datetime) -> date | None:
    """The day named in normalized Spanish text without its clock time and day part."""
    today = local_now.date()
    found = _ES_DATE_RE.search(text)
    if found:
        parsed = dateparser.parse(
            found.group(0),
            languages=["es"],
            settings={
                "PREFER_DATES_FROM": "future",
                "RELATIVE_BASE": local_now.replace(tzinfo=None),
                "REQUIRE_PARTS": ["day"],
                "DATE_ORDER": "DMY",
            },
        )
        if parsed is not None:
            return parsed.date()
    number = _ES_DAY_NUMBER_RE.search(text)
    if number:
        value = int(number.group(1) or number.group(2))
        if 1 <= value <= 31:
            return _next_day_of_month(value, today)
    relative = _ES_RELATIVE_RE.search(text)
    if relative:
        return today + timedelta(days=_ES_RELATIVE_DAYS[" ".join(relative.group(1).split())])
    weekday = _ES_WEEKDAY_RE.search(text)
    if weekday:
        return _spanish_weekday(text, weekday, today)
    return None


def _next_day_of_month(value: int, today: date) -> date:
    """The next ``value``-th of a month from today on (this month's when still to come)."""
    year, month = today.year, today.month
    for _ in range(13):
        try:
            candidate = date(year, month, value)
        except ValueError:  # the 31st in a 30-day month: try the month after
            candidate = None
        if candidate is not None and candidate >= today:
            return candidate
        month += 1
        if month > 12:
            year, month = year + 1, 1
    raise ValueError(f"no day {value} in a month")  # pragma: no cover (value is 1..31)


def _spanish_weekday(text: str, match: re.Match[str], today: date) -> date:
    """"el martes", "el próximo martes", "el martes que viene": the coming Tuesday (a week
    today when today is Tuesday, as in English); "este martes", "el martes de esta semana":
    this week's (maybe gone); "el martes de la semana que viene": next week's; "el martes
    pasado": the last one."""
    weekday = _ES_WEEKDAYS_FOLDED.index(match.group(1))
    before, after = text[: match.start()], text[match.end():]
    if re.match(r"\s+pasado\b", after) or re.search(r"\bpasado\s+(?:el\s+)?$", before):
        return today - timedelta(days=(today.weekday() - weekday) % 7 or 7)
    monday = today - timedelta(days=today.weekday())
    if _ES_NEXT_WEEK_RE.search(text):
        return monday + timedelta(days=7 + weekday)
    if re.search(r"\beste\s+$", before) or _ES_THIS_WEEK_RE.search(text):
        return monday + timedelta(days=weekday)
    return today + timedelta(days=(weekday - today.weekday()) % 7 or 7)


def next_open_days(
    clinic: Clinic, after: date, count: int = 2, *, language: str = "en"
) -> list[str]:
    """The next ``count`` open days after ``after``, as 'Monday 30 November, 9:00 am-5:00 pm'
    ('lunes 30 de noviembre, de 9:00 a. m. a 5:00 p. m.' in Spanish)."""
    spanish = reply_language(language) == "es"
    found: list[str] = []
    day = after
    for _ in range(14):
        day += timedelta(days=1)
        hours = clinic.hours_on(day.weekday())
        if hours is not None:
            if spanish:
                found.append(
                    f"{day_text(day, 'es')}, de {_clock(hours[0], 'es')} a "
                    f"{_clock(hours[1], 'es')}"
                )
            else:
                found.append(
                    f"{WEEKDAYS[day.weekday()].capitalize()} {day.day} {day.strftime('%B')}, "
                    f"{_clock(hours[0])}-{_clock(hours[1])}"
                )
            if len(found) == count:
                break
    return found
