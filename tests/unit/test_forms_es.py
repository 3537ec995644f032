"""The booking form's own reading of Spanish answers: names, new or returning, questions."""

from __future__ import annotations

import pytest

from actions.clinic import get_clinic
from actions.forms import (
    _QUESTION_RE,
    _THIS_NUMBER_RE,
    clean_name,
    corrects_name,
    patient_status_from,
    stated_name,
    valid_name,
)


@pytest.mark.parametrize(("text", "name"), [
    ("Me llamo María López", "María López"),
    ("mi nombre es josé luis ramírez", "José Luis Ramírez"),
    ("Hola, soy Ana Ruiz y mi número es 212 555 0123", "Ana Ruiz"),
    ("Soy Carmen de la Cruz", "Carmen de la Cruz"),
    ("me llamo Pedro Gómez, quiero una cita", "Pedro Gómez"),
])
def test_a_name_said_in_spanish_is_read(text, name):
    assert stated_name(text) == name
    assert valid_name(name, get_clinic())


@pytest.mark.parametrize("text", ["Paciente Nuevo", "Soy Paciente", "Nueva Paciente"])
def test_words_about_the_patient_are_not_a_name(text):
    assert not valid_name(clean_name(text), get_clinic())


def test_a_spanish_name_with_articles_is_kept_whole():
    assert stated_name("me llamo María de los Ángeles Ruiz") == "María de los Ángeles Ruiz"


def test_a_spanish_prefix_is_removed_from_a_bare_name():
    assert clean_name("Me llamo Lucía Fernández") == "Lucía Fernández"
    assert clean_name("sí, soy Diego Torres") == "Diego Torres"
    assert corrects_name("perdón, me llamo en realidad Diego Torres")


@pytest.mark.parametrize(("text", "intent", "status"), [
    ("soy paciente nuevo", "inform", "new"),
    ("es mi primera vez", "inform", "new"),
    ("nunca he ido", "inform", "new"),
    ("no he venido antes", "inform", "new"),
    ("ya he venido antes", "inform", "returning"),
    ("ya soy paciente del doctor", "inform", "returning"),
    ("sí", "affirm", "returning"),
    ("no", "deny", "new"),
])
def test_new_or_returning_in_spanish(text, intent, status):
    assert patient_status_from(text, intent) == status


@pytest.mark.parametrize(("text", "question"), [
    ("¿cuánto cuesta la consulta?", True), ("cuánto cuesta", True), ("¿Dónde están?", True),
    ("el martes por la tarde", False), ("María López", False), ("que sea temprano", False),
])
def test_spanish_questions_are_told_from_answers(text, question):
    assert bool(_QUESTION_RE.search(text)) is question


@pytest.mark.parametrize("text", ["este número", "el mismo", "sí, úselo", "desde el que escribo"])
def test_use_the_number_i_text_from_in_spanish(text):
    assert _THIS_NUMBER_RE.search(text)


# -- the form over SMS in Spanish: what the end-to-end SMS booking found ---------------------

async def run_booking_form(make_tracker, dispatcher, domain, text, intent="inform",
                           requested=None, slots=None, entities=None):
    from actions.forms import ValidateBookingForm

    tracker = make_tracker(slots={**(slots or {}), "requested_slot": requested,
                                  "language": "es"},
                           text=text, intent=intent, entities=entities,
                           active_loop="booking_form", sender_id="+15550104321",
                           channel="twilio")
    events = await ValidateBookingForm().run(dispatcher, tracker, domain)
    return events, {e["name"]: e["value"] for e in events if e["event"] == "slot"}


async def test_spanish_words_spacy_calls_a_person_are_not_the_name(make_tracker, dispatcher,
                                                                    domain):
    # "Hola, quiero pedir una cita": spaCy's English model finds a PERSON "pedir una cita"
    _, slots = await run_booking_form(
        make_tracker, dispatcher, domain, "Hola, quiero pedir una cita",
        intent="book_appointment",
        entities=[{"entity": "PERSON", "value": "pedir una cita"}])
    assert "patient_name" not in slots
    # a real name spaCy finds is still taken
    _, slots = await run_booking_form(
        make_tracker, dispatcher, domain, "Hola, María López quiere una cita",
        intent="book_appointment", entities=[{"entity": "PERSON", "value": "María López"}])
    assert slots["patient_name"] == "María López"


