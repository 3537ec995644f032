"""Patients text the clinic: Twilio's real webhook into the running Rasa server, the replies
caught by a fake Twilio REST API (the servers' TWILIO_API_BASE_URL points at it).

Each test texts from its own phone number: the Rasa conversation id is the sender's number.
"""

from __future__ import annotations

import re
import secrets
import time
from typing import Any

import pytest
import requests
from twilio.request_validator import RequestValidator

from actions.contact import format_phone
from actions.storage import get_engine, list_requests
from channels.twilio import sms_text
from tests.conftest import render, variation
from tests.fake_twilio import FakeTwilio

WEBHOOK = "/webhooks/twilio/webhook"
REFERENCE_RE = re.compile(r"\bPMR-[A-Z2-9]{6}\b")
_used_numbers: set[str] = set()


def new_number() -> str:
    """A phone number no other test has texted from (fictional +1 555 010 xxxx)."""
    while True:
        number = f"+1555010{secrets.randbelow(10_000):04d}"
        if number not in _used_numbers:
            _used_numbers.add(number)
            return number


def as_sms(domain: dict[str, Any], response: str, first_number: int = 1, **values: Any) -> str:
    """A domain response as the patient's phone shows it."""
    buttons = variation(domain, response).get("buttons")
    return sms_text(render(domain, response, **values), buttons, first_number)


def inbound_form(assistant, sender: str, body: str, **extra: str) -> dict[str, str]:
    """The fields Twilio posts for an incoming SMS (blank ones included: Twilio signs them)."""
    sid = "SM" + secrets.token_hex(16)
    clinic = assistant.twilio["TWILIO_NUMBER"]
    if sender.startswith("whatsapp:"):
        clinic = "whatsapp:" + clinic
    return {
        "ToCountry": "US", "ToState": "", "SmsMessageSid": sid, "NumMedia": "0", "ToCity": "",
        "FromZip": "", "SmsSid": sid, "FromState": "", "SmsStatus": "received", "FromCity": "",
        "Body": body, "FromCountry": "US", "To": clinic, "ToZip": "", "NumSegments": "1",
        "MessageSid": sid, "AccountSid": assistant.twilio["TWILIO_ACCOUNT_SID"],
        "From": sender, "ApiVersion": "2010-04-01", **extra,
    }


def post_webhook(assistant, form: dict[str, str], signature: str | None = "valid",
                 token: str | None = None) -> requests.Response:
    url = f"{assistant.rasa_url}{WEBHOOK}"
    headers = {}
    if signature == "valid":
        validator = RequestValidator(token or assistant.twilio["TWILIO_AUTH_TOKEN"])
        headers["X-Twilio-Signature"] = validator.compute_signature(url, form)
    elif signature is not None:
        headers["X-Twilio-Signature"] = signature
    return requests.post(url, data=form, headers=headers, timeout=60)


