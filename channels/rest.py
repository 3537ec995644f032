"""The REST channel with its input checked: ``POST /webhooks/rest/webhook``.

Rasa's ``RestInput`` answers an empty or non-JSON body with a 500, takes any JSON type as the
sender, trusts an ``input_channel`` field from the client and hands a message of any size to the
model. This subclass answers:

* 400 with ``{"error": ...}`` for a body that is not a JSON object, a missing or non-string
  ``sender`` (or one over 128 characters or with control characters), or a ``message`` that is
  not a string;
* 200 with a polite bot message, without running the model, for an empty message or one over
  ``max_message_chars``, in the patient's language (``channels/limits.py``: the message's own
  when it is plainly Spanish, else the stored conversation's);
* otherwise what Rasa's REST channel answers (a JSON list of bot messages), with control
  characters removed from the text, the emergency advice first (``channels/urgent.py``), and
  a message plainly in Spanish marked ``{"language": "es"}`` for a session it starts.
  Streaming (``?stream=true``) is not offered.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from channels.limits import (
    DEFAULT_MAX_MESSAGE_CHARS,
    MAX_SENDER_CHARS,
    clean_text,
    conversation_language,
    conversation_paused,
    max_chars,
    no_reply_text,
    patient_language,
    reply,
    text_language,
    valid_sender,
)
from channels.urgent import UrgentFirstCollector

logger = logging.getLogger(__name__)


def bad_request(reason: str) -> HTTPResponse:
    return response.json({"error": reason}, status=400)


def parse_body(body: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class ClinicRestInput(RestInput):
    """REST for the clinic: same URL and replies as Rasa's, bad input refused clearly."""

    def __init__(self, max_message_chars: int = DEFAULT_MAX_MESSAGE_CHARS) -> None:
        self.max_message_chars = max_message_chars

    @classmethod
    def name(cls) -> str:
        return "rest"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> ClinicRestInput:
        return cls(max_chars((credentials or {}).get("max_message_chars")))

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[None]]
    ) -> Blueprint:
        webhook = Blueprint("clinic_rest_webhook", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            data = parse_body(request.body or b"")
            if data is None:
                return bad_request("the body must be a JSON object")
            sender = data.get("sender")
            if not valid_sender(sender):
                return bad_request(
                    f"'sender' must be a string of 1 to {MAX_SENDER_CHARS} printable characters")
            raw = data.get("message")
            if not isinstance(raw, str):
                return bad_request("'message' must be a string")
            agent = getattr(request.app.ctx, "agent", None)
            if len(raw) > self.max_message_chars:
                logger.info("REST: refused a message over %d characters", self.max_message_chars)
                language = await patient_language(agent, sender, raw)
                return response.json([{"recipient_id": sender,
                                       "text": reply("too_long", language)}])
            text = clean_text(raw)
            if not text:
                language = await patient_language(agent, sender)
                return response.json([{"recipient_id": sender, "text": reply("empty", language)}])
            metadata = data.get("metadata")
            metadata = dict(metadata) if isinstance(metadata, dict) else {}
            # a message plainly in Spanish starts a new conversation in Spanish (the session
            # start reads this, as it reads the widget's page language)
            if "language" not in metadata and text_language(text) == "es":
                metadata["language"] = "es"
            collector = UrgentFirstCollector()
            try:
                await on_new_message(UserMessage(
                    text, collector, sender, input_channel=self.name(),
                    metadata=metadata or None,
                ))
            except Exception:  # the patient gets an answer, the log gets the trace
                logger.exception("REST: processing a message failed")
                return response.json({"error": "the assistant could not process the message"},
                                     status=503)
            # no reply: a part failed (e.g. the action server is down), unless a person has the
            # conversation (paused: the patient's messages go to staff, docs/live-chat.md)
            if not collector.messages and not await conversation_paused(agent, sender):
                logger.warning("REST: the turn produced no reply; answering with an apology")
                language = await conversation_language(agent, sender)
                collector.messages.append({"recipient_id": sender,
                                           "text": no_reply_text(language)})
            return response.json(collector.ordered())

        return webhook
