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

    def fake_rasa(*args: str) -> None:
        runs.append(args)
        out = Path(args[args.index("--out") + 1])
        out.mkdir(parents=True)
        (out / "intent_report.json").write_text("{}")

    monkeypatch.setattr(evaluate, "rasa", fake_rasa)
    evaluate.cross_validate("clinic", config, 5)
    evaluate.cross_validate("clinic", config, 5, reuse=True)
    assert len(runs) == 1
    evaluate.cross_validate("clinic", config, 5)  # without --reuse-cv: runs again
    assert len(runs) == 2
    (root / "data" / "nlu" / "faq.yml").write_text("nlu: [{intent: greet, examples: '- hi'}]\n")
    evaluate.cross_validate("clinic", config, 5, reuse=True)
    assert len(runs) == 3
