"""A person, live, for a patient who texts the clinic: Twilio's signed webhook in, the fake
Twilio REST API out (tests/e2e/test_sms.py's helpers), and the staff side driven through the
console's JSON API (``/staff/api/live``), signed in as the admin.

The patient asks for a person while a staff member is available and reads the waiting text by
SMS; the chat is listed for staff with its channel and the patient's messages; the "has joined"
line and every staff line reach the phone by SMS, prefixed with who wrote it; what the patient
texts meanwhile reaches staff and gets no SMS reply (no apology either), except a red flag,
which gets the emergency advice at once and marks the chat as an emergency; handing back brings
the assistant back. In Spanish the same, in Spanish. And when Twilio refuses a staff line.

Each test texts from its own phone number (the conversation id is the number), leaves no one
"present" for live chats and no chat open: other end-to-end tests expect the leave-a-message
flow when a patient asks for a person.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pytest
import requests

from actions import live, live_store, rasa_api
from actions.storage import get_engine
from channels.twilio import sms_text
from staff.live import TEXTS
from tests.e2e.test_sms import inbound_form, post_webhook, text
from tests.e2e.test_spanish_sms import as_sms
from tests.fake_twilio import FakeTwilio

ADMIN_PASSWORD = "correct horse battery staple"
EN = {"language": "en"}
ES = {"language": "es"}
QUIET_SECONDS = 2.5  # a reply (or an apology) to a patient's text would have come by now
_used_numbers: set[str] = set()


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    """Poll ``condition`` until it gives something true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def new_number() -> str:
    """A fictional phone number no other test texts from (+1 555 019 xxxx; test_sms.py uses
    +1 555 010 xxxx)."""
    while True:
        number = f"+1555019{secrets.randbelow(10_000):04d}"
        if number not in _used_numbers:
            _used_numbers.add(number)
            return number


@dataclass
class Console:
    """The staff console's JSON API, signed in (a session cookie and its CSRF token)."""

    base: str
    http: requests.Session
    csrf: str
    senders: list[str] = field(default_factory=list)  # conversations to leave closed

    def get(self, path: str) -> requests.Response:
        return self.http.get(self.base + path, timeout=30)

    def post(self, path: str, body: dict[str, Any] | None = None) -> requests.Response:
        # the longest: a staff line to a phone Twilio keeps refusing (3 tries, 1 s + 2 s apart)
        return self.http.post(self.base + path, json=body or {},
                              headers={"X-CSRF-Token": self.csrf}, timeout=60)

    def live(self, sender: str, action: str, body: dict[str, Any] | None = None
             ) -> requests.Response:
        return self.post(f"/staff/api/live/{quote(sender, safe='')}/{action}", body)

    def chat(self, sender: str) -> dict[str, Any] | None:
        reply = self.get("/staff/api/live")
        assert reply.status_code == 200, reply.text
        found = [c for c in reply.json()["chats"] if c["sender_id"] == sender]
        assert len(found) <= 1, found
        return found[0] if found else None


@pytest.fixture()
def console(assistant) -> Iterator[Console]:
    """The admin, signed in to the console's API and available for live chats; afterwards not
    available (nor present) any more, and every chat the test opened closed."""
    http = requests.Session()
    reply = http.post(f"{assistant.web_url}/staff/api/login",
                      json={"username": "admin", "password": ADMIN_PASSWORD}, timeout=30)
    assert reply.status_code == 200, reply.text
    staff = Console(base=assistant.web_url, http=http, csrf=reply.json()["csrf_token"])
    engine = live.ready(get_engine(assistant.database_url))
    try:
        available = staff.post("/staff/api/live/presence", {"available": True})
        assert available.status_code == 200, available.text
        assert available.json() == {"username": "admin", "available": True}
        yield staff
    finally:
        for sender in staff.senders:
            if live_store.open_chat_of(engine, sender) is not None:
                staff.live(sender, "close")
        staff.post("/staff/api/live/presence", {"available": False})
        live_store.mark_absent(engine, "admin")
        for sender in staff.senders:  # closed through Rasa, or at least in the database
            chat = live_store.open_chat_of(engine, sender)
            if chat is not None:
                live_store.end_chat(engine, sender, chat.taken_by or "admin", "closed")
        http.close()


def tracker(assistant, sender: str) -> dict[str, Any]:
    """The stored conversation, read through Rasa's HTTP API (the phone number's "+" goes in
    the path as it is: Rasa's routes do not decode the id)."""
    state = rasa_api.get_tracker(sender, base_url=assistant.rasa_url, token=assistant.api_token)
    assert state["sender_id"] == sender
    return state


def staff_lines(assistant, sender: str) -> list[dict[str, Any]]:
    return [e for e in tracker(assistant, sender)["events"]
            if e["event"] == "bot" and (e.get("metadata") or {}).get("live")]


def sent_to(api: FakeTwilio, patient: str) -> list[dict[str, Any]]:
    """The message resources the fake Twilio API created for ``patient``, in order."""
    return [dict(m) for m in list(api.messages) if m["to"] == patient]


