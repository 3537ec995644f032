"""Free appointment slots: opening hours minus busy times in the clinic's time zone, fixed now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import yaml

from actions.clinic import Clinic, parse_clinic
from actions.slots import (
    ASAP,
    Slot,
    Wish,
    free_slots,
    matching,
    nearest_alternatives,
    offer,
    wish_from_text,
)
from actions.when import Preferred, Problem, parse_preferred
from tests.conftest import PROJECT_ROOT

NEW_YORK = ZoneInfo("America/New_York")
UTC = timezone.utc
# Wednesday 25 November 2026, 10:00 in New York; with 12 hours' notice the first slot is Thursday.
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=NEW_YORK)
TUESDAY = date(2026, 12, 1)


@dataclass(frozen=True)
class Busy:
    """A calendar event as the calendar client returns it: only start and end matter."""

    start: datetime
    end: datetime


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=NEW_YORK)


def busy(day: date, start: tuple[int, int], end: tuple[int, int]) -> Busy:
    return Busy(local(day, *start), local(day, *end))


def make_clinic(hours: dict | None = None, **booking) -> Clinic:
    """The repository's clinic (Mon-Wed 9-17, Thu 9-19, Fri 9-15, New York) with changes."""
    with (PROJECT_ROOT / "clinic.yml").open(encoding="utf-8") as handle:
        raw = yaml.safe_load(handle)
    raw["timezone"] = "America/New_York"
    raw["opening_hours"] = hours or {
        "monday": ["09:00", "17:00"],
        "tuesday": ["09:00", "17:00"],
        "wednesday": ["09:00", "17:00"],
        "thursday": ["09:00", "19:00"],
        "friday": ["09:00", "15:00"],
    }
    raw["booking"] = {
        "visit_minutes": {"new": 60, "returning": 30},
        "slot_step_minutes": 30,
        "min_notice_hours": 12,
        "horizon_days": 60,
        **booking,
    }
    return parse_clinic(raw)


@pytest.fixture(scope="module")
def clinic() -> Clinic:
    return make_clinic()


def starts(slots: list[Slot], day: date | None = None) -> list[str]:
    """Local start times as 'HH:MM' (on one day when given)."""
    return [
        s.local(NEW_YORK).strftime("%H:%M")
        for s in slots
        if day is None or s.local(NEW_YORK).date() == day
    ]


def on(slots: list[Slot], day: date) -> list[Slot]:
    return [s for s in slots if s.local(NEW_YORK).date() == day]


# --- free_slots ------------------------------------------------------------------------------


def test_a_day_is_the_step_grid_from_opening_to_the_last_visit_that_ends_by_closing(clinic):
    slots = free_slots(clinic, [], "returning", NOW, start_day=TUESDAY, days=1)
    assert starts(slots) == [f"{h:02d}:{m:02d}" for h in range(9, 17) for m in (0, 30)]
    assert all(s.end - s.start == timedelta(minutes=30) for s in slots)
    assert all(s.start.tzinfo == UTC for s in slots)


def test_busy_events_remove_exactly_the_slots_they_overlap(clinic):
    free = free_slots(clinic, [], "returning", NOW, start_day=TUESDAY, days=1)
    # 10:15-11:00 touches the 10:00 and 10:30 slots only; 9:30-10:00 and 11:00-11:30 just touch.
    events = [busy(TUESDAY, (10, 15), (11, 0))]
    left = free_slots(clinic, events, "returning", NOW, start_day=TUESDAY, days=1)
    assert sorted(set(starts(free)) - set(starts(left))) == ["10:00", "10:30"]
    # A one-minute event still takes the slot it falls in; an event in UTC counts the same.
    minute = Busy(local(TUESDAY, 15, 59).astimezone(UTC), local(TUESDAY, 16).astimezone(UTC))
    left = free_slots(clinic, [minute], "returning", NOW, start_day=TUESDAY, days=1)
    assert sorted(set(starts(free)) - set(starts(left))) == ["15:30"]
    # A new patient's hour overlaps a 10:15 event from 9:30 to 10:30.
    left = free_slots(clinic, events, "new", NOW, start_day=TUESDAY, days=1)
    assert starts(left)[:4] == ["09:00", "11:00", "11:30", "12:00"]


