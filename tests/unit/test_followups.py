"""Requests about earlier contact: deleting one's data, cancelling an appointment by reference."""

from __future__ import annotations

from actions.followups import ActionRecordAppointmentChange, ActionRecordForgetMe, find_reference
from actions.settings import get_settings
from actions.storage import get_engine, list_requests, store_request
from staff.conversations import compute_flags


def stored_rows():
    return list_requests(get_engine(get_settings().database_url))


def test_references_are_found_in_any_case():
    assert find_reference("cancel appt pmr-9tx4lm pls") == "PMR-9TX4LM"
    assert find_reference("please cancel PMR-7KQ2ZX.") == "PMR-7KQ2ZX"
    assert find_reference("cancel PMR-7KQ2Z") is None  # too short
    assert find_reference("cancel my visit") is None


async def test_a_request_to_delete_ones_data_is_flagged_and_passed_to_staff(
        settings_env, make_tracker, dispatcher, domain):
    tracker = make_tracker(text="Delete everything you have about me, dana.w@example.com",
                           intent="request_forget_me", sender_id="web-forget")
    events = await ActionRecordForgetMe().run(dispatcher, tracker, domain)
    assert [m["response"] for m in dispatcher.messages] == ["utter_forget_me_recorded"]
    assert {"event": "slot", "name": "flag_privacy", "value": True} in \
        [{k: e[k] for k in ("event", "name", "value")} for e in events]
    [row] = stored_rows()
    assert (row["kind"], row["email"], row["sender_id"]) == \
        ("handoff", "dana.w@example.com", "web-forget")
    assert "deleted" in row["message"] and "web-forget" in row["message"]
    # the console's flag, from the conversation's events
    assert "privacy" in compute_flags([{"event": "slot", "name": "flag_privacy", "value": True}])


async def test_the_same_message_is_stored_once(settings_env, make_tracker, dispatcher, domain):
    tracker = make_tracker(text="please forget me", intent="request_forget_me")
    await ActionRecordForgetMe().run(dispatcher, tracker, domain)
    await ActionRecordForgetMe().run(dispatcher, tracker, domain)  # a retried action
    assert len(stored_rows()) == 1


async def test_cancelling_by_reference_reaches_staff_with_the_original_contact(
        settings_env, make_tracker, dispatcher, domain):
    original = store_request(get_engine(get_settings().database_url), {
        "kind": "appointment", "name": "Maria Lopez", "phone": "+12125550123",
        "channel": "rest", "sender_id": "web-earlier"}, "key-earlier", ["file"])
    text = f"I can't come, please cancel {original.reference.lower()}"
    tracker = make_tracker(text=text, intent="cancel_appointment", sender_id="web-later")
    await ActionRecordAppointmentChange().run(dispatcher, tracker, domain)
    [message] = dispatcher.messages
    assert (message["response"], message["reference"]) == \
        ("utter_cancel_request_recorded", original.reference)
    row = stored_rows()[-1]
    assert (row["kind"], row["name"], row["phone"], row["sender_id"]) == \
        ("handoff", "Maria Lopez", "+12125550123", "web-later")
    assert original.reference in row["message"] and "not found" not in row["message"]


async def test_an_unknown_reference_gets_the_same_answer(settings_env, make_tracker, dispatcher,
                                                         domain):
    tracker = make_tracker(text="cancel PMR-ZZZZZZ", intent="cancel_appointment")
    await ActionRecordAppointmentChange().run(dispatcher, tracker, domain)
    assert [m["response"] for m in dispatcher.messages] == ["utter_cancel_request_recorded"]
    assert "no request with this reference" in stored_rows()[-1]["message"]


async def test_no_reference_asks_for_it(settings_env, make_tracker, dispatcher, domain):
    tracker = make_tracker(text="I need to cancel my appointment", intent="cancel_appointment")
    await ActionRecordAppointmentChange().run(dispatcher, tracker, domain)
    assert [m["response"] for m in dispatcher.messages] == ["utter_ask_appointment_reference"]
    assert stored_rows() == []
