"""The booking form's own reading of Spanish answers: names, new or returning, questions."""

from __future__ import annotations

import pytest

from actions.clinic import get_clinic
from actions.forms import (
    _QUESTION_RE,
    _THIS_NUMBER_RE,
    clean_name,
    corrects_name,
    patient_status_from,
    stated_name,
    valid_name,
)


@pytest.mark.parametrize(("text", "name"), [
    ("Me llamo María López", "María López"),
    ("mi nombre es josé luis ramírez", "José Luis Ramírez"),
    ("Hola, soy Ana Ruiz y mi número es 212 555 0123", "Ana Ruiz"),
    ("Soy Carmen de la Cruz", "Carmen de la Cruz"),
    ("me llamo Pedro Gómez, quiero una cita", "Pedro Gómez"),
])
def test_a_name_said_in_spanish_is_read(text, name):
    assert stated_name(text) == name
    assert valid_name(name, get_clinic())


@pytest.mark.parametrize("text", ["Paciente Nuevo", "Soy Paciente", "Nueva Paciente"])
def test_words_about_the_patient_are_not_a_name(text):
    assert not valid_name(clean_name(text), get_clinic())


def test_a_spanish_name_with_articles_is_kept_whole():
    assert stated_name("me llamo María de los Ángeles Ruiz") == "María de los Ángeles Ruiz"


def test_a_spanish_prefix_is_removed_from_a_bare_name():
    assert clean_name("Me llamo Lucía Fernández") == "Lucía Fernández"
    assert clean_name("sí, soy Diego Torres") == "Diego Torres"
    assert corrects_name("perdón, me llamo en realidad Diego Torres")


@pytest.mark.parametrize(("text", "intent", "status"), [
    ("soy paciente nuevo", "inform", "new"),
    ("es mi primera vez", "inform", "new"),
    ("nunca he ido", "inform", "new"),
    ("no he venido antes", "inform", "new"),
    ("ya he venido antes", "inform", "returning"),
    ("ya soy paciente del doctor", "inform", "returning"),
    ("sí", "affirm", "returning"),
    ("no", "deny", "new"),
])
def test_new_or_returning_in_spanish(text, intent, status):
    assert patient_status_from(text, intent) == status


@pytest.mark.parametrize(("text", "question"), [
    ("¿cuánto cuesta la consulta?", True), ("cuánto cuesta", True), ("¿Dónde están?", True),
    ("el martes por la tarde", False), ("María López", False), ("que sea temprano", False),
])
def test_spanish_questions_are_told_from_answers(text, question):
    assert bool(_QUESTION_RE.search(text)) is question


@pytest.mark.parametrize("text", ["este número", "el mismo", "sí, úselo", "desde el que escribo"])
def test_use_the_number_i_text_from_in_spanish(text):
    assert _THIS_NUMBER_RE.search(text)
