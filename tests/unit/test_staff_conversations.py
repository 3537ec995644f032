"""Conversations from Rasa events: flags (Python and SQL agree), filters, search, transcripts."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import Engine

from staff.conversations import (
    ConversationFilter,
    ConversationStore,
    build_transcript,
    compute_flags,
    transcript_text,
)
from staff.db import events_table, tracker_engine, tracker_metadata

TZ = ZoneInfo("America/New_York")
T0 = datetime(2026, 3, 2, 15, 0, tzinfo=timezone.utc).timestamp()  # 10:00 in New York


class Conversation:
    """Builds a conversation's events the way Rasa serialises them (``Event.as_dict()``)."""

    def __init__(self, sender: str, start: float = T0, channel: str = "rest") -> None:
        self.sender = sender
        self.channel = channel
        self.t = start
        self.events: list[dict[str, Any]] = []
        self.action("action_session_start").add({"event": "session_started"})
        self.slot("clinic_name", "Physical Medicine & Rehabilitation").action("action_listen")

    def add(self, event: dict[str, Any]) -> Conversation:
        self.t += 2
        self.events.append({"timestamp": self.t, "metadata": {}, **event})
        return self

    def user(self, text: str, intent: str, confidence: float = 0.93,
             retrieval: str | None = None) -> Conversation:
        parse_data: dict[str, Any] = {
            "text": text, "intent": {"name": intent, "confidence": confidence},
            "entities": [], "intent_ranking": [{"name": intent, "confidence": confidence}],
        }
        if retrieval:
            parse_data["response_selector"] = {
                "all_retrieval_intents": [retrieval.split("/")[0]],
                intent: {"response": {"intent_response_key": retrieval, "confidence": 0.88,
                                      "utter_action": f"utter_{retrieval}"}, "ranking": []},
            }
        return self.add({"event": "user", "text": text, "parse_data": parse_data,
                         "input_channel": self.channel, "message_id": f"m{len(self.events)}"})

    def bot(self, text: str, buttons: list[dict[str, str]] | None = None) -> Conversation:
        return self.add({"event": "bot", "text": text,
                         "data": {"buttons": buttons} if buttons else {}})

    def action(self, name: str) -> Conversation:
        return self.add({"event": "action", "name": name, "policy": "RulePolicy",
                         "confidence": 1.0})

    def slot(self, name: str, value: Any) -> Conversation:
        return self.add({"event": "slot", "name": name, "value": value})

    def form(self, name: str | None) -> Conversation:
        return self.add({"event": "active_loop", "name": name})

    # whole exchanges
    def faq(self) -> Conversation:
        return (self.user("Does acupuncture help migraines?", "faq", retrieval="faq/evidence")
                .action("utter_faq").bot("Studies found fewer migraine days.")
                .action("action_listen"))

    def emergency(self) -> Conversation:
        return (self.user("worst headache of my life, it came on suddenly", "emergency", 1.0)
                .action("action_emergency").bot("Call 911 now.")
                .slot("flag_emergency", True).slot("red_flag", "thunderclap")
                .action("action_listen"))

    def not_understood(self) -> Conversation:
        return (self.user("blorp flibber", "nlu_fallback", 0.3).action("action_default_fallback")
                .bot("Sorry, could you rephrase?").action("action_listen"))

    def handoff(self) -> Conversation:
        return (self.user("I want to talk to a person", "request_human")
                .action("action_offer_handoff").bot("Call us at ...")
                .slot("flag_handoff", True).action("action_listen"))

    def booking(self, submitted: bool) -> Conversation:
        self.user("I'd like to book an appointment", "book_appointment").action("booking_form")
        self.form("booking_form").slot("requested_slot", "patient_name")
        self.bot("What is your full name?").action("action_listen")
        self.user("Maria Lopez", "inform").action("booking_form").slot("patient_name",
                                                                       "Maria Lopez")
        if submitted:
            self.user("yes", "affirm").action("booking_form").slot("booking_confirmed", True)
            self.form(None).action("action_submit_booking").bot("Your reference is PMR-7KQ4TZ.")
            self.slot("patient_name", None).slot("booking_reference", "PMR-7KQ4TZ")
        else:
            self.user("never mind", "cancel_form").action("action_cancel_booking")
            self.form(None).bot("OK, cancelled.")
        return self.action("action_listen")

    def declined_readback(self) -> Conversation:
        """The patient says "no" to the read-back: action_submit_booking runs, stores nothing."""
        self.user("book an appointment", "book_appointment").form("booking_form")
        self.user("no", "deny").action("booking_form").slot("booking_confirmed", False)
        return self.action("action_submit_booking").slot("booking_reference", None)


