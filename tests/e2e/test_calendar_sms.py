"""Calendar mode by SMS: free times come as numbered replies, "1" books the first, the
patient's phone shows the booked time. Twilio's signed webhook in, a fake Twilio API out."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import pytest

from actions.storage import get_engine, list_requests
from scripts.serve import DEFAULT_MODEL, Stack, StackConfig, free_port
from tests.caldav_server import CalDavServer
from tests.e2e.test_sms import new_number, text
from tests.fake_twilio import FakeTwilio


@dataclass
class SmsCalendar:
    """What tests/e2e/test_sms.py's helpers need (rasa_url, twilio) plus the calendar."""

    stack: Stack
    twilio: dict[str, str]
    api: FakeTwilio
    calendar: CalDavServer
    database_url: str

    @property
    def rasa_url(self) -> str:
        return self.stack.rasa_url


@pytest.fixture(scope="module")
def sms(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmsCalendar]:
    if not DEFAULT_MODEL.exists():
        pytest.fail(f"no trained model at {DEFAULT_MODEL}: run `make train` (make e2e does)")
    base = tmp_path_factory.mktemp("calendar-sms")
    twilio = {"TWILIO_ACCOUNT_SID": "AC" + "0123456789abcdef" * 2,
              "TWILIO_AUTH_TOKEN": "test-auth-token-not-a-secret",
              "TWILIO_NUMBER": "+15550100200",
              "TWILIO_API_BASE_URL": f"http://127.0.0.1:{free_port()}"}
    with ExitStack() as cleanup:
        calendar = cleanup.enter_context(CalDavServer())
        api = cleanup.enter_context(FakeTwilio(int(twilio["TWILIO_API_BASE_URL"]
                                                   .rsplit(":", 1)[1]),
                                               twilio["TWILIO_ACCOUNT_SID"],
                                               twilio["TWILIO_AUTH_TOKEN"]))
        database_url = f"sqlite:///{base / 'clinic.db'}"
        env = {**twilio, "DATABASE_URL": database_url,
               "TRACKER_DATABASE_URL": f"sqlite:///{base / 'conversations.db'}",
               "OUTBOX_DIR": str(base / "outbox"), "CALENDAR_URL": calendar.url,
               "CALENDAR_USER": calendar.user, "CALENDAR_PASSWORD": calendar.password}
        stack = Stack(StackConfig(rasa_port=free_port(), action_port=free_port(),
                                  log_dir=base / "logs", extra_env=env,
                                  only=("action server", "rasa server")))
        cleanup.callback(stack.stop)
        stack.start()
        yield SmsCalendar(stack, twilio, api, calendar, database_url)


def test_booking_a_free_time_by_numbered_replies(sms: SmsCalendar) -> None:
    patient = new_number()

    def say(body: str, replies: int = 1) -> list[Any]:
        return text(sms, sms.api, patient, body, replies)

    say("I'd like to book an appointment", 4)
    say("Hana Sato")
    say("1")  # yes, the number I text from
    say("next monday morning")
    say("back pain")
    [slots] = say("2")  # I've been before
    assert "Reply 1 for Monday" in slots and "Other times" in slots
    first = slots.split("Reply 1 for ", 1)[1].split("\n", 1)[0]
    [summary] = say("1")
    assert first in summary
    [booked] = say("1")
    assert f"Your appointment is booked, Hana Sato: {first}" in booked
    [row] = [r for r in list_requests(get_engine(sms.database_url))
             if r["sender_id"] == patient]
    assert row["phone"] == patient and row["calendar_uid"]
    assert len([n for n in sms.calendar.event_names() if n.startswith("slot-")]) == 1
