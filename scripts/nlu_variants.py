"""Compare settings of the intent classifier on the cross-validation folds, quickly.

``rasa test nlu --cross-validation`` (``scripts/cross_validate.py``) trains the whole pipeline
five times per variant. Here each fold is featurized once with the featurizers of
``config.yml`` (Rasa's own components, trained on the fold), and every variant of
``LinearIntentClassifier`` (``components/linear_classifier.py``, the component itself) is
trained and scored on the same features: seconds per variant instead of minutes. The folds are
those of ``scripts/cross_validate.py`` (same seed, stratified on the full intent).

    python -m scripts.nlu_variants                       # the built-in variants
    python -m scripts.nlu_variants --set C=30 --set class_weight=none

Scores per variant: intent accuracy and macro F1 on the fold messages (red-flag phrases
override the intent, as ``RedFlagDetector`` does), FAQ answer accuracy on the FAQ questions,
and, with the ``FallbackClassifier`` threshold of ``config.yml`` applied, the share of off-topic
messages refused and of in-scope messages refused. Exploration only: ``make evaluate`` remains
the measure of record.
"""

from __future__ import annotations

import argparse
import inspect
import logging
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from scripts.cross_validate import FOLD_SEED

logger = logging.getLogger("nlu-variants")

ROOT = Path(__file__).resolve().parent.parent
CLASSIFIER = "components.linear_classifier.LinearIntentClassifier"
VARIANTS: dict[str, dict[str, Any]] = {
    "config.yml": {},
    "C 10": {"C": 10.0},
    "C 30": {"C": 30.0},
    "C 300": {"C": 300.0},
    "no label weights": {"class_weight": None},
}


@dataclass
class Fold:
    train: Any  # TrainingData, featurized
    test: list[Any]  # Messages, featurized
    truth: list[str]  # full intents of the test messages


def pipeline_config(config: Path) -> tuple[list[dict[str, Any]], dict[str, Any], float]:
    """The components before the classifier, the classifier's settings, the fallback threshold."""
    pipeline = yaml.safe_load(config.read_text(encoding="utf-8"))["pipeline"]
    names = [c["name"] for c in pipeline]
    if CLASSIFIER not in names:
        raise SystemExit(f"{config} has no {CLASSIFIER}")
    at = names.index(CLASSIFIER)
    fallback = next((c for c in pipeline if c["name"] == "FallbackClassifier"), {})
    return pipeline[:at], pipeline[at], float(fallback.get("threshold", 0.0))


def component_class(name: str) -> type:
    """A pipeline entry's class: one of Rasa's by its name, or a dotted path to the project's."""
    import importlib  # noqa: PLC0415

    from rasa.engine.recipes.default_components import DEFAULT_COMPONENTS  # noqa: PLC0415

    for cls in DEFAULT_COMPONENTS:
        if cls.__name__ == name:
            return cls
    module, _, attribute = name.rpartition(".")
    return getattr(importlib.import_module(module), attribute)


class Featurizers:
    """The tokenizer and featurizers of the pipeline, created and trained as Rasa's graph does."""

    def __init__(self, components: list[dict[str, Any]], folder: Path) -> None:
        from rasa.engine.graph import ExecutionContext, GraphSchema  # noqa: PLC0415
        from rasa.engine.storage.local_model_storage import LocalModelStorage  # noqa: PLC0415
        from rasa.engine.storage.resource import Resource  # noqa: PLC0415

        storage = LocalModelStorage(folder)
        self.steps: list[Any] = []
        self.model: Any = None
        for index, settings in enumerate(components):
            config = {k: v for k, v in settings.items() if k != "name"}
            cls = component_class(settings["name"])
            context = ExecutionContext(GraphSchema({}), "variants")
            context.node_name = f"{index}_{cls.__name__}"
            component = cls.create({**cls.get_default_config(), **config}, storage,
                                   Resource(context.node_name), context)
            if hasattr(component, "provide"):  # SpacyNLP: the spaCy model everyone reads
                self.model = component.provide()
            self.steps.append(component)

    def _call(self, method: Any, data: Any) -> None:
        if "model" in inspect.signature(method).parameters:
            method(data, model=self.model)
        else:
            method(data)

    def fit(self, training_data: Any) -> None:
        for step in self.steps:
            if hasattr(step, "train") and not hasattr(step, "provide"):
                self._call(step.train, training_data)
            self._call(step.process_training_data, training_data)

    def transform(self, messages: list[Any]) -> None:
        for step in self.steps:
            self._call(step.process, messages)


