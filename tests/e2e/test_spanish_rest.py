"""Spanish over REST: the conversation follows the patient's language (detected per message,
kept, switchable), FAQ answers and the booking in Spanish, and every red flag of the two Spanish
phrase sets (tests/safety_phrases_es.yml and tests/safety_phrases_es_blind.yml, written without
seeing the red-flag list) answered first with the Spanish emergency advice, as a new
conversation's first message: before the privacy notice, which is in Spanish too."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
import requests
import yaml

from actions.storage import get_engine, list_requests
from tests.conftest import render

# the two Spanish phrase sets, each written by someone who had not seen the red-flag list
PHRASE_SETS = [yaml.safe_load((Path(__file__).parent.parent / name).read_text())
               for name in ("safety_phrases_es.yml", "safety_phrases_es_blind.yml")]
RED_FLAGS = [item for phrases in PHRASE_SETS for item in phrases["red_flags"]]
ORDINARY = [text for phrases in PHRASE_SETS for text in phrases["ordinary"]]
ES = {"language": "es", "booking_mode": "request"}  # the assistant fixture: no calendar
EMERGENCY_RESPONSES = ("utter_emergency", "utter_emergency_self_harm",
                       "utter_emergency_unspecified", "utter_emergency_poisoning")


def spanish(domain, response: str, **values) -> str:
    return render(domain, response, slots=ES, **values)


def emergency_texts(domain, slots=None) -> set[str]:
    return {render(domain, name, slots=slots) for name in EMERGENCY_RESPONSES}


def start(assistant, sender: str, language: str | None = None) -> list[str]:
    """Start a conversation as the widget does, with the page's language if any."""
    body: dict = {"sender": sender, "message": "/session_start"}
    if language:
        body["metadata"] = {"language": language}
    reply = requests.post(f"{assistant.rasa_url}/webhooks/rest/webhook", json=body, timeout=60)
    reply.raise_for_status()
    return [m.get("text") for m in reply.json()]


def opened(assistant, language: str | None = None) -> str:
    sender = f"es-{uuid.uuid4().hex[:12]}"
    start(assistant, sender, language)
    return sender


def test_a_conversation_started_in_spanish_greets_in_spanish(assistant, domain):
    assert start(assistant, f"es-{uuid.uuid4().hex[:12]}", "es") == [
        spanish(domain, "utter_privacy_notice"), spanish(domain, "utter_disclaimer")]
    assert start(assistant, f"es-{uuid.uuid4().hex[:12]}") == [
        render(domain, "utter_privacy_notice"), render(domain, "utter_disclaimer")]


def test_spanish_questions_get_spanish_answers_and_english_switches_back(assistant, domain):
    sender = opened(assistant)
    assert assistant.texts(sender, "¿Dónde está la clínica?") == [
        spanish(domain, "utter_faq/location")]
    # a button's payload (no words to read) keeps the conversation's language
    assert assistant.texts(sender, "/greet") == [spanish(domain, "utter_greet")]
    assert assistant.texts(sender, "in English please") == [
        render(domain, "utter_language_switched")]
    assert assistant.texts(sender, "where is the clinic?") == [
        render(domain, "utter_faq/location")]
    assert assistant.texts(sender, "en español por favor") == [
        spanish(domain, "utter_language_switched")]


def test_a_whole_booking_in_spanish(assistant, domain):
    sender = opened(assistant, "es")
    say = assistant.texts
    assert say(sender, "Quiero hacer una cita") == [
        spanish(domain, "utter_booking_start"), spanish(domain, "utter_ask_patient_name")]
    assert say(sender, "Me llamo María López") == [spanish(domain, "utter_ask_patient_contact")]
    assert say(sender, "212 555 0123") == [spanish(domain, "utter_ask_preferred_time")]
    assert say(sender, "el martes que viene por la tarde") == [
        spanish(domain, "utter_ask_visit_reason")]
    assert say(sender, "migrañas dos veces por semana") == [
        spanish(domain, "utter_ask_patient_status")]
    [summary] = say(sender, "soy paciente nuevo")
    heading = spanish(domain, "utter_booking_summary", name="", contact="", when="", reason="",
                      status="").splitlines()[0]
    assert summary.startswith(heading) and "María López" in summary
    assert re.search(r"martes \d+ de \w+", summary), summary  # the day in Spanish
    assert "paciente nuevo" in summary
    [done] = say(sender, "sí")
    [row] = [r for r in list_requests(get_engine(assistant.database_url))
             if r["sender_id"] == sender]
    assert done == spanish(domain, "utter_booking_submitted", name="María López",
                           reference=row["reference"])
    assert (row["language"], row["name"], row["phone"]) == ("es", "María López", "+12125550123")


def first_message(assistant, text: str, language: str | None = None) -> list[str]:
    """A new conversation's first message, as an SMS or an integration sends it (no
    ``/session_start`` before it: the session starts with it, its metadata giving the
    language)."""
    body: dict = {"sender": f"es-{uuid.uuid4().hex[:12]}", "message": text}
    if language:
        body["metadata"] = {"language": language}
    reply = requests.post(f"{assistant.rasa_url}/webhooks/rest/webhook", json=body, timeout=60)
    reply.raise_for_status()
    return [m.get("text") for m in reply.json()]


@pytest.mark.parametrize("item", RED_FLAGS, ids=lambda i: i["category"])
def test_a_spanish_red_flag_gets_the_spanish_emergency_advice_first(assistant, domain, item):
    """A first message, with nothing said before: the advice is in Spanish, and comes before
    the new conversation's privacy notice (in Spanish, except for a message with English words
    in it: "my son drank algo de la botella de anticongelante")."""
    replies = first_message(assistant, item["text"])
    assert replies[0] in emergency_texts(domain, ES), (item, replies[:1])
    notice = "utter_privacy_notice"
    assert spanish(domain, notice) in replies or (
        render(domain, notice) in replies and re.search(r"\b(my|the|is)\b", item["text"]))


@pytest.mark.parametrize("text", ORDINARY)
def test_an_ordinary_spanish_message_is_no_false_alarm(assistant, domain, text):
    replies = first_message(assistant, text, "es")
    assert replies and not (emergency_texts(domain, ES) | emergency_texts(domain)) & set(replies)
