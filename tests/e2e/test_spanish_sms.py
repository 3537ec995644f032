"""Spanish by SMS: a patient texts the clinic in Spanish and reads Spanish on their phone, from
the privacy notice to the numbered replies ("Responda 1 para ..."); the request is stored with
language es and the front desk's e-mail says so; in calendar mode the Spanish free times are
booked by number into the real CalDAV server; a Spanish red flag mid-form gets the Spanish
emergency advice first; "in English please" turns the conversation English.

Twilio's signed webhook in, the fake Twilio API out (tests/e2e/test_sms.py's helpers). The
expected texts are the Spanish variations of domain.yml as the phone shows them.
"""

from __future__ import annotations

import re
from datetime import timezone
from typing import Any

from actions.calendar import slot_name
from actions.contact import format_phone
from actions.storage import get_engine, list_requests
from channels.twilio import sms_text
from tests.conftest import render, variation
from tests.e2e.calendar_rig import TZ, CalendarRig
from tests.e2e.test_sms import new_number, text, wait_for
from tests.smtp_sink import SmtpSink

REFERENCE_RE = re.compile(r"\bPMR-[A-Z2-9]{6}\b")
REQUEST_ES = {"language": "es", "booking_mode": "request"}  # the assistant fixture
CALENDAR_ES = {"language": "es", "booking_mode": "calendar"}  # the calendar rig
EMERGENCY_RESPONSES = ("utter_emergency", "utter_emergency_self_harm",
                       "utter_emergency_unspecified", "utter_emergency_poisoning")


def as_sms(domain: dict[str, Any], response: str, slots: dict[str, Any] | None = None,
           first_number: int = 1, **values: Any) -> str:
    """A domain response as the phone shows it: the variation Rasa picks for ``slots``, its
    buttons numbered in that variation's language."""
    chosen = variation(domain, response, slots)
    language = (slots or {}).get("language", "en")
    return sms_text(render(domain, response, slots=slots, **values), chosen.get("buttons"),
                    first_number, language=language)


def phone_shown(patient: str) -> str:
    return format_phone(patient, "US")


def test_a_spanish_booking_by_sms_reaches_the_front_desk_in_spanish(assistant, twilio_api,
                                                                   domain):
    patient = new_number()
    es = REQUEST_ES

    def say(body: str, replies: int = 1) -> list[str]:
        return text(assistant, twilio_api, patient, body, replies)

    with SmtpSink(assistant.smtp_port) as sink:
        # the very first text is Spanish: the conversation's notices are Spanish too
        assert say("Hola, quiero una cita", 4) == [
            as_sms(domain, "utter_privacy_notice", es), as_sms(domain, "utter_disclaimer", es),
            as_sms(domain, "utter_booking_start", es),
            as_sms(domain, "utter_ask_patient_name", es)]
        [offer] = say("Me llamo María López")
        assert offer == as_sms(domain, "utter_ask_use_channel_phone", es,
                               phone=phone_shown(patient))
        assert offer.endswith("\n\nResponda 1 para Sí, a este número\n"
                              "Responda 2 para No, a otro número o correo")
        assert say("este número") == [as_sms(domain, "utter_ask_preferred_time", es)]
        assert say("el martes que viene por la tarde") == [
            as_sms(domain, "utter_ask_visit_reason", es)]
        [status_question] = say("migrañas dos veces por semana")
        assert status_question == as_sms(domain, "utter_ask_patient_status", es)
        assert status_question == ("¿Ha venido antes a la clínica?\n\n"
                                   "Responda 1 para Es mi primera visita\n"
                                   "Responda 2 para Ya he venido antes")

        [summary] = say("1")  # "Es mi primera visita": the read-back stays Spanish
        when = re.search(r"Hora preferida: (martes \d+ de \w+ de \d{4}, "
                         r"de 12:00 p\. m\. a 5:00 p\. m\.)\n", summary)
        assert when, summary
        assert summary == as_sms(domain, "utter_booking_summary", es, name="María López",
                                 contact=phone_shown(patient), when=when.group(1),
                                 reason="migrañas dos veces por semana", status="paciente nuevo")

        [done] = say("1")  # "Sí, enviarla"
        reference = REFERENCE_RE.search(done).group(0)
        assert done == as_sms(domain, "utter_booking_submitted", es, name="María López",
                              reference=reference)

        [row] = [r for r in list_requests(get_engine(assistant.database_url))
                 if r["sender_id"] == patient]
        assert (row["reference"], row["channel"], row["language"]) == (reference, "twilio", "es")
        assert (row["name"], row["phone"], row["reason"], row["patient_status"]) == (
            "María López", patient, "migrañas dos veces por semana", "new")
        mail = wait_for(lambda: [m for m in sink.messages if reference in m["Subject"]])[0]
    body = mail.get_content()
    assert re.search(r"^Language:\s+Spanish\b", body, re.M), body
    assert re.search(r"^Channel:\s+twilio\s*$", body, re.M)
    assert "María López" in body and "migrañas dos veces por semana" in body