def texts_nothing_back(assistant, api: FakeTwilio, patient: str, body: str) -> None:
    """The patient texts ``body``; no SMS comes back (no bot reply, no apology)."""
    before = len(api.sent_to(patient))
    reply = post_webhook(assistant, inbound_form(assistant, patient, body))
    assert reply.status_code == 200, reply.text
    time.sleep(QUIET_SECONDS)
    assert api.sent_to(patient)[before:] == []


def staff_says(console: Console, api: FakeTwilio, patient: str, action: str,
               body: dict[str, Any] | None = None) -> tuple[dict[str, Any], list[str]]:
    """A console action that tells the patient something: its JSON answer, and the SMS the
    patient got from it (exactly one)."""
    before = len(api.sent_to(patient))
    reply = console.live(patient, action, body)
    assert reply.status_code == 200, reply.text
    wait_for(lambda: len(api.sent_to(patient)) > before, f"the SMS of {action}")
    time.sleep(0.3)  # anything extra would have arrived by now
    return reply.json(), api.sent_to(patient)[before:]


def wait_for_message(console: Console, patient: str, kind: str, body: str) -> dict[str, Any]:
    """The chat as the console lists it, once it shows the message ``body``."""
    def shown() -> dict[str, Any] | None:
        chat = console.chat(patient)
        if chat and any(m["kind"] == kind and m["text"] == body for m in chat["messages"]):
            return chat
        return None
    return wait_for(shown, f"the console to show {body!r}")


def test_an_sms_patient_talks_to_staff_and_is_handed_back(assistant, twilio_api, domain,
                                                         console):
    patient = new_number()
    console.senders.append(patient)
    lines = TEXTS["en"]

    # asking for a person while someone is available: the waiting text by SMS (after the new
    # conversation's notices), and the conversation paused
    asked = text(assistant, twilio_api, patient, "can I talk to a person please", 3)
    assert asked == [as_sms(domain, "utter_privacy_notice", EN),
                     as_sms(domain, "utter_disclaimer", EN),
                     as_sms(domain, "utter_live_waiting", EN, minutes=2)]
    assert tracker(assistant, patient)["paused"] is True

    # staff see it waiting, on the SMS channel, with what the patient wrote
    chat = wait_for_message(console, patient, "user", "can I talk to a person please")
    assert (chat["status"], chat["channel"], chat["language"], chat["reason"]) == (
        "waiting", "twilio", "en", "asked")
    assert chat["taken_by"] is None and chat["emergency"] is False
    [asked_for] = [m for m in chat["messages"] if m["kind"] == "user"]
    assert asked_for["channel"] == "twilio"

    # accept: "Admin ... has joined" by SMS
    answer, sms = staff_says(console, twilio_api, patient, "accept")
    assert (answer["chat"]["status"], answer["chat"]["taken_by"]) == ("taken", "admin")
    assert sms == [sms_text(lines["joined"].format(name="Admin"))]
    assert sms == ["Admin, a member of the clinic's staff, has joined the chat."]

    # a staff line: by SMS with who wrote it, stored with its metadata
    answer, sms = staff_says(console, twilio_api, patient, "messages",
                             {"text": "Hi, we can see you at 3 pm today."})
    assert answer["status"] == "sent"
    assert sms == ["Admin (clinic staff): Hi, we can see you at 3 pm today."]
    shown_line = [m for m in answer["chat"]["messages"] if m["kind"] == "bot"][-1]
    assert (shown_line["text"], shown_line["staff"]) == (sms[0], "admin")
    stored = staff_lines(assistant, patient)
    assert [e["text"] for e in stored] == [
        "Admin, a member of the clinic's staff, has joined the chat.",
        "Admin (clinic staff): Hi, we can see you at 3 pm today."]
    for event in stored:  # (Rasa adds its assistant_id and model_id)
        assert {k: event["metadata"].get(k) for k in ("staff", "live")} == {
            "staff": "admin", "live": True}

    # what the patient texts reaches staff and gets no SMS back, not even an apology
    texts_nothing_back(assistant, twilio_api, patient, "great, 3 pm works for me")
    chat = wait_for_message(console, patient, "user", "great, 3 pm works for me")
    assert chat["status"] == "taken" and chat["emergency"] is False
    assert tracker(assistant, patient)["paused"] is True

    # a red flag during the chat: the emergency advice at once, the chat shown as an emergency
    red_flag = "I have the worst headache of my life, it came on suddenly"
    replies = text(assistant, twilio_api, patient, red_flag, 1)
    assert replies[0] == as_sms(domain, "utter_emergency", EN)
    chat = wait_for_message(console, patient, "user", red_flag)
    assert chat["emergency"] is True
    assert (chat["status"], chat["taken_by"]) == ("taken", "admin")
    assert tracker(assistant, patient)["paused"] is True
    texts_nothing_back(assistant, twilio_api, patient, "ok, calling now")

    # handed back: the patient is told so, and the assistant answers again
    answer, sms = staff_says(console, twilio_api, patient, "release")
    assert (answer["chat"]["status"], answer["chat"]["ended_by"]) == ("released", "admin")
    assert sms == ["You're back with the clinic's assistant."]
    assert tracker(assistant, patient)["paused"] is False
    assert console.chat(patient) is None
    assert text(assistant, twilio_api, patient, "what is acupuncture?", 1) == [
        as_sms(domain, "utter_faq/what_is_acupuncture", EN)]

    # every SMS of the conversation came from the clinic's number
    assert {m["from"] for m in sent_to(twilio_api, patient)} == {
        assistant.twilio["TWILIO_NUMBER"]}


