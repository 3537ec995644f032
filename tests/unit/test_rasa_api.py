"""actions.rasa_api against a local fake of Rasa's HTTP API: the paths, query (token, output
channel, side effects), bodies, and errors logged without the token or message text."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from actions import rasa_api
from actions.settings import get_settings

TOKEN = "unit-test-token-0123456789"


class FakeRasa(BaseHTTPRequestHandler):
    calls: list[dict] = []
    status = 200

    def _answer(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        FakeRasa.calls.append({"method": self.command, "path": url.path, "query": query,
                               "body": body})
        status = FakeRasa.status if query.get("token") == TOKEN else 401
        payload = json.dumps({"sender_id": "x", "events": []}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _answer  # noqa: N815 - http.server's names

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def rasa(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeRasa)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("RASA_API_URL", url)
    monkeypatch.setenv("RASA_API_TOKEN", TOKEN)
    get_settings.cache_clear()
    FakeRasa.calls = []
    FakeRasa.status = 200
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()
        get_settings.cache_clear()


def test_append_events_sends_the_staff_message_to_the_latest_channel(rasa):
    event = rasa_api.staff_message("Hello, this is Ana from the front desk", "ana")
    rasa_api.append_events("whatsapp:+15550100123", [event])
    (call,) = FakeRasa.calls
    assert call["method"] == "POST"
    # as it is: Rasa's routes do not decode the id ("%2B1555..." would be another conversation)
    assert call["path"] == "/conversations/whatsapp:+15550100123/tracker/events"
    assert call["query"] == {"token": TOKEN, "output_channel": "latest",
                             "execute_side_effects": "true", "include_events": "NONE"}
    assert call["body"][0]["event"] == "bot"
    assert call["body"][0]["metadata"] == {"staff": "ana", "live": True}


def test_pause_resume_and_trigger_intent(rasa):
    rasa_api.append_events("p1", [rasa_api.resumed()], execute_side_effects=False)
    rasa_api.trigger_intent("p1", "request_human")
    rasa_api.get_tracker("p1")
    resume, trigger, tracker = FakeRasa.calls
    assert resume["body"][0]["event"] == "resume"
    assert resume["query"]["execute_side_effects"] == "false"
    assert trigger["path"] == "/conversations/p1/trigger_intent"
    assert trigger["body"] == {"name": "request_human"}
    assert trigger["query"]["output_channel"] == "latest"
    assert tracker["method"] == "GET" and tracker["path"] == "/conversations/p1/tracker"
    assert rasa_api.paused()["event"] == "pause"


def test_a_refused_call_raises_and_logs_neither_token_nor_text(rasa, caplog):
    caplog.set_level(logging.DEBUG)
    FakeRasa.status = 500
    with pytest.raises(rasa_api.RasaApiError) as raised:
        rasa_api.append_events("p1", [rasa_api.staff_message("my chest hurts", "ana")])
    assert raised.value.status == 500
    with pytest.raises(rasa_api.RasaApiError) as refused:
        rasa_api.trigger_intent("p1", "request_human", token="wrong-token-0123456789")
    assert refused.value.status == 401
    # ours (urllib3's own DEBUG lines show the URL, query included, as for every requests call)
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name == "actions.rasa_api")
    assert "HTTP 500" in ours and "p1" not in ours  # (an SMS conversation's id is a phone)
    assert TOKEN not in ours and "wrong-token" not in ours and "chest" not in ours


def test_no_answer_raises_with_status_none(monkeypatch, caplog):
    monkeypatch.setenv("RASA_API_TOKEN", TOKEN)
    get_settings.cache_clear()
    try:
        with pytest.raises(rasa_api.RasaApiError) as raised:
            rasa_api.get_tracker("p1", base_url="http://127.0.0.1:9", timeout=2)
    finally:
        get_settings.cache_clear()
    assert raised.value.status is None
    assert TOKEN not in caplog.text


def test_the_token_is_generated_once_into_var(tmp_path, monkeypatch):
    from actions import settings

    monkeypatch.setattr(settings, "RASA_API_TOKEN_FILE", tmp_path / "rasa-api.key")
    first = settings.rasa_api_token({})
    assert len(first) >= 32
    assert settings.rasa_api_token({}) == first
    assert (tmp_path / "rasa-api.key").stat().st_mode & 0o777 == 0o600
    assert settings.rasa_api_token({"RASA_API_TOKEN": TOKEN}) == TOKEN
    with pytest.raises(settings.SettingsError):
        settings.rasa_api_token({"RASA_API_TOKEN": "short"})


@pytest.mark.parametrize("sender", ["3f2a9c0d1e", "+15550100123", "whatsapp:+15550100123",
                                    "test-9d2e_x.y~z"])
def test_the_channels_ids_are_addressable(sender):
    assert rasa_api.addressable(sender)
    assert rasa_api._conversation(sender) == f"/conversations/{sender}"


@pytest.mark.parametrize("sender", ["", "maria lopez", "web/7", "caf\u00e9", "50%", "a?b", "a#b"])
def test_an_id_rasa_would_read_as_another_conversation_is_refused(rasa, sender):
    assert not rasa_api.addressable(sender)
    with pytest.raises(rasa_api.RasaApiError) as raised:
        rasa_api.get_tracker(sender)
    assert raised.value.status == 400 and FakeRasa.calls == []  # nothing sent
