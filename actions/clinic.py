"""The clinic configuration file: facts the assistant states that are not in the article.

``clinic.yml`` holds the clinic's name, practitioner, phone, address, opening hours, time zone
and website. Responses use these values through slots (see ``actions.session``), so a clinic
changes its details in one file and retrains nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import time
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

logger = logging.getLogger(__name__)

WEEKDAYS: tuple[str, ...] = (
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
)


class ClinicConfigError(ValueError):
    """The clinic configuration file is missing a value or has a malformed one."""


@dataclass(frozen=True)
class Clinic:
    """The clinic's facts, validated."""

    name: str
    practitioner: str
    practitioner_title: str
    practitioner_specialities: str
    phone: str
    email: str
    address: str
    website: str
    timezone: str
    country: str
    emergency_number: str
    crisis_line: str
    poison_help: str
    # opening_hours[i] is (open, close) for weekday i (Monday = 0) or None when closed.
    opening_hours: tuple[tuple[time, time] | None, ...] = field(default_factory=tuple)
    colors: dict[str, str] = field(default_factory=dict)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def hours_on(self, weekday: int) -> tuple[time, time] | None:
        """Opening and closing time on a weekday (Monday = 0), or None when closed."""
        return self.opening_hours[weekday]

    def hours_text(self) -> str:
        """Opening hours as one line a patient reads, grouping days with equal hours.

        >>> "Mon-Wed 9:00 am-5:00 pm"  # doctest: +SKIP
        """
        groups: list[tuple[int, int, tuple[time, time] | None]] = []
        for day, hours in enumerate(self.opening_hours):
            if groups and groups[-1][2] == hours:
                start, _, _ = groups[-1]
                groups[-1] = (start, day, hours)
            else:
                groups.append((day, day, hours))
        parts = []
        for start, end, hours in groups:
            if hours is None:
                continue
            days = _day_abbr(start) if start == end else f"{_day_abbr(start)}-{_day_abbr(end)}"
            parts.append(f"{days} {_clock(hours[0])}-{_clock(hours[1])}")
        return ", ".join(parts) if parts else "by appointment only"

    def slot_values(self) -> dict[str, str]:
        """Values for the ``clinic_*`` slots that responses interpolate."""
        return {
            "clinic_name": self.name,
            "clinic_practitioner": self.practitioner,
            "clinic_phone": self.phone,
            "clinic_email": self.email,
            "clinic_address": self.address,
            "clinic_website": self.website,
            "clinic_hours": self.hours_text(),
            "clinic_timezone": self.timezone,
            "clinic_emergency_number": self.emergency_number,
            "clinic_crisis_line": self.crisis_line,
            "clinic_poison_help": self.poison_help,
        }


def _day_abbr(day: int) -> str:
    return WEEKDAYS[day][:3].capitalize()


def _clock(value: time) -> str:
    hour = value.hour % 12 or 12
    suffix = "am" if value.hour < 12 else "pm"
    return f"{hour}:{value.minute:02d} {suffix}"


def _text(raw: dict[str, Any], key: str) -> str:
    value = raw.get(key)
    if value is None or not str(value).strip():
        raise ClinicConfigError(f"clinic configuration: '{key}' is required")
    return str(value).strip()


def _parse_clock(value: Any, where: str) -> time:
    try:
        hour, minute = str(value).split(":")
        return time(int(hour), int(minute))
    except (ValueError, TypeError) as exc:
        raise ClinicConfigError(
            f"clinic configuration: {where} must be 'HH:MM', got {value!r}"
        ) from exc


def _parse_hours(raw: Any) -> tuple[tuple[time, time] | None, ...]:
    if not isinstance(raw, dict):
        raise ClinicConfigError("clinic configuration: 'opening_hours' must map weekdays to hours")
    unknown = set(str(k).lower() for k in raw) - set(WEEKDAYS)
    if unknown:
        raise ClinicConfigError(f"clinic configuration: unknown weekday(s) {sorted(unknown)}")
    hours: list[tuple[time, time] | None] = []
    for day in WEEKDAYS:
        value = raw.get(day)
        if value is None:
            hours.append(None)
            continue
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise ClinicConfigError(
                f"clinic configuration: opening_hours.{day} must be [open, close]"
            )
        opens = _parse_clock(value[0], f"opening_hours.{day}")
        closes = _parse_clock(value[1], f"opening_hours.{day}")
        if closes <= opens:
            raise ClinicConfigError(
                f"clinic configuration: opening_hours.{day} closes before it opens"
            )
        hours.append((opens, closes))
    return tuple(hours)


def parse_clinic(raw: Any) -> Clinic:
    """Validate the parsed YAML of a clinic configuration file."""
    if not isinstance(raw, dict):
        raise ClinicConfigError("clinic configuration: the file must be a mapping")
    practitioner = raw.get("practitioner") or {}
    if not isinstance(practitioner, dict):
        raise ClinicConfigError("clinic configuration: 'practitioner' must be a mapping")
    timezone = _text(raw, "timezone")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ClinicConfigError(f"clinic configuration: unknown time zone {timezone!r}") from exc
    colors = raw.get("colors") or {}
    return Clinic(
        name=_text(raw, "name"),
        practitioner=_text(practitioner, "name"),
        practitioner_title=_text(practitioner, "title"),
        practitioner_specialities=_text(practitioner, "specialities"),
        phone=_text(raw, "phone"),
        email=_text(raw, "email"),
        address=_text(raw, "address"),
        website=_text(raw, "website"),
        timezone=timezone,
        country=_text(raw, "country").upper(),
        emergency_number=_text(raw, "emergency_number"),
        crisis_line=_text(raw, "crisis_line"),
        poison_help=_text(raw, "poison_help"),
        opening_hours=_parse_hours(raw.get("opening_hours")),
        colors={str(k): str(v) for k, v in dict(colors).items()},
    )


def load_clinic_file(path: Path) -> Clinic:
    """Read and validate a clinic configuration file."""
    try:
        with path.open(encoding="utf-8") as handle:
            raw = yaml.safe_load(handle)
    except OSError as exc:
        raise ClinicConfigError(f"clinic configuration: cannot read {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ClinicConfigError(f"clinic configuration: {path} is not valid YAML: {exc}") from exc
    clinic = parse_clinic(raw)
    logger.info("Loaded clinic configuration from %s", path)
    return clinic


@lru_cache(maxsize=4)
def _cached(path: str, mtime_ns: int) -> Clinic:
    return load_clinic_file(Path(path))


def get_clinic(path: Path | None = None) -> Clinic:
    """The clinic configuration, re-read only when the file changes."""
    if path is None:
        from actions.settings import get_settings

        path = get_settings().clinic_config
    try:
        mtime = path.stat().st_mtime_ns
    except OSError as exc:
        raise ClinicConfigError(f"clinic configuration: cannot read {path}: {exc}") from exc
    return _cached(str(path), mtime)
