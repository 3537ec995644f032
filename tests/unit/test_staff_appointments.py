"""Calendar appointments in the staff console: the slot shown on each request, and staff
confirming or declining it, against a real CalDAV server (Radicale, ``tests/caldav_server.py``).

The console runs in-process: the real Sanic blueprint (``staff.routes.register``), driven through
its ASGI interface, with a context on a temporary database and the test calendar. Sessions are
made with ``Auth.create_session`` (sign-in itself is tested in ``test_staff_auth.py`` and the
e2e suite); the session cookie and CSRF token are sent as a browser or API client sends them.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
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
from web.settings import WebSettings

UTC = timezone.utc
CLINIC = get_clinic()
TZ = CLINIC.tz
SECRET = "unit-test-staff-secret-" + "x" * 32


def next_tuesday() -> date:
    today = datetime.now(TZ).date() + timedelta(days=7)
    return today + timedelta(days=(1 - today.weekday()) % 7)


# ---- a minimal ASGI client for the Sanic app ---------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self) -> Any:
        return json.loads(self.body)


class AsgiClient:
    """Requests to an ASGI app on a private event loop, with the lifespan started first."""

    def __init__(self, app: Sanic) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self._lifespan: asyncio.Queue = asyncio.Queue()
        self._lifespan_out: asyncio.Queue = asyncio.Queue()
        self._task = self.loop.create_task(self.app(
            {"type": "lifespan", "asgi": {"version": "3.0"}},
            self._lifespan.get, self._lifespan_out.put))
        self._lifespan_message("startup")

    def _lifespan_message(self, what: str) -> None:
        async def exchange() -> dict:
            await self._lifespan.put({"type": f"lifespan.{what}"})
            return await asyncio.wait_for(self._lifespan_out.get(), 30)

        answer = self.loop.run_until_complete(exchange())
        assert answer["type"] == f"lifespan.{what}.complete", answer

    def close(self) -> None:
        try:
            self._lifespan_message("shutdown")
            # Sanic 21.12 then goes on to handle a request the lifespan scope does not have
            # (AttributeError); the shutdown itself is complete at this point.
            self.loop.run_until_complete(asyncio.gather(self._task, return_exceptions=True))
        finally:
            self.loop.close()

    def request(self, method: str, path: str, body: bytes = b"",
                headers: dict[str, str] | None = None) -> Reply:
        path, _, query = path.partition("?")
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
            "query_string": query.encode(), "root_path": "",
            "headers": [(b"host", b"console.test"), *[(k.lower().encode(), v.encode())
                                                      for k, v in (headers or {}).items()]],
            "client": ("127.0.0.1", 50000), "server": ("console.test", 80),
        }
        sent: list[dict] = []
        messages = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> dict:
            if messages:
                return messages.pop(0)
            await asyncio.sleep(3600)  # the client never disconnects first
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            sent.append(message)

        self.loop.run_until_complete(asyncio.wait_for(self.app(scope, receive, send), 30))
        start = next(m for m in sent if m["type"] == "http.response.start")
        reply_headers: dict[str, str] = {}
        for key, value in start.get("headers", []):
            reply_headers[key.decode().lower()] = value.decode()
        body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        return Reply(start["status"], reply_headers, body)


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

    def booking(self, *, with_event: bool = True) -> tuple[str, str | None, datetime]:
        """A request booked (TENTATIVE, as with auto_confirm: false) next Tuesday 3 pm; its
        reference, event UID and start."""
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
                  "appointment_end": end if with_event else None, "calendar_uid": uid}
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
    entry = audit_entries(console.context.engine, 1)[0]
    assert (entry["action"], entry["target"], entry["username"]) == (
        "confirm_appointment", reference, "frontdesk")
    assert entry["details"] == {"status": "booked", "via": "page"}
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
