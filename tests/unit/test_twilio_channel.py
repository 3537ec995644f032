"""The SMS/WhatsApp channel without servers: texts as a phone shows them, numbered replies back
to button payloads, signatures, and the webhook and the sender driven in-process (the webhook
through Sanic's ASGI interface, the Twilio client through a stub HTTP client)."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import uuid
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from rasa.core.channels.channel import UserMessage, register
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sanic import Sanic
from twilio.http import HttpClient
from twilio.http.response import Response
from twilio.request_validator import RequestValidator

import channels.twilio as channel
from channels.limits import DEFAULT_MAX_MESSAGE_CHARS, REPLIES, no_reply_text
from channels.twilio import (
    SMS_MAX_CHARS,
    ClinicTwilioInput,
    ClinicTwilioOutput,
    buttons_of_last_turn,
    parse_number_reply,
    payload_for_reply,
    rewrite_api_url,
    signature_is_valid,
    sms_text,
    split_sms,
    strip_markdown,
)
from tests.conftest import render, variation
from tests.fake_twilio import error_resource, message_resource
from tests.loop_ticks import LoopTicks
from tests.unit import asgi

SID = "AC" + "f" * 32
TOKEN = "unit-test-auth-token"
CLINIC = "+15550100200"
PATIENT = "+15550104321"
HOST = "assistant.test"
URL = f"http://{HOST}/webhooks/twilio/webhook"
CONFIRM = [{"title": "Yes, send it", "payload": "/affirm"},
           {"title": "No, change something", "payload": "/deny"}]
STATUS = [{"title": "I'm a new patient", "payload": "I'm a new patient"},
          {"title": "I've been before", "payload": "I've been before"}]


# -- texts as a phone shows them ------------------------------------------------------------


def test_buttons_become_numbered_lines_in_the_same_message(domain):
    response = variation(domain, "utter_booking_summary")
    text = render(domain, "utter_booking_summary", name="Maria Lopez", contact="(212) 555-0123",
                  when="Tuesday", reason="migraines", status="new patient")
    sms = sms_text(text, response["buttons"])
    assert sms == text + "\n\nReply 1 for Yes, send it\nReply 2 for No, change something"
    assert split_sms(sms) == [sms]


def test_numbering_can_go_on_from_an_earlier_message():
    assert sms_text("Have you been to the clinic before?", STATUS, first_number=2) == (
        "Have you been to the clinic before?\n\n"
        "Reply 2 for I'm a new patient\nReply 3 for I've been before")


def test_a_button_without_title_shows_its_payload_and_text_may_be_empty():
    assert sms_text(None, [{"payload": "/book_appointment"}]) == (
        "Reply 1 for /book_appointment")
    assert sms_text("Just text") == "Just text"


@pytest.mark.parametrize(
    ("markdown", "plain"),
    [("**Bold** and __strong__ words", "Bold and strong words"),
     ("See [our website](https://clinic.example/hours) today",
      "See our website (https://clinic.example/hours) today"),
     ("[https://clinic.example](https://clinic.example)", "https://clinic.example"),
     ("an *emphasised* word and `code`", "an emphasised word and code"),
     ("## Opening hours\nMonday", "Opening hours\nMonday"),
     ("\u201cDon\u2019t wait\u201d \u2013 call now\u2026", "\"Don't wait\" - call now..."),
     # left alone: arithmetic, list bullets, underscores in addresses
     ("2 * 3 * 4", "2 * 3 * 4"),
     ("* first\n* second", "* first\n* second"),
     ("write to first_last_name@clinic.example", "write to first_last_name@clinic.example")],
)
def test_markdown_is_stripped(markdown, plain):
    assert strip_markdown(markdown) == plain


def test_button_titles_are_stripped_too():
    assert sms_text("Pick one", [{"title": "**Book** now", "payload": "/book"}]) == (
        "Pick one\n\nReply 1 for Book now")


def _words(chunks: list[str]) -> list[str]:
    return " ".join(chunks).split()


def test_long_text_splits_at_paragraphs():
    paragraphs = [f"Paragraph {n}. " + "Acupuncture uses thin needles. " * 20 for n in range(6)]
    text = "\n\n".join(p.strip() for p in paragraphs)
    chunks = split_sms(text)
    assert len(chunks) > 1 and all(len(c) <= SMS_MAX_CHARS for c in chunks)
    assert _words(chunks) == text.split()
    assert all(c.startswith("Paragraph ") and c.endswith("needles.") for c in chunks)


def test_a_long_paragraph_splits_at_sentences():
    text = " ".join(f"Sentence number {n} says something about headaches." for n in range(80))
    chunks = split_sms(text)
    assert len(chunks) >= 2 and all(len(c) <= SMS_MAX_CHARS for c in chunks)
    assert all(c.startswith("Sentence") and c.endswith("headaches.") for c in chunks)
    assert _words(chunks) == text.split()


def test_a_long_sentence_splits_between_words():
    text = " ".join(f"word{n}" for n in range(900))  # ~6,000 characters, no full stop
    chunks = split_sms(text, limit=500)
    assert all(len(c) <= 500 for c in chunks)
    assert _words(chunks) == text.split()  # no word was cut


def test_only_a_single_giant_word_is_cut():
    url = "https://clinic.example/" + "x" * 4000
    chunks = split_sms(f"Link: {url} end")
    assert all(len(c) <= SMS_MAX_CHARS for c in chunks)
    assert "".join(chunks).replace("Link:", "").replace("end", "") == url


def test_short_and_empty_texts():
    assert split_sms("  Hello  ") == ["Hello"]
    assert split_sms("") == []
    exactly = "x" * SMS_MAX_CHARS
    assert split_sms(exactly) == [exactly]


# -- numbered replies -> payloads ---------------------------------------------------------


@pytest.mark.parametrize(("text", "number"),
                         [("1", 1), ("1.", 1), (" 2 ", 2), ("2)", 2), ("#3", 3), ("12", 12)])
def test_number_replies_are_recognised(text, number):
    assert parse_number_reply(text) == number


@pytest.mark.parametrize("text", ["one", "1 2", "1.5", "12 pm", "", "212 555 0123", "100"])
def test_other_texts_are_no_number_reply(text):
    assert parse_number_reply(text) is None


def turn(*events: Any) -> list[Any]:
    return list(events)


def test_the_last_turns_buttons_are_numbered_across_its_messages():
    events = turn(
        UserUttered("book"), BotUttered("Shall I send it?", {"buttons": CONFIRM}),
        UserUttered("what is acupuncture?"),
        BotUttered("Acupuncture is ...", {"buttons": [{"title": "Book an appointment",
                                                       "payload": "/book_appointment"}]}),
        BotUttered("Have you been to the clinic before?", {"buttons": STATUS}),
    )
    buttons = buttons_of_last_turn(events)
    assert [b["payload"] for b in buttons] == [
        "/book_appointment", "I'm a new patient", "I've been before"]
    assert payload_for_reply("2.", buttons) == "I'm a new patient"
    assert payload_for_reply(" 3 ", buttons) == "I've been before"
    assert payload_for_reply("4", buttons) is None
    assert payload_for_reply("0", buttons) is None
    assert payload_for_reply("hello", buttons) is None


def test_older_buttons_do_not_count_once_the_patient_has_written_again():
    events = turn(BotUttered("Shall I send it?", {"buttons": CONFIRM}),
                  UserUttered("no"), BotUttered("What should I change?", {}))
    assert buttons_of_last_turn(events) == []
    assert buttons_of_last_turn(turn(UserUttered("hi"))) == []
    assert buttons_of_last_turn([]) == []


def test_buttons_expire_with_the_session():
    events = turn(UserUttered("book", timestamp=1000.0),
                  BotUttered("Shall I send it?", {"buttons": CONFIRM}, timestamp=1000.0))
    assert buttons_of_last_turn(events, max_idle_seconds=3600, now=1000.0 + 60) == CONFIRM
    assert buttons_of_last_turn(events, max_idle_seconds=3600, now=1000.0 + 3601) == []


# -- signatures ---------------------------------------------------------------------------


def sign(params: dict[str, str], url: str = URL, token: str = TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, params)


def twilio_form(body: str, sender: str = PATIENT, **extra: str) -> dict[str, str]:
    """The fields Twilio posts for an inbound SMS, blank ones included."""
    return {"ToCountry": "US", "ToState": "", "SmsMessageSid": "SM" + "1" * 32,
            "NumMedia": "0", "ToCity": "", "FromZip": "", "SmsSid": "SM" + "1" * 32,
            "FromState": "", "SmsStatus": "received", "FromCity": "", "Body": body,
            "FromCountry": "US", "To": CLINIC, "ToZip": "", "NumSegments": "1",
            "MessageSid": "SM" + "1" * 32, "AccountSid": SID, "From": sender,
            "ApiVersion": "2010-04-01", **extra}


def test_a_valid_signature_is_accepted():
    params = twilio_form("hello")
    assert signature_is_valid(TOKEN, URL, params, sign(params))


def test_the_url_with_and_without_its_standard_port_is_accepted():
    params = twilio_form("hello")
    signature = sign(params, "https://clinic.example/webhooks/twilio/webhook")
    assert signature_is_valid(TOKEN, "https://clinic.example:443/webhooks/twilio/webhook",
                              params, signature)


@pytest.mark.parametrize(
    "tamper",
    ["other token", "other url", "changed body", "added field", "dropped blank field", "none",
     "empty"],
)
def test_a_wrong_or_missing_signature_is_refused(tamper):
    params = twilio_form("hello")
    signature = sign(params)
    url, token = URL, TOKEN
    if tamper == "other token":
        signature = sign(params, token="someone else's token")
    elif tamper == "other url":
        url = "http://attacker.example/webhooks/twilio/webhook"
    elif tamper == "changed body":
        params = {**params, "Body": "hello!"}
    elif tamper == "added field":
        params = {**params, "Extra": "1"}
    elif tamper == "dropped blank field":
        params = {k: v for k, v in params.items() if k != "FromCity"}
    elif tamper == "none":
        signature = None
    else:
        signature = ""
    assert not signature_is_valid(token, url, params, signature)


def test_no_auth_token_accepts_nothing():
    params = twilio_form("hello")
    assert not signature_is_valid("", URL, params, sign(params, token=""))


# -- the sender, with a stub HTTP client ----------------------------------------------------


class StubTwilioHttp(HttpClient):
    """Answers the Twilio client like the API would; ``outcomes`` are served first:
    an HTTP status, or "refused" for a connection error."""

    def __init__(self, *outcomes: int | str) -> None:
        super().__init__(logging.getLogger("stub"), False)
        self.outcomes = list(outcomes)
        self.calls: list[dict[str, Any]] = []
        self.sent: list[dict[str, Any]] = []
        self.threads: list[threading.Thread] = []

    def request(self, method: str, url: str, params: Any = None, data: Any = None,
                headers: Any = None, auth: Any = None, timeout: Any = None,
                allow_redirects: bool = False) -> Response:
        self.calls.append({"method": method, "url": url, "data": dict(data or {}),
                           "auth": auth})
        self.threads.append(threading.current_thread())
        outcome = self.outcomes.pop(0) if self.outcomes else 201
        if outcome == "refused":
            raise requests.exceptions.ConnectionError("connection refused")
        if outcome != 201:
            code = 21211 if outcome == 400 else 20500
            return Response(int(outcome), json.dumps(error_resource(int(outcome), code, "no")))
        data = dict(data or {})
        self.sent.append(data)
        resource = message_resource(SID, data["To"], data["From"], data.get("Body", ""))
        return Response(201, json.dumps(resource))

    def bodies(self) -> list[str]:
        return [d["Body"] for d in self.sent]


@pytest.fixture()
def no_retry_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(channel, "RETRY_DELAY_SECONDS", 0)


def output(http: StubTwilioHttp, number: str = CLINIC) -> ClinicTwilioOutput:
    return ClinicTwilioOutput(SID, TOKEN, number, http_client=http)


async def test_a_message_with_buttons_is_one_sms_sent_from_a_worker_thread():
    http = StubTwilioHttp()
    await output(http).send_response(PATIENT, {"text": "Shall I send it?", "buttons": CONFIRM})
    [call] = http.calls
    assert call["method"] == "POST"
    assert call["url"] == f"https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages.json"
    assert call["auth"] == (SID, TOKEN)
    assert call["data"] == {"To": PATIENT, "From": CLINIC, "Body": (
        "Shall I send it?\n\nReply 1 for Yes, send it\nReply 2 for No, change something")}
    assert http.threads[0] is not threading.main_thread()


async def test_the_event_loop_keeps_running_while_twilio_answers():
    class SlowHttp(StubTwilioHttp):
        def request(self, *args: Any, **kwargs: Any) -> Response:
            threading.Event().wait(0.3)  # a slow API, in the worker thread
            return super().request(*args, **kwargs)

    async with LoopTicks() as ticks:
        await output(SlowHttp()).send_text_message(PATIENT, "hello")
    assert ticks.count >= 5  # a blocking send would have stopped the loop: 0 or 1 tick


async def test_button_numbers_run_on_within_one_turn():
    http = StubTwilioHttp()
    sender = output(http)
    await sender.send_response(PATIENT, {"text": "Acupuncture is ...", "buttons": [
        {"title": "Book an appointment", "payload": "/book_appointment"}]})
    await sender.send_response(PATIENT, {"text": "Been before?", "buttons": STATUS})
    assert http.bodies() == [
        "Acupuncture is ...\n\nReply 1 for Book an appointment",
        "Been before?\n\nReply 2 for I'm a new patient\nReply 3 for I've been before"]


async def test_long_text_goes_as_several_messages_within_the_limit():
    http = StubTwilioHttp()
    text = "\n\n".join("Acupuncture uses thin needles. " * 30 for _ in range(3))
    await output(http).send_text_message(PATIENT, text)
    assert len(http.sent) > 1 and all(len(b) <= SMS_MAX_CHARS for b in http.bodies())
    assert _words(http.bodies()) == text.split()


async def test_whatsapp_replies_go_to_the_same_address_from_the_whatsapp_number():
    http = StubTwilioHttp()
    await output(http, "whatsapp:" + CLINIC).send_text_message("whatsapp:" + PATIENT, "hi")
    await output(http, CLINIC).send_text_message("whatsapp:" + PATIENT, "hi")  # one number, both
    await output(http, "whatsapp:" + CLINIC).send_text_message(PATIENT, "hi")
    assert [(d["From"], d["To"]) for d in http.sent] == [
        ("whatsapp:" + CLINIC, "whatsapp:" + PATIENT),
        ("whatsapp:" + CLINIC, "whatsapp:" + PATIENT),
        (CLINIC, PATIENT)]


async def test_held_replies_go_out_emergency_first():
    http = StubTwilioHttp()
    sender = output(http)
    sender.hold()
    await sender.send_response(PATIENT, {"text": "Privacy ...",
                                         "utter_action": "utter_privacy_notice"})
    await sender.send_response(PATIENT, {"text": "Disclaimer ...",
                                         "utter_action": "utter_disclaimer"})
    await sender.send_response(PATIENT, {"text": "Call 911 now.",
                                         "utter_action": "utter_emergency"})
    await sender.send_response(PATIENT, {"text": "Paused.", "utter_action": "utter_form_paused"})
    assert http.sent == []
    await sender.release()
    assert http.bodies() == ["Call 911 now.", "Privacy ...", "Disclaimer ...", "Paused."]
    await sender.send_text_message(PATIENT, "after the turn")  # not held any more
    assert http.bodies()[-1] == "after the turn"


async def test_transient_failures_are_retried(no_retry_delay):
    http = StubTwilioHttp(503, "refused", 201)
    message = await output(http)._send_message({"to": PATIENT, "body": "hello"})
    assert message is not None and message.sid.startswith("SM") and message.status == "queued"
    assert len(http.calls) == 3 and http.bodies() == ["hello"]


async def test_a_refused_message_is_not_retried_and_the_log_stays_private(no_retry_delay, caplog):
    http = StubTwilioHttp(400)
    with caplog.at_level(logging.INFO):
        await output(http).send_text_message(PATIENT, "Maria Lopez, migraines")
    assert len(http.calls) == 1 and http.sent == []
    record = next(r for r in caplog.records if r.levelno == logging.ERROR)
    assert "HTTP 400, Twilio error 21211" in record.getMessage()
    assert_private(caplog, PATIENT, "Maria Lopez", "migraines")


async def test_giving_up_after_three_attempts(no_retry_delay, caplog):
    http = StubTwilioHttp(503, 503, 503, 201)
    with caplog.at_level(logging.INFO):
        assert await output(http)._send_message({"to": PATIENT, "body": "hi"}) is None
    assert len(http.calls) == 3
    assert_private(caplog, PATIENT, "hi")


def assert_private(caplog: pytest.LogCaptureFixture, *secrets: str) -> None:
    for record in caplog.records:
        if record.levelno >= logging.INFO:
            for secret in secrets:
                assert secret not in record.getMessage(), record.getMessage()
                assert secret.lstrip("+") not in record.getMessage(), record.getMessage()


def test_api_base_url_is_read_when_a_client_is_made(monkeypatch):
    monkeypatch.delenv("TWILIO_API_BASE_URL", raising=False)
    assert channel.make_http_client().base_url is None
    monkeypatch.setenv("TWILIO_API_BASE_URL", "http://127.0.0.1:8999/")
    assert channel.make_http_client().base_url == "http://127.0.0.1:8999/"


@pytest.mark.parametrize(
    ("url", "base", "expected"),
    [("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json", "http://127.0.0.1:9/",
      "http://127.0.0.1:9/2010-04-01/Accounts/AC1/Messages.json"),
     ("https://api.dublin.ie1.twilio.com/2010-04-01/x", "http://fake",
      "http://fake/2010-04-01/x"),
     ("https://api.twilio.com/2010-04-01/x", None, "https://api.twilio.com/2010-04-01/x"),
     ("https://evil.example/api.twilio.com/x", "http://fake",
      "https://evil.example/api.twilio.com/x")],
)
def test_api_urls_are_rewritten_to_the_base_url(url, base, expected):
    assert rewrite_api_url(url, base) == expected


# -- the webhook, in-process through Sanic's ASGI interface ---------------------------------


class FakeAgent:
    """What the webhook uses of Rasa's agent: the tracker store, the domain, handle_message."""

    def __init__(self, replies: list[dict[str, Any]] | None = None,
                 fail: bool = False) -> None:
        self.domain = Domain.empty()
        self.tracker_store = InMemoryTrackerStore(self.domain)
        self.received: list[UserMessage] = []
        self.replies = replies or []
        self.fail = fail

    async def handle_message(self, message: UserMessage) -> None:
        self.received.append(message)
        for reply in self.replies:
            await message.output_channel.send_response(message.sender_id, dict(reply))
        if self.fail:
            raise RuntimeError("the model fell over")