def folds(components: list[dict[str, Any]], count: int) -> Iterable[Fold]:
    from rasa.shared.nlu.training_data.loading import load_data  # noqa: PLC0415
    from rasa.shared.nlu.training_data.message import Message  # noqa: PLC0415
    from rasa.shared.nlu.training_data.training_data import TrainingData  # noqa: PLC0415
    from sklearn.model_selection import StratifiedKFold  # noqa: PLC0415

    data = load_data(str(ROOT / "data" / "nlu"))
    examples = data.intent_examples
    labels = [e.get_full_intent() for e in examples]
    split = StratifiedKFold(n_splits=count, shuffle=True, random_state=FOLD_SEED)
    for number, (train_index, test_index) in enumerate(split.split(examples, labels)):
        train = TrainingData(training_examples=[Message(data=dict(examples[i].data))
                                                for i in train_index],
                             regex_features=data.regex_features,
                             lookup_tables=data.lookup_tables)
        test = [Message(data={"text": examples[i].get("text")}) for i in test_index]
        with tempfile.TemporaryDirectory() as folder:
            featurizers = Featurizers(components, Path(folder))
            featurizers.fit(train)
            featurizers.transform(test)
        logger.info("fold %d featurized", number + 1)
        yield Fold(train=train, test=test, truth=[labels[i] for i in test_index])


def score(fold_list: list[Fold], settings: dict[str, Any], threshold: float) -> dict[str, float]:
    from rasa.engine.graph import ExecutionContext, GraphSchema  # noqa: PLC0415
    from rasa.engine.storage.local_model_storage import LocalModelStorage  # noqa: PLC0415
    from rasa.engine.storage.resource import Resource  # noqa: PLC0415
    from sklearn.metrics import f1_score  # noqa: PLC0415

    from components.linear_classifier import LinearIntentClassifier  # noqa: PLC0415
    from components.red_flags import default_matcher  # noqa: PLC0415

    matcher = default_matcher()
    truth: list[str] = []
    said: list[str] = []
    answers: list[tuple[str, str | None]] = []
    refusals: list[tuple[bool, bool]] = []  # (off-topic, refused)
    for fold in fold_list:
        with tempfile.TemporaryDirectory() as folder:
            classifier = LinearIntentClassifier.create(
                {**LinearIntentClassifier.get_default_config(), **settings},
                LocalModelStorage(Path(folder)), Resource("classifier"),
                ExecutionContext(GraphSchema({}), "variants"))
            classifier.train(fold.train)
            classifier.process(fold.test)
        for message, full in zip(fold.test, fold.truth, strict=True):
            intent = message.get("intent") or {}
            name, confidence = intent.get("name"), float(intent.get("confidence") or 0.0)
            if matcher.find(message.get("text") or "") is not None:
                name, confidence = "emergency", 1.0
            base = full.split("/")[0]
            truth.append(base)
            said.append(str(name))
            if "/" in full:
                selector = (message.get("response_selector") or {}).get(base) or {}
                answers.append((full, (selector.get("response") or {}).get(
                    "intent_response_key")))
            refused = name == "out_of_scope" or confidence < threshold
            refusals.append((base == "out_of_scope", refused))
    off_topic = [refused for oos, refused in refusals if oos]
    in_scope = [refused for oos, refused in refusals if not oos]
    return {
        "intent accuracy": sum(t == s for t, s in zip(truth, said, strict=True)) / len(truth),
        "macro F1": float(f1_score(truth, said, average="macro", zero_division=0)),
        "FAQ answer": sum(t == s for t, s in answers) / len(answers),
        "off-topic refused": sum(off_topic) / len(off_topic),
        "in-scope refused": sum(in_scope) / len(in_scope),
    }


def parse_setting(text: str) -> tuple[str, Any]:
    name, _, value = text.partition("=")
    if not value:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    parsed = yaml.safe_load(value)
    return name.strip(), None if parsed in ("none", "None") else parsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=ROOT / "config.yml")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--set", type=parse_setting, action="append", default=[],
                        metavar="NAME=VALUE",
                        help="score one variant: config.yml's classifier with these settings")
    parser.add_argument("--threshold", type=float,
                        help="fallback threshold (default: config.yml's FallbackClassifier)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="[variants] %(message)s")
    logger.setLevel(logging.INFO)
    components, classifier, threshold = pipeline_config(args.config)
    base = {k: v for k, v in classifier.items() if k != "name"}
    threshold = threshold if args.threshold is None else args.threshold
    variants = ({"--set " + " ".join(f"{k}={v}" for k, v in args.set): dict(args.set)}
                if args.set else VARIANTS)
    fold_list = list(folds(components, args.folds))
    print(f"{args.folds} folds, fallback threshold {threshold}")
    print(f"{'variant':<28} {'intent':>7} {'macroF1':>8} {'FAQ':>7} {'oos ref':>8} "
          f"{'in ref':>7} {'seconds':>8}")
    for name, changes in variants.items():
        started = time.monotonic()
        result = score(fold_list, {**base, **changes}, threshold)
        print(f"{name:<28} {result['intent accuracy']:>7.3f} {result['macro F1']:>8.3f} "
              f"{result['FAQ answer']:>7.3f} {result['off-topic refused']:>8.3f} "
              f"{result['in-scope refused']:>7.3f} {time.monotonic() - started:>8.1f}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
