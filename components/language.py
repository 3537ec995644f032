"""The language of each message: English and Spanish are answered in the patient's language, and
a patient who writes in a language the assistant does not speak gets an honest answer in that
language instead of a guessed English FAQ answer.

The replies' language is the ``language`` slot (``en`` or ``es``, English at the start), taken
from a ``reply_language`` entity this component adds when it is sure:

* "en español", "in English please" and the like: intent ``switch_language`` and the asked-for
  language;
* a message clearly written in Spanish (the rule below), or a short Spanish greeting or thanks
  ("hola", "gracias", "buenos días") or a message with ``ñ``, ``¿`` or ``¡``: ``es``; the
  classifier's intent is kept (one model is trained on both languages);
* a message of at least ``min_words`` words that is clearly English: ``en``.

Anything else (names, numbers, "ok", "1", a one-word answer) sets nothing, so the conversation
stays in the language it is in. Emergencies get the entity too: the advice comes in the
patient's language.

``lingua-language-detector`` (a kept library, accurate on short text) scores the message over
the languages US clinics' patients most often write in. A message counts as written in another
language when

* most of its letters are in a script English does not use (Cyrillic, Chinese, Arabic, ...), or
* it has at least ``min_words`` words besides the names spaCy found (so "I am Giuseppe
  Bianchi" stays English), lingua's most likely language is not English with a confidence of
  at least ``min_confidence``, English scores below ``max_english``, and less than
  ``max_known_share`` of its words are words of the English training data (the component
  learns that vocabulary when the model is trained). lingua runs in its low-accuracy mode
  (30 MiB instead of 430); the vocabulary check removes its mistakes on short English
  messages: on the held-out, blind and external English sets (1,486 messages not in the
  training data) 5 false detections, all gibberish or device commands, and 40 of 43 foreign
  messages found (``tests/conversations``, ``data/nlu/other_language.yml``).

Short Latin-script messages ("ok", "Maria Lopez", "hola") are left to the classifier: a name
or a one-word answer must never be taken for a foreign language. Such a message gets the intent
``other_language`` (confidence 1.0) and a ``language`` entity with the ISO 639-1 code, which the
``detected_language`` slot takes for the reply's conditional variations in ``domain.yml``.

The classifier's ``emergency`` is never replaced, and the red-flag layer runs after this one:
an English red flag in a mixed message still alarms.
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from functools import lru_cache
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import (
    ENTITIES,
    ENTITY_ATTRIBUTE_END,
    ENTITY_ATTRIBUTE_START,
    ENTITY_ATTRIBUTE_TYPE,
    ENTITY_ATTRIBUTE_VALUE,
    EXTRACTOR,
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

logger = logging.getLogger(__name__)

OTHER_LANGUAGE_INTENT = "other_language"
SWITCH_LANGUAGE_INTENT = "switch_language"
LANGUAGE_ENTITY = "language"  # a language the assistant does not speak (detected_language)
REPLY_LANGUAGE_ENTITY = "reply_language"  # en | es: the language slot
SPOKEN = ("en", "es")
_SPANISH_MARKS_RE = re.compile(r"[ñ¿¡]", re.I)
# Whole messages that say "Spanish" with too few words for lingua to decide.
SHORT_SPANISH = frozenset({
    "hola", "buenas", "buenos dias", "buenos días", "buenas tardes", "buenas noches", "gracias",
    "muchas gracias", "adios", "adiós", "hasta luego", "por favor", "ayuda", "necesito ayuda",
    "hola buenas", "hola buenos dias", "hola buenos días", "si gracias", "sí gracias",
})
# "en español", "hablo español", "in Spanish please", "english please", "en inglés"...
_TO_SPANISH_RE = re.compile(
    r"^\W*(?:(?:puede|podria|podría|quiero|prefiero|me puede|me podria|me podría)\s+)?"
    r"(?:(?:hablar|hablarme|escribir|escribirme|contestar|contestarme|responder|responderme|"
    r"seguir|continuar|atender|atenderme)\s+)?(?:en\s+)?(?:espa(?:ñ|n)ol|castellano)"
    r"(?:\s+por\s+favor)?\W*$"
    r"|^\W*(?:hablo|habla usted|hablan|speak|in|do you speak)\s+(?:espa(?:ñ|n)ol|spanish)"
    r"(?:\s+please|\s+por\s+favor)?\W*\??$"
    r"|^\W*spanish(?:\s+please)?\W*$", re.I)
_TO_ENGLISH_RE = re.compile(
    r"^\W*(?:(?:can|could) you\s+)?(?:(?:speak|write|answer|reply|continue|talk)\s+)?"
    r"(?:in\s+)?english(?:\s+please)?\W*\??$"
    r"|^\W*(?:do you speak|i speak|speak)\s+english\W*\??$"
    r"|^\W*(?:en\s+)?ingl(?:é|e)s(?:\s+por\s+favor)?\W*$", re.I)
NEVER_REPLACED = {"emergency"}
# English and the languages most often written by patients of US clinics (Census language-use
# tables); the fewer candidates, the fewer short-text mistakes and the less memory.
LANGUAGES = ("ENGLISH", "SPANISH", "FRENCH", "GERMAN", "PORTUGUESE", "ITALIAN", "POLISH",
             "DUTCH", "RUSSIAN", "UKRAINIAN", "CHINESE", "JAPANESE", "KOREAN", "VIETNAMESE",
             "TAGALOG", "ARABIC", "HINDI", "TURKISH", "GREEK", "HEBREW", "PERSIAN")
_WORD_RE = re.compile(r"[^\W\d_]+")
# e-mail addresses, web addresses and numbers say nothing of the language they are written in
_NEUTRAL_RE = re.compile(r"\S+@\S+|(?:https?://|www\.)\S+|\S+\.(?:com|org|net|edu|gov)\b\S*",
                         re.I)
# a bare name ("Carmen Díaz", "Ana Ruiz") answers the name question in any language: words that
# all start with a capital, none of them a greeting or an answer word
_NOT_NAMES = frozenset({
    "hola", "buenas", "buenos", "dias", "días", "tardes", "noches", "gracias", "adios",
    "adiós", "hi", "hello", "hey", "thanks", "thank", "good", "morning", "evening", "si", "sí",
    "no", "yes", "ok", "okay", "vale", "claro", "please", "por", "favor", "english", "spanish",
    "español", "espanol", "inglés", "ingles",
})


def language_words(text: str) -> list[str]:
    """The words that can tell the message's language: without e-mail and web addresses, and
    none at all for a bare name."""
    text = _NEUTRAL_RE.sub(" ", text)
    raw = _WORD_RE.findall(text)
    if 0 < len(raw) <= 4 and all(w[0].isupper() and (len(w) == 1 or not w[1:].isupper())
                                 for w in raw) \
            and not any(w.lower() in _NOT_NAMES for w in raw):
        return []
    return [word.lower() for word in raw]


@lru_cache(maxsize=1)
def detector() -> Any:
    """lingua's detector with its models loaded when the component loads. Low-accuracy mode
    (trigram models only): 30 MiB and 0.1 s to load instead of 430 MiB and 2.5 s for the
    full models, and as sure on messages of three words or more, the only ones it decides."""
    from lingua import Language, LanguageDetectorBuilder

    languages = [getattr(Language, name) for name in LANGUAGES]
    return LanguageDetectorBuilder.from_languages(*languages).with_low_accuracy_mode() \
        .with_preloaded_language_models().build()


def non_latin_share(text: str) -> float:
    """The share of the letters that are not Latin script."""
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return 0.0
    other = sum(1 for ch in letters if not unicodedata.name(ch, "").startswith("LATIN"))
    return other / len(letters)


def without_names(message: Message) -> str:
    """The message's text with the PERSON entities spaCy found blanked out."""
    text = message.get(TEXT) or ""
    for entity in message.get(ENTITIES) or []:
        if entity.get(ENTITY_ATTRIBUTE_TYPE) == "PERSON" and \
                entity.get(ENTITY_ATTRIBUTE_START) is not None:
            start, end = entity[ENTITY_ATTRIBUTE_START], entity[ENTITY_ATTRIBUTE_END]
            text = text[:start] + " " * (end - start) + text[end:]
    return text


