"""What is reachable: Rasa's HTTP API is off unless configured with a token, and then refuses
calls without it; the action server listens on loopback only."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from scripts.serve import Stack, StackConfig, free_port

API_TOKEN = "test-api-token-" + "t" * 24


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/status"),
    ("GET", "/version"),
    ("POST", "/model/parse"),
    ("GET", "/conversations/someone/tracker"),
    ("POST", "/conversations/someone/messages"),
    ("PUT", "/model"),
])
def test_rasa_http_api_is_off_by_default(assistant, method, path):
    reply = requests.request(method, assistant.rasa_url + path, json={"text": "hi"}, timeout=10)
    assert reply.status_code in (404, 405)


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


def test_api_cannot_be_enabled_without_a_token():
    with pytest.raises(ValueError, match="RASA_API_TOKEN"):
        Stack(StackConfig(only=("rasa server",), extra_env={"RASA_ENABLE_API": "true"}))
