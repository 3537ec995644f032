"""What is reachable: Rasa's HTTP API is on (the staff console's live replies go through it)
and refuses calls without its token; RASA_ENABLE_API=false turns it off; the action server
listens on loopback only."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from scripts.serve import Stack, StackConfig, free_port

API_TOKEN = "test-api-token-" + "t" * 24


@pytest.mark.parametrize(("method", "path"), [  # (GET /version is public in Rasa)
    ("GET", "/status"),
    ("POST", "/model/parse"),
    ("GET", "/conversations/someone/tracker"),
    ("POST", "/conversations/someone/messages"),
    ("PUT", "/model"),
])
def test_rasa_http_api_refuses_calls_without_the_token(assistant, method, path):
    reply = requests.request(method, assistant.rasa_url + path, json={"text": "hi"}, timeout=10)
    assert reply.status_code == 401
    wrong = requests.request(method, assistant.rasa_url + path, json={"text": "hi"},
                             params={"token": "wrong-token-xxxxxxxxxxxx"}, timeout=10)
    assert wrong.status_code == 401


def test_the_api_token_reaches_the_other_processes_and_is_not_logged(assistant):
    status = requests.get(assistant.rasa_url + "/status", params={"token": assistant.api_token},
                          timeout=10)
    assert status.status_code == 200
    for service in assistant.stack.services:
        assert service.name == "rasa server" or \
            service.env.get("RASA_API_TOKEN") == assistant.api_token
    for log in assistant.log_dir.glob("*.log"):
        assert assistant.api_token not in log.read_text(errors="replace"), log.name


def listening_addresses(port: int) -> set[str]:
    """Local IPv4/IPv6 addresses with a socket listening on ``port`` (from /proc/net)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            address, port_hex = fields[1].rsplit(":", 1)
            if int(port_hex, 16) == port and fields[3] == "0A":  # 0A: LISTEN
                found.add(address)
    return found


def test_action_server_listens_on_loopback_only(assistant):
    port = assistant.stack.config.action_port
    addresses = listening_addresses(port)
    assert addresses == {"0100007F"}, addresses  # 127.0.0.1, nothing else
    other = socket.gethostbyname(socket.gethostname())
    if not other.startswith("127."):
        with pytest.raises(OSError):
            socket.create_connection((other, port), timeout=2).close()


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory, assistant) -> Iterator[str]:
    """A second Rasa server with the HTTP API on and a token (no other services)."""
    data = tmp_path_factory.mktemp("api")
    stack = Stack(StackConfig(
        rasa_port=free_port(), action_port=assistant.stack.config.action_port,
        log_dir=data / "logs", only=("rasa server",),
        extra_env={"RASA_ENABLE_API": "true", "RASA_API_TOKEN": API_TOKEN,
                   "TRACKER_DATABASE_URL": f"sqlite:///{data / 'conversations.db'}"},
    ))
    stack.start()
    try:
        yield stack.rasa_url
    finally:
        stack.stop()


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/status"),
    ("POST", "/model/parse"),
    ("GET", "/conversations/someone/tracker"),
])
def test_enabled_api_refuses_calls_without_the_token(api_server, method, path):
    anonymous = requests.request(method, api_server + path, json={"text": "hi"}, timeout=30)
    assert anonymous.status_code == 401
    wrong = requests.request(method, api_server + path, params={"token": "wrong-token-xxxxxxxx"},
                             json={"text": "hi"}, timeout=30)
    assert wrong.status_code == 401
    allowed = requests.request(method, api_server + path, params={"token": API_TOKEN},
                               json={"text": "hi"}, timeout=30)
    assert allowed.status_code == 200


def test_api_is_never_open_and_can_be_turned_off(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="RASA_API_TOKEN"):
        Stack(StackConfig(only=("rasa server",), extra_env={"RASA_API_TOKEN": "short"}))
    off = Stack(StackConfig(only=("rasa server",), extra_env={"RASA_ENABLE_API": "false"}))
    assert "--enable-api" not in off.services[0].argv and off.api_token is None
    assert off.services[0].env["LIVE_CHAT"] == "false"  # no one could reply or hand back
    # no RASA_API_TOKEN: one generated once into var/ (here a temporary file), given to Rasa
    from actions import settings

    monkeypatch.setattr(settings, "RASA_API_TOKEN_FILE", tmp_path / "rasa-api.key")
    monkeypatch.delenv("RASA_API_TOKEN", raising=False)
    first = Stack(StackConfig(only=("rasa server",)))
    second = Stack(StackConfig(only=("rasa server",)))
    token = (tmp_path / "rasa-api.key").read_text()
    assert first.api_token == second.api_token == token
    argv = first.services[0].argv
    assert argv[argv.index("--auth-token") + 1] == token
