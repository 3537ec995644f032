"""A small client for Rasa's HTTP API, shared by the staff console and the delivery worker.

Rasa runs with ``--enable-api`` and a token (``make run`` turns it on, loopback only; see
``scripts/serve.py``). Two calls are needed for a person, live (docs/live-chat.md):

* :func:`append_events` - ``POST /conversations/<id>/tracker/events``: pause or resume a
  conversation (``ConversationPaused`` / ``ConversationResumed``), or send a staff member's message
  to the patient (a ``bot`` event with ``metadata={"staff": username, "live": True}``; with
  ``execute_side_effects`` Rasa sends it through the conversation's latest channel: the widget over
  socket.io, SMS through Twilio, and stores it in the tracker).
* :func:`trigger_intent` - ``POST /conversations/<id>/trigger_intent``: run the assistant as if
  the patient had sent that intent (``request_human`` with ``live_chat=unavailable`` when a
  wait ran out, ``actions/live.py``).

Both are synchronous (``requests``) with a timeout; from async code call them in a thread
(``await asyncio.to_thread(append_events, ...)``). Errors raise :class:`RasaApiError` and are
logged with the call and the HTTP status only: never the token, the conversation's id (an SMS
conversation's id is the patient's phone number) or message text.
"""

from __future__ import annotations

import logging
import string
import time
from typing import Any

import requests

from actions.settings import get_settings

logger = logging.getLogger(__name__)

STAFF_METADATA_KEY = "staff"  # bot events a staff member sent: {"staff": username, "live": True}


class RasaApiError(RuntimeError):
    """Rasa's API could not be reached or refused the call (``status`` None: no answer)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def paused() -> dict[str, Any]:
    return {"event": "pause", "timestamp": time.time()}


def resumed() -> dict[str, Any]:
    return {"event": "resume", "timestamp": time.time()}


def staff_message(text: str, username: str) -> dict[str, Any]:
    """The event of a message a staff member sends the patient (marked as from staff)."""
    return {"event": "bot", "text": text, "timestamp": time.time(),
            "metadata": {STAFF_METADATA_KEY: username, "live": True}}


def _call(method: str, path: str, sender_id: str, *, json: Any = None,
          params: dict[str, Any] | None = None, base_url: str | None = None,
          token: str | None = None, timeout: float | None = None) -> Any:
    """``base_url``, ``token``, ``timeout``: the settings' (RASA_API_URL, RASA_API_TOKEN,
    RASA_API_TIMEOUT_MS) unless given."""
    if base_url is None or token is None or timeout is None:
        settings = get_settings()
        base_url = base_url or settings.rasa_api_url
        token = settings.rasa_api_token if token is None else token
        timeout = timeout or settings.rasa_api_timeout
    url = base_url.rstrip("/") + path
    query = {**(params or {}), "token": token}
    try:
        reply = requests.request(method, url, params=query, json=json, timeout=timeout)
    except requests.RequestException as exc:
        logger.warning("Rasa API %s %s: no answer (%s)", method, path.split("/")[-1],
                       type(exc).__name__)
        raise RasaApiError(f"Rasa API unreachable ({type(exc).__name__})") from None
    if reply.status_code >= 300:
        logger.warning("Rasa API %s %s: HTTP %s", method, path.split("/")[-1],
                       reply.status_code)
        raise RasaApiError(f"Rasa API answered HTTP {reply.status_code}", reply.status_code)
    try:
        return reply.json()
    except ValueError:
        return None


# Rasa's routes take the conversation id from the path as sent: Sanic (21.12) does not decode
# it, so "%2B1555..." would be another conversation than the SMS patient "+1555...". Only ids
# made of characters a URL path carries as they are can be addressed (every id the widget and
# the Twilio channel make: hex session ids, "+15551234567", "whatsapp:+15551234567").
ADDRESSABLE = frozenset(string.ascii_letters + string.digits + "-._~+:@!$&'()*,;=")


def addressable(sender_id: str) -> bool:
    """Whether Rasa's HTTP API can reach the conversation ``sender_id`` (above)."""
    return bool(sender_id) and all(char in ADDRESSABLE for char in sender_id)


def _conversation(sender_id: str) -> str:
    if not addressable(sender_id):
        raise RasaApiError("this conversation id cannot be sent to Rasa's API unencoded", 400)
    return f"/conversations/{sender_id}"


def append_events(sender_id: str, events: list[dict[str, Any]], output_channel: str = "latest",
                  execute_side_effects: bool = True, **options: Any) -> dict[str, Any]:
    """Append ``events`` to the conversation's tracker; with ``execute_side_effects``, ``bot``
    events are sent to the patient through ``output_channel`` ("latest": the channel the patient
    last wrote on). Returns the tracker after the events (Rasa's JSON)."""
    return _call("POST", _conversation(sender_id) + "/tracker/events", sender_id, json=events,
                 params={"output_channel": output_channel,
                         "execute_side_effects": str(execute_side_effects).lower(),
                         "include_events": "NONE"}, **options)


def trigger_intent(sender_id: str, name: str, entities: dict[str, Any] | None = None,
                   output_channel: str = "latest", **options: Any) -> dict[str, Any]:
    """Run the assistant on ``name`` as if the patient had sent it; the replies go to the patient
    through ``output_channel``. Returns Rasa's answer (``tracker`` and ``messages``)."""
    body: dict[str, Any] = {"name": name}
    if entities:
        body["entities"] = entities
    return _call("POST", _conversation(sender_id) + "/trigger_intent", sender_id, json=body,
                 params={"output_channel": output_channel, "include_events": "NONE"}, **options)


def get_tracker(sender_id: str, **options: Any) -> dict[str, Any]:
    """The conversation's tracker (all events), e.g. to check whether it is paused."""
    return _call("GET", _conversation(sender_id) + "/tracker", sender_id,
                 params={"include_events": "ALL"}, **options)
