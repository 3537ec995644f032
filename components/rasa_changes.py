"""Every change this project makes to Rasa's own behaviour, each with its reason, in one place.

Nothing here runs on import. ``scripts/run_rasa.py`` (the project's ``rasa`` command: ``make run``,
``make train``, the tests) installs the server changes before ``rasa run`` and the training
change before ``rasa train``; ``tests/unit/test_rasa_changes.py`` checks each against Rasa's own
code.

**Training** (:func:`apply_training`):

* FAQ answers are not training data for this pipeline. Rasa copies the text of every retrieval
  response (``utter_faq/...``) from the domain into the NLU training data, for its
  ``ResponseSelector``, and fingerprints that data, so editing one word of an FAQ answer
  retrained every NLU component. The clinic's classifier predicts the topic
  (``faq/location``), not the answer's words (``components/linear_classifier.py``), so without a
  ``ResponseSelector`` in the pipeline the NLU data is read without those texts: an answer edit
  only repackages the model (its domain) and every component comes from Rasa's training cache.
  With a ``ResponseSelector`` in the pipeline, Rasa's own behaviour is kept.

**Server** (:func:`apply_server`): cheaper ways for the Rasa server to do the same work. Each
swap keeps Rasa's behaviour (same predictions, same accept/refuse rules) and removes work a
py-spy profile of the server under load showed to be wasted (figures in README, "Performance"):

* action server replies are checked with a JSON schema validator built once, instead of
  re-checking the schema itself on every reply (:mod:`components.action_validation`);
* the graph of model components is walked once per node when Rasa picks the part of the graph a
  call needs: Rasa's ``GraphSchema._all_dependencies_schema`` walks every path, so shared
  dependencies are visited again and again on every message and every action prediction;
* spaCy runs only the parts of its pipeline each caller uses. ``SpacyNLP`` (tokens, lemmas and
  vectors for the classifiers) never reads named entities, yet ran spaCy's entity recogniser;
  ``SpacyEntityExtractor`` (PERSON/DATE/TIME for the booking form) reads only the entities, yet
  ran the tagger, lemmatiser and the shared token-to-vector layer again. The recogniser of the
  ``en_core_web_sm`` model has its own token-to-vector layer, so it needs none of the others.
  Training is untouched; the tokens, features and entities at prediction time are identical
  (``tests/unit/test_rasa_changes.py`` compares them with Rasa's own code);
* an event's class is found from its name with a dictionary: Rasa's ``Event.resolve_by_type``
  lists every subclass of ``Event`` (and checks each for being abstract) for every event it reads
  back from the conversation database or from an action server reply;
* a message is understood (spaCy, the classifiers, the response selector) on one worker thread
  instead of on the server's event loop. Rasa runs that model graph synchronously inside the loop,
  so while it parsed one patient's message nothing else moved: a booking turn whose action-server
  reply had arrived waited behind every message parsed in the meantime, at each of its action
  calls. One thread, so the model graph still runs one message at a time, as before; the loop
  meanwhile reads requests, answers, and carries on the conversations waiting on the action
  server or the database (TensorFlow and spaCy release the interpreter lock while they compute).
  The one part of the graph the loop still runs, the dialogue policy (``select_prediction``:
  RulePolicy and its data), shares a single node with the NLU part, ``domain_provider``, which
  only hands out the loaded domain.

**Server, behaviour** (also :func:`apply_server`):

* a response's conditions see the slot values an action passes along with it. Rasa renders the
  responses of a custom action *before* it applies the action's events, so a response sent by
  the action that sets a slot is chosen with the slot's old value. ``action_session_start``
  sets the ``language`` of a conversation that starts with ``{"language": "es"}`` (the widget
  on a Spanish page) and sends the privacy notice in the same action: it passes
  ``language="es"`` with the notice, and the Spanish variation is chosen. Only keyword
  arguments named like one of the conversation's slots count; a response sent without them is
  chosen exactly as Rasa chooses it.
* emergencies are answered while a person has the conversation. A conversation a staff member
  has taken (or is about to take) is paused (Rasa's ``ConversationPaused``: docs/live-chat.md),
  and Rasa predicts nothing for a paused conversation, so a red flag typed during a live chat
  would get no reply until the staff member read it. A paused conversation whose latest message
  has the intent ``emergency`` (the red-flag layer sets it) is handled as if it were not
  paused: the emergency rules run (``action_emergency``: the advice at once, the
  ``flag_emergency`` slot the staff console alerts on) and the conversation stays paused, since
  nothing resumes it. Every other message of a paused conversation gets no reply, as in Rasa.

Both are idempotent.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from rasa.core.channels.channel import UserMessage
from rasa.core.nlg.response import TemplatedNaturalLanguageGenerator
from rasa.core.processor import MessageProcessor
from rasa.engine.graph import GraphSchema
from rasa.nlu.extractors.spacy_entity_extractor import SpacyEntityExtractor
from rasa.nlu.utils.spacy_utils import SpacyModel, SpacyNLP
from rasa.shared.core.events import Event
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.importers.importer import ResponsesSyncImporter
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from spacy.language import Language
from spacy.tokens import Doc

from components.action_validation import use_cached_validator

logger = logging.getLogger(__name__)

ENTITY_PIPE = "ner"


def all_dependencies(self: GraphSchema, targets: list[str]) -> list[str]:
    """Drop-in for ``GraphSchema._all_dependencies_schema``: the targets and every node they
    need, directly or not, each once (Rasa's version lists a node once per path to it; its
    callers only test membership)."""
    required: list[str] = []
    seen: set[str] = set()
    pending = list(reversed(targets))
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        required.append(name)
        node = self.nodes.get(name)
        if node is not None:  # None: an input placeholder, which needs nothing
            pending.extend(reversed(list(node.needs.values())))
    return required


def doc_without_entities(self: SpacyNLP, model: Language, text: str | None) -> Doc:
    """Drop-in for ``SpacyNLP._doc_for_text`` (prediction only): the same tokens, lemmas and
    vectors, without running the entity recogniser."""
    return model(self._preprocess_text(text), disable=[ENTITY_PIPE])


def entity_doc(nlp: Language, text: str) -> Doc:
    """The text (original case) through the entity recogniser only."""
    if ENTITY_PIPE not in nlp.pipe_names:
        return nlp(text)
    return nlp(text, disable=[name for name in nlp.pipe_names if name != ENTITY_PIPE])


def extract_entities(self: SpacyEntityExtractor, messages: list[Message],
                     model: SpacyModel) -> list[Message]:
    """Drop-in for ``SpacyEntityExtractor.process``, parsing with the recogniser only."""
    dimensions = self._config["dimensions"]
    for message in messages:
        doc = entity_doc(model.model, message.get(TEXT))
        found = self.add_extractor_name(self._extract_entities(doc))
        extracted = self.filter_irrelevant_entities(found, dimensions)
        message.set(ENTITIES, message.get(ENTITIES, []) + extracted, add_to_output=True)
    return messages


_EVENT_CLASSES: dict[str, type[Event]] = {}


def event_class(type_name: str, default: type[Event] | None = None) -> type[Event] | None:
    """Drop-in for ``Event.resolve_by_type``: a found class is remembered by its name; names
    Rasa does not know (and its special cases) still take Rasa's own path."""
    found = _EVENT_CLASSES.get(type_name)
    if found is None:
        found = rasa_original(Event, "resolve_by_type")(type_name, default)
        if found is not None and found is not default:
            _EVENT_CLASSES[type_name] = found
    return found


