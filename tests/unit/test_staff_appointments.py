"""Calendar appointments in the staff console: the slot shown on each request, and staff
confirming or declining it, against a real CalDAV server (Radicale, ``tests/caldav_server.py``).

The console runs in-process: the real Sanic blueprint (``staff.routes.register``), driven through
its ASGI interface, with a context on a temporary database and the test calendar. Sessions are
made with ``Auth.create_session`` (sign-in itself is tested in ``test_staff_auth.py`` and the
e2e suite); the session cookie and CSRF token are sent as a browser or API client sends them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import icalendar
import pytest
from argon2 import PasswordHasher
from sanic import Sanic

import staff.routes
from actions.appointments import event_texts
from actions.calendar import CalendarClient
from actions.clinic import get_clinic
from actions.storage import store_request
from staff.auth import Auth, Passwords
from staff.context import StaffContext, make_templates
from staff.db import audit_entries, get_request, request_history, staff_engine
from tests.caldav_server import CalDavServer
from tests.unit.asgi import AsgiClient, Reply
from web.settings import WebSettings

UTC = timezone.utc
CLINIC = get_clinic()
TZ = CLINIC.tz
SECRET = "unit-test-staff-secret-" + "x" * 32


def next_tuesday() -> date:
    today = datetime.now(TZ).date() + timedelta(days=7)
    return today + timedelta(days=(1 - today.weekday()) % 7)


@dataclass
class Console:
    client: AsgiClient
    context: StaffContext
    calendar: CalDavServer
    cookie: str
    csrf: str

    def get(self, path: str, signed_in: bool = True) -> Reply:
        return self.client.request("GET", path, headers=self._cookie(signed_in))

    def form(self, path: str, values: dict[str, str], signed_in: bool = True) -> Reply:
        return self.client.request("POST", path, urlencode(values).encode(), {
            "content-type": "application/x-www-form-urlencoded", **self._cookie(signed_in)})

    def api(self, path: str, body: Any = None, signed_in: bool = True, csrf: bool = True,
            content_type: str = "application/json") -> Reply:
        headers = {"content-type": content_type, **self._cookie(signed_in)}
        if csrf:
            headers["x-csrf-token"] = self.csrf
        return self.client.request("POST", path, json.dumps(body or {}).encode(), headers)

    def _cookie(self, signed_in: bool) -> dict[str, str]:
        return {"cookie": f"staff_session={self.cookie}"} if signed_in else {}

    # the calendar and the database, read directly -------------------------------------------

    def event(self, uid: str) -> icalendar.Event | None:
        """The stored event with this UID, read from the server's storage folder."""
        folder = (self.calendar.storage_dir / "collection-root" / self.calendar.user
                  / self.calendar.calendar)
        for path in folder.glob("*.ics"):
            parsed = icalendar.Calendar.from_ical(path.read_bytes())
            for event in parsed.walk("VEVENT"):
                if str(event.get("UID")) == uid:
                    return event
        return None

    def booking(self, *, with_event: bool = True, **changes: Any
                ) -> tuple[str, str | None, datetime]:
        """A request booked (TENTATIVE, as with auto_confirm: false) next Tuesday 3 pm (or
        later, one half-hour per event in the calendar); its reference, event UID and start.
        ``changes``: other request fields (an e-mail address, the SMS channel)."""
        start = datetime.combine(next_tuesday(), datetime.min.time().replace(hour=15),
                                 TZ).astimezone(UTC)
        start += timedelta(minutes=30 * len(list(self.calendar.storage_dir.rglob("*.ics"))))
        end = start + timedelta(minutes=30)
        reference = f"PMR-T{uuid.uuid4().hex[:5].upper()}"
        uid = None
        if with_event:
            summary, description = event_texts(CLINIC, reference, "new", "migraines",
                                               "Maria Lopez")
            uid = self.context.calendar.hold(start, end, reference, summary, description)
            assert uid is not None
            assert self.context.calendar.confirm(uid, "TENTATIVE", summary, description)
        fields = {"kind": "appointment", "name": "Maria Lopez", "phone": "+12125550123",
                  "channel": "rest", "sender_id": f"conv-{reference}", "reason": "migraines",
                  "patient_status": "new", "preferred_text": "next Tuesday afternoon",
                  "appointment_start": start if with_event else None,
                  "appointment_end": end if with_event else None, "calendar_uid": uid,
                  **changes}
        store_request(self.context.engine, fields, f"key-{reference}", [], reference=reference)
        return reference, uid, start