class Webhook:
    def __init__(self, app: Sanic, agent: FakeAgent, http: StubTwilioHttp) -> None:
        self.app, self.agent, self.http = app, agent, http

    async def post(self, body: bytes, headers: dict[str, str],
                   path: str = "/webhooks/twilio/webhook") -> tuple[int, str]:
        status, text = await asgi.post(self.app, path, body, HOST, headers)
        return status, text.decode()

    async def sms(self, body: str, sender: str = PATIENT, signature: str | None = "valid",
                  url: str = URL, **extra: str) -> tuple[int, str]:
        params = twilio_form(body, sender, **extra)
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if signature == "valid":
            headers["X-Twilio-Signature"] = sign(params, url)
        elif signature is not None:
            headers["X-Twilio-Signature"] = signature
        return await self.post(urlencode(params).encode(), headers)


async def make_webhook(monkeypatch: pytest.MonkeyPatch, credentials: dict[str, str] | None = None,
                       agent: FakeAgent | None = None) -> Webhook:
    http = StubTwilioHttp()
    monkeypatch.setattr(channel, "make_http_client", lambda: http)
    # Sanic rewrites its HTTP class when an app starts; test mode lets several apps start.
    monkeypatch.setattr(Sanic, "test_mode", True)
    agent = agent or FakeAgent()
    app = Sanic(f"twilio_unit_{uuid.uuid4().hex[:12]}")
    app.ctx.agent = agent
    credentials = {"account_sid": SID, "auth_token": TOKEN, "twilio_number": CLINIC,
                   "webhook_url": "", **(credentials or {})}
    register([ClinicTwilioInput.from_credentials(credentials)], app, "/webhooks/")
    await app._startup()  # what serving would do: finalise routes and signals
    return Webhook(app, agent, http)


