"""A small fake of Twilio's REST API on loopback that keeps the messages it is asked to send.

Only what the phone channel uses: ``POST /2010-04-01/Accounts/<sid>/Messages.json`` with a
form-encoded ``To``, ``From`` and ``Body`` (or ``MediaUrl``), HTTP basic auth with the account
SID and auth token. It answers like Twilio: 201 and a message resource (``sid`` "SM...",
``status`` "queued"), or Twilio's error JSON (401 code 20003, 400 code 21602/21604, 404 code 20404).

    with FakeTwilio(port, account_sid, auth_token) as api:
        ...  # the code under test sends with TWILIO_API_BASE_URL=http://127.0.0.1:<port>
        api.sent_to("+15550100123")  # the bodies sent to that number, in order
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

MESSAGES_PATH_RE = re.compile(r"^/2010-04-01/Accounts/(?P<sid>[^/]+)/Messages\.json$")


def message_resource(account_sid: str, to: str, from_: str, body: str,
                     media: list[str] | None = None) -> dict[str, Any]:
    """A message resource shaped like the one Twilio returns for a created message."""
    sid = "SM" + secrets.token_hex(16)
    now = formatdate(usegmt=True)
    return {
        "account_sid": account_sid,
        "api_version": "2010-04-01",
        "body": body,
        "date_created": now,
        "date_sent": None,
        "date_updated": now,
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": from_,
        "messaging_service_sid": None,
        "num_media": str(len(media or [])),
        "num_segments": "1",
        "price": None,
        "price_unit": "USD",
        "sid": sid,
        "status": "queued",
        "subresource_uris": {
            "media": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}/Media.json"},
        "to": to,
        "uri": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}.json",
    }


def error_resource(status: int, code: int, message: str) -> dict[str, Any]:
    return {"code": code, "message": message, "status": status,
            "more_info": f"https://www.twilio.com/docs/errors/{code}"}


class FakeTwilio:
    """``with FakeTwilio(port, account_sid, auth_token) as api: ... api.messages``"""

    def __init__(self, port: int, account_sid: str, auth_token: str) -> None:
        self.port = port
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.messages: list[dict[str, Any]] = []  # the created message resources, in order
        self.requests = 0  # every request, including refused ones
        self._failures: list[int] = []  # statuses to answer before accepting again
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def sent_to(self, number: str) -> list[str]:
        """The bodies of the messages sent to ``number``, in the order they arrived."""
        with self._lock:
            return [m["body"] for m in self.messages if m["to"] == number]

    def fail_next(self, *statuses: int) -> None:
        """Answer the next requests with these HTTP statuses (e.g. 503), then accept again."""
        with self._lock:
            self._failures.extend(statuses)

    def __enter__(self) -> FakeTwilio:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # -- the HTTP side

    def _authorized(self, header: str | None) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return header == f"Basic {expected}"

    def _create(self, path: str, headers: Any, body: bytes) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests += 1
            if self._failures:
                status = self._failures.pop(0)
                return status, error_resource(status, 20500, "Internal Server Error")
        match = MESSAGES_PATH_RE.match(path.split("?")[0])
        if not match:
            return 404, error_resource(404, 20404, "The requested resource was not found")
        if not self._authorized(headers.get("Authorization")) or (
                match.group("sid") != self.account_sid):
            return 401, error_resource(401, 20003, "Authenticate")
        if (headers.get("Content-Type") or "").split(";")[0] != (
                "application/x-www-form-urlencoded"):
            return 400, error_resource(400, 20001, "Expected a form-encoded body")
        form = parse_qs(body.decode("utf-8"), keep_blank_values=True)
        to = (form.get("To") or [""])[0]
        from_ = (form.get("From") or [""])[0]
        text = (form.get("Body") or [""])[0]
        media = form.get("MediaUrl") or []
        if not to:
            return 400, error_resource(400, 21604, "A 'To' phone number is required.")
        if not from_:
            return 400, error_resource(400, 21603, "A 'From' phone number is required.")
        if not text and not media:
            return 400, error_resource(400, 21602, "Message body is required.")
        if len(text) > 1600:
            return 400, error_resource(400, 21617, "The concatenated message body exceeds "
                                                   "the 1600 character limit.")
        resource = message_resource(self.account_sid, to, from_, text, media)
        with self._lock:
            self.messages.append(resource)
        return 201, resource

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status, payload = fake._create(self.path, self.headers, body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: the tests read .messages

        return Handler
