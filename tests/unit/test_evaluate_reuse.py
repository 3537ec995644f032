"""`make evaluate EVALUATE_ARGS=--reuse-cv` keeps a cross-validation only for the same inputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts import evaluate

CONFIG = """language: en
pipeline:
  - name: WhitespaceTokenizer
  - name: DIETClassifier
    epochs: 100
policies:
  - name: RulePolicy
"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "data" / "nlu").mkdir(parents=True)
    (tmp_path / "data" / "nlu" / "faq.yml").write_text("nlu: []\n")
    monkeypatch.setattr(evaluate, "ROOT", tmp_path)
    monkeypatch.setattr(evaluate, "RESULTS", tmp_path / "results")
    config = tmp_path / "config.yml"
    config.write_text(CONFIG)
    return tmp_path, config


def test_policies_do_not_matter_pipeline_data_and_folds_do(project):
    root, config = project
    first = evaluate.nlu_inputs(config, 5)
    config.write_text(CONFIG.replace("RulePolicy", "RulePolicy\n  - name: TEDPolicy"))
    assert evaluate.nlu_inputs(config, 5) == first
    assert evaluate.nlu_inputs(config, 2) != first
    config.write_text(CONFIG.replace("epochs: 100", "epochs: 200"))
    assert evaluate.nlu_inputs(config, 5) != first
    config.write_text(CONFIG)
    (root / "data" / "nlu" / "faq.yml").write_text("nlu: [{intent: greet, examples: '- hi'}]\n")
    assert evaluate.nlu_inputs(config, 5) != first


def test_reuses_only_a_matching_earlier_run(project, monkeypatch):
    root, config = project
    runs: list[tuple[str, ...]] = []

    def fake_run(command: list[str]) -> None:
        assert command[1:3] == ["-m", "scripts.cross_validate"]  # the seeded folds
        runs.append(tuple(command))
        out = Path(command[command.index("--out") + 1])
        out.mkdir(parents=True)
        (out / "intent_report.json").write_text("{}")

    monkeypatch.setattr(evaluate, "run_quietly", fake_run)
    evaluate.cross_validate("clinic", config, 5)
    evaluate.cross_validate("clinic", config, 5, reuse=True)
    assert len(runs) == 1
    evaluate.cross_validate("clinic", config, 5)  # without --reuse-cv: runs again
    assert len(runs) == 2
    (root / "data" / "nlu" / "faq.yml").write_text("nlu: [{intent: greet, examples: '- hi'}]\n")
    evaluate.cross_validate("clinic", config, 5, reuse=True)
    assert len(runs) == 3


def test_folds_are_the_same_on_every_run_and_differ_without_the_seed(monkeypatch):
    from rasa.nlu.test import generate_folds
    from rasa.shared.nlu.training_data.message import Message
    from rasa.shared.nlu.training_data.training_data import TrainingData
    from sklearn import model_selection

    from scripts import cross_validate

    data = TrainingData([Message(data={"text": f"{intent} {n}", "intent": intent})
                         for intent in ("greet", "faq", "inform") for n in range(20)])

    def test_sets() -> list[list[str]]:
        return [sorted(m.get("text") for m in test.intent_examples)
                for _, test in generate_folds(5, data)]

    unseeded = [test_sets() for _ in range(3)]
    assert unseeded[0] != unseeded[1] or unseeded[1] != unseeded[2]  # Rasa's own: random
    monkeypatch.setattr(model_selection, "StratifiedKFold", model_selection.StratifiedKFold)
    cross_validate.use_seeded_folds()
    first = test_sets()
    assert test_sets() == first
    assert len(first) == 5 and all(len(fold) == 12 for fold in first)
    assert sorted(t for fold in first for t in fold) == sorted(
        m.get("text") for m in data.intent_examples)  # every example tested exactly once


def test_the_fold_seed_is_part_of_the_inputs(project, monkeypatch):
    _, config = project
    first = evaluate.nlu_inputs(config, 5)
    monkeypatch.setattr(evaluate, "FOLD_SEED", 1)
    assert evaluate.nlu_inputs(config, 5) != first
