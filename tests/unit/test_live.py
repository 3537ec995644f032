"""A person, live, on the assistant's side (actions/live.py): asking for a person opens a live
chat and pauses the conversation only when live chat is on, the clinic is open and someone is
available; a wait that ran out is handed back with the leave-a-message flow."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from actions import live, live_store
from actions.clinic import get_clinic
from actions.handoff import ActionOfferHandoff
from actions.settings import get_settings
from actions.storage import get_engine, utcnow

# clinic.yml: Monday-Friday from 09:00, America/New_York
MONDAY_NOON = datetime(2026, 11, 30, 17, 0, tzinfo=timezone.utc)  # 12:00 in New York
SUNDAY_NOON = datetime(2026, 11, 29, 17, 0, tzinfo=timezone.utc)


@pytest.fixture()
def live_env(settings_env, monkeypatch):
    monkeypatch.setenv("RASA_API_TOKEN", "unit-test-token-0123456789")
    monkeypatch.setenv("LIVE_CHAT_HOURS", "always")
    for name in ("LIVE_CHAT", "LIVE_WAIT_MINUTES", "LIVE_JOIN_MINUTES"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    engine = live.ready(get_engine(get_settings().database_url))
    yield engine
    get_settings.cache_clear()


def event_names(events):
    return [event["event"] for event in events]


async def test_someone_available_opens_a_live_chat_and_pauses(live_env, make_tracker,
                                                               dispatcher, domain):
    live_store.mark_present(live_env, "ana")
    tracker = make_tracker(intent="request_human", sender_id="web-1", channel="socketio",
                           slots={"language": "es"})
    events = await ActionOfferHandoff().run(dispatcher, tracker, domain)

    assert [m["response"] for m in dispatcher.messages] == ["utter_live_waiting"]
    assert dispatcher.messages[0]["minutes"] == 2
    assert event_names(events) == ["slot", "action", "pause"]
    assert events[0]["name"] == "flag_handoff" and events[0]["value"] is True
    assert events[1]["name"] == "action_listen"
    chat = live_store.open_chat_of(live_env, "web-1")
    assert (chat.status, chat.channel, chat.language, chat.reason) == (
        "waiting", "socketio", "es", "asked")
    assert chat.wait_until - chat.requested_at == timedelta(minutes=5)


@pytest.mark.parametrize("case", ["nobody signed in", "unavailable", "live chat off"])
async def test_otherwise_the_message_for_staff_as_before(case, live_env, monkeypatch,
                                                         make_tracker, dispatcher, domain):
    if case == "unavailable":
        live_store.mark_present(live_env, "ana", available=False)
    if case == "live chat off":
        live_store.mark_present(live_env, "ana")
        monkeypatch.setenv("LIVE_CHAT", "false")
        get_settings.cache_clear()
    events = await ActionOfferHandoff().run(dispatcher, make_tracker(intent="request_human"),
                                            domain)
    assert [m["response"] for m in dispatcher.messages] == ["utter_handoff_offer"]
    assert event_names(events) == ["slot"]
    assert live_store.open_chat_of(live_env, "test-sender") is None


def test_only_during_opening_hours_unless_always(live_env, monkeypatch):
    settings, clinic = get_settings(), get_clinic()
    live_store.mark_present(live_env, "ana", now=SUNDAY_NOON)
    assert live.live_chat_now(settings, clinic, live_env, SUNDAY_NOON) == (True, ["ana"])
    monkeypatch.setenv("LIVE_CHAT_HOURS", "opening")
    get_settings.cache_clear()
    opening = get_settings()
    assert live.live_chat_now(opening, clinic, live_env, SUNDAY_NOON) == (False, [])
    live_store.mark_present(live_env, "bo", now=MONDAY_NOON)
    assert live.live_chat_now(opening, clinic, live_env, MONDAY_NOON) == (True, ["bo"])
    assert live.clinic_open(clinic, MONDAY_NOON)
    assert not live.clinic_open(clinic, MONDAY_NOON.replace(hour=3))  # 22:00 the night before


async def test_a_wait_that_ran_out_gets_the_leave_a_message_flow(live_env, make_tracker,
                                                                  dispatcher, domain):
    live_store.mark_present(live_env, "ana")  # someone is there, but no live chat again
    tracker = make_tracker(intent="request_human",
                           entities=[{"entity": "live_chat", "value": "unavailable"}])
    events = await ActionOfferHandoff().run(dispatcher, tracker, domain)
    assert [m["response"] for m in dispatcher.messages] == ["utter_live_unavailable"]
    assert event_names(events) == ["slot"]
    assert live_store.open_chat_of(live_env, "test-sender") is None


class FakeApi:
    resumed = staticmethod(lambda: {"event": "resume"})

    def __init__(self, fail: int = 0) -> None:
        self.calls: list[tuple] = []
        self.fail = fail

    def append_events(self, sender_id, events, **options):
        if self.fail:
            self.fail -= 1
            from actions.rasa_api import RasaApiError

            raise RasaApiError("HTTP 503", 503)
        self.calls.append(("append", sender_id, events, options))

    def trigger_intent(self, sender_id, name, entities=None, **options):
        self.calls.append(("trigger", sender_id, name, entities))


def test_the_worker_hands_expired_waits_back(live_env):
    now = utcnow()
    live_store.open_chat(live_env, "late", "rest", "en", "asked", timedelta(minutes=1),
                         now - timedelta(minutes=2))
    live_store.open_chat(live_env, "fresh", "rest", "en", "asked", timedelta(minutes=5), now)
    api = FakeApi()
    assert live.expire_waits(live_env, get_settings(), now, api=api) == 1
    assert api.calls == [
        ("append", "late", [{"event": "resume"}], {"execute_side_effects": False}),
        ("trigger", "late", "request_human", {"live_chat": "unavailable"}),
    ]
    assert live_store.open_chat_of(live_env, "late") is None
    assert live_store.open_chat_of(live_env, "fresh").status == "waiting"
    assert live.expire_waits(live_env, get_settings(), now, api=api) == 0  # once only


def test_a_hand_back_that_failed_is_tried_again_by_any_worker(live_env):
    now = utcnow()
    live_store.open_chat(live_env, "late-2", "rest", "en", "asked", timedelta(minutes=1),
                         now - timedelta(minutes=2))
    api = FakeApi(fail=1)
    assert live.expire_waits(live_env, get_settings(), now, api=api) == 0
    # claimed by the worker that failed until its lease runs out: no one doubles it meanwhile
    assert live.expire_waits(live_env, get_settings(), now + timedelta(seconds=5),
                             api=api) == 0
    assert api.calls == []
    # then tried again; nothing of it was in the worker's memory (a restarted worker, or
    # another one, finds it in the database)
    later = now + live_store.HAND_BACK_LEASE + timedelta(seconds=1)
    assert live.expire_waits(live_env, get_settings(), later, api=FakeApi()) == 1
    assert live.expire_waits(live_env, get_settings(), later + timedelta(minutes=5),
                             api=api) == 0  # once only
    assert api.calls == []


def test_two_workers_hand_one_chat_back_once(live_env):
    now = utcnow()
    live_store.open_chat(live_env, "late-3", "rest", "en", "asked", timedelta(minutes=1),
                         now - timedelta(minutes=2))
    live_store.expire_waiting(live_env, now)
    first, second = live_store.claim_hand_backs(live_env, now), \
        live_store.claim_hand_backs(live_env, now)
    assert [c.sender_id for c in first] == ["late-3"] and second == []


def test_a_chat_staff_took_up_again_is_not_handed_back(live_env):
    now = utcnow()
    live_store.open_chat(live_env, "late-4", "rest", "en", "asked", timedelta(minutes=1),
                         now - timedelta(minutes=2))
    live_store.expire_waiting(live_env, now)
    live_store.open_chat(live_env, "late-4", "rest", "en", "staff", timedelta(minutes=5), now)
    api = FakeApi()
    assert live.expire_waits(live_env, get_settings(), now, api=api) == 0
    assert api.calls == [] and live_store.claim_hand_backs(live_env, now) == []


async def test_no_live_chat_for_a_conversation_rasas_api_cannot_reach(
        live_env, make_tracker, dispatcher, domain):
    """A REST client's id with a space: staff could neither reply nor hand it back."""
    live_store.mark_present(live_env, "ana")
    tracker = make_tracker(intent="request_human", sender_id="maria lopez")
    events = await ActionOfferHandoff().run(dispatcher, tracker, domain)
    assert [m["response"] for m in dispatcher.messages] != ["utter_live_waiting"]
    assert not any(e.get("event") == "pause" for e in events)
    assert live_store.open_chat_of(live_env, "maria lopez") is None


