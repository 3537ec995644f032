"""Twilio's REST API as the clinic uses it, without Rasa: an HTTP client with a timeout, quiet
logs and an optional other API base URL (``TWILIO_API_BASE_URL``, the fake API of the tests), the
retry rule, and one SMS sent outside a conversation (the delivery worker's notices to patients).

``channels/twilio.py`` (the Rasa channel) sends the replies of a conversation with the same
client; this module has no Rasa import so that the delivery worker stays light.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

logger = logging.getLogger(__name__)

API_BASE_URL_ENV = "TWILIO_API_BASE_URL"
API_TIMEOUT_SECONDS = 10.0
WHATSAPP_PREFIX = "whatsapp:"


_TWILIO_API_ORIGIN_RE = re.compile(r"^https://api(?:\.[a-z0-9-]+)*\.twilio\.com(?=/|$)")


def rewrite_api_url(url: str, base_url: str | None) -> str:
    """``https://api.twilio.com/2010-04-01/...`` -> ``<base_url>/2010-04-01/...``."""
    if not base_url:
        return url
    return _TWILIO_API_ORIGIN_RE.sub(base_url.rstrip("/"), url, count=1)


class ClinicTwilioHttpClient(TwilioHttpClient):
    """Twilio's HTTP client with a timeout, quiet logs and an optional other API base URL."""

    def __init__(self, base_url: str | None = None,
                 timeout: float = API_TIMEOUT_SECONDS) -> None:
        super().__init__(timeout=timeout, logger=logger)
        self.base_url = base_url or None

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        return super().request(method, rewrite_api_url(url, self.base_url), *args, **kwargs)

    # Twilio logs every request and response at INFO; these are debugging details.
    def log_request(self, kwargs: dict[str, Any]) -> None:
        logger.debug("Twilio API request: %s %s", kwargs.get("method"), kwargs.get("url"))

    def log_response(self, status_code: int, response: Any) -> None:
        logger.debug("Twilio API response: %s", status_code)


def api_base_url() -> str | None:
    """``TWILIO_API_BASE_URL``, read when asked (test/staging setting)."""
    return os.environ.get(API_BASE_URL_ENV, "").strip() or None


def make_http_client() -> TwilioHttpClient:
    return ClinicTwilioHttpClient(api_base_url())


def _is_retryable(exc: Exception) -> bool:
    if isinstance(exc, TwilioRestException):
        return exc.status == 429 or exc.status >= 500
    # Refused or unreachable: nothing was sent, so trying again cannot send a message twice.
    # A read timeout is not retried: Twilio may have accepted the message already.
    return isinstance(exc, requests.exceptions.ConnectionError)


def _describe(exc: Exception) -> str:
    """An error without its message (Twilio's messages can quote the phone number)."""
    if isinstance(exc, TwilioRestException):
        return f"HTTP {exc.status}, Twilio error {exc.code}"
    return type(exc).__name__


def clinic_number_for(twilio_number: str, recipient: str) -> str:
    """The clinic's number in the recipient's format: ``whatsapp:+1...`` for WhatsApp."""
    plain = twilio_number[len(WHATSAPP_PREFIX):] if twilio_number.startswith(WHATSAPP_PREFIX) \
        else twilio_number
    return WHATSAPP_PREFIX + plain if recipient.startswith(WHATSAPP_PREFIX) else plain


def send_sms(account_sid: str, auth_token: str, twilio_number: str, to: str, body: str) -> str:
    """Send one message (SMS, or WhatsApp for a ``whatsapp:`` recipient); Twilio's message SID.
    Raises on failure (the caller retries later); logs neither the number nor the text."""
    client = Client(account_sid, auth_token, http_client=make_http_client())
    try:
        message = client.messages.create(to=to, from_=clinic_number_for(twilio_number, to),
                                          body=body)
    except (TwilioRestException, requests.exceptions.RequestException) as exc:
        raise RuntimeError(f"Twilio refused or could not be reached ({_describe(exc)})") from exc
    return str(message.sid)
