"""End-to-end fixture: the real action server and Rasa server, started once per test session.

They start exactly as ``make run`` starts them (``scripts.serve``), on free loopback ports, and
are stopped after the session. Tests talk to them over REST like a user's client does.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, sync_playwright

from scripts.serve import DEFAULT_MODEL, Stack, StackConfig, free_port
from tests.e2e.calendar_rig import CalendarRig, calendar_servers
from tests.fake_twilio import FakeTwilio

E2E_API_TOKEN = "e2e-rasa-api-token-" + "k" * 24


@dataclass
class Assistant:
    """A running assistant and a REST client for it."""

    stack: Stack
    log_dir: Path
    database_url: str
    outbox_dir: Path
    smtp_port: int  # nothing listens here until a test starts an SmtpSink on it
    tracker_database_url: str
    twilio: dict[str, str]  # the phone channel's settings; TWILIO_API_BASE_URL is a fake API
    site_port: int  # an allowed origin for a test page that embeds the widget like a clinic site

    @property
    def rasa_url(self) -> str:
        return self.stack.rasa_url

    @property
    def api_token(self) -> str:
        """The token of Rasa's HTTP API (on, as with `make run`)."""
        assert self.stack.api_token
        return self.stack.api_token

    @property
    def web_url(self) -> str:
        return self.stack.web_url

    def send(self, sender: str, message: str, timeout: float = 60) -> list[dict[str, Any]]:
        """Send one user message over the REST channel; return the bot's messages."""
        reply = requests.post(
            f"{self.rasa_url}/webhooks/rest/webhook",
            json={"sender": sender, "message": message},
            timeout=timeout,
        )
        reply.raise_for_status()
        return reply.json()

    def texts(self, sender: str, message: str) -> list[str]:
        return [m["text"] for m in self.send(sender, message) if "text" in m]


@pytest.fixture(scope="session")
def assistant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Assistant]:
    if not DEFAULT_MODEL.exists():
        pytest.fail(f"no trained model at {DEFAULT_MODEL}: run `make train` (make e2e does)")
    log_dir = tmp_path_factory.mktemp("logs")
    data_dir = tmp_path_factory.mktemp("var")
    database_url = f"sqlite:///{data_dir / 'clinic.db'}"
    tracker_database_url = f"sqlite:///{data_dir / 'conversations.db'}"
    smtp_port = free_port()
    twilio = {
        "TWILIO_ACCOUNT_SID": "AC" + "0123456789abcdef" * 2,
        "TWILIO_AUTH_TOKEN": "test-auth-token-not-a-secret",
        "TWILIO_NUMBER": "+15550100200",
        # nothing listens here until a test starts its fake Twilio API on it
        "TWILIO_API_BASE_URL": f"http://127.0.0.1:{free_port()}",
    }
    web_port = free_port()
    # a second "clinic website" that embeds the widget with the README snippet
    site_port = free_port()
    stack = Stack(
        StackConfig(
            rasa_port=free_port(),
            action_port=free_port(),
            web_port=web_port,
            log_dir=log_dir,
            extra_env={
                **twilio,
                "TRACKER_DATABASE_URL": tracker_database_url,
                "WEB_ALLOWED_ORIGINS": f"http://127.0.0.1:{web_port},http://localhost:{web_port},"
                                       f"http://127.0.0.1:{site_port}",
                "STAFF_ADMIN_USER": "admin",
                "STAFF_ADMIN_PASSWORD": "correct horse battery staple",
                "STAFF_SECRET_KEY": "test-secret-key-" + "x" * 32,
                "DATABASE_URL": database_url,
                "OUTBOX_DIR": str(data_dir / "outbox"),
                "SMTP_HOST": "127.0.0.1",
                "SMTP_PORT": str(smtp_port),
                "CLINIC_INBOX": "frontdesk@clinic.example",
                "DELIVERY_RETRY_SECONDS": "1",
                "DELIVERY_RETRY_MAX_SECONDS": "2",
                "DELIVERY_POLL_MS": "200",
                # Rasa's HTTP API (on by default) with a fixed token; live chats whenever staff
                # are signed in, whatever the time the tests run
                "RASA_API_TOKEN": E2E_API_TOKEN,
                "LIVE_CHAT_HOURS": "always",
                # no alert e-mails for the hundreds of red flags the tests send (unit-tested)
                "LIVE_ALERTS": "false",
            },
        )
    )
    stack.start()
    try:
        yield Assistant(stack=stack, log_dir=log_dir, database_url=database_url,
                        outbox_dir=data_dir / "outbox", smtp_port=smtp_port,
                        tracker_database_url=tracker_database_url, twilio=twilio,
                        site_port=site_port)
    finally:
        stack.stop()


@pytest.fixture()
def new_sender() -> str:
    """A conversation id nobody has used yet."""
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture()
def sender(assistant: Assistant, new_sender: str) -> str:
    """A conversation already opened the way the web widget opens it (``/session_start``), so
    a test's first message gets only its own replies (the privacy notice came before)."""
    opening = assistant.send(new_sender, "/session_start")
    assert len(opening) == 2, opening  # privacy notice and disclaimer
    return new_sender


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's chromium (``make browser`` installs it); browser tests fail clearly without it."""
    path = shutil.which(os.environ.get("CHROMIUM", "chromium")) or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.fail("chromium is not installed: run `make browser` (apt-get install chromium)")
    return path


@pytest.fixture(scope="session")
def browser(chromium_path: str) -> Iterator[Browser]:
    """Headless Debian chromium driven by Playwright (no browser download)."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-background-networking"],
        )
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def calendar_rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CalendarRig]:
    """Calendar mode's servers, started once for every calendar test (calendar_rig.py)."""
    if not DEFAULT_MODEL.exists():
        pytest.fail(f"no trained model at {DEFAULT_MODEL}: run `make train` (make e2e does)")
    yield from calendar_servers(tmp_path_factory.mktemp("calendar"))


@pytest.fixture(scope="module")
def twilio_api(assistant: Assistant) -> Iterator[FakeTwilio]:
    """The fake Twilio REST API the assistant's SMS replies go to (tests/fake_twilio.py)."""
    settings = assistant.twilio
    port = int(settings["TWILIO_API_BASE_URL"].rsplit(":", 1)[1])
    with FakeTwilio(port, settings["TWILIO_ACCOUNT_SID"], settings["TWILIO_AUTH_TOKEN"]) as api:
        yield api
