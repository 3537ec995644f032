"""Real CalDAV servers as subprocesses (from PyPI, ``requirements.lock``), for the tests and for
`make run` with CALENDAR_DEMO=1 (scripts/calendar_demo.py): Radicale (``CalDavServer``) and
Xandikos (``XandikosServer``).

The calendar client (``actions.calendar``) is tested against servers that really parse what
they are sent, expand recurrences in time-range queries, answer ``If-None-Match`` and check
passwords, not against a mock; two different servers, so that "works with CalDAV" means more
than "works with one server's quirks". Each server is a throwaway: a temporary folder holds its
configuration, its users file, its log and its collections; it listens on a free loopback port;
``HOME`` points into the temporary folder, so the server writes nothing anywhere else.

    with CalDavServer(password="secret") as server:
        server.url       # -> http://127.0.0.1:<port>/clinic/calendar/ (the calendar collection)
        server.stop()    # e.g. to test what the client does when the calendar is down
        server.start()   # again, on the same port, with the same events

    with XandikosServer(password="secret") as server:
        server.url       # -> http://127.0.0.1:<port>/clinic/calendars/calendar/

Both have one user, ``clinic``, with the password given, checked on every request (HTTP
Basic). Radicale: its htpasswd file with plain-text passwords (nothing else to install) and
``owner_only`` rights. Xandikos leaves passwords to whatever is in front of it (a reverse proxy,
in its documentation); here a small WSGI front end checks them (scripts/xandikos_wsgi.py).
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

_XANDIKOS_RUNNER = Path(__file__).with_name("xandikos_wsgi.py")

_MKCALENDAR_BODY = """<?xml version="1.0" encoding="utf-8"?>
<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:set><D:prop>
    <D:displayname>Clinic appointments</D:displayname>
    <C:supported-calendar-component-set><C:comp name="VEVENT"/></C:supported-calendar-component-set>
  </D:prop></D:set>
</C:mkcalendar>
"""


class LocalCalDavServer(LocalServer):
    """What both servers share: one user, one calendar collection made at the first start,
    more calendars on request, events stored over HTTP, and a look at the server's storage."""

    host = "127.0.0.1"

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
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The calendar collection's URL (what ``CALENDAR_URL`` would be)."""
        return self.calendar_url(self.calendar)

    def calendar_url(self, name: str) -> str:
        """The URL of the user's calendar collection ``name``."""
        raise NotImplementedError

    @property
    def storage_dir(self) -> Path:
        """The folder of the server's collections (its storage)."""
        return self.dir / "collections"

    def collection_dir(self, name: str) -> Path:
        """The folder in which the server stores the calendar ``name``'s events."""
        raise NotImplementedError

    # lifecycle -----------------------------------------------------------------------------

    def _ready(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def start(self) -> None:
        """Start the server (again, on the same port and storage) and wait until it answers;
        the first time, create the calendar collection."""
        super().start()
        if not self._calendar_created:
            self.make_calendar(self.calendar)
            self._calendar_created = True

    # what another calendar program would do ------------------------------------------------

    def make_calendar(self, name: str) -> str:
        """Create another calendar collection of the user (e.g. one per test); its URL."""
        url = self.calendar_url(name)
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

    # the server's storage ------------------------------------------------------------------

    def event_names(self, calendar: str | None = None) -> list[str]:
        """Names of the events stored in a calendar right now, read from the storage folder."""
        folder = self.collection_dir(calendar or self.calendar)
        return sorted(path.stem for path in folder.glob("*.ics")) if folder.is_dir() else []

    def stored_text(self, calendar: str, name: str) -> str:
        """An event as the server stored it: its file in the storage folder."""
        return (self.collection_dir(calendar) / f"{name}.ics").read_text(encoding="utf-8")


class CalDavServer(LocalCalDavServer):
    """A throwaway Radicale server with one user and one calendar collection."""

    name = "radicale"

    def calendar_url(self, name: str) -> str:
        return f"{self.base_url}/{self.user}/{name}/"

    def collection_dir(self, name: str) -> Path:
        return self.storage_dir / "collection-root" / self.user / name

    def _write_config(self) -> Path:
        users = self.dir / "users"
        users.write_text(f"{self.user}:{self.password}\n", encoding="utf-8")
        users.chmod(0o600)
        config = self.dir / "config"
        config.write_text(
            "\n".join([
                "[server]",
                f"hosts = {self.host}:{self.port}",
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


RadicaleServer = CalDavServer


class XandikosServer(LocalCalDavServer):
    """A throwaway Xandikos server with one user and one calendar collection.

    Xandikos serves a single principal, ``/<user>/``; its calendars live under
    ``/<user>/calendars/``, each a folder of ``.ics`` files that is also a git repository. It
    runs as its WSGI application behind Basic authentication (scripts/xandikos_wsgi.py says
    why not as its own aiohttp server).
    """

    name = "xandikos"

    def calendar_url(self, name: str) -> str:
        return f"{self.base_url}/{self.user}/calendars/{name}/"

    def collection_dir(self, name: str) -> Path:
        return self.storage_dir / self.user / "calendars" / name

    def _start(self) -> None:
        users = self.dir / "users"
        users.write_text(f"{self.user}:{self.password}\n", encoding="utf-8")
        users.chmod(0o600)
        home = self.dir / "home"
        home.mkdir(exist_ok=True)
        self._spawn([sys.executable, str(_XANDIKOS_RUNNER), "--host", self.host,
                     "--port", str(self.port), "--directory", str(self.storage_dir),
                     "--principal", f"/{self.user}/", "--users", str(users)],
                    env={"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
                         "XDG_DATA_HOME": str(home / ".local" / "share"),
                         "PYTHONDONTWRITEBYTECODE": "1"})


SERVERS: dict[str, type[LocalCalDavServer]] = {"radicale": CalDavServer, "xandikos": XandikosServer}


def caldav_server(kind: str, user: str = "clinic", password: str | None = None,
                  calendar: str = "calendar", base_dir: Path | None = None) -> LocalCalDavServer:
    """A (not yet started) server of ``kind``, one of ``SERVERS``."""
    try:
        server_class = SERVERS[kind]
    except KeyError:
        raise ValueError(f"no CalDAV server {kind!r}: one of {', '.join(SERVERS)}") from None
    return server_class(user=user, password=password, calendar=calendar, base_dir=base_dir)
