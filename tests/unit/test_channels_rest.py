"""The REST channel in-process (Sanic's ASGI interface, a stub agent): what it answers without
the model, in the patient's language."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from rasa.core.channels.channel import UserMessage, register
from sanic import Sanic

from channels.limits import REPLIES, no_reply_text
from channels.rest import ClinicRestInput
from tests.unit import asgi
from tests.unit.test_limits import Agent, conversation

pytestmark = pytest.mark.filterwarnings("ignore:Slot auto-fill:UserWarning")
HOST = "assistant.test"


class StubAgent(Agent):
    """handle_message sends ``replies`` and records the messages that reached the model."""

    def __init__(self, replies: list[str] | None = None) -> None:
        super().__init__()
        self.replies = replies or []
        self.received: list[UserMessage] = []

    async def handle_message(self, message: UserMessage) -> None:
        self.received.append(message)
        for text in self.replies:
            await message.output_channel.send_text_message(message.sender_id, text)


async def rest_app(monkeypatch: pytest.MonkeyPatch, agent: StubAgent,
                   max_message_chars: int = 100) -> Sanic:
    monkeypatch.setattr(Sanic, "test_mode", True)
    app = Sanic(f"rest_unit_{uuid.uuid4().hex[:12]}")
    app.ctx.agent = agent
    channel = ClinicRestInput.from_credentials({"max_message_chars": max_message_chars})
    register([channel], app, "/webhooks/")
    await app._startup()
    return app


async def post(app: Sanic, payload: dict[str, Any]) -> tuple[int, Any]:
    status, data = await asgi.post(app, "/webhooks/rest/webhook", json.dumps(payload).encode(),
                                   HOST, {"content-type": "application/json"})
    return status, json.loads(data)


def texts(reply: Any) -> list[str]:
    return [m["text"] for m in reply]


@pytest.mark.parametrize(("language", "expected"), [("es", "es"), ("en", "en"), (None, "en")])
async def test_empty_and_too_long_messages_in_the_conversations_language(monkeypatch, language,
                                                                         expected):
    agent = StubAgent()
    await conversation(agent, "patient", language)
    app = await rest_app(monkeypatch, agent)
    status, reply = await post(app, {"sender": "patient", "message": "  "})
    assert status == 200 and texts(reply) == [REPLIES["empty"][expected]]
    status, reply = await post(app, {"sender": "patient", "message": "headache " * 50})
    assert status == 200 and texts(reply) == [REPLIES["too_long"][expected]]
    assert agent.received == []  # the model saw neither


async def test_a_new_patients_too_long_spanish_message_is_answered_in_spanish(monkeypatch):
    agent = StubAgent()
    app = await rest_app(monkeypatch, agent)
    _, reply = await post(app, {"sender": "new", "message": "Me duele la cabeza todos los "
                                                           "días y quisiera una cita. " * 5})
    assert texts(reply) == [REPLIES["too_long"]["es"]]
    _, reply = await post(app, {"sender": "new", "message": "my head hurts every day " * 5})
    assert texts(reply) == [REPLIES["too_long"]["en"]]
    assert agent.received == []


async def test_a_turn_without_replies_gets_the_apology_in_the_conversations_language(
        monkeypatch):
    agent = StubAgent()  # e.g. the action server is down: the turn says nothing
    await conversation(agent, "es-patient", "es")
    app = await rest_app(monkeypatch, agent)
    _, reply = await post(app, {"sender": "es-patient", "message": "quiero una cita"})
    assert texts(reply) == [no_reply_text("es")]
    _, reply = await post(app, {"sender": "someone-else", "message": "book an appointment"})
    assert texts(reply) == [no_reply_text("en")]
    assert [m.text for m in agent.received] == ["quiero una cita", "book an appointment"]


async def test_a_paused_conversation_gets_no_apology(monkeypatch):
    """A person has the conversation (Rasa's pause, docs/live-chat.md): no bot reply is the
    expected answer, not a failure."""
    from rasa.shared.core.events import ConversationPaused, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    from tests.unit.test_limits import domain

    agent = StubAgent()
    await agent.tracker_store.save(DialogueStateTracker.from_events(
        "live", [UserUttered("a person please"), ConversationPaused()], domain().slots))
    app = await rest_app(monkeypatch, agent)
    status, reply = await post(app, {"sender": "live", "message": "hello? anyone there"})
    assert status == 200 and reply == []
    assert [m.text for m in agent.received] == ["hello? anyone there"]


async def test_ordinary_replies_pass_through(monkeypatch):
    agent = StubAgent(replies=["¡Hola!"])
    await conversation(agent, "es-patient", "es")
    app = await rest_app(monkeypatch, agent)
    assert texts((await post(app, {"sender": "es-patient", "message": "hola"}))[1]) == ["¡Hola!"]


class ResponsesAgent(StubAgent):
    """Sends (response name, text) pairs as Rasa does: through send_response, with the name."""

    def __init__(self, responses: list[tuple[str, str]]) -> None:
        super().__init__()
        self.responses = responses

    async def handle_message(self, message: UserMessage) -> None:
        self.received.append(message)
        for name, text in self.responses:
            await message.output_channel.send_response(
                message.sender_id, {"text": text, "utter_action": name})


async def test_the_emergency_advice_comes_before_a_new_conversations_notices(monkeypatch):
    """A first message that is a red flag: Rasa produces the privacy notice and the disclaimer
    (session start), then the advice; the patient reads the advice first."""
    agent = ResponsesAgent([("utter_privacy_notice", "notice"), ("utter_disclaimer", "disclaimer"),
                            ("utter_emergency", "call 911"), ("utter_ask_continue", "more")])
    app = await rest_app(monkeypatch, agent)
    _, reply = await post(app, {"sender": "first", "message": "worst headache of my life"})
    assert texts(reply) == ["call 911", "notice", "disclaimer", "more"]


@pytest.mark.parametrize(("message", "metadata", "expected"), [
    ("quiero una cita para el martes", None, {"language": "es"}),
    ("I'd like an appointment on Tuesday", None, None),
    ("quiero una cita", {"language": "en"}, {"language": "en"}),  # the client's choice stays
    ("hola", {"page": "home"}, {"page": "home", "language": "es"}),
])
async def test_a_plainly_spanish_message_is_marked_spanish_for_the_session_start(
        monkeypatch, message, metadata, expected):
    agent = StubAgent(replies=["ok"])
    app = await rest_app(monkeypatch, agent)
    body = {"sender": "s", "message": message, **({"metadata": metadata} if metadata else {})}
    await post(app, body)
    assert agent.received[0].metadata == expected