@pytest.fixture(scope="module")
def calendar() -> Iterator[CalDavServer]:
    with CalDavServer(password="staff-calendar-test-password") as server:
        yield server


@pytest.fixture(scope="module")
def app() -> Iterator[tuple[Sanic, AsgiClient]]:
    """One app for the module, each test putting its own context in. Sanic's test mode: without
    it Sanic rewrites its own classes when an app starts (TouchUp), and no other app in the
    process (tests/unit/test_twilio_channel.py) could start after it."""
    settings = WebSettings(host="127.0.0.1", port=0, rasa_port=0, chat_socket_url="",
                           allowed_origins=(), webchat_bundle=staff.routes.STAFF_DIR,
                           tracker_database_url="", staff_admin_user="",
                           staff_admin_password="", secret_key=SECRET, session_hours=1,
                           retention_days=180, secure_cookies=False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Sanic, "test_mode", True)
        patch.setattr(staff.routes, "build_context", lambda _settings: None)
        sanic_app = Sanic(f"staff_appointments_{uuid.uuid4().hex[:8]}")
        staff.routes.register(sanic_app, settings)
        client = AsgiClient(sanic_app)
        sanic_app.ctx.settings = settings
        try:
            yield sanic_app, client
        finally:
            client.close()


@pytest.fixture()
def console(app, calendar: CalDavServer, tmp_path) -> Iterator[Console]:
    sanic_app, client = app
    if not calendar.running:
        calendar.start()
    engine = staff_engine(f"sqlite:///{tmp_path / 'clinic.db'}")
    auth = Auth(engine, SECRET, 1, passwords=Passwords(PasswordHasher(time_cost=1,
                                                                      memory_cost=8192)))
    context = StaffContext(
        settings=sanic_app.ctx.settings, engine=engine, auth=auth, conversations=None,
        privacy=None, tz=TZ, region=CLINIC.country, intents=(),
        templates=make_templates(TZ, CLINIC.country), clinic=CLINIC,
        calendar=CalendarClient(calendar.url, calendar.user, calendar.password, timeout=2,
                                cache_seconds=0, tz=TZ),
    )
    sanic_app.ctx.staff = context
    user = auth.create_user("frontdesk", "front desk password 1")  # not an administrator
    cookie, session = auth.create_session(user)
    try:
        yield Console(client=client, context=context, calendar=calendar, cookie=cookie,
                      csrf=session.csrf_token)
    finally:
        sanic_app.ctx.staff = None
        if not calendar.running:
            calendar.start()


def expected_text(start: datetime) -> str:
    local = start.astimezone(TZ)
    clock = local.strftime("%I:%M").lstrip("0") + (" am" if local.hour < 12 else " pm")
    return f"{local:%A} {local.day} {local:%B}, {clock}"


# ---- the slot shown ----------------------------------------------------------------------------


def test_the_appointment_time_is_shown_in_the_clinic_zone(console):
    reference, uid, start = console.booking()
    plain, _, _ = console.booking(with_event=False)
    when = expected_text(start)
    assert when.startswith("Tuesday ") and ", 3:00 pm" in when

    listing = console.get("/staff/requests")
    assert listing.status == 200, listing.text
    assert f"Appointment: {when} (in the calendar)" in listing.text
    assert "next Tuesday afternoon" in listing.text  # the request without a slot: as today

    page = console.get(f"/staff/requests/{reference}")
    assert page.status == 200
    assert f"{when} (in the calendar)" in page.text
    assert "Confirm appointment" in page.text and "Decline" in page.text
    assert f'action="/staff/requests/{reference}/confirm"' in page.text
    other = console.get(f"/staff/requests/{plain}")
    assert "Confirm appointment" not in other.text and "Appointment</dt>" not in other.text

    detail = console.get(f"/staff/api/requests/{reference}").json()["request"]
    assert detail["appointment"]["text"] == f"{when} (in the calendar)"
    assert detail["appointment"]["in_calendar"] is True
    assert datetime.fromisoformat(detail["appointment"]["start"]) == start
    assert detail["appointment"]["start"].endswith(start.astimezone(TZ).strftime("%z")[:3]
                                                   + ":00")
    rows = console.get("/staff/api/requests").json()
    assert {r["reference"]: r["appointment"] is not None for r in rows["requests"]} == {
        reference: True, plain: False}
    assert rows["time_zone"] == TZ.key


