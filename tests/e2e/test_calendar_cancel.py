"""Calendar mode: a patient cancels in a new conversation with the reference and the phone
number or e-mail the appointment was booked with; the event leaves the calendar, staff are
told. Wrong details cancel nothing."""

from __future__ import annotations

import uuid

from actions.storage import get_engine, list_requests
from tests.conftest import render
from tests.e2e.test_calendar_booking import offered, rig, to_the_offer  # noqa: F401 - fixture


def book(rig) -> tuple[str, str]:  # noqa: F811
    sender, replies = to_the_offer(rig, "next thursday afternoon", "I've been before")
    rig.texts(sender, offered(replies)[0])
    rig.texts(sender, "yes")
    [row] = rig.requests_of(sender)
    return sender, row["reference"]


def test_cancel_with_reference_and_phone(rig, domain):  # noqa: F811
    _, reference = book(rig)
    holds_before = [n for n in rig.calendar.event_names() if n.startswith("slot-")]
    patient = f"cal-{uuid.uuid4().hex[:10]}"
    rig.send(patient, "/session_start")
    assert rig.texts(patient, f"I need to cancel my appointment {reference}") == \
        [render(domain, "utter_ask_booking_contact")]
    [done] = rig.texts(patient, "212 555 0123")
    assert done.startswith(f"Your appointment {reference} on ") and "is cancelled" in done
    holds_after = [n for n in rig.calendar.event_names() if n.startswith("slot-")]
    assert len(holds_after) == len(holds_before) - 1
    [original] = [r for r in list_requests(get_engine(rig.database_url))
                  if r["reference"] == reference]
    assert original["status"] == "closed"
    [message] = rig.requests_of(patient)
    assert message["kind"] == "handoff" and reference in message["message"]


def test_wrong_details_cancel_nothing(rig, domain):  # noqa: F811
    _, reference = book(rig)
    before = rig.calendar.event_names()
    patient = f"cal-{uuid.uuid4().hex[:10]}"
    rig.send(patient, "/session_start")
    rig.texts(patient, f"please cancel {reference}")
    assert rig.texts(patient, "someone.else@example.com") == \
        [render(domain, "utter_cancel_details_mismatch")]
    assert rig.calendar.event_names() == before
    [original] = [r for r in list_requests(get_engine(rig.database_url))
                  if r["reference"] == reference]
    assert original["status"] == "new"


def test_calendar_down_at_the_confirmation_keeps_the_booking(rig, domain):  # noqa: F811
    sender, replies = to_the_offer(rig, "next friday morning")
    rig.texts(sender, offered(replies)[0])
    rig.calendar.stop()
    try:
        texts = rig.texts(sender, "yes")
    finally:
        rig.calendar.start()
    [row] = rig.requests_of(sender)
    assert texts == [render(domain, "utter_calendar_unavailable"),
                     render(domain, "utter_booking_submitted", name="Maria Lopez",
                            reference=row["reference"])]
    assert row["appointment_start"] is None and row["preferred_text"]  # the chosen time
    assert [d["target"] for d in row["deliveries"]] == ["file"]
