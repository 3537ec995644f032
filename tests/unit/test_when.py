"""Patients' preferred times, read against a fixed clock in the clinic's time zone."""

from __future__ import annotations

from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo

import pytest

from actions.clinic import get_clinic
from actions.when import Preferred, Problem, next_open_days, parse_preferred

NEW_YORK = ZoneInfo("America/New_York")
# Wednesday 25 November 2026, 10:00 in New York (the clinic's example time zone).
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=NEW_YORK)


@pytest.fixture(scope="module")
def clinic():
    return get_clinic()


@pytest.mark.parametrize(
    ("text", "day", "start", "end", "exact"),
    [
        ("next Tuesday afternoon", date(2026, 12, 1), time(12), time(17), False),
        ("tomorrow at 3pm", date(2026, 11, 26), time(15), time(15), True),
        ("the 14th", date(2026, 12, 14), time(9), time(17), False),
        ("monday morning", date(2026, 11, 30), time(9), time(12), False),
        ("dec 3 at 10:30", date(2026, 12, 3), time(10, 30), time(10, 30), True),
        ("thursday evening", date(2026, 11, 26), time(17), time(19), False),
        ("14 December afternoon", date(2026, 12, 14), time(12), time(17), False),
        ("today", date(2026, 11, 25), time(10), time(17), False),
    ],
)
def test_patients_phrases_become_a_day_and_window(clinic, text, day, start, end, exact):
    parsed = parse_preferred(text, clinic, NOW)
    assert parsed.value == Preferred(day, start, end, exact)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("yesterday", Problem.PAST),
        ("today at 9am", Problem.PAST),  # already 10:00
        ("saturday", Problem.CLOSED_DAY),
        ("sunday afternoon", Problem.CLOSED_DAY),
        ("friday at 4pm", Problem.OUTSIDE_HOURS),  # Friday closes at 3 pm
        ("tuesday at 7am", Problem.OUTSIDE_HOURS),
        ("friday evening", Problem.OUTSIDE_HOURS),
        ("whenever", Problem.NO_DATE),
        ("", Problem.NO_DATE),
        ("next week", Problem.VAGUE),
        ("sometime soon", Problem.VAGUE),
        ("march 3rd 2028", Problem.TOO_FAR),
    ],
)
def test_unusable_times_are_refused_with_the_reason(clinic, text, problem):
    assert parse_preferred(text, clinic, NOW).problem == problem


def test_closed_day_reports_the_day_meant(clinic):
    parsed = parse_preferred("saturday", clinic, NOW)
    assert parsed.day == date(2026, 11, 28)
    assert next_open_days(clinic, parsed.day) == [
        "Monday 30 November, 9:00 am-5:00 pm",
        "Tuesday 1 December, 9:00 am-5:00 pm",
    ]


def test_the_clinics_time_zone_decides_what_today_is(clinic):
    # 03:00 UTC on Thursday is still Wednesday evening in New York.
    late = datetime(2026, 11, 26, 3, 0, tzinfo=timezone.utc)
    assert parse_preferred("tomorrow morning", clinic, late).value.day == date(2026, 11, 26)


def test_describe_reads_naturally():
    assert Preferred(date(2026, 12, 1), time(12), time(17), False).describe() == (
        "Tuesday 1 December 2026, 12:00 pm-5:00 pm"
    )
    assert Preferred(date(2026, 11, 26), time(15), time(15), True).describe() == (
        "Thursday 26 November 2026, at 3:00 pm"
    )


def test_round_trips_through_a_slot():
    value = Preferred(date(2026, 12, 1), time(12), time(17), False)
    assert Preferred.from_dict(value.as_dict()) == value
