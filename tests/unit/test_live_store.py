"""The live-chat tables: one open chat per conversation, one winner of a race to accept it,
waits that run out, and who is available (real SQLite files, several threads)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from actions import live_store
from actions.storage import get_engine, utcnow


@pytest.fixture()
def engine(tmp_path):
    engine = get_engine(f"sqlite:///{tmp_path / 'clinic.db'}")
    live_store.ensure_tables(engine)
    return engine


WAIT = timedelta(minutes=5)


def test_a_conversation_has_one_open_chat_and_a_new_one_after_it_ended(engine):
    chat, opened = live_store.open_chat(engine, "p1", "socketio", "es", "asked", WAIT)
    again, opened_again = live_store.open_chat(engine, "p1", "socketio", "es", "asked", WAIT)
    assert opened and not opened_again and again.id == chat.id and chat.status == "waiting"
    assert live_store.end_chat(engine, "p1", "alice", "closed").status == "closed"
    assert live_store.open_chat_of(engine, "p1") is None
    new, opened = live_store.open_chat(engine, "p1", "socketio", "es", "asked", WAIT)
    assert opened and new.id != chat.id


def test_two_staff_racing_to_accept_get_one_winner(engine):
    for round_number in range(5):
        sender = f"race-{round_number}"
        live_store.open_chat(engine, sender, "socketio", "en", "asked", WAIT)
        winners: list[str] = []
        barrier = threading.Barrier(6)

        def take(name: str, sender: str = sender, barrier: threading.Barrier = barrier,
                 winners: list[str] = winners) -> None:
            barrier.wait()
            if live_store.accept(engine, sender, name):
                winners.append(name)

        threads = [threading.Thread(target=take, args=(f"staff{i}",)) for i in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        chat = live_store.open_chat_of(engine, sender)
        assert len(winners) == 1 and chat.taken_by == winners[0]
        # the winner may accept again (a second tab); the others still get nothing
        assert live_store.accept(engine, sender, winners[0]) is not None
        assert live_store.accept(engine, sender, "someone-else") is None


def test_only_the_one_who_has_it_ends_a_taken_chat(engine):
    live_store.open_chat(engine, "p2", "twilio", "en", "asked", WAIT)
    live_store.accept(engine, "p2", "alice")
    assert live_store.end_chat(engine, "p2", "bob", "released") is None
    released = live_store.end_chat(engine, "p2", "alice", "released")
    assert (released.status, released.ended_by) == ("released", "alice")
    assert live_store.end_chat(engine, "p2", "alice", "released") is None  # nothing open


def test_a_wait_that_ran_out_expires_once_and_a_taken_chat_never(engine):
    start = utcnow()
    live_store.open_chat(engine, "late", "rest", "en", "asked", WAIT, now=start)
    live_store.open_chat(engine, "taken", "rest", "en", "asked", WAIT, now=start)
    live_store.accept(engine, "taken", "alice", now=start + timedelta(minutes=1))
    assert live_store.expire_waiting(engine, now=start + timedelta(minutes=4)) == []
    [expired] = live_store.expire_waiting(engine, now=start + timedelta(minutes=6))
    assert (expired.sender_id, expired.status) == ("late", "expired")
    assert live_store.expire_waiting(engine, now=start + timedelta(minutes=7)) == []
    assert [c.sender_id for c in live_store.open_chats(engine)] == ["taken"]


def test_available_staff_are_those_seen_lately_and_available(engine):
    now = utcnow()
    live_store.mark_present(engine, "alice", True, now=now)
    live_store.mark_present(engine, "bob", False, now=now)
    live_store.mark_present(engine, "carol", True, now=now - timedelta(minutes=10))
    assert live_store.available_staff(engine, now=now) == ["alice"]
    live_store.mark_present(engine, "bob", True, now=now)
    live_store.mark_absent(engine, "alice")
    assert live_store.available_staff(engine, now=now) == ["bob"]


def test_an_unknown_reason_or_end_is_refused(engine):
    with pytest.raises(ValueError):
        live_store.open_chat(engine, "p3", "rest", "en", "bored", WAIT)
    live_store.open_chat(engine, "p3", "rest", "en", "asked", WAIT)
    with pytest.raises(ValueError):
        live_store.end_chat(engine, "p3", "alice", "expired")
