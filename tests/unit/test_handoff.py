"""Submitting a confirmed request: stored once, queued for the front desk, patient told."""

from __future__ import annotations

from actions.handoff import ActionCancelBooking, ActionSubmitBooking
from actions.settings import get_settings
from actions.storage import get_engine, list_requests

FILLED = {
    "patient_name": "Maria Lopez",
    "patient_contact": "(212) 555-0123",
    "patient_phone": "+12125550123",
    "patient_email": None,
    "preferred_time": "Tuesday 1 December 2026, 12:00 pm-5:00 pm",
    "preferred_time_data": {"day": "2026-12-01", "start": "12:00", "end": "17:00",
                            "exact": False},
    "visit_reason": "migraines twice a week",
    "patient_status": "new",
    "booking_confirmed": True,
}
ACTIVATED = [{"event": "active_loop", "name": "booking_form", "timestamp": 1764000000.0}]


def stored_rows():
    return list_requests(get_engine(get_settings().database_url))


async def test_confirmed_request_is_stored_and_patient_gets_a_reference(
    settings_env, make_tracker, dispatcher, domain
):
    tracker = make_tracker(slots=FILLED, events=ACTIVATED, sender_id="web-123")
    events = await ActionSubmitBooking().run(dispatcher, tracker, domain)

    [row] = stored_rows()
    assert row["name"] == "Maria Lopez"
    assert row["phone"] == "+12125550123"
    assert (row["preferred_day"], row["preferred_start"], row["preferred_end"]) == (
        "2026-12-01", "12:00", "17:00")
    assert row["reason"] == "migraines twice a week"
    assert (row["channel"], row["sender_id"], row["status"]) == ("rest", "web-123", "new")
    assert [(d["target"], d["status"]) for d in row["deliveries"]] == [("file", "pending")]

    [message] = dispatcher.messages
    assert message["response"] == "utter_booking_submitted"
    assert message["reference"] == row["reference"]
    slots = {e["name"]: e["value"] for e in events}
    assert slots["booking_reference"] == row["reference"]
    assert slots["patient_name"] is None and slots["booking_confirmed"] is None


async def test_a_repeated_submission_of_the_same_form_is_stored_once(
    settings_env, make_tracker, dispatcher, domain
):
    tracker = make_tracker(slots=FILLED, events=ACTIVATED)
    await ActionSubmitBooking().run(dispatcher, tracker, domain)
    await ActionSubmitBooking().run(dispatcher, tracker, domain)
    rows = stored_rows()
    assert len(rows) == 1
    references = [m["reference"] for m in dispatcher.messages]
    assert references == [rows[0]["reference"]] * 2


async def test_a_second_form_in_the_same_conversation_is_a_new_request(
    settings_env, make_tracker, dispatcher, domain
):
    await ActionSubmitBooking().run(dispatcher, make_tracker(slots=FILLED, events=ACTIVATED),
                                    domain)
    later = ACTIVATED + [{"event": "active_loop", "name": "booking_form",
                          "timestamp": 1764000900.0}]
    await ActionSubmitBooking().run(dispatcher, make_tracker(slots=FILLED, events=later), domain)
    assert len(stored_rows()) == 2


async def test_webhook_and_smtp_settings_add_their_deliveries(
    settings_env, monkeypatch, make_tracker, dispatcher, domain
):
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("BOOKING_WEBHOOK_URL", "http://127.0.0.1:9/hook")
    monkeypatch.setenv("BOOKING_WEBHOOK_SECRET", "test-secret")
    get_settings.cache_clear()
    await ActionSubmitBooking().run(dispatcher, make_tracker(slots=FILLED, events=ACTIVATED),
                                    domain)
    [row] = stored_rows()
    assert sorted(d["target"] for d in row["deliveries"]) == ["email", "webhook"]


async def test_database_down_tells_the_patient_to_call(
    settings_env, monkeypatch, make_tracker, dispatcher, domain
):
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:9/none")
    monkeypatch.setattr("actions.handoff.asyncio.sleep", _no_sleep)
    get_settings.cache_clear()
    events = await ActionSubmitBooking().run(
        dispatcher, make_tracker(slots=FILLED, events=ACTIVATED), domain)
    assert [m["response"] for m in dispatcher.messages] == ["utter_booking_store_failed"]
    assert {e["name"]: e["value"] for e in events}["patient_name"] is None


async def _no_sleep(_seconds: float) -> None:
    return None


async def test_unconfirmed_form_is_not_submitted(settings_env, make_tracker, dispatcher, domain):
    tracker = make_tracker(slots={**FILLED, "booking_confirmed": None}, events=ACTIVATED)
    assert await ActionSubmitBooking().run(dispatcher, tracker, domain) == []
    assert stored_rows() == []


async def test_cancel_forgets_the_details(make_tracker, dispatcher, domain):
    events = await ActionCancelBooking().run(dispatcher, make_tracker(slots=FILLED), domain)
    assert [m["response"] for m in dispatcher.messages] == ["utter_booking_cancelled"]
    slots = {e["name"]: e["value"] for e in events}
    assert all(slots[name] is None for name in FILLED)
