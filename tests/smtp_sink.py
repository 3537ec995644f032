"""A real SMTP server on loopback (aiosmtpd) that keeps the messages it receives."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


class _Keep:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(
            email.message_from_bytes(envelope.content, policy=email.policy.default)
        )
        return "250 Message accepted for delivery"


class SmtpSink:
    """``with SmtpSink(port) as sink: ... sink.messages``"""

    def __init__(self, port: int) -> None:
        self.port = port
        self._handler = _Keep()
        self._controller = Controller(self._handler, hostname="127.0.0.1", port=port)

    @property
    def messages(self) -> list[EmailMessage]:
        return self._handler.messages

    def __enter__(self) -> SmtpSink:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()
