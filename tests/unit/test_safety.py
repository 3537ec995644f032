"""Emergency action: advice first, self-harm gets the crisis line, forms pause, staff flag."""

from __future__ import annotations

import pytest

from actions.handoff import ActionOfferHandoff
from actions.safety import ActionEmergency


@pytest.fixture(autouse=True)
def clinic_database(settings_env, monkeypatch):
    """A temporary clinic database: the actions look for staff signed in (actions/live.py)."""
    monkeypatch.setenv("RASA_API_TOKEN", "unit-test-token-0123456789")
    from actions.settings import get_settings

    get_settings.cache_clear()


def slots(events):
    return {e["name"]: e["value"] for e in events if e["event"] == "slot"}


def red_flag(category):
    return [{"entity": "red_flag", "value": category, "start": 0, "end": 4}]


async def test_medical_red_flag(make_tracker, dispatcher, domain):
    tracker = make_tracker(intent="emergency", entities=red_flag("stroke"))
    events = await ActionEmergency().run(dispatcher, tracker, domain)
    assert [m["response"] for m in dispatcher.messages] == ["utter_emergency"]
    assert slots(events) == {"flag_emergency": True, "red_flag": "stroke"}


async def test_self_harm_gets_the_crisis_line(make_tracker, dispatcher, domain):
    tracker = make_tracker(intent="emergency", entities=red_flag("self_harm"))
    await ActionEmergency().run(dispatcher, tracker, domain)
    assert [m["response"] for m in dispatcher.messages] == ["utter_emergency_self_harm"]
    assert "{clinic_crisis_line}" in domain["responses"]["utter_emergency_self_harm"][0]["text"]


async def test_poisoning_gets_poison_help(make_tracker, dispatcher, domain):
    tracker = make_tracker(intent="emergency", entities=red_flag("poisoning"))
    events = await ActionEmergency().run(dispatcher, tracker, domain)
    assert [m["response"] for m in dispatcher.messages] == ["utter_emergency_poisoning"]
    assert "{clinic_poison_help}" in domain["responses"]["utter_emergency_poisoning"][0]["text"]
    assert slots(events)["red_flag"] == "poisoning"


async def test_an_overdose_on_purpose_gets_the_crisis_line_and_poison_help(make_tracker,
                                                                          dispatcher, domain):
    entities = red_flag("self_harm") + red_flag("poisoning") + red_flag("breathing")
    tracker = make_tracker(intent="emergency", entities=entities)
    await ActionEmergency().run(dispatcher, tracker, domain)
    assert [m["response"] for m in dispatcher.messages] == [
        "utter_emergency_self_harm", "utter_emergency_poisoning", "utter_emergency"]


async def test_classifier_only_emergency_gets_both_kinds_of_help(make_tracker, dispatcher, domain):
    events = await ActionEmergency().run(dispatcher, make_tracker(intent="emergency"), domain)
    assert [m["response"] for m in dispatcher.messages] == ["utter_emergency_unspecified"]
    assert slots(events)["red_flag"] == "unspecified"


async def test_an_active_form_is_paused_after_the_advice(make_tracker, dispatcher, domain):
    tracker = make_tracker(intent="emergency", entities=red_flag("vision"),
                           active_loop="booking_form", slots={"patient_name": "Maria Lopez"})
    events = await ActionEmergency().run(dispatcher, tracker, domain)
    assert [m["response"] for m in dispatcher.messages] == ["utter_emergency",
                                                            "utter_form_paused"]
    assert {"event": "active_loop", "name": None, "timestamp": None} in events
    assert "patient_name" not in slots(events)  # kept for when the patient comes back


async def test_asking_for_a_person_flags_the_conversation(make_tracker, dispatcher, domain):
    events = await ActionOfferHandoff().run(dispatcher, make_tracker(intent="request_human"),
                                            domain)
    assert [m["response"] for m in dispatcher.messages] == ["utter_handoff_offer"]
    assert slots(events) == {"flag_handoff": True}
