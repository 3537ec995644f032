"""Conversation start: the clinic's facts reach the slots that responses quote."""

from __future__ import annotations

from datetime import timedelta

import pytest

from actions import live, live_store
from actions.clinic import get_clinic
from actions.session import ActionSessionStart
from actions.settings import get_settings
from actions.storage import get_engine
from tests.conftest import variation


@pytest.fixture(autouse=True)
def clinic_database(settings_env, monkeypatch):
    """A temporary clinic database: the session start looks for an open live chat."""
    monkeypatch.setenv("RASA_API_TOKEN", "unit-test-token-0123456789")
    get_settings.cache_clear()


async def test_a_new_session_during_a_live_chat_stays_paused(dispatcher, make_tracker, domain):
    engine = live.ready(get_engine(get_settings().database_url))
    live_store.open_chat(engine, "live-1", "rest", "en", "asked", timedelta(minutes=5))
    events = await ActionSessionStart().run(dispatcher, make_tracker(sender_id="live-1"), domain)
    assert [e["event"] for e in events[-2:]] == ["action", "pause"]
    others = await ActionSessionStart().run(dispatcher, make_tracker(sender_id="other"), domain)
    assert others[-1]["event"] == "action"


async def test_session_start_fills_clinic_slots_and_listens(dispatcher, make_tracker, domain):
    tracker = make_tracker(slots={"clinic_phone": "old", "requested_slot": "x"})
    events = await ActionSessionStart().run(dispatcher, tracker, domain)

    assert events[0]["event"] == "session_started"
    assert (events[-1]["event"], events[-1]["name"]) == ("action", "action_listen")
    slots = {e["name"]: e["value"] for e in events if e["event"] == "slot"}
    clinic = get_clinic()
    assert slots["clinic_phone"] == clinic.phone
    assert slots["clinic_hours"] == clinic.hours_text()
    assert slots["clinic_practitioner"] == "Dr. Kuzminov"
    assert slots["booking_mode"] == "request"  # CALENDAR_URL is not set here
    # The domain does not carry slots over: nothing from the old session comes back.
    assert "requested_slot" not in slots
    assert [m["response"] for m in dispatcher.messages] == ["utter_privacy_notice",
                                                         "utter_disclaimer"]


async def test_in_calendar_mode_the_booking_texts_speak_of_free_times(
        dispatcher, make_tracker, domain, monkeypatch):
    from actions.settings import get_settings

    monkeypatch.setenv("CALENDAR_URL", "http://127.0.0.1:9/calendar/")
    get_settings.cache_clear()
    try:
        events = await ActionSessionStart().run(dispatcher, make_tracker(), domain)
    finally:
        get_settings.cache_clear()
    assert {e["name"]: e["value"] for e in events if e["event"] == "slot"}[
        "booking_mode"] == "calendar"
    calendar = variation(domain, "utter_booking_start", {"booking_mode": "calendar"})
    assert calendar["condition"] == [{"type": "slot", "name": "language", "value": "en"},
                                     {"type": "slot", "name": "booking_mode", "value": "calendar"}]
    assert "free times in the clinic's calendar" in calendar["text"]
    default = variation(domain, "utter_booking_start", {"booking_mode": "request"})
    assert "call you back" in default["text"] and "condition" not in default


async def test_session_start_carries_slots_over_when_the_domain_says_so(
    dispatcher, make_tracker, domain
):
    domain = {**domain, "session_config": {"carry_over_slots_to_new_session": True}}
    tracker = make_tracker(slots={"some_slot": "kept", "requested_slot": "x"})
    events = await ActionSessionStart().run(dispatcher, tracker, domain)
    slots = {e["name"]: e["value"] for e in events if e["event"] == "slot"}
    assert slots["some_slot"] == "kept"
    assert "requested_slot" not in slots


async def test_a_second_session_start_with_nothing_said_shows_no_second_notice(
    dispatcher, make_tracker, domain
):
    shown = [  # the order Rasa logs them in
        {"event": "action", "name": "action_session_start"},
        {"event": "bot", "text": "Privacy: ...", "metadata": {"utter_action":
                                                               "utter_privacy_notice"}},
        {"event": "session_started"},
        {"event": "action", "name": "action_listen"},
    ]
    tracker = make_tracker(events=shown, text="/session_start", intent="session_start")
    await ActionSessionStart().run(dispatcher, tracker, domain)
    assert dispatcher.messages == []


async def test_a_new_session_after_a_conversation_shows_the_notice_again(
    dispatcher, make_tracker, domain
):
    earlier = [
        {"event": "session_started"},
        {"event": "bot", "text": "Privacy: ...", "metadata": {"utter_action":
                                                               "utter_privacy_notice"}},
        {"event": "user", "text": "hi", "parse_data": {"intent": {"name": "greet"}}},
    ]
    await ActionSessionStart().run(dispatcher, make_tracker(events=earlier), domain)
    assert [m["response"] for m in dispatcher.messages] == ["utter_privacy_notice",
                                                           "utter_disclaimer"]