# ---- confirm and decline -----------------------------------------------------------------------


def test_confirm_with_the_form_makes_the_event_confirmed(console):
    reference, uid, _ = console.booking()
    assert str(console.event(uid)["STATUS"]) == "TENTATIVE"
    reply = console.form(f"/staff/requests/{reference}/confirm", {"csrf_token": console.csrf})
    assert reply.status == 303
    assert reply.headers["location"] == f"/staff/requests/{reference}?saved=confirmed"

    event = console.event(uid)
    assert str(event["STATUS"]) == "CONFIRMED"
    summary, description = event_texts(CLINIC, reference, "new", "migraines", "Maria Lopez")
    assert str(event["SUMMARY"]) == summary and str(event["DESCRIPTION"]) == description
    request = get_request(console.context.engine, reference)
    assert request["status"] == "booked" and request["calendar_uid"] == uid
    history = request_history(console.context.engine, request["id"])
    assert [(h["username"], h["old_status"], h["new_status"]) for h in history] == [
        ("frontdesk", "new", "booked")]
    assert history[0]["note"].startswith("Appointment confirmed in the calendar")
    # no e-mail, booked on the website: nobody can tell the patient but staff
    assert history[0]["note"].endswith("The patient gave no e-mail address and did not book "
                                       "by SMS: contact them.")
    entry = audit_entries(console.context.engine, 1)[0]
    assert (entry["action"], entry["target"], entry["username"]) == (
        "confirm_appointment", reference, "frontdesk")
    assert entry["details"] == {"status": "booked", "via": "page", "patient_told": []}
    page = console.get(reply.headers["location"])
    assert "Appointment confirmed in the calendar." in page.text


def test_confirm_and_decline_through_the_api(console):
    reference, uid, _ = console.booking()
    confirmed = console.api(f"/staff/api/requests/{reference}/confirm")
    assert confirmed.status == 200, confirmed.text
    assert confirmed.json()["request"]["status"] == "booked"
    assert str(console.event(uid)["STATUS"]) == "CONFIRMED"

    declined = console.api(f"/staff/api/requests/{reference}/decline")
    assert declined.status == 200, declined.text
    body = declined.json()
    assert body["request"]["status"] == "closed"
    assert body["request"]["appointment"]["in_calendar"] is False
    assert "declined" in body["request"]["appointment"]["text"]
    assert console.event(uid) is None  # removed from the calendar
    assert get_request(console.context.engine, reference)["calendar_uid"] is None
    assert [h["new_status"] for h in body["history"]] == ["booked", "closed"]
    assert [e["action"] for e in audit_entries(console.context.engine, 2)] == [
        "decline_appointment", "confirm_appointment"]
    # nothing left to confirm
    again = console.api(f"/staff/api/requests/{reference}/confirm")
    assert again.status == 409 and "no appointment in the calendar" in again.json()["error"]


def test_decline_with_the_form_removes_the_event(console):
    reference, uid, start = console.booking()
    reply = console.form(f"/staff/requests/{reference}/decline", {"csrf_token": console.csrf})
    assert reply.status == 303
    assert console.event(uid) is None
    request = get_request(console.context.engine, reference)
    assert request["status"] == "closed" and request["calendar_uid"] is None
    page = console.get(reply.headers["location"])
    assert "Appointment declined and removed from the calendar." in page.text
    assert f"{expected_text(start)} (declined, not in the calendar)" in page.text
    assert "Confirm appointment" not in page.text


