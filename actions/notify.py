"""Delivering a stored request to the clinic: e-mail over SMTP, a local outbox file, a webhook.

Each function raises on failure; the delivery worker (``actions.outbox``) records the failure and
retries later. Nothing here logs a patient's name, contact details or message.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
import ssl
import time
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

import requests

from actions.clinic import Clinic
from actions.contact import format_phone
from actions.settings import Settings

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Clinic-Signature"
TIMESTAMP_HEADER = "X-Clinic-Timestamp"


def _local(value: datetime, clinic: Clinic) -> str:
    return value.astimezone(clinic.tz).strftime("%A %d %B %Y, %H:%M %Z")


def request_lines(request: dict[str, Any], clinic: Clinic) -> list[tuple[str, str]]:
    """The request as (label, value) lines, in the order the front desk reads them."""
    contact = []
    if request.get("phone"):
        contact.append(format_phone(request["phone"], clinic.country))
    if request.get("email"):
        contact.append(request["email"])
    lines = [
        ("Reference", request["reference"]),
        ("Name", request["name"]),
        ("Contact", " / ".join(contact) or "-"),
    ]
    if request["kind"] == "appointment":
        lines += [
            ("Preferred time", f"{request.get('preferred_text') or '-'} ({clinic.timezone})"),
            ("Reason for visit", request.get("reason") or "-"),
            ("Patient", {"new": "new patient", "returning": "returning patient"}.get(
                request.get("patient_status") or "", "-")),
        ]
    else:
        lines.append(("Message", request.get("message") or "-"))
    lines += [
        ("Channel", request["channel"]),
        ("Received", _local(request["created_at"], clinic)),
    ]
    return lines


def build_email(request: dict[str, Any], clinic: Clinic, settings: Settings) -> EmailMessage:
    """The e-mail the front desk receives for one request."""
    kind = "Appointment request" if request["kind"] == "appointment" else "Message for staff"
    message = EmailMessage()
    message["Subject"] = f"{kind} {request['reference']}"
    message["From"] = settings.clinic_sender
    message["To"] = settings.clinic_inbox
    message["Date"] = format_datetime(request["created_at"])
    message["Message-ID"] = make_msgid(idstring=request["reference"])
    width = max(len(label) for label, _ in request_lines(request, clinic))
    body = "\n".join(
        f"{label + ':':{width + 1}s} {value}" for label, value in request_lines(request, clinic)
    )
    action = (
        "This is a request, not a confirmed appointment: please call the patient back to "
        "confirm a time."
        if request["kind"] == "appointment"
        else "The patient asked to talk to a person: please contact them."
    )
    message.set_content(f"{kind} from the {clinic.name} website assistant.\n\n{body}\n\n{action}\n")
    return message


def send_email(message: EmailMessage, settings: Settings) -> None:
    """Send over SMTP (STARTTLS and login when configured)."""
    with smtplib.SMTP(
        settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout
    ) as smtp:
        if settings.smtp_starttls:
            smtp.starttls(context=ssl.create_default_context())
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password)
        smtp.send_message(message)


def write_outbox_file(message: EmailMessage, reference: str, settings: Settings) -> None:
    """Without SMTP configured, the e-mail is written to the local outbox folder instead."""
    settings.outbox_dir.mkdir(parents=True, exist_ok=True)
    path = settings.outbox_dir / f"{reference}.eml"
    tmp = path.with_suffix(".eml.tmp")
    tmp.write_bytes(bytes(message))
    tmp.replace(path)


def webhook_payload(request: dict[str, Any]) -> dict[str, Any]:
    return {
        "reference": request["reference"],
        "kind": request["kind"],
        "name": request["name"],
        "phone": request.get("phone"),
        "email": request.get("email"),
        "preferred": {
            "day": request.get("preferred_day"),
            "start": request.get("preferred_start"),
            "end": request.get("preferred_end"),
            "text": request.get("preferred_text"),
        },
        "reason": request.get("reason"),
        "patient_status": request.get("patient_status"),
        "message": request.get("message"),
        "channel": request["channel"],
        "created_at": request["created_at"].isoformat(),
    }


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over '<timestamp>.<body>', hex: what the receiver recomputes and compares."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def post_webhook(request: dict[str, Any], settings: Settings) -> None:
    """POST the request as signed JSON; any non-2xx answer is a failure to retry."""
    body = json.dumps(webhook_payload(request), separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    reply = requests.post(
        settings.webhook_url,
        data=body,
        headers={
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(settings.webhook_secret, timestamp, body),
            "Idempotency-Key": request["reference"],
        },
        timeout=settings.webhook_timeout,
    )
    if not 200 <= reply.status_code < 300:
        raise RuntimeError(f"webhook answered HTTP {reply.status_code}")


def deliver(target: str, request: dict[str, Any], clinic: Clinic, settings: Settings) -> None:
    """Deliver one request to one target; raises on failure."""
    if target == "email":
        send_email(build_email(request, clinic, settings), settings)
    elif target == "file":
        write_outbox_file(build_email(request, clinic, settings), request["reference"], settings)
    elif target == "webhook":
        post_webhook(request, settings)
    else:
        raise ValueError(f"unknown delivery target {target!r}")


def delivery_targets(settings: Settings) -> list[str]:
    """Where a new request goes: e-mail (or the outbox folder without SMTP), and the webhook."""
    targets = ["email" if settings.smtp_host else "file"]
    if settings.webhook_url:
        targets.append("webhook")
    return targets