def words_of(text: str) -> list[str]:
    return [word.lower() for word in _WORD_RE.findall(text)]


def detect(text: str, vocabulary: frozenset[str] = frozenset(), min_words: int = 3,
           min_confidence: float = 0.6, max_english: float = 0.2,
           max_known_share: float = 0.5) -> str | None:
    """The ISO 639-1 code of the message's language when it is clearly not English, else
    None. ``vocabulary``: the English training data's words."""
    from lingua import Language

    words = words_of(text)
    if not words:
        return None
    other_script = non_latin_share(text) > 0.5
    known = sum(word in vocabulary for word in words) / len(words)
    if not other_script and (len(words) < min_words or known >= max_known_share):
        return None  # decided without lingua: most English messages stop here
    scores = detector().compute_language_confidence_values(text)
    if not scores:
        return None
    best = scores[0]
    english = next((s.value for s in scores if s.language == Language.ENGLISH), 0.0)
    if best.language == Language.ENGLISH:
        return None
    if other_script or (best.value >= min_confidence and english < max_english):
        return best.language.iso_code_639_1.name.lower()
    return None


def asked_for(text: str) -> str | None:
    """The language a message asks the assistant to speak ("en español": es), or None."""
    if _TO_SPANISH_RE.search(text):
        return "es"
    if _TO_ENGLISH_RE.search(text):
        return "en"
    return None


