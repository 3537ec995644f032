"""The project's changes to Rasa (components/rasa_changes.py), each checked against Rasa's code:
the server's cheaper code paths give exactly Rasa's results; training reads FAQ answers only
when the pipeline learns from them."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml
from rasa.core.channels.channel import UserMessage
from rasa.core.nlg.response import TemplatedNaturalLanguageGenerator
from rasa.core.processor import MessageProcessor
from rasa.engine.graph import GraphSchema, SchemaNode
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.extractors.spacy_entity_extractor import SpacyEntityExtractor
from rasa.nlu.featurizers.dense_featurizer.spacy_featurizer import SpacyFeaturizer
from rasa.nlu.tokenizers.spacy_tokenizer import SpacyTokenizer
from rasa.nlu.utils.spacy_utils import SpacyNLP
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ConversationPaused,
    Event,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.importers.importer import ResponsesSyncImporter, TrainingDataImporter
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.utils.common import all_subclasses

from components import rasa_changes
from components.rasa_changes import (
    all_dependencies,
    doc_without_entities,
    event_class,
    extract_entities,
)
from tests.loop_ticks import LoopTicks

ROOT = Path(__file__).resolve().parents[2]
CONFIG = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))
SPACY = next(c for c in CONFIG["pipeline"] if c["name"] == "SpacyNLP")
DIMENSIONS = next(c for c in CONFIG["pipeline"]
                  if c["name"] == "SpacyEntityExtractor")["dimensions"]


def node(*needs: str) -> SchemaNode:
    return SchemaNode(needs={f"i{n}": need for n, need in enumerate(needs)}, uses=SpacyNLP,
                      constructor_name="create", fn="process", config={})


def rasa_dependencies(schema: GraphSchema, targets: list[str]) -> list[str]:
    return rasa_changes.rasa_original(GraphSchema, "_all_dependencies_schema")(schema, targets)


def test_diamond_graph_each_node_once():
    schema = GraphSchema({"a": node(), "b": node("a"), "c": node("a", "inputs"),
                          "d": node("b", "c"), "e": node("d", "d"), "lonely": node()})
    ours = all_dependencies(schema, ["e"])
    assert sorted(ours) == ["a", "b", "c", "d", "e", "inputs"]
    assert len(ours) == len(set(ours))
    assert set(rasa_dependencies(schema, ["e"])) == set(ours)
    assert len(rasa_dependencies(schema, ["e"])) > len(ours)  # Rasa lists "a" once per path


def test_same_nodes_as_rasa_for_every_target_of_the_clinic_graph():
    recipe = DefaultV1Recipe()
    schema = recipe.graph_config_for_recipe(CONFIG, {}).predict_schema
    assert len(schema.nodes) > 15
    for target in schema.nodes:
        assert set(all_dependencies(schema, [target])) == set(rasa_dependencies(schema, [target]))
    everything = list(schema.nodes)
    assert set(all_dependencies(schema, everything)) == set(rasa_dependencies(schema, everything))
    assert rasa_changes.GraphSchema.minimal_graph_schema(schema, everything) == schema


def texts_from_data(step: int = 7) -> list[str]:
    texts: list[str] = []
    for path in sorted((ROOT / "data" / "nlu").glob("*.yml")):
        for block in yaml.safe_load(path.read_text(encoding="utf-8"))["nlu"]:
            for line in block.get("examples", "").splitlines():
                text = line.strip()[2:].strip()
                if text:
                    texts.append(text)
    return texts[::step] + [
        "I'm Maria Lopez, could I come next Tuesday afternoon at 3pm?",
        "my name is John O'Neill and I'd like the first appointment on Monday the 3rd",
        "  ", "???", "Ünïcödé and emoji 🤕 headache",
    ]


@pytest.fixture(scope="module")
def spacy_model():
    return SpacyNLP.load_model(SPACY["model"])


def features(spacy_model, text: str, doc_for_text) -> dict:
    nlp = SpacyNLP(spacy_model, {**SpacyNLP.get_default_config(), **SPACY})
    tokenizer = SpacyTokenizer(SpacyTokenizer.get_default_config())
    featurizer = SpacyFeaturizer({**SpacyFeaturizer.get_default_config(), "pooling": "mean"},
                                 "featurizer")
    message = Message(data={TEXT: text})
    original = SpacyNLP._doc_for_text
    SpacyNLP._doc_for_text = doc_for_text
    try:
        nlp.process([message], spacy_model)
    finally:
        SpacyNLP._doc_for_text = original
    tokenizer.process([message])
    featurizer.process([message])
    sequence, sentence = message.get_dense_features(TEXT, ["featurizer"])
    return {"tokens": [(t.text, t.start, t.end, t.lemma, t.get("pos")) for t in
                       message.get("text_tokens")],
            "sequence": sequence.features if sequence else None,
            "sentence": sentence.features if sentence else None}


def test_tokens_lemmas_and_vectors_identical(spacy_model):
    rasa = rasa_changes.rasa_original(SpacyNLP, "_doc_for_text")
    texts = texts_from_data()
    assert len(texts) > 200
    for text in texts:
        expected, ours = features(spacy_model, text, rasa), features(spacy_model, text,
                                                                     doc_without_entities)
        assert ours["tokens"] == expected["tokens"], text
        for kind in ("sequence", "sentence"):
            if expected[kind] is None:
                assert ours[kind] is None, text
            else:
                assert np.array_equal(ours[kind], expected[kind]), text


def test_entities_identical(spacy_model):
    extractor = SpacyEntityExtractor({**SpacyEntityExtractor.get_default_config(),
                                      "dimensions": DIMENSIONS})
    rasa = rasa_changes.rasa_original(SpacyEntityExtractor, "process")
    found = 0
    for text in texts_from_data(step=3):
        expected = rasa(extractor, [Message(data={TEXT: text})], spacy_model)[0]
        ours = extract_entities(extractor, [Message(data={TEXT: text})], spacy_model)[0]
        assert ours.get(ENTITIES, []) == expected.get(ENTITIES, []), text
        found += len(ours.get(ENTITIES, []))
    assert found >= 20  # the comparison saw names, dates and times, not only empty lists


def test_event_classes_found_as_rasa_finds_them(monkeypatch):
    monkeypatch.setattr(rasa_changes, "_EVENT_CLASSES", {})
    rasa = rasa_changes.rasa_original(Event, "resolve_by_type")
    names = {cls.type_name for cls in all_subclasses(Event)}
    assert {"user", "bot", "action", "slot", "active_loop", "session_started"} <= names
    for _ in range(2):  # the second round answers from the dictionary
        for name in names:
            assert event_class(name) is rasa(name)
    assert event_class("topic") is None
    assert event_class("no_such_event", default=UserUttered) is UserUttered
    with pytest.raises(ValueError, match="Unknown event name"):
        event_class("no_such_event")
    assert "no_such_event" not in rasa_changes._EVENT_CLASSES
    events = [{"event": "user", "text": "hi", "parse_data": {"intent": {"name": "greet"}}},
              {"event": "slot", "name": "patient_name", "value": "Maria"}]
    assert [type(Event.from_parameters(e)) for e in events] == [UserUttered, SlotSet]


def test_apply_installs_each_swap_once(monkeypatch):
    for owner, name, _, static in rasa_changes._SWAPS:
        original = rasa_changes.rasa_original(owner, name)
        monkeypatch.setattr(owner, name, staticmethod(original) if static else original)
    rasa_changes.apply_server()
    rasa_changes.apply_server()
    assert Event.resolve_by_type is event_class
    assert Event.from_parameters({"event": "action", "name": "action_listen"}).type_name == "action"
    assert GraphSchema._all_dependencies_schema is all_dependencies
    assert SpacyNLP._doc_for_text is doc_without_entities
    assert SpacyEntityExtractor.process is extract_entities
    assert MessageProcessor.parse_message is rasa_changes.parse_off_loop
    assert TemplatedNaturalLanguageGenerator.generate is rasa_changes.generate_with_passed_slots
    assert MessageProcessor._should_handle_message is \
        rasa_changes.handle_emergencies_while_paused
    assert rasa_changes.rasa_original(SpacyNLP, "_doc_for_text") is not doc_without_entities


class SlowGraph:
    """A stand-in for the model graph: answers after a pause, noting the thread it ran on."""

    def __init__(self) -> None:
        self.threads: list[str] = []

    def run(self, inputs: dict, targets: list[str]) -> dict:
        self.threads.append(threading.current_thread().name)
        time.sleep(0.3)
        message = inputs["__message__"][0]
        parsed = Message(data={TEXT: message.text,
                               "intent": {"name": "faq", "confidence": 0.9},
                               "entities": [],
                               "response_selector": {
                                   "all_retrieval_intents": ["faq"],
                                   "faq": {"response": {"intent_response_key":
                                                        "faq/what_is_acupuncture"}}}},
                         output_properties={TEXT, "intent", "entities", "response_selector"})
        return {targets[0]: [parsed]}


def processor_with(graph: SlowGraph):
    processor = object.__new__(MessageProcessor)
    processor.http_interpreter = None
    processor.graph_runner = graph
    processor.model_metadata = SimpleNamespace(nlu_target="run_RegexMessageHandler")
    processor.domain = Domain.empty()
    return processor


def test_parse_runs_the_model_off_the_event_loop_with_rasas_result():
    rasa_parse = rasa_changes.rasa_original(MessageProcessor, "parse_message")
    message = UserMessage("what is acupuncture?", sender_id="patient-1")

    async def scenario() -> tuple[dict, dict, int, list[str]]:
        graph = SlowGraph()
        processor = processor_with(graph)
        expected = await rasa_parse(processor, message)
        async with LoopTicks() as ticks:
            ours = await rasa_changes.parse_off_loop(processor, message)
        return expected, ours, ticks.count, graph.threads

    expected, ours, ticks, threads = asyncio.run(scenario())
    assert ours == expected
    assert ours["intent"]["full_retrieval_intent_name"] == "faq/what_is_acupuncture"
    assert threads[0] == threading.current_thread().name  # Rasa: on the loop's own thread
    assert threads[1].startswith("clinic-nlu")
    assert ticks >= 10  # the loop kept running during the 0.3 s parse (it stalled under Rasa's)


def test_parse_with_an_nlu_server_keeps_rasas_path():
    class RemoteNLU:
        async def parse(self, message: UserMessage) -> dict:
            return {"text": message.text, "intent": {"name": "greet", "confidence": 1.0},
                    "entities": []}

    processor = processor_with(SlowGraph())
    processor.http_interpreter = RemoteNLU()
    parsed = asyncio.run(rasa_changes.parse_off_loop(processor, UserMessage("hi")))
    assert parsed["intent"]["name"] == "greet"
    assert processor.graph_runner.threads == []


def test_the_loop_and_the_nlu_thread_share_only_the_domain_provider():
    """The dialogue policy still runs on the event loop while the NLU thread parses: the two
    parts of the graph may only share nodes that hold no per-call state."""
    config = DefaultV1Recipe().graph_config_for_recipe(CONFIG, {})
    schema = config.predict_schema
    nlu = set(schema.minimal_graph_schema([config.nlu_target]).nodes)
    core = set(schema.minimal_graph_schema([config.core_target]).nodes)
    assert len(nlu) > 10 and "run_RulePolicy0" in core
    assert nlu & core == {"domain_provider"}


# ---- training: FAQ answers are not NLU training data without a ResponseSelector ------------

def write_project(folder: Path, answer: str, selector: bool) -> TrainingDataImporter:
    folder.mkdir(parents=True, exist_ok=True)
    pipeline = [{"name": "WhitespaceTokenizer"}, {"name": "CountVectorsFeaturizer"},
                {"name": "components.linear_classifier.LinearIntentClassifier"}]
    if selector:
        pipeline.append({"name": "ResponseSelector", "retrieval_intent": "faq"})
    (folder / "config.yml").write_text(yaml.safe_dump(
        {"recipe": "default.v1", "language": "en", "pipeline": pipeline,
         "policies": [{"name": "RulePolicy"}]}))
    (folder / "domain.yml").write_text(yaml.safe_dump(
        {"version": "3.1", "intents": ["greet", "faq"],
         "responses": {"utter_faq/location": [{"text": answer}],
                       "utter_greet": [{"text": "Hello"}]}}))
    (folder / "nlu.yml").write_text(yaml.safe_dump({"version": "3.1", "nlu": [
        {"intent": "greet", "examples": "- hi\n- hello\n"},
        {"intent": "faq/location", "examples": "- where are you\n- your address\n"}]}))
    return TrainingDataImporter.load_from_config(
        str(folder / "config.yml"), str(folder / "domain.yml"), [str(folder / "nlu.yml")])


def nlu_fingerprint(folder: Path, answer: str, selector: bool = False) -> str:
    return write_project(folder, answer, selector).get_nlu_data().fingerprint()


def test_an_faq_answer_edit_leaves_the_nlu_data_unchanged(tmp_path, monkeypatch):
    rasa_get = rasa_changes.rasa_original(ResponsesSyncImporter, "get_nlu_data")
    monkeypatch.setattr(ResponsesSyncImporter, "get_nlu_data", rasa_get)
    # Rasa's own importer: the answer's words are NLU training data (the reason for the change)
    assert nlu_fingerprint(tmp_path / "a", "We are at 1 Main St.") != \
        nlu_fingerprint(tmp_path / "b", "We are at 2 Main St.")
    rasa_changes.apply_training()
    assert ResponsesSyncImporter.get_nlu_data is rasa_changes.nlu_data_without_answers
    assert nlu_fingerprint(tmp_path / "c", "We are at 1 Main St.") == \
        nlu_fingerprint(tmp_path / "d", "We are at 2 Main St.")
    data = write_project(tmp_path / "e", "We are at 1 Main St.", False).get_nlu_data()
    assert data.responses == {}
    assert sorted(e.get_full_intent() for e in data.intent_examples) == [
        "faq/location", "faq/location", "greet", "greet"]
    assert data.retrieval_intents == {"faq"}


def test_with_a_response_selector_the_answers_stay_training_data(tmp_path, monkeypatch):
    monkeypatch.setattr(ResponsesSyncImporter, "get_nlu_data",
                        rasa_changes.nlu_data_without_answers)
    assert nlu_fingerprint(tmp_path / "a", "We are at 1 Main St.", selector=True) != \
        nlu_fingerprint(tmp_path / "b", "We are at 2 Main St.", selector=True)
    data = write_project(tmp_path / "c", "We are at 1 Main St.", True).get_nlu_data()
    assert "utter_faq/location" in data.responses
    assert rasa_changes.uses_response_texts({"pipeline": [{"name": "ResponseSelector"}]})
    assert not rasa_changes.uses_response_texts({"pipeline": [{"name": "DIETClassifier"}]})


def test_a_response_is_chosen_with_the_slots_passed_along_and_otherwise_as_rasa_chooses():
    """Rasa's generate ignores a slot value passed with the response (the action that sets
    the slot has not had its events applied yet); the project's takes it for the conditions.
    Without one, both choose the same variation."""
    responses = {"utter_hello": [
        {"condition": [{"type": "slot", "name": "language", "value": "es"}], "text": "Hola"},
        {"text": "Hello"}]}
    domain = Domain.from_dict({"slots": {"language": {
        "type": "categorical", "values": ["en", "es"], "initial_value": "en",
        "mappings": [{"type": "custom"}]}}, "responses": responses})
    tracker = DialogueStateTracker.from_events("s", [], slots=domain.slots)
    nlg = TemplatedNaturalLanguageGenerator(responses)
    original = rasa_changes.rasa_original(TemplatedNaturalLanguageGenerator, "generate")

    def run(generate, **kwargs):
        return asyncio.run(generate(nlg, "utter_hello", tracker, "rest", **kwargs))["text"]

    assert run(original) == run(rasa_changes.generate_with_passed_slots) == "Hello"
    assert run(original, language="es") == "Hello"  # Rasa: the slot's current value only
    assert run(rasa_changes.generate_with_passed_slots, language="es") == "Hola"
    tracker.update(SlotSet("language", "es"))
    assert run(original) == run(rasa_changes.generate_with_passed_slots) == "Hola"
    # a keyword argument that is not a slot changes nothing
    assert run(rasa_changes.generate_with_passed_slots, name="es") == "Hola"


def paused_tracker(intent: str, paused: bool = True) -> DialogueStateTracker:
    events = [ActionExecuted("action_listen")]
    if paused:
        events.append(ConversationPaused())
    events.append(UserUttered("text", intent={"name": intent, "confidence": 1.0}))
    return DialogueStateTracker.from_events("patient-1", events)


@pytest.mark.parametrize(("intent", "paused", "handled"), [
    ("greet", False, True),
    ("emergency", False, True),
    ("restart", True, True),  # Rasa's own exception
    ("greet", True, False),  # a person has it: no bot reply
    ("request_human", True, False),
    ("emergency", True, True),  # the change: emergencies first, also while paused
])
def test_a_paused_conversation_is_handled_only_for_an_emergency(intent, paused, handled):
    tracker = paused_tracker(intent, paused)
    rasa_says = rasa_changes.rasa_original(MessageProcessor, "_should_handle_message")(tracker)
    assert rasa_changes.handle_emergencies_while_paused(tracker) is handled
    if intent != "emergency" or not paused:
        assert rasa_says is handled  # everything else exactly as Rasa decides


def test_rasas_prediction_loop_asks_should_handle_message_each_step():
    """The change works through Rasa's prediction loop asking ``_should_handle_message``
    before each prediction (rasa/core/processor.py); the loop ends at action_listen, so the
    emergency rule runs once and nothing resumes the conversation."""
    import inspect

    source = inspect.getsource(MessageProcessor._run_prediction_loop)
    assert "self._should_handle_message(tracker)" in source
    tracker = paused_tracker("emergency")
    tracker.update(ActionExecuted("action_emergency"))
    tracker.update(SlotSet("flag_emergency", True))
    assert tracker.is_paused()
