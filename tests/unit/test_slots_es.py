"""Calendar mode in Spanish: slots and wishes described in Spanish, loose Spanish wishes read, and
which offered slot a Spanish reply means. Fixed clock, clinic in New York."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import pytest

from actions import appointments
from actions.slots import ASAP, Slot, Wish, free_slots, matching, wish_from_text
from actions.when import Preferred, Problem, parse_preferred
from tests.unit.test_slots import NEW_YORK, NOW, busy, local, make_clinic, starts

UTC = timezone.utc
TUESDAY = date(2026, 12, 1)


@pytest.fixture(scope="module")
def clinic():
    return make_clinic()


# --- Slot.describe and slot_title ---------------------------------------------------------------


def test_a_slot_reads_in_spanish_in_the_clinics_time_zone():
    slot = Slot(datetime(2026, 12, 8, 20, tzinfo=UTC), datetime(2026, 12, 8, 20, 30, tzinfo=UTC))
    assert slot.describe(NEW_YORK, language="es") == "martes 8 de diciembre, 3:00 p. m."
    assert slot.describe(NEW_YORK) == "Tuesday 8 December, 3:00 pm"  # English unchanged
    morning = Slot(local(date(2026, 11, 28), 9, 30), local(date(2026, 11, 28), 10))
    assert morning.describe(NEW_YORK, language="es") == "sábado 28 de noviembre, 9:30 a. m."
    noon = Slot(local(date(2027, 1, 6), 12), local(date(2027, 1, 6), 12, 30))
    assert noon.describe(NEW_YORK, language="es-US") == "miércoles 6 de enero, 12:00 p. m."


def test_nine_oclock_reads_nine_in_spanish_on_both_sides_of_a_daylight_saving_change():
    # EST (UTC-5) before Sunday 14 March 2027, EDT (UTC-4) after.
    before = Slot(datetime(2027, 3, 12, 14, tzinfo=UTC), datetime(2027, 3, 12, 14, 30, tzinfo=UTC))
    after = Slot(datetime(2027, 3, 15, 13, tzinfo=UTC), datetime(2027, 3, 15, 13, 30, tzinfo=UTC))
    assert before.describe(NEW_YORK, language="es") == "viernes 12 de marzo, 9:00 a. m."
    assert after.describe(NEW_YORK, language="es") == "lunes 15 de marzo, 9:00 a. m."


def test_a_spanish_exact_time_after_the_change_matches_that_wall_time(clinic):
    now = datetime(2027, 3, 10, 10, tzinfo=NEW_YORK)
    preferred = parse_preferred("el lunes a las 9", clinic, now, language="es").value
    assert preferred == Preferred(date(2027, 3, 15), time(9), time(9), exact=True)
    found = matching(free_slots(clinic, [], "returning", now), preferred, NEW_YORK)
    assert found[0].start == datetime(2027, 3, 15, 13, tzinfo=UTC)  # 9:00 EDT
    assert found[0].describe(NEW_YORK, language="es") == "lunes 15 de marzo, 9:00 a. m."


def test_next_tuesday_afternoon_in_spanish_matches_that_afternoons_slots(clinic):
    preferred = parse_preferred("el martes que viene por la tarde", clinic, NOW,
                                language="es").value
    slots = free_slots(clinic, [busy(TUESDAY, (13, 0), (14, 0))], "returning", NOW)
    found = matching(slots, preferred, NEW_YORK)
    assert starts(found) == ["12:00", "12:30", "14:00", "14:30", "15:00", "15:30", "16:00", "16:30"]


def test_slot_titles_are_in_the_patients_language(clinic):
    slot = Slot(datetime(2026, 12, 8, 18, tzinfo=UTC), datetime(2026, 12, 8, 19, tzinfo=UTC))
    assert appointments.slot_title(slot, clinic, language="es") == (
        "martes 8 de diciembre, 1:00 p. m."
    )
    assert appointments.slot_title(slot, clinic) == "Tuesday 8 December, 1:00 pm"


# --- loose wishes in Spanish ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "wish"),
    [
        ("lo antes posible", ASAP),
        ("Lo antes posible, por favor", ASAP),
        ("cuanto antes", ASAP),
        ("lo más pronto posible", ASAP),
        ("la primera cita disponible", ASAP),
        ("el primer hueco libre", ASAP),
        ("cuando sea", ASAP),
        ("cuando usted pueda", ASAP),
        ("en cuanto haya un hueco", ASAP),
        ("me da igual", ASAP),
        ("no tengo preferencia", ASAP),
        ("no me importa", ASAP),
        ("a cualquier hora", ASAP),
        ("cualquier día por la mañana", Wish("morning")),
        ("cualquier dia por la manana", Wish("morning")),
        ("cualquier mañana", Wish("morning")),
        ("por las mañanas", Wish("morning")),
        ("por las tardes", Wish("afternoon")),
        ("en la tarde", Wish("afternoon")),
        ("a mediodía", Wish("lunchtime")),
        ("después del trabajo", Wish("evening")),
        ("por la noche", Wish("evening")),
        ("esta semana", Wish(None, date(2026, 11, 25), date(2026, 11, 29))),
        ("cualquier mañana de esta semana",
         Wish("morning", date(2026, 11, 25), date(2026, 11, 29))),
        ("la semana que viene", Wish(None, date(2026, 11, 30), date(2026, 12, 6))),
        ("la próxima semana", Wish(None, date(2026, 11, 30), date(2026, 12, 6))),
        ("cualquier tarde de la semana que viene",
         Wish("afternoon", date(2026, 11, 30), date(2026, 12, 6))),
        ("lo antes posible la semana que viene", Wish(None, date(2026, 11, 30), date(2026, 12, 6))),
        ("Buenas tardes, lo antes posible", ASAP),  # a greeting, not the afternoon
    ],
)
def test_loose_spanish_wishes_are_read(clinic, text, wish):
    assert wish_from_text(text, clinic, NOW, language="es") == wish


@pytest.mark.parametrize(
    "text",
    ["lo antes posible", "cualquier día por la mañana", "esta semana", "la semana que viene",
     "cuando sea", "me da igual"],
)
def test_the_spanish_wishes_are_what_parse_preferred_refuses(clinic, text):
    assert parse_preferred(text, clinic, NOW, language="es").problem in {
        Problem.VAGUE, Problem.NO_DATE}


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hola",
        "el martes que viene por la tarde",  # a named day: parse_preferred's job
        "mañana",  # tomorrow
        "mañana por la mañana",
        "pasado mañana",
        "esta tarde",  # today
        "el 14",
        "cualquier mañana de diciembre",
        "la semana que viene no",
        "no por las mañanas",
        "cualquier día menos el lunes",
        "el fin de semana",
    ],
)
def test_named_days_and_negations_are_not_spanish_wishes(clinic, text):
    assert wish_from_text(text, clinic, NOW, language="es") is None


def test_spanish_wishes_are_not_read_as_english(clinic):
    assert wish_from_text("lo antes posible", clinic, NOW) is None
    assert wish_from_text("asap", clinic, NOW) == ASAP  # English unchanged


def test_wishes_describe_themselves_in_spanish():
    assert ASAP.describe(language="es") == "lo antes posible"
    assert Wish("morning").describe(language="es") == "cualquier día por la mañana"
    assert Wish("lunchtime").describe(language="es") == "cualquier día a mediodía"
    week = Wish("afternoon", date(2026, 11, 30), date(2026, 12, 6))
    assert week.describe(language="es") == (
        "cualquier día por la tarde del lunes 30 de noviembre al domingo 6 de diciembre"
    )
    assert Wish(None, date(2026, 11, 30), date(2026, 12, 6)).describe(language="es") == (
        "cualquier día del lunes 30 de noviembre al domingo 6 de diciembre"
    )
    assert Wish("evening", first_day=date(2026, 11, 30)).describe(language="es") == (
        "cualquier día por la noche a partir del lunes 30 de noviembre"
    )
    assert Wish(None, last_day=date(2026, 12, 6)).describe(language="es") == (
        "cualquier día hasta el domingo 6 de diciembre"
    )
    assert week.describe() == "any afternoon from Monday 30 November to Sunday 6 December"


# --- choice_from in Spanish -----------------------------------------------------------------------

START = datetime(2026, 12, 8, 20, 0, tzinfo=UTC)  # 3:00 pm in New York
OFFERED = [Slot(START + timedelta(minutes=30 * i), START + timedelta(minutes=30 * i + 60))
           .as_dict() for i in range(3)]  # 3:00, 3:30, 4:00 pm on Tuesday 8 December
# Monday 14 December: 9:00 am, 2:30 pm, 5:00 pm... (on both sides of noon)
MIXED = [Slot(local(date(2026, 12, 14), h, m), local(date(2026, 12, 14), h, m) +
              timedelta(minutes=30)).as_dict() for h, m in ((9, 0), (14, 30), (16, 0))]


@pytest.mark.parametrize(
    ("reply", "index"),
    [
        ("martes 8 de diciembre, 3:30 p. m.", 1),  # the button title
        ("Martes 8 de diciembre, 3:30 p. m.", 1),
        ("martes 8 de diciembre, 3:30 p.m.", 1),
        ("Tuesday 8 December, 4:00 pm", 2),  # an English button from before
        ("2", 1),
        ("la 3", 2),
        ("opción 2", 1),
        ("el número 1", 0),
        ("el segundo", 1),
        ("la segunda", 1),
        ("la segunda, por favor", 1),
        ("la primera opción", 0),
        ("la primera opcion", 0),
        ("el primero", 0),
        ("el tercero", 2),
        ("la 2ª", 1),
        ("el 1º", 0),
        ("la última", 2),
        ("a las 3", 0),
        ("las 3:30", 1),
        ("la de las 4", 2),
        ("a las 4 de la tarde", 2),
        ("15:30", 1),
        ("a las tres y media", 1),
        ("3 p. m.", 0),
        # Nothing offered fits these.
        ("a las 4 de la mañana", None),
        ("a las 3 y cuarto", None),  # "cuarto" is a quarter past here, not the fourth
        ("la cuarta", None),  # only three offered
        ("mañana", None),
        ("9", None),
        ("otras horas", None),
    ],
)
def test_a_spanish_reply_names_an_offered_slot(clinic, reply, index):
    chosen = appointments.choice_from(reply, OFFERED, clinic, language="es")
    assert (None if chosen is None else OFFERED.index(chosen.as_dict())) == index


@pytest.mark.parametrize(
    ("reply", "index"),
    [("las 2:30", 1), ("a las 9", 0), ("a las 4", 2), ("a las 2 y media", 1),
     ("lunes 14 de diciembre, 2:30 p. m.", 1), ("a las 2:30 de la mañana", None)],
)
def test_an_unmarked_hour_is_the_offered_one(clinic, reply, index):
    chosen = appointments.choice_from(reply, MIXED, clinic, language="es")
    assert (None if chosen is None else MIXED.index(chosen.as_dict())) == index


def test_english_replies_are_read_as_before(clinic):
    assert appointments.choice_from("the second one", OFFERED, clinic) == Slot.from_dict(
        OFFERED[1])
    assert appointments.choice_from("la segunda", OFFERED, clinic) is None


def test_the_two_choices_under_the_offered_times_are_understood_in_both_languages():
    """The buttons' payloads (action_ask_appointment_slot) and what patients type instead."""
    from actions.appointments import wants_call, wants_more
    from actions.forms import OFFER_CHOICES

    for language, (more, call) in OFFER_CHOICES.items():
        assert wants_more(more.lower()) and not wants_call(more.lower()), language
        assert wants_call(call.lower()) and not wants_more(call.lower()), language
    for text in ("¿tiene otras horas?", "otro día", "más tarde", "las siguientes"):
        assert wants_more(text), text
    for text in ("llámenme", "mejor llámeme", "ninguna de esas, que me llamen"):
        assert wants_call(text), text
