"""The booking form's extraction and validation, as the action server runs it."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from actions import forms
from actions.forms import ActionAskBookingConfirmed, ValidateBookingForm, ValidateHandoffForm
from tests.conftest import variation

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=ZoneInfo("America/New_York"))


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    monkeypatch.setattr(forms, "now_utc", lambda: NOW)


async def run_form(make_tracker, dispatcher, domain, text, intent="inform", requested=None,
                   slots=None, entities=None):
    tracker = make_tracker(
        slots={**(slots or {}), "requested_slot": requested},
        text=text, intent=intent, entities=entities, active_loop="booking_form",
    )
    events = await ValidateBookingForm().run(dispatcher, tracker, domain)
    return {e["name"]: e["value"] for e in events if e["event"] == "slot"}


def responses(dispatcher):
    return [m["response"] for m in dispatcher.messages]


async def test_name_is_taken_from_the_answer(make_tracker, dispatcher, domain):
    slots = await run_form(make_tracker, dispatcher, domain, "my name is maria lopez",
                           requested="patient_name")
    assert slots["patient_name"] == "Maria Lopez"
    assert dispatcher.messages == []


@pytest.mark.parametrize("text", ["Bob", "R2D2 unit", "x" * 300, "!!!"])
async def test_unusable_name_gets_a_specific_reask(make_tracker, dispatcher, domain, text):
    slots = await run_form(make_tracker, dispatcher, domain, text, requested="patient_name")
    assert slots["patient_name"] is None
    assert responses(dispatcher) == ["utter_invalid_patient_name"]


async def test_several_fields_in_one_message(make_tracker, dispatcher, domain):
    text = "I'm Maria Lopez, 212 555 0123, next Tuesday afternoon"
    entities = [{"entity": "PERSON", "value": "Maria Lopez"},
                {"entity": "DATE", "value": "next Tuesday"},
                {"entity": "TIME", "value": "afternoon"}]
    slots = await run_form(make_tracker, dispatcher, domain, text, intent="book_appointment",
                           entities=entities)
    assert slots["patient_name"] == "Maria Lopez"
    assert slots["patient_phone"] == "+12125550123"
    assert slots["patient_contact"] == "(212) 555-0123"
    assert slots["preferred_time"] == "Tuesday 1 December 2026, 12:00 pm-5:00 pm"
    assert dispatcher.messages == []


async def test_the_practitioner_is_not_taken_for_the_patient(make_tracker, dispatcher, domain):
    slots = await run_form(make_tracker, dispatcher, domain, "I want to see Dr Kuzminov",
                           intent="book_appointment",
                           entities=[{"entity": "PERSON", "value": "Dr Kuzminov"}])
    assert "patient_name" not in slots


async def test_correcting_the_phone_keeps_the_email(make_tracker, dispatcher, domain):
    slots = await run_form(
        make_tracker, dispatcher, domain, "actually my number is 646 555 0187",
        requested="visit_reason",
        slots={"patient_phone": "+12125550123", "patient_email": "maria@example.com",
               "patient_contact": "(212) 555-0123 / maria@example.com"},
    )
    assert slots["patient_phone"] == "+16465550187"
    assert slots["patient_contact"] == "(646) 555-0187 / maria@example.com"
    assert "visit_reason" not in slots  # the correction is not taken as the reason


@pytest.mark.parametrize(
    ("text", "response"),
    [("555-01", "utter_invalid_phone"), ("maria@", "utter_invalid_email"),
     ("whatever works", "utter_invalid_patient_contact")],
)
async def test_bad_contact_gets_the_matching_reask(make_tracker, dispatcher, domain, text,
                                                   response):
    slots = await run_form(make_tracker, dispatcher, domain, text, requested="patient_contact")
    assert slots["patient_contact"] is None
    assert responses(dispatcher) == [response]


async def test_closed_day_offers_the_next_open_days(make_tracker, dispatcher, domain):
    slots = await run_form(make_tracker, dispatcher, domain, "saturday morning",
                           requested="preferred_time")
    assert slots["preferred_time"] is None
    assert responses(dispatcher) == ["utter_invalid_preferred_time_closed_day"]
    message = dispatcher.messages[0]
    assert message["day"] == "Saturday 28 November"
    assert message["alternatives"] == (
        "Monday 30 November, 9:00 am-5:00 pm or Tuesday 1 December, 9:00 am-5:00 pm"
    )


async def test_past_time_is_refused(make_tracker, dispatcher, domain):
    await run_form(make_tracker, dispatcher, domain, "yesterday", requested="preferred_time")
    assert responses(dispatcher) == ["utter_invalid_preferred_time_past"]


async def test_valid_time_is_stored_with_its_data(make_tracker, dispatcher, domain):
    slots = await run_form(make_tracker, dispatcher, domain, "tomorrow at 3pm",
                           requested="preferred_time")
    assert slots["preferred_time"] == "Thursday 26 November 2026, at 3:00 pm"
    assert slots["preferred_time_data"] == {"day": "2026-11-26", "start": "15:00",
                                            "end": "15:00", "exact": True}


async def test_third_failure_offers_the_clinics_phone(make_tracker, dispatcher, domain):
    failures = {"preferred_time": 2}
    slots = await run_form(make_tracker, dispatcher, domain, "whenever",
                           requested="preferred_time", slots={"booking_failures": failures})
    assert responses(dispatcher) == ["utter_invalid_preferred_time_no_date",
                                     "utter_booking_call_instead"]
    assert slots["booking_failures"] == {"preferred_time": 3}


async def test_a_faq_question_is_not_taken_as_the_reason(make_tracker, dispatcher, domain):
    slots = await run_form(make_tracker, dispatcher, domain, "does acupuncture hurt?",
                           intent="faq", requested="visit_reason")
    assert slots == {}  # nothing extracted: the form steps aside and the FAQ is answered


async def test_reason_is_free_text(make_tracker, dispatcher, domain):
    slots = await run_form(make_tracker, dispatcher, domain, "migraines twice a week",
                           requested="visit_reason")
    assert slots["visit_reason"] == "migraines twice a week"


async def test_huge_reason_is_asked_to_be_shorter(make_tracker, dispatcher, domain):
    await run_form(make_tracker, dispatcher, domain, "pain " * 400, requested="visit_reason")
    assert responses(dispatcher) == ["utter_invalid_visit_reason_too_long"]


@pytest.mark.parametrize(
    ("text", "intent", "status"),
    [("I'm a new patient", "inform", "new"), ("I've been before", "inform", "returning"),
     ("no, never been", "deny", "new"), ("yes", "affirm", "returning")],
)
async def test_new_or_returning(make_tracker, dispatcher, domain, text, intent, status):
    slots = await run_form(make_tracker, dispatcher, domain, text, intent=intent,
                           requested="patient_status")
    assert slots["patient_status"] == status


async def test_confirmation_yes_and_no(make_tracker, dispatcher, domain):
    slots = await run_form(make_tracker, dispatcher, domain, "yes", intent="affirm",
                           requested="booking_confirmed")
    assert slots["booking_confirmed"] is True
    slots = await run_form(make_tracker, dispatcher, domain, "no", intent="deny",
                           requested="booking_confirmed")
    assert slots["booking_confirmed"] is None
    assert slots["booking_change_requested"] is True


async def test_summary_reads_the_request_back(make_tracker, dispatcher, domain):
    tracker = make_tracker(slots={
        "patient_name": "Maria Lopez", "patient_contact": "(212) 555-0123",
        "preferred_time": "Tuesday 1 December 2026, 12:00 pm-5:00 pm",
        "visit_reason": "migraines", "patient_status": "new",
    })
    assert await ActionAskBookingConfirmed().run(dispatcher, tracker, domain) == []
    message = dispatcher.messages[0]
    assert message["response"] == "utter_booking_summary"
    assert (message["name"], message["status"]) == ("Maria Lopez", "new patient")


async def test_a_held_calendar_time_is_read_back_as_the_appointment(make_tracker, dispatcher,
                                                                     domain):
    """Calendar mode: the time is held already, so the read-back says "Shall I book it?"; after
    the calendar failed (request mode) the request's read-back again."""
    held = {"patient_name": "Maria Lopez", "patient_contact": "(212) 555-0123",
            "preferred_time": "Friday 11 December, 12:00 pm", "visit_reason": "migraines",
            "patient_status": "new", "appointment_slot": "2026-12-11T17:00:00+00:00",
            "appointment_uid": "slot-20261211T170000Z-1a2b3c4d@clinic-assistant"}
    await ActionAskBookingConfirmed().run(dispatcher, make_tracker(slots=held), domain)
    await ActionAskBookingConfirmed().run(
        dispatcher, make_tracker(slots={**held, "appointment_slot": "request"}), domain)
    assert responses(dispatcher) == ["utter_booking_summary_slot", "utter_booking_summary"]
    variant = variation(domain, "utter_booking_summary_slot")  # English, the default
    assert "Time: {when}" in variant["text"] and variant["text"].endswith("Shall I book it?")
    assert [b["title"] for b in variant["buttons"]] == ["Yes, book it", "No, change something"]


