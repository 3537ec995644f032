"""What every channel checks before a message reaches the model: size, type, control characters.

The limits are settings (``credentials.yml`` passes ``MAX_MESSAGE_CHARS``; Rasa's HTTP body limit
is ``MAX_BODY_BYTES``, see scripts/serve.py). A message that breaks them gets a polite reply or a
4xx, never a crash, and the text itself is never logged.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from typing import Any

logger = logging.getLogger(__name__)

DEFAULT_MAX_MESSAGE_CHARS = 2000
MAX_SENDER_CHARS = 128

TOO_LONG_REPLY = (
    "Sorry, that message is too long for me. Could you say it in a few sentences? "
    "For anything detailed, please call the clinic."
)
EMPTY_REPLY = "I didn't get a message there. What would you like to know?"
# When a turn produced no reply at all: a part of the assistant failed (e.g. the action server is
# down; Rasa then logs the error and answers nothing). A patient never gets silence.
NO_REPLY = (
    "Sorry, something went wrong on my side and I couldn't answer that. Please try again in a "
    "minute, or call the clinic{phone}."
)


def no_reply_text() -> str:
    """NO_REPLY with the clinic's phone from clinic.yml (without it if that cannot be read)."""
    try:
        from actions.clinic import get_clinic

        return NO_REPLY.format(phone=f" at {get_clinic().phone}")
    except Exception:  # the apology must not fail too
        logger.exception("Could not read the clinic's phone for the apology")
        return NO_REPLY.format(phone="")

# C0/C1 control characters except tab and newline; also zero-width and bidi-override marks that
# could hide or reorder text in the staff console.
_CONTROL_RE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]"
)


def clean_text(text: str) -> str:
    """The message without control characters, NFC-normalised and trimmed."""
    return unicodedata.normalize("NFC", _CONTROL_RE.sub(" ", text)).strip()


def max_chars(raw: Any, default: int = DEFAULT_MAX_MESSAGE_CHARS) -> int:
    """A positive limit from a credentials value ("" or None: the default)."""
    try:
        value = int(raw)
    except (TypeError, ValueError):
        return default
    return value if value > 0 else default


def valid_sender(value: Any) -> bool:
    """A conversation id: a non-empty printable string of at most MAX_SENDER_CHARS."""
    return (isinstance(value, str) and 0 < len(value) <= MAX_SENDER_CHARS
            and value.isprintable())