def test_a_daily_lunch_break_is_never_offered(clinic):
    today = NOW.date()
    lunches = [busy(today + timedelta(days=n), (12, 0), (13, 0)) for n in range(70)]
    for kind in ("new", "returning"):
        slots = free_slots(clinic, lunches, kind, NOW)
        assert slots
        for slot in slots:
            lunch_start = local(slot.local(NEW_YORK).date(), 12)
            assert slot.end <= lunch_start or slot.start >= lunch_start + timedelta(hours=1)
    returning = free_slots(clinic, lunches, "returning", NOW, start_day=TUESDAY, days=1)
    new = free_slots(clinic, lunches, "new", NOW, start_day=TUESDAY, days=1)
    assert "11:30" in starts(returning) and "11:30" not in starts(new)
    assert "13:00" in starts(returning) and "13:00" in starts(new)


def test_a_new_patients_hour_does_not_fit_half_an_hour_before_closing(clinic):
    friday = date(2026, 11, 27)  # closes at 15:00
    returning = free_slots(clinic, [], "returning", NOW, start_day=friday, days=1)
    new = free_slots(clinic, [], "new", NOW, start_day=friday, days=1)
    assert starts(returning)[-1] == "14:30"
    assert starts(new)[-1] == "14:00"
    assert new[-1].end == local(friday, 15)
    assert len(starts(new)) == len(starts(returning)) - 1


def test_visit_length_and_step_follow_the_booking_rules():
    clinic = make_clinic(visit_minutes={"new": 45, "returning": 20}, slot_step_minutes=15)
    slots = free_slots(clinic, [], "new", NOW, start_day=TUESDAY, days=1)
    assert starts(slots)[:3] == ["09:00", "09:15", "09:30"]
    assert starts(slots)[-1] == "16:15"
    assert slots[0].end - slots[0].start == timedelta(minutes=45)


def test_nothing_sooner_than_the_minimum_notice(clinic):
    first = free_slots(clinic, [], "returning", NOW)[0]
    assert first.local(NEW_YORK) == local(date(2026, 11, 26), 9)  # 22:00 Wednesday + closed night
    soon = make_clinic(min_notice_hours=2)
    assert free_slots(soon, [], "returning", NOW)[0].local(NEW_YORK) == local(NOW.date(), 12)
    # Notice counts from the real now, whatever time zone it comes in.
    utc_now = NOW.astimezone(UTC)
    assert free_slots(soon, [], "returning", utc_now)[0].local(NEW_YORK) == local(NOW.date(), 12)


def test_nothing_after_the_horizon(clinic):
    slots = free_slots(clinic, [], "returning", NOW)
    # 60 days after Wednesday 25 November is Sunday 24 January: the last open day is Friday 22.
    assert slots[-1].local(NEW_YORK) == local(date(2027, 1, 22), 14, 30)
    week = make_clinic(horizon_days=7)
    assert free_slots(week, [], "returning", NOW)[-1].local(NEW_YORK).date() == date(2026, 12, 2)
    assert free_slots(week, [], "returning", NOW, start_day=date(2026, 12, 3)) == []


def test_start_day_and_days_narrow_the_search_but_never_reach_the_past(clinic):
    week = free_slots(clinic, [], "returning", NOW, start_day=TUESDAY, days=2)
    assert {s.local(NEW_YORK).date() for s in week} == {TUESDAY, date(2026, 12, 2)}
    past = free_slots(clinic, [], "returning", NOW, start_day=date(2026, 11, 1), days=2)
    assert past == []  # 1-2 November are gone; the search starts today
    overlap = free_slots(clinic, [], "returning", NOW, start_day=date(2026, 11, 24), days=3)
    assert {s.local(NEW_YORK).date() for s in overlap} == {date(2026, 11, 26)}
    assert free_slots(clinic, [], "returning", NOW, days=0) == []


def test_closed_saturday_and_sunday_are_skipped(clinic):
    slots = free_slots(clinic, [], "returning", NOW)
    assert {s.local(NEW_YORK).weekday() for s in slots} == {0, 1, 2, 3, 4}
    assert on(slots, date(2026, 11, 28)) == [] and on(slots, date(2026, 11, 29)) == []