async def test_a_signed_sms_reaches_rasa_and_the_replies_go_back(monkeypatch):
    agent = FakeAgent(replies=[{"text": "Hello there", "utter_action": "utter_greet"}])
    hook = await make_webhook(monkeypatch, agent=agent)
    status, body = await hook.sms("hello")
    assert status == 200 and "<Response>" in body
    [message] = agent.received
    assert (message.text, message.sender_id, message.input_channel) == (
        "hello", PATIENT, "twilio")
    assert hook.http.sent == [{"To": PATIENT, "From": CLINIC, "Body": "Hello there"}]


async def test_the_channel_is_off_without_an_account(monkeypatch):
    for missing in ("account_sid", "auth_token", "twilio_number"):
        hook = await make_webhook(monkeypatch, {missing: ""})
        status, body = await hook.sms("hello")
        assert status == 503 and "not configured" in body
        assert hook.agent.received == [] and hook.http.calls == []


@pytest.mark.parametrize("signature", [None, "", "bm90IGEgc2lnbmF0dXJl", "wrong-url"])
async def test_unsigned_or_wrongly_signed_requests_are_refused(monkeypatch, signature):
    hook = await make_webhook(monkeypatch)
    if signature == "wrong-url":
        signature = sign(twilio_form("hello"), "http://other.example/webhooks/twilio/webhook")
    status, _ = await hook.sms("hello", signature=signature)
    assert status == 403
    assert hook.agent.received == [] and hook.http.calls == []


