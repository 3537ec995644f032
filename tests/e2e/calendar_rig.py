"""The calendar-mode servers the calendar tests share (one start for all of them): a real
CalDAV server (Radicale) with a weekly meeting and a day off, the action server and the Rasa
server pointed at it, Twilio's webhook with a fake Twilio API for the SMS test, and the web
page with the chat widget for the browser test."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from actions.calendar import CalendarClient
from actions.clinic import get_clinic
from actions.storage import get_engine, list_requests
from scripts.serve import Stack, StackConfig, free_port
from tests.caldav_server import CalDavServer
from tests.fake_twilio import FakeTwilio

TZ = get_clinic().tz
TWILIO = {"TWILIO_ACCOUNT_SID": "AC" + "0123456789abcdef" * 2,
          "TWILIO_AUTH_TOKEN": "test-auth-token-not-a-secret",
          "TWILIO_NUMBER": "+15550100200"}


def next_weekday(weekday: int) -> date:
    today = datetime.now(TZ).date()
    return today + timedelta(days=(weekday - today.weekday()) % 7 or 7)


def ics(uid: str, body: str) -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20261201T000000Z\r\n{body}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


@dataclass
class CalendarRig:
    calendar: CalDavServer
    assistant: Stack
    database_url: str
    twilio: dict[str, str]  # the phone channel's settings (tests/e2e/test_sms.py's helpers)
    api: FakeTwilio

    @property
    def rasa_url(self) -> str:
        return self.assistant.rasa_url

    def send(self, sender: str, text: str) -> list[dict[str, Any]]:
        reply = requests.post(f"{self.assistant.rasa_url}/webhooks/rest/webhook",
                              json={"sender": sender, "message": text}, timeout=120)
        reply.raise_for_status()
        return reply.json()

    def texts(self, sender: str, text: str) -> list[str]:
        return [m.get("text", "") for m in self.send(sender, text)]

    def client(self) -> CalendarClient:
        return CalendarClient(self.calendar.url, self.calendar.user, self.calendar.password,
                              timeout=5, cache_seconds=0)

    def requests_of(self, sender: str) -> list[dict[str, Any]]:
        return [r for r in list_requests(get_engine(self.database_url))
                if r["sender_id"] == sender]


def calendar_servers(base: Path) -> Iterator[CalendarRig]:
    with ExitStack() as cleanup:
        calendar = cleanup.enter_context(CalDavServer(password="calendar-test-password"))
        tuesday = next_weekday(1)
        # every Tuesday 12:00-15:00 in the clinic's zone is busy (a weekly staff meeting)
        calendar.put_event(calendar.url, "meeting.ics", ics(
            "meeting@test", f"DTSTART;TZID={TZ.key}:{tuesday:%Y%m%d}T120000\r\n"
            f"DTEND;TZID={TZ.key}:{tuesday:%Y%m%d}T150000\r\nRRULE:FREQ=WEEKLY;COUNT=12\r\n"
            "SUMMARY:Staff meeting"))
        # next Wednesday is a day off
        wednesday = next_weekday(2)
        calendar.put_event(calendar.url, "day-off.ics", ics(
            "day-off@test", f"DTSTART;VALUE=DATE:{wednesday:%Y%m%d}\r\n"
            f"DTEND;VALUE=DATE:{wednesday + timedelta(days=1):%Y%m%d}\r\nSUMMARY:Day off"))
        twilio = {**TWILIO, "TWILIO_API_BASE_URL": f"http://127.0.0.1:{free_port()}"}
        api = cleanup.enter_context(FakeTwilio(
            int(twilio["TWILIO_API_BASE_URL"].rsplit(":", 1)[1]),
            twilio["TWILIO_ACCOUNT_SID"], twilio["TWILIO_AUTH_TOKEN"]))
        database_url = f"sqlite:///{base / 'clinic.db'}"
        web_port = free_port()
        env = {
            **twilio,
            "DATABASE_URL": database_url,
            "TRACKER_DATABASE_URL": f"sqlite:///{base / 'conversations.db'}",
            "OUTBOX_DIR": str(base / "outbox"),
            "CALENDAR_URL": calendar.url,
            "CALENDAR_USER": calendar.user,
            "CALENDAR_PASSWORD": calendar.password,
            "CALENDAR_TIMEOUT_MS": "2000",
            "CALENDAR_CACHE_SECONDS": "0",
            "STAFF_SECRET_KEY": "calendar-test-secret-key-" + "x" * 32,  # nothing in var/
            # the page as the browser test opens it (the web server's own default names the
            # host it listens on, which the environment may set otherwise)
            "WEB_ALLOWED_ORIGINS": f"http://127.0.0.1:{web_port},http://localhost:{web_port}",
        }
        # the web server starts beside Rasa (which takes longest) and adds no waiting
        assistant = Stack(StackConfig(rasa_port=free_port(), action_port=free_port(),
                                      web_port=web_port, log_dir=base / "logs", extra_env=env,
                                      only=("action server", "rasa server", "web server")))
        cleanup.callback(assistant.stop)
        assistant.start()
        yield CalendarRig(calendar=calendar, assistant=assistant, database_url=database_url,
                          twilio=twilio, api=api)
