"""The clinic configuration file: the facts the assistant quotes come from it, validated."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from actions.clinic import (
    BookingRules,
    ClinicConfigError,
    EventDetails,
    get_clinic,
    load_clinic_file,
    parse_clinic,
)
from tests.conftest import PROJECT_ROOT


def clinic_dict() -> dict:
    with (PROJECT_ROOT / "clinic.yml").open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def test_repository_clinic_file_holds_the_articles_facts() -> None:
    clinic = load_clinic_file(PROJECT_ROOT / "clinic.yml")
    assert clinic.name == "Physical Medicine & Rehabilitation"
    assert clinic.practitioner == "Dr. Kuzminov"
    assert clinic.practitioner_title == "licensed acupuncturist"
    assert clinic.tz.key == clinic.timezone


def test_opening_hours_read_as_one_line_grouping_equal_days() -> None:
    raw = clinic_dict()
    raw["opening_hours"] = {
        "monday": ["09:00", "17:00"],
        "tuesday": ["09:00", "17:00"],
        "wednesday": ["09:00", "17:00"],
        "thursday": ["09:00", "19:30"],
        "friday": ["08:00", "12:00"],
        "saturday": None,
    }
    clinic = parse_clinic(raw)
    assert clinic.hours_text() == (
        "Mon-Wed 9:00 am-5:00 pm, Thu 9:00 am-7:30 pm, Fri 8:00 am-12:00 pm"
    )
    assert clinic.hours_on(5) is None and clinic.hours_on(6) is None


def test_no_open_day_reads_by_appointment_only() -> None:
    raw = clinic_dict()
    raw["opening_hours"] = {}
    assert parse_clinic(raw).hours_text() == "by appointment only"


def test_slot_values_cover_every_clinic_slot_in_the_domain(domain: dict) -> None:
    clinic_slots = {name for name in domain["slots"] if name.startswith("clinic_")}
    values = get_clinic(PROJECT_ROOT / "clinic.yml").slot_values()
    assert set(values) == clinic_slots
    assert all(isinstance(v, str) and v for v in values.values())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("phone"), "'phone' is required"),
        (lambda d: d.update(timezone="Mars/Olympus"), "unknown time zone"),
        (lambda d: d["opening_hours"].update(monday=["17:00", "09:00"]), "closes before it opens"),
        (lambda d: d["opening_hours"].update(monday=["nine", "17:00"]), "must be 'HH:MM'"),
        (lambda d: d["opening_hours"].update(funday=["09:00", "10:00"]), "unknown weekday"),
        (lambda d: d.update(practitioner="Dr. X"), "'practitioner' must be a mapping"),
    ],
)
def test_malformed_configuration_is_refused_with_a_clear_message(change, message) -> None:
    raw = clinic_dict()
    change(raw)
    with pytest.raises(ClinicConfigError, match=message):
        parse_clinic(raw)


def test_repository_clinic_file_holds_the_booking_rules() -> None:
    booking = load_clinic_file(PROJECT_ROOT / "clinic.yml").booking
    assert booking == BookingRules(
        new_visit_minutes=60,
        returning_visit_minutes=30,
        slot_step_minutes=30,
        min_notice_hours=12,
        horizon_days=60,
        hold_minutes=15,
        auto_confirm=True,
        event_details=EventDetails.REFERENCE_ONLY,
        offer_count=3,
    )
    assert booking.visit_length("new") == timedelta(hours=1)
    assert booking.visit_length("returning") == timedelta(minutes=30)
    assert booking.min_notice == timedelta(hours=12)
    assert booking.slot_step == timedelta(minutes=30)
    assert booking.hold == timedelta(minutes=15)
    with pytest.raises(ValueError, match="patient kind"):
        booking.visit_minutes("child")


def test_a_file_without_a_booking_section_still_loads_with_the_defaults() -> None:
    raw = clinic_dict()
    raw.pop("booking")
    assert parse_clinic(raw).booking == BookingRules()
    raw["booking"] = None
    assert parse_clinic(raw).booking == BookingRules()


def test_booking_keys_left_out_take_their_defaults() -> None:
    raw = clinic_dict()
    raw["booking"] = {
        "visit_minutes": {"new": 90},
        "min_notice_hours": 1.5,
        "auto_confirm": False,
        "event_details": "Name_And_Reason",
        "offer_count": None,  # null reads as left out
    }
    booking = parse_clinic(raw).booking
    assert booking.new_visit_minutes == 90 and booking.returning_visit_minutes == 30
    assert booking.min_notice == timedelta(minutes=90)
    assert booking.auto_confirm is False
    assert booking.event_details is EventDetails.NAME_AND_REASON
    assert booking.offer_count == 3 and booking.horizon_days == 60


def _set_booking(key: str, value):
    return lambda d: d["booking"].update({key: value})


def _set_visit(kind: str, value):
    return lambda d: d["booking"]["visit_minutes"].update({kind: value})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(booking=["60"]), "'booking' must be a mapping"),
        (_set_booking("buffer_minutes", 5), r"unknown booking key\(s\) \['buffer_minutes'\]"),
        (_set_booking("visit_minutes", 60), "booking.visit_minutes must map patient kinds"),
        (_set_visit("child", 20), r"unknown patient kind\(s\) \['child'\]"),
        (_set_visit("new", 0), "booking.visit_minutes.new must be a whole number from 1"),
        (_set_visit("returning", "half an hour"), "booking.visit_minutes.returning must be"),
        (_set_visit("new", 2000), "booking.visit_minutes.new must be a whole number from 1 to"),
        (_set_booking("slot_step_minutes", -15), "booking.slot_step_minutes must be"),
        (_set_booking("slot_step_minutes", 7.5), "booking.slot_step_minutes must be"),
        (_set_booking("min_notice_hours", "twelve"), "booking.min_notice_hours must be"),
        (_set_booking("min_notice_hours", -1), "booking.min_notice_hours must be"),
        (_set_booking("min_notice_hours", float("inf")), "booking.min_notice_hours must be"),
        (_set_booking("horizon_days", 0), "booking.horizon_days must be"),
        (_set_booking("horizon_days", True), "booking.horizon_days must be"),
        (_set_booking("hold_minutes", 0), "booking.hold_minutes must be"),
        (_set_booking("auto_confirm", "yes please"), "booking.auto_confirm must be true or false"),
        (_set_booking("event_details", "everything"), "booking.event_details must be one of"),
        (_set_booking("offer_count", 0), "booking.offer_count must be"),
    ],
)
def test_malformed_booking_rules_are_refused_naming_the_key(change, message) -> None:
    raw = clinic_dict()
    change(raw)
    with pytest.raises(ClinicConfigError, match=message):
        parse_clinic(raw)


def test_unreadable_or_invalid_yaml_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ClinicConfigError, match="cannot read"):
        load_clinic_file(tmp_path / "missing.yml")
    bad = tmp_path / "bad.yml"
    bad.write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(ClinicConfigError, match="not valid YAML"):
        load_clinic_file(bad)


def test_edited_file_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "clinic.yml"
    raw = clinic_dict()
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    assert get_clinic(path).phone == raw["phone"]
    raw["phone"] = "+1 555-010-0199"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert get_clinic(path).phone == "+1 555-010-0199"
