"""Xandikos, the CalDAV server, for scripts/caldav_server.py: its WSGI application
(``xandikos.wsgi``, its entry point for WSGI servers such as uWSGI or gunicorn) on one loopback
port, with HTTP Basic authentication in front of it: the job Xandikos leaves to a reverse proxy.

Why not Xandikos's own server (``python -m xandikos.web``): it is built on aiohttp's web server,
and with the aiohttp that Rasa 3.6 pins (3.9.x) and the yarl of requirements.lock (1.13 or
later), aiohttp's ``request.url`` raises ``ValueError: Host '127.0.0.1:<port>' cannot contain
':'`` for every request whose Host header carries a port (later aiohttp releases, e.g.
3.10.11, build it from the authority instead). Xandikos reads ``request.url`` to answer a GET
and in its error replies, so those answer HTTP 500. The WSGI application is the same Xandikos
(the same request handling and storage) without aiohttp's server.

Run with this file's path (it imports nothing of the project), e.g.

    python scripts/xandikos_wsgi.py --port 5232 --directory DIR --principal /clinic/ \
        --users USERS

``USERS`` holds one ``user:password`` line (plain text: a throwaway test server's password).
One request at a time, as Xandikos's own server handles them (one event loop).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hmac
import io
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from types import FrameType
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

logger = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
REALM = "Clinic test calendar"


def read_users(path: Path) -> dict[str, str]:
    """``user:password`` lines; blank lines and ``#`` comments are skipped."""
    users: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            user, _, password = line.partition(":")
            users[user] = password
    return users


def authenticated_user(header: str, users: dict[str, str]) -> str | None:
    """The user whose Basic credentials ``header`` (an Authorization header) carries, or None."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, _, password = decoded.partition(":")
    expected = users.get(user)
    if expected is None or not hmac.compare_digest(expected.encode(), password.encode()):
        return None
    return user


def _bounded_body(environ: dict[str, Any]) -> None:
    """Give the application only the request's body to read.

    Xandikos reads ``wsgi.input`` to its end; wsgiref's is the connection itself, whose end
    comes only when the client hangs up (uWSGI and gunicorn hand over just the body). A chunked
    body is left as it is: Xandikos reads its chunks itself.
    """
    if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        return
    try:
        length = max(int(environ.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:
        length = 0
    environ["wsgi.input"] = io.BytesIO(environ["wsgi.input"].read(length) if length else b"")


def basic_auth(app: WsgiApp, users: dict[str, str]) -> WsgiApp:
    """``app`` behind HTTP Basic authentication: 401 without valid credentials; with them,
    the request goes on with ``REMOTE_USER`` set (what Xandikos takes from a front end)."""

    def guarded(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        _bounded_body(environ)
        user = authenticated_user(environ.get("HTTP_AUTHORIZATION", ""), users)
        if user is None:
            body = b"Authentication required.\n"
            start_response("401 Unauthorized", [
                ("WWW-Authenticate", f'Basic realm="{REALM}"'),
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Content-Length", str(len(body))),
            ])
            return [body]
        environ["REMOTE_USER"] = user
        return app(environ, start_response)

    return guarded


class _Server(WSGIServer):
    request_queue_size = 64  # many conversations connecting at once wait, none is refused


class _Handler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        logger.info("%s %s", self.address_string(), format % args)


def xandikos_app(directory: Path, principal: str) -> WsgiApp:
    """Xandikos's WSGI application over ``directory``, the principal (and its calendar home)
    created if missing; ``xandikos.wsgi`` reads its settings from the environment."""
    os.environ["XANDIKOSPATH"] = str(directory)
    os.environ["CURRENT_USER_PRINCIPAL"] = principal
    os.environ["AUTOCREATE"] = "yes"
    from xandikos.wsgi import app  # reads the settings above when first imported

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--directory", type=Path, required=True)
    parser.add_argument("--principal", default="/user/")
    parser.add_argument("--users", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s",
                        stream=sys.stderr)
    app = basic_auth(xandikos_app(args.directory, args.principal), read_users(args.users))
    # SIGTERM ends the server between requests: raised inside one, wsgiref would catch it as
    # the application's error, answer 500 and go on serving.
    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    with make_server(args.host, args.port, app, server_class=_Server,
                     handler_class=_Handler) as server:
        server.timeout = 0.1  # how often handle_request() returns to look at `stopping`
        logger.info("Xandikos on http://%s:%d%s", args.host, args.port, args.principal)
        while not stopping.is_set():
            server.handle_request()
        logger.info("Stopped")


if __name__ == "__main__":
    main()
