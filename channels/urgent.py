"""Emergency advice first, on the channels that answer a whole turn at once (REST, SMS).

A turn's replies come in the order Rasa produced them. When a patient's very first message is a
red flag, that order is the new conversation's privacy notice and disclaimer, then the
emergency advice. A channel that sends the turn's replies together (the REST response, the
texts of one SMS turn) puts the emergency responses (``utter_emergency*``) first and keeps the
others in their order. The widget (socket.io) opens its conversation before the patient types,
so its notice has already been shown.
"""

from __future__ import annotations

import logging
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel

logger = logging.getLogger(__name__)

URGENT_RESPONSE_PREFIX = "utter_emergency"


def is_urgent(message: dict[str, Any]) -> bool:
    """A bot message of an emergency response (Rasa passes the response's name as
    ``utter_action``)."""
    return str(message.get("utter_action") or "").startswith(URGENT_RESPONSE_PREFIX)


class UrgentFirstCollector(CollectingOutputChannel):
    """Rasa's collecting channel, whose ``ordered()`` messages have the emergency advice
    first."""

    def __init__(self) -> None:
        super().__init__()
        self._urgent: set[int] = set()

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        before = len(self.messages)
        await super().send_response(recipient_id, message)
        if is_urgent(message):
            self._urgent.update(range(before, len(self.messages)))

    def ordered(self) -> list[dict[str, Any]]:
        """The messages, emergency advice first, each group in the order Rasa produced it."""
        indexed = list(enumerate(self.messages))
        return [m for i, m in sorted(indexed, key=lambda item: item[0] not in self._urgent)]
