"""Safety over REST: emergency advice first on every red flag, no false alarms, no diagnosis,
a person when asked, and the privacy notice at the start of a conversation."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import yaml

from actions.storage import get_engine, list_requests
from tests.conftest import render
from tests.smtp_sink import SmtpSink

PHRASES = yaml.safe_load((Path(__file__).parent.parent / "safety_phrases.yml").read_text())
EMERGENCY_RESPONSES = ("utter_emergency", "utter_emergency_self_harm",
                       "utter_emergency_unspecified", "utter_emergency_poisoning")
CONTEXT = yaml.safe_load((Path(__file__).parent.parent / "red_flag_context.yml").read_text())


def emergency_texts(domain):
    return {render(domain, name) for name in EMERGENCY_RESPONSES}


@pytest.mark.parametrize("item", PHRASES["red_flags"], ids=lambda i: i["category"])
def test_red_flag_gets_emergency_advice_first(assistant, sender, domain, item):
    replies = assistant.texts(sender, item["text"])
    expected = ("utter_emergency_self_harm" if item["category"] == "self_harm"
                else "utter_emergency")
    assert replies[0] == render(domain, expected)


@pytest.mark.parametrize("text", PHRASES["ordinary"])
def test_ordinary_question_is_no_false_alarm(assistant, sender, domain, text):
    replies = assistant.texts(sender, text)
    assert replies and not emergency_texts(domain) & set(replies)


@pytest.mark.parametrize(("message", "responses"), [
    ("my 3 year old just drank some bleach", ["utter_emergency_poisoning"]),
    ("sudden crushing chest pain and i'm sweating", ["utter_emergency"]),
    ("my wife can't breathe properly and her lips look blue", ["utter_emergency"]),
    ("i want to overdose, i've already taken 30 tablets",
     ["utter_emergency_self_harm", "utter_emergency_poisoning"]),
], ids=["poisoning", "chest pain", "breathing", "overdose on purpose"])
def test_general_emergencies_get_their_advice_first(assistant, sender, domain, message,
                                                    responses):
    assert assistant.texts(sender, message)[:len(responses)] == [
        render(domain, name) for name in responses]
    assert "1-800-222-1222" in render(domain, "utter_emergency_poisoning")


@pytest.mark.parametrize("text", CONTEXT["negated"] + CONTEXT["long_past"])
def test_red_flags_negated_or_long_past_are_no_alarm(assistant, sender, domain, text):
    replies = assistant.texts(sender, text)
    assert replies and not emergency_texts(domain) & set(replies)


@pytest.mark.parametrize("text", CONTEXT["half_negated"])
def test_one_red_flag_negated_another_present_still_alarms(assistant, sender, domain, text):
    assert assistant.texts(sender, text)[0] in emergency_texts(domain)


def test_a_medical_question_the_article_does_not_answer_gets_the_kind_answer(assistant, sender,
                                                                             domain):
    for question in ("what are the symptoms of a cluster headache?",
                     "how is trigeminal neuralgia treated"):
        assert assistant.texts(sender, question) == [render(domain,
                                                            "utter_not_covered_medical")]


def test_a_poisoning_mid_booking_pauses_the_form(assistant, sender, domain):
    assistant.texts(sender, "I'd like to book an appointment")
    assert assistant.texts(sender, "Maria Lopez") == [render(domain, "utter_ask_patient_contact")]
    assert assistant.texts(sender, "hold on my son swallowed a button battery") == [
        render(domain, "utter_emergency_poisoning"), render(domain, "utter_form_paused")]


def test_red_flag_mid_booking_pauses_the_form(assistant, sender, domain):
    assistant.texts(sender, "I'd like to book an appointment")
    assert assistant.texts(sender, "Maria Lopez") == [render(domain, "utter_ask_patient_contact")]
    replies = assistant.texts(sender, "wait my husband's face is drooping, he can't lift his arm")
    assert replies == [render(domain, "utter_emergency"), render(domain, "utter_form_paused")]
    # Paused, not lost: asking again picks up where it stopped (the name is kept).
    assert assistant.texts(sender, "book an appointment") == [
        render(domain, "utter_booking_start"), render(domain, "utter_ask_patient_contact")]


def test_first_reply_of_a_conversation_states_the_privacy_notice(assistant, new_sender, domain):
    replies = assistant.texts(new_sender, "what is acupuncture?")
    assert replies == [render(domain, "utter_privacy_notice"), render(domain, "utter_disclaimer"),
                       render(domain, "utter_faq/what_is_acupuncture")]
    # once per conversation, not on every message
    assert assistant.texts(new_sender, "what is a primary headache") == [
        render(domain, "utter_faq/primary_headache")]


@pytest.mark.parametrize(
    ("message", "response"),
    [("what is causing my headache?", "utter_no_diagnosis"),
     ("could it be a brain tumour?", "utter_no_diagnosis"),
     ("should i stop my meds?", "utter_no_medication_advice")],
)
def test_no_diagnosis_and_no_prescriptions(assistant, sender, domain, message, response):
    assert assistant.texts(sender, message) == [render(domain, response)]


def test_asking_for_a_person_leaves_a_message_for_staff(assistant, sender, domain):
    assert assistant.texts(sender, "i want to talk to a real person") == [
        render(domain, "utter_handoff_offer"), render(domain, "utter_ask_patient_name")]
    assert assistant.texts(sender, "Maria Lopez") == [render(domain, "utter_ask_patient_contact")]
    assert assistant.texts(sender, "maria@example.com") == [
        render(domain, "utter_ask_handoff_message")]
    with SmtpSink(assistant.smtp_port) as sink:
        [done] = assistant.texts(sender, "please call me about my results from last week")
        reference = re.search(r"PMR-[A-Z2-9]{6}", done).group(0)
        assert done == render(domain, "utter_handoff_submitted", name="Maria Lopez",
                              reference=reference)
        deadline = time.monotonic() + 30
        while not any(reference in m["Subject"] for m in sink.messages):
            assert time.monotonic() < deadline, "no e-mail for the hand-off"
            time.sleep(0.2)
    mail = next(m for m in sink.messages if reference in m["Subject"])
    assert mail["Subject"] == f"Message for staff {reference}"
    assert "please call me about my results from last week" in mail.get_content()
    [row] = [r for r in list_requests(get_engine(assistant.database_url))
             if r["sender_id"] == sender]
    assert (row["kind"], row["email"]) == ("handoff", "maria@example.com")
