"""What the console's pages and API calls do, as plain (blocking) functions of the context.

Route handlers parse input, call one of these in a worker thread, and render the result.
Reading a transcript or exporting data writes an audit entry here, whichever way it was asked.
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from actions.appointments import event_texts
from actions.calendar import CalendarUnavailable
from actions.notify import PATIENT_EMAIL, PATIENT_FILE, PATIENT_SMS, notice_targets
from actions.settings import get_settings
from actions.storage import as_utc, utcnow
from staff.context import StaffContext, appointment_text
from staff.conversations import (
    ConversationFilter,
    ConversationSummary,
    TranscriptItem,
    build_transcript,
    compute_flags,
    transcript_text,
)
from staff.db import (
    KINDS,
    STATUSES,
    appointment_senders,
    audit,
    change_request,
    corrections,
    delete_correction,
    find_requests,
    get_request,
    record_appointment_decision,
    record_appointment_move,
    request_history,
    requests_of_senders,
    save_correction,
)

logger = logging.getLogger(__name__)

REQUESTS_PAGE = 50
CSV_COLUMNS = (
    "reference", "kind", "status", "created", "name", "phone", "email", "preferred_day",
    "preferred_start", "preferred_end", "preferred_text", "reason", "patient_status", "message",
    "channel", "conversation", "appointment_start", "appointment_end", "language",
)


# ---- conversations -----------------------------------------------------------------------------


def list_conversations(
    ctx: StaffContext, filters: ConversationFilter
) -> tuple[list[ConversationSummary], bool]:
    senders = appointment_senders(ctx.engine)
    summaries, has_more = ctx.conversations.list(filters, ctx.tz, senders)
    by_sender: dict[str, list[str]] = {}
    for row in requests_of_senders(ctx.engine, [s.sender_id for s in summaries]):
        by_sender.setdefault(row["sender_id"], []).append(row["reference"])
    for summary in summaries:
        summary.references = by_sender.get(summary.sender_id, [])
    return summaries, has_more


@dataclass
class Transcript:
    sender_id: str
    channel: str | None
    flags: set[str]
    items: list[TranscriptItem]
    requests: list[dict[str, Any]]
    corrections: dict[int, dict[str, Any]] = field(default_factory=dict)

    @property
    def references(self) -> list[str]:
        return [r["reference"] for r in self.requests]

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.sender_id,
            "channel": self.channel,
            "flags": sorted(self.flags),
            "requests": [{"reference": r["reference"], "kind": r["kind"], "status": r["status"]}
                         for r in self.requests],
            "events": [
                {**item.as_json(),
                 **({"correction": self.corrections[item.event_id]["correct_intent"]}
                    if item.event_id in self.corrections else {})}
                for item in self.items
            ],
        }


def load_transcript(ctx: StaffContext, sender_id: str) -> Transcript | None:
    events = ctx.conversations.events(sender_id)
    if not events:
        return None
    requests = requests_of_senders(ctx.engine, [sender_id])
    items = build_transcript(events)
    channel = next((item.channel for item in items if item.kind == "user" and item.channel),
                   None)
    has_appointment = any(r["kind"] == "appointment" for r in requests)
    return Transcript(
        sender_id=sender_id,
        channel=channel,
        flags=compute_flags(events, has_request=has_appointment),
        items=items,
        requests=requests,
        corrections={c["event_id"]: c for c in corrections(ctx.engine, sender_id)},
    )


def view_transcript(ctx: StaffContext, sender_id: str, username: str,
                    via: str) -> Transcript | None:
    """A transcript for reading; the view is written to the audit log."""
    transcript = load_transcript(ctx, sender_id)
    if transcript is not None:
        audit(ctx.engine, username, "view", sender_id, {"via": via})
    return transcript


def export_transcript(ctx: StaffContext, sender_id: str, username: str) -> str | None:
    transcript = load_transcript(ctx, sender_id)
    if transcript is None:
        return None
    audit(ctx.engine, username, "export_transcript", sender_id)
    return transcript_text(sender_id, transcript.items, ctx.tz, transcript.references,
                           username, utcnow())


def mark_misunderstood(ctx: StaffContext, sender_id: str, event_id: int, intent: str,
                       username: str) -> str | None:
    """Record the right intent for one user message; an error message, or None when saved."""
    if intent not in ctx.intents:
        return "Choose an intent from the list."
    events = ctx.conversations.events(sender_id)
    event = next((e for e in events if e.get("_id") == event_id and e.get("event") == "user"),
                 None)
    if event is None:
        return "That message is not part of this conversation."
    text = str(event.get("text") or "").strip()
    if not text or text.startswith("/"):
        return "Only typed messages can be corrected."
    item = build_transcript([event])[0]
    save_correction(ctx.engine, sender_id, event_id, text, item.shown_intent, intent, username)
    logger.info("%s marked a message as misunderstood (right intent %s)", username, intent)
    return None


def unmark_misunderstood(ctx: StaffContext, sender_id: str, event_id: int) -> None:
    delete_correction(ctx.engine, sender_id, event_id)


# ---- requests ----------------------------------------------------------------------------------


def check_request_filters(status: str | None, kind: str | None) -> str | None:
    if status and status not in STATUSES:
        return f"status must be one of {', '.join(STATUSES)}"
    if kind and kind not in KINDS:
        return f"kind must be one of {', '.join(KINDS)}"
    return None


def list_requests(ctx: StaffContext, status: str | None, kind: str | None,
                  page: int = 1) -> tuple[list[dict[str, Any]], bool]:
    rows = find_requests(ctx.engine, status, kind, limit=REQUESTS_PAGE + 1,
                         offset=(page - 1) * REQUESTS_PAGE)
    return rows[:REQUESTS_PAGE], len(rows) > REQUESTS_PAGE


def request_details(ctx: StaffContext, reference: str
                    ) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    request = get_request(ctx.engine, reference)
    if request is None:
        return None
    return request, request_history(ctx.engine, request["id"])


def update_request(ctx: StaffContext, reference: str, username: str, status: str | None,
                   note: str | None) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    """Change status and/or add a note (ValueError on a bad status); None: no such request."""
    if change_request(ctx.engine, reference, username, status, note) is None:
        return None
    return request_details(ctx, reference)


# ---- calendar appointments: staff confirm, decline or move -------------------------------------

# The status vocabulary has no "confirmed" or "declined": the closest ones, with a history note.
CONFIRMED_STATUS = "booked"
DECLINED_STATUS = "closed"
DECISIONS = ("confirm", "decline")
NOTICE_OF = {"confirm": "confirmed", "decline": "declined"}  # actions/notify.py NOTICES
HOW_TOLD = {PATIENT_EMAIL: "e-mail", PATIENT_FILE: "e-mail (outbox folder)", PATIENT_SMS: "SMS"}


class AppointmentError(Exception):
    """A confirm, decline or move that could not be done; the message is safe to show.
    ``status``: the HTTP status to answer with. Nothing was changed, in the calendar or the
    database."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