def test_a_spanish_sms_patient_reads_the_live_chat_in_spanish(assistant, twilio_api, domain,
                                                             console):
    patient = new_number()
    console.senders.append(patient)
    lines = TEXTS["es"]

    asked = text(assistant, twilio_api, patient, "quiero hablar con una persona", 3)
    assert asked == [as_sms(domain, "utter_privacy_notice", ES),
                     as_sms(domain, "utter_disclaimer", ES),
                     as_sms(domain, "utter_live_waiting", ES, minutes=2)]
    assert asked[2].startswith("Un momento: alguien del personal de la clínica")

    chat = wait_for_message(console, patient, "user", "quiero hablar con una persona")
    assert (chat["status"], chat["channel"], chat["language"]) == ("waiting", "twilio", "es")

    _, sms = staff_says(console, twilio_api, patient, "accept")
    assert sms == [sms_text(lines["joined"].format(name="Admin"))]
    assert sms == ["Admin, del personal de la clínica, se ha unido al chat."]

    _, sms = staff_says(console, twilio_api, patient, "messages",
                        {"text": "Hola, podemos atenderle hoy a las 3 de la tarde."})
    assert sms == ["Admin (personal de la clínica): Hola, podemos atenderle hoy a las 3 de "
                   "la tarde."]

    texts_nothing_back(assistant, twilio_api, patient, "muy bien, gracias, allí estaré")
    wait_for_message(console, patient, "user", "muy bien, gracias, allí estaré")

    _, sms = staff_says(console, twilio_api, patient, "release")
    assert sms == [lines["released"]]
    assert sms == ["Vuelve a hablar con el asistente de la clínica."]
    # the assistant again, still in Spanish
    assert text(assistant, twilio_api, patient, "¿qué es la acupuntura?", 1) == [
        as_sms(domain, "utter_faq/what_is_acupuncture", ES)]

    stored = staff_lines(assistant, patient)
    assert [e["text"] for e in stored] == [
        "Admin, del personal de la clínica, se ha unido al chat.",
        "Admin (personal de la clínica): Hola, podemos atenderle hoy a las 3 de la tarde.",
        "Vuelve a hablar con el asistente de la clínica."]
    assert all(e["metadata"]["staff"] == "admin" and e["metadata"]["live"] is True
               for e in stored)


def test_a_staff_line_twilio_refuses_is_stored_but_not_delivered(assistant, twilio_api,
                                                                 domain, console):
    """What happens today when Twilio refuses a staff line (5xx on every try): the SMS
    channel logs the failure and gives up after its retries, Rasa's API still answers 200, so
    the console says "sent" and shows the line, and the transcript keeps it; the patient got
    nothing. (The console cannot tell: Rasa's output channels report no delivery result.)"""
    patient = new_number()
    console.senders.append(patient)
    text(assistant, twilio_api, patient, "can I talk to a person please", 3)
    wait_for_message(console, patient, "user", "can I talk to a person please")
    staff_says(console, twilio_api, patient, "accept")

    # the patient's SMS reaches staff
    texts_nothing_back(assistant, twilio_api, patient, "hello, is anyone there?")
    wait_for_message(console, patient, "user", "hello, is anyone there?")

    # Twilio answers 503 to the line and to both retries
    before, tried = len(twilio_api.sent_to(patient)), twilio_api.requests
    twilio_api.fail_next(503, 503, 503)
    refused = "Admin (clinic staff): Yes, sorry for the wait."
    reply = console.live(patient, "messages", {"text": "Yes, sorry for the wait."})
    assert reply.status_code == 200, reply.text
    assert reply.json()["status"] == "sent"  # the console cannot know
    assert [m["text"] for m in reply.json()["chat"]["messages"] if m["kind"] == "bot"][-1] \
        == refused
    assert twilio_api.requests == tried + 3  # one try and two retries, all refused
    assert twilio_api.sent_to(patient)[before:] == []
    assert [e["text"] for e in staff_lines(assistant, patient)][-1] == refused
    logs = "".join(log.read_text(errors="replace") for log in assistant.log_dir.glob("*.log"))
    assert "Twilio: could not send a message to conversation" in logs
    assert patient.lstrip("+") not in logs and "sorry for the wait" not in logs

    # Twilio accepts again: the next line arrives, the chat goes on
    _, sms = staff_says(console, twilio_api, patient, "messages",
                        {"text": "We can see you at 3 pm today."})
    assert sms == ["Admin (clinic staff): We can see you at 3 pm today."]
    _, sms = staff_says(console, twilio_api, patient, "close")
    assert sms == ["Admin has ended the chat. Thank you for contacting the clinic."]
    assert console.chat(patient) is None
    assert tracker(assistant, patient)["paused"] is False