def test_an_event_gone_from_the_calendar_is_not_confirmed(console):
    reference, uid, _ = console.booking()
    assert console.context.calendar.cancel(uid)  # someone deleted it in the calendar
    reply = console.api(f"/staff/api/requests/{reference}/confirm")
    assert reply.status == 409 and "no longer in the calendar" in reply.json()["error"]
    assert get_request(console.context.engine, reference)["status"] == "new"


def test_calendar_down_shows_an_error_and_changes_nothing(console):
    reference, uid, _ = console.booking()
    console.calendar.stop()
    try:
        page = console.form(f"/staff/requests/{reference}/confirm",
                            {"csrf_token": console.csrf})
        assert page.status == 503
        assert "The calendar cannot be reached right now, so nothing was changed" in page.text
        assert "Confirm appointment" in page.text  # the page is still there to try again
        api = console.api(f"/staff/api/requests/{reference}/decline")
        assert api.status == 503 and "cannot be reached" in api.json()["error"]
    finally:
        console.calendar.start()
    request = get_request(console.context.engine, reference)
    assert (request["status"], request["calendar_uid"]) == ("new", uid)
    assert request_history(console.context.engine, request["id"]) == []
    assert audit_entries(console.context.engine, 10) == []
    assert str(console.event(uid)["STATUS"]) == "TENTATIVE"


def test_unauthenticated_or_forged_calls_are_refused(console):
    reference, uid, _ = console.booking()
    path = f"/staff/api/requests/{reference}"
    assert console.api(f"{path}/confirm", signed_in=False).status == 401
    assert console.api(f"{path}/decline", signed_in=False).status == 401
    assert console.api(f"{path}/decline", csrf=False).status == 403
    assert console.api(f"{path}/decline", content_type="text/plain").status == 415
    page = console.form(f"/staff/requests/{reference}/decline", {"csrf_token": console.csrf},
                        signed_in=False)
    assert page.status in (302, 303) and page.headers["location"] == "/staff/login"
    forged = console.form(f"/staff/requests/{reference}/decline", {"csrf_token": "forged"})
    assert forged.status == 403
    assert console.get(f"{path}", signed_in=False).status == 401
    # an ended session is refused too
    session = console.context.auth.load_session(console.cookie)
    console.context.auth.end_session(session)
    assert console.api(f"{path}/confirm").status == 401
    request = get_request(console.context.engine, reference)
    assert (request["status"], request["calendar_uid"]) == ("new", uid)
    assert str(console.event(uid)["STATUS"]) == "TENTATIVE"
    assert audit_entries(console.context.engine, 10) == []


def test_without_a_calendar_the_buttons_are_not_offered(console):
    reference, uid, _ = console.booking()
    console.context.calendar = None
    page = console.get(f"/staff/requests/{reference}")
    assert "Confirm appointment" not in page.text and "not set up" in page.text
    reply = console.api(f"/staff/api/requests/{reference}/confirm")
    assert reply.status == 503 and "CALENDAR_URL" in reply.json()["error"]
    assert console.api("/staff/api/requests/PMR-NOPE00/confirm").status == 404


# ---- move, and the patient told ----------------------------------------------------------------

TWILIO_SID = "AC" + "0123456789abcdef" * 2
TWILIO_TOKEN = "unit-test-auth-token-not-a-secret"
CLINIC_NUMBER = "+15550100200"


