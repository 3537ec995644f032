"""Fixtures shared by all tests: the domain, a dispatcher and a tracker factory for actions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.clinic import get_clinic

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def domain() -> dict[str, Any]:
    with (PROJECT_ROOT / "domain.yml").open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@pytest.fixture()
def dispatcher() -> CollectingDispatcher:
    return CollectingDispatcher()


TrackerFactory = Callable[..., Tracker]


@pytest.fixture()
def make_tracker() -> TrackerFactory:
    """Build a Tracker the way the action server receives it from Rasa."""

    def factory(
        slots: dict[str, Any] | None = None,
        text: str = "",
        intent: str = "",
        entities: list[dict[str, Any]] | None = None,
        events: list[dict[str, Any]] | None = None,
        active_loop: str | None = None,
        sender_id: str = "test-sender",
        channel: str = "rest",
    ) -> Tracker:
        latest = {
            "text": text,
            "intent": {"name": intent, "confidence": 1.0},
            "entities": entities or [],
        }
        user_event = {"event": "user", "text": text, "input_channel": channel,
                      "parse_data": latest}
        return Tracker.from_dict(
            {
                "sender_id": sender_id,
                "slots": dict(slots or {}),
                "latest_message": latest,
                "events": list(events or []) + [user_event],
                "paused": False,
                "followup_action": None,
                "active_loop": {"name": active_loop} if active_loop else {},
                "latest_action_name": "action_listen",
            }
        )

    return factory


def initial_slot_values(domain: dict[str, Any]) -> dict[str, Any]:
    """The slots a new conversation starts with (``initial_value`` in the domain)."""
    return {name: slot["initial_value"] for name, slot in (domain.get("slots") or {}).items()
            if slot.get("initial_value") is not None}


def condition_met(condition: dict[str, Any], slots: dict[str, Any]) -> bool:
    """Rasa's test for one condition of a response variation: the slot equals the value
    (strings compared case-insensitively)."""
    filled, wanted = slots.get(condition["name"]), condition["value"]
    if isinstance(filled, str) and isinstance(wanted, str):
        return filled.casefold() == wanted.casefold()
    return filled == wanted


def variation(domain: dict[str, Any], response: str,
              slots: dict[str, Any] | None = None) -> dict[str, Any]:
    """The variation of a domain response that Rasa sends: the first conditional one whose
    conditions the ``slots`` meet, else the first without conditions (request mode, English).
    Given ``slots`` count on top of the domain's initial slot values (``language: en``), as in
    a conversation; without ``slots`` no condition is met."""
    variations = domain["responses"][response]
    filled = {} if slots is None else {**initial_slot_values(domain), **slots}
    matching = [v for v in variations if v.get("condition") and all(
        condition_met(c, filled) for c in v["condition"])]
    plain = [v for v in variations if not v.get("condition")]
    return (matching or plain)[0]


def render(domain: dict[str, Any], response: str, slots: dict[str, Any] | None = None,
           **values: Any) -> str:
    """A domain response's text as the patient sees it, with the clinic's details filled in.
    Conditional variations are chosen as Rasa chooses them: the first whose conditions the
    ``slots`` (over the domain's initial slot values) meet, else the first without conditions
    (request mode, English)."""
    text = variation(domain, response, slots)["text"]
    return text.format(**{**get_clinic().slot_values(), **values})


@pytest.fixture()
def settings_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the database and the outbox folder at a temporary folder; no SMTP, no webhook."""
    from actions.settings import get_settings

    for name in ("SMTP_HOST", "BOOKING_WEBHOOK_URL", "BOOKING_WEBHOOK_SECRET", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'clinic.db'}")
    monkeypatch.setenv("OUTBOX_DIR", str(tmp_path / "outbox"))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()