def told(targets: list[str]) -> str:
    """The history note's last sentence: how the patient hears of the change."""
    if not targets:
        return "The patient gave no e-mail address and did not book by SMS: contact them."
    return f"The patient is told by {' and '.join(HOW_TOLD[t] for t in targets)}."


def _calendar_request(ctx: StaffContext, reference: str) -> tuple[dict[str, Any], Any] | None:
    """The request and the calendar, for a change of its appointment; raises AppointmentError
    when it has no event or the calendar is not set up."""
    request = get_request(ctx.engine, reference)
    if request is None:
        return None
    if not request.get("calendar_uid"):
        raise AppointmentError("This request has no appointment in the calendar.")
    calendar = getattr(ctx, "calendar", None)
    if calendar is None:
        raise AppointmentError("The calendar is not set up (CALENDAR_URL), so the appointment "
                               "cannot be changed here.", status=503)
    return request, calendar


def _unreachable(what: str, reference: str, exc: Exception) -> AppointmentError:
    logger.warning("Could not %s appointment %s: %s", what, reference, exc)
    return AppointmentError("The calendar cannot be reached right now, so nothing was changed. "
                            "Try again in a few minutes.", status=503)


def decide_appointment(ctx: StaffContext, reference: str, username: str, decision: str,
                       via: str) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    """Confirm (event CONFIRMED, request booked) or decline (event deleted, request closed) a
    request's calendar appointment, and tell the patient; audit-logged. None: no such
    request. Raises AppointmentError, and changes nothing then (calendar down, no event,
    event gone)."""
    if decision not in DECISIONS:
        raise ValueError(f"decision must be one of {', '.join(DECISIONS)}")
    found = _calendar_request(ctx, reference)
    if found is None:
        return None
    request, calendar = found
    uid = request["calendar_uid"]
    when = appointment_text(request, ctx.tz).split(" (")[0]
    targets = notice_targets(request, get_settings())
    try:
        if decision == "confirm":
            summary, description = event_texts(ctx.clinic, reference, request["patient_status"],
                                               request["reason"], request["name"])
            if not calendar.confirm(uid, "CONFIRMED", summary, description):
                raise AppointmentError(
                    "This appointment is no longer in the calendar (it was cancelled or "
                    "changed there). Nothing was changed; contact the patient.")
            status, note = CONFIRMED_STATUS, f"Appointment confirmed in the calendar: {when}."
        else:
            found_event = calendar.cancel(uid)
            status = DECLINED_STATUS
            note = f"Appointment declined and removed from the calendar: {when}." if found_event \
                else f"Appointment declined: {when} (it was no longer in the calendar)."
    except CalendarUnavailable as exc:
        raise _unreachable(decision, reference, exc) from exc
    if not record_appointment_decision(ctx.engine, reference, username, status,
                                       f"{note} {told(targets)}", uid,
                                       forget_event=decision == "decline",
                                       notice=NOTICE_OF[decision], notice_targets=targets):
        raise AppointmentError("This request was changed at the same moment; reload the page.")
    audit(ctx.engine, username, f"{decision}_appointment", reference,
          {"via": via, "status": status, "patient_told": targets})
    return request_details(ctx, reference)


