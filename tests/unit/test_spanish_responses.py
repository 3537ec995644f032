"""Every response has a Spanish variation (slot ``language`` = ``es``) that says what the English
default says: the same placeholders, numbers and buttons, and not left in English. Rasa chooses
at random among all conditional variations whose conditions match the slots, so for any slots a
conversation can have, at most one conditional variation of a response may match."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from typing import Any

import pytest
import yaml
from rasa.core.nlg.generator import ResponseVariationFilter

from actions.clinic import get_clinic
from tests.conftest import PROJECT_ROOT, condition_met, render, variation

# A message in another language gets this answer, chosen by ``detected_language``; Spanish is
# spoken now, so it has neither a Spanish variation nor one for detected_language es.
NOT_SUPPORTED = "utter_language_not_supported"
# The crisis answers tell Spanish speakers how to reach the 988 Lifeline in Spanish (call 988 and
# press 2, or text AYUDA to 988): the only figures the Spanish text adds to the English one.
SPANISH_988 = ["988", "2", "988"]
EXTRA_SPANISH_NUMBERS = {"utter_emergency_self_harm": SPANISH_988,
                         "utter_emergency_unspecified": SPANISH_988}

PLACEHOLDER = re.compile(r"\{(\w+)\}")
NUMBER = re.compile(r"\d+(?:[.,]\d+)*")

with (PROJECT_ROOT / "domain.yml").open(encoding="utf-8") as _handle:
    RESPONSES = sorted(yaml.safe_load(_handle)["responses"])
TRANSLATED = [name for name in RESPONSES if name != NOT_SUPPORTED]


def is_spanish(candidate: dict[str, Any]) -> bool:
    return any(c["name"] == "language" and str(c["value"]).casefold() == "es"
               for c in candidate.get("condition") or [])


def spanish_variations(domain: dict[str, Any], response: str) -> list[dict[str, Any]]:
    return [v for v in domain["responses"][response] if is_spanish(v)]


def english_counterpart(domain: dict[str, Any], spanish: dict[str, Any],
                        response: str) -> dict[str, Any]:
    """The variation an English-speaking patient gets in the same situation (the same slots,
    language en): the unconditional default, or e.g. the calendar-mode one."""
    slots = {c["name"]: c["value"] for c in spanish["condition"]}
    return variation(domain, response, {**slots, "language": "en"})


def pairs(domain: dict[str, Any], response: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [(es, english_counterpart(domain, es, response))
            for es in spanish_variations(domain, response)]


def slot_values(domain: dict[str, Any]) -> dict[str, list[Any]]:
    """For each slot a response condition names: the values a conversation can give it (each
    value a condition uses, the categorical values, and unset); at least language en/es,
    booking_mode calendar/request/unset, detected_language unset/es and the codes used."""
    values: dict[str, set[Any]] = {"language": {"en", "es"},
                                   "booking_mode": {"calendar", "request", None},
                                   "detected_language": {None, "es"}}
    for variations in domain["responses"].values():
        for candidate in variations:
            for condition in candidate.get("condition") or []:
                values.setdefault(condition["name"], {None}).add(condition["value"])
    for name, slot in domain["slots"].items():
        if name in values and slot.get("type") == "categorical":
            values[name].update(slot["values"])
    values["language"].discard(None)  # always set: initial_value en
    return {name: sorted(found, key=str) for name, found in values.items()}


def all_slots(domain: dict[str, Any]) -> list[dict[str, Any]]:
    values = slot_values(domain)
    return [dict(zip(values, combination, strict=True))
            for combination in itertools.product(*values.values())]


def channels(domain: dict[str, Any]) -> list[str | None]:
    named = {v["channel"] for vs in domain["responses"].values() for v in vs if v.get("channel")}
    return [None, "rest", "socketio", "twilio", *sorted(named)]


def without_placeholders(text: str) -> str:
    return " ".join(PLACEHOLDER.sub("", text).split())


# ---- one Spanish variation, first, beside one English default ---------------------------------


@pytest.mark.parametrize("response", RESPONSES)
def test_one_english_default_without_conditions(domain, response):
    plain = [v for v in domain["responses"][response] if not v.get("condition")]
    assert len(plain) == 1
    assert plain[0]["text"].strip()


@pytest.mark.parametrize("response", TRANSLATED)
def test_exactly_one_spanish_variation_for_each_situation(domain, response):
    spanish = spanish_variations(domain, response)
    assert spanish, f"{response} has no variation for language es"
    others = Counter(tuple(sorted((c["name"], str(c["value"])) for c in v["condition"]
                                  if c["name"] != "language")) for v in spanish)
    assert all(count == 1 for count in others.values()), others
    if response != "utter_booking_start":
        assert len(spanish) == 1
    assert all(len(v["condition"]) == len({c["name"] for c in v["condition"]}) for v in spanish)


@pytest.mark.parametrize("response", TRANSLATED)
def test_the_spanish_variations_come_first(domain, response):
    variations = domain["responses"][response]
    count = len(spanish_variations(domain, response))
    assert all(is_spanish(v) for v in variations[:count])


def test_booking_start_has_a_spanish_text_for_each_booking_mode(domain):
    conditions = [sorted((c["name"], c["value"]) for c in v.get("condition") or [])
                  for v in domain["responses"]["utter_booking_start"]]
    assert conditions == [
        [("booking_mode", "calendar"), ("language", "es")],
        [("booking_mode", "request"), ("language", "es")],
        [("booking_mode", "calendar"), ("language", "en")],
        [],
    ]


def test_spanish_is_spoken_so_it_is_no_longer_an_unsupported_language(domain):
    variations = domain["responses"][NOT_SUPPORTED]
    assert not spanish_variations(domain, NOT_SUPPORTED)
    assert not any(c["name"] == "language" for v in variations for c in v.get("condition") or [])
    detected = [c["value"] for v in variations for c in v.get("condition") or []
                if c["name"] == "detected_language"]
    assert "es" not in detected
    assert {"fr", "de"} <= set(detected)


# ---- the Spanish says what the English says ----------------------------------------------------


# the Spanish texts take the clinic's hours written in Spanish
SPANISH_PLACEHOLDER = {"clinic_hours": "clinic_hours_es"}


@pytest.mark.parametrize("response", TRANSLATED)
def test_same_placeholders(domain, response):
    for es, en in pairs(domain, response):
        assert set(PLACEHOLDER.findall(es["text"])) == {
            SPANISH_PLACEHOLDER.get(p, p) for p in PLACEHOLDER.findall(en["text"])}


def test_the_hours_are_given_in_spanish(domain):
    """"lun-vie de 9:00 a. m. a 6:00 p. m.", not "Mon-Fri 9:00 am-6:00 pm", in a Spanish reply."""
    clinic = get_clinic()
    text = render(domain, "utter_faq/opening_hours", slots={"language": "es"})
    assert clinic.hours_text("es") in text and clinic.hours_text() not in text
    assert clinic.hours_text("es") != clinic.hours_text()


@pytest.mark.parametrize("response", TRANSLATED)
def test_same_numbers(domain, response):
    extra = Counter(EXTRA_SPANISH_NUMBERS.get(response, []))
    for es, en in pairs(domain, response):
        assert Counter(NUMBER.findall(es["text"])) == Counter(NUMBER.findall(en["text"])) + extra


def test_the_evidence_figures_are_exact(domain):
    [es] = spanish_variations(domain, "utter_faq/evidence")
    for figure in ("22 ", "4,985", "50%", "59%"):
        assert figure in es["text"]


@pytest.mark.parametrize("response", sorted(EXTRA_SPANISH_NUMBERS))
def test_crisis_answers_give_the_988_spanish_line(domain, response):
    [es] = spanish_variations(domain, response)
    assert "{clinic_crisis_line}" in es["text"]
    assert "llame al 988 y marque 2" in es["text"]
    assert "envíe AYUDA por mensaje de texto al 988" in es["text"]


@pytest.mark.parametrize("response", TRANSLATED)
def test_same_buttons_with_translated_titles(domain, response):
    for es, en in pairs(domain, response):
        es_buttons, en_buttons = es.get("buttons") or [], en.get("buttons") or []
        # an intent payload ("/affirm") is the same; a payload of words is the patient's answer
        # sent as typed, so in Spanish it is the Spanish title (English words would switch the
        # conversation to English)
        assert [b["payload"] if b["payload"].startswith("/") else b["title"]
                for b in es_buttons] == [b["payload"] for b in es_buttons]
        assert [b["payload"] for b in es_buttons if b["payload"].startswith("/")] == \
            [b["payload"] for b in en_buttons if b["payload"].startswith("/")]
        assert len(es_buttons) == len(en_buttons)
        for es_button, en_button in zip(es_buttons, en_buttons, strict=True):
            assert es_button["title"].strip()
            assert es_button["title"] != en_button["title"]


@pytest.mark.parametrize("response", TRANSLATED)
def test_the_spanish_text_is_translated(domain, response):
    for es, en in pairs(domain, response):
        assert without_placeholders(es["text"]).strip(" .:()")
        assert es["text"] != en["text"]
        assert without_placeholders(es["text"]) != without_placeholders(en["text"])
        assert set(es) <= {"condition", "text", "buttons", "channel"}
        assert es.get("channel") == en.get("channel")


# ---- which variation Rasa sends ---------------------------------------------------------------


@pytest.mark.parametrize("response", RESPONSES)
def test_at_most_one_conditional_variation_matches_any_slots(domain, response):
    variations = domain["responses"][response]
    for slots in all_slots(domain):
        for channel in channels(domain):
            matching = [v for v in variations if v.get("condition") and v.get("channel") in (
                None, channel) and all(condition_met(c, slots) for c in v["condition"])]
            assert len(matching) <= 1, (slots, channel, matching)


@pytest.mark.parametrize("response", RESPONSES)
def test_rasa_sends_spanish_to_spanish_speakers_and_english_otherwise(domain, response):
    """Rasa's own choice (every variation it may pick at random), on every channel."""
    choose = ResponseVariationFilter(domain["responses"]).responses_for_utter_action
    for slots in all_slots(domain):
        if response == "utter_booking_start" and slots["booking_mode"] is None:
            continue  # set at every session start (action_session_start)
        for channel in channels(domain):
            candidates = choose(response, channel, slots)
            assert len(candidates) == 1, (slots, channel)
            [chosen] = candidates
            if response == NOT_SUPPORTED:
                assert not is_spanish(chosen)
            else:
                assert is_spanish(chosen) == (slots["language"] == "es"), (slots, channel)


@pytest.mark.parametrize("response", TRANSLATED)
def test_spanish_renders_with_the_clinic_details(domain, response):
    names = {n for v in domain["responses"][response] for n in PLACEHOLDER.findall(v["text"])}
    values = {name: f"<{name}>" for name in names if not name.startswith("clinic_")}
    english = render(domain, response, **values)
    for mode in ("request", "calendar"):
        slots = {"language": "es", "booking_mode": mode}
        assert is_spanish(variation(domain, response, slots))
        text = render(domain, response, slots, **values)
        assert "{" not in text and text != english


def test_without_slots_render_gives_the_english_default(domain):
    for response in RESPONSES:
        assert not variation(domain, response).get("condition")
    assert variation(domain, "utter_booking_start", {"booking_mode": "calendar"})[
        "condition"][0] == {"type": "slot", "name": "language", "value": "en"}
