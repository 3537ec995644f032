"""Patients' preferred times in Spanish, read against a fixed clock in the clinic's time zone.

The first test records what dateparser 1.2.0 (the pinned version) does with Spanish on its own,
measured against the same clock: what it reads is left to it (calendar dates), what it misses or
misreads is what ``actions.when`` reads itself. If an upgrade changes these, look again.
"""

from __future__ import annotations

from datetime import date, datetime, time, timezone

import dateparser
import pytest

from actions.when import (
    Preferred,
    Problem,
    SpokenClock,
    next_open_days,
    normalize_spanish,
    parse_preferred,
    spanish_clock,
    spanish_day_part,
)
from tests.unit.test_slots import NEW_YORK, make_clinic

# Wednesday 25 November 2026, 10:00 in New York (as in test_when.py).
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=NEW_YORK)
NAIVE_NOW = NOW.replace(tzinfo=None)
THURSDAY, FRIDAY, MONDAY, TUESDAY = (
    date(2026, 11, 26), date(2026, 11, 27), date(2026, 11, 30), date(2026, 12, 1))


@pytest.fixture(scope="module")
def clinic():
    """Mon-Wed 9-17, Thu 9-19, Fri 9-15, closed at the weekend, New York."""
    return make_clinic()


# --- what dateparser 1.2.0 does with Spanish by itself ------------------------------------------


def _dateparser(text: str, **settings) -> datetime | None:
    return dateparser.parse(
        text,
        languages=["es"],
        settings={"PREFER_DATES_FROM": "future", "RELATIVE_BASE": NAIVE_NOW, **settings},
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Read correctly: calendar dates and the bare relative words.
        ("14 de diciembre", datetime(2026, 12, 14)),
        ("diciembre 14", datetime(2026, 12, 14)),
        ("14 de dic", datetime(2026, 12, 14)),
        ("3 de marzo de 2028", datetime(2028, 3, 3)),
        ("14/12", datetime(2026, 12, 14)),
        ("en 2 días", datetime(2026, 11, 27, 10)),
        ("hoy", datetime(2026, 11, 25, 10)),
        ("mañana", datetime(2026, 11, 26, 10)),
        ("manana", datetime(2026, 11, 26, 10)),
        ("ayer", datetime(2026, 11, 24, 10)),
        ("martes", datetime(2026, 12, 1)),  # only without REQUIRE_PARTS, see below
        ("miércoles", datetime(2026, 12, 2)),  # said on a Wednesday: next week's
        # Nothing at all: an article, "próximo", "que viene", "pasado mañana", parts of the day.
        ("el martes", None),
        ("el 14", None),
        ("el 14 de diciembre", None),
        ("el próximo martes", None),
        ("el martes que viene por la tarde", None),
        ("pasado mañana", None),
        ("mañana por la mañana", None),
        ("hoy en la tarde", None),
        ("a las 3 de la tarde", None),
        ("la semana que viene", None),
        ("lo antes posible", None),
        ("cualquier día por la mañana", None),
        # Misread: "a las N" as the Nth of the month, the clock time dropped.
        ("a las 3", datetime(2026, 11, 3)),
        ("jueves a las 10", datetime(2026, 11, 10)),
        ("mañana a las 3", datetime(2026, 11, 26, 10)),  # tomorrow, but at 10:00 (now)
        ("14", datetime(2026, 11, 14)),  # this month's 14th, already gone
        ("esta semana", datetime(2026, 11, 25, 10)),  # today: "this week" is not a day
    ],
)
def test_what_dateparser_reads_in_spanish_by_itself(text, expected):
    assert _dateparser(text) == expected


def test_dateparser_needs_no_day_part_for_a_weekday_but_then_reads_bare_numbers_as_days():
    assert _dateparser("martes", REQUIRE_PARTS=["day"]) is None
    assert _dateparser("31", REQUIRE_PARTS=["day"]) is None  # no 31 November


