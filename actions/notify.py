"""Delivering a stored request to the clinic: e-mail over SMTP, a local outbox file, a webhook.

A calendar booking with the patient's e-mail address also gets a confirmation to the patient, with
an ``appointment.ics`` invitation: over SMTP (``patient_email``) or, without SMTP, as a
``<reference>-patient.eml`` file in the outbox folder (``patient_file``).

Later changes reach the patient as *notices* (``notices`` table): staff confirmed, declined or
moved the appointment, or the patient moved it. By e-mail with an updated ``appointment.ics``
(same UID, higher SEQUENCE, so the patient's calendar app updates or removes the event it already
has), and by SMS/WhatsApp (``patient_sms``) to the number the patient booked from.

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
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

import requests
from icalendar import Calendar, Event

from actions.clinic import Clinic
from actions.contact import format_phone
from actions.settings import Settings
from actions.slots import Slot
from actions.storage import as_utc
from actions.when import _clock
from channels.twilio_api import send_sms

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Clinic-Signature"
TIMESTAMP_HEADER = "X-Clinic-Timestamp"

# Deliveries to the patient (calendar bookings with an e-mail address): over SMTP, or without
# SMTP a file in the outbox folder, as for the front desk.
PATIENT_EMAIL = "patient_email"
PATIENT_FILE = "patient_file"
PATIENT_SMS = "patient_sms"  # notices only: the phone channel's number, through Twilio
SMS_CHANNEL = "twilio"  # the input channel name of SMS and WhatsApp conversations
NOTICES = ("confirmed", "declined", "moved")
LANGUAGE_NOTE = {"en": "English", "es": "Spanish (the patient wrote in Spanish: reply in Spanish)"}


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
        if request.get("appointment_start"):  # calendar mode: booked in the clinic's calendar
            lines.append(("Appointment", f"{appointment_when(request, clinic)} "
                                         f"({clinic.timezone}) (in the calendar)"))
        else:
            lines.append(
                ("Preferred time", f"{request.get('preferred_text') or '-'} ({clinic.timezone})"))
        lines += [
            ("Reason for visit", request.get("reason") or "-"),
            ("Patient", {"new": "new patient", "returning": "returning patient"}.get(
                request.get("patient_status") or "", "-")),
        ]
    else:
        lines.append(("Message", request.get("message") or "-"))
    lines += [
        ("Channel", request["channel"]),
        ("Language", LANGUAGE_NOTE.get(request.get("language") or "en", request.get("language"))),
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
    if request["kind"] != "appointment":
        action = "The patient asked to talk to a person: please contact them."
    elif not request.get("appointment_start"):
        action = ("This is a request, not a confirmed appointment: please call the patient back "
                  "to confirm a time.")
    elif clinic.booking.auto_confirm:
        action = "The appointment is booked (confirmed) in the clinic's calendar."
    else:
        action = ("The appointment is reserved (tentative) in the clinic's calendar: please "
                  "confirm it and contact the patient.")
    message.set_content(f"{kind} from the {clinic.name} website assistant.\n\n{body}\n\n{action}\n")
    return message


def appointment_slot(request: dict[str, Any]) -> Slot:
    """The booked appointment (calendar mode), from the stored UTC start and end."""
    return Slot(as_utc(request["appointment_start"]), as_utc(request["appointment_end"]))


def appointment_when(request: dict[str, Any], clinic: Clinic) -> str:
    """'Tuesday 8 December, 3:00 pm' in the clinic's time zone, as the patient was told."""
    return appointment_slot(request).describe(clinic.tz)


def patient_targets(request: dict[str, Any], settings: Settings) -> list[str]:
    """The deliveries to the patient: only for a calendar booking with an e-mail address."""
    if not (request.get("appointment_start") and request.get("email")):
        return []
    return [PATIENT_EMAIL if settings.smtp_host else PATIENT_FILE]


def patient_uid(reference: str) -> str:
    """The UID of the patient's invitation: the same for every update of one appointment (the
    clinic calendar's event UID changes when an appointment moves; this one does not)."""
    return f"{reference.lower()}@clinic-assistant"


def _is_confirmed(request: dict[str, Any], clinic: Clinic) -> bool:
    return clinic.booking.auto_confirm or request.get("request_status",
                                                      request.get("status")) == "booked"


