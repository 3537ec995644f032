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


def render(domain: dict[str, Any], response: str, slots: dict[str, Any] | None = None,
           **values: Any) -> str:
    """A domain response's text as the patient sees it, with the clinic's details filled in.
    Conditional variations are chosen as Rasa chooses them: the first whose conditions the
    ``slots`` meet, else the first without conditions (request mode, English)."""
    variations = domain["responses"][response]
    matching = [v for v in variations if v.get("condition") and all(
        (slots or {}).get(c["name"]) == c["value"] for c in v["condition"])]
    plain = [v for v in variations if not v.get("condition")]
    text = (matching or plain)[0]["text"]
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
