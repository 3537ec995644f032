"""The patient phone channel: SMS and WhatsApp through Twilio.

Rasa's ``TwilioInput``/``TwilioOutput`` with what a clinic needs on top; the webhook stays
``POST /webhooks/twilio/webhook`` (``name()`` is ``"twilio"``):

* **Off unless configured**: with no account SID, auth token or number the webhook answers 503
  and processes nothing (``make run`` leaves ``TWILIO_ACCOUNT_SID`` empty by default).
* **Only Twilio gets in**: every request must carry a valid ``X-Twilio-Signature`` for the URL
  Twilio called (``webhook_url``, i.e. ``TWILIO_WEBHOOK_URL``, when the server sits behind a
  reverse proxy; otherwise the request's own URL) and its form fields; anything else gets 403.
  A body that is not a form, or lacks ``From``/``Body``, gets a 4xx, never a 500.
* **Buttons as numbers**: a response with buttons becomes one text ending in "Reply 1 for ...",
  "Reply 2 for ..." ("Responda 1 para ..." under a Spanish response). A reply of "1", "1." or
  " 2 " is turned back into that button's payload (its title when the payload is other words
  than the title: the words the patient chose) by reading the conversation's last bot turn from
  Rasa's tracker store, so nothing is kept in this process: it works after a restart and with
  several Rasa servers sharing one store. Button numbers run on across the messages of one
  turn, so two button lists in one turn never both offer "1".
* **The patient's language**: a text plainly in Spanish carries ``{"language": "es"}`` as its
  metadata, so a conversation it starts starts in Spanish (privacy notice and disclaimer
  included, as the widget's page language does). A text over ``max_message_chars``, one
  without text, and a turn that produced no reply (a part of the assistant failed) get the
  polite replies of ``channels/limits.py`` in the patient's language.
* **SMS-sized plain text**: markdown is stripped (``**bold**`` -> ``bold``, ``[text](url)`` ->
  ``text (url)``), typographic quotes and dashes become plain ones, and text over Twilio's 1600
  characters is split at paragraphs, then sentences, then words.
* **Emergency advice first**: a turn's replies are sent when the turn is done, the emergency
  responses (``utter_emergency*``) first, so a patient whose very first text is a red flag does
  not read the privacy notice and disclaimer of the new conversation before the advice.
* **No blocking, no leaking**: the Twilio client runs in a worker thread, failed sends are
  retried only when that is safe (connection refused, 429, 5xx), and logs at INFO and above
  never carry message text or phone numbers (a conversation is named by a short keyed hash).
* **WhatsApp** is the same code: senders arrive as ``whatsapp:+1...`` and replies go back to that
  address from the clinic's number with the ``whatsapp:`` prefix.

``TWILIO_API_BASE_URL`` (test/staging setting, read when a reply is sent, never at import):
send the REST calls to that base URL instead of ``https://api.twilio.com``, e.g. the fake API of
the end-to-end tests (``tests/fake_twilio.py``). Leave it unset in production.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

import requests
from rasa.core.channels.channel import OutputChannel, UserMessage
from rasa.core.channels.twilio import TwilioInput, TwilioOutput
from rasa.shared.core.events import BotUttered, Event, UserUttered
from sanic import Blueprint, response
from sanic.request import Request, RequestParameters
from sanic.response import HTTPResponse
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from channels.limits import (
    DEFAULT_MAX_MESSAGE_CHARS,
    TEXT_ONLY_REPLY,  # noqa: F401 (the English text, part of this module's API)
    conversation_language,
    conversation_paused,
    max_chars,
    no_reply_text,
    patient_language,
    reply,
    spoken,
    text_language,
)
from channels.twilio_api import (  # noqa: F401 (rewrite_api_url: part of this module's API)
    API_BASE_URL_ENV,
    _describe,
    _is_retryable,
    api_base_url,
    clinic_number_for,
    make_http_client,
    rewrite_api_url,
)
from channels.urgent import is_urgent

logger = logging.getLogger(__name__)

SMS_MAX_CHARS = 1600  # Twilio's limit for one message body (SMS and WhatsApp)
WEBHOOK_PATH = "/webhooks/twilio/webhook"
WHATSAPP_PREFIX = "whatsapp:"
# Responses whose name starts with this are sent before anything else in their turn.

SEND_ATTEMPTS = 3
RETRY_DELAY_SECONDS = 1.0
OPTED_OUT_ERROR = 21610  # the patient texted STOP: Twilio refuses to send them anything

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
MAX_FORM_FIELDS = 200
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
# The line under a message for each of its buttons, in the language of the message.
OPTION_LINE = {"en": "Reply {number} for {title}", "es": "Responda {number} para {title}"}

# --------------------------------------------------------------------------------------------
# Text as a phone shows it


_LINK_RE = re.compile(r"\[([^\]\n]*)\]\(\s*([^)\s]+)\s*\)")
_BOLD_RE = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1", re.DOTALL)
_ITALIC_RE = re.compile(r"(?<![\w*])\*(?=[^\s*])([^*\n]+?)(?<=\S)\*(?![\w*])")
_CODE_RE = re.compile(r"`([^`\n]+)`")
_HEADING_RE = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+", re.MULTILINE)
_PLAIN_CHARACTERS = str.maketrans({
    # Outside the GSM 7-bit alphabet: one of them makes the whole SMS cost twice as many parts.
    "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
    "\u2013": "-", "\u2014": "-", "\u2026": "...", "\u00a0": " ",
})


def _link(match: re.Match[str]) -> str:
    text, url = match.group(1).strip(), match.group(2)
    if not text or text == url:
        return url
    return f"{text} ({url})"


def strip_markdown(text: str) -> str:
    """Markdown a chat widget would render, as plain SMS text."""
    text = _LINK_RE.sub(_link, text)
    text = _BOLD_RE.sub(r"\2", text)
    text = _ITALIC_RE.sub(r"\1", text)
    text = _CODE_RE.sub(r"\1", text)
    text = _HEADING_RE.sub("", text)
    return text.translate(_PLAIN_CHARACTERS)


def button_title(button: dict[str, Any]) -> str:
    return str(button.get("title") or button.get("payload") or "").strip()


def sms_text(
    text: str | None, buttons: list[dict[str, Any]] | None = None, first_number: int = 1,
    language: str | None = "en",
) -> str:
    """One bot message as one SMS text: plain text, then one "Reply <n> for <title>" per button
    ("Responda <n> para <title>" in a Spanish message).

    >>> sms_text("Shall I send it?", [{"title": "Yes, send it"}, {"title": "No"}])
    'Shall I send it?\\n\\nReply 1 for Yes, send it\\nReply 2 for No'
    """
    body = strip_markdown(text or "").strip()
    line = OPTION_LINE[spoken(language)]
    options = [
        line.format(number=number, title=strip_markdown(button_title(button)))
        for number, button in enumerate(buttons or [], start=first_number)
    ]
    return "\n\n".join(part for part in (body, "\n".join(options)) if part)


# Coarse to fine: paragraphs, lines, sentences, words. Each level's pieces are re-joined with
# its separator when they are packed together again.
_SPLIT_LEVELS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\n[ \t]*\n\s*"), "\n\n"),
    (re.compile(r"[ \t]*\n\s*"), "\n"),
    (re.compile(r"(?<=[.!?])\s+"), " "),
    (re.compile(r"\s+"), " "),
)


def split_sms(text: str, limit: int = SMS_MAX_CHARS) -> list[str]:
    """``text`` in chunks of at most ``limit`` characters, cut at the coarsest boundary that
    works: paragraph, then line, then sentence, then word. Only a single "word" longer than the
    limit (a huge URL) is cut inside."""
    if limit < 1:
        raise ValueError("limit must be positive")
    return [chunk for chunk in _split(text.strip(), limit, 0) if chunk]


def _split(text: str, limit: int, level: int) -> list[str]:
    if len(text) <= limit:
        return [text]
    if level == len(_SPLIT_LEVELS):
        return [text[start:start + limit] for start in range(0, len(text), limit)]
    pattern, separator = _SPLIT_LEVELS[level]
    chunks: list[str] = []
    current = ""
    for piece in (p.strip() for p in pattern.split(text)):
        if not piece:
            continue
        if len(piece) > limit:
            if current:
                chunks.append(current)
                current = ""
            chunks.extend(_split(piece, limit, level + 1))
        elif not current:
            current = piece
        elif len(current) + len(separator) + len(piece) <= limit:
            current += separator + piece
        else:
            chunks.append(current)
            current = piece
    if current:
        chunks.append(current)
    return chunks


# Some carriers turn the @ of an e-mail address into ¡ (GSM 7-bit alphabet): "maria¡example.com".
# Only between an address's name and its domain: "¡Hola!" and "¡gracias!" are Spanish.
_CARRIER_AT_RE = re.compile(r"(?<=[\w.+-])¡(?=[\w-]+(?:\.[\w-]+)+)")


def carrier_at_signs(text: str) -> str:
    """``maria¡example.com`` -> ``maria@example.com``; a Spanish "¡" is kept."""
    return _CARRIER_AT_RE.sub("@", text)


# --------------------------------------------------------------------------------------------
# Numbered replies -> button payloads


_NUMBER_REPLY_RE = re.compile(r"^\s*#?\s*(\d{1,2})\s*[.)]?\s*$")


def parse_number_reply(text: str | None) -> int | None:
    """``"1"``, ``"1."``, ``" 2 "`` -> 1, 1, 2; anything else -> None."""
    match = _NUMBER_REPLY_RE.match(text or "")
    return int(match.group(1)) if match else None


def buttons_of_last_turn(
    events: Iterable[Event], max_idle_seconds: float | None = None, now: float | None = None
) -> list[dict[str, Any]]:
    """The buttons the patient was last offered, numbered as ``ClinicTwilioOutput`` numbered
    them: those of every bot message after the patient's latest message, in order.

    Nothing when the conversation has been idle longer than ``max_idle_seconds`` (Rasa starts a
    new session then, and the old buttons mean nothing any more).
    """
    events = list(events)
    if max_idle_seconds and events:
        idle = (time.time() if now is None else now) - events[-1].timestamp
        if idle > max_idle_seconds:
            return []
    turn: list[list[dict[str, Any]]] = []
    for event in reversed(events):
        if isinstance(event, UserUttered):
            break
        if isinstance(event, BotUttered):
            data = event.data or {}
            turn.append(list(data.get("buttons") or data.get("quick_replies") or []))
    return [button for buttons in reversed(turn) for button in buttons]


def payload_for_reply(text: str | None, buttons: list[dict[str, Any]]) -> str | None:
    """The payload of the button a numbered reply picks, or None (the text passes through).

    A payload that is a command (``/affirm``) goes as it is. A payload in words that are not
    the button's title is replaced by the title, the words the patient read and chose: a
    Spanish button "Es mi primera visita" with the payload "I'm a new patient" must not read
    as an English message (the language layer would answer the rest of the conversation in
    English)."""
    number = parse_number_reply(text)
    if number is None or not 1 <= number <= len(buttons):
        return None
    button = buttons[number - 1]
    payload = str(button.get("payload") or button.get("title") or "")
    title = str(button.get("title") or "").strip()
    if payload and not payload.startswith("/") and title and \
            title.casefold() != payload.strip().casefold():
        return title
    return payload or None


def message_language(message: dict[str, Any]) -> str:
    """The language of one bot message: the ``language`` condition of the response variation
    Rasa chose (it comes along with the message), else English."""
    for condition in message.get("condition") or []:
        if isinstance(condition, dict) and condition.get("name") == "language":
            return spoken(condition.get("value"))
    return "en"


# --------------------------------------------------------------------------------------------
# Privacy and signatures


def conversation_tag(sender_id: str | None, key: str | None) -> str:
    """A short name for a conversation in logs: a keyed hash, so the log does not show the
    phone number and the number cannot be recovered by hashing every possible one."""
    digest = hmac.new((key or "").encode(), (sender_id or "").encode(), hashlib.sha256)
    return digest.hexdigest()[:10]


def parse_form(body: bytes) -> RequestParameters:
    """A form-encoded body with its blank fields kept (Twilio signs those too; Sanic's
    ``request.form`` drops them). Raises ValueError for a body that is not such a form."""
    fields = RequestParameters()
    pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True,
                      max_num_fields=MAX_FORM_FIELDS)
    for name, value in pairs:
        fields.setdefault(name, []).append(value)
    return fields


def signature_is_valid(
    auth_token: str, url: str, params: dict[str, Any], signature: str | None
) -> bool:
    """Whether ``X-Twilio-Signature`` matches the URL Twilio called and its form fields."""
    if not auth_token or not signature:
        return False
    return bool(RequestValidator(auth_token).validate(url, params, signature))


# --------------------------------------------------------------------------------------------
# Sending


class ClinicTwilioOutput(TwilioOutput):
    """Sends a turn's replies as plain, numbered, SMS-sized texts without blocking the loop."""

    def __init__(
        self,
        account_sid: str | None,
        auth_token: str | None,
        twilio_number: str | None,
        http_client: TwilioHttpClient | None = None,
    ) -> None:
        # Client.__init__ directly: TwilioOutput's would build a second HTTP client.
        Client.__init__(self, account_sid, auth_token,
                        http_client=http_client or make_http_client())
        self.twilio_number = twilio_number
        self.send_retry = 0
        self.max_retry = SEND_ATTEMPTS
        self._next_button_number = 1
        self._held: list[tuple[bool, dict[str, Any]]] | None = None

    # -- a turn: hold the replies, then send them with the emergency advice first

    def hold(self) -> None:
        """Keep messages until ``release()`` (the input channel does this for each turn)."""
        if self._held is None:
            self._held = []

    async def release(self) -> int:
        """Send the held messages; how many there were."""
        held, self._held = self._held or [], None
        # A stable sort: urgent messages first, otherwise in the order Rasa produced them.
        for _urgent, message_data in sorted(held, key=lambda item: not item[0]):
            await self._send_message(message_data)
        return len(held)

    # -- Rasa's OutputChannel interface

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self._send_text(recipient_id, sms_text(text), kwargs)

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        body = sms_text(text, buttons, first_number=self._next_button_number,
                        language=message_language(kwargs))
        self._next_button_number += len(buttons)
        await self._send_text(recipient_id, body, kwargs)

    async def _send_text(self, recipient_id: str, body: str, kwargs: dict[str, Any]) -> None:
        urgent = is_urgent(kwargs)
        for chunk in split_sms(body):
            await self._queue({"to": recipient_id, "from_": self.twilio_number, "body": chunk},
                              urgent)

    async def _queue(self, message_data: dict[str, Any], urgent: bool = False) -> None:
        if self._held is not None:
            self._held.append((urgent, dict(message_data)))
        else:
            await self._send_message(message_data)

    def sender_for(self, recipient_id: str) -> str | None:
        """The clinic's number in the recipient's format: ``whatsapp:+1...`` for WhatsApp."""
        number = self.twilio_number or ""
        if not number.removeprefix(WHATSAPP_PREFIX):
            return None
        return clinic_number_for(number, recipient_id)

    async def _send_message(self, message_data: dict[str, Any]) -> Any:
        """Send one message (Rasa's image and custom-JSON methods come here too); return the
        Twilio message resource, or None when it could not be sent (logged)."""
        if self._held is not None:  # Rasa's own send_* methods call this directly
            self._held.append((False, dict(message_data)))
            return None
        data = dict(message_data)
        to = str(data.get("to") or "")
        if not data.get("messaging_service_sid"):
            data["from_"] = self.sender_for(to)
        tag = conversation_tag(to, self.password)
        for attempt in range(1, SEND_ATTEMPTS + 1):
            try:
                message = await asyncio.to_thread(self.messages.create, **data)
            except (TwilioRestException, requests.exceptions.RequestException) as exc:
                if isinstance(exc, TwilioRestException) and exc.code == OPTED_OUT_ERROR:
                    logger.info("Twilio: conversation %s has opted out (STOP); not sent", tag)
                    return None
                if not _is_retryable(exc) or attempt == SEND_ATTEMPTS:
                    logger.error("Twilio: could not send a message to conversation %s "
                                 "(attempt %d of %d): %s", tag, attempt, SEND_ATTEMPTS,
                                 _describe(exc))
                    return None
                logger.warning("Twilio: sending to conversation %s failed (attempt %d of %d): "
                               "%s; trying again", tag, attempt, SEND_ATTEMPTS, _describe(exc))
                await asyncio.sleep(RETRY_DELAY_SECONDS * attempt)
            else:
                logger.debug("Twilio: message %s queued for conversation %s",
                             getattr(message, "sid", "?"), tag)
                return message
        return None