# --- the phrases, read ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "day", "start", "end", "exact"),
    [
        ("el martes que viene por la tarde", TUESDAY, time(12), time(17), False),
        ("el próximo martes", TUESDAY, time(9), time(17), False),
        ("el martes próximo", TUESDAY, time(9), time(17), False),
        ("mañana a las 3", THURSDAY, time(15), time(15), True),  # 3:00 is closed: 15:00
        ("mañana por la mañana", THURSDAY, time(9), time(12), False),
        ("mañana en la mañana", THURSDAY, time(9), time(12), False),
        ("mañana", THURSDAY, time(9), time(19), False),  # alone: tomorrow, the whole day
        ("pasado mañana", FRIDAY, time(9), time(15), False),
        ("el 14", date(2026, 12, 14), time(9), time(17), False),  # the 14th to come
        ("el día 14 por la tarde", date(2026, 12, 14), time(12), time(17), False),
        ("el 14 de diciembre", date(2026, 12, 14), time(9), time(17), False),
        ("el lunes 14 de diciembre", date(2026, 12, 14), time(9), time(17), False),
        ("el 14/12", date(2026, 12, 14), time(9), time(17), False),
        ("el 31", date(2026, 12, 31), time(9), time(19), False),  # no 31 November
        ("el jueves a las 10", THURSDAY, time(10), time(10), True),
        ("a las 3 de la tarde", NOW.date(), time(15), time(15), True),  # no day: today
        ("el lunes", MONDAY, time(9), time(17), False),
        ("hoy en la tarde", NOW.date(), time(12), time(17), False),
        ("hoy por la tarde", NOW.date(), time(12), time(17), False),
        ("esta tarde", NOW.date(), time(12), time(17), False),
        ("hoy", NOW.date(), time(10), time(17), False),  # from now on, as "today"
        ("el jueves por la noche", THURSDAY, time(17), time(19), False),
        ("el martes a mediodía", TUESDAY, time(11, 30), time(14), False),
        ("el 3 de diciembre a las 10:30", date(2026, 12, 3), time(10, 30), time(10, 30), True),
        ("el miércoles", date(2026, 12, 2), time(9), time(17), False),  # a week today
        ("este miércoles", NOW.date(), time(10), time(17), False),
        ("el lunes de la semana que viene", MONDAY, time(9), time(17), False),
        ("el miércoles de la semana que viene", date(2026, 12, 2), time(9), time(17), False),
        ("mañana a la una y media", THURSDAY, time(13, 30), time(13, 30), True),
        ("el jueves a las 3 y cuarto", THURSDAY, time(15, 15), time(15, 15), True),
        ("el jueves a las 5 menos cuarto", THURSDAY, time(16, 45), time(16, 45), True),
        ("el jueves a las 6 de la tarde", THURSDAY, time(18), time(18), True),
        ("el jueves a las 18:00", THURSDAY, time(18), time(18), True),
        ("el jueves a las 18 h", THURSDAY, time(18), time(18), True),
        ("el viernes a las 2 p. m.", FRIDAY, time(14), time(14), True),
        ("el viernes a las 2pm", FRIDAY, time(14), time(14), True),
        ("mañana a las 10 de la mañana", THURSDAY, time(10), time(10), True),
        ("mañana por la tarde a las 4", THURSDAY, time(16), time(16), True),
        ("el lunes a las 9", MONDAY, time(9), time(9), True),
        ("mañana a las 12", THURSDAY, time(12), time(12), True),
        ("dentro de 2 días", FRIDAY, time(9), time(15), False),
        # Greetings are not parts of the day; questions and capitals read the same.
        ("Buenas tardes, el lunes por la mañana", MONDAY, time(9), time(12), False),
        ("¿Puede ser el martes que viene por la tarde?", TUESDAY, time(12), time(17), False),
        ("EL PRÓXIMO MARTES", TUESDAY, time(9), time(17), False),
    ],
)
def test_spanish_phrases_become_a_day_and_window(clinic, text, day, start, end, exact):
    parsed = parse_preferred(text, clinic, NOW, language="es")
    assert parsed.value == Preferred(day, start, end, exact), parsed


