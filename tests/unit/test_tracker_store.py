"""The tracker store's prebuilt queries read and count exactly what Rasa's own queries do."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy import text

from components.tracker_store import UrlSQLTrackerStore

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(ROOT / "domain.yml")


@pytest.fixture
def store(tmp_path, domain) -> UrlSQLTrackerStore:
    return UrlSQLTrackerStore(domain, host=f"sqlite:///{tmp_path / 'conversations.db'}")


def session(t: float, text_: str) -> list:
    return [ActionExecuted("action_session_start", timestamp=t), SessionStarted(timestamp=t),
            ActionExecuted("action_listen", timestamp=t),
            UserUttered(text_, {"name": "greet", "confidence": 1.0}, timestamp=t + 1),
            SlotSet("patient_name", f"name at {t}", timestamp=t + 1),
            BotUttered("Hello!", timestamp=t + 2), ActionExecuted("action_listen", timestamp=t + 2)]


def rasa_retrieve(store, sender: str, everything: bool = False):
    return asyncio.run(SQLTrackerStore._retrieve(store, sender, everything))


def save(store, sender: str, events: list) -> DialogueStateTracker:
    tracker = DialogueStateTracker.from_events(sender, events, store.domain.slots)
    asyncio.run(store.save(tracker))
    return tracker


def test_latest_session_read_as_rasa_reads_it(store):
    save(store, "maria", session(100, "first visit"))
    later = save(store, "maria", session(100, "first visit") + session(5000, "back again"))
    save(store, "john", session(200, "someone else"))
    ours = asyncio.run(store.retrieve("maria"))
    rasa = rasa_retrieve(store, "maria")
    assert [e.as_dict() for e in ours.events] == [e.as_dict() for e in rasa.events]
    assert ours.get_slot("patient_name") == "name at 5000"
    assert ours.events[3].text == "back again" and len(ours.events) == 7
    assert len(asyncio.run(store.retrieve_full_tracker("maria")).events) == len(later.events)
    assert asyncio.run(store.retrieve("nobody")) is None


def test_saving_again_stores_only_new_events(store):
    events = session(100, "hello")
    tracker = save(store, "maria", events)
    asyncio.run(store.save(tracker))  # nothing new: nothing added
    more = events + [UserUttered("book", {"name": "book_appointment", "confidence": 1.0},
                                 timestamp=110)]
    save(store, "maria", more)
    with store.engine.connect() as connection:
        stored = connection.execute(text(
            "SELECT count(*) FROM events WHERE sender_id = 'maria'")).scalar_one()
    assert stored == len(more)


@pytest.mark.parametrize("events", [
    [],
    [ActionExecuted("action_listen", timestamp=1)],  # no session start at all: every event
    session(100, "a"),
    session(100, "a") + session(900, "b"),
])
def test_counts_what_rasa_counts(store, events):
    if events:
        save(store, "maria", events)
    grown = DialogueStateTracker.from_events(
        "maria", events + [BotUttered("more", timestamp=2000)], store.domain.slots)
    with store.session_scope() as db:
        ours = list(store._additional_events(db, grown))
        rasa = list(SQLTrackerStore._additional_events(store, db, grown))
    assert [e.as_dict() for e in ours] == [e.as_dict() for e in rasa]


def test_a_turn_on_a_read_conversation_adds_its_own_events(store):
    save(store, "maria", session(100, "a") + session(900, "b"))
    tracker = asyncio.run(store.retrieve("maria"))
    tracker.update(BotUttered("more", timestamp=2000))
    with store.session_scope() as db:
        assert [e.text for e in store._additional_events(db, tracker)] == ["more"]