async def test_a_name_given_when_the_phone_is_asked_corrects_the_name(make_tracker,
                                                                      dispatcher, domain):
    _, slots = await run_booking_form(
        make_tracker, dispatcher, domain, "Me llamo Carmen Díaz", requested="patient_contact",
        slots={"patient_name": "Pedir Una Cita"})
    assert slots["patient_name"] == "Carmen Díaz"
    assert "patient_contact" not in slots  # the phone is asked again, not refused
    assert [m["response"] for m in dispatcher.messages] == []


@pytest.mark.parametrize("requested", ["patient_contact", "preferred_time", "visit_reason"])
async def test_in_english_please_mid_form_is_no_answer(make_tracker, dispatcher, domain,
                                                       requested):
    # the form steps aside: the rule confirms the switch and the form asks again (in English)
    events, _ = await run_booking_form(make_tracker, dispatcher, domain, "in English please",
                                       intent="switch_language", requested=requested,
                                       slots={"patient_name": "Ana Ruiz"})
    assert events == [] and dispatcher.messages == []


async def test_in_english_please_while_leaving_a_message_is_no_message(make_tracker,
                                                                       dispatcher, domain):
    from actions.forms import ValidateHandoffForm

    tracker = make_tracker(slots={"requested_slot": "handoff_message", "language": "es",
                                  "patient_name": "Ana Ruiz",
                                  "patient_contact": "ana@example.com"},
                           text="in English please", intent="switch_language",
                           active_loop="handoff_form")
    assert await ValidateHandoffForm().run(dispatcher, tracker, domain) == []


def test_a_spanish_time_ends_a_sentence_with_one_period():
    from actions.forms import without_final_period

    assert without_final_period("lunes 7 de diciembre de 2026, de 9:00 a. m. a 12:00 p. m.") \
        == "lunes 7 de diciembre de 2026, de 9:00 a. m. a 12:00 p. m"
    assert without_final_period("Monday 7 December 2026, 9:00 am-12:00 pm") == \
        "Monday 7 December 2026, 9:00 am-12:00 pm"
    assert without_final_period(None) == ""


async def test_the_offer_of_free_times_has_one_period_after_the_wish(make_tracker, dispatcher,
                                                                     domain):
    from actions.forms import ActionAskAppointmentSlot
    from tests.conftest import render

    wish = "lunes 7 de diciembre de 2026, de 9:00 a. m. a 12:00 p. m."
    tracker = make_tracker(slots={"language": "es", "preferred_time": wish,
                                  "appointment_offer": [], "appointment_matched": True})
    await ActionAskAppointmentSlot().run(dispatcher, tracker, domain)
    [message] = dispatcher.messages
    text = render(domain, message["response"], slots={"language": "es"}, wish=message["wish"])
    assert "p. m. ¿" in text and ".." not in text


async def test_outside_hours_in_spanish_has_one_period_after_the_hours(make_tracker,
                                                                       dispatcher, domain,
                                                                       monkeypatch):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from actions import forms
    from tests.conftest import render

    monkeypatch.setattr(forms, "now_utc",
                        lambda: datetime(2026, 11, 25, 10, 0, tzinfo=ZoneInfo("America/New_York")))
    # 2026-11-27 is a Friday: open 9:00 am-3:00 pm
    _, slots = await run_booking_form(make_tracker, dispatcher, domain,
                                      "el viernes 27 de noviembre a las 6 de la tarde",
                                      requested="preferred_time",
                                      slots={"patient_name": "Ana Ruiz",
                                             "patient_contact": "+1 555-010-4321"})
    assert slots["preferred_time"] is None
    first = dispatcher.messages[0]
    assert first["response"] == "utter_invalid_preferred_time_outside_hours", first
    text = render(domain, first["response"], slots={"language": "es"},
                  **{k: v for k, v in first.items() if k in ("day", "hours", "alternatives")})
    assert text.endswith("p. m.") and ".." not in text, text
