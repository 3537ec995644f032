"""deploy/docker-compose.yml, checked without Docker (no registry is reachable here).

It must parse; run 2 Rasa servers and 2 action servers behind the load balancer with one
delivery worker and the web server on the official images; take every setting from the
environment, each documented in deploy/.env.example with a placeholder, never a real secret; and
give each service every variable its configuration files and code read.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent.parent
DEPLOY = ROOT / "deploy"
VAR_RE = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)(?:[:?-][^}]*)?\}")
# settings read by the code: _env("X"), _env_int("X", ...), _env_bool(...), _path("X", ...)
CODE_ENV_RE = re.compile(r"_(?:env|env_int|env_bool|path)\(\s*\"([A-Z_][A-Z0-9_]*)\"")
SECRET_NAMES = ("PASSWORD", "SECRET", "TOKEN", "SID")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    values = {}
    for line in (DEPLOY / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def variables(path: Path) -> set[str]:
    """The ${VARS} a YAML file's keys and values use (not its comments; $$ is a literal $)."""

    def strings(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            for key, value in node.items():
                yield str(key)
                yield from strings(value)
        elif isinstance(node, list):
            for item in node:
                yield from strings(item)
        elif isinstance(node, str):
            yield node

    found: set[str] = set()
    for text in strings(yaml.safe_load(path.read_text())):
        found.update(VAR_RE.findall(text.replace("$$", "")))
    return found


def environment(compose: dict[str, Any], service: str) -> dict[str, str]:
    env = compose["services"][service].get("environment") or {}
    return {str(k): str(v) for k, v in env.items()}


def code_settings(*files: str) -> set[str]:
    return {name for path in files for name in CODE_ENV_RE.findall((ROOT / path).read_text())}


def test_services_images_and_replicas(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"postgres", "redis", "rasa", "actions", "worker", "web", "lb"} <= set(services)
    assert services["postgres"]["image"] == "postgres:16"
    assert services["redis"]["image"] == "redis:7"
    assert services["lb"]["image"].startswith("nginx:")
    assert services["rasa"]["deploy"]["replicas"] == 2
    assert services["actions"]["deploy"]["replicas"] == 2
    assert services["worker"].get("deploy", {}).get("replicas", 1) == 1
    assert services["worker"]["entrypoint"] == ["python", "-m", "actions.outbox"]
    assert services["web"]["entrypoint"] == ["python", "-m", "web"]
    # the project images are the official ones plus pinned packages
    dockerfile = (ROOT / services["rasa"]["build"]["dockerfile"]).read_text()
    assert "FROM rasa/rasa:3.6.21-full AS rasa" in dockerfile
    assert "FROM rasa/rasa-sdk:3.6.2 AS actions" in dockerfile
    assert services["worker"]["image"] == services["actions"]["image"]
    assert services["web"]["image"] == services["rasa"]["image"]
    for name in ("rasa", "actions", "worker", "web"):
        assert "..:/app:ro" in services[name]["volumes"], name


def test_every_variable_is_documented_with_a_placeholder(compose: dict[str, Any],
                                                         env_example: dict[str, str]) -> None:
    used = variables(DEPLOY / "docker-compose.yml")
    assert used - set(env_example) == set(), "undocumented in deploy/.env.example"
    assert set(env_example) - used == set(), "documented but not used by docker-compose.yml"
    for name, value in env_example.items():
        if any(part in name for part in SECRET_NAMES) and value:
            assert "change-me" in value, f"{name} must be a placeholder"
    for name in ("TRACKER_DATABASE_URL", "DATABASE_URL", "LOCK_STORE_URL"):
        assert "change-me" in env_example[name], f"{name} carries a placeholder password"
    assert env_example["LOCK_STORE_URL"].startswith("redis://")
    assert (DEPLOY / ".gitignore").read_text().splitlines()[-1] == ".env"


def test_rasa_gets_what_endpoints_and_credentials_read(compose: dict[str, Any],
                                                       env_example: dict[str, str]) -> None:
    needed = variables(ROOT / "endpoints.yml") | variables(ROOT / "credentials.yml")
    assert {"ACTION_SERVER_URL", "TRACKER_DATABASE_URL", "LOCK_STORE_URL"} <= needed
    env = environment(compose, "rasa")
    assert needed - set(env) == set(), "Rasa would refuse endpoints.yml / credentials.yml"
    command = compose["services"]["rasa"]["command"]
    # started as make run starts it: the project's changes to Rasa installed first
    assert compose["services"]["rasa"]["entrypoint"] == ["python", "-m", "scripts.run_rasa"]
    assert compose["services"]["rasa"]["working_dir"] == "/app"
    assert command[0] == "run"
    assert command[command.index("--endpoints") + 1] == "/app/endpoints.yml"
    assert command[command.index("--credentials") + 1] == "/app/credentials.yml"
    # the Rasa servers reach the action servers through the load balancer
    assert env_example["ACTION_SERVER_URL"] == "http://lb:5055/webhook"
    nginx = (DEPLOY / "nginx.conf").read_text()
    assert "listen 5055;" in nginx and "server actions:5055" in nginx
    assert "server rasa:5005" in nginx and "server web:8080" in nginx
    # socket.io long-polling needs every request of a session on the same Rasa server
    assert re.search(r"upstream rasa \{[^}]*ip_hash;", nginx)


def test_each_service_gets_the_settings_its_code_reads(compose: dict[str, Any]) -> None:
    action_settings = code_settings("actions/settings.py")
    assert {"DATABASE_URL", "SMTP_HOST", "BOOKING_WEBHOOK_SECRET"} <= action_settings
    # the worker sends; the action servers choose where a new request goes (e-mail or file,
    # webhook): both need every setting of actions/settings.py, with the same values
    worker, actions = environment(compose, "worker"), environment(compose, "actions")
    assert action_settings - set(worker) == set()
    assert action_settings - set(actions) == set()
    assert {name: worker[name] for name in action_settings} == {
        name: actions[name] for name in action_settings}
    web = environment(compose, "web")
    # the staff console changes calendar appointments and queues the patient's notice
    assert {name: web.get(name) for name in action_settings} == {
        name: worker[name] for name in action_settings}
    web_settings = code_settings("web/settings.py")
    optional = {"RASA_PORT", "WEBCHAT_BUNDLE", "STAFF_SESSION_HOURS"}  # defaults fit
    assert web_settings - set(web) - optional == set()
    assert {"DATABASE_URL", "TRACKER_DATABASE_URL"} <= set(web)
    # both databases and the lock store are shared by every replica, never per-container files
    for service in ("rasa", "web"):
        assert environment(compose, service)["TRACKER_DATABASE_URL"] == "${TRACKER_DATABASE_URL}"
    for service in ("actions", "worker", "web"):
        assert environment(compose, service)["DATABASE_URL"] == "${DATABASE_URL}"
