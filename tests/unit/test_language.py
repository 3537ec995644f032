"""The language layer: clearly foreign messages are marked, English ones (names, typos, short
answers) never are."""

from __future__ import annotations

from pathlib import Path

import pytest
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.training_data.loading import load_data
from rasa.shared.nlu.training_data.message import Message

from components.language import LanguageDetector, detect, without_names

DATA = Path(__file__).resolve().parents[2] / "data" / "nlu"


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> LanguageDetector:
    """The component trained on the project's NLU data, as `rasa train` trains it."""
    storage = LocalModelStorage(tmp_path_factory.mktemp("model"))
    component = LanguageDetector(LanguageDetector.get_default_config(), storage,
                                 Resource("language"))
    component.train(load_data(str(DATA)))
    return LanguageDetector.load(LanguageDetector.get_default_config(), storage,
                                 Resource("language"), None)


@pytest.mark.parametrize(("text", "code"), [
    ("Bonjour, est-ce que l'acupuncture peut soulager mes migraines ?", "fr"),
    ("Ich möchte gerne einen Termin für nächste Woche vereinbaren", "de"),
    ("Olá, quanto tempo dura uma sessão de acupuntura?", "pt"),
    ("Dzień dobry, chciałabym umówić wizytę", "pl"),
    ("你好，针灸能治头痛吗", "zh"),
    ("Здравствуйте, у меня болит голова", "ru"),
])
def test_foreign_messages_are_recognised(trained, text, code):
    assert detect(text, trained.vocabulary) == code


@pytest.mark.parametrize("text", [
    "ok", "hola", "Maria Lopez", "next tuesday afternoon", "hours?",
    "is it a tension headache?", "can acupuncture help with migraines",
    "migraines about twice a week", "wat is a hedache",
])
def test_english_and_short_messages_are_left_alone(trained, text):
    assert "headache" in trained.vocabulary and "soulager" not in trained.vocabulary
    assert detect(text, trained.vocabulary) is None


def test_names_are_blanked_before_detection():
    message = Message(data={"text": "I am Giuseppe Bianchi", "entities": [
        {"entity": "PERSON", "value": "Giuseppe Bianchi", "start": 5, "end": 21}]})
    assert without_names(message).strip() == "I am"


def test_the_component_marks_the_intent_and_keeps_emergencies(trained):
    detector = trained
    foreign = Message(data={"text": "Buongiorno, soffro di mal di testa da settimane",
                            "intent": {"name": "faq", "confidence": 0.9}})
    emergency = Message(data={"text": "Ich habe die schlimmsten Kopfschmerzen meines Lebens",
                              "intent": {"name": "emergency", "confidence": 0.9}})
    detector.process([foreign, emergency])
    assert foreign.get("intent")["name"] == "other_language"
    assert [(e["entity"], e["value"]) for e in foreign.get("entities")] == [("language", "it")]
    assert emergency.get("intent")["name"] == "emergency"


def entities_of(message: Message) -> list[tuple[str, str]]:
    return [(e["entity"], e["value"]) for e in message.get("entities") or []]


@pytest.mark.parametrize(("text", "intent"), [
    ("Hola, quisiera hacer una cita para el martes que viene por la tarde", "book_appointment"),
    ("¿cuánto cuesta?", "faq"),
    ("gracias", "thank"),
    ("me duele mucho la espalda desde hace semanas", "inform"),
])
def test_spanish_keeps_the_classifiers_intent_and_sets_the_reply_language(trained, text, intent):
    message = Message(data={"text": text, "intent": {"name": intent, "confidence": 0.8}})
    trained.process([message])
    assert message.get("intent")["name"] == intent
    assert entities_of(message) == [("reply_language", "es")]


@pytest.mark.parametrize(("text", "expected"), [
    ("can acupuncture help with my migraines?", [("reply_language", "en")]),
    ("ok", []), ("1", []), ("212 555 0123", []), ("sí", []), ("no", []),
])
def test_english_sets_english_and_short_answers_leave_the_language_alone(trained, text,
                                                                         expected):
    message = Message(data={"text": text, "intent": {"name": "faq", "confidence": 0.8}})
    trained.process([message])
    assert entities_of(message) == expected


def test_a_name_alone_leaves_the_language_alone(trained):
    message = Message(data={"text": "María José Pérez", "intent": {"name": "inform"},
                            "entities": [{"entity": "PERSON", "value": "María José Pérez",
                                          "start": 0, "end": 16}]})
    trained.process([message])
    assert [e for e in entities_of(message) if e[0] == "reply_language"] == []


@pytest.mark.parametrize("text", [
    # bare names spaCy does not mark as a person, and e-mail addresses, in either language
    "Ana Ruiz", "Carmen Díaz", "José García", "John Smith", "ana@example.com",
    "maria.lopez@example.com", "john.smith@example.org", "www.example.com",
])
def test_a_bare_name_or_address_leaves_the_language_alone(trained, text):
    message = Message(data={"text": text, "intent": {"name": "inform", "confidence": 0.8}})
    trained.process([message])
    assert entities_of(message) == []


@pytest.mark.parametrize(("text", "language"), [
    ("me llamo Ana Ruiz", "es"), ("mi correo es ana@example.com", "es"),
    ("my email is maria.lopez@example.com", "en"), ("Buenos Días", "es"),
])
def test_words_around_a_name_or_address_still_tell_the_language(trained, text, language):
    message = Message(data={"text": text, "intent": {"name": "inform", "confidence": 0.8}})
    trained.process([message])
    assert entities_of(message) == [("reply_language", language)]


@pytest.mark.parametrize(("text", "language"), [
    ("en español", "es"), ("¿Habla usted español?", "es"), ("Spanish please", "es"),
    ("in English please", "en"), ("en inglés por favor", "en"), ("English", "en"),
])
def test_asking_for_a_language_switches_to_it(trained, text, language):
    message = Message(data={"text": text, "intent": {"name": "out_of_scope"}})
    trained.process([message])
    assert message.get("intent")["name"] == "switch_language"
    assert entities_of(message) == [("reply_language", language)]


def test_a_spanish_emergency_stays_an_emergency_and_is_answered_in_spanish(trained):
    message = Message(data={"text": "tengo el peor dolor de cabeza de mi vida, empezó de golpe",
                            "intent": {"name": "emergency", "confidence": 0.9}})
    trained.process([message])
    assert message.get("intent")["name"] == "emergency"
    assert entities_of(message) == [("reply_language", "es")]


def test_spanish_training_examples_stay_out_of_the_english_vocabulary(trained):
    assert "quisiera" not in trained.vocabulary and "migraine" in trained.vocabulary
