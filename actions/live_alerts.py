"""Alert e-mails to the clinic when no one is signed in to the staff console (docs/live-chat.md).

While live chat is on and it is live-chat time (``LIVE_CHAT_HOURS``), a patient who asks for a
person or a conversation flagged emergency is shown to the signed-in console at once. When no
one is signed in and available, an e-mail goes to ``LIVE_ALERT_EMAIL`` (default
``CLINIC_INBOX``) instead: only that a patient is waiting / an emergency was flagged, the time,
and a link to the conversation in the console. No health details, no message text, no name or
contact. One alert per conversation and kind; queued in the clinic database (table
``staff_alerts``) and sent by the delivery worker with retries, like every other delivery.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any
from urllib.parse import quote

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from actions.clinic import Clinic
from actions.settings import Settings
from actions.storage import backoff_seconds, create_tables, outbox_columns, utcnow

logger = logging.getLogger(__name__)

metadata = MetaData()
WAITING, EMERGENCY = "waiting", "emergency"
LEASE_SECONDS = 120

staff_alerts_table = Table(
    "staff_alerts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),  # waiting | emergency
    Column("sender_id", String(255), nullable=False),
    # one alert per conversation and kind: "<kind>|<sender id>"
    Column("alert_key", String(300), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    *outbox_columns(),
)

_READY: set[str] = set()


def ready(engine: Engine) -> Engine:
    key = str(engine.url)
    if key not in _READY:
        create_tables(metadata, engine)
        _READY.add(key)
    return engine


def queue_alert(engine: Engine, kind: str, sender_id: str, now: datetime | None = None) -> bool:
    """Queue the alert e-mail (once per conversation and kind): True when queued now."""
    if kind not in (WAITING, EMERGENCY):
        raise ValueError(f"unknown alert {kind!r}")
    now = now or utcnow()
    try:
        with ready(engine).begin() as conn:
            alert_id = conn.execute(staff_alerts_table.insert().values(
                kind=kind, sender_id=sender_id, alert_key=f"{kind}|{sender_id}"[:300],
                created_at=now, status="pending", attempts=0, next_attempt_at=now,
            )).inserted_primary_key[0]
    except IntegrityError:
        return False
    logger.info("Queued %s alert e-mail %s (no staff signed in)", kind, alert_id)
    return True


def console_link(settings: Settings, sender_id: str) -> str:
    """The conversation in the staff console (staff/context.py conversation_url)."""
    return f"{settings.console_url}/staff/conversations/{quote(sender_id, safe='')}"


def build_alert_email(alert: dict[str, Any], clinic: Clinic, settings: Settings) -> EmailMessage:
    when = alert["created_at"].astimezone(clinic.tz).strftime("%Y-%m-%d %H:%M")
    if alert["kind"] == EMERGENCY:
        subject = "Assistant: a conversation was flagged emergency"
        line = ("A conversation with the assistant was flagged as a possible emergency. The "
                "patient was given the emergency advice.")
    else:
        subject = "Assistant: a patient asked for a person"
        line = ("A patient asked the assistant for a person while no one was signed in to the "
                "staff console. They were offered to leave a message.")
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = settings.clinic_sender
    message["To"] = settings.live_alert_email or settings.clinic_inbox
    message["Date"] = format_datetime(alert["created_at"])
    message["Message-ID"] = make_msgid(idstring=f"alert-{alert['id']}")
    message.set_content("\n".join([
        line, "", f"When: {when} ({clinic.timezone} time)",
        f"Conversation: {console_link(settings, alert['sender_id'])}", "",
        "Sign in to the staff console to read it.", "", clinic.name]) + "\n")
    return message


def send_due_alerts(engine: Engine, settings: Settings, clinic: Clinic,
                    now: datetime | None = None) -> int:
    """The delivery worker's pass: send each due alert once (claimed by one worker), retrying
    with backoff. Returns how many were sent."""
    from actions.notify import send_email, write_outbox_file

    now = now or utcnow()
    table = staff_alerts_table
    with ready(engine).connect() as conn:
        due = conn.execute(select(table.c.id).where(
            table.c.status == "pending", table.c.next_attempt_at <= now)
            .order_by(table.c.next_attempt_at).limit(20)).scalars().all()
    sent = 0
    for alert_id in due:
        with engine.begin() as conn:
            claimed = conn.execute(update(table).where(
                table.c.id == alert_id, table.c.status == "pending",
                (table.c.claimed_until.is_(None)) | (table.c.claimed_until < now),
            ).values(claimed_until=now + timedelta(seconds=LEASE_SECONDS))).rowcount
            row = conn.execute(select(table).where(table.c.id == alert_id)).mappings().first()
        if not claimed or row is None:
            continue
        alert = dict(row)
        from actions.storage import as_utc

        alert["created_at"] = as_utc(alert["created_at"])
        try:
            message = build_alert_email(alert, clinic, settings)
            if settings.smtp_host:
                send_email(message, settings)
            else:
                write_outbox_file(message, f"alert-{alert_id}", settings)
        except Exception as exc:  # noqa: BLE001 - retried later
            attempts = int(alert["attempts"]) + 1
            delay = backoff_seconds(attempts, settings.retry_first_seconds,
                                    settings.retry_max_seconds)
            with engine.begin() as conn:
                conn.execute(update(table).where(table.c.id == alert_id).values(
                    attempts=attempts, claimed_until=None, last_error=type(exc).__name__,
                    next_attempt_at=utcnow() + timedelta(seconds=delay)))
            logger.warning("Alert e-mail %s failed (attempt %d, %s); retrying in %.0fs",
                           alert_id, attempts, type(exc).__name__, delay)
            continue
        with engine.begin() as conn:
            conn.execute(update(table).where(table.c.id == alert_id).values(
                status="delivered", delivered_at=utcnow(), claimed_until=None))
        sent += 1
        logger.info("Sent %s alert e-mail %s", alert["kind"], alert_id)
    return sent
