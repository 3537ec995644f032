"""Red-flag detection on every user message, independent of the intent classifier.

A spaCy ``PhraseMatcher`` (case-insensitive, whole tokens) checks each message against the
phrases in ``red_flags.yml``. When one matches, the message's intent becomes ``emergency`` with
confidence 1.0 and a ``red_flag`` entity names the category (``stroke``, ``self_harm``, ...), so
the dialogue answers with emergency advice before anything else, on every channel and inside
forms. The classifier also has an ``emergency`` intent; this layer makes recall not rest on it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import spacy
import yaml
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
from spacy.matcher import Matcher, PhraseMatcher
from spacy.tokens import Doc, Span

logger = logging.getLogger(__name__)

PHRASES_FILE = Path(__file__).with_name("red_flags.yml")
EMERGENCY_INTENT = "emergency"
RED_FLAG_ENTITY = "red_flag"
# Categories checked first win when a message matches several: self-harm needs its own advice.
PRIORITY = ("self_harm",)


@dataclass(frozen=True)
class RedFlag:
    category: str
    start: int
    end: int
    text: str


class _Group:
    """One word group of a combination: phrases and/or spaCy token patterns."""

    def __init__(self, nlp: Any, entries: list[Any]) -> None:
        phrases = [e for e in entries if isinstance(e, str)]
        patterns = [e for e in entries if isinstance(e, list)]
        self._phrases = PhraseMatcher(nlp.vocab, attr="LOWER")
        self._phrases.add("group", list(nlp.tokenizer.pipe(phrases)))
        self._patterns: Matcher | None = None
        if patterns:
            self._patterns = Matcher(nlp.vocab)
            self._patterns.add("group", patterns)

    def __call__(self, doc: Doc) -> list[Span]:
        spans = list(self._phrases(doc, as_spans=True))
        if self._patterns is not None:
            spans += list(self._patterns(doc, as_spans=True))
        return spans


class RedFlagMatcher:
    """Matches messages against the red-flag phrase file."""

    def __init__(self, path: Path = PHRASES_FILE) -> None:
        with path.open(encoding="utf-8") as handle:
            config: dict[str, Any] = yaml.safe_load(handle)
        self._nlp = spacy.blank("en")
        self._phrases = PhraseMatcher(self._nlp.vocab, attr="LOWER")
        # (category, [one matcher per word group]) for every combination
        self._combinations: list[tuple[str, list[_Group]]] = []
        self._unless: dict[str, _Group] = {}
        for category, spec in config.items():
            phrases = spec.get("phrases") or []
            if phrases:
                self._phrases.add(category, list(self._nlp.tokenizer.pipe(phrases)))
            for combination in spec.get("combinations") or []:
                groups = [_Group(self._nlp, group) for group in combination]
                self._combinations.append((category, groups))
            if spec.get("unless"):
                self._unless[category] = _Group(self._nlp, spec["unless"])
        self.categories = tuple(config)

    def find(self, text: str) -> RedFlag | None:
        """The red flag in ``text``, if any."""
        if not text or not text.strip():
            return None
        doc = self._nlp.make_doc(" ".join(text.replace("’", "'").split()))
        found: list[RedFlag] = []
        for match_id, start, end in self._phrases(doc):
            span = doc[start:end]
            found.append(RedFlag(self._nlp.vocab.strings[match_id], span.start_char,
                                 span.end_char, span.text))
        for category, groups in self._combinations:
            spans = [group(doc) for group in groups]
            if all(spans):
                first = min((s for group in spans for s in group), key=lambda s: s.start_char)
                found.append(RedFlag(category, first.start_char, first.end_char, first.text))
        found = [flag for flag in found
                 if flag.category not in self._unless or not self._unless[flag.category](doc)]
        if not found:
            return None
        found.sort(key=lambda flag: (flag.category not in PRIORITY, flag.start))
        return found[0]


@lru_cache(maxsize=1)
def default_matcher() -> RedFlagMatcher:
    return RedFlagMatcher()


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False
)
class RedFlagDetector(GraphComponent):
    """Sets intent ``emergency`` (and a ``red_flag`` entity) when a red flag is found."""

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> RedFlagDetector:
        return cls()

    def __init__(self) -> None:
        self._matcher = default_matcher()

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            flag = self._matcher.find(message.get(TEXT) or "")
            if flag is None:
                continue
            logger.info("Red flag detected (%s)", flag.category)
            ranking = [{INTENT_NAME_KEY: EMERGENCY_INTENT, PREDICTED_CONFIDENCE_KEY: 1.0}]
            ranking += [
                r for r in message.get(INTENT_RANKING_KEY) or []
                if r.get(INTENT_NAME_KEY) != EMERGENCY_INTENT
            ]
            message.set(INTENT, ranking[0], add_to_output=True)
            message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
            entities = list(message.get(ENTITIES) or [])
            entities.append({
                ENTITY_ATTRIBUTE_TYPE: RED_FLAG_ENTITY,
                ENTITY_ATTRIBUTE_VALUE: flag.category,
                ENTITY_ATTRIBUTE_START: flag.start,
                ENTITY_ATTRIBUTE_END: flag.end,
                EXTRACTOR: self.__class__.__name__,
            })
            message.set(ENTITIES, entities, add_to_output=True)
        return messages
