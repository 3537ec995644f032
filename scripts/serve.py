"""Start every process the assistant needs, wait until each answers, stop them all together.

Used by ``make run`` (``python -m scripts.serve``) and by the end-to-end test fixture, so the
tests start the assistant exactly the way a user does. Settings come from environment variables
(see the README); nothing here needs a TTY.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

logger = logging.getLogger("serve")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = PROJECT_ROOT / "models" / "clinic.tar.gz"


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a number, got {raw!r}") from None


def free_port() -> int:
    """A TCP port that is free on loopback right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Service:
    """One child process and the URL that answers once it is ready."""

    name: str
    argv: list[str]
    health_url: str | None  # None: ready as soon as it runs (no HTTP port)
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None
    log: IO[bytes] | None = None


@dataclass
class StackConfig:
    rasa_port: int = 5005
    action_port: int = 5055
    web_port: int = 8080
    rasa_host: str = "127.0.0.1"
    action_host: str = "127.0.0.1"
    web_host: str = "127.0.0.1"
    model: Path = DEFAULT_MODEL
    log_dir: Path | None = None  # None: children write to this process's stdout/stderr
    extra_env: dict[str, str] = field(default_factory=dict)
    # Rasa server's files; relative paths are from the project root.
    endpoints: Path = Path("endpoints.yml")
    credentials: Path = Path("credentials.yml")
    # Names of the services to start (e.g. ("rasa server",)); empty: all of them.
    only: tuple[str, ...] = ()
    # The project's changes to Rasa (components/rasa_changes.py); False: Rasa exactly as shipped
    # (the benchmark's starter-bot server).
    rasa_changes: bool = True

    @classmethod
    def from_env(cls) -> StackConfig:
        return cls(
            rasa_port=env_int("RASA_PORT", 5005),
            action_port=env_int("ACTION_PORT", 5055),
            web_port=env_int("WEB_PORT", 8080),
            rasa_host=os.environ.get("RASA_HOST", "127.0.0.1"),
            action_host=os.environ.get("ACTION_HOST", "127.0.0.1"),
            web_host=os.environ.get("WEB_HOST", "127.0.0.1"),
            model=Path(os.environ.get("RASA_MODEL", str(DEFAULT_MODEL))),
        )


def _local(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "", "::") else host


