"""Calendar mode by SMS: free times come as numbered replies, "1" books the first, the
patient's phone shows the booked time. Twilio's signed webhook in, a fake Twilio API out."""

from __future__ import annotations

from datetime import timezone
from typing import Any

from actions.calendar import slot_name
from actions.storage import get_engine, list_requests
from tests.e2e.calendar_rig import CalendarRig
from tests.e2e.test_sms import new_number, text


def test_booking_a_free_time_by_numbered_replies(calendar_rig: CalendarRig) -> None:
    sms = calendar_rig
    patient = new_number()
    before = len(sms.calendar.event_names())

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
    assert len(sms.calendar.event_names()) == before + 1
    assert f"{slot_name(row['appointment_start'].replace(tzinfo=timezone.utc))}" in \
        sms.calendar.event_names()
