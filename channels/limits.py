"""What every channel checks before a message reaches the model: size, type, control characters.

The limits are settings (``credentials.yml`` passes ``MAX_MESSAGE_CHARS``; Rasa's HTTP body limit
is ``MAX_BODY_BYTES``, see scripts/serve.py). A message that breaks them gets a polite reply or a
4xx, never a crash, and the text itself is never logged.

The polite replies (:data:`REPLIES`: too long, empty, no reply, not text) are written here once,
in English and Spanish, and sent in the patient's language without running the model
(:func:`patient_language`): the message's own when its beginning is plainly Spanish (a new
patient's first message), else the ``language`` slot of the conversation in Rasa's tracker
store, else English.
"""

from __future__ import annotations

import asyncio
import logging
import re
import unicodedata
from typing import Any

from actions.clinic import reply_language as spoken

logger = logging.getLogger(__name__)

DEFAULT_MAX_MESSAGE_CHARS = 2000
MAX_SENDER_CHARS = 128

# What a channel answers without the model, in each language the assistant speaks (the
# conversation's ``language`` slot: components/language.py). English is also the fallback.
REPLIES: dict[str, dict[str, str]] = {
    "too_long": {
        "en": "Sorry, that message is too long for me. Could you say it in a few sentences? "
              "For anything detailed, please call the clinic.",
        "es": "Lo siento, ese mensaje es demasiado largo para mí. ¿Podría decirlo en pocas "
              "frases? Para cualquier asunto detallado, por favor llame a la clínica.",
    },
    "empty": {
        "en": "I didn't get a message there. What would you like to know?",
        "es": "No me llegó ningún mensaje. ¿Qué le gustaría saber?",
    },
    # When a turn produced no reply at all: a part of the assistant failed (e.g. the action
    # server is down; Rasa then logs the error and answers nothing). A patient never gets
    # silence. {phone}: " at <the clinic's phone>" (PHONE_AFTER), or nothing.
    "no_reply": {
        "en": "Sorry, something went wrong on my side and I couldn't answer that. Please try "
              "again in a minute, or call the clinic{phone}.",
        "es": "Lo siento, algo falló por mi parte y no pude responder. Por favor, inténtelo de "
              "nuevo en un minuto o llame a la clínica{phone}.",
    },
    # SMS/WhatsApp: a picture, a voice note or a location without any text.
    "text_only": {
        "en": "Sorry, I can only read text messages. Please type your question, or call the "
              "clinic.",
        "es": "Lo siento, solo puedo leer mensajes de texto. Por favor, escriba su pregunta o "
              "llame a la clínica.",
    },
}
PHONE_AFTER = {"en": " at {phone}", "es": " al {phone}"}

# The English texts under their old names.
TOO_LONG_REPLY = REPLIES["too_long"]["en"]
EMPTY_REPLY = REPLIES["empty"]["en"]
NO_REPLY = REPLIES["no_reply"]["en"]
TEXT_ONLY_REPLY = REPLIES["text_only"]["en"]

# How much of a message is read to tell its language (a too-long one is not read further),
# and how long a channel waits for the stored conversation to learn the patient's language.
LANGUAGE_SAMPLE_CHARS = 500
LANGUAGE_LOOKUP_SECONDS = 3.0


def reply(kind: str, language: str | None = "en") -> str:
    """One of :data:`REPLIES` (``too_long``, ``empty``, ``text_only``) in ``language``."""
    return REPLIES[kind][spoken(language)]


def no_reply_text(language: str | None = "en") -> str:
    """The ``no_reply`` apology with the clinic's phone from clinic.yml (without it if that
    cannot be read)."""
    language = spoken(language)
    template = REPLIES["no_reply"][language]
    try:
        from actions.clinic import get_clinic

        return template.format(phone=PHONE_AFTER[language].format(phone=get_clinic().phone))
    except Exception:  # the apology must not fail too
        logger.exception("Could not read the clinic's phone for the apology")
        return template.format(phone="")


def text_language(text: str | None) -> str | None:
    """"es" when a message (its first LANGUAGE_SAMPLE_CHARS characters) is plainly Spanish,
    as the model's language layer reads it without the training data's vocabulary
    (``components.language.reply_language``: Spanish marks, short Spanish greetings, lingua
    on three words or more), or by its Spanish function words; None otherwise (English, a
    name, a number: undecided)."""
    sample = (text or "")[:LANGUAGE_SAMPLE_CHARS]
    if not sample.strip():
        return None
    try:
        from components.language import reply_language

        language, _foreign = reply_language(sample, frozenset())
        if language is None and _function_words_spanish(sample):
            language = "es"
    except Exception:  # the language is a courtesy: never a reason to fail a reply
        logger.exception("Could not tell a message's language")
        return None
    return language if language == "es" else None


# English words that never occur in Spanish text: one of them and the message is not plainly
# Spanish ("my son drank algo de la botella")
_ENGLISH_FUNCTION_WORDS = frozenset({
    "the", "and", "my", "i", "is", "to", "of", "it", "you", "with", "for", "on", "at",
    "she", "his", "her", "was", "are", "have", "has", "this", "that", "what", "how", "can",
    "please", "im", "i'm", "me", "we", "they", "our", "your",
})


def _function_words_spanish(text: str) -> bool:
    """Spanish by its function words ("mi papá está vomitando sangre": too short for lingua to
    be sure): two or more, at least a quarter of the words, and no English one."""
    from components.red_flags_es import SPANISH_WORDS, fold

    words = [fold(w) for w in re.findall(r"[^\W\d_]+", text)]
    if not words or any(w in _ENGLISH_FUNCTION_WORDS for w in words):
        return False
    spanish = sum(w in SPANISH_WORDS for w in words)
    return spanish >= 2 and spanish >= 0.25 * len(words)


async def conversation_language(agent: Any, sender_id: str,
                                timeout: float = LANGUAGE_LOOKUP_SECONDS) -> str | None:
    """The ``language`` slot of the stored conversation (read from the agent's tracker store),
    or None: no such conversation, no store, or the store did not answer within ``timeout``."""
    store = getattr(agent, "tracker_store", None)
    if store is None or not sender_id:
        return None
    try:
        tracker = await asyncio.wait_for(store.retrieve(sender_id), timeout)
    except Exception as exc:  # a store that is down or slow: the reply goes out in English
        logger.warning("Could not read the conversation's language: %s", type(exc).__name__)
        return None
    if tracker is None:
        return None
    try:
        value = tracker.get_slot("language")
    except Exception:
        return None
    return spoken(value) if value else None


async def conversation_paused(agent: Any, sender_id: str,
                              timeout: float = LANGUAGE_LOOKUP_SECONDS) -> bool:
    """Whether the stored conversation is paused (Rasa's ``ConversationPaused``: a person has
    it, docs/live-chat.md), so a turn without a bot reply is expected and needs no apology.
    False when it cannot be read: the apology goes out as before."""
    store = getattr(agent, "tracker_store", None)
    if store is None or not sender_id:
        return False
    try:
        tracker = await asyncio.wait_for(store.retrieve(sender_id), timeout)
        return bool(tracker is not None and tracker.is_paused())
    except Exception as exc:  # noqa: BLE001 - a store that is down or slow
        logger.warning("Could not read whether the conversation is paused: %s",
                       type(exc).__name__)
        return False


async def patient_language(agent: Any, sender_id: str, text: str | None = None) -> str:
    """The language to answer a message in without running the model: the message's own when
    it is plainly Spanish (a new patient's first message), else the conversation's, else
    English."""
    return text_language(text) or await conversation_language(agent, sender_id) or "en"


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
