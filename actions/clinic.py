"""The clinic configuration file: facts the assistant states that are not in the article.

``clinic.yml`` holds the clinic's name, practitioner, phone, address, opening hours, time zone
and website. Responses use these values through slots (see ``actions.session``), so a clinic
changes its details in one file and retrains nothing. Its ``booking:`` section holds the rules
for booking appointments in the clinic's calendar (``BookingRules``; see ``actions.slots``).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import time, timedelta
from enum import Enum
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

# Spanish day and month names for the Spanish replies (a table, not the process locale:
# setlocale is process-wide and not thread-safe). Lower case, as Spanish writes them.
WEEKDAYS_ES: tuple[str, ...] = (
    "lunes",
    "martes",
    "miércoles",
    "jueves",
    "viernes",
    "sábado",
    "domingo",
)
MONTHS_ES: tuple[str, ...] = (
    "enero",
    "febrero",
    "marzo",
    "abril",
    "mayo",
    "junio",
    "julio",
    "agosto",
    "septiembre",
    "octubre",
    "noviembre",
    "diciembre",
)
_WEEKDAY_ABBR_ES: tuple[str, ...] = ("lun", "mar", "mié", "jue", "vie", "sáb", "dom")


SPOKEN = ("en", "es")  # the languages the assistant answers in (the ``language`` slot)


def reply_language(language: str | None) -> str:
    """The language texts are written in: "es" for any Spanish code ("es", "es-US", "es_MX"),
    otherwise "en"."""
    base = str(language or "").strip().lower().replace("_", "-").split("-")[0]
    return "es" if base == "es" else "en"


def clock_text(value: time, language: str = "en") -> str:
    """'3:00 pm' in English; '3:00 p. m.' in Spanish (the 12-hour form of US Spanish)."""
    if reply_language(language) == "en":
        return _clock(value)
    hour = value.hour % 12 or 12
    return f"{hour}:{value.minute:02d} {'a. m.' if value.hour < 12 else 'p. m.'}"


# The kinds of patient a visit length is set for (booking.visit_minutes).
PATIENT_KINDS: tuple[str, ...] = ("new", "returning")


class ClinicConfigError(ValueError):
    """The clinic configuration file is missing a value or has a malformed one."""


class EventDetails(str, Enum):
    """How much personal data an appointment's calendar event carries (booking.event_details).

    Every event has the summary "Appointment PMR-XXXXXX" (the booking reference) and the
    patient kind; REASON adds the reason for the visit; NAME_AND_REASON adds the patient's name.
    """

    REFERENCE_ONLY = "reference_only"
    REASON = "reason"
    NAME_AND_REASON = "name_and_reason"


@dataclass(frozen=True)
class BookingRules:
    """The ``booking:`` section of clinic.yml; the defaults apply when it (or a key) is left out."""

    new_visit_minutes: int = 60  # visit length for a new patient
    returning_visit_minutes: int = 30  # visit length for a returning patient
    slot_step_minutes: int = 30  # slots start on this grid, counted from each day's opening
    min_notice_hours: float = 12  # no slot starts sooner than this after "now"
    horizon_days: int = 60  # no slot on a day more than this many days after today
    hold_minutes: int = 15  # how long a chosen slot is held for an unfinished conversation
    auto_confirm: bool = True  # False: appointments stay TENTATIVE until staff approve
    event_details: EventDetails = EventDetails.REFERENCE_ONLY
    offer_count: int = 3  # slots offered to the patient at once

    def visit_minutes(self, patient_kind: str) -> int:
        """The visit length for a patient kind ("new" or "returning")."""
        if patient_kind == "new":
            return self.new_visit_minutes
        if patient_kind == "returning":
            return self.returning_visit_minutes
        raise ValueError(f"patient kind must be one of {PATIENT_KINDS}, got {patient_kind!r}")

    def visit_length(self, patient_kind: str) -> timedelta:
        return timedelta(minutes=self.visit_minutes(patient_kind))

    @property
    def slot_step(self) -> timedelta:
        return timedelta(minutes=self.slot_step_minutes)

    @property
    def min_notice(self) -> timedelta:
        return timedelta(hours=self.min_notice_hours)

    @property
    def hold(self) -> timedelta:
        return timedelta(minutes=self.hold_minutes)


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
    booking: BookingRules = field(default_factory=BookingRules)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def hours_on(self, weekday: int) -> tuple[time, time] | None:
        """Opening and closing time on a weekday (Monday = 0), or None when closed."""
        return self.opening_hours[weekday]

    def hours_text(self, language: str = "en") -> str:
        """Opening hours as one line a patient reads, grouping days with equal hours.

        >>> "Mon-Wed 9:00 am-5:00 pm"  # doctest: +SKIP
        >>> "lun-mié de 9:00 a. m. a 5:00 p. m."  # doctest: +SKIP  (language="es")
        """
        spanish = reply_language(language) == "es"
        abbr = (lambda day: _WEEKDAY_ABBR_ES[day]) if spanish else _day_abbr
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
            days = abbr(start) if start == end else f"{abbr(start)}-{abbr(end)}"
            if spanish:
                parts.append(
                    f"{days} de {clock_text(hours[0], 'es')} a {clock_text(hours[1], 'es')}"
                )
            else:
                parts.append(f"{days} {_clock(hours[0])}-{_clock(hours[1])}")
        if not parts:
            return "solo con cita previa" if spanish else "by appointment only"
        return ", ".join(parts)

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
            # the Spanish responses' {clinic_hours_es}: "lun-vie de 9:00 a. m. a 6:00 p. m."
            "clinic_hours_es": self.hours_text("es"),
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


_MINUTES_PER_DAY = 24 * 60
_MAX_HORIZON_DAYS = 3660  # ten years: beyond that a date is a typo
_BOOKING_KEYS = (
    "visit_minutes",
    "slot_step_minutes",
    "min_notice_hours",
    "horizon_days",
    "hold_minutes",
    "auto_confirm",
    "event_details",
    "offer_count",
)


def _whole_number(
    raw: dict[str, Any], key: str, where: str, default: int, low: int, high: int | None = None
) -> int:
    value = raw.get(key)
    if value is None:
        value = default
    # bool is an int in Python; "true" is not a number of minutes.
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < low
        or (high is not None and value > high)
    ):
        limits = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise ClinicConfigError(
            f"clinic configuration: {where} must be a whole number {limits}, got {value!r}"
        )
    return value


def _parse_booking(raw: Any) -> BookingRules:
    if raw is None:
        return BookingRules()
    if not isinstance(raw, dict):
        raise ClinicConfigError("clinic configuration: 'booking' must be a mapping")
    unknown = set(str(k) for k in raw) - set(_BOOKING_KEYS)
    if unknown:
        raise ClinicConfigError(f"clinic configuration: unknown booking key(s) {sorted(unknown)}")
    raw = {str(k): v for k, v in raw.items() if v is not None}  # null reads as left out
    defaults = BookingRules()
    visits = raw.get("visit_minutes", {})
    if not isinstance(visits, dict):
        raise ClinicConfigError(
            "clinic configuration: booking.visit_minutes must map patient kinds "
            f"{list(PATIENT_KINDS)} to minutes"
        )
    unknown = set(str(k) for k in visits) - set(PATIENT_KINDS)
    if unknown:
        raise ClinicConfigError(
            f"clinic configuration: unknown patient kind(s) {sorted(unknown)} in "
            f"booking.visit_minutes (expected {list(PATIENT_KINDS)})"
        )
    new = _whole_number(
        visits, "new", "booking.visit_minutes.new", defaults.new_visit_minutes, 1, _MINUTES_PER_DAY
    )
    returning = _whole_number(
        visits,
        "returning",
        "booking.visit_minutes.returning",
        defaults.returning_visit_minutes,
        1,
        _MINUTES_PER_DAY,
    )
    notice = raw.get("min_notice_hours", defaults.min_notice_hours)
    if (
        isinstance(notice, bool)
        or not isinstance(notice, (int, float))
        or not (math.isfinite(notice) and 0 <= notice <= _MAX_HORIZON_DAYS * 24)
    ):
        raise ClinicConfigError(
            "clinic configuration: booking.min_notice_hours must be a number of hours from 0 "
            f"to {_MAX_HORIZON_DAYS * 24}, got {notice!r}"
        )
    auto_confirm = raw.get("auto_confirm", defaults.auto_confirm)
    if not isinstance(auto_confirm, bool):
        raise ClinicConfigError(
            "clinic configuration: booking.auto_confirm must be true or false, "
            f"got {auto_confirm!r}"
        )
    details = raw.get("event_details", defaults.event_details.value)
    try:
        event_details = EventDetails(str(details).strip().lower())
    except ValueError as exc:
        raise ClinicConfigError(
            "clinic configuration: booking.event_details must be one of "
            f"{[d.value for d in EventDetails]}, got {details!r}"
        ) from exc
    return BookingRules(
        new_visit_minutes=new,
        returning_visit_minutes=returning,
        slot_step_minutes=_whole_number(
            raw,
            "slot_step_minutes",
            "booking.slot_step_minutes",
            defaults.slot_step_minutes,
            1,
            _MINUTES_PER_DAY,
        ),
        min_notice_hours=notice,
        horizon_days=_whole_number(
            raw, "horizon_days", "booking.horizon_days", defaults.horizon_days, 1, _MAX_HORIZON_DAYS
        ),
        hold_minutes=_whole_number(
            raw, "hold_minutes", "booking.hold_minutes", defaults.hold_minutes, 1
        ),
        auto_confirm=auto_confirm,
        event_details=event_details,
        offer_count=_whole_number(
            raw, "offer_count", "booking.offer_count", defaults.offer_count, 1
        ),
    )


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
        booking=_parse_booking(raw.get("booking")),
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