async def test_behind_a_proxy_the_configured_public_url_is_checked(monkeypatch):
    public = "https://clinic.example/webhooks/twilio/webhook"
    hook = await make_webhook(monkeypatch, {"webhook_url": public})
    assert (await hook.sms("hello", url=public))[0] == 200
    assert (await hook.sms("hello", url=URL))[0] == 403  # the internal URL is not what Twilio signs
    assert len(hook.agent.received) == 1


async def test_malformed_requests_get_a_4xx_and_are_not_processed(monkeypatch):
    hook = await make_webhook(monkeypatch)
    as_json = json.dumps({"From": PATIENT, "Body": "hi"}).encode()
    status, _ = await hook.post(as_json, {"Content-Type": "application/json",
                                          "X-Twilio-Signature": sign({})})
    assert status == 415
    status, _ = await hook.post(b"\xff\xfe=\xff", {
        "Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": sign({})})
    assert status == 400
    for missing in ("From", "Body"):
        params = {k: v for k, v in twilio_form("hi").items() if k != missing}
        status, _ = await hook.post(urlencode(params).encode(), {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": sign(params)})
        assert status == 400, missing
    assert hook.agent.received == [] and hook.http.calls == []


async def test_a_picture_without_text_gets_a_short_answer(monkeypatch):
    hook = await make_webhook(monkeypatch)
    status, _ = await hook.sms("", NumMedia="1", MediaUrl0="https://api.twilio.com/m.jpg")
    assert status == 200 and hook.agent.received == []
    assert hook.http.bodies() == [channel.TEXT_ONLY_REPLY]


async def save(agent: FakeAgent, *events: Any, sender: str = PATIENT) -> None:
    await agent.tracker_store.save(DialogueStateTracker.from_events(sender, list(events)))


async def test_a_numbered_reply_becomes_the_buttons_payload(monkeypatch):
    hook = await make_webhook(monkeypatch)
    await save(hook.agent, UserUttered("migraines"),
               BotUttered("Have you been to the clinic before?", {"buttons": STATUS}))
    assert (await hook.sms(" 2 "))[0] == 200
    await save(hook.agent, UserUttered("I'm a new patient"),
               BotUttered("Shall I send it?", {"buttons": CONFIRM}))
    assert (await hook.sms("1."))[0] == 200
    assert [m.text for m in hook.agent.received] == ["I've been before", "/affirm"]


async def test_numbers_that_match_no_button_pass_through(monkeypatch):
    hook = await make_webhook(monkeypatch)
    await hook.sms("1")  # no conversation yet
    await save(hook.agent, UserUttered("hi"), BotUttered("Shall I send it?", {"buttons": CONFIRM}))
    await hook.sms("3")
    await save(hook.agent, UserUttered("3"), BotUttered("What should I change?", {}))
    await hook.sms("1")  # the last turn offered no buttons
    await hook.sms("1", sender="+15550109999")  # another patient's conversation
    assert [m.text for m in hook.agent.received] == ["1", "3", "1", "1"]


async def test_a_crash_in_rasa_is_a_500_and_what_was_said_is_still_sent(monkeypatch, caplog):
    agent = FakeAgent(replies=[{"text": "Call 911 now.", "utter_action": "utter_emergency"}],
                      fail=True)
    hook = await make_webhook(monkeypatch, agent=agent)
    with caplog.at_level(logging.INFO):
        status, _ = await hook.sms("my face is drooping")
    assert status == 500
    assert hook.http.bodies() == ["Call 911 now."]
    assert_private(caplog, PATIENT, "drooping")


async def test_a_slow_turn_is_finished_and_answered_after_twilio_hangs_up(monkeypatch):
    go_on = asyncio.Event()

    class SlowAgent(FakeAgent):
        async def handle_message(self, message: UserMessage) -> None:
            await go_on.wait()  # e.g. a slow action server
            await super().handle_message(message)

    hook = await make_webhook(monkeypatch, agent=SlowAgent(replies=[{"text": "Hello there"}]))
    call = asyncio.create_task(hook.sms("hello"))
    await asyncio.sleep(0.05)
    call.cancel()  # Twilio stops waiting after 15 s; Sanic then cancels the handler
    with pytest.raises(asyncio.CancelledError):
        await call
    go_on.set()
    for _ in range(200):
        if hook.http.sent:
            break
        await asyncio.sleep(0.01)
    assert [m.text for m in hook.agent.received] == ["hello"]
    assert hook.http.bodies() == ["Hello there"]


async def test_whatsapp_senders_are_answered_on_whatsapp(monkeypatch):
    agent = FakeAgent(replies=[{"text": "Hello there"}])
    hook = await make_webhook(monkeypatch, {"twilio_number": "whatsapp:" + CLINIC}, agent)
    status, _ = await hook.sms("hello", sender="whatsapp:" + PATIENT, ProfileName="Maria",
                               WaId=PATIENT.lstrip("+"))
    assert status == 200
    assert agent.received[0].sender_id == "whatsapp:" + PATIENT
    assert hook.http.sent == [{"To": "whatsapp:" + PATIENT, "From": "whatsapp:" + CLINIC,
                               "Body": "Hello there"}]


# -- Spanish: numbered lines, chosen buttons, the conversation's language ---------------------

STATUS_ES = [{"title": "Es mi primera visita", "payload": "I'm a new patient"},
             {"title": "Ya he venido antes", "payload": "I've been before"}]


def test_a_spanish_message_numbers_its_buttons_in_spanish(domain):
    buttons = variation(domain, "utter_booking_summary", {"language": "es"})["buttons"]
    assert sms_text("¿La envío a la clínica?", buttons, language="es") == (
        "¿La envío a la clínica?\n\nResponda 1 para Sí, enviarla\n"
        "Responda 2 para No, cambiar algo")
    assert sms_text("Pick one", STATUS, first_number=3, language="fr") == (
        "Pick one\n\nReply 3 for I'm a new patient\nReply 4 for I've been before")


async def test_the_language_of_the_chosen_variation_numbers_the_buttons(domain):
    http = StubTwilioHttp()
    out = output(http)
    spanish = dict(variation(domain, "utter_ask_use_channel_phone", {"language": "es"}))
    spanish["text"] = spanish["text"].format(phone="+1 555-010-4321")
    await out.send_response(PATIENT, {**spanish, "utter_action": "utter_ask_use_channel_phone"})
    english = dict(variation(domain, "utter_booking_summary"))
    await out.send_response(PATIENT, {**english, "utter_action": "utter_booking_summary"})
    first, second = http.bodies()
    assert first.endswith("Responda 1 para Sí, a este número\n"
                          "Responda 2 para No, a otro número o correo")
    assert second.endswith("Reply 3 for Yes, send it\nReply 4 for No, change something")


def test_a_numbered_reply_to_a_spanish_button_sends_the_words_the_patient_read():
    # the payload "I'm a new patient" would read as English and turn the conversation English
    assert payload_for_reply("1", STATUS_ES) == "Es mi primera visita"
    assert payload_for_reply("2", STATUS_ES) == "Ya he venido antes"
    assert payload_for_reply("1", STATUS) == "I'm a new patient"  # title and payload agree
    assert payload_for_reply("1", [{"title": "Sí, a este número", "payload": "/affirm"}]) == \
        "/affirm"
    assert payload_for_reply("1", [{"title": "Otras horas", "payload": "otras horas"}]) == \
        "otras horas"
    assert payload_for_reply("1", [{"payload": "I've been before"}]) == "I've been before"


@pytest.mark.parametrize(("text", "expected"), [
    ("maria¡example.com", "maria@example.com"),
    ("mi correo es ana.ruiz+citas¡correo.example.mx",
     "mi correo es ana.ruiz+citas@correo.example.mx"),
    ("¡Hola! ¿Tienen citas?", "¡Hola! ¿Tienen citas?"),
    ("dije ¡gracias!", "dije ¡gracias!"),
])
def test_a_carriers_inverted_exclamation_is_an_at_sign_only_inside_an_address(text, expected):
    assert channel.carrier_at_signs(text) == expected


def spanish_agent(replies: list[dict[str, Any]] | None = None) -> FakeAgent:
    """A FakeAgent whose tracker store knows the ``language`` slot."""
    from tests.unit.test_limits import domain as language_domain

    agent = FakeAgent(replies=replies)
    agent.domain = language_domain()
    agent.tracker_store = InMemoryTrackerStore(agent.domain)
    return agent


async def spanish_conversation(agent: FakeAgent, sender: str = PATIENT) -> None:
    from rasa.shared.core.events import SlotSet

    await agent.tracker_store.save(DialogueStateTracker.from_events(
        sender, [UserUttered("hola"), SlotSet("language", "es")], agent.domain.slots))


@pytest.mark.filterwarnings("ignore:Slot auto-fill:UserWarning")
async def test_a_spanish_text_starts_a_spanish_conversation(monkeypatch):
    agent = FakeAgent(replies=[{"text": "ok"}])
    hook = await make_webhook(monkeypatch, agent=agent)
    await hook.sms("¡Hola! quiero una cita")
    await hook.sms("quiero una cita")
    await hook.sms("I'd like an appointment")
    await hook.sms("Maria Lopez")
    languages = [(m.metadata or {}).get("language") for m in agent.received]
    assert languages == ["es", "es", None, None]
    assert agent.received[0].text == "¡Hola! quiero una cita"  # the "¡" is kept


@pytest.mark.filterwarnings("ignore:Slot auto-fill:UserWarning")
async def test_a_too_long_text_is_answered_in_the_patients_language(monkeypatch):
    agent = spanish_agent()
    hook = await make_webhook(monkeypatch, {"max_message_chars": "200"}, agent)
    await spanish_conversation(agent)
    await hook.sms("headache " * 30)
    await hook.sms("headache " * 30, sender="+15550109999")
    await hook.sms("Me duele la cabeza todos los días desde hace un mes. " * 5,
                   sender="+15550108888")
    assert agent.received == []
    assert [d["To"] for d in hook.http.sent] == [PATIENT, "+15550109999", "+15550108888"]
    assert hook.http.bodies() == [REPLIES["too_long"]["es"], REPLIES["too_long"]["en"],
                                  REPLIES["too_long"]["es"]]


async def test_the_limit_defaults_to_the_other_channels_one(monkeypatch):
    hook = await make_webhook(monkeypatch)
    await hook.sms("x" * DEFAULT_MAX_MESSAGE_CHARS)
    await hook.sms("x" * (DEFAULT_MAX_MESSAGE_CHARS + 1))
    assert len(hook.agent.received) == 1
    assert hook.http.bodies()[-1] == REPLIES["too_long"]["en"]


@pytest.mark.filterwarnings("ignore:Slot auto-fill:UserWarning")
async def test_a_picture_in_a_spanish_conversation_gets_the_spanish_answer(monkeypatch):
    agent = spanish_agent()
    hook = await make_webhook(monkeypatch, agent=agent)
    await spanish_conversation(agent)
    await hook.sms("", NumMedia="1", MediaUrl0="https://api.twilio.com/m.jpg")
    assert hook.http.bodies() == [REPLIES["text_only"]["es"]]


@pytest.mark.filterwarnings("ignore:Slot auto-fill:UserWarning")
async def test_a_turn_without_replies_gets_the_apology_in_the_patients_language(monkeypatch):
    agent = spanish_agent()  # no replies: e.g. the action server is down
    hook = await make_webhook(monkeypatch, agent=agent)
    await spanish_conversation(agent)
    assert (await hook.sms("quiero una cita"))[0] == 200
    assert (await hook.sms("book an appointment", sender="+15550109999"))[0] == 200
    assert hook.http.bodies() == [no_reply_text("es"), no_reply_text("en")]
    assert [m.text for m in agent.received] == ["quiero una cita", "book an appointment"]


async def test_a_crash_without_replies_still_gets_the_apology(monkeypatch):
    hook = await make_webhook(monkeypatch, agent=FakeAgent(fail=True))
    status, _ = await hook.sms("hello")
    assert status == 500
    assert hook.http.bodies() == [no_reply_text("en")]