def looks_spanish(text: str) -> bool:
    """Spanish that is too short for lingua: a greeting or thanks, or Spanish-only marks."""
    plain = " ".join(words_of(text))
    return plain in SHORT_SPANISH or bool(_SPANISH_MARKS_RE.search(text))


def reply_language(text: str, vocabulary: frozenset[str], min_words: int = 3,
                   spanish: frozenset[str] = frozenset(), known: frozenset[str] | None = None,
                   **thresholds: float) -> tuple[str | None, str | None]:
    """(the language to answer in when the message says so clearly, a language the assistant
    does not speak that the message is written in). Both None: leave the conversation's
    language as it is. ``vocabulary``/``spanish``: the words of the English / Spanish training
    examples; a word in both counts for neither. ``known``: both together (the component keeps
    it, so that it is not rebuilt for every message). A bare name, an e-mail address or a
    number says nothing: (None, None)."""
    words = language_words(text)
    if not words:
        return None, None
    text = _NEUTRAL_RE.sub(" ", text)
    english_only = sum(w in vocabulary and w not in spanish for w in words)
    spanish_only = sum(w in spanish and w not in vocabulary for w in words)
    if looks_spanish(text) or (len(words) >= 2 and spanish_only > english_only and
                               spanish_only >= 0.6 * len(words)):
        return "es", None  # plainly Spanish words: no need to ask lingua
    if len(words) >= min_words and english_only > spanish_only and \
            sum(w in vocabulary for w in words) >= 0.75 * len(words):
        return "en", None  # plainly English words: a patient writing English (again)
    known = known if known is not None else vocabulary | spanish
    foreign = detect(text, known, min_words=min_words, **thresholds)
    if foreign in SPOKEN:
        return foreign, None
    if foreign is not None:
        return None, foreign
    if len(words) >= 2 and spanish_only > english_only and spanish_only >= len(words) / 3:
        return "es", None
    return None, None


def example_language(example: Message) -> str:
    """A training example's language: its intent's ``metadata: {language: es}`` (the files
    of ``data/nlu/es/``), else English unless it plainly reads as Spanish."""
    metadata = example.get("metadata") or {}
    declared = (metadata.get("intent") or {}).get("language") if isinstance(metadata, dict) \
        else None
    if declared in SPOKEN:
        return declared
    return "es" if is_spanish_example(example.get(TEXT) or "") else "en"


def is_spanish_example(text: str) -> bool:
    """A training example without a declared language that reads as Spanish."""
    if looks_spanish(text) or re.search(r"[áéíóú]", text, re.I):
        return True
    if len(words_of(text)) < 3:
        return False
    from lingua import Language

    scores = detector().compute_language_confidence_values(text)
    return bool(scores) and scores[0].language == Language.SPANISH and scores[0].value >= 0.5


