"""Delivery to the front desk: e-mail, outbox file, signed webhook; retried until delivered."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from actions.notify import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from actions.outbox import run_once
from actions.settings import get_settings
from actions.storage import backoff_seconds, get_engine, list_requests, store_request
from scripts.serve import free_port
from tests.smtp_sink import SmtpSink

FIELDS = {
    "kind": "appointment", "name": "Maria Lopez", "phone": "+12125550123",
    "email": "maria@example.com", "preferred_day": "2026-12-01", "preferred_start": "12:00",
    "preferred_end": "17:00", "preferred_text": "Tuesday 1 December 2026, 12:00 pm-5:00 pm",
    "reason": "migraines twice a week", "patient_status": "new", "channel": "rest",
    "sender_id": "web-1",
}


def setup(monkeypatch, **env):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    settings = get_settings()
    return settings, get_engine(settings.database_url)


def statuses(engine):
    return [(d["target"], d["status"], d["attempts"]) for r in list_requests(engine)
            for d in r["deliveries"]]


def test_without_smtp_the_email_lands_in_the_outbox_folder(settings_env, monkeypatch):
    settings, engine = setup(monkeypatch)
    stored = store_request(engine, FIELDS, "k1", ["file"])
    assert run_once(engine, settings) == 1
    text = (settings.outbox_dir / f"{stored.reference}.eml").read_text()
    assert f"Subject: Appointment request {stored.reference}" in text
    assert "Maria Lopez" in text and "(212) 555-0123 / maria@example.com" in text
    assert "Tuesday 1 December 2026, 12:00 pm-5:00 pm (America/New_York)" in text
    assert "migraines twice a week" in text
    assert statuses(engine) == [("file", "delivered", 1)]
    assert run_once(engine, settings) == 0  # delivered once, not again


def test_smtp_down_keeps_it_pending_then_delivers_once_it_is_back(settings_env, monkeypatch):
    port = free_port()
    settings, engine = setup(monkeypatch, SMTP_HOST="127.0.0.1", SMTP_PORT=str(port),
                             CLINIC_INBOX="desk@clinic.example", DELIVERY_RETRY_SECONDS="0")
    stored = store_request(engine, FIELDS, "k2", ["email"])
    assert run_once(engine, settings) == 0
    [request] = list_requests(engine)
    [delivery] = request["deliveries"]
    assert (delivery["status"], delivery["attempts"]) == ("pending", 1)
    assert "ConnectionRefusedError" in delivery["last_error"]

    with SmtpSink(port) as sink:
        assert run_once(engine, settings) == 1
        assert run_once(engine, settings) == 0
    [mail] = sink.messages
    assert mail["To"] == "desk@clinic.example"
    assert mail["Subject"] == f"Appointment request {stored.reference}"
    assert "migraines twice a week" in mail.get_content()
    assert statuses(engine) == [("email", "delivered", 2)]


def test_failed_attempts_wait_longer_each_time(settings_env, monkeypatch):
    settings, engine = setup(monkeypatch, SMTP_HOST="127.0.0.1", SMTP_PORT=str(free_port()))
    store_request(engine, FIELDS, "k3", ["email"])
    run_once(engine, settings)
    assert run_once(engine, settings) == 0  # not due yet: the first retry waits 10 s
    assert statuses(engine) == [("email", "pending", 1)]
    assert [backoff_seconds(n, 10, 900) for n in (1, 2, 3, 4, 8, 20)] == [
        10, 20, 40, 80, 900, 900]


class _Hook(BaseHTTPRequestHandler):
    received: list = []
    status = 200

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append((dict(self.headers), body))
        self.send_response(_Hook.status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture()
def webhook():
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    _Hook.received, _Hook.status = [], 200
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/requests"
    server.shutdown()


def test_webhook_gets_signed_json_and_is_retried_after_an_error(settings_env, monkeypatch,
                                                                 webhook):
    settings, engine = setup(monkeypatch, BOOKING_WEBHOOK_URL=webhook,
                             BOOKING_WEBHOOK_SECRET="s3cret", DELIVERY_RETRY_SECONDS="0")
    stored = store_request(engine, FIELDS, "k4", ["webhook"])
    _Hook.status = 503
    assert run_once(engine, settings) == 0
    _Hook.status = 200
    assert run_once(engine, settings) == 1
    headers, body = _Hook.received[-1]
    assert headers[SIGNATURE_HEADER] == sign("s3cret", headers[TIMESTAMP_HEADER], body)
    payload = json.loads(body)
    assert payload["reference"] == stored.reference
    assert payload["preferred"]["day"] == "2026-12-01"
    assert statuses(engine) == [("webhook", "delivered", 2)]


def test_webhook_without_a_secret_is_refused_at_start(settings_env, monkeypatch):
    monkeypatch.setenv("BOOKING_WEBHOOK_URL", "http://127.0.0.1:9/x")
    get_settings.cache_clear()
    with pytest.raises(ValueError, match="BOOKING_WEBHOOK_SECRET"):
        get_settings()