async def test_after_no_it_asks_what_to_change(make_tracker, dispatcher, domain):
    tracker = make_tracker(slots={"booking_change_requested": True})
    events = await ActionAskBookingConfirmed().run(dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_booking_what_to_change"]
    assert events == [{"event": "slot", "timestamp": None, "name": "booking_change_requested",
                       "value": False}]


@pytest.mark.parametrize(("text", "intent", "stored"), [
    ("forget.ana@example.com", "cancel_form", "forget.ana@example.com"),
    ("it's Stop.Smith@Example.com", "cancel_form", "stop.smith@example.com"),
    ("(212) 555-0123", "request_human", "(212) 555-0123"),
])
async def test_a_bare_contact_detail_is_an_answer_whatever_the_classifier_says(
        make_tracker, dispatcher, domain, text, intent, stored):
    slots = await run_form(make_tracker, dispatcher, domain, text, intent=intent,
                           requested="patient_contact")
    assert slots["patient_contact"] == stored


@pytest.mark.parametrize(("text", "intent", "requested"), [
    ("never mind, I don't want to give you my number 212 555 0123", "cancel_form",
     "patient_contact"),
    ("forget.ana@example.com", "cancel_form", "patient_name"),  # not what was asked
    ("ana@example.com worst headache of my life", "emergency", "patient_contact"),
    ("stop", "cancel_form", "patient_contact"),
])
async def test_interruptions_still_stop_the_form(make_tracker, dispatcher, domain, text, intent,
                                                 requested):
    tracker = make_tracker(slots={"requested_slot": requested}, text=text, intent=intent,
                           active_loop="booking_form")
    assert await ValidateBookingForm().run(dispatcher, tracker, domain) == []


@pytest.mark.parametrize(("intent", "requested", "kept"), [
    ("request_human", "handoff_message", True),  # "please call me about my results"
    ("cancel_appointment", "handoff_message", True),  # whatever it is, it is the message
    ("emergency", "handoff_message", False),
    ("cancel_form", "handoff_message", False),
])
async def test_a_message_for_staff_may_ask_for_a_call(make_tracker, dispatcher, domain, intent,
                                                      requested, kept):
    text = "please call me about my results from last week"
    tracker = make_tracker(slots={"requested_slot": requested, "patient_name": "Maria Lopez",
                                  "patient_contact": "maria@example.com"},
                           text=text, intent=intent, active_loop="handoff_form")
    events = await ValidateHandoffForm().run(dispatcher, tracker, domain)
    slots = {e["name"]: e["value"] for e in events if e["event"] == "slot"}
    assert (slots.get("handoff_message") == text) is kept
    assert (events == []) is not kept


async def test_asking_for_a_person_while_leaving_a_message_is_an_answer(make_tracker, dispatcher,
                                                                        domain):
    tracker = make_tracker(slots={"requested_slot": "patient_name"},
                           text="yes, I'd like to leave a message. I'm Liam Connor",
                           intent="request_human", active_loop="handoff_form")
    events = await ValidateHandoffForm().run(dispatcher, tracker, domain)
    slots = {e["name"]: e["value"] for e in events if e["event"] == "slot"}
    assert slots["patient_name"] == "Liam Connor"


@pytest.mark.parametrize(("text", "name"), [
    ("yes, I'd like to leave a message. I'm Liam Connor", "Liam Connor"),
    ("sorry, my name is actually John Smyth", "John Smyth"),
    ("My name is David Park and my cell is (212) 555-0162", "David Park"),
    ("I'm a new patient", None),
    ("im in a lot of pain", None),
])
def test_a_name_stated_anywhere_in_a_message(text, name):
    from actions.forms import stated_name
    assert stated_name(text) == name


async def test_name_and_contact_in_one_answer(make_tracker, dispatcher, domain):
    tracker = make_tracker(slots={"requested_slot": "patient_name"},
                           text="Marcus Reed, marcus.reed@example.com", intent="inform",
                           active_loop="booking_form")
    events = await ValidateBookingForm().run(dispatcher, tracker, domain)
    slots = {e["name"]: e["value"] for e in events if e["event"] == "slot"}
    assert slots["patient_name"] == "Marcus Reed"
    assert slots["patient_email"] == "marcus.reed@example.com"


async def test_a_name_correction_while_asked_for_the_time(make_tracker, dispatcher, domain):
    tracker = make_tracker(slots={"requested_slot": "preferred_time", "patient_name": "Jon Smith",
                                  "patient_contact": "(212) 555-0111",
                                  "patient_phone": "+12125550111"},
                           text="sorry, my name is actually John Smyth", intent="inform",
                           active_loop="booking_form")
    events = await ValidateBookingForm().run(dispatcher, tracker, domain)
    slots = {e["name"]: e["value"] for e in events if e["event"] == "slot"}
    assert slots["patient_name"] == "John Smyth"
    assert "utter_invalid_preferred_time_no_date" not in \
        [m.get("response") for m in dispatcher.messages]


async def test_an_opener_keeps_name_phone_time_and_status(make_tracker, dispatcher, domain):
    text = ("Hi I'm Samuel Ortiz, returning patient, could I come in next Thursday at 4pm? "
            "you can reach me at 415.555.0199")
    tracker = make_tracker(text=text, intent="book_appointment", active_loop="booking_form",
                           entities=[{"entity": "DATE", "value": "next Thursday"},
                                     {"entity": "TIME", "value": "4pm"}])
    events = await ValidateBookingForm().run(dispatcher, tracker, domain)
    slots = {e["name"]: e["value"] for e in events if e["event"] == "slot"}
    assert slots["patient_name"] == "Samuel Ortiz"
    assert slots["patient_phone"] == "+14155550199"
    assert slots["patient_status"] == "returning"
    assert "4:00" in slots["preferred_time"] or "4 pm" in slots["preferred_time"].lower()


async def test_sms_patients_are_offered_the_number_they_text_from(make_tracker, dispatcher,
                                                                  domain):
    from actions.forms import ActionAskPatientContact
    sms = make_tracker(sender_id="+15550104321", channel="twilio")
    await ActionAskPatientContact().run(dispatcher, sms, domain)
    web = make_tracker(sender_id="web-1", channel="socketio")
    await ActionAskPatientContact().run(dispatcher, web, domain)
    assert [m["response"] for m in dispatcher.messages] == \
        ["utter_ask_use_channel_phone", "utter_ask_patient_contact"]


@pytest.mark.parametrize(("text", "intent", "phone", "declined"), [
    ("yes, use this number", "affirm", "+15550104321", None),
    ("/affirm", "affirm", "+15550104321", None),
    ("no", "deny", None, True),
    ("no, call 312 555 0188", "deny", "+13125550188", None),
])
async def test_the_texting_number_answer(make_tracker, dispatcher, domain, text, intent, phone,
                                         declined):
    tracker = make_tracker(slots={"requested_slot": "patient_contact",
                                  "patient_name": "Hana Sato"},
                           text=text, intent=intent, active_loop="booking_form",
                           sender_id="+15550104321", channel="twilio")
    events = await ValidateBookingForm().run(dispatcher, tracker, domain)
    slots = {e["name"]: e["value"] for e in events if e["event"] == "slot"}
    assert slots.get("patient_phone") == phone
    assert slots.get("channel_phone_declined") == declined


@pytest.mark.parametrize(("text", "entities", "starts"), [
    ("Hi, I'm Maria Lopez, my number is 212-555-0123", [], True),
    ("Tomasz Nowak, 773 555 0189", [], True),
    ("next tuesday at 10am", [{"entity": "DATE", "value": "next tuesday"}], True),
    ("my back hurts", [], False),
    ("migraines twice a week", [{"entity": "DATE", "value": "twice a week"}], False),
])
async def test_booking_details_outside_a_form_start_it(make_tracker, dispatcher, domain, text,
                                                       entities, starts):
    from actions.forms import ActionBookingDetailsOutsideForm
    tracker = make_tracker(text=text, intent="inform", entities=entities)
    events = await ActionBookingDetailsOutsideForm().run(dispatcher, tracker, domain)
    said = [m["response"] for m in dispatcher.messages]
    if starts:
        assert said == ["utter_booking_start"]
        assert events[0]["event"] == "followup" and events[0]["name"] == "booking_form"
    else:
        assert said == ["utter_default"] and events == []