def store(engine: Engine, *conversations: Conversation) -> None:
    """Insert events exactly as Rasa's SQLTrackerStore.save does."""
    tracker_metadata.create_all(engine)
    with engine.begin() as conn:
        for conversation in conversations:
            for event in conversation.events:
                conn.execute(events_table.insert().values(
                    sender_id=conversation.sender,
                    type_name=event["event"],
                    timestamp=event.get("timestamp"),
                    intent_name=(event.get("parse_data") or {}).get("intent", {}).get("name"),
                    action_name=event.get("name"),
                    data=json.dumps(event),
                ))


@pytest.fixture()
def tracker(tmp_path) -> Engine:
    return tracker_engine(f"sqlite:///{tmp_path / 'conversations.db'}")


def examples() -> list[Conversation]:
    day = 86_400
    return [
        Conversation("faq").faq(),
        Conversation("emergency", T0 + 60).faq().emergency(),
        Conversation("fallback", T0 + 120, channel="socketio").not_understood(),
        Conversation("handoff", T0 + 180, channel="twilio").handoff(),
        Conversation("booked", T0 + day).booking(submitted=True),
        Conversation("abandoned", T0 + 2 * day).booking(submitted=False),
        Conversation("declined", T0 + 3 * day).declined_readback(),
    ]


EXPECTED_FLAGS = {
    "faq": set(),
    "emergency": {"emergency"},
    "fallback": {"fallback"},
    "handoff": {"handoff"},
    "booked": {"appointment"},
    "abandoned": {"abandoned"},
    "declined": {"abandoned"},
}


@pytest.mark.parametrize("conversation", examples(), ids=lambda c: c.sender)
def test_flags_from_events(conversation):
    assert compute_flags(conversation.events) == EXPECTED_FLAGS[conversation.sender]


def test_request_row_counts_as_appointment_requested():
    events = Conversation("x").faq().events
    assert compute_flags(events, has_request=True) == {"appointment"}


def test_sql_flags_agree_with_python(tracker):
    conversations = examples()
    store(tracker, *conversations)
    rows, has_more = ConversationStore(tracker).list(ConversationFilter(), TZ)
    assert not has_more
    assert {row.sender_id: row.flags for row in rows} == EXPECTED_FLAGS
    for conversation in conversations:
        assert compute_flags(conversation.events) == EXPECTED_FLAGS[conversation.sender]


def test_list_is_newest_first_with_times_turns_and_channel(tracker):
    store(tracker, *examples())
    rows, _ = ConversationStore(tracker).list(ConversationFilter(), TZ)
    assert [r.sender_id for r in rows] == [
        "declined", "abandoned", "booked", "handoff", "fallback", "emergency", "faq"]
    emergency = next(r for r in rows if r.sender_id == "emergency")
    assert emergency.user_turns == 2 and emergency.channel == "rest"
    assert emergency.started == datetime.fromtimestamp(T0 + 62, tz=timezone.utc)
    assert emergency.last_message is not None and emergency.last_message > emergency.started
    assert next(r for r in rows if r.sender_id == "handoff").channel == "twilio"


@pytest.mark.parametrize("flag", ["emergency", "fallback", "handoff", "appointment", "abandoned"])
def test_filter_by_flag(tracker, flag):
    store(tracker, *examples())
    rows, _ = ConversationStore(tracker).list(ConversationFilter(flag=flag), TZ)
    assert {r.sender_id for r in rows} == {s for s, f in EXPECTED_FLAGS.items() if flag in f}