@pytest.mark.parametrize(
    ("now", "friday", "monday", "friday_utc_hour", "monday_utc_hour"),
    [
        # US clocks go forward on Sunday 14 March 2027: EST (UTC-5) before, EDT (UTC-4) after.
        (local(date(2027, 3, 10), 10), date(2027, 3, 12), date(2027, 3, 15), 14, 13),
        # ... and back on Sunday 1 November 2026: EDT before, EST after.
        (local(date(2026, 10, 28), 10), date(2026, 10, 30), date(2026, 11, 2), 13, 14),
    ],
)
def test_nine_oclock_stays_nine_local_across_a_daylight_saving_change(
    clinic, now, friday, monday, friday_utc_hour, monday_utc_hour
):
    slots = free_slots(clinic, [], "returning", now, start_day=friday, days=4)
    before, after = on(slots, friday), on(slots, monday)
    assert starts(before)[0] == "09:00" and starts(after)[0] == "09:00"
    assert before[0].start == datetime.combine(friday, time(friday_utc_hour), tzinfo=UTC)
    assert after[0].start == datetime.combine(monday, time(monday_utc_hour), tzinfo=UTC)
    # The same local grid on both sides; closing time follows local time too.
    assert starts(before) == starts(after)[:12]  # Friday closes at 15:00, Monday at 17:00
    assert starts(after)[-1] == "16:30"
    assert all(s.end - s.start == timedelta(minutes=30) for s in slots)


def test_on_the_change_day_itself_skipped_wall_times_are_never_offered():
    sunday_night = make_clinic(
        hours={"sunday": ["01:00", "04:00"]}, visit_minutes={"returning": 30}, min_notice_hours=0
    )
    now = datetime(2027, 3, 10, 10, tzinfo=NEW_YORK)
    change = date(2027, 3, 14)  # 2:00-2:59 does not exist in New York that night
    slots = free_slots(sunday_night, [], "returning", now, start_day=change, days=1)
    assert starts(slots) == ["01:00", "01:30", "03:00", "03:30"]
    # 1:30 EST plus half an hour is 3:00 EDT: visits last real minutes.
    assert slots[1].end == slots[2].start
    sunday = make_clinic(hours={"sunday": ["09:00", "12:00"]})
    fall = free_slots(
        sunday,
        [],
        "returning",
        datetime(2026, 10, 28, tzinfo=NEW_YORK),
        start_day=date(2026, 11, 1),
        days=1,
    )
    assert fall[0].start == datetime(2026, 11, 1, 14, tzinfo=UTC)  # 9:00 EST


def test_unusable_inputs_are_refused(clinic):
    with pytest.raises(ValueError, match="patient kind"):
        free_slots(clinic, [], "child", NOW)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="aware"):
        free_slots(clinic, [], "new", NOW.replace(tzinfo=None))
    with pytest.raises(ValueError, match="aware"):
        free_slots(clinic, [Busy(datetime(2026, 12, 1, 10), datetime(2026, 12, 1, 11))], "new", NOW)


# --- Slot ------------------------------------------------------------------------------------


def test_a_slot_reads_in_the_clinics_time_zone_and_round_trips():
    slot = Slot(datetime(2026, 12, 8, 19, tzinfo=UTC), datetime(2026, 12, 8, 19, 30, tzinfo=UTC))
    assert slot.describe(NEW_YORK) == "Tuesday 8 December, 2:00 pm"
    assert slot.local(NEW_YORK) == local(date(2026, 12, 8), 14)
    assert Slot.from_dict(slot.as_dict()) == slot
    # Given in local time, kept in UTC.
    assert Slot(local(date(2026, 12, 8), 14), local(date(2026, 12, 8), 14, 30)) == slot
    with pytest.raises(ValueError):
        Slot(datetime(2026, 12, 8, 14), datetime(2026, 12, 8, 15))
    with pytest.raises(ValueError):
        Slot(slot.end, slot.start)


# --- matching what the patient asked for ------------------------------------------------------