@pytest.mark.parametrize(
    ("accented", "plain"),
    [
        ("el próximo martes", "el proximo martes"),
        ("mañana a las 3", "manana a las 3"),
        ("mañana por la mañana", "manana por la manana"),
        ("pasado mañana", "pasado manana"),
        ("el miércoles", "el miercoles"),
        ("el martes a mediodía", "el martes a mediodia"),
        ("el sábado", "el sabado"),
        ("el día 14", "el dia 14"),
        ("dentro de 2 días", "dentro de 2 dias"),
    ],
)
def test_accents_are_optional(clinic, accented, plain):
    with_accents = parse_preferred(accented, clinic, NOW, language="es")
    assert with_accents == parse_preferred(plain, clinic, NOW, language="es")
    assert with_accents.value is not None or with_accents.problem == Problem.CLOSED_DAY


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("ayer", Problem.PAST),
        ("hoy a las 9", Problem.PAST),  # already 10:00
        ("el lunes pasado", Problem.PAST),
        ("este lunes", Problem.PAST),  # this week's Monday was the 23rd
        ("el sábado", Problem.CLOSED_DAY),
        ("el domingo por la tarde", Problem.CLOSED_DAY),
        ("el viernes a las 4 de la tarde", Problem.OUTSIDE_HOURS),  # Friday closes at 3 pm
        ("el viernes a las 4", Problem.OUTSIDE_HOURS),  # neither 4:00 nor 16:00 is open
        ("el martes a las 7 de la mañana", Problem.OUTSIDE_HOURS),
        ("el viernes por la noche", Problem.OUTSIDE_HOURS),
        ("el jueves a las 19:30", Problem.OUTSIDE_HOURS),  # Thursday closes at 7 pm
        ("cuando sea", Problem.NO_DATE),
        ("cualquier día por la mañana", Problem.NO_DATE),  # a wish: actions.slots
        ("", Problem.NO_DATE),
        ("hola", Problem.NO_DATE),
        ("la semana que viene", Problem.VAGUE),
        ("la próxima semana", Problem.VAGUE),
        ("esta semana", Problem.VAGUE),
        ("lo antes posible", Problem.VAGUE),
        ("cuanto antes", Problem.VAGUE),
        ("pronto", Problem.VAGUE),
        ("el mes que viene", Problem.VAGUE),
        ("en 2 semanas", Problem.VAGUE),
        ("dentro de dos semanas", Problem.VAGUE),
        ("el 3 de marzo de 2028", Problem.TOO_FAR),
    ],
)
def test_unusable_spanish_times_are_refused_with_the_reason(clinic, text, problem):
    assert parse_preferred(text, clinic, NOW, language="es").problem == problem


def test_closed_day_reports_the_day_meant_and_the_next_open_days_in_spanish(clinic):
    parsed = parse_preferred("el sábado por la mañana", clinic, NOW, language="es")
    assert parsed.problem == Problem.CLOSED_DAY and parsed.day == date(2026, 11, 28)
    assert next_open_days(clinic, parsed.day, language="es") == [
        "lunes 30 de noviembre, de 9:00 a. m. a 5:00 p. m.",
        "martes 1 de diciembre, de 9:00 a. m. a 5:00 p. m.",
    ]
    assert next_open_days(clinic, parsed.day) == [  # English unchanged
        "Monday 30 November, 9:00 am-5:00 pm",
        "Tuesday 1 December, 9:00 am-5:00 pm",
    ]


def test_outside_hours_reports_the_day_meant(clinic):
    parsed = parse_preferred("el viernes a las 4 de la tarde", clinic, NOW, language="es")
    assert parsed.day == FRIDAY


def test_the_clinics_time_zone_decides_what_today_and_tomorrow_are(clinic):
    # 03:00 UTC on Thursday is still Wednesday evening in New York.
    late = datetime(2026, 11, 26, 3, 0, tzinfo=timezone.utc)
    parsed = parse_preferred("mañana por la mañana", clinic, late, language="es")
    assert parsed.value == Preferred(THURSDAY, time(9), time(12), False)
    assert parse_preferred("hoy", clinic, late, language="es").problem == Problem.PAST


@pytest.mark.parametrize(
    ("now", "text", "day"),
    [
        # US clocks go forward on Sunday 14 March 2027 and back on Sunday 1 November 2026.
        (datetime(2027, 3, 10, 10, tzinfo=NEW_YORK), "el lunes a las 9", date(2027, 3, 15)),
        (datetime(2027, 3, 12, 10, tzinfo=NEW_YORK), "el lunes a las 9", date(2027, 3, 15)),
        (datetime(2026, 10, 28, 10, tzinfo=NEW_YORK), "el lunes a las 9", date(2026, 11, 2)),
        (datetime(2026, 10, 30, 10, tzinfo=NEW_YORK), "el lunes a las 9", date(2026, 11, 2)),
    ],
)
def test_a_daylight_saving_change_moves_neither_the_day_nor_the_wall_time(clinic, now, text, day):
    parsed = parse_preferred(text, clinic, now, language="es")
    assert parsed.value == Preferred(day, time(9), time(9), exact=True)
    # "now" given in UTC reads the same.
    assert parse_preferred(text, clinic, now.astimezone(timezone.utc), language="es") == parsed


def test_english_stays_the_default_and_spanish_codes_are_read_as_spanish(clinic):
    english = parse_preferred("next Tuesday afternoon", clinic, NOW)
    assert english == parse_preferred("next Tuesday afternoon", clinic, NOW, language="en")
    assert english.value == Preferred(TUESDAY, time(12), time(17), False)
    for code in ("es", "es-US", "es_MX", "ES"):
        assert parse_preferred("el martes que viene por la tarde", clinic, NOW,
                               language=code) == english
    # Spanish is not read unless asked for.
    assert parse_preferred("el martes que viene", clinic, NOW).problem == Problem.NO_DATE