def test_request_row_from_the_other_database_flags_the_conversation(tracker):
    store(tracker, *examples())
    conversations = ConversationStore(tracker)
    rows, _ = conversations.list(ConversationFilter(flag="appointment"), TZ,
                                 request_senders=["abandoned"])
    assert {r.sender_id for r in rows} == {"booked", "abandoned"}
    rows, _ = conversations.list(ConversationFilter(flag="abandoned"), TZ,
                                 request_senders=["abandoned"])
    assert {r.sender_id for r in rows} == {"declined"}


def test_filter_by_language_and_show_it(tracker):
    spanish = (Conversation("spanish", T0 + 9_000).slot("language", "en")
               .user("hola, ¿cuánto cuesta?", "faq", retrieval="faq/cost")
               .slot("language", "es").action("utter_faq").bot("La primera consulta...")
               .action("action_listen"))
    store(tracker, *examples(), spanish)
    conversations = ConversationStore(tracker)
    rows, _ = conversations.list(ConversationFilter(language="es"), TZ)
    assert [(r.sender_id, r.language) for r in rows] == [("spanish", "es")]
    assert rows[0].as_json()["language"] == "es"
    rows, _ = conversations.list(ConversationFilter(language="en"), TZ)
    assert "spanish" not in {r.sender_id for r in rows} and len(rows) == len(examples())
    assert ConversationFilter.parse({"language": "es"}).query_args() == {"language": "es"}
    with pytest.raises(ValueError, match="language must be one of en, es"):
        ConversationFilter.parse({"language": "fr"})


def test_filter_by_channel_and_dates(tracker):
    store(tracker, *examples())
    conversations = ConversationStore(tracker)
    assert conversations.channels() == ["rest", "socketio", "twilio"]
    rows, _ = conversations.list(ConversationFilter(channel="socketio"), TZ)
    assert [r.sender_id for r in rows] == ["fallback"]
    first_day = date(2026, 3, 2)  # clinic time zone
    rows, _ = conversations.list(ConversationFilter(since=first_day, until=first_day), TZ)
    assert {r.sender_id for r in rows} == {"faq", "emergency", "fallback", "handoff"}
    rows, _ = conversations.list(ConversationFilter(since=date(2026, 3, 4)), TZ)
    assert {r.sender_id for r in rows} == {"abandoned", "declined"}


def test_full_text_search_in_user_and_bot_messages(tracker):
    store(tracker, *examples())
    conversations = ConversationStore(tracker)

    def found(text):
        return {r.sender_id for r in conversations.list(ConversationFilter(q=text), TZ)[0]}

    assert found("WORST HEADACHE") == {"emergency"}  # user text, any case
    assert found("could you rephrase") == {"fallback"}  # bot text
    assert found("PMR-7KQ4TZ") == {"booked"}
    assert found("%") == set() and found("_") == set()  # LIKE wildcards are literal
    assert found("clinic_name") == set()  # slot names and JSON keys are not message text
    assert found("Physical Medicine") == set()  # slot values are not message text


def test_pages(tracker):
    store(tracker, *[Conversation(f"c{i:02d}", T0 + i * 100).faq() for i in range(7)])
    conversations = ConversationStore(tracker)
    first, more = conversations.list(ConversationFilter(page=1), TZ, page_size=3)
    third, no_more = conversations.list(ConversationFilter(page=3), TZ, page_size=3)
    assert [r.sender_id for r in first] == ["c06", "c05", "c04"] and more
    assert [r.sender_id for r in third] == ["c00"] and not no_more


def test_no_events_table_yet_means_no_conversations(tracker):
    conversations = ConversationStore(tracker)
    assert conversations.list(ConversationFilter(), TZ) == ([], False)
    assert conversations.events("x") == [] and conversations.channels() == []


def test_filter_parsing():
    parsed = ConversationFilter.parse({"flag": "emergency", "q": "  worst   headache ",
                                       "since": "2026-03-01", "page": "2", "channel": ""})
    assert parsed == ConversationFilter(flag="emergency", q="worst headache",
                                        since=date(2026, 3, 1), page=2)
    for bad in ({"flag": "nope"}, {"since": "yesterday"}, {"page": "x"},
                {"since": "2026-03-02", "until": "2026-03-01"}, {"q": "x" * 201}):
        with pytest.raises(ValueError):
            ConversationFilter.parse(bad)
    assert parsed.for_audit()["searched"] is True
    assert "headache" not in json.dumps(parsed.for_audit())  # search terms are not audited


