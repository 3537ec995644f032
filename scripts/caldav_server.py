"""A real CalDAV server: Radicale (from PyPI, ``requirements.lock``) as a subprocess, for the
tests and for `make run` with CALENDAR_DEMO=1 (scripts/calendar_demo.py).

The calendar client (``actions.calendar``) is tested against a server that really parses what
it is sent, expands recurrences in time-range queries, answers ``If-None-Match`` and checks
passwords, not against a mock. Each server is a throwaway: a temporary folder holds its
configuration, its users file, its log and its collections; it listens on a free loopback port;
``HOME`` points into the temporary folder, so Radicale writes nothing anywhere else.

    with CalDavServer(password="secret") as server:
        server.url       # -> http://127.0.0.1:<port>/clinic/calendar/ (the calendar collection)
        server.stop()    # e.g. to test what the client does when the calendar is down
        server.start()   # again, on the same port, with the same events

Authentication is Radicale's htpasswd file with plain-text passwords (nothing else to install):
user ``clinic``, the password given. ``owner_only`` rights: the user sees only its own calendars.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO

import requests

from scripts.serve import free_port

logger = logging.getLogger(__name__)

READY_TIMEOUT = 30.0

_MKCALENDAR_BODY = """<?xml version="1.0" encoding="utf-8"?>
<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:set><D:prop>
    <D:displayname>Clinic appointments</D:displayname>
    <C:supported-calendar-component-set><C:comp name="VEVENT"/></C:supported-calendar-component-set>
  </D:prop></D:set>
</C:mkcalendar>
"""


class CalDavServer:
    """A throwaway Radicale server with one user and one calendar collection."""

    def __init__(self, user: str = "clinic", password: str | None = None,
                 calendar: str = "calendar", base_dir: Path | None = None) -> None:
        self.user = user
        self.password = password or secrets.token_hex(12)
        self.calendar = calendar
        self._own_dir = base_dir is None
        self.dir = Path(tempfile.mkdtemp(prefix="clinic-radicale-")) if base_dir is None \
            else base_dir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self._log: IO[bytes] | None = None
        self._calendar_created = False

    # where things are ----------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The calendar collection's URL (what ``CALENDAR_URL`` would be)."""
        return f"{self.base_url}/{self.user}/{self.calendar}/"

    @property
    def storage_dir(self) -> Path:
        return self.dir / "collections"

    @property
    def log_path(self) -> Path:
        return self.dir / "radicale.log"

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    # lifecycle -----------------------------------------------------------------------------

    def _write_config(self) -> Path:
        users = self.dir / "users"
        users.write_text(f"{self.user}:{self.password}\n", encoding="utf-8")
        users.chmod(0o600)
        config = self.dir / "config"
        config.write_text(
            "\n".join([
                "[server]",
                f"hosts = 127.0.0.1:{self.port}",
                "[auth]",
                "type = htpasswd",
                f"htpasswd_filename = {users}",
                "htpasswd_encryption = plain",
                "delay = 0",  # a wrong password is answered at once (the default waits 1 s)
                "[rights]",
                "type = owner_only",
                "[storage]",
                f"filesystem_folder = {self.storage_dir}",
                "[web]",
                "type = none",
                "[hook]",
                "type = none",
                "[sharing]",
                "type = none",
                "[logging]",
                "level = info",
                "mask_passwords = True",
                "",
            ]),
            encoding="utf-8",
        )
        return config

    def start(self) -> None:
        """Start the server (again, on the same port and storage) and wait until it answers."""
        if self.running:
            return
        config = self._write_config()
        home = self.dir / "home"
        home.mkdir(exist_ok=True)
        self._log = open(self.log_path, "ab")  # closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "radicale", "--config", str(config)],
            cwd=self.dir,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
                 "XDG_CONFIG_HOME": str(home / ".config"), "LANG": "C.UTF-8",
                 "LC_ALL": "C.UTF-8", "TZ": "UTC", "PYTHONDONTWRITEBYTECODE": "1"},
        )
        self._wait_ready()
        if not self._calendar_created:
            self._make_calendar()
            self._calendar_created = True

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                code = self.process.returncode
                self._close_log()
                self.process = None
                raise RuntimeError(f"radicale exited with code {code} while starting:\n"
                                   f"{self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    logger.info("radicale is ready on port %d", self.port)
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"radicale did not answer in {READY_TIMEOUT:.0f}s:\n{self.log_tail()}")

    def _make_calendar(self) -> None:
        self.make_calendar(self.calendar)

    def make_calendar(self, name: str) -> str:
        """Create another calendar collection of the user (e.g. one per test); its URL."""
        url = f"{self.base_url}/{self.user}/{name}/"
        reply = requests.request(
            "MKCALENDAR", url, data=_MKCALENDAR_BODY.encode("utf-8"),
            headers={"Content-Type": "application/xml; charset=utf-8"},
            auth=(self.user, self.password), timeout=10,
        )
        if reply.status_code != 201:
            raise RuntimeError(f"MKCALENDAR {url} answered {reply.status_code}: "
                               f"{reply.text[:200]}\n{self.log_tail()}")
        return url

    def put_event(self, calendar_url: str, name: str, ics: str | bytes) -> None:
        """Store an event as another calendar program would (staff's own entries)."""
        reply = requests.put(
            f"{calendar_url}{name}.ics",
            data=ics.encode("utf-8") if isinstance(ics, str) else ics,
            headers={"Content-Type": "text/calendar; charset=utf-8"},
            auth=(self.user, self.password), timeout=10,
        )
        if reply.status_code not in (201, 204):
            raise RuntimeError(f"PUT {name} answered {reply.status_code}: {reply.text[:200]}")

    def event_names(self, calendar: str | None = None) -> list[str]:
        """Names of the events stored in a calendar right now, read from the storage folder."""
        folder = self.storage_dir / "collection-root" / self.user / (calendar or self.calendar)
        return sorted(path.stem for path in folder.glob("*.ics")) if folder.is_dir() else []

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, sig: signal.Signals = signal.SIGTERM, grace: float = 10.0) -> None:
        """Stop the server; its storage stays for the next ``start()``."""
        process = self.process
        if process is not None and process.poll() is None:
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                pass
            try:
                process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                logger.warning("radicale did not stop in %.0fs; killing it", grace)
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                process.wait()
        self.process = None
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def close(self) -> None:
        """Stop and remove the temporary folder."""
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> CalDavServer:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