def parse_new_start(raw: str | None, tz: Any) -> datetime:
    """The new start staff typed (``2026-12-08T14:00``, the clinic's time zone, as an HTML
    ``datetime-local`` field sends it); ValueError with a message to show."""
    try:
        value = datetime.fromisoformat((raw or "").strip())
    except ValueError:
        raise ValueError("Give the new date and time, e.g. 2026-12-08T14:00.") from None
    return value.replace(tzinfo=tz) if value.tzinfo is None else value


def move_appointment(ctx: StaffContext, reference: str, username: str, new_start: datetime,
                     via: str) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    """Move a request's calendar appointment to ``new_start`` (same length), and tell the
    patient; audit-logged. The new time is held in the calendar before the old one is given
    up, so it must be free there. None: no such request. Raises AppointmentError (nothing
    changed) or ValueError (a time in the past)."""
    found = _calendar_request(ctx, reference)
    if found is None:
        return None
    request, calendar = found
    if request["status"] == DECLINED_STATUS:
        raise AppointmentError("This request is closed; it has no appointment to move.")
    old_start, old_end = as_utc(request["appointment_start"]), as_utc(request["appointment_end"])
    start = new_start.astimezone(timezone.utc)
    if start <= utcnow():
        raise ValueError("The new time is in the past.")
    end = start + (old_end - old_start)
    if start == old_start:
        raise ValueError("That is the appointment's current time.")
    try:
        new_uid = calendar.move(request["calendar_uid"], start, end)
    except CalendarUnavailable as exc:
        raise _unreachable("move", reference, exc) from exc
    if new_uid is None:
        raise AppointmentError("That time is not free in the calendar (or this appointment "
                               "was changed there). Nothing was changed; choose another time.")
    moved = {**request, "appointment_start": start, "appointment_end": end}
    targets = notice_targets(moved, get_settings())
    note = (f"Appointment moved from {appointment_text(request, ctx.tz).split(' (')[0]} to "
            f"{appointment_text(moved, ctx.tz).split(' (')[0]}. {told(targets)}")
    if not record_appointment_move(ctx.engine, reference, username, request["calendar_uid"],
                                   new_uid, start, end, note, targets):
        try:  # changed at the same moment: put the calendar back as it was
            calendar.move(new_uid, old_start, old_end)
        except CalendarUnavailable:
            logger.error("Appointment %s: the calendar has the new time, the request the old one",
                         reference)
        raise AppointmentError("This request was changed at the same moment; reload the page.")
    audit(ctx.engine, username, "move_appointment", reference,
          {"via": via, "patient_told": targets})
    return request_details(ctx, reference)


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


def request_json(row: dict[str, Any], tz: Any = None) -> dict[str, Any]:
    appointment = None
    if row.get("appointment_start"):
        start, end = row["appointment_start"], row.get("appointment_end")
        appointment = {
            "start": _iso(start.astimezone(tz) if tz else start),
            "end": _iso(end.astimezone(tz) if tz and end else end),
            "text": appointment_text(row, tz) if tz else None,
            "in_calendar": bool(row.get("calendar_uid")),
        }
    return {
        "reference": row["reference"],
        "kind": row["kind"],
        "status": row["status"],
        "created_at": row["created_at"].isoformat() if row.get("created_at") else None,
        "name": row["name"],
        "phone": row["phone"],
        "email": row["email"],
        "preferred_day": row["preferred_day"],
        "preferred_start": row["preferred_start"],
        "preferred_end": row["preferred_end"],
        "preferred_text": row["preferred_text"],
        "reason": row["reason"],
        "patient_status": row["patient_status"],
        "message": row["message"],
        "channel": row["channel"],
        "language": row.get("language") or "en",
        "conversation": row["sender_id"],
        "appointment": appointment,
    }


def history_json(row: dict[str, Any]) -> dict[str, Any]:
    return {"at": row["at"].isoformat() if row["at"] else None, "by": row["username"],
            "old_status": row["old_status"], "new_status": row["new_status"],
            "note": row["note"]}


def _local(value: datetime | None, tz: Any) -> str:
    """A stored UTC time as the clinic reads it: '2026-12-08 14:00' (clinic time zone)."""
    return as_utc(value).astimezone(tz).strftime("%Y-%m-%d %H:%M") if value else ""


def spreadsheet_safe(value: Any) -> str:
    """A CSV cell that a spreadsheet will not run as a formula (=, +, -, @ first)."""
    text = "" if value is None else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def requests_csv(ctx: StaffContext, status: str | None, kind: str | None,
                 username: str) -> str:
    rows = find_requests(ctx.engine, status, kind)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        values = {**row, "created": _local(row["created_at"], ctx.tz),
                  "conversation": row["sender_id"],
                  "appointment_start": _local(row.get("appointment_start"), ctx.tz),
                  "appointment_end": _local(row.get("appointment_end"), ctx.tz)}
        writer.writerow([spreadsheet_safe(values.get(column)) for column in CSV_COLUMNS])
    audit(ctx.engine, username, "export_requests", None,
          {"status": status, "kind": kind, "rows": len(rows)})
    return out.getvalue()