def test_transcript_items():
    conversation = Conversation("t").faq().booking(submitted=True)
    conversation.bot("Anything else?", buttons=[{"title": "Book an appointment",
                                                 "payload": "/book_appointment"}])
    items = build_transcript(conversation.events)
    kinds = [item.kind for item in items]
    assert kinds[0] == "session" and "form" in kinds
    question = items[1]
    assert (question.kind, question.text, question.intent) == (
        "user", "Does acupuncture help migraines?", "faq")
    assert question.shown_intent == "faq/evidence" and question.shown_confidence == 0.88
    assert question.correctable and question.event_id is None  # ids come from the database
    actions = [item.name for item in items if item.kind == "action"]
    assert actions == ["booking_form", "booking_form", "booking_form", "action_submit_booking"]
    slots = {item.name: item.value for item in items if item.kind == "slot"}
    assert slots == {"patient_name": "Maria Lopez", "booking_confirmed": True,
                     "booking_reference": "PMR-7KQ4TZ"}  # no clinic_*, no requested_slot
    assert items[-1].buttons == ["Book an appointment"]


def test_transcript_as_plain_text():
    conversation = Conversation("t").faq().emergency()
    text = transcript_text("t", build_transcript(conversation.events), TZ, ["PMR-7KQ4TZ"],
                           "alice", datetime(2026, 3, 2, 16, 0, tzinfo=timezone.utc))
    assert text.startswith("Conversation t\nTimes in America/New_York. Exported 2026-03-02 "
                           "11:00:00 by alice.\nRequests: PMR-7KQ4TZ\n")
    assert "10:00:10  Patient: Does acupuncture help migraines?   [intent faq/evidence 0.88]" \
        in text
    assert "Assistant: Studies found fewer migraine days." in text
    assert "(action action_emergency)" in text and "(slot flag_emergency = yes)" in text


def test_the_widget_opening_the_chat_is_not_a_patient_message(tracker):
    conversation = Conversation("widget", channel="socketio")
    conversation.user("/session_start", "session_start", 1.0).action("action_session_start")
    conversation.add({"event": "session_started"}).action("action_listen").faq()
    items = build_transcript(conversation.events)
    assert [item.kind for item in items][:3] == ["session", "opened", "user"]
    store(tracker, conversation)
    [row], _ = ConversationStore(tracker).list(ConversationFilter(), TZ)
    assert row.user_turns == 1 and row.channel == "socketio"


def test_an_intent_triggered_through_rasas_api_is_not_shown_as_the_patients_message():
    """The delivery worker hands back a live chat no one accepted with Rasa's trigger_intent;
    Rasa stores it as a user event "EXTERNAL: request_human" (its own create_external)."""
    from rasa.shared.core.constants import EXTERNAL_MESSAGE_PREFIX as RASAS
    from rasa.shared.core.events import UserUttered

    from staff.conversations import EXTERNAL_MESSAGE_PREFIX
    assert EXTERNAL_MESSAGE_PREFIX == RASAS

    conversation = Conversation("live").faq()
    trigger = UserUttered.create_external(
        "request_human", [{"entity": "live_chat", "value": "unavailable"}], "rest").as_dict()
    conversation.add(trigger)
    conversation.add(UserUttered.create_external("some_other_intent").as_dict())
    items = build_transcript(conversation.events)
    handed_back, other = items[-2], items[-1]
    assert (handed_back.kind, handed_back.name) == ("external", "request_human")
    assert handed_back.text.startswith("No one from the staff joined in time")
    assert other.text == "Triggered by the system (not typed by the patient): some_other_intent"
    assert not any(i.kind == "user" and "EXTERNAL" in i.text for i in items)
    assert handed_back.as_json()["text"] == handed_back.text
    text = transcript_text("live", items, TZ, [], "alice",
                           datetime(2026, 3, 2, 16, 0, tzinfo=timezone.utc))
    assert "Patient: EXTERNAL" not in text and "(No one from the staff joined in time" in text
