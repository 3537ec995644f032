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
import secrets
import socket
import sys
from pathlib import Path

import requests

from scripts.local_server import LocalServer

logger = logging.getLogger(__name__)

_MKCALENDAR_BODY = """<?xml version="1.0" encoding="utf-8"?>
<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:set><D:prop>
    <D:displayname>Clinic appointments</D:displayname>
    <C:supported-calendar-component-set><C:comp name="VEVENT"/></C:supported-calendar-component-set>
  </D:prop></D:set>
</C:mkcalendar>
"""


class CalDavServer(LocalServer):
    """A throwaway Radicale server with one user and one calendar collection."""

    name = "radicale"

    def __init__(self, user: str = "clinic", password: str | None = None,
                 calendar: str = "calendar", base_dir: Path | None = None) -> None:
        super().__init__(base_dir)
        self.user = user
        self.password = password or secrets.token_hex(12)
        self.calendar = calendar
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

    def _start(self) -> None:
        config = self._write_config()
        home = self.dir / "home"
        home.mkdir(exist_ok=True)
        self._spawn([sys.executable, "-m", "radicale", "--config", str(config)],
                    env={"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
                         "PYTHONDONTWRITEBYTECODE": "1"})

    def _ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def start(self) -> None:
        """Start the server (again, on the same port and storage) and wait until it answers;
        the first time, create the calendar collection."""
        super().start()
        if not self._calendar_created:
            self._make_calendar()
            self._calendar_created = True

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