def test_a_spanish_red_flag_mid_form_by_sms_gets_the_spanish_advice_first(assistant,
                                                                         twilio_api, domain):
    patient = new_number()
    es = REQUEST_ES

    def say(body: str, replies: int = 1) -> list[str]:
        return text(assistant, twilio_api, patient, body, replies)

    say("quiero una cita", 4)
    say("Me llamo Ana Ruiz")
    advice, paused = say("se me duerme un lado de la cara y no puedo hablar bien", 2)
    assert advice in {as_sms(domain, name, es) for name in EMERGENCY_RESPONSES}, advice
    assert paused == as_sms(domain, "utter_form_paused", es)
    # when the patient is ready, the request goes on in Spanish with the name kept
    assert say("pedir una cita", 2) == [
        as_sms(domain, "utter_booking_start", es),
        as_sms(domain, "utter_ask_use_channel_phone", es, phone=phone_shown(patient))]
    assert [r for r in list_requests(get_engine(assistant.database_url))
            if r["sender_id"] == patient] == []


def test_in_english_please_by_sms_turns_the_booking_english(assistant, twilio_api, domain):
    patient = new_number()
    es = REQUEST_ES

    def say(body: str, replies: int = 1) -> list[str]:
        return text(assistant, twilio_api, patient, body, replies)

    say("Hola, quiero una cita", 4)
    assert say("Me llamo Ana Ruiz") == [
        as_sms(domain, "utter_ask_use_channel_phone", es, phone=phone_shown(patient))]
    # the form does not take "in English please" for the phone: it asks again, in English
    switched, offer = say("in English please", 2)
    assert switched == as_sms(domain, "utter_language_switched", {"language": "en"}) == \
        "Sure, let's continue in English."
    assert offer == as_sms(domain, "utter_ask_use_channel_phone", phone=phone_shown(patient))
    assert offer.endswith("\n\nReply 1 for Yes, this number\n"
                          "Reply 2 for No, another number or e-mail")
    assert say("1") == [as_sms(domain, "utter_ask_preferred_time")]
    assert say("next tuesday afternoon") == [as_sms(domain, "utter_ask_visit_reason")]


def test_a_spanish_calendar_booking_by_numbered_replies(calendar_rig: CalendarRig, domain):
    sms = calendar_rig
    es = CALENDAR_ES
    patient = new_number()
    events_before = len(sms.calendar.event_names())

    def say(body: str, replies: int = 1) -> list[str]:
        return text(sms, sms.api, patient, body, replies)

    assert say("Hola, quiero pedir una cita", 4)[2:] == [
        as_sms(domain, "utter_booking_start", es), as_sms(domain, "utter_ask_patient_name", es)]
    assert say("Me llamo Carmen Díaz") == [
        as_sms(domain, "utter_ask_use_channel_phone", es, phone=phone_shown(patient))]
    assert say("1") == [as_sms(domain, "utter_ask_preferred_time", es)]
    assert say("el lunes que viene por la mañana") == [
        as_sms(domain, "utter_ask_visit_reason", es)]
    assert say("dolor de espalda") == [as_sms(domain, "utter_ask_patient_status", es)]

    [offer] = say("2")  # "Ya he venido antes"
    wish = re.match(r"Estas son las primeras horas libres para (lunes \d+ de \w+ de \d{4}, "
                    r"de 9:00 a\. m\. a 12:00 p\. m)\. ¿Cuál le conviene\?\n\n", offer)
    assert wish, offer
    times = re.findall(r"^Responda (\d) para (lunes \d+ de \w+, \d+:\d\d a\. m\.)$", offer, re.M)
    assert [number for number, _ in times] == ["1", "2", "3"], offer
    assert offer == sms_text(
        render(domain, "utter_offer_slots", slots=es, wish=wish.group(1)),
        [{"title": title} for _, title in times] + [{"title": "Otras horas"},
                                                    {"title": "Prefiero que me llamen"}],
        language="es")

    second = times[1][1]
    [summary] = say("2")
    assert summary == as_sms(domain, "utter_booking_summary_slot", es, name="Carmen Díaz",
                             contact=phone_shown(patient), when=second,
                             reason="dolor de espalda", status="paciente que ya ha venido")
    [booked] = say("1")  # "Sí, reservarla"
    [row] = sms.requests_of(patient)
    assert booked == as_sms(domain, "utter_appointment_booked", es, name="Carmen Díaz",
                            when=second, reference=row["reference"])
    assert (row["language"], row["phone"], row["channel"]) == ("es", patient, "twilio")
    assert row["calendar_uid"]
    start = row["appointment_start"].replace(tzinfo=timezone.utc)
    local = start.astimezone(TZ)  # the time the patient chose is the time booked
    assert second.startswith(f"lunes {local.day} de ") and \
        second.endswith(f", {local.hour}:{local.minute:02d} a. m."), (second, local)
    assert len(sms.calendar.event_names()) == events_before + 1
    assert slot_name(start) in sms.calendar.event_names()
