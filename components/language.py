"""The language of each message, so that a patient who writes in a language the assistant does
not speak gets an honest answer in that language instead of a guessed English FAQ answer.

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
LANGUAGE_ENTITY = "language"
NEVER_REPLACED = {"emergency"}
# English and the languages most often written by patients of US clinics (Census language-use
# tables); the fewer candidates, the fewer short-text mistakes and the less memory.
LANGUAGES = ("ENGLISH", "SPANISH", "FRENCH", "GERMAN", "PORTUGUESE", "ITALIAN", "POLISH",
             "DUTCH", "RUSSIAN", "UKRAINIAN", "CHINESE", "JAPANESE", "KOREAN", "VIETNAMESE",
             "TAGALOG", "ARABIC", "HINDI", "TURKISH", "GREEK", "HEBREW", "PERSIAN")
_WORD_RE = re.compile(r"[^\W\d_]+")


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
    None."""
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


VOCABULARY_FILE = "vocabulary.json"


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True
)
class LanguageDetector(GraphComponent):
    """Sets intent ``other_language`` and a ``language`` entity for messages clearly written
    in a language other than English."""

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
                 vocabulary: frozenset[str] = frozenset()) -> None:
        self._config = {key: config[key] for key in self.get_default_config()}
        self._model_storage = model_storage
        self._resource = resource
        self.vocabulary = vocabulary

    def train(self, training_data: TrainingData) -> Resource:
        """Learn the English vocabulary: every word of the training examples, except those of
        the ``other_language`` intent."""
        self.vocabulary = frozenset(
            word for example in training_data.intent_examples
            if example.get(INTENT) != OTHER_LANGUAGE_INTENT
            for word in words_of(example.get(TEXT) or ""))
        with self._model_storage.write_to(self._resource) as directory:
            (directory / VOCABULARY_FILE).write_text(json.dumps(sorted(self.vocabulary)),
                                                     encoding="utf-8")
        return self._resource

    @classmethod
    def load(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> LanguageDetector:
        try:
            with model_storage.read_from(resource) as directory:
                words = json.loads((directory / VOCABULARY_FILE).read_text(encoding="utf-8"))
        except (ValueError, FileNotFoundError):
            logger.warning("%s: no vocabulary stored; every word counts as unknown",
                           cls.__name__)
            words = []
        detector()  # load lingua's models now, not on the first patient's message
        return cls(config, model_storage, resource, frozenset(words))

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            intent = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
            if intent in NEVER_REPLACED:
                continue
            language = detect(without_names(message), self.vocabulary, **self._config)
            if language is not None:
                self._mark(message, language)
        return messages

    def _mark(self, message: Message, language: str) -> None:
        logger.info("Message in another language (%s)", language)
        top = {INTENT_NAME_KEY: OTHER_LANGUAGE_INTENT, PREDICTED_CONFIDENCE_KEY: 1.0}
        ranking = [top, *(message.get(INTENT_RANKING_KEY) or [])]
        message.set(INTENT, top, add_to_output=True)
        message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        entities = list(message.get(ENTITIES) or [])
        entities.append({ENTITY_ATTRIBUTE_TYPE: LANGUAGE_ENTITY, ENTITY_ATTRIBUTE_VALUE: language,
                         ENTITY_ATTRIBUTE_START: 0,
                         ENTITY_ATTRIBUTE_END: len(message.get(TEXT) or ""),
                         EXTRACTOR: self.__class__.__name__})
        message.set(ENTITIES, entities, add_to_output=True)
