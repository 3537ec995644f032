"""A patient books over REST; the request is stored once and reaches the front desk by e-mail."""

from __future__ import annotations

import re
import time

import pytest

from actions.storage import get_engine, list_requests
from tests.conftest import render
from tests.smtp_sink import SmtpSink

REFERENCE_RE = re.compile(r"\bPMR-[A-Z2-9]{6}\b")


def requests_of(assistant, sender):
    engine = get_engine(assistant.database_url)
    return [r for r in list_requests(engine) if r["sender_id"] == sender]


def wait_for(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail("timed out waiting")


def book(assistant, sender, domain):
    """The whole conversation; returns the reference the patient was given."""
    say = assistant.texts
    assert say(sender, "I'd like to book an appointment") == [
        render(domain, "utter_booking_start"), render(domain, "utter_ask_patient_name")]
    assert say(sender, "Maria Lopez") == [render(domain, "utter_ask_patient_contact")]
    assert say(sender, "212 555 0123") == [render(domain, "utter_ask_preferred_time")]
    assert say(sender, "next tuesday afternoon") == [render(domain, "utter_ask_visit_reason")]
    assert say(sender, "migraines twice a week") == [render(domain, "utter_ask_patient_status")]
    [summary] = say(sender, "I'm a new patient")
    assert "Name: Maria Lopez" in summary and "Contact: (212) 555-0123" in summary
    assert "Reason: migraines twice a week" in summary and "Patient: new patient" in summary
    assert re.search(r"Preferred time: Tuesday \d+ \w+ \d{4}, 12:00 pm-5:00 pm", summary)
    [done] = say(sender, "yes")
    reference = REFERENCE_RE.search(done).group(0)
    assert done == render(domain, "utter_booking_submitted", name="Maria Lopez",
                          reference=reference)
    return reference


def test_booking_reaches_the_front_desk_by_email(assistant, sender, domain):
    with SmtpSink(assistant.smtp_port) as sink:
        reference = book(assistant, sender, domain)
        [row] = requests_of(assistant, sender)
        assert (row["reference"], row["name"], row["phone"]) == (
            reference, "Maria Lopez", "+12125550123")
        assert row["channel"] == "rest"
        mail = wait_for(lambda: [m for m in sink.messages if reference in m["Subject"]])[0]
    assert mail["To"] == "frontdesk@clinic.example"
    body = mail.get_content()
    assert "Maria Lopez" in body and "(212) 555-0123" in body
    assert "migraines twice a week" in body and "12:00 pm-5:00 pm (America/New_York)" in body


def test_booking_while_smtp_is_down_is_delivered_once_it_is_back(assistant, sender, domain):
    reference = book(assistant, sender, domain)  # nothing listens on the SMTP port yet
    [row] = wait_for(lambda: [r for r in requests_of(assistant, sender)
                              if r["deliveries"][0]["attempts"] >= 1])
    assert row["deliveries"][0]["status"] == "pending"

    assert assistant.texts(sender, "yes") == [render(domain, "utter_affirm_ack")]
    with SmtpSink(assistant.smtp_port) as sink:
        wait_for(lambda: [m for m in sink.messages if reference in m["Subject"]])
        time.sleep(1.5)  # a duplicate, if any, would arrive on the next poll
        assert len([m for m in sink.messages if reference in m["Subject"]]) == 1
    [row] = requests_of(assistant, sender)
    assert row["deliveries"][0]["status"] == "delivered"


def test_cancel_midway_stores_nothing(assistant, sender, domain):
    assistant.texts(sender, "can I book an appointment")
    assistant.texts(sender, "Maria Lopez")
    assert assistant.texts(sender, "never mind") == [render(domain, "utter_booking_cancelled")]
    assert requests_of(assistant, sender) == []


def test_faq_question_mid_form_is_answered_and_the_form_goes_on(assistant, sender, domain):
    assistant.texts(sender, "I want to make an appointment")
    assert assistant.texts(sender, "Maria Lopez") == [render(domain, "utter_ask_patient_contact")]
    assert assistant.texts(sender, "what is acupuncture?") == [
        render(domain, "utter_faq/what_is_acupuncture"),
        render(domain, "utter_ask_patient_contact"),
    ]


def test_closed_day_gets_the_next_open_days(assistant, sender, domain):
    assistant.texts(sender, "book an appointment please")
    assistant.texts(sender, "Maria Lopez")
    assistant.texts(sender, "maria@example.com")
    replies = assistant.texts(sender, "sunday morning")
    assert replies[0].startswith("The clinic is closed on Sunday")
    assert "The next open days are Monday" in replies[0]
    assert replies[1] == render(domain, "utter_ask_preferred_time")


def test_several_fields_in_the_first_message(assistant, sender, domain):
    replies = assistant.texts(
        sender, "Hi, I'm Maria Lopez and I'd like to book an appointment next Tuesday afternoon")
    # spaCy found the name (PERSON) and the day (DATE, TIME): only the contact is asked next
    assert replies == [render(domain, "utter_booking_start"),
                       render(domain, "utter_ask_patient_contact")]
    assert assistant.texts(sender, "212 555 0123") == [render(domain, "utter_ask_visit_reason")]


def test_invalid_answers_get_specific_reasks_then_the_phone(assistant, sender, domain):
    assistant.texts(sender, "book an appointment")
    assistant.texts(sender, "Maria Lopez")
    first = assistant.texts(sender, "555-01")
    assert first == [render(domain, "utter_invalid_phone"),
                     render(domain, "utter_ask_patient_contact")]
    assistant.texts(sender, "maria@")
    third = assistant.texts(sender, "12345")
    assert third == [render(domain, "utter_invalid_phone"),
                     render(domain, "utter_booking_call_instead"),
                     render(domain, "utter_ask_patient_contact")]