def api_enabled(environ: dict[str, str]) -> bool:
    """Rasa's HTTP API is on unless RASA_ENABLE_API is false (the staff console's live replies
    and the delivery worker's expired waits go through it)."""
    raw = environ.get("RASA_ENABLE_API", "").strip().lower()
    if raw in ("", "1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"RASA_ENABLE_API must be true or false, got {raw!r}")


def api_token(environ: dict[str, str]) -> str | None:
    """The token Rasa's API requires: RASA_API_TOKEN, else the one generated once into
    ``var/rasa-api.key`` (actions.settings.rasa_api_token); None when the API is off."""
    if not api_enabled(environ):
        return None
    from actions.settings import SettingsError, rasa_api_token

    try:
        return rasa_api_token(environ)
    except SettingsError as exc:
        raise ValueError(str(exc)) from None


def rasa_api_args(environ: dict[str, str]) -> list[str]:
    """Rasa's HTTP API (``--enable-api``), on by default and always with a token
    (``?token=...``: :func:`api_token`), and with RASA_JWT_SECRET (``Authorization: Bearer``)
    when set. The Rasa server listens on RASA_HOST (loopback unless changed)."""
    token = api_token(environ)
    if token is None:
        return []
    args = ["--enable-api", "--auth-token", token]
    jwt_secret = environ.get("RASA_JWT_SECRET", "").strip()
    if jwt_secret:
        args += ["--jwt-secret", jwt_secret, "--jwt-method", "HS256"]
    return args


def channel_defaults(config: StackConfig, environ: dict[str, str]) -> dict[str, str]:
    """Values for every ${VAR} in credentials.yml / endpoints.yml that the user did not set.

    Rasa refuses a YAML file that names an unset variable, so each gets its documented default;
    an empty Twilio account keeps the SMS channel off.
    """
    web = _local(config.web_host)
    defaults = {
        "TRACKER_DATABASE_URL": f"sqlite:///{PROJECT_ROOT / 'var' / 'conversations.db'}",
        "LOCK_STORE_URL": "",  # locks in memory: one Rasa server
        "WEB_ALLOWED_ORIGINS": f"http://localhost:{config.web_port},http://{web}:{config.web_port}",
        "MAX_MESSAGE_CHARS": "2000",
        "MAX_BODY_BYTES": "1000000",
        "TWILIO_ACCOUNT_SID": "",
        "TWILIO_AUTH_TOKEN": "",
        "TWILIO_NUMBER": "",
        "TWILIO_WEBHOOK_URL": "",
    }
    return {name: value for name, value in defaults.items() if not environ.get(name)}


def rasa_command(with_changes: bool = True) -> list[str]:
    """The command that starts Rasa: the project's (``scripts/run_rasa.py``: Rasa's CLI with the
    project's changes installed) or Rasa's own."""
    if with_changes:
        return [sys.executable, "-m", "scripts.run_rasa"]
    return [str(Path(sys.executable).parent / "rasa")]


class Stack:
    """The action server and the Rasa server, started and stopped as one."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        action_url = f"http://{_local(config.action_host)}:{config.action_port}"
        self.action_url = action_url
        self.rasa_url = f"http://{_local(config.rasa_host)}:{config.rasa_port}"
        self.web_url = f"http://{_local(config.web_host)}:{config.web_port}"
        base_env = {
            "RASA_TELEMETRY_ENABLED": "false",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
            "PYTHONUNBUFFERED": "1",
            **config.extra_env,
        }
        base_env.update(channel_defaults(config, {**os.environ, **base_env}))
        # Where the other processes reach Rasa's API, and its token (never logged).
        api_environ = {**os.environ, **config.extra_env}
        self.api_token = api_token(api_environ)
        if self.api_token is not None:
            base_env["RASA_API_TOKEN"] = self.api_token
            base_env["RASA_API_URL"] = api_environ.get("RASA_API_URL", "").strip() \
                or self.rasa_url
        else:  # no API: no one could reply to, or hand back, a paused conversation
            base_env["LIVE_CHAT"] = "false"
        # The staff console's address, for the links in alert e-mails.
        base_env.setdefault("CONSOLE_URL", os.environ.get("CONSOLE_URL", "").strip()
                            or self.web_url)
        self.services = [
            Service(
                name="action server",
                argv=[sys.executable, "-m", "rasa_sdk", "--actions", "actions",
                      "--port", str(config.action_port)],
                health_url=f"{action_url}/health",
                # rasa_sdk binds to SANIC_HOST (it has no --interface option).
                env={**base_env, "SANIC_HOST": config.action_host},
            ),
            Service(
                name="rasa server",
                argv=[*rasa_command(config.rasa_changes), "run",
                      "--model", str(config.model),
                      "--endpoints", str(config.endpoints),
                      "--credentials", str(config.credentials),
                      "--interface", config.rasa_host,
                      "--port", str(config.rasa_port),
                      *rasa_api_args({**api_environ, "RASA_API_TOKEN": self.api_token or ""})],
                health_url=f"{self.rasa_url}/",
                # Sanic reads SANIC_* variables: a larger body gets 413 before any channel code.
                env={**base_env, "ACTION_SERVER_URL": f"{action_url}/webhook",
                     "SANIC_REQUEST_MAX_SIZE": base_env.get("MAX_BODY_BYTES")
                     or os.environ.get("MAX_BODY_BYTES", "1000000")},
            ),
            Service(
                name="delivery worker",
                argv=[sys.executable, "-m", "actions.outbox"],
                health_url=None,
                env=base_env,
            ),
            Service(
                name="web server",
                argv=[sys.executable, "-m", "web"],
                health_url=f"{self.web_url}/health",
                env={**base_env, "WEB_HOST": config.web_host, "WEB_PORT": str(config.web_port),
                     "RASA_PORT": str(config.rasa_port)},
            ),
        ]
        if config.only:
            unknown = set(config.only) - {service.name for service in self.services}
            if unknown:
                raise ValueError(f"unknown services: {', '.join(sorted(unknown))}")
            self.services = [s for s in self.services if s.name in config.only]

    def start(self, timeout: float = 300.0) -> None:
        """Start every service and wait until each answers; stop all on failure."""
        start_together([self], timeout)

    def spawn(self) -> None:
        """Start every service's process, without waiting for it to answer."""
        if not self.config.model.exists():
            raise RuntimeError(f"no trained model at {self.config.model}: run `make train` first")
        for service in self.services:
            self._spawn(service)

    def wait_ready(self, timeout: float = 300.0) -> None:
        """Wait until every started service answers its health check."""
        for service in self.services:
            self._wait_ready(service, timeout)

    def _spawn(self, service: Service) -> None:
        stdout: IO[bytes] | None = None
        if self.config.log_dir is not None:
            self.config.log_dir.mkdir(parents=True, exist_ok=True)
            log_name = service.name.replace(" ", "-") + ".log"
            service.log = open(self.config.log_dir / log_name, "ab")
            stdout = service.log
        logger.info("starting %s", service.name)
        service.process = subprocess.Popen(
            service.argv,
            cwd=PROJECT_ROOT,
            env={**os.environ, **service.env},
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.STDOUT if stdout else None,
            start_new_session=True,  # own process group: stopped as a whole
        )

    def _wait_ready(self, service: Service, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        assert service.process is not None
        if service.health_url is None:
            time.sleep(0.5)
            if service.process.poll() is not None:
                raise RuntimeError(f"{service.name} exited with code "
                                   f"{service.process.returncode} while starting")
            return
        while time.monotonic() < deadline:
            if service.process.poll() is not None:
                raise RuntimeError(
                    f"{service.name} exited with code {service.process.returncode} while starting"
                )
            try:
                with urllib.request.urlopen(service.health_url, timeout=2) as reply:
                    if reply.status == 200:
                        logger.info("%s is ready", service.name)
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        raise RuntimeError(f"{service.name} did not answer {service.health_url} in {timeout:.0f}s")

    def failed(self) -> Service | None:
        """The first service whose process has exited, if any."""
        for service in self.services:
            if service.process is not None and service.process.poll() is not None:
                return service
        return None

    def stop(self, grace: float = 15.0) -> None:
        """Stop every started service: SIGTERM to its process group, SIGKILL after grace."""
        for service in reversed(self.services):
            process = service.process
            if process is None or process.poll() is not None:
                continue
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        for service in reversed(self.services):
            process = service.process
            if process is None:
                continue
            try:
                process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                logger.warning("%s did not stop in %.0fs; killing it", service.name, grace)
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                process.wait()
            if service.log is not None:
                service.log.close()
                service.log = None


def start_together(stacks: list[Stack], timeout: float = 300.0) -> None:
    """Start the processes of several stacks at once, then wait for all of them (two Rasa
    servers load their models side by side instead of one after the other); stop them all
    when one fails to start."""
    try:
        for stack in stacks:
            stack.spawn()
        for stack in stacks:
            stack.wait_ready(timeout)
    except BaseException:
        for stack in stacks:
            stack.stop()
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[serve] %(message)s")
    config = StackConfig.from_env()
    demo = None
    if os.environ.get("CALENDAR_DEMO", "").strip().lower() in ("1", "true", "yes") and \
            not os.environ.get("CALENDAR_URL", "").strip():
        from datetime import date

        from actions.clinic import load_clinic_file
        from scripts.calendar_demo import demo_env, start_demo

        clinic_file = Path(os.environ.get("CLINIC_CONFIG", "") or PROJECT_ROOT / "clinic.yml")
        demo = start_demo(load_clinic_file(clinic_file), date.today())
        config.extra_env.update(demo_env(demo))
    stack = Stack(config)

    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    started = time.monotonic()
    try:
        stack.start()
        print(
            "\n"
            f"  Clinic assistant is running (ready in {time.monotonic() - started:.0f}s)\n"
            f"  Rasa server     {stack.rasa_url}\n"
            f"    REST channel  POST {stack.rasa_url}/webhooks/rest/webhook\n"
            + ("    HTTP API      on, with the token of RASA_API_TOKEN or var/rasa-api.key\n"
               if stack.api_token else "    HTTP API      off (RASA_ENABLE_API=false)\n")
            + f"  Action server   {stack.action_url}\n"
            f"  Web page        {stack.web_url}/   (chat widget; open it in a browser)\n"
            f"  Staff console   {stack.web_url}/staff\n"
            f"  Delivery worker sends appointment requests to the clinic (see README)\n"
            + (f"  Calendar (demo) {demo.url}  (sample busy times; gone when stopped)\n"
               if demo else "")
            + "  Stop with Ctrl-C or SIGTERM.\n",
            flush=True,
        )
        while True:
            dead = stack.failed()
            if dead is not None:
                logger.error("%s stopped unexpectedly (exit code %s); stopping the rest",
                             dead.name, dead.process.returncode if dead.process else "?")
                return 1
            time.sleep(1)
    except KeyboardInterrupt:
        logger.info("stopping")
        return 0
    except RuntimeError as exc:
        logger.error("%s", exc)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.stop()
        if demo is not None:
            demo.close()
        if not stopping:
            logger.info("all processes stopped")


if __name__ == "__main__":
    sys.exit(main())