_NLU_THREAD: ThreadPoolExecutor | None = None


def nlu_thread() -> ThreadPoolExecutor:
    """The one thread that runs the NLU model graph (created on first use)."""
    global _NLU_THREAD
    if _NLU_THREAD is None:
        _NLU_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clinic-nlu")
    return _NLU_THREAD


async def parse_off_loop(self: MessageProcessor, message: UserMessage,
                         tracker: DialogueStateTracker | None = None,
                         only_output_properties: bool = True) -> dict[str, Any]:
    """Drop-in for ``MessageProcessor.parse_message``: the same steps, with the model graph
    run on :func:`nlu_thread` while the event loop goes on with other conversations."""
    if self.http_interpreter:  # NLU on another server: already a network await
        return await rasa_original(MessageProcessor, "parse_message")(
            self, message, tracker, only_output_properties)
    if tracker is None:
        tracker = DialogueStateTracker.from_events(message.sender_id, [])
    parse_data = await asyncio.get_running_loop().run_in_executor(
        nlu_thread(), self._parse_message_with_graph, message, tracker, only_output_properties)
    self._update_full_retrieval_intent(parse_data)
    logger.debug("message parsed: intent %s", parse_data.get("intent", {}).get("name"))
    self._check_for_unseen_features(parse_data)
    return parse_data