def appointment_ics(request: dict[str, Any], clinic: Clinic, sequence: int = 0,
                    cancelled: bool = False) -> bytes:
    """The appointment as an iCalendar invitation: a stable UID, UTC times, the clinic's name
    and address; nothing about the patient's health. ``sequence`` > 0 updates the invitation
    sent before; ``cancelled`` withdraws it (METHOD:CANCEL)."""
    slot = appointment_slot(request)
    calendar = Calendar()
    calendar.add("prodid", f"-//{clinic.name}//Website assistant//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "CANCEL" if cancelled else "PUBLISH")
    event = Event()
    event.add("uid", patient_uid(request["reference"]))
    event.add("dtstamp", as_utc(request.get("noticed_at") or request["created_at"]))
    event.add("sequence", sequence)
    event.add("dtstart", slot.start)
    event.add("dtend", slot.end)
    event.add("summary", f"Appointment at {clinic.name}")
    event.add("location", clinic.address)
    event.add("description", f"Reference {request['reference']}. To cancel or change it, write "
                             f"to the assistant with the reference or call {clinic.phone}.")
    event.add("status", "CANCELLED" if cancelled
              else "CONFIRMED" if _is_confirmed(request, clinic) else "TENTATIVE")
    calendar.add_component(event)
    return calendar.to_ical()


def build_patient_email(request: dict[str, Any], clinic: Clinic,
                        settings: Settings) -> EmailMessage:
    """The confirmation the patient receives for a calendar booking, with ``appointment.ics``.
    No health details (the reason for the visit stays with the clinic)."""
    when = appointment_when(request, clinic)
    slot = appointment_slot(request)
    message = EmailMessage()
    message["Subject"] = f"Your appointment at {clinic.name} on {when}"
    message["From"] = settings.clinic_sender
    message["To"] = request["email"]
    message["Date"] = format_datetime(request["created_at"])
    message["Message-ID"] = make_msgid(idstring=f"{request['reference']}-patient")
    status = (
        "Your appointment is booked."
        if clinic.booking.auto_confirm
        else "This time is reserved for you; the clinic confirms appointments itself and will "
             "contact you."
    )
    end = _clock(slot.end.astimezone(clinic.tz).time())
    message.set_content(
        f"Hello {request['name']},\n\n"
        f"{status}\n\n"
        f"When:      {when} to {end} ({clinic.timezone} time)\n"
        f"Where:     {clinic.name}, {clinic.address}\n"
        f"Reference: {request['reference']}\n\n"
        f"To cancel or change it, write to the assistant on our website with your reference, "
        f"or call {clinic.phone}.\n\n"
        f"The attached appointment.ics adds it to your calendar.\n\n"
        f"{clinic.name}\n"
    )
    message.add_attachment(appointment_ics(request, clinic), maintype="text",
                           subtype="calendar", filename="appointment.ics",
                           params={"method": "PUBLISH"})
    return message


def notice_targets(request: dict[str, Any], settings: Settings) -> list[str]:
    """How a notice about this request's appointment reaches the patient: e-mail when they gave
    one, SMS/WhatsApp when they booked by phone and Twilio is set up; [] = staff must call."""
    targets = []
    if request.get("email"):
        targets.append(PATIENT_EMAIL if settings.smtp_host else PATIENT_FILE)
    if request.get("channel") == SMS_CHANNEL and settings.sms_enabled:
        targets.append(PATIENT_SMS)
    return targets


def _notice_texts(notice: dict[str, Any], clinic: Clinic) -> tuple[str, str, str]:
    """(e-mail subject, e-mail paragraph, SMS text) of a notice."""
    when = appointment_when(notice, clinic)
    reference = notice["reference"]
    previous = notice.get("previous_start")
    was = Slot(as_utc(previous), as_utc(previous) + timedelta(minutes=1)).describe(clinic.tz) \
        if previous else None
    change = f"write to the assistant with your reference {reference} or call {clinic.phone}"
    if notice["notice"] == "confirmed":
        return (f"Your appointment at {clinic.name} on {when} is confirmed",
                "The clinic has confirmed your appointment.",
                f"{clinic.name}: your appointment {reference} on {when} is confirmed. "
                f"{clinic.address}. To cancel or change it, {change}.")
    if notice["notice"] == "declined":
        return (f"Your appointment at {clinic.name} on {when} is cancelled",
                "We are sorry: the clinic cannot see you at this time, so this appointment is "
                f"cancelled. To find another time, write to the assistant on our website or "
                f"call {clinic.phone}.",
                f"{clinic.name}: sorry, the clinic cannot keep your appointment {reference} on "
                f"{when}, so it is cancelled. To book another time, reply here or call "
                f"{clinic.phone}.")
    if notice["notice"] == "moved":
        before = f" (it was {was})" if was else ""
        return (f"Your appointment at {clinic.name} has moved to {when}",
                f"Your appointment has moved to a new time{before}.",
                f"{clinic.name}: your appointment {reference} is now on {when}{before}. "
                f"{clinic.address}. To cancel or change it, {change}.")
    raise ValueError(f"unknown notice {notice['notice']!r}")


def build_notice_email(notice: dict[str, Any], clinic: Clinic,
                       settings: Settings) -> EmailMessage:
    """A notice to the patient with the updated (or withdrawn) ``appointment.ics``."""
    subject, paragraph, _ = _notice_texts(notice, clinic)
    cancelled = notice["notice"] == "declined"
    slot = appointment_slot(notice)
    end = _clock(slot.end.astimezone(clinic.tz).time())
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = settings.clinic_sender
    message["To"] = notice["email"]
    message["Date"] = format_datetime(notice["noticed_at"])
    message["Message-ID"] = make_msgid(
        idstring=f"{notice['reference']}-{notice['notice']}-{notice['sequence']}")
    lines = [f"Hello {notice['name']},", "", paragraph, ""]
    if not cancelled:
        lines += [f"When:      {appointment_when(notice, clinic)} to {end} "
                  f"({clinic.timezone} time)", f"Where:     {clinic.name}, {clinic.address}"]
    lines += [f"Reference: {notice['reference']}", ""]
    if not cancelled:
        lines += ["To cancel or change it, write to the assistant on our website with your "
                  f"reference, or call {clinic.phone}.", ""]
    lines += ["The attached appointment.ics updates the appointment in your calendar.", "",
              clinic.name]
    message.set_content("\n".join(lines) + "\n")
    message.add_attachment(
        appointment_ics(notice, clinic, sequence=int(notice["sequence"]), cancelled=cancelled),
        maintype="text", subtype="calendar", filename="appointment.ics",
        params={"method": "CANCEL" if cancelled else "PUBLISH"})
    return message


def notice_sms(notice: dict[str, Any], clinic: Clinic) -> str:
    return _notice_texts(notice, clinic)[2]


def deliver_notice(target: str, notice: dict[str, Any], clinic: Clinic,
                   settings: Settings) -> None:
    """Deliver one notice to the patient one way; raises on failure."""
    if target == PATIENT_EMAIL:
        send_email(build_notice_email(notice, clinic, settings), settings)
    elif target == PATIENT_FILE:
        write_outbox_file(build_notice_email(notice, clinic, settings),
                          f"{notice['reference']}-{notice['notice']}-{notice['sequence']}",
                          settings)
    elif target == PATIENT_SMS:
        if not settings.sms_enabled:
            raise RuntimeError("TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN or TWILIO_NUMBER not set")
        send_sms(settings.twilio_account_sid, settings.twilio_auth_token,
                 settings.twilio_number, notice["sender_id"], notice_sms(notice, clinic))
    else:
        raise ValueError(f"unknown notice target {target!r}")


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


def write_outbox_file(message: EmailMessage, name: str, settings: Settings) -> None:
    """Without SMTP configured, the e-mail is written to the local outbox folder instead, as
    ``<name>.eml`` (the reference; ``<reference>-patient`` for the patient's copy)."""
    settings.outbox_dir.mkdir(parents=True, exist_ok=True)
    path = settings.outbox_dir / f"{name}.eml"
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
        "appointment": {
            "start": _iso(request.get("appointment_start")),
            "end": _iso(request.get("appointment_end")),
            "calendar_uid": request.get("calendar_uid"),
        } if request.get("appointment_start") else None,
        "channel": request["channel"],
        "created_at": request["created_at"].isoformat(),
    }


def _iso(value: Any) -> str | None:
    return as_utc(value).isoformat() if value is not None else None


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
    """Deliver one request (or a notice: ``request["outbox"] == "notices"``) to one target;
    raises on failure."""
    if request.get("outbox") == "notices":
        deliver_notice(target, request, clinic, settings)
    elif target == "email":
        send_email(build_email(request, clinic, settings), settings)
    elif target == "file":
        write_outbox_file(build_email(request, clinic, settings), request["reference"], settings)
    elif target == "webhook":
        post_webhook(request, settings)
    elif target == PATIENT_EMAIL:
        send_email(build_patient_email(request, clinic, settings), settings)
    elif target == PATIENT_FILE:
        write_outbox_file(build_patient_email(request, clinic, settings),
                          f"{request['reference']}-patient", settings)
    else:
        raise ValueError(f"unknown delivery target {target!r}")


def delivery_targets(settings: Settings) -> list[str]:
    """Where a new request goes: e-mail (or the outbox folder without SMTP), and the webhook."""
    targets = ["email" if settings.smtp_host else "file"]
    if settings.webhook_url:
        targets.append("webhook")
    return targets
