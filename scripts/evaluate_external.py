"""The model on text no one on the project wrote: public data sets in ``tests/external/``.

Evaluation only: nothing in ``tests/external/`` is ever trained on (``tests/external/README.md``
gives each set's source, licence and selection). Every message is parsed as the Rasa server
parses it (fallback and red-flag layer included), with the model ``scripts/evaluate.py`` loaded.

* **off-topic** (HWU64, SNIPS): the assistant must refuse (``out_of_scope`` or ``nlu_fallback``);
  anything else (an FAQ answer, a clinic fact, the booking form, an alarm) is a failure;
* **medical questions** (MedQuAD, NIH consumer health questions): a question the article does not
  answer must not get an FAQ answer (nor start the booking form); the kind answer is
  ``ask_other_medical`` ("the clinic's information doesn't cover that"), and the no-diagnosis /
  no-medication answers are kind too; the few the article answers must get the FAQ;
* **emergencies** (written blind to the red-flag list): every current emergency must raise the
  alarm (intent ``emergency``); past or resolved events, a relative's history, negated symptoms
  and ordinary headaches should not.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
EXTERNAL = ROOT / "tests" / "external"
# What the patient sees as "I can't help with that": the out-of-scope reply, the rephrase
# request, and "I can only answer in English" (the language layer also takes gibberish).
# scripts/evaluate.py scores the held-out sets with the same set.
REFUSALS = {"out_of_scope", "nlu_fallback", "other_language"}
KIND_MEDICAL = {"ask_other_medical", "ask_diagnosis", "ask_medication"}
PAST_KINDS = ("past_resolved", "relative_history")
GOAL_OFF_TOPIC = 0.03  # the goal; the floor (Floors) is what CI holds today


@dataclass(frozen=True)
class ExternalMessage:
    text: str
    label: str
    kind: str  # category / kind / source intent
    said: str  # intent after fallback and red flags


@dataclass
class Floors:
    """What ``make test`` accepts on the external sets (README, "Knowing its limits").

    The issue's goal for off-topic messages is 3%; the model answers 3.9% of them (down from 27%),
    so the floor keeps today's level with a little room instead of claiming the goal.
    """

    off_topic_answered: float = 0.05
    medical_faq: float = 0.05
    emergency_recall: float = 1.0
    past_false_alarms: float = 0.10


@dataclass
class ExternalResult:
    off_topic: dict[str, list[ExternalMessage]] = field(default_factory=dict)  # set -> messages
    medical: list[ExternalMessage] = field(default_factory=list)
    emergencies: list[ExternalMessage] = field(default_factory=list)

    # ---- off-topic
    def off_topic_all(self) -> list[ExternalMessage]:
        return [m for messages in self.off_topic.values() for m in messages]

    @staticmethod
    def answered(messages: list[ExternalMessage]) -> list[ExternalMessage]:
        return [m for m in messages if m.said not in REFUSALS]

    # ---- medical
    def not_covered(self) -> list[ExternalMessage]:
        return [m for m in self.medical if m.label == "not_covered"]

    def covered(self) -> list[ExternalMessage]:
        return [m for m in self.medical if m.label == "covered"]

    # ---- emergencies
    def current(self) -> list[ExternalMessage]:
        return [m for m in self.emergencies if m.label == "emergency"]

    def not_emergencies(self, kinds: tuple[str, ...] | None = None) -> list[ExternalMessage]:
        return [m for m in self.emergencies if m.label == "not_emergency"
                and (kinds is None or m.kind in kinds)]


def share(part: list[Any], whole: list[Any]) -> float:
    return len(part) / len(whole) if whole else 0.0


def load(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return list(yaml.safe_load(handle)["messages"])


async def said(agent: Any, text: str) -> str:
    parsed = await agent.parse_message(text)
    return str((parsed.get("intent") or {}).get("name") or "")


async def evaluate(agent: Any, folder: Path = EXTERNAL) -> ExternalResult:
    result = ExternalResult()
    for name in ("offtopic_hwu64", "offtopic_snips"):
        path = folder / f"{name}.yml"
        if path.exists():
            result.off_topic[name.removeprefix("offtopic_")] = [
                ExternalMessage(m["text"], m["label"], str(m.get("origin", "")),
                                await said(agent, m["text"])) for m in load(path)]
    if (folder / "medical_medquad.yml").exists():
        result.medical = [
            ExternalMessage(m["text"], m["label"], str(m.get("origin", "")),
                            await said(agent, m["text"]))
            for m in load(folder / "medical_medquad.yml")]
    if (folder / "emergencies.yml").exists():
        result.emergencies = [
            ExternalMessage(m["text"], m["label"],
                            str(m.get("category") or m.get("kind") or m.get("group", "")),
                            await said(agent, m["text"]))
            for m in load(folder / "emergencies.yml")]
    return result


def summary(result: ExternalResult) -> dict[str, Any]:
    """The headline figures (also written to results/evaluate/summary.json)."""
    off = result.off_topic_all()
    not_covered = result.not_covered()
    current = result.current()
    return {
        "off_topic": {name: {"messages": len(ms), "answered": share(result.answered(ms), ms),
                             "got": dict(Counter(m.said for m in result.answered(ms)))}
                      for name, ms in result.off_topic.items()},
        "off_topic_answered": share(result.answered(off), off),
        "medical_not_covered": {
            "messages": len(not_covered),
            "faq": share([m for m in not_covered if m.said == "faq"], not_covered),
            "booking": share([m for m in not_covered if m.said == "book_appointment"],
                             not_covered),
            "kind_answer": share([m for m in not_covered if m.said in KIND_MEDICAL],
                                 not_covered),
            "got": dict(Counter(m.said for m in not_covered)),
        },
        "medical_covered_faq": share([m for m in result.covered() if m.said == "faq"],
                                     result.covered()),
        "emergency_recall": share([m for m in current if m.said == "emergency"], current),
        "emergency_messages": len(current),
        "false_alarms": {
            kind: share([m for m in result.not_emergencies((kind,)) if m.said == "emergency"],
                        result.not_emergencies((kind,)))
            for kind in sorted({m.kind for m in result.not_emergencies()})},
        "past_false_alarms": share(
            [m for m in result.not_emergencies(PAST_KINDS) if m.said == "emergency"],
            result.not_emergencies(PAST_KINDS)),
    }


def check_floors(result: ExternalResult, floors: Floors) -> list[str]:
    figures = summary(result)
    failures = []
    if result.off_topic and figures["off_topic_answered"] > floors.off_topic_answered:
        failures.append(f"external off-topic: {figures['off_topic_answered']:.1%} answered "
                        f"> {floors.off_topic_answered:.0%}")
    medical = figures["medical_not_covered"]
    if medical["messages"] and medical["faq"] > floors.medical_faq:
        failures.append(f"external medical questions: {medical['faq']:.1%} got an FAQ answer "
                        f"> {floors.medical_faq:.0%}")
    if figures["emergency_messages"] and figures["emergency_recall"] < floors.emergency_recall:
        failures.append(f"external emergencies: recall {figures['emergency_recall']:.1%} "
                        f"< {floors.emergency_recall:.0%}")
    if figures["past_false_alarms"] > floors.past_false_alarms:
        failures.append(f"external emergencies: {figures['past_false_alarms']:.1%} of past "
                        f"events alarmed > {floors.past_false_alarms:.0%}")
    return failures


def failures_of(result: ExternalResult) -> dict[str, list[ExternalMessage]]:
    """The messages each figure counts against the assistant."""
    return {
        "off-topic answered": result.answered(result.off_topic_all()),
        "not-covered medical questions answered with an FAQ or the booking form": [
            m for m in result.not_covered() if m.said in ("faq", "book_appointment")],
        "covered medical questions without the FAQ answer": [
            m for m in result.covered() if m.said != "faq"],
        "emergencies missed": [m for m in result.current() if m.said != "emergency"],
        "false alarms": [m for m in result.not_emergencies() if m.said == "emergency"],
    }


def print_result(result: ExternalResult) -> None:
    figures = summary(result)
    print("\nexternal sets (tests/external/, never trained on):")
    for name, item in figures["off_topic"].items():
        print(f"  off-topic {name:<8} {item['answered']:6.1%} of {item['messages']} answered "
              f"instead of refused {item['got']}")
    medical = figures["medical_not_covered"]
    print(f"  medical not covered: {medical['faq']:.1%} FAQ, {medical['booking']:.1%} booking, "
          f"{medical['kind_answer']:.1%} kind answer of {medical['messages']} {medical['got']}")
    print(f"  medical covered: {figures['medical_covered_faq']:.0%} FAQ")
    print(f"  emergencies: recall {figures['emergency_recall']:.1%} of "
          f"{figures['emergency_messages']}; false alarms by kind "
          + ", ".join(f"{k} {v:.0%}" for k, v in figures["false_alarms"].items()))
    for title, messages in failures_of(result).items():
        if messages:
            print(f"  {title}:")
            for m in messages:
                print(f"    {m.kind:>22} -> {m.said:<18} {m.text!r}")


def markdown(result: ExternalResult, floors: Floors) -> list[str]:
    figures = summary(result)
    medical = figures["medical_not_covered"]
    rows = [f"| off-topic {name} answered instead of refused | {item['answered']:.1%} "
            f"({item['messages']}) | |" for name, item in figures["off_topic"].items()]
    lines = [
        "## External sets (text no one on the project wrote)",
        "",
        "`tests/external/` (sources, licences and selection in its README): never trained on. "
        "Parsed as the server parses them, fallback and red-flag layer included.",
        "",
        "| measure | measured | floor (`make test`) |",
        "|---|---|---|",
        *rows,
        f"| off-topic, both sets, answered instead of refused | "
        f"{figures['off_topic_answered']:.1%} | <= {floors.off_topic_answered:.0%} |",
        f"| medical questions the article does not answer: FAQ answer | {medical['faq']:.1%} "
        f"({medical['messages']}) | <= {floors.medical_faq:.0%} |",
        f"| the same: booking form | {medical['booking']:.1%} | |",
        f"| the same: the kind not-covered, no-diagnosis or no-medication answer | "
        f"{medical['kind_answer']:.1%} | |",
        f"| medical questions the article answers: FAQ answer | "
        f"{figures['medical_covered_faq']:.0%} ({len(result.covered())}) | |",
        f"| current emergencies alarmed (recall) | {figures['emergency_recall']:.1%} "
        f"({figures['emergency_messages']}) | >= {floors.emergency_recall:.0%} |",
        f"| past events and relatives' history alarmed | {figures['past_false_alarms']:.1%} "
        f"({len(result.not_emergencies(PAST_KINDS))}) | <= {floors.past_false_alarms:.0%} |",
        *[f"| false alarms, {kind} | {value:.0%} ({len(result.not_emergencies((kind,)))}) | |"
          for kind, value in figures["false_alarms"].items() if kind not in PAST_KINDS],
        "",
        f"Goals: off-topic answered <= {GOAL_OFF_TOPIC:.0%} "
        f"({'met' if figures['off_topic_answered'] <= GOAL_OFF_TOPIC else 'not met yet'}), "
        "medical FAQ answers <= 5%, emergency recall 100%. The emergency set was written blind "
        "to the red-flag list but read while the list grew: its recall is optimistic.",
        "",
    ]
    for title, messages in failures_of(result).items():
        if messages:
            lines += [f"{title[0].upper() + title[1:]}:", "", "| message | kind | got |",
                      "|---|---|---|"]
            lines += [f"| {m.text.replace('|', '/')} | {m.kind} | {m.said} |" for m in messages]
            lines.append("")
    return lines
