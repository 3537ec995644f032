"""The assistant answers the clinic's questions over REST, and refuses what it cannot answer."""

from __future__ import annotations

import pytest

from actions.clinic import get_clinic
from tests.conftest import render

# One plainly worded question per FAQ topic. The held-out paraphrases in tests/nlu_heldout.yml
# measure accuracy on harder wording; these check that the right answer reaches the patient.
QUESTIONS = {
    "what_is_headache": "what are chronic headaches and how do they affect life",
    "headache_types": "what are the different types of headaches",
    "primary_headache": "what is a primary headache",
    "secondary_headache": "what is a secondary headache",
    "what_is_acupuncture": "what is acupuncture",
    "acupuncture_for_headaches": "how does acupuncture help with migraines",
    "evidence": "is there any research that shows acupuncture works",
    "about_doctor": "who is dr kuzminov",
    "conditions_treated": "what else does dr kuzminov treat besides headaches",
    "how_many_sessions": "how many acupuncture sessions will i need",
    "opening_hours": "what are your opening hours",
    "location": "what is the clinic's address",
    "contact": "what is your phone number",
}


@pytest.mark.parametrize("topic", sorted(QUESTIONS))
def test_faq_question_gets_the_articles_answer(assistant, sender, domain, topic):
    texts = assistant.texts(sender, QUESTIONS[topic])
    assert render(domain, f"utter_faq/{topic}") in texts


def test_answers_quote_the_clinic_configuration(assistant, sender):
    clinic = get_clinic()
    texts = assistant.texts(sender, "what's your phone number?")
    joined = " ".join(texts)
    assert clinic.phone in joined
    assert clinic.hours_text() in joined
    assert "{" not in joined and "None" not in joined


def test_greeting_says_what_the_assistant_can_do(assistant, sender, domain):
    assert assistant.texts(sender, "hello") == [render(domain, "utter_greet")]


def test_it_says_it_is_an_automated_assistant(assistant, sender, domain):
    assert assistant.texts(sender, "are you a bot?") == [render(domain, "utter_bot_challenge")]


@pytest.mark.parametrize(
    "message",
    ["what's the weather like tomorrow", "write me a poem about the sea",
     "who won the football last night"],
)
def test_off_topic_requests_are_refused_honestly(assistant, sender, domain, message):
    assert assistant.texts(sender, message) == [render(domain, "utter_out_of_scope")]


@pytest.mark.parametrize("message", [
    "what time does the post office close on saturday",
    "whats the phone number for the pizza place on main street",
    "give me the address of the nearest petrol station",
    "book me a table for four at the italian place tonight",
    "reserve two seats on the 9am train to boston",
])
def test_other_places_hours_addresses_and_bookings_are_not_clinic_answers(assistant, sender,
                                                                         domain, message):
    """The clinic's hours, address and phone need a question about the clinic; booking words
    about a restaurant or a train do not start the clinic's booking form."""
    assert assistant.texts(sender, message) in (
        [render(domain, "utter_out_of_scope")], [render(domain, "utter_default")])


def test_gibberish_gets_an_honest_refusal_not_a_faq_answer(assistant, sender, domain):
    texts = assistant.texts(sender, "qwpoeiru zxmcnv lkjasd")
    assert texts in ([render(domain, "utter_out_of_scope")], [render(domain, "utter_default")])
