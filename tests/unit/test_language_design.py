"""scripts/language_design.py's data split, routing and report (no model is trained here)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from scripts import language_design as design
from scripts.evaluate import SetResult

ROOT = Path(__file__).resolve().parents[2]
ENGLISH = """version: "3.1"
nlu:
- intent: faq/location
  examples: |
    - where is the clinic located
    - what is the address of the clinic
    - how do i find your office
- intent: greet
  examples: |
    - hello there
    - good morning
"""
SPANISH = """version: "3.1"
nlu:
- intent: faq/location
  metadata:
    language: es
  examples: |
    - dónde queda la clínica
    - cuál es la dirección de la clínica
    - cómo llego a su consultorio
- intent: greet
  metadata:
    language: es
  examples: |
    - hola buenas
    - buenos días
"""
FOREIGN = """version: "3.1"
nlu:
- intent: other_language
  examples: |
    - Bonjour, je voudrais prendre rendez-vous avec le docteur
    - Guten Morgen, ich habe seit Tagen Kopfschmerzen
"""


@pytest.fixture
def nlu(tmp_path) -> Path:
    folder = tmp_path / "nlu"
    (folder / "es").mkdir(parents=True)
    (folder / "faq.yml").write_text(ENGLISH)
    (folder / "other_language.yml").write_text(FOREIGN)
    (folder / "es" / "faq.yml").write_text(SPANISH)
    return folder


def names(files: list[Path], root: Path) -> list[str]:
    return sorted(f.relative_to(root).as_posix() for f in files)


def test_each_model_gets_its_language_and_both_the_language_neutral_file(nlu):
    files = design.training_files(nlu)
    assert names(files["one"], nlu) == ["es/faq.yml", "faq.yml", "other_language.yml"]
    assert names(files["en"], nlu) == ["faq.yml", "other_language.yml"]
    assert names(files["es"], nlu) == ["es/faq.yml", "other_language.yml"]


def test_the_data_is_copied_before_training(nlu, tmp_path):
    folders = design.copy_data(nlu, tmp_path / "work")
    assert (folders["es"] / "es" / "faq.yml").read_text() == SPANISH
    assert not (folders["en"] / "es").exists()
    (nlu / "faq.yml").write_text("changed while the script runs")
    assert (folders["one"] / "faq.yml").read_text() == ENGLISH


def test_the_language_neutral_files_exist():
    for name in design.SHARED:
        assert (design.NLU / name).exists(), name


@pytest.fixture(scope="module")
def router(tmp_path_factory) -> design.Router:
    root = tmp_path_factory.mktemp("data")
    (root / "es").mkdir()
    (root / "faq.yml").write_text(ENGLISH)
    (root / "other_language.yml").write_text(FOREIGN)
    (root / "es" / "faq.yml").write_text(SPANISH)
    return design.Router.trained(root, tmp_path_factory.mktemp("router"))


@pytest.mark.parametrize(("text", "language"), [
    ("en español por favor", "es"),
    ("in English please", "en"),
    ("hola", "es"),
    ("¿dónde queda la clínica?", "es"),
    ("cuál es la dirección de la clínica", "es"),
    ("where is the clinic located", "en"),
    ("ok", None),
    ("Maria Lopez", None),
])
def test_the_router_decides_as_the_language_layer_does(router, text, language):
    assert router.decide(text) == language
    assert text in router.seconds


class FakeParser:
    def __init__(self, name: str) -> None:
        self.name = name
        self.texts: list[str] = []

    async def parse_message(self, text: str) -> dict:
        self.texts.append(text)
        return {"text": text, "model": self.name}


def test_undecided_messages_go_to_the_conversations_language(router):
    parsers = {"en": FakeParser("en"), "es": FakeParser("es"), "one": FakeParser("one")}
    spanish_conversation = design.RoutedAgent(router, parsers, undecided="es")
    new_conversation = design.RoutedAgent(router, parsers, undecided="en")
    assert asyncio.run(spanish_conversation.parse_message("ok"))["model"] == "es"
    assert asyncio.run(new_conversation.parse_message("ok"))["model"] == "en"
    assert asyncio.run(new_conversation.parse_message("hola buenas"))["model"] == "es"
    assert parsers["one"].texts == []


def test_a_parse_is_timed_once_and_reused():
    parser = design.TimedParser(FakeParser("one"))
    first = asyncio.run(parser.parse_message("hello"))
    assert asyncio.run(parser.parse_message("hello")) is first
    assert parser.agent.texts == ["hello"] and set(parser.seconds) == {"hello"}


def test_routing_shares():
    routing = design.Routing.of(["es", "es", None, "en"], "es")
    assert (routing.same, routing.other, routing.undecided) == (2, 1, 1)
    assert routing.share(routing.other) == 0.25


def test_the_probe_is_an_nlu_file_of_the_domains_intents(tmp_path):
    from rasa.shared.nlu.training_data.loading import load_data

    examples = load_data(str(design.probe_file(tmp_path))).intent_examples
    assert sorted((m.get("intent_response_key") or m.get("intent"), m.get("text"))
                  for m in examples) == sorted(design.PROBE)
    domain = yaml.safe_load((ROOT / "domain.yml").read_text())
    responses = set(domain.get("responses") or {})
    for intent, _ in design.PROBE:
        assert intent.split("/")[0] in domain["intents"], intent
        if "/" in intent:
            assert f"utter_{intent}" in responses, intent


def test_the_whitespace_pipeline_has_no_spacy(tmp_path):
    assert design.spanish_config("same", tmp_path) == design.CONFIG
    settings = yaml.safe_load(design.spanish_config("whitespace", tmp_path).read_text())
    steps = [step["name"] for step in settings["pipeline"]]
    assert "WhitespaceTokenizer" in steps and not [s for s in steps if "Spacy" in s]
    original = yaml.safe_load(design.CONFIG.read_text())
    assert len(steps) == len(original["pipeline"]) - 2
    assert settings["policies"] == original["policies"]


def test_the_docs_keep_what_is_outside_the_markers(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text(f"# Title\n\nwhy\n\n{design.MARK_START}\nold\n{design.MARK_END}\n\nend\n")
    design.write_docs(["| new |"], doc)
    assert doc.read_text() == (f"# Title\n\nwhy\n\n{design.MARK_START}\n| new |\n"
                               f"{design.MARK_END}\n\nend\n")
    doc.write_text("no markers")
    with pytest.raises(SystemExit):
        design.write_docs(["x"], doc)


def result(name: str, accuracy: float) -> SetResult:
    return SetResult(name=name, examples=10, intent_accuracy=accuracy, answer_accuracy=1.0,
                     macro_f1=0.9, oos_recall=1.0, oos_examples=2, false_refusals=0.0,
                     in_scope_examples=8)


def test_the_report_has_every_set_design_and_cost():
    measured = design.Measured(
        state={"commit": "abc1234", "uncommitted": "none", "data_sha256": "0" * 12},
        spanish_pipeline="same", examples={"one": 30, "en": 20, "es": 12},
        train_seconds={"one": 10.0, "en": 7.0, "es": 3.0},
        size_mb={"one": 4.0, "en": 3.0, "es": 1.5},
        sets={"blind (es)": {d: result("blind (es)", 0.9) for d in design.DESIGNS}},
        routing={"blind (es)": design.Routing(10, same=8, other=1, undecided=1)},
        latency_ms={"one model": (17.0, 24.0), "router": (16.0, 22.0)},
        memory_mb={"one model": {"before": 500, "loaded": 650, "parsed": 700, "peak": 700},
                   "router": {"before": 500, "loaded": 740, "parsed": 780, "peak": 780}},
        misrouted=[("blind (es)", "adios", "en")])
    text = "\n".join(design.tables(measured))
    assert "| blind (es) | 10 | intent accuracy | 90.0% | 90.0% | 90.0% |" in text
    assert "| blind (es) | 10 | 80.0% | 10.0% (1) | 10.0% (1) |" in text
    assert "| training time (from scratch) | 10 s | 7 s + 3 s = 10 s |" in text
    assert "650 MiB (+150)" in text and "740 MiB (+240)" in text
    assert "| blind (es) | adios | en |" in text
