"""What the channels answer without the model (too long, empty, no reply, not text), in the
patient's language: the message's own when it is plainly Spanish, else the stored
conversation's, else English (channels/limits.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from actions.clinic import get_clinic
from channels import limits
from channels.limits import (
    EMPTY_REPLY,
    NO_REPLY,
    REPLIES,
    TEXT_ONLY_REPLY,
    TOO_LONG_REPLY,
    conversation_language,
    no_reply_text,
    patient_language,
    reply,
    text_language,
)

# Rasa warns about slot auto-fill for every domain it builds from a dict
pytestmark = pytest.mark.filterwarnings("ignore:Slot auto-fill:UserWarning")

LANGUAGE_SLOT = {"language": {"type": "categorical", "values": ["en", "es"],
                              "initial_value": "en", "influence_conversation": False,
                              "mappings": [{"type": "custom"}]}}


def domain() -> Domain:
    return Domain.from_dict({"slots": LANGUAGE_SLOT})


class Agent:
    """What the channels use of Rasa's agent here: its tracker store."""

    def __init__(self, store: Any = None) -> None:
        self.tracker_store = store if store is not None else InMemoryTrackerStore(domain())


async def conversation(agent: Agent, sender: str, language: str | None) -> None:
    events: list[Any] = [UserUttered("hola")]
    if language:
        events.append(SlotSet("language", language))
    await agent.tracker_store.save(
        DialogueStateTracker.from_events(sender, events, domain().slots))


def test_every_text_is_written_in_both_languages_and_english_keeps_its_old_names():
    assert set(REPLIES) == {"too_long", "empty", "no_reply", "text_only"}
    for kind, texts in REPLIES.items():
        assert set(texts) == {"en", "es"}, kind
        assert texts["es"] != texts["en"], kind
    assert (TOO_LONG_REPLY, EMPTY_REPLY, NO_REPLY, TEXT_ONLY_REPLY) == (
        REPLIES["too_long"]["en"], REPLIES["empty"]["en"], REPLIES["no_reply"]["en"],
        REPLIES["text_only"]["en"])


@pytest.mark.parametrize(("language", "expected"), [
    ("es", "es"), ("es-US", "es"), ("es_MX", "es"), ("en", "en"), (None, "en"), ("fr", "en"),
])
def test_a_reply_in_the_language_asked_english_otherwise(language, expected):
    assert reply("too_long", language) == REPLIES["too_long"][expected]
    assert reply("empty", language) == REPLIES["empty"][expected]


def test_the_apology_gives_the_clinics_phone_in_either_language():
    phone = get_clinic().phone
    assert no_reply_text() == NO_REPLY.format(phone=f" at {phone}")
    assert no_reply_text("es").endswith(f"llame a la clínica al {phone}.")
    assert no_reply_text("es").startswith("Lo siento, algo falló")


def test_the_apology_goes_out_without_the_phone_when_the_clinic_file_fails(monkeypatch):
    import actions.clinic

    def broken() -> None:
        raise ValueError("clinic.yml: broken")

    monkeypatch.setattr(actions.clinic, "get_clinic", broken)
    assert no_reply_text("es").endswith("llame a la clínica.")


@pytest.mark.parametrize(("text", "language"), [
    ("¿Qué es la acupuntura?", "es"),
    ("Tengo migrañas muy fuertes y quisiera saber más sobre la acupuntura. " * 40, "es"),
    ("quiero una cita", "es"),
    ("hola", "es"),
    ("what is acupuncture?", None),
    ("headache " * 11_400, None),  # about 100 KB: only its beginning is read
    ("María López", None),  # a name decides nothing
    ("212 555 0123", None),
    ("", None),
    ("x" * 5000, None),
    # too short for lingua, Spanish by its function words; not with an English one in it
    ("mi papá está vomitando sangre", "es"),
    ("fiebre y rigidez de cuello", "es"),
    ("my son drank algo de la botella", None),
    ("my dad is on the floor", None),
])
def test_the_language_of_a_message_that_is_not_passed_to_the_model(text, language):
    assert text_language(text) == language


def test_only_the_beginning_of_a_long_message_is_read(monkeypatch):
    seen: list[str] = []
    import components.language

    def spy(text: str, vocabulary: frozenset[str], **kwargs: Any) -> tuple[None, None]:
        seen.append(text)
        return None, None

    monkeypatch.setattr(components.language, "reply_language", spy)
    text_language("dolor de cabeza " * 10_000)
    assert [len(s) for s in seen] == [limits.LANGUAGE_SAMPLE_CHARS]


async def test_the_conversations_language_comes_from_the_tracker_store():
    agent = Agent()
    await conversation(agent, "es-patient", "es")
    await conversation(agent, "en-patient", "en")
    await conversation(agent, "new-patient", None)  # the slot's initial value
    assert await conversation_language(agent, "es-patient") == "es"
    assert await conversation_language(agent, "en-patient") == "en"
    assert await conversation_language(agent, "new-patient") == "en"
    assert await conversation_language(agent, "nobody") is None
    assert await conversation_language(None, "es-patient") is None
    assert await conversation_language(Agent(store=False), "es-patient") is None


class BrokenStore:
    async def retrieve(self, sender_id: str) -> None:
        raise ConnectionError("the database is down")


class SlowStore:
    async def retrieve(self, sender_id: str) -> None:
        await asyncio.sleep(30)


async def test_a_store_that_fails_or_hangs_gives_no_language():
    assert await conversation_language(Agent(BrokenStore()), "es-patient") is None
    assert await conversation_language(Agent(SlowStore()), "es-patient", timeout=0.05) is None
    assert await patient_language(Agent(BrokenStore()), "es-patient") == "en"


async def test_the_messages_own_spanish_first_then_the_conversations_then_english():
    agent = Agent()
    await conversation(agent, "es-patient", "es")
    await conversation(agent, "en-patient", "en")
    assert await patient_language(agent, "es-patient", "headache " * 500) == "es"
    assert await patient_language(agent, "es-patient") == "es"
    assert await patient_language(agent, "en-patient", "dolor de cabeza muy fuerte " * 100) \
        == "es"
    assert await patient_language(agent, "en-patient", "headache " * 500) == "en"
    assert await patient_language(agent, "nobody", "¿Puede ayudarme? " * 200) == "es"
    assert await patient_language(agent, "nobody", "headache " * 500) == "en"
