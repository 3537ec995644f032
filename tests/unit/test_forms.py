"""The booking form's extraction and validation, as the action server runs it."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from actions import forms
from actions.forms import ActionAskBookingConfirmed, ValidateBookingForm, ValidateHandoffForm

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
    ("request_human", "patient_name", False),  # asked for the name: a real interruption
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