@pytest.fixture()
def delivery(console, tmp_path, monkeypatch) -> Iterator[tuple[Any, Path]]:
    """The delivery worker's settings on the console's database: no SMTP (the patient's
    e-mails land in the outbox folder), and Twilio's fake API for SMS notices."""
    from actions.settings import get_settings
    from scripts.serve import free_port
    from tests.fake_twilio import FakeTwilio

    port = free_port()
    monkeypatch.delenv("SMTP_HOST", raising=False)
    monkeypatch.setenv("DATABASE_URL", str(console.context.engine.url))
    monkeypatch.setenv("OUTBOX_DIR", str(tmp_path / "outbox"))
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", TWILIO_SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TWILIO_TOKEN)
    monkeypatch.setenv("TWILIO_NUMBER", CLINIC_NUMBER)
    monkeypatch.setenv("TWILIO_API_BASE_URL", f"http://127.0.0.1:{port}")
    get_settings.cache_clear()
    with FakeTwilio(port, TWILIO_SID, TWILIO_TOKEN) as api:
        yield api, tmp_path / "outbox"
    get_settings.cache_clear()


def deliver_all(console) -> int:
    from actions.outbox import run_once
    from actions.settings import get_settings

    return run_once(console.context.engine, get_settings())


def patient_mail(outbox: Path, reference: str, notice: str) -> tuple[Any, icalendar.Event]:
    import email
    import email.policy

    [path] = outbox.glob(f"{reference}-{notice}-*.eml")
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    [part] = [p for p in message.iter_attachments() if p.get_filename() == "appointment.ics"]
    calendar = icalendar.Calendar.from_ical(part.get_payload(decode=True))
    [event] = calendar.walk("VEVENT")
    return message, event


def text_of(message: Any) -> str:
    return message.get_body(("plain",)).get_content()


def test_confirm_and_decline_tell_the_patient_by_email_with_an_updated_ics(console, delivery):
    from actions.notify import patient_uid

    _, outbox = delivery
    reference, uid, start = console.booking(email="maria@example.com")
    assert console.api(f"/staff/api/requests/{reference}/confirm").status == 200
    assert deliver_all(console) == 1
    message, event = patient_mail(outbox, reference, "confirmed")
    assert message["To"] == "maria@example.com"
    assert message["Subject"] == (f"Your appointment at {CLINIC.name} on "
                                  f"{expected_text(start)} is confirmed")
    assert "migraines" not in message.as_string()  # the reason stays with the clinic
    assert str(event["UID"]) == patient_uid(reference) and int(event["SEQUENCE"]) == 1
    assert str(event["STATUS"]) == "CONFIRMED" and event.decoded("DTSTART") == start

    declined = console.api(f"/staff/api/requests/{reference}/decline").json()
    assert declined["history"][-1]["note"].endswith("The patient is told by e-mail "
                                                    "(outbox folder).")
    assert deliver_all(console) == 1
    message, event = patient_mail(outbox, reference, "declined")
    assert "is cancelled" in message["Subject"] and CLINIC.phone in text_of(message)
    assert str(event["UID"]) == patient_uid(reference) and int(event["SEQUENCE"]) == 2
    assert str(event["STATUS"]) == "CANCELLED"
    assert deliver_all(console) == 0  # each notice goes once


def test_staff_move_an_appointment_and_the_sms_patient_is_texted(console, delivery):
    api, _ = delivery
    phone = "+12125550199"
    reference, uid, start = console.booking(channel="twilio", sender_id=phone, phone=phone)
    new_start = start + timedelta(days=2, hours=-4)  # Thursday 11 am
    local = new_start.astimezone(TZ).strftime("%Y-%m-%dT%H:%M")
    page = console.get(f"/staff/requests/{reference}")
    assert f'action="/staff/requests/{reference}/move"' in page.text
    assert f'value="{start.astimezone(TZ):%Y-%m-%dT%H:%M}"' in page.text

    reply = console.form(f"/staff/requests/{reference}/move",
                         {"csrf_token": console.csrf, "start": local})
    assert reply.status == 303, reply.text
    assert reply.headers["location"] == f"/staff/requests/{reference}?saved=moved"
    assert console.event(uid) is None  # the old time is free again
    request = get_request(console.context.engine, reference)
    assert request["appointment_start"] == new_start
    assert request["appointment_end"] == new_start + timedelta(minutes=30)
    moved = console.event(request["calendar_uid"])
    assert moved.decoded("DTSTART") == new_start and str(moved["STATUS"]) == "TENTATIVE"
    assert str(moved["X-CLINIC-REFERENCE"]) == reference
    [entry] = request_history(console.context.engine, request["id"])
    assert entry["note"] == (f"Appointment moved from {expected_text(start)} to "
                             f"{expected_text(new_start)}. The patient is told by SMS.")
    assert "Appointment moved in the calendar." in console.get(reply.headers["location"]).text
    assert audit_entries(console.context.engine, 1)[0]["action"] == "move_appointment"

    assert deliver_all(console) == 1
    [text] = api.sent_to(phone)
    assert text.startswith(f"{CLINIC.name}: your appointment {reference} is now on "
                           f"{expected_text(new_start)} (it was {expected_text(start)}).")
    assert api.messages[0]["from"] == CLINIC_NUMBER