def wait_for(condition, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail("timed out waiting for the SMS replies")


def text(assistant, api: FakeTwilio, sender: str, body: str, replies: int) -> list[str]:
    """Text the clinic; return the ``replies`` messages it sends back (and no more)."""
    before = len(api.sent_to(sender))
    reply = post_webhook(assistant, inbound_form(assistant, sender, body))
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("text/xml")
    wait_for(lambda: len(api.sent_to(sender)) >= before + replies)
    time.sleep(0.3)  # anything extra would have arrived by now
    return api.sent_to(sender)[before:]


def test_a_question_by_sms_gets_the_articles_answer(assistant, twilio_api, domain):
    patient = new_number()
    replies = text(assistant, twilio_api, patient, "what is acupuncture?", 3)
    assert replies == [as_sms(domain, "utter_privacy_notice"), as_sms(domain, "utter_disclaimer"),
                       as_sms(domain, "utter_faq/what_is_acupuncture")]
    assert replies[2].endswith("\n\nReply 1 for Book an appointment")
    sent = [m for m in twilio_api.messages if m["to"] == patient]
    assert {m["from"] for m in sent} == {assistant.twilio["TWILIO_NUMBER"]}

    # "1" is the button under that answer: the booking starts.
    assert text(assistant, twilio_api, patient, "1", 2) == [
        as_sms(domain, "utter_booking_start"), as_sms(domain, "utter_ask_patient_name")]


def test_a_whole_booking_by_sms_with_numbered_replies(assistant, twilio_api, domain):
    patient = new_number()
    say = lambda body, n=1: text(assistant, twilio_api, patient, body, n)  # noqa: E731
    assert say("I'd like to book an appointment", 4) == [
        as_sms(domain, "utter_privacy_notice"), as_sms(domain, "utter_disclaimer"),
        as_sms(domain, "utter_booking_start"), as_sms(domain, "utter_ask_patient_name")]
    # offered the number it texts from, the patient gives another one
    assert say("Maria Lopez") == [as_sms(domain, "utter_ask_use_channel_phone",
                                         phone=format_phone(patient, "US"))]
    assert say("2") == [as_sms(domain, "utter_ask_patient_contact")]
    assert say("212 555 0123") == [as_sms(domain, "utter_ask_preferred_time")]
    assert say("next tuesday afternoon") == [as_sms(domain, "utter_ask_visit_reason")]
    [status_question] = say("migraines twice a week")
    assert status_question == as_sms(domain, "utter_ask_patient_status")
    assert status_question == ("Have you been to the clinic before?\n\n"
                               "Reply 1 for I'm a new patient\nReply 2 for I've been before")

    [summary] = say("1.")
    assert "Name: Maria Lopez" in summary and "Contact: (212) 555-0123" in summary
    assert "Reason: migraines twice a week" in summary and "Patient: new patient" in summary
    assert re.search(r"Preferred time: Tuesday \d+ \w+ \d{4}, 12:00 pm-5:00 pm", summary)
    assert summary.endswith("Shall I send it to the clinic?\n\n"
                            "Reply 1 for Yes, send it\nReply 2 for No, change something")

    [done] = say("1")
    reference = REFERENCE_RE.search(done).group(0)
    assert done == as_sms(domain, "utter_booking_submitted", name="Maria Lopez",
                          reference=reference)
    engine = get_engine(assistant.database_url)
    [row] = [r for r in list_requests(engine) if r["sender_id"] == patient]
    assert (row["reference"], row["channel"], row["name"], row["phone"]) == (
        reference, "twilio", "Maria Lopez", "+12125550123")
    assert row["reason"] == "migraines twice a week"


def test_the_number_the_patient_texts_from_is_offered_and_kept(assistant, twilio_api, domain):
    patient = new_number()
    say = lambda body, n=1: text(assistant, twilio_api, patient, body, n)  # noqa: E731
    say("I'd like to book an appointment", 4)
    say("Hana Sato")
    assert say("1") == [as_sms(domain, "utter_ask_preferred_time")]  # "Yes, this number"
    say("next tuesday afternoon")
    say("back pain")
    summary, = say("1")
    assert f"Contact: {format_phone(patient, 'US')}" in summary
    say("1")
    [row] = [r for r in list_requests(get_engine(assistant.database_url))
             if r["sender_id"] == patient]
    assert (row["name"], row["phone"]) == ("Hana Sato", patient)


def test_an_emergency_as_the_first_text_gets_the_emergency_advice_first(
        assistant, twilio_api, domain):
    patient = new_number()
    replies = text(assistant, twilio_api, patient,
                   "I have the worst headache of my life, it came on suddenly", 3)
    assert replies[0] == as_sms(domain, "utter_emergency")
    # the new conversation's notices still come, after the advice
    assert replies[1:] == [as_sms(domain, "utter_privacy_notice"),
                           as_sms(domain, "utter_disclaimer")]


def test_an_emergency_mid_booking_pauses_it(assistant, twilio_api, domain):
    patient = new_number()
    text(assistant, twilio_api, patient, "can I book an appointment", 4)
    assert text(assistant, twilio_api, patient, "wait my husband's face is drooping, "
                "he can't lift his arm", 2) == [as_sms(domain, "utter_emergency"),
                                                as_sms(domain, "utter_form_paused")]


@pytest.mark.parametrize("attack", ["unsigned", "other token", "garbage", "tampered"])
def test_unsigned_or_wrongly_signed_requests_are_refused(assistant, twilio_api, attack):
    patient = new_number()
    form = inbound_form(assistant, patient, "what is acupuncture?")
    requests_before = twilio_api.requests
    if attack == "unsigned":
        reply = post_webhook(assistant, form, signature=None)
    elif attack == "other token":
        reply = post_webhook(assistant, form, token="not-the-clinics-token")
    elif attack == "garbage":
        reply = post_webhook(assistant, form, signature="c2lnbmF0dXJl")
    else:  # signed, then the body changed on the way
        url = f"{assistant.rasa_url}{WEBHOOK}"
        signature = RequestValidator(assistant.twilio["TWILIO_AUTH_TOKEN"]).compute_signature(
            url, form)
        reply = requests.post(url, data={**form, "Body": "book an appointment"},
                              headers={"X-Twilio-Signature": signature}, timeout=60)
    assert reply.status_code == 403
    time.sleep(1.0)
    assert twilio_api.requests == requests_before and twilio_api.sent_to(patient) == []


def test_malformed_requests_get_a_4xx(assistant, twilio_api):
    patient = new_number()
    url = f"{assistant.rasa_url}{WEBHOOK}"
    as_json = requests.post(url, json={"From": patient, "Body": "hi"}, timeout=30)
    assert 400 <= as_json.status_code < 500
    without_body = {k: v for k, v in inbound_form(assistant, patient, "hi").items()
                    if k != "Body"}
    assert post_webhook(assistant, without_body).status_code == 400
    without_from = {k: v for k, v in inbound_form(assistant, patient, "hi").items()
                    if k != "From"}
    assert post_webhook(assistant, without_from).status_code == 400
    time.sleep(0.5)
    assert twilio_api.sent_to(patient) == []


def test_whatsapp_messages_are_answered_on_whatsapp(assistant, twilio_api, domain):
    patient = "whatsapp:" + new_number()
    extra = {"ProfileName": "Maria", "WaId": patient.removeprefix("whatsapp:+"),
             "MessageType": "text", "ReferralNumMedia": "0", "SmsStatus": "received"}
    before = len(twilio_api.sent_to(patient))
    form = inbound_form(assistant, patient, "hello", **extra)
    assert post_webhook(assistant, form).status_code == 200
    wait_for(lambda: len(twilio_api.sent_to(patient)) >= before + 3)
    assert twilio_api.sent_to(patient) == [
        as_sms(domain, "utter_privacy_notice"), as_sms(domain, "utter_disclaimer"),
        as_sms(domain, "utter_greet")]
    sent = [m for m in twilio_api.messages if m["to"] == patient]
    assert {m["from"] for m in sent} == {"whatsapp:" + assistant.twilio["TWILIO_NUMBER"]}


def test_the_servers_logs_carry_no_phone_numbers_or_texts(assistant, twilio_api):
    patient = new_number()
    text(assistant, twilio_api, patient, "my name is Maria Lopez, what are your hours?", 3)
    digits = patient.lstrip("+")
    for log in assistant.log_dir.glob("*.log"):
        content = log.read_text(errors="replace")
        assert digits not in content, log.name
        assert "Maria Lopez, what are your hours" not in content, log.name