def test_next_tuesday_afternoon_matches_that_afternoons_slots(clinic):
    preferred = parse_preferred("next Tuesday afternoon", clinic, NOW).value
    assert preferred == Preferred(TUESDAY, time(12), time(17), exact=False)
    slots = free_slots(clinic, [busy(TUESDAY, (13, 0), (14, 0))], "returning", NOW)
    found = matching(slots, preferred, NEW_YORK)
    assert starts(found) == ["12:00", "12:30", "14:00", "14:30", "15:00", "15:30", "16:00", "16:30"]
    assert {s.local(NEW_YORK).date() for s in found} == {TUESDAY}


def test_an_exact_time_comes_first_then_the_nearest_that_day(clinic):
    preferred = parse_preferred("Thursday at 10am", clinic, NOW).value
    thursday = date(2026, 11, 26)
    assert preferred == Preferred(thursday, time(10), time(10), exact=True)
    slots = free_slots(clinic, [], "returning", NOW)
    found = matching(slots, preferred, NEW_YORK)
    assert starts(found)[:5] == ["10:00", "09:30", "10:30", "09:00", "11:00"]
    assert {s.local(NEW_YORK).date() for s in found} == {thursday}
    # Taken at 10:00: the nearest either side, earlier first on a tie.
    taken = free_slots(clinic, [busy(thursday, (10, 0), (10, 30))], "returning", NOW)
    assert starts(matching(taken, preferred, NEW_YORK))[:2] == ["09:30", "10:30"]


def test_as_soon_as_possible_is_every_slot_earliest_first(clinic):
    slots = free_slots(clinic, [], "returning", NOW)
    wish = wish_from_text("As soon as possible please", clinic, NOW)
    assert wish == ASAP
    assert matching(list(reversed(slots)), wish, NEW_YORK) == slots


def test_any_morning_this_week_is_the_mornings_until_sunday(clinic):
    wish = wish_from_text("any morning this week", clinic, NOW)
    assert wish == Wish("morning", NOW.date(), date(2026, 11, 29))
    found = matching(free_slots(clinic, [], "returning", NOW), wish, NEW_YORK)
    assert {s.local(NEW_YORK).date() for s in found} == {date(2026, 11, 26), date(2026, 11, 27)}
    assert all(s.local(NEW_YORK).time() < time(12) for s in found)
    assert len(found) == 12 and found == sorted(found)


def test_afternoon_and_evening_wishes_use_the_clinics_parts_of_the_day(clinic):
    slots = free_slots(clinic, [], "returning", NOW)
    afternoons = matching(slots, Wish("afternoon"), NEW_YORK)
    assert {s.local(NEW_YORK).strftime("%H:%M") for s in afternoons} >= {"12:00", "16:30"}
    assert all(time(12) <= s.local(NEW_YORK).time() < time(17) for s in afternoons)
    evenings = matching(slots, wish_from_text("evenings", clinic, NOW), NEW_YORK)
    assert evenings and all(s.local(NEW_YORK).weekday() == 3 for s in evenings)  # Thursday late
    assert starts(evenings)[:4] == ["17:00", "17:30", "18:00", "18:30"]


@pytest.mark.parametrize(
    ("text", "wish"),
    [
        ("asap", ASAP),
        ("the earliest you have", ASAP),
        ("first available", ASAP),
        ("whenever", ASAP),
        ("no preference", ASAP),
        ("I don't mind", ASAP),
        ("any morning", Wish("morning")),
        ("afternoons are best", Wish("afternoon")),
        ("after work", Wish("evening")),
        ("any morning this week", Wish("morning", date(2026, 11, 25), date(2026, 11, 29))),
        ("any afternoon next week", Wish("afternoon", date(2026, 11, 30), date(2026, 12, 6))),
        ("any day next week", Wish(None, date(2026, 11, 30), date(2026, 12, 6))),
        ("anytime next week", Wish(None, date(2026, 11, 30), date(2026, 12, 6))),
        ("earliest next week", Wish(None, date(2026, 11, 30), date(2026, 12, 6))),
    ],
)
def test_loose_wishes_are_read(clinic, text, wish):
    assert wish_from_text(text, clinic, NOW) == wish