def test_a_table_of_the_first_version_gets_the_new_columns(tmp_path):
    from sqlalchemy import create_engine, inspect, text

    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as conn:  # live_chats as the first version made it
        conn.execute(text("CREATE TABLE live_chats (id INTEGER PRIMARY KEY, sender_id "
                          "VARCHAR(128) NOT NULL, open_key VARCHAR(128) UNIQUE, channel "
                          "VARCHAR(32) NOT NULL, language VARCHAR(8) NOT NULL, reason "
                          "VARCHAR(16) NOT NULL, status VARCHAR(16) NOT NULL, requested_at "
                          "DATETIME NOT NULL, wait_until DATETIME NOT NULL, taken_by "
                          "VARCHAR(64), taken_at DATETIME, ended_at DATETIME, ended_by "
                          "VARCHAR(64))"))
    live_store.ensure_tables(engine)
    columns = {c["name"] for c in inspect(engine).get_columns("live_chats")}
    assert {"hand_back_lease", "handed_back_at"} <= columns
    now = utcnow()
    live_store.open_chat(engine, "old", "rest", "en", "asked", timedelta(minutes=1),
                         now - timedelta(minutes=2))
    live_store.expire_waiting(engine, now)
    assert [c.sender_id for c in live_store.claim_hand_backs(engine, now)] == ["old"]