# ---- training


def uses_response_texts(config: dict[str, Any]) -> bool:
    """Whether a component of the NLU pipeline learns from the answers' texts (Rasa's
    ``ResponseSelector``, or a subclass of it named in the config)."""
    for component in config.get("pipeline") or []:
        name = str(component.get("name", ""))
        if name.rsplit(".", 1)[-1].endswith("ResponseSelector"):
            return True
    return False


def nlu_data_without_answers(self: ResponsesSyncImporter, language: str | None = "en"
                             ) -> TrainingData:
    """Drop-in for ``ResponsesSyncImporter.get_nlu_data``: the NLU data as the files hold it,
    without the retrieval responses Rasa copies in from the domain, unless the pipeline has a
    ``ResponseSelector``."""
    if uses_response_texts(self.get_config()):
        return rasa_original(ResponsesSyncImporter, "get_nlu_data")(self, language)
    return self._importer.get_nlu_data(language)


_TRAINING_SWAPS: tuple[tuple[Any, str, Any, bool], ...] = (
    (ResponsesSyncImporter, "get_nlu_data", nlu_data_without_answers, False),
)


# ---- server: behaviour


async def generate_with_passed_slots(self: TemplatedNaturalLanguageGenerator,
                                     utter_action: str, tracker: DialogueStateTracker,
                                     output_channel: str, **kwargs: Any) -> dict[str, Any] | None:
    """Rasa's ``generate``, with the slot values passed along counting for the conditions."""
    filled_slots = tracker.current_slot_values()
    passed = {name: value for name, value in kwargs.items() if name in filled_slots}
    return self.generate_from_slots(utter_action, {**filled_slots, **passed}, output_channel,
                                    **kwargs)


EMERGENCY_INTENT = "emergency"


def handle_emergencies_while_paused(tracker: DialogueStateTracker) -> bool:
    """Drop-in for ``MessageProcessor._should_handle_message``: Rasa's answer, and also yes for
    a paused conversation whose latest message is an emergency."""
    if rasa_original(MessageProcessor, "_should_handle_message")(tracker):
        return True
    latest = tracker.latest_message
    return latest is not None and (latest.intent or {}).get("name") == EMERGENCY_INTENT


# ---- server

# (class, attribute, replacement, is a static method)
_SWAPS: tuple[tuple[Any, str, Any, bool], ...] = (
    (GraphSchema, "_all_dependencies_schema", all_dependencies, False),
    (SpacyNLP, "_doc_for_text", doc_without_entities, False),
    (SpacyEntityExtractor, "process", extract_entities, False),
    (Event, "resolve_by_type", event_class, True),
    (MessageProcessor, "parse_message", parse_off_loop, False),
    (TemplatedNaturalLanguageGenerator, "generate", generate_with_passed_slots, False),
    (MessageProcessor, "_should_handle_message", handle_emergencies_while_paused, True),
)


_ORIGINALS: dict[tuple[Any, str], Any] = {}


def rasa_original(owner: Any, name: str) -> Any:
    """Rasa's own implementation of a swapped method (for comparing the two in tests)."""
    return _ORIGINALS.get((owner, name), getattr(owner, name))


def _install(swaps: tuple[tuple[Any, str, Any, bool], ...]) -> None:
    for owner, name, replacement, static in swaps:
        current = getattr(owner, name)
        if current is not replacement:
            _ORIGINALS.setdefault((owner, name), current)
            setattr(owner, name, staticmethod(replacement) if static else replacement)
            logger.debug("%s.%s replaced by %s", owner.__name__, name, replacement.__name__)


def apply_server() -> None:
    """Install every server swap (once)."""
    use_cached_validator()
    _install(_SWAPS)


def apply_training() -> None:
    """Install the training change (once)."""
    _install(_TRAINING_SWAPS)