# --- the Spanish readers' pieces ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "clock"),
    [
        ("a las 3", SpokenClock(3, 0, certain=False)),
        ("las 2:30", SpokenClock(2, 30, certain=False)),
        ("a la una", SpokenClock(1, 0, certain=False)),
        ("a las tres y media", SpokenClock(3, 30, certain=False)),
        ("a las 3 de la tarde", SpokenClock(15, 0, certain=True)),
        ("a las 9 de la mañana", SpokenClock(9, 0, certain=True)),
        ("a las 12 del mediodía", SpokenClock(12, 0, certain=True)),
        ("a la 1 del mediodía", SpokenClock(13, 0, certain=True)),
        ("a las 9 de la noche", SpokenClock(21, 0, certain=True)),
        ("a las 12 de la noche", SpokenClock(0, 0, certain=True)),
        ("3 p. m.", SpokenClock(15, 0, certain=True)),
        ("10 a.m.", SpokenClock(10, 0, certain=True)),
        ("15:30", SpokenClock(15, 30, certain=True)),
        ("09:00", SpokenClock(9, 0, certain=True)),
        ("15h30", SpokenClock(15, 30, certain=True)),
        ("el 14", None),
        ("el 14 de diciembre", None),
        ("la 2", None),
        ("dos semanas", None),
        ("una cita", None),
    ],
)
def test_a_number_is_a_clock_time_only_with_a_sign_of_one(text, clock):
    assert spanish_clock(normalize_spanish(text))[0] == clock


def test_an_unmarked_hour_is_the_one_the_clinic_is_open_at():
    three = SpokenClock(3, 0, certain=False)
    assert three.candidates() == [time(3), time(15)]
    assert three.resolve((time(9), time(17))) == time(15)
    assert SpokenClock(10, 0, False).resolve((time(9), time(17))) == time(10)
    # The part of the day named comes first: "por la noche a las 6".
    assert SpokenClock(6, 0, False).resolve((time(17), time(23, 59)), (time(9), time(19))) \
        == time(18)
    assert SpokenClock(7, 0, False).resolve((time(9), time(17))) == time(7)  # closed either way


@pytest.mark.parametrize(
    ("text", "part", "rest"),
    [
        ("mañana", None, "manana"),  # tomorrow
        ("mañana por la mañana", "morning", "manana"),
        ("mañana en la mañana", "morning", "manana"),
        ("por las mañanas", "morning", ""),
        ("hoy en la tarde", "afternoon", "hoy"),
        ("esta noche", "evening", "hoy"),
        ("el martes a mediodía", "lunchtime", "el martes"),
        ("después del trabajo", "evening", ""),
        ("buenas tardes", None, ""),
        ("lo más tarde posible", None, "lo mas tarde posible"),
    ],
)
def test_manana_alone_is_tomorrow_and_with_la_the_morning(text, part, rest):
    assert spanish_day_part(normalize_spanish(text)) == (part, rest)


# --- describing in Spanish ----------------------------------------------------------------------


def test_describe_reads_naturally_in_spanish():
    window = Preferred(TUESDAY, time(12), time(17), False)
    assert window.describe(language="es") == (
        "martes 1 de diciembre de 2026, de 12:00 p. m. a 5:00 p. m."
    )
    assert Preferred(THURSDAY, time(15), time(15), True).describe(language="es") == (
        "jueves 26 de noviembre de 2026, a las 3:00 p. m."
    )
    assert Preferred(THURSDAY, time(13), time(13), True).describe(language="es") == (
        "jueves 26 de noviembre de 2026, a la 1:00 p. m."
    )
    assert Preferred(date(2026, 11, 28), time(9, 30), time(12), False).describe(language="es") == (
        "sábado 28 de noviembre de 2026, de 9:30 a. m. a 12:00 p. m."
    )
    assert Preferred(date(2027, 3, 17), time(9), time(9), True).describe(language="es") == (
        "miércoles 17 de marzo de 2027, a las 9:00 a. m."
    )
    # English unchanged.
    assert window.describe() == "Tuesday 1 December 2026, 12:00 pm-5:00 pm"


def test_the_opening_hours_in_spanish(clinic):
    assert clinic.hours_text(language="es") == (
        "lun-mié de 9:00 a. m. a 5:00 p. m., jue de 9:00 a. m. a 7:00 p. m., "
        "vie de 9:00 a. m. a 3:00 p. m."
    )
    assert clinic.hours_text() == (
        "Mon-Wed 9:00 am-5:00 pm, Thu 9:00 am-7:00 pm, Fri 9:00 am-3:00 pm"
    )