def test_the_delivery_worker_pass_never_raises(live_env, monkeypatch):
    from actions import outbox

    def broken(*args, **kwargs):
        raise RuntimeError("database gone")

    monkeypatch.setattr(live, "expire_waits", broken)
    assert outbox.live_pass(live_env, get_settings()) == 0


async def test_no_one_signed_in_queues_one_alert_e_mail_without_health_details(
        live_env, make_tracker, dispatcher, domain, tmp_path):
    from actions import live_alerts, outbox
    from actions.safety import ActionEmergency

    tracker = make_tracker(intent="request_human", sender_id="web-7")
    await ActionOfferHandoff().run(dispatcher, tracker, domain)
    await ActionOfferHandoff().run(dispatcher, tracker, domain)  # once per conversation
    emergency = make_tracker(text="my chest hurts so much", intent="emergency",
                             sender_id="web-7")
    await ActionEmergency().run(dispatcher, emergency, domain)
    live_store.mark_present(live_env, "ana")  # someone is there now: no alert
    await ActionEmergency().run(dispatcher, make_tracker(intent="emergency",
                                                         sender_id="web-8"), domain)

    assert live_alerts.send_due_alerts(live_env, get_settings(), get_clinic()) == 2
    mails = sorted((tmp_path / "outbox").glob("alert-*.eml"))
    assert len(mails) == 2
    bodies = [mail.read_text() for mail in mails]
    assert "asked the assistant for a person" in bodies[0]
    assert "flagged as a possible emergency" in bodies[1]
    for body in bodies:
        assert "/staff/conversations/web-7" in body
        assert "chest" not in body and "To: frontdesk@clinic.example" in body
    assert live_alerts.send_due_alerts(live_env, get_settings(), get_clinic()) == 0
    assert outbox.live_pass(live_env, get_settings()) == 0  # sent once


async def test_outside_live_chat_time_no_alert(live_env, monkeypatch, make_tracker, dispatcher,
                                               domain):
    from actions import live_alerts

    monkeypatch.setenv("LIVE_CHAT", "false")
    get_settings.cache_clear()
    await ActionOfferHandoff().run(dispatcher, make_tracker(intent="request_human"), domain)
    assert live_alerts.send_due_alerts(live_env, get_settings(), get_clinic()) == 0
    assert not live.alert_if_no_one(get_settings(), "waiting", "x")