VOCABULARY_FILE = "vocabulary.json"
SPANISH_VOCABULARY_FILE = "vocabulary-es.json"


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True
)
class LanguageDetector(GraphComponent):
    """Adds a ``reply_language`` entity (en, es) when a message clearly says which of them to
    answer in (intent ``switch_language`` when it asks for one), and sets intent
    ``other_language`` with a ``language`` entity for a message clearly written in a language
    the assistant does not speak."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"min_words": 3, "min_confidence": 0.6, "max_english": 0.2,
                "max_known_share": 0.5}

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> LanguageDetector:
        return cls(config, model_storage, resource)

    def __init__(self, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
                 vocabulary: frozenset[str] = frozenset(),
                 spanish: frozenset[str] = frozenset()) -> None:
        self._config = {key: config[key] for key in self.get_default_config()}
        self._model_storage = model_storage
        self._resource = resource
        self.vocabulary = vocabulary
        self.spanish = spanish
        self.known = vocabulary | spanish

    def train(self, training_data: TrainingData) -> Resource:
        """Learn the English and the Spanish vocabularies: the words of the training examples
        in each language (``other_language`` examples left out)."""
        words: dict[str, set[str]] = {"en": set(), "es": set()}
        for example in training_data.intent_examples:
            if example.get(INTENT) != OTHER_LANGUAGE_INTENT:
                words[example_language(example)].update(words_of(example.get(TEXT) or ""))
        self.vocabulary, self.spanish = frozenset(words["en"]), frozenset(words["es"])
        self.known = self.vocabulary | self.spanish
        with self._model_storage.write_to(self._resource) as directory:
            (directory / VOCABULARY_FILE).write_text(json.dumps(sorted(self.vocabulary)),
                                                     encoding="utf-8")
            (directory / SPANISH_VOCABULARY_FILE).write_text(json.dumps(sorted(self.spanish)),
                                                             encoding="utf-8")
        return self._resource

    @classmethod
    def load(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> LanguageDetector:
        try:
            with model_storage.read_from(resource) as directory:
                words = json.loads((directory / VOCABULARY_FILE).read_text(encoding="utf-8"))
                spanish_file = directory / SPANISH_VOCABULARY_FILE
                spanish = json.loads(spanish_file.read_text(encoding="utf-8")) \
                    if spanish_file.exists() else []
        except (ValueError, FileNotFoundError):
            logger.warning("%s: no vocabulary stored; every word counts as unknown",
                           cls.__name__)
            words, spanish = [], []
        detector()  # load lingua's models now, not on the first patient's message
        return cls(config, model_storage, resource, frozenset(words), frozenset(spanish))

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            intent = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
            asked = asked_for(text) if intent not in NEVER_REPLACED else None
            if asked is not None:
                self._set_intent(message, SWITCH_LANGUAGE_INTENT)
                self._add_entity(message, REPLY_LANGUAGE_ENTITY, asked)
                continue
            spoken, foreign = reply_language(without_names(message), self.vocabulary,
                                             spanish=self.spanish, known=self.known,
                                             **self._config)
            if spoken is not None:
                self._add_entity(message, REPLY_LANGUAGE_ENTITY, spoken)
            elif foreign is not None and intent not in NEVER_REPLACED:
                logger.info("Message in another language (%s)", foreign)
                self._set_intent(message, OTHER_LANGUAGE_INTENT)
                self._add_entity(message, LANGUAGE_ENTITY, foreign)
        return messages

    @staticmethod
    def _set_intent(message: Message, name: str) -> None:
        top = {INTENT_NAME_KEY: name, PREDICTED_CONFIDENCE_KEY: 1.0}
        ranking = [top, *(message.get(INTENT_RANKING_KEY) or [])]
        message.set(INTENT, top, add_to_output=True)
        message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)

    def _add_entity(self, message: Message, entity: str, value: str) -> None:
        entities = list(message.get(ENTITIES) or [])
        entities.append({ENTITY_ATTRIBUTE_TYPE: entity, ENTITY_ATTRIBUTE_VALUE: value,
                         ENTITY_ATTRIBUTE_START: 0,
                         ENTITY_ATTRIBUTE_END: len(message.get(TEXT) or ""),
                         EXTRACTOR: self.__class__.__name__})
        message.set(ENTITIES, entities, add_to_output=True)
