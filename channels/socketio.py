"""The web widget's channel: Rasa's socket.io channel, limited to the clinic's own sites.

Rasa's ``SocketIOInput`` accepts connections from any origin and crashes on malformed events
(a ``null`` payload, a list instead of an object). This subclass

* accepts connections only from the origins in ``cors_allowed_origins`` (``credentials.yml``
  takes them from ``WEB_ALLOWED_ORIGINS``, comma-separated), so another site cannot talk to the
  assistant in its visitors' names;
* ignores events that are not objects and answers an over-long message politely instead of
  passing it to the model, in the patient's language (``channels/limits.py``);
* with several Rasa servers (``redis_url``, ``credentials.yml`` takes it from
  ``LOCK_STORE_URL``), shares its sockets through Redis (python-socketio's
  ``AsyncRedisManager``): a message for a widget connected to server A but sent by server B (a
  staff line appended through B's HTTP API, a reply after the load balancer moved the patient)
  is published on Redis and delivered by A. With one server (empty URL) sockets stay in memory,
  as in Rasa;
* keeps Rasa's behaviour otherwise (``session_persistence``: a conversation survives a page
  reload because the widget sends back its session id).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from rasa.core.channels.channel import UserMessage, decode_bearer_token
from rasa.core.channels.socketio import SocketBlueprint, SocketIOInput, SocketIOOutput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from socketio import AsyncRedisManager, AsyncServer

from channels.limits import (
    DEFAULT_MAX_MESSAGE_CHARS,
    clean_text,
    conversation_language,
    conversation_paused,
    max_chars,
    no_reply_text,
    patient_language,
    reply,
    valid_sender,
)
from components.lock_store import redis_settings

logger = logging.getLogger(__name__)


def parse_origins(raw: str | list[str] | None) -> list[str]:
    """``"https://a.example, https://b.example"`` -> ``["https://a.example", ...]``."""
    if raw is None:
        return []
    items = raw if isinstance(raw, list) else str(raw).split(",")
    return [item.strip().rstrip("/") for item in items if item and item.strip()]


def socket_manager(redis_url: str | None) -> AsyncRedisManager | None:
    """The socket.io client manager several Rasa servers share: ``AsyncRedisManager`` on the
    lock store's Redis (channel ``<key prefix>:socketio``), or None (in memory) for an empty URL.

    Creating it connects to nothing: python-socketio opens the connection on the first message.
    """
    if not redis_url or not redis_url.strip():
        return None
    settings = redis_settings(redis_url.strip())  # the lock store's checks, same messages
    parts = urlsplit(redis_url.strip())
    url = urlunsplit((parts.scheme, parts.netloc, parts.path or "/0", "", ""))
    logger.info("socket.io: sockets shared by the Rasa servers through Redis at %s:%s",
                settings["host"], settings["port"])
    # no socket timeout: the listening connection waits for messages as long as it takes
    return AsyncRedisManager(url, channel=f"{settings['key_prefix']}:socketio")


class CountingSocketIOOutput(SocketIOOutput):
    """Rasa's socket.io output that counts what it sent, so a turn that produced nothing (an
    action server that is down) can still get an apology instead of silence."""

    sent = 0

    async def _send_message(self, socket_id: str, response: Any) -> None:
        self.sent += 1
        await super()._send_message(socket_id, response)


class ClinicSocketIOInput(SocketIOInput):
    """socket.io for the clinic's web widget."""

    @classmethod
    def name(cls) -> str:
        return "socketio"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> ClinicSocketIOInput:
        credentials = credentials or {}
        channel = cls(
            credentials.get("user_message_evt", "user_uttered"),
            credentials.get("bot_message_evt", "bot_uttered"),
            credentials.get("namespace"),
            bool(credentials.get("session_persistence", True)),
            credentials.get("socketio_path", "/socket.io"),
            credentials.get("jwt_key") or None,
            credentials.get("jwt_method", "HS256"),
            credentials.get("metadata_key", "metadata"),
        )
        channel.allowed_origins = parse_origins(credentials.get("cors_allowed_origins"))
        channel.max_message_chars = max_chars(credentials.get("max_message_chars"))
        channel.redis_url = str(credentials.get("redis_url") or "")
        return channel

    allowed_origins: list[str] = []  # noqa: RUF012 - set per instance in from_credentials
    max_message_chars: int = DEFAULT_MAX_MESSAGE_CHARS
    redis_url: str = ""  # several Rasa servers: the Redis their sockets share

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        if not self.allowed_origins:
            logger.warning("socket.io: no allowed origins configured; browsers cannot connect")
        # python-engineio checks the Origin header of every connection against this list.
        sio = AsyncServer(async_mode="sanic", cors_allowed_origins=self.allowed_origins,
                          client_manager=socket_manager(self.redis_url))
        socketio_webhook = SocketBlueprint(sio, self.socketio_path, "socketio_webhook", __name__)
        self.sio = sio

        def agent() -> Any:
            """Rasa's agent (its tracker store tells a conversation's language)."""
            try:
                return next(iter(socketio_webhook.apps)).ctx.agent
            except Exception:  # not registered with an app, or no agent loaded
                return None

        @socketio_webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @sio.on("connect", namespace=self.namespace)
        async def connect(sid: str, environ: dict, auth: dict | None) -> bool:
            if not self.jwt_key:
                return True
            token = auth.get("token") if isinstance(auth, dict) else None
            payload = decode_bearer_token(token, self.jwt_key, self.jwt_algorithm) if token \
                else None
            return bool(payload)

        @sio.on("session_request", namespace=self.namespace)
        async def session_request(sid: str, data: Any) -> None:
            session_id = data.get("session_id") if isinstance(data, dict) else None
            if not valid_sender(session_id):
                session_id = uuid.uuid4().hex
            if self.session_persistence:
                # enter_room is a coroutine in python-socketio >= 5.10 (RasaHQ/rasa #13027);
                # requirements pin 5.9.0, where it is not.
                sio.enter_room(sid, session_id)
            await sio.emit("session_confirm", session_id, room=sid)

        @sio.on(self.user_message_evt, namespace=self.namespace)
        async def handle_message(sid: str, data: Any) -> None:
            if not isinstance(data, dict):
                logger.info("socket.io: ignored a user event that is not an object")
                return
            output_channel = CountingSocketIOOutput(sio, self.bot_message_evt)
            if self.session_persistence:
                sender_id = data.get("session_id")
                if not valid_sender(sender_id):
                    logger.info("socket.io: ignored a message without a valid session id")
                    return
            else:
                sender_id = sid
            raw = data.get("message")
            if not isinstance(raw, str):
                logger.info("socket.io: ignored a message that is not text")
                return
            if len(raw) > self.max_message_chars:
                language = await patient_language(agent(), sender_id, raw)
                await output_channel.send_text_message(sender_id, reply("too_long", language))
                return
            text = clean_text(raw)
            if not text:
                language = await patient_language(agent(), sender_id)
                await output_channel.send_text_message(sender_id, reply("empty", language))
                return
            metadata = data.get(self.metadata_key) or {}
            if isinstance(metadata, str):
                try:
                    metadata = json.loads(metadata)
                except ValueError:
                    metadata = {}
            if not isinstance(metadata, dict):
                metadata = {}
            await on_new_message(UserMessage(
                text, output_channel, sender_id, input_channel=self.name(), metadata=metadata,
            ))
            if output_channel.sent == 0 and not await conversation_paused(agent(), sender_id):
                logger.warning("socket.io: a turn produced no reply; sent the apology")
                language = await conversation_language(agent(), sender_id)
                await output_channel.send_text_message(sender_id, no_reply_text(language))

        return socketio_webhook
