"""Everything the staff console needs at run time, built once when the web server starts."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy.engine import Engine

from actions.appointments import calendar_client
from actions.calendar import CalendarClient
from actions.clinic import Clinic, get_clinic
from actions.contact import format_phone
from actions.settings import get_settings
from actions.slots import Slot
from staff.auth import Auth
from staff.conversations import FLAGS, LANGUAGES, ConversationStore, slot_text
from staff.db import KINDS, STATUSES, staff_engine, tracker_engine
from staff.privacy import Privacy
from staff.training import load_intents
from web.settings import WebSettings

logger = logging.getLogger(__name__)

STAFF_DIR = Path(__file__).resolve().parent
# Why a live chat was opened (actions.live_store.REASONS), as the live page says it.
LIVE_REASONS = {"asked": "The patient asked for a person", "staff": "Taken over by staff",
                "emergency": "Emergency"}


@dataclass
class StaffContext:
    settings: WebSettings
    engine: Engine  # DATABASE_URL: requests and the staff tables
    auth: Auth
    conversations: ConversationStore
    privacy: Privacy
    tz: ZoneInfo
    region: str  # the clinic's country, for phone numbers
    intents: tuple[str, ...]
    templates: Environment
    clinic: Clinic | None = None  # booking rules (event details) for calendar decisions
    calendar: CalendarClient | None = None  # None: CALENDAR_URL is not set (request mode)
    # live chats: Rasa's HTTP API (``actions.rasa_api.append_events``; None: not reachable),
    # and how often the live page's event stream looks for changes (seconds)
    rasa: Any = None
    live_poll_seconds: float = 1.0


def conversation_url(sender_id: str, suffix: str = "") -> str:
    """The console URL of a conversation (its id percent-encoded, slashes included)."""
    return f"/staff/conversations/{quote(sender_id, safe='')}{suffix}"


def live_url(sender_id: str, action: str) -> str:
    """The console URL of a live-chat form (accept, reply, release, close)."""
    return f"/staff/live/{quote(sender_id, safe='')}/{action}"


def appointment_text(row: dict[str, Any], tz: ZoneInfo) -> str:
    """'Tuesday 8 December, 3:00 pm (in the calendar)' for a request booked in the calendar
    (clinic time zone); '' when it has no appointment time (request mode)."""
    start, end = row.get("appointment_start"), row.get("appointment_end")
    if not start:
        return ""
    when = Slot(start=start, end=end or start).describe(tz)
    where = "in the calendar" if row.get("calendar_uid") else "declined, not in the calendar"
    return f"{when} ({where})"


def make_templates(tz: ZoneInfo, region: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(STAFF_DIR / "templates")),
        autoescape=True,  # everything from conversations is untrusted
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )

    def local(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        return value.astimezone(tz).strftime(fmt) if value else ""

    def phone(value: str | None) -> str:
        """A stored E.164 number as people read it in the clinic's country."""
        if not value:
            return ""
        try:
            return format_phone(value, region)
        except Exception:  # not a parseable number: show it as stored
            return value

    def appointment(row: dict[str, Any]) -> str:
        return appointment_text(row, tz)

    def appointment_input(row: dict[str, Any]) -> str:
        """The appointment's start as an HTML datetime-local value (clinic time zone)."""
        start = row.get("appointment_start")
        return start.astimezone(tz).strftime("%Y-%m-%dT%H:%M") if start else ""

    def percent(value: float | None) -> str:
        return f"{value * 100:.0f}%" if value is not None else ""

    def query(values: dict[str, Any], **override: Any) -> str:
        merged = {**values, **override}
        return urlencode({k: v for k, v in merged.items() if v not in (None, "")})

    env.filters.update(local=local, percent=percent, slot=slot_text, phone=phone,
                       appointment=appointment, appointment_input=appointment_input)
    env.globals.update(
        FLAGS=FLAGS, LANGUAGES=LANGUAGES, STATUSES=STATUSES, KINDS=KINDS, tz_name=tz.key,
        conversation_url=conversation_url, query=query, live_url=live_url,
        LIVE_REASONS=LIVE_REASONS,
    )
    return env


def build_context(settings: WebSettings) -> StaffContext:
    """Open the databases, create the staff tables, and the first admin if there is no user."""
    action_settings = get_settings()
    calendar = None
    if action_settings.calendar_url:
        calendar = calendar_client()
    clinic = get_clinic(action_settings.clinic_config)
    engine = staff_engine(action_settings.database_url)
    tracker = tracker_engine(settings.tracker_database_url)
    auth = Auth(engine, settings.secret_key, settings.session_hours)
    if auth.bootstrap_admin(settings.staff_admin_user, settings.staff_admin_password):
        logger.info("Created the first staff admin account from STAFF_ADMIN_USER")
    auth.prune()
    from staff.live import default_append_events  # noqa: PLC0415 - staff.live imports this

    return StaffContext(
        settings=settings,
        engine=engine,
        auth=auth,
        conversations=ConversationStore(tracker),
        privacy=Privacy(engine, tracker),
        tz=clinic.tz,
        region=clinic.country,
        intents=load_intents(),
        templates=make_templates(clinic.tz, clinic.country),
        clinic=clinic,
        calendar=calendar,
        rasa=default_append_events(),
    )
