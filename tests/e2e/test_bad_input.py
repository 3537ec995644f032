"""Hostile and broken input on every public entry point, against the real running servers.

Each case must get a 4xx or a polite reply, never a 500 or a dropped connection, and the
servers must keep answering ordinary messages afterwards. Nothing a patient typed may come back
as live HTML (the widget and the staff console escape it; see the browser tests).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
import requests
import socketio
from sqlalchemy import create_engine, text

from channels.limits import EMPTY_REPLY, REPLIES, TOO_LONG_REPLY
from tests.conftest import render
from tests.e2e import test_sms as sms

REST = "/webhooks/rest/webhook"
HUNDRED_KB = "headache " * 11_400  # about 100 KB of words
# A Spanish patient's message over MAX_MESSAGE_CHARS (2000)
LONG_SPANISH = "Tengo migrañas muy fuertes y quisiera saber si la acupuntura me puede ayudar. " * 40
TWO_MB = b"x" * (2 * 1024 * 1024)


def post_raw(assistant, body: bytes, content_type: str = "application/json") -> requests.Response:
    return requests.post(assistant.rasa_url + REST, data=body,
                         headers={"Content-Type": content_type}, timeout=60)


def post_json(assistant, payload: Any) -> requests.Response:
    return post_raw(assistant, json.dumps(payload).encode("utf-8"))


def sender() -> str:
    return f"bad-{uuid.uuid4().hex[:12]}"


def still_answers(assistant, domain) -> None:
    """An ordinary patient gets the ordinary answer."""
    texts = assistant.texts(sender(), "what are your opening hours?")
    assert render(domain, "utter_faq/opening_hours") in texts


# ---------------------------------------------------------------- REST: malformed requests

@pytest.mark.parametrize(("body", "content_type"), [
    (b"", "application/json"),
    (b"hello", "text/plain"),
    (b"{not json", "application/json"),
    (b"\xff\xfe\x00garbage", "application/json"),
    (b"[1, 2, 3]", "application/json"),
    (b'"just a string"', "application/json"),
    (b"null", "application/json"),
], ids=["empty", "text", "broken-json", "binary", "array", "string", "null"])
def test_rest_body_that_is_not_a_json_object_gets_400(assistant, domain, body, content_type):
    reply = post_raw(assistant, body, content_type)
    assert reply.status_code == 400
    assert "JSON object" in reply.json()["error"]


@pytest.mark.parametrize("payload", [
    {"message": "hello"},
    {"sender": None, "message": "hello"},
    {"sender": 12345, "message": "hello"},
    {"sender": ["a"], "message": "hello"},
    {"sender": "", "message": "hello"},
    {"sender": "x" * 10_240, "message": "hello"},
    {"sender": "tab\there", "message": "hello"},
], ids=["no-sender", "null-sender", "number-sender", "list-sender", "empty-sender",
        "10kb-sender", "control-char-sender"])
def test_rest_bad_sender_gets_400(assistant, payload):
    reply = post_json(assistant, payload)
    assert reply.status_code == 400
    assert "sender" in reply.json()["error"]


@pytest.mark.parametrize("message", [None, 42, ["hi"], {"text": "hi"}],
                         ids=["missing", "number", "list", "object"])
def test_rest_message_that_is_not_text_gets_400(assistant, message):
    payload = {"sender": sender()}
    if message is not None:
        payload["message"] = message
    reply = post_json(assistant, payload)
    assert reply.status_code == 400
    assert "message" in reply.json()["error"]


def test_rest_empty_message_gets_a_polite_reply(assistant):
    for blank in ("", "   ", "\x00\x01\u200b"):
        reply = post_json(assistant, {"sender": sender(), "message": blank})
        assert reply.status_code == 200
        assert [m["text"] for m in reply.json()] == [EMPTY_REPLY]


def test_rest_100_kb_message_gets_a_polite_reply_and_is_not_processed(assistant, domain):
    conversation = sender()
    reply = post_json(assistant, {"sender": conversation, "message": HUNDRED_KB})
    assert reply.status_code == 200
    assert [m["text"] for m in reply.json()] == [TOO_LONG_REPLY]
    still_answers(assistant, domain)


def spanish_conversation(assistant, domain) -> str:
    """A conversation the widget opened on a Spanish page (``/?lang=es``)."""
    conversation = sender()
    reply = post_json(assistant, {"sender": conversation, "message": "/session_start",
                                  "metadata": {"language": "es"}})
    assert [m["text"] for m in reply.json()] == [
        render(domain, "utter_privacy_notice", slots={"language": "es"}),
        render(domain, "utter_disclaimer", slots={"language": "es"})]
    return conversation


def test_rest_bad_input_in_a_spanish_conversation_is_answered_in_spanish(assistant, domain):
    conversation = spanish_conversation(assistant, domain)
    for message, kind in (("   ", "empty"), (HUNDRED_KB, "too_long")):
        reply = post_json(assistant, {"sender": conversation, "message": message})
        assert reply.status_code == 200
        assert [m["text"] for m in reply.json()] == [REPLIES[kind]["es"]]
    # a new patient whose first message is too long and Spanish
    reply = post_json(assistant, {"sender": sender(), "message": LONG_SPANISH})
    assert [m["text"] for m in reply.json()] == [REPLIES["too_long"]["es"]]
    assert REPLIES["too_long"]["es"].startswith("Lo siento, ese mensaje es demasiado largo")


def test_rest_2_mb_body_is_refused_with_413(assistant, domain):
    reply = post_raw(assistant, b'{"sender": "big", "message": "' + TWO_MB + b'"}')
    assert reply.status_code == 413
    still_answers(assistant, domain)


def test_rest_client_cannot_claim_another_channel(assistant):
    conversation = sender()
    reply = post_json(assistant, {"sender": conversation, "message": "hello",
                                  "input_channel": "twilio"})
    assert reply.status_code == 200
    engine = create_engine(assistant.tracker_database_url)
    with engine.connect() as connection:
        channels = {json.loads(row[0]).get("input_channel") for row in connection.execute(
            text("select data from events where sender_id = :s and type_name = 'user'"),
            {"s": conversation})}
    assert channels == {"rest"}


# ------------------------------------------------------------- REST: strange but valid text

@pytest.mark.parametrize("message", [
    "\x00\x07what is acupuncture?\x1b[31m",
    "what is acupuncture? 🙂🙂🧠💉",
    "מה זה דיקור? what is acupuncture",
    "\u202ewhat is acupuncture?\u202c",
], ids=["control-chars", "emoji", "right-to-left", "bidi-override"])
def test_rest_odd_characters_still_get_the_answer(assistant, domain, message):
    texts = assistant.texts(sender(), message)
    assert render(domain, "utter_faq/what_is_acupuncture") in texts


@pytest.mark.parametrize("message", [
    "<script>alert('x')</script>",
    "<img src=x onerror=alert(1)>",
    "'; DROP TABLE events; --",
    "1 OR 1=1; SELECT * FROM requests",
    "{{7*7}} ${7*7} %s %d",
], ids=["script", "img-onerror", "sql-drop", "sql-select", "template"])
def test_rest_hostile_text_gets_an_ordinary_reply_and_changes_nothing(assistant, domain,
                                                                      message):
    reply = post_json(assistant, {"sender": sender(), "message": message})
    assert reply.status_code == 200
    texts = [m.get("text", "") for m in reply.json()]
    assert texts, "every message gets some reply"
    for bot_text in texts:  # nothing echoed back
        assert message not in bot_text and "<script" not in bot_text and "onerror" not in bot_text
    engine = create_engine(assistant.tracker_database_url)
    with engine.connect() as connection:  # the conversations table is still there
        assert connection.execute(text("select count(*) from events")).scalar() > 0
    still_answers(assistant, domain)


# ------------------------------------------------------------------------ socket.io channel

async def socket_exchange(assistant, events: list[tuple[str, Any]],
                          wait: float = 20.0, session: str | None = None) -> list[dict[str, Any]]:
    """Connect like the widget, emit the events, collect the bot's replies until quiet
    (``session``: go on with that conversation)."""
    replies: list[dict[str, Any]] = []
    got = asyncio.Event()
    client = socketio.AsyncClient(reconnection=False)

    @client.on("bot_uttered")
    async def on_bot(data: dict[str, Any]) -> None:
        replies.append(data)
        got.set()

    session = session or f"sock-{uuid.uuid4().hex[:12]}"
    await client.connect(assistant.rasa_url, headers={"Origin": assistant.web_url},
                         transports=["websocket"], socketio_path="socket.io")
    try:
        await client.emit("session_request", {"session_id": session})
        await asyncio.sleep(0.3)
        for name, data in events:
            payload = {**data, "session_id": session} if isinstance(data, dict) else data
            await client.emit(name, payload)
        deadline = asyncio.get_running_loop().time() + wait
        while asyncio.get_running_loop().time() < deadline:
            got.clear()
            try:
                await asyncio.wait_for(got.wait(), timeout=4.0)
            except asyncio.TimeoutError:
                if replies:
                    break
    finally:
        await client.disconnect()
    return replies


def test_socket_malformed_events_are_ignored_and_the_socket_keeps_working(assistant, domain):
    events: list[tuple[str, Any]] = [
        ("user_uttered", None),
        ("user_uttered", [1, 2, 3]),
        ("user_uttered", "a bare string"),
        ("user_uttered", {"message": 12345}),
        ("user_uttered", {"message": {"nested": True}}),
        ("session_request", None),
        ("user_uttered", {"message": "what are your opening hours?"}),
    ]
    replies = asyncio.run(socket_exchange(assistant, events))
    assert render(domain, "utter_faq/opening_hours") in [r.get("text") for r in replies]


def test_socket_100_kb_message_gets_a_polite_reply(assistant):
    replies = asyncio.run(socket_exchange(assistant, [("user_uttered",
                                                       {"message": HUNDRED_KB})]))
    assert [r.get("text") for r in replies] == [TOO_LONG_REPLY]


def test_socket_too_long_messages_of_a_spanish_patient_are_answered_in_spanish(assistant,
                                                                                domain):
    # the message itself is plainly Spanish
    replies = asyncio.run(socket_exchange(assistant, [("user_uttered",
                                                       {"message": LONG_SPANISH})]))
    assert [r.get("text") for r in replies] == [REPLIES["too_long"]["es"]]
    # the conversation is Spanish (it began on a Spanish page), the too-long message is not
    session = spanish_conversation(assistant, domain)
    replies = asyncio.run(socket_exchange(assistant, [("user_uttered",
                                                       {"message": HUNDRED_KB})],
                                          session=session))
    assert [r.get("text") for r in replies] == [REPLIES["too_long"]["es"]]


def test_socket_message_without_session_id_is_ignored(assistant, domain):
    replies = asyncio.run(socket_exchange(assistant, [
        ("user_uttered", ["no session id, not an object"]),
        ("user_uttered", {"message": "hello there"}),
    ]))
    assert replies, "the valid message after the broken one is answered"


# ------------------------------------------------------------------ Twilio webhook and web

def test_sms_without_text_or_too_long_is_answered_in_the_patients_language(assistant,
                                                                           twilio_api, domain):
    spanish, english = sms.new_number(), sms.new_number()
    text = sms.text
    es = {"language": "es"}
    assert text(assistant, twilio_api, spanish, "hola", 3)[2] == \
        render(domain, "utter_greet", slots=es)
    assert text(assistant, twilio_api, spanish, " ", 1) == [REPLIES["text_only"]["es"]]
    too_long = "headache " * 300  # over MAX_MESSAGE_CHARS: the conversation's language
    assert text(assistant, twilio_api, spanish, too_long, 1) == [REPLIES["too_long"]["es"]]
    # a new patient: the long message's own language, else English
    assert text(assistant, twilio_api, sms.new_number(), LONG_SPANISH, 1) == [
        REPLIES["too_long"]["es"]]
    assert text(assistant, twilio_api, english, too_long, 1) == [REPLIES["too_long"]["en"]]
    assert text(assistant, twilio_api, english, " ", 1) == [REPLIES["text_only"]["en"]]
    still_answers(assistant, domain)


def test_twilio_webhook_2_mb_body_is_refused(assistant):
    reply = requests.post(assistant.rasa_url + "/webhooks/twilio/webhook", data=TWO_MB,
                          headers={"Content-Type": "application/x-www-form-urlencoded"},
                          timeout=60)
    assert reply.status_code == 413


@pytest.mark.parametrize("path", [
    "/static/../../../etc/passwd",
    "/static/%2e%2e/%2e%2e/clinic.yml",
    "/static/..%2f..%2fclinic.yml",
], ids=["dotdot", "encoded-dotdot", "encoded-slash"])
def test_web_server_does_not_serve_files_outside_static(assistant, path):
    reply = requests.get(assistant.web_url + path, timeout=10)
    assert 400 <= reply.status_code < 500
    assert "root:" not in reply.text and "emergency_number" not in reply.text


@pytest.mark.parametrize("path", [
    "/?q=<script>alert(1)</script>",
    "/?" + "a" * 5000,
    "/webchat.js?" + "a" * 5000,
], ids=["script-query", "long-query", "long-query-bundle"])
def test_web_server_odd_queries_are_harmless(assistant, path):
    reply = requests.get(assistant.web_url + path, timeout=10)
    assert reply.status_code == 200
    assert "<script>alert(1)</script>" not in reply.text


def test_web_server_2_mb_body_is_refused(assistant):
    reply = requests.post(assistant.web_url + "/staff/login", data=TWO_MB, timeout=60,
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert reply.status_code == 413
