"""The intent and FAQ-topic classifier (components/linear_classifier.py), trained on real Rasa
featurizers, read by Rasa's own code: ``utter_faq``, the FallbackClassifier, ``rasa test``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from rasa.core.actions.action import ActionRetrieveResponse
from rasa.core.channels.channel import CollectingOutputChannel
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.classifiers.fallback_classifier import FallbackClassifier
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import (
    CountVectorsFeaturizer,
)
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from components.linear_classifier import LinearIntentClassifier

EXAMPLES = {
    "greet": ["hi", "hello", "hey there", "good morning", "hello there"],
    "faq/location": ["where are you", "what is your address", "where is the clinic",
                     "how do i find you", "address of the clinic please"],
    "faq/opening_hours": ["when are you open", "what are your opening hours",
                          "are you open on saturday", "what time do you close",
                          "opening times please"],
    "book_appointment": ["i want to book", "book an appointment", "can i make an appointment",
                         "schedule a visit", "book me in please"],
}
DOMAIN = Domain.from_dict({
    "intents": ["greet", "faq", "book_appointment"],
    "responses": {"utter_faq/location": [{"text": "We are at 1 Main Street."}],
                  "utter_faq/opening_hours": [{"text": "Mon-Fri 9-5."}]},
    "actions": ["utter_faq"],
})


def examples() -> list[Message]:
    messages = []
    for label, texts in EXAMPLES.items():
        intent, _, topic = label.partition("/")
        for text in texts:
            data = {"text": text, "intent": intent}
            if topic:
                data["intent_response_key"] = label
            messages.append(Message(data=data))
    return messages


class Pipeline:
    """Rasa's tokenizer and two count featurizers (words, character n-grams) and the
    classifier, trained the way Rasa's graph trains them."""

    def __init__(self, folder: Path) -> None:
        self.storage = LocalModelStorage(folder)
        self.tokenizer = WhitespaceTokenizer(WhitespaceTokenizer.get_default_config())
        self.featurizers = [
            CountVectorsFeaturizer.create(
                {**CountVectorsFeaturizer.get_default_config(), **config}, self.storage,
                Resource(name), self._context(name))
            for name, config in (("words", {"max_ngram": 2}),
                                 ("chars", {"analyzer": "char_wb", "min_ngram": 1,
                                            "max_ngram": 4}))]
        self.resource = Resource("classifier")

    @staticmethod
    def _context(name: str) -> ExecutionContext:
        context = ExecutionContext(GraphSchema({}), "test")
        context.node_name = name
        return context

    def train(self) -> LinearIntentClassifier:
        data = TrainingData(training_examples=examples())
        self.tokenizer.process_training_data(data)
        for featurizer in self.featurizers:
            featurizer.train(data)
            featurizer.process_training_data(data)
        classifier = LinearIntentClassifier.create(
            LinearIntentClassifier.get_default_config(), self.storage, self.resource,
            self._context("classifier"))
        classifier.train(data)
        return classifier

    def load(self) -> LinearIntentClassifier:
        return LinearIntentClassifier.load(LinearIntentClassifier.get_default_config(),
                                           self.storage, self.resource,
                                           self._context("classifier"))

    def parse(self, classifier: LinearIntentClassifier, text: str) -> Message:
        message = Message(data={"text": text})
        self.tokenizer.process([message])
        for featurizer in self.featurizers:
            featurizer.process([message])
        classifier.process([message])
        return message


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    return Pipeline(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="module")
def classifier(pipeline: Pipeline) -> LinearIntentClassifier:
    return pipeline.train()


def test_intents_and_faq_topics(pipeline, classifier):
    where = pipeline.parse(classifier, "where exactly is your clinic")
    assert where.get("intent")["name"] == "faq"
    selector = where.get("response_selector")
    assert selector["all_retrieval_intents"] == ["faq"]
    response = selector["faq"]["response"]
    assert response["intent_response_key"] == "faq/location"
    assert response["utter_action"] == "utter_faq/location"
    # the FAQ intent's confidence is the sum of its topics'; the topic's is its share of it
    ranking = where.get("intent_ranking")
    assert [r["name"] for r in ranking][0] == "faq"
    assert sum(r["confidence"] for r in ranking) == pytest.approx(1.0)
    topics = selector["faq"]["ranking"]
    assert [t["intent_response_key"] for t in topics] == ["faq/location", "faq/opening_hours"]
    assert sum(t["confidence"] for t in topics) == pytest.approx(1.0)
    assert pipeline.parse(classifier, "hello hello").get("intent")["name"] == "greet"
    book = pipeline.parse(classifier, "please book me an appointment")
    assert book.get("intent")["name"] == "book_appointment"
    hours = pipeline.parse(classifier, "what time do you open")
    assert hours.get("response_selector")["faq"]["response"]["intent_response_key"] == \
        "faq/opening_hours"


def test_saved_and_loaded_it_predicts_the_same(pipeline, classifier):
    loaded = pipeline.load()
    for text in ("where exactly is your clinic", "hi", "book a visit", "zzz qqq"):
        assert pipeline.parse(loaded, text).as_dict() == pipeline.parse(classifier, text).as_dict()


def test_untrained_it_predicts_nothing(tmp_path):
    empty = Pipeline(tmp_path)
    classifier = empty.load()
    message = empty.parse(classifier, "hi")
    assert message.get("intent") is None and message.get("response_selector") is None


def test_utter_faq_answers_from_its_output(pipeline, classifier):
    """Rasa's ActionRetrieveResponse (the ``utter_faq`` action) reads the chosen topic."""
    parsed = pipeline.parse(classifier, "what is the address of the clinic").as_dict()
    tracker = DialogueStateTracker.from_events("patient", [
        UserUttered(parsed["text"], parsed["intent"], parse_data=parsed)])
    channel = CollectingOutputChannel()
    nlg = TemplatedNaturalLanguageGenerator(DOMAIN.responses)
    events = asyncio.run(ActionRetrieveResponse("utter_faq").run(channel, nlg, tracker, DOMAIN))
    assert [e.text for e in events] == ["We are at 1 Main Street."]


def test_rasas_fallback_reads_its_confidence(pipeline, classifier):
    fallback = FallbackClassifier({**FallbackClassifier.get_default_config(),
                                   "threshold": 0.99, "ambiguity_threshold": 0.0})
    unsure = pipeline.parse(classifier, "qqq zzz xxx")
    assert fallback.process([unsure])[0].get("intent")["name"] == "nlu_fallback"
    lenient = FallbackClassifier({**FallbackClassifier.get_default_config(),
                                  "threshold": 0.01, "ambiguity_threshold": 0.0})
    sure = pipeline.parse(classifier, "where is the clinic")
    assert lenient.process([sure])[0].get("intent")["name"] == "faq"
