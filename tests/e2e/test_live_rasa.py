"""A person, live, on Rasa's side, with the real stack (Rasa's HTTP API on, as with `make run`):
asking for a person while a staff member is signed in pauses the conversation; the patient's
messages get no bot reply except emergencies; a staff message appended through Rasa's API is
stored with who sent it; resuming brings the bot back; a wait that runs out is handed back by
the delivery worker with the leave-a-message flow."""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
import socketio
from sqlalchemy import update

from actions import live, live_store, rasa_api
from actions.storage import get_engine, utcnow
from tests.conftest import render

STAFF = "e2e-live-staff"


@pytest.fixture()
def staff_signed_in(assistant) -> Iterator:
    engine = live.ready(get_engine(assistant.database_url))
    live_store.mark_present(engine, STAFF)
    try:
        yield engine
    finally:  # other tests' requests for a person get today's flow
        live_store.mark_absent(engine, STAFF)


def api(assistant) -> dict:
    return {"base_url": assistant.rasa_url, "token": assistant.api_token}


def tracker(assistant, sender: str) -> dict:
    return rasa_api.get_tracker(sender, **api(assistant))


def bot_events(state: dict) -> list[dict]:
    return [e for e in state["events"] if e["event"] == "bot"]


def test_a_person_live_pauses_answers_emergencies_and_resumes(assistant, sender, domain,
                                                              staff_signed_in):
    asked = assistant.texts(sender, "i want to talk to a real person")
    assert asked == [render(domain, "utter_live_waiting", minutes=2)]
    assert tracker(assistant, sender)["paused"] is True
    chat = live_store.open_chat_of(staff_signed_in, sender)
    assert (chat.status, chat.channel, chat.reason) == ("waiting", "rest", "asked")

    # the patient's messages are kept for staff, with no bot reply
    assert assistant.send(sender, "hello? i would like to move my appointment") == []
    state = tracker(assistant, sender)
    assert state["paused"] is True
    assert state["latest_message"]["text"] == "hello? i would like to move my appointment"

    # emergencies first: the advice at once, the conversation flagged, still paused
    replies = assistant.texts(sender,
                              "worst headache of my life came on suddenly about an hour ago")
    assert replies and replies[0] == render(domain, "utter_emergency")
    state = tracker(assistant, sender)
    assert state["paused"] is True
    assert state["slots"]["flag_emergency"] is True
    assert assistant.send(sender, "ok i will call") == []  # and nothing else is answered

    # staff accept and write: the message is stored with who sent it
    assert live_store.accept(staff_signed_in, sender, STAFF).status == "taken"
    rasa_api.append_events(sender, [rasa_api.staff_message("Hi, this is Ana at the front desk",
                                                           STAFF)], **api(assistant))
    staff_line = bot_events(tracker(assistant, sender))[-1]
    assert staff_line["text"] == "Hi, this is Ana at the front desk"
    # (Rasa adds its assistant_id and model_id)
    assert {k: staff_line["metadata"][k] for k in ("staff", "live")} == {"staff": STAFF,
                                                                         "live": True}

    # handed back to the assistant: the bot answers again
    live_store.end_chat(staff_signed_in, sender, STAFF, "released")
    rasa_api.append_events(sender, [rasa_api.resumed()], execute_side_effects=False,
                           **api(assistant))
    assert tracker(assistant, sender)["paused"] is False
    assert assistant.texts(sender, "what are your opening hours?")


def test_a_wait_that_runs_out_gets_the_leave_a_message_flow(assistant, sender, domain,
                                                            staff_signed_in):
    assert assistant.texts(sender, "can i speak to a human please") == [
        render(domain, "utter_live_waiting", minutes=2)]
    # no one accepts: the wait ends now (the worker polls every 200 ms in these tests)
    table = live_store.live_chats_table
    with staff_signed_in.begin() as conn:
        conn.execute(update(table).where(table.c.open_key == sender)
                     .values(wait_until=utcnow() - timedelta(seconds=1)))
    deadline = time.monotonic() + 30
    while True:
        state = tracker(assistant, sender)
        if not state["paused"] and len(bot_events(state)) >= 2 and \
                bot_events(state)[-1]["text"] == render(domain, "utter_ask_patient_name"):
            break
        assert time.monotonic() < deadline, "the wait was not handed back"
        time.sleep(0.3)
    assert bot_events(state)[-2]["text"] == render(domain, "utter_live_unavailable")
    assert live_store.open_chat_of(staff_signed_in, sender) is None
    # today's message for staff goes on from there
    assert assistant.texts(sender, "Maria Lopez") == [render(domain, "utter_ask_patient_contact")]


def test_a_widget_patient_gets_the_staff_message_on_the_socket(assistant, domain,
                                                              staff_signed_in):
    """socket.io: the staff line appended through Rasa's API reaches the open widget; what the
    patient writes meanwhile gets no bot reply (and no apology)."""
    session = f"sock-live-{uuid.uuid4().hex[:10]}"

    async def scenario() -> list[str]:
        texts: list[str] = []
        got = asyncio.Event()
        client = socketio.AsyncClient(reconnection=False)

        @client.on("bot_uttered")
        async def on_bot(data: dict) -> None:
            texts.append(data.get("text"))
            got.set()

        async def next_text(timeout: float = 30) -> None:
            got.clear()
            await asyncio.wait_for(got.wait(), timeout)

        await client.connect(assistant.rasa_url, headers={"Origin": assistant.web_url},
                             transports=["websocket"], socketio_path="socket.io")
        try:
            await client.emit("session_request", {"session_id": session})
            await asyncio.sleep(0.3)
            await client.emit("user_uttered", {"message": "i want to talk to a real person",
                                               "session_id": session})
            while render(domain, "utter_live_waiting", minutes=2) not in texts:
                await next_text()
            await client.emit("user_uttered", {"message": "ok thanks, i will wait",
                                               "session_id": session})
            await asyncio.sleep(2)  # a reply (or an apology) would have come by now
            before = len(texts)
            await asyncio.to_thread(
                rasa_api.append_events, session,
                [rasa_api.staff_message("Hello, Ana here from the front desk", STAFF)],
                **api(assistant))
            while len(texts) == before:
                await next_text()
        finally:
            await client.disconnect()
        return texts

    # in a thread of its own: the browser tests' Playwright keeps an event loop running in this
    # one for the whole session
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        texts = pool.submit(asyncio.run, scenario()).result()
    assert texts[-1] == "Hello, Ana here from the front desk"
    waiting = texts.index(render(domain, "utter_live_waiting", minutes=2))
    assert texts[waiting + 1:] == ["Hello, Ana here from the front desk"]
    live_store.end_chat(staff_signed_in, session, STAFF, "closed")
