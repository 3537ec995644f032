"""The project's rasa command installs the project's changes to Rasa before Rasa's CLI runs."""

from __future__ import annotations

import sys

import pytest
import rasa.__main__
from rasa.core.processor import MessageProcessor
from rasa.shared.importers.importer import ResponsesSyncImporter

from components import rasa_changes
from scripts import run_rasa


@pytest.fixture()
def rasa_as_shipped(monkeypatch):
    """Rasa's own methods back in place for the test (and after it)."""
    for owner, name, _replacement, static in (*rasa_changes._SWAPS,
                                              *rasa_changes._TRAINING_SWAPS):
        original = rasa_changes.rasa_original(owner, name)
        monkeypatch.setattr(owner, name, staticmethod(original) if static else original)
    seen: dict[str, object] = {}

    def fake_main() -> None:  # what Rasa's CLI would see when it starts
        seen["argv"] = list(sys.argv)
        seen["parse"] = MessageProcessor.parse_message
        seen["nlu_data"] = ResponsesSyncImporter.get_nlu_data

    monkeypatch.setattr(rasa.__main__, "main", fake_main)
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    return seen


def test_run_starts_rasa_with_the_server_changes(rasa_as_shipped):
    assert run_rasa.main(["run", "--port", "5005"]) == 0
    assert rasa_as_shipped["argv"] == ["rasa", "run", "--port", "5005"]
    assert rasa_as_shipped["parse"] is rasa_changes.parse_off_loop
    assert rasa_as_shipped["nlu_data"] is not rasa_changes.nlu_data_without_answers


def test_train_starts_rasa_with_the_training_change(rasa_as_shipped):
    assert run_rasa.main(["train", "--out", "models"]) == 0
    assert rasa_as_shipped["argv"] == ["rasa", "train", "--out", "models"]
    assert rasa_as_shipped["nlu_data"] is rasa_changes.nlu_data_without_answers
    assert rasa_as_shipped["parse"] is not rasa_changes.parse_off_loop


def test_other_commands_run_rasa_unchanged(rasa_as_shipped):
    run_rasa.main(["data", "validate"])
    assert rasa_as_shipped["argv"] == ["rasa", "data", "validate"]
    assert rasa_as_shipped["parse"] is not rasa_changes.parse_off_loop
    assert rasa_as_shipped["nlu_data"] is not rasa_changes.nlu_data_without_answers
