"""The clinic configuration file: the facts the assistant quotes come from it, validated."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from actions.clinic import ClinicConfigError, get_clinic, load_clinic_file, parse_clinic
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
