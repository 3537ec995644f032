"""The red-flag layer on Spanish messages (components/red_flags_es.py and the ``es:`` parts of
components/red_flags.yml): every category alarms in Spanish, with or without accents, with
common misspellings and regional wording; a red flag that is negated or long past does not,
unless something says it is happening now; a headache "not like the usual one" alarms;
self-harm is never talked down. The Spanish checks run on every message, so they must not
alarm on the English test sets either.

Written for the mechanism by its author, so these are not a blind measure.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from rasa.shared.nlu.training_data.message import Message

from components.red_flags import RedFlagDetector, RedFlagMatcher
from components.red_flags_es import fold, key

TESTS = Path(__file__).resolve().parent.parent

# category -> messages. "alarm": happening now; "negated" and "past": said not to be happening
# (no alarm); "not_usual": a negation that only says it is unlike the usual one (alarm).
CASES: dict[str, dict[str, list[str]]] = {
    "self_harm": {
        "alarm": [
            "quiero quitarme la vida",
            "me kiero matar, ya no aguanto",
            "Estoy pensando en suicidarme",
            "mi hija dice que se quiere morir",
            "siento que todos estarian mejor sin mi",
            "a veces quisiera dormirme y no volver a despertar",
            "voy a tomarme todas las pastillas que hay en la casa",
            "me he estado cortando los brazos",
        ],
        # negations and the past never talk self-harm down
        "negated": [],
        "past": [],
        "not_usual": [],
    },
    "thunderclap": {
        "alarm": [
            "me dio de repente un dolor de cabeza horrible, como un trueno",
            "es el peor dolor de cabeza de mi vida",
            "el peor dolor de kabeza q e tenido, empeso derrepente",
            "siento como si me explotara la cabeza",
            "de la nada un dolor de cabeza insoportable, hace media hora",
            "nunca me habia dolido asi la cabeza",
        ],
        "negated": [
            "no es el peor dolor de cabeza de mi vida, es mi migraña de siempre",
            "no fue repentino ni muy fuerte el dolor de cabeza",
        ],
        "past": [
            "hace cinco años tuve el peor dolor de cabeza de mi vida y resultó ser migraña",
        ],
        "not_usual": [
            "no es mi dolor de cabeza de siempre",
            "este dolor de cabeza no es como mis migrañas normales",
            "no se parece a mi jaqueca habitual",
        ],
    },
    "stroke": {
        "alarm": [
            "se me duerme un lado de la cara",
            "a mi mamá se le cayó la cara de un lado",
            "mi esposo no puede hablar bien y tiene la boca chueca",
            "creo que a mi papá le está dando una embolia",
            "de repente no puedo mover el brazo izquierdo",
            "mi abuelo habla arrastrando las palabras",
            "se le entumio medio cuerpo a mi tia",
        ],
        "negated": [
            "no tengo la cara caída ni el brazo débil",
            "nunca ha tenido un derrame",
        ],
        "past": [
            "tuve un derrame en 2015",
            "mi mamá tuvo una embolia hace diez años y todavía tiene el brazo débil",
            "a mi papá le dio un derrame cerebral cuando yo era niño",
        ],
        "not_usual": [],
    },
    "meningitis": {
        "alarm": [
            "tengo fiebre y rigidez de cuello",
            "mi hijo tiene calentura y el cuello tieso",
            "fiebre alta, dolor de cabeza y no puede doblar el cuello",
            "tiene fiebre y la luz le molesta muchisimo, con dolor de cabeza",
            "mi hija tiene fiebre y unas manchas que no desaparecen al presionar",
        ],
        "negated": [
            "no tengo fiebre ni rigidez de cuello",
            "sin fiebre y sin el cuello rígido, es mi migraña de siempre",
            "mi hijo no tiene fiebre ni la nuca tiesa",
        ],
        "past": [
            "de niña tuve fiebre con el cuello rigido y me hospitalizaron",
        ],
        "not_usual": [],
    },
    "head_injury": {
        "alarm": [
            "mi hijo se cayó de la litera y se pegó en la cabeza",
            "me di un golpe fuerte en la cabeza y estoy mareada",
            "tuvimos un accidente de carro hace una hora",
            "a mi papá lo atropellaron",
        ],
        "negated": [
            "no me he golpeado la cabeza",
            "no tuvo ningún golpe en la cabeza",
        ],
        "past": [
            "en 2019 tuve un accidente de carro y desde entonces me duele la espalda",
        ],
        "not_usual": [],
    },
    "vision": {
        "alarm": [
            "de repente veo doble",
            "perdí la vista de un ojo",
            "no veo nada del ojo derecho desde esta mañana",
            "se me fue la vista de golpe",
        ],
        "negated": [
            "no tengo visión doble",
            "nunca he perdido la vista",
        ],
        "past": [
            "hace años tuve visión doble por un golpe, ya estoy bien",
        ],
        "not_usual": [],
    },
    "fainting_seizure": {
        "alarm": [
            "convulsiones",
            "mi hijo esta convulsionando",
            "mi esposa se desmayó en la cocina",
            "me desmallé en el trabajo",
            "tiene convulciones",
            "le dio una crisis epiléptica",
        ],
        "negated": [
            "nunca he tenido convulsiones",
            "jamás me he desmayado",
            "no ha vuelto a convulsionar desde que toma la medicina",
        ],
        "past": [
            "de niño tuve convulsiones por fiebre",
            "mi hija tuvo convulsiones febriles de pequeña, ahora tiene 12 años",
            "me desmayé una vez hace muchos años cuando me sacaron sangre",
        ],
        "not_usual": [
            "no son sus convulsiones de siempre, esta dura mucho más",
        ],
    },
    "pregnancy": {
        "alarm": [
            "estoy embarazada y tengo un dolor de cabeza muy fuerte que no se me quita",
            "tengo 35 semanas, me duele la cabeza horrible y veo borroso",
            "embarazo de 8 meses, dolor de cabeza intenso y los pies hinchados",
        ],
        "negated": [
            "estoy embarazada y no tengo dolor de cabeza fuerte",
        ],
        "past": [
            "en mi primer embarazo en 2015 tuve dolor de cabeza muy fuerte",
        ],
        "not_usual": [],
    },
    "chest_pain": {
        "alarm": [
            "dolor en el pecho",
            "me aprieta el pecho y el dolor se va al brazo",
            "siento una presión horrible en el pecho",
            "creo que me esta dando un infarto",
            "mi papá dice que le duele mucho el pecho",
        ],
        "negated": [
            "no tengo dolor en el pecho",
            "no me duele el pecho, solo la espalda",
        ],
        "past": [
            "mi papá tuvo un infarto hace muchos años, ¿puede venir a acupuntura?",
            "mi mamá tuvo un infarto en el 98",
        ],
        "not_usual": [
            "no es mi dolor de pecho de siempre, ahora me aprieta muy fuerte",
        ],
    },
    "breathing": {
        "alarm": [
            "no puedo respirar",
            "NO PUEDE RESPIRAR",
            "me falta el aire y tengo los labios morados",
            "mi bebé respira con mucha dificultad",
            "mi hijo se atragantó con un dulce",
            "no puedo resirar",
        ],
        "negated": [
            "no me falta el aire",
            "no tengo dificultad para respirar",
        ],
        "past": [
            "de niño me costaba respirar por el asma, ya estoy bien",
        ],
        "not_usual": [],
    },
    "poisoning": {
        "alarm": [
            "me tomé todas las pastillas",
            "mi hijo se tragó una pila",
            "mi hija de 2 años se bebio cloro",
            "tomé 30 pastillas de paracetamol",
            "el niño se comió las pastillas de su abuela",
            "creo que tome una sobredosis",
        ],
        "negated": [
            "no se tomó todas las pastillas, le quité el frasco a tiempo",
            "no tomé demasiadas pastillas, solo dos",
        ],
        "past": [
            "hace años tuve una intoxicación por hongos, ya estoy bien",
        ],
        "not_usual": [],
    },
    "bleeding": {
        "alarm": [
            "sangra mucho",
            "se cortó con un vidrio y no para de sangrar",
            "me sangra la nariz desde hace una hora y no se detiene",
            "estoy vomitando sangre",
            "sale sangre a chorros de la herida",
        ],
        "negated": [
            "no sangra mucho, solo un poquito",
            "no he vomitado sangre",
        ],
        "past": [
            "hace 3 años tuve una hemorragia y me operaron",
        ],
        "not_usual": [],
    },
    "allergic_reaction": {
        "alarm": [
            "se me hinchó la garganta",
            "me picó una abeja y se me esta cerrando la garganta",
            "se le hinchó la lengua despues del antibiotico",
            "tengo ronchas por todo el cuerpo después de comer camarones",
            "le tuve que poner el epipen a mi hijo",
        ],
        "negated": [
            "no se me hinchó la garganta",
            "nunca he tenido una reacción alérgica fuerte",
        ],
        "past": [
            "de joven tuve una reacción alérgica grave a la penicilina",
        ],
        "not_usual": [],
    },
    "unresponsive": {
        "alarm": [
            "no responde",
            "mi abuela no reacciona",
            "no puedo despertar a mi esposo",
            "mi bebé está como de trapo y no abre los ojos",
            "le hablo a mi papá y no contesta",
        ],
        "negated": [
            "mi papá no está inconsciente, está despierto",
        ],
        "past": [
            "hace años estuvo inconsciente por un accidente",
        ],
        "not_usual": [],
    },
    "drowning": {
        "alarm": [
            "mi hijo se cayó a la alberca y no respira",
            "mi sobrino casi se ahoga en el río",
            "lo sacamos de la piscina, estaba bajo el agua",
        ],
        "negated": [
            "no se ahogó, solo tragó un poco de agua y está bien",
        ],
        "past": [
            "de chiquito casi me ahogo en el mar",
        ],
        "not_usual": [],
    },
    "blood_sugar": {
        "alarm": [
            "mi papá es diabético y está muy confundido",
            "se le bajó el azúcar a mi mamá y está temblando",
            "tengo diabetes y estoy sudando frío",
        ],
        "negated": [
            "soy diabético pero no tengo el azúcar muy baja",
        ],
        "past": [
            "hace años, cuando me diagnosticaron diabetes, tuve el azúcar muy baja",
        ],
        "not_usual": [],
    },
    "burn": {
        "alarm": [
            "me quemé el brazo con aceite hirviendo y tengo ampollas",
            "mi hijo se quemó con agua hirviendo, tiene ampollas en el pecho",
            "tiene una quemadura grave en la mano",
        ],
        "negated": [
            "no tengo ninguna quemadura grave en la mano",
        ],
        "past": [
            "de niña tuve una quemadura grave en la pierna y me quedó cicatriz",
        ],
        "not_usual": [],
    },
}

# Spanish messages to a clinic that name no emergency, some with alarming words used harmlessly.
ORDINARY = [
    "hola, quisiera una cita para acupuntura",
    "¿cuánto cuesta la consulta?",
    "¿atienden los sábados?",
    "tengo migrañas desde hace años, ¿la acupuntura ayuda?",
    "me duele la cabeza de vez en cuando, sobre todo con el estrés",
    "me duele el cuello por estar en la computadora",
    "tengo el cuello tenso y contracturado",
    "mi hijo tiene un poco de fiebre, ¿pueden atenderlo?",
    "la página no responde cuando intento reservar",
    "el teléfono de la clínica no responde",
    "no veo nada en el horario de la página",
    "mi dolor de espalda no responde a los analgésicos",
    "¿puedo hacer acupuntura si tomo anticoagulantes?",
    "tomo todas mis pastillas en la mañana, ¿hay problema?",
    "me tomé un paracetamol para el dolor de cabeza",
    "tengo la garganta inflamada y tos",
    "tengo la nariz tapada y no puedo respirar por la nariz",
    "me caí en frente de mi casa y me lastimé la rodilla",
    "se me duerme la mano por las noches, ¿será túnel carpiano?",
    "me da miedo desmayarme con las agujas",
    "tengo un derrame en el ojo, ¿es grave?",
    "me sacaron mucha sangre en el análisis de ayer",
    "tengo diabetes, ¿puedo hacerme acupuntura?",
    "me quemé un poco con el sol en la playa",
    "no puedo ir mañana, ¿puedo cambiar la cita?",
    "ya no quiero seguir con el tratamiento de pastillas",
    "estoy embarazada de 12 semanas y tengo náuseas",
    "tengo la presión alta, ¿es seguro?",
    "necesito una cita urgente para mi espalda",
    "¿los precios incluyen la primera consulta?",
    "mi papá se está recuperando de una embolia, ¿lo pueden atender?",
    "me explota la cabeza por la cruda, ¿tienen cita hoy?",
    "la espalda me está matando después de cargar cajas",
    "tengo el cuello tieso por la almohada",
    "creo que tomé de más anoche y hoy me duele la cabeza",
]


@pytest.fixture(scope="module")
def matcher() -> RedFlagMatcher:
    return RedFlagMatcher()


def cases(*groups: str) -> list[tuple[str, str]]:
    return [(category, text) for category, spec in CASES.items() for group in groups
            for text in spec[group]]


def test_every_category_has_spanish_patterns_and_cases(matcher):
    assert set(matcher.spanish.pattern_counts) == set(matcher.categories) == set(CASES)
    assert all(count > 0 for count in matcher.spanish.pattern_counts.values())
    assert all(len(spec["alarm"]) >= 3 for spec in CASES.values())
    assert all(spec["negated"] and spec["past"] for name, spec in CASES.items()
               if name != "self_harm")


@pytest.mark.parametrize(("category", "text"), cases("alarm", "not_usual"))
def test_spanish_red_flag_alarms_with_its_category(matcher, category, text):
    assert category in [flag.category for flag in matcher.find_all(text)], text


@pytest.mark.parametrize(("category", "text"), cases("negated", "past"))
def test_spanish_red_flag_said_not_to_be_happening_does_not_alarm(matcher, category, text):
    assert matcher.find(text) is None, text
    # ... but they were red-flag words: a classifier's "emergency" is set aside for them
    assert matcher.assess(text).not_an_emergency(), text


@pytest.mark.parametrize("text", ORDINARY)
def test_no_false_alarm_on_ordinary_spanish_messages(matcher, text):
    assert matcher.find(text) is None, text


@pytest.mark.parametrize("text", [
    "no tengo fiebre pero tengo el peor dolor de cabeza de mi vida",
    "no tengo fiebre, pero sí el cuello rígido y fiebre desde ayer",
    "no me golpeé la cabeza, pero de repente no puedo hablar bien",
    "no tengo dolor de pecho pero me falta el aire",
    "no sé qué hacer, mi hijo no responde",
    "no sé qué me pasa pero me duele mucho el pecho",
    "nunca he tenido convulsiones pero mi hijo está convulsionando ahora",
    "no aguanto el dolor de pecho",
    "no se me quita el dolor en el pecho",
    "mi hijo no para de convulsionar",
    "no siento el brazo izquierdo",
    "no puedo mover la pierna, me pasó de repente",
])
def test_one_part_negated_or_a_negation_that_is_the_symptom_still_alarms(matcher, text):
    assert matcher.find(text) is not None, text


@pytest.mark.parametrize("text", [
    "tuve un derrame en 2015 y hoy otra vez",
    "tuve un derrame hace diez años y ahora se me cae la cara",
    "Tuve un derrame en 2015. Hoy me volvió a pasar.",
    "hace 10 años me dio una embolia y creo que me está dando otra",
    "tuve convulsiones de niño, pero hoy tuve una de nuevo",
    "mi mamá tuvo una embolia hace años pero hoy de repente no puede hablar bien",
])
def test_the_past_with_something_saying_now_alarms(matcher, text):
    assert matcher.find(text) is not None, text


@pytest.mark.parametrize("text", [
    "no quiero vivir",
    "ya no quiero vivir",
    "no tengo ganas de vivir",
    "nunca he pensado en suicidarme",
    "hace años intenté suicidarme",
    "no quiero molestarlos pero me quiero morir",
])
def test_self_harm_is_never_talked_down(matcher, text):
    assert matcher.find(text).category == "self_harm", text


@pytest.mark.parametrize(("text", "category"), [
    # accents, capitals, regional words, texting spellings, a dropped letter
    ("CONVULSIONES", "fainting_seizure"),
    ("tiene convlsiones", "fainting_seizure"),
    ("se me incho la garganta", "allergic_reaction"),
    ("dolor d pecho", "chest_pain"),
    ("tiene fiebre y la nuca rijida", "meningitis"),
    ("se le puso la boca chueca", "stroke"),
    ("se privó y no reacciona", "fainting_seizure"),
    ("kiero kitarme la bida", "self_harm"),
    ("mi niño se tomo las pastiyas de su abuela", "poisoning"),
    ("le dio un patatús y no vuelve en sí", "fainting_seizure"),
    ("mi hijo se está desangrando", "bleeding"),
    ("tengo una puntada en el pecho muy fuerte", "chest_pain"),
    ("ya no le veo caso a vivir", "self_harm"),
    ("a mi mamá le dio una embolia", "stroke"),
])
def test_spelling_does_not_hide_a_red_flag(matcher, text, category):
    assert category in [flag.category for flag in matcher.find_all(text)], text


def test_sound_keys():
    assert fold("Rigidez de cuéllo, ÑANDÚ") == "rigidez de cuello, nandu"
    assert key("cabeza") == key("cabesa") == key("kabeza")
    assert key("hinchó") == key("inchó") == key("incho")
    assert key("desmayo") == key("desmallo")
    assert key("vómito") == key("bomito")
    assert key("convulsión") == key("combulsion")
    assert key("q") == key("que") == key("ke")
    assert key("2015") == "2015" and key("¿") == "¿"


@pytest.mark.parametrize("text", [
    "¿qué es un infarto?",
    "¿cuáles son los síntomas de un derrame cerebral?",
    "¿un dolor de cabeza puede ser señal de un derrame?",
    "¿cómo se puede evitar una embolia?",
    "¿qué es un dolor de cabeza en trueno?",
    "¿cuánto dura una conmoción cerebral?",
])
def test_a_question_about_a_condition_in_general_is_no_alarm(matcher, text):
    assert matcher.find(text) is None, text


@pytest.mark.parametrize(("text", "category"), [
    ("creo que es un infarto", "chest_pain"),
    ("tiene síntomas de un derrame", "stroke"),
    ("tengo la cara caída es señal de derrame?", "stroke"),
    ("¿qué es esto? mi hijo está convulsionando", "fainting_seizure"),
])
def test_a_question_with_a_symptom_or_a_report_still_alarms(matcher, text, category):
    assert matcher.find(text).category == category, text


def test_english_and_spanish_red_flags_in_one_message(matcher):
    mixed_english = matcher.find_all("hola, mi papá tiene chest pain y está sudando")
    assert "chest_pain" in [f.category for f in mixed_english]
    mixed_spanish = matcher.find_all("my mom says se me cayó la cara, please help")
    assert "stroke" in [f.category for f in mixed_spanish]
    both = [f.category for f in matcher.find_all(
        "i want to kill myself y me tomé todas las pastillas")]
    assert both[:2] == ["self_harm", "poisoning"]


def test_unless_words_keep_devices_and_the_eye_out(matcher):
    assert matcher.find("el celular no responde") is None
    assert matcher.find("tengo un derrame en el ojo") is None
    # ... in their own clause only
    assert matcher.find("el celular no sirve y mi papá no responde").category == "unresponsive"
    assert matcher.find("tengo un derrame en el ojo y se me cayó la cara").category == "stroke"
    # a device that does not respond is not a red flag said not to be happening
    assert not matcher.assess("la página no responde").not_an_emergency()


def test_the_flag_points_at_the_words_in_the_message(matcher):
    text = "Hola.  Mi hijo se tragó una pila de reloj"
    flag = matcher.find(text)
    assert flag.category == "poisoning"
    assert text[flag.start:flag.end] == flag.text and "tragó" in flag.text


def english_texts() -> list[str]:
    safety = yaml.safe_load((TESTS / "safety_phrases.yml").read_text())
    context = yaml.safe_load((TESTS / "red_flag_context.yml").read_text())
    texts = [item for item in safety["ordinary"]]
    texts += [t for group in ("negated", "long_past") for t in context[group]]
    heldout = yaml.safe_load((TESTS / "nlu_heldout.yml").read_text())
    texts += [line.strip()[2:] for block in heldout["nlu"]
              for line in block.get("examples", "").splitlines() if line.strip()]
    for name in ("emergencies", "medical_medquad", "offtopic_hwu64", "offtopic_snips"):
        path = TESTS / "external" / f"{name}.yml"
        if path.exists():
            texts += [m["text"] for m in yaml.safe_load(path.read_text())["messages"]]
    return texts


def test_spanish_layer_finds_nothing_in_english_test_sets(matcher):
    texts = english_texts()
    assert len(texts) > 1000
    # the Spanish part alone: no red flag of its own, nothing it says is negated or long past
    alarms = [t for t in texts if matcher.spanish.assess(t).flags]
    discounted = [t for t in texts if matcher.spanish.assess(t).discounted]
    assert alarms == [] and discounted == []


def classified(text: str, ranking: list[tuple[str, float]]) -> Message:
    intents = [{"name": name, "confidence": confidence} for name, confidence in ranking]
    return Message(data={"text": text, "intent": intents[0], "intent_ranking": intents})


def test_detector_alarms_on_a_spanish_message_marked_as_another_language():
    message = classified("mi hijo no responde y no respira", [("other_language", 1.0)])
    RedFlagDetector().process([message])
    assert message.get("intent") == {"name": "emergency", "confidence": 1.0}
    assert {e["value"] for e in message.get("entities") if e["entity"] == "red_flag"} == {
        "breathing", "unresponsive"}


def test_detector_sets_a_classifier_emergency_aside_for_spanish_negations():
    message = classified("no tengo fiebre ni rigidez de cuello, es mi migraña de siempre",
                         [("emergency", 0.6), ("faq", 0.3)])
    RedFlagDetector().process([message])
    assert message.get("intent") == {"name": "faq", "confidence": 0.3}
    long_ago = classified("tuve un derrame hace diez años", [("emergency", 0.6), ("faq", 0.3)])
    RedFlagDetector().process([long_ago])
    assert long_ago.get("intent")["name"] == "faq"
    # "ahora" says now: the classifier's emergency stays
    now = classified("tuve un derrame hace diez años y ahora me siento rara",
                     [("emergency", 0.6), ("faq", 0.3)])
    RedFlagDetector().process([now])
    assert now.get("intent")["name"] == "emergency"


# Both written by people who had not seen the patterns (each file's header says what its
# author read); the second was written after the first had been used to widen them.
PHRASE_SETS = {
    name: yaml.safe_load((Path(__file__).parent.parent / name).read_text(encoding="utf-8"))
    for name in ("safety_phrases_es.yml", "safety_phrases_es_blind.yml")}


@pytest.mark.parametrize("name", PHRASE_SETS)
def test_every_spanish_red_flag_of_the_phrase_sets_is_recognised(matcher, name):
    phrases = PHRASE_SETS[name]
    missed = [item["text"] for item in phrases["red_flags"] if matcher.find(item["text"]) is None]
    assert len(phrases["red_flags"]) >= 120 and missed == []


@pytest.mark.parametrize("name", PHRASE_SETS)
def test_no_ordinary_spanish_message_of_the_phrase_sets_alarms(matcher, name):
    phrases = PHRASE_SETS[name]
    alarmed = [text for text in phrases["ordinary"] if matcher.find(text) is not None]
    assert len(phrases["ordinary"]) >= 110 and alarmed == []


@pytest.mark.parametrize(("text", "category"), [
    # a combination's own "unless": the usual *treatment* is not an unusual headache ...
    ("el dolor de cabeza de hoy no es como los de siempre", "thunderclap"),
    # wishing not to wake up, cutting oneself (not one's hair), a purple rash with fever
    ("quisiera dormirme hoy y no amanecer", "self_harm"),
    ("me corté los brazos otra vez anoche", "self_harm"),
    ("a mi hija le subió la fiebre y tiene puntitos morados en la panza", "meningitis"),
    # stiff and shaking, told as seen; double letters; a shadow over one eye
    ("mi abuela se quedó rígida y empezó a temblar toda", "fainting_seizure"),
    ("de pronto leo y las letras se ven dobles", "vision"),
    ("tengo como una sombra negra que me tapa el ojo derecho", "vision"),
    # bleeding in pregnancy; fumes; Spanglish verbs with Spanish products; the EpiPen used
    ("estoy embarazada de 8 semanas y estoy sangrando", "pregnancy"),
    ("inhalé los vapores del cloro y me arde el pecho", "poisoning"),
    ("my daughter swallowed un poco de cloralex", "poisoning"),
    ("es alérgica a los camarones y tiene la voz ronca", "allergic_reaction"),
    ("ya le pusimos el epipen a mi hijo", "allergic_reaction"),
    # a date long ago, then something now that is not a wish
    ("tuvo un derrame en 2019 y ahora no puede mover el brazo", "stroke"),
])
def test_patterns_added_for_the_second_blind_set_classes(matcher, text, category):
    assert category in [flag.category for flag in matcher.find_all(text)], text


@pytest.mark.parametrize("text", [
    "los tratamientos normales no me sirven para el dolor de cabeza",
    "me corté el pelo otra vez y quedó feo",
    "quiero dormir bien y no despertarme tan temprano",
    "ayer me dio un ataque de tos y estaba temblando de frío",
    # a wish now, after a red flag long ago
    "mi mamá tuvo una embolia en 2016 y ahora quiere acupuntura para el hombro",
    # the condition's name as the subject of a question
    "¿una embolia da dolor de cabeza?",
    "¿el derrame cerebral se cura con acupuntura?",
])
def test_no_alarm_for_the_harmless_readings_of_those_patterns(matcher, text):
    assert matcher.find(text) is None, text


def test_a_red_flag_in_spanish_words_is_answered_in_spanish():
    """Too short for the language layer to be sure ("ya no quiero vivir"): found by the
    Spanish patterns, the advice comes in Spanish; an English red flag sets no language, and
    a language the layer already decided is kept."""
    spanish = classified("ya no quiero vivir", [("deny", 0.5)])
    english = classified("i want to kill myself", [("emergency", 0.9)])
    decided = Message(data={**classified("ya no quiero vivir", [("deny", 0.5)]).data,
                            "entities": [{"entity": "reply_language", "value": "en"}]})
    RedFlagDetector().process([spanish, english, decided])
    def languages(message):
        return [e["value"] for e in message.get("entities") if e["entity"] == "reply_language"]
    assert spanish.get("intent")["name"] == "emergency" and languages(spanish) == ["es"]
    assert english.get("intent")["name"] == "emergency" and languages(english) == []
    assert languages(decided) == ["en"]