# --------------------------------------------------------------------------------------------
# Receiving


def _clean(value: Any) -> str:
    return str(value).strip() if value is not None else ""


class ClinicTwilioInput(TwilioInput):
    """The webhook Twilio calls for every SMS or WhatsApp message to the clinic's number."""

    @classmethod
    def name(cls) -> str:
        return "twilio"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> ClinicTwilioInput:
        credentials = credentials or {}
        return cls(
            _clean(credentials.get("account_sid")),
            _clean(credentials.get("auth_token")),
            _clean(credentials.get("twilio_number")),
            webhook_url=_clean(credentials.get("webhook_url")),
            max_message_chars=max_chars(credentials.get("max_message_chars")),
        )

    def __init__(
        self,
        account_sid: str | None,
        auth_token: str | None,
        twilio_number: str | None,
        debug_mode: bool = False,
        webhook_url: str | None = None,
        max_message_chars: int = DEFAULT_MAX_MESSAGE_CHARS,
    ) -> None:
        super().__init__(account_sid or "", auth_token or "", twilio_number or "", debug_mode)
        self.webhook_url = webhook_url or ""
        self.max_message_chars = max_message_chars
        self._turns: set[asyncio.Future[bool]] = set()  # running turns (asyncio keeps weak refs)

    @property
    def enabled(self) -> bool:
        return bool(self.account_sid and self.auth_token and self.twilio_number)

    def _log_configuration(self) -> None:
        if not self.account_sid:
            logger.info("SMS/WhatsApp channel (Twilio) is off: TWILIO_ACCOUNT_SID is empty")
            return
        missing = [name for name, value in (("TWILIO_AUTH_TOKEN", self.auth_token),
                                            ("TWILIO_NUMBER", self.twilio_number)) if not value]
        if missing:
            logger.error("SMS/WhatsApp channel (Twilio) is off: %s not set", " and ".join(missing))
            return
        kind = "WhatsApp" if self.twilio_number.startswith(WHATSAPP_PREFIX) else "SMS"
        logger.info("SMS/WhatsApp channel (Twilio) is on (%s) at %s", kind, WEBHOOK_PATH)
        if self.webhook_url and not self.webhook_url.split("?")[0].endswith(WEBHOOK_PATH):
            logger.warning("TWILIO_WEBHOOK_URL should be the full URL Twilio calls, ending in "
                           "%s; signatures will not match otherwise", WEBHOOK_PATH)
        if api_base_url():
            logger.warning("Twilio API calls go to %s (%s: a test/staging setting)",
                           api_base_url(), API_BASE_URL_ENV)

    def get_output_channel(self) -> OutputChannel | None:
        if not self.enabled:
            return None
        return ClinicTwilioOutput(self.account_sid, self.auth_token, self.twilio_number)

    async def _button_payload(self, request: Request, sender: str, text: str) -> str | None:
        """The payload of the button a numbered reply picks, read from the tracker store."""
        if parse_number_reply(text) is None:
            return None
        agent = getattr(request.app.ctx, "agent", None)
        store = getattr(agent, "tracker_store", None)
        if store is None:
            return None
        try:
            tracker = await store.retrieve(sender)
        except Exception as exc:  # the store is down: the number goes through as text
            logger.warning("Twilio: could not read the conversation to map a numbered reply: %s",
                           type(exc).__name__)
            return None
        if tracker is None:
            return None
        session_config = getattr(getattr(agent, "domain", None), "session_config", None)
        minutes = getattr(session_config, "session_expiration_time", 0) or 0
        buttons = buttons_of_last_turn(tracker.events, max_idle_seconds=minutes * 60 or None)
        return payload_for_reply(text, buttons)

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        self._log_configuration()
        twilio_webhook = Blueprint("twilio_webhook", __name__)

        @twilio_webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok" if self.enabled else "off"})

        @twilio_webhook.route("/webhook", methods=["POST"])
        async def message(request: Request) -> HTTPResponse:
            if not self.enabled:
                return response.text("The SMS/WhatsApp channel is not configured.", status=503)
            content_type = (request.headers.get("content-type") or "").split(";")[0]
            if content_type.strip().lower() != FORM_CONTENT_TYPE:
                return response.text("Expected a form-encoded Twilio webhook.", status=415)
            try:
                form = parse_form(request.body or b"")
            except ValueError:  # not UTF-8, or an absurd number of fields
                return response.text("Malformed form body.", status=400)

            url = self.webhook_url or request.url
            signature = request.headers.get("X-Twilio-Signature")
            if not signature_is_valid(self.auth_token, url, form, signature):
                logger.warning("Twilio webhook refused: %s signature (checked for %s)",
                               "wrong" if signature else "no", url)
                return response.text("Invalid or missing Twilio signature.", status=403)

            sender = _clean(form.get("From"))
            text = form.get("Body")
            if not sender or text is None:
                return response.text("A Twilio message needs From and Body.", status=400)
            tag = conversation_tag(sender, self.auth_token)

            output = ClinicTwilioOutput(self.account_sid, self.auth_token, self.twilio_number)
            agent = getattr(request.app.ctx, "agent", None)
            if not text.strip():  # a picture, a voice note or a location, without text
                logger.info("Twilio: conversation %s sent a message without text", tag)
                language = await patient_language(agent, sender)
                await output.send_text_message(sender, reply("text_only", language))
                return response.text(EMPTY_TWIML, content_type="text/xml")
            if len(text) > self.max_message_chars:  # WhatsApp allows 4096 characters
                logger.info("Twilio: refused a message over %d characters",
                            self.max_message_chars)
                language = await patient_language(agent, sender, text)
                await output.send_text_message(sender, reply("too_long", language))
                return response.text(EMPTY_TWIML, content_type="text/xml")

            # A message plainly in Spanish: a conversation it starts starts in Spanish (the
            # privacy notice and disclaimer come before the message is understood;
            # action_session_start reads this like the widget's page language).
            metadata = dict(self.get_metadata(request) or {})
            if text_language(text) == "es":
                metadata["language"] = "es"
            text = carrier_at_signs(text)
            payload = await self._button_payload(request, sender, text)
            if payload is not None:
                logger.debug("Twilio: numbered reply mapped to a button payload")
                text = payload

            message = UserMessage(text, output, sender, input_channel=self.name(),
                                  metadata=metadata or None)
            # Sanic cancels a handler when the caller hangs up (Twilio waits 15 s): the turn runs
            # as its own task so a slow one still finishes, is saved and is answered.
            turn = asyncio.ensure_future(self._turn(on_new_message, message, output, tag,
                                                    agent))
            self._turns.add(turn)
            turn.add_done_callback(self._turns.discard)
            try:
                handled = await asyncio.shield(turn)
            except asyncio.CancelledError:
                logger.warning("Twilio: the webhook call ended before conversation %s's turn "
                               "did; its replies are still sent", tag)
                raise
            if not handled:
                return response.text("The message could not be handled.", status=500)
            return response.text(EMPTY_TWIML, content_type="text/xml")

        return twilio_webhook

    async def _turn(
        self,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        message: UserMessage,
        output: ClinicTwilioOutput,
        tag: str,
        agent: Any = None,
    ) -> bool:
        """One patient message through Rasa, then its replies (emergency advice first); the
        apology when the turn produced none (a part of the assistant failed)."""
        output.hold()
        try:
            await on_new_message(message)
            return True
        except Exception as exc:
            logger.error("Twilio: could not handle a message of conversation %s: %s",
                         tag, type(exc).__name__)
            logger.debug("Twilio: handling failed", exc_info=True)
            return False
        finally:
            # whatever was produced, even after a failure
            if not await output.release() and \
                    not await conversation_paused(agent, message.sender_id):
                logger.warning("Twilio: conversation %s's turn produced no reply; sent the "
                               "apology", tag)
                language = await conversation_language(agent, message.sender_id)
                await output.send_text_message(message.sender_id, no_reply_text(language))