def test_a_move_to_a_busy_or_past_time_changes_nothing(console, delivery):
    first, _, first_start = console.booking()
    reference, uid, start = console.booking(email="maria@example.com")
    path = f"/staff/api/requests/{reference}/move"
    busy = console.api(path, {"start": first_start.astimezone(TZ).strftime("%Y-%m-%dT%H:%M")})
    assert busy.status == 409 and "not free in the calendar" in busy.json()["error"]
    past = console.api(path, {"start": "2020-01-07T10:00"})
    assert past.status == 400 and "past" in past.json()["error"]
    for bad in ({"start": "next tuesday"}, {"start": 5}, {}):
        assert console.api(path, bad).status == 400
    page = console.form(f"/staff/requests/{reference}/move",
                        {"csrf_token": console.csrf, "start": "tomorrow"})
    assert page.status == 400 and "Give the new date and time" in page.text
    request = get_request(console.context.engine, reference)
    assert (request["appointment_start"], request["calendar_uid"]) == (start, uid)
    assert console.event(uid) is not None and request_history(console.context.engine,
                                                             request["id"]) == []
    assert deliver_all(console) == 0  # no notice for a change that did not happen


def test_moving_through_the_api_keeps_the_length_and_tells_the_patient(console, delivery):
    _, outbox = delivery
    reference, uid, start = console.booking(email="maria@example.com")
    new_start = (start + timedelta(days=1)).astimezone(TZ).replace(hour=9, minute=0)
    reply = console.api(f"/staff/api/requests/{reference}/move",
                        {"start": new_start.isoformat()})  # with its offset: also accepted
    assert reply.status == 200, reply.text
    appointment = reply.json()["request"]["appointment"]
    assert datetime.fromisoformat(appointment["start"]) == new_start
    assert datetime.fromisoformat(appointment["end"]) == new_start + timedelta(minutes=30)
    assert deliver_all(console) == 1
    message, event = patient_mail(outbox, reference, "moved")
    assert message["Subject"] == (f"Your appointment at {CLINIC.name} has moved to "
                                  f"{expected_text(new_start)}")
    assert f"it was {expected_text(start)}" in text_of(message)
    assert event.decoded("DTSTART") == new_start.astimezone(UTC)


def test_a_notice_twilio_refuses_is_retried_and_sent_once(console, delivery):
    from sqlalchemy import update

    from actions.storage import list_notices, notices_table

    api, _ = delivery
    phone = "+12125550142"
    reference, _, _ = console.booking(channel="twilio", sender_id=phone, phone=phone)
    assert console.api(f"/staff/api/requests/{reference}/confirm").status == 200
    api.fail_next(503)
    assert deliver_all(console) == 0 and api.sent_to(phone) == []
    [notice] = list_notices(console.context.engine, get_request(console.context.engine,
                                                                reference)["id"])
    assert (notice["status"], notice["attempts"]) == ("pending", 1)
    assert "HTTP 503" in notice["last_error"] and phone not in notice["last_error"]
    with console.context.engine.begin() as conn:  # the retry time has come
        conn.execute(update(notices_table).values(next_attempt_at=notice["noticed_at"]))
    assert deliver_all(console) == 1 and deliver_all(console) == 0
    [text] = api.sent_to(phone)
    assert f"your appointment {reference} on " in text and text.count("is confirmed") == 1