@pytest.mark.parametrize(
    "text",
    ["asap", "any morning this week", "any day next week", "the earliest you have", "whenever"],
)
def test_the_wishes_are_what_parse_preferred_refuses(clinic, text):
    assert parse_preferred(text, clinic, NOW).problem in {Problem.VAGUE, Problem.NO_DATE}


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hello",
        "next tuesday afternoon",  # a named day: parse_preferred's job
        "tomorrow morning",
        "the 14th",
        "any morning in december",
        "not next week",
        "anything but mornings",
        "any weekend",
    ],
)
def test_named_days_and_negations_are_not_wishes(clinic, text):
    assert wish_from_text(text, clinic, NOW) is None


def test_this_week_is_the_clinics_week(clinic):
    # 03:00 UTC on Monday 30 November is still Sunday 29 November in New York.
    late = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
    assert wish_from_text("this week", clinic, late) == Wish(
        None, date(2026, 11, 29), date(2026, 11, 29)
    )


def test_wishes_describe_themselves_and_round_trip():
    assert ASAP.describe() == "as soon as possible"
    assert Wish("morning").describe() == "any morning"
    week = Wish("afternoon", date(2026, 11, 30), date(2026, 12, 6))
    assert week.describe() == "any afternoon from Monday 30 November to Sunday 6 December"
    assert Wish.from_dict(week.as_dict()) == week and Wish.from_dict(ASAP.as_dict()) == ASAP
    with pytest.raises(ValueError):
        Wish("brunch")


# --- nothing matches: the nearest alternatives ------------------------------------------------


def test_nearest_alternatives_come_from_both_sides_of_the_wish(clinic):
    preferred = parse_preferred("tuesday lunchtime", clinic, NOW).value
    assert preferred == Preferred(TUESDAY, time(11, 30), time(14), exact=False)
    slots = free_slots(clinic, [busy(TUESDAY, (11, 0), (14, 30))], "returning", NOW)
    assert matching(slots, preferred, NEW_YORK) == []
    nearest = nearest_alternatives(slots, preferred, NEW_YORK, 3)
    assert [s.describe(NEW_YORK) for s in nearest] == [
        "Tuesday 1 December, 10:30 am",
        "Tuesday 1 December, 2:30 pm",
        "Tuesday 1 December, 3:00 pm",
    ]


def test_a_fully_booked_day_offers_the_closest_days(clinic):
    thursday = date(2026, 11, 26)
    preferred = Preferred(thursday, time(10), time(10), exact=True)
    slots = free_slots(clinic, [busy(thursday, (9, 0), (19, 0))], "returning", NOW)
    assert matching(slots, preferred, NEW_YORK) == []
    assert [s.describe(NEW_YORK) for s in nearest_alternatives(slots, preferred, NEW_YORK, 2)] == [
        "Friday 27 November, 9:00 am",
        "Friday 27 November, 9:30 am",
    ]


def test_a_loose_wish_without_a_match_offers_the_nearest_times(clinic):
    wish = Wish("morning", NOW.date(), date(2026, 11, 29))
    mornings = [busy(d, (9, 0), (12, 0)) for d in (date(2026, 11, 26), date(2026, 11, 27))]
    slots = free_slots(clinic, mornings, "returning", NOW)
    nearest = nearest_alternatives(slots, wish, NEW_YORK, 3)
    assert [s.describe(NEW_YORK) for s in nearest] == [
        "Thursday 26 November, 12:00 pm",
        "Thursday 26 November, 12:30 pm",
        "Friday 27 November, 12:00 pm",
    ]


def test_offer_gives_matches_or_says_they_are_alternatives(clinic):
    slots = free_slots(clinic, [], "returning", NOW)
    count = clinic.booking.offer_count
    offered, fits = offer(slots, ASAP, NEW_YORK, count)
    assert fits and offered == slots[:3]
    full = free_slots(clinic, [busy(TUESDAY, (9, 0), (17, 0))], "returning", NOW)
    offered, fits = offer(full, Preferred(TUESDAY, time(12), time(17), False), NEW_YORK, count)
    assert not fits and len(offered) == 3
    assert offer([], ASAP, NEW_YORK, count) == ([], False)
