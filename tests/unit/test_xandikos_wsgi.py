"""The front end that serves Xandikos in the calendar tests (scripts/xandikos_wsgi.py): it
checks HTTP Basic passwords and hands the application only the request's body."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import pytest

from scripts.caldav_server import caldav_server
from scripts.xandikos_wsgi import authenticated_user, basic_auth, read_users

USERS = {"clinic": "s3cret:with-colon"}


def basic(credentials: bytes) -> str:
    return "Basic " + base64.b64encode(credentials).decode("ascii")


def test_only_the_right_password_of_a_known_user_is_accepted():
    assert authenticated_user(basic(b"clinic:s3cret:with-colon"), USERS) == "clinic"
    assert authenticated_user(basic(b"clinic:s3cret"), USERS) is None
    assert authenticated_user(basic(b"clinic:"), USERS) is None
    assert authenticated_user(basic(b"nobody:s3cret:with-colon"), USERS) is None
    assert authenticated_user("", USERS) is None
    assert authenticated_user("Bearer abc", USERS) is None
    assert authenticated_user("Basic not*base64", USERS) is None
    assert authenticated_user("Basic " + base64.b64encode(b"\xff\xfe").decode(), USERS) is None


def test_the_users_file_keeps_colons_in_passwords(tmp_path: Path):
    users = tmp_path / "users"
    users.write_text("# test users\n\nclinic:s3cret:with-colon\nother:pw\n", encoding="utf-8")
    assert read_users(users) == {"clinic": "s3cret:with-colon", "other": "pw"}


class Recorder:
    """A WSGI application that records what it was given."""

    def __init__(self) -> None:
        self.calls: list[tuple[str | None, bytes]] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        self.calls.append((environ.get("REMOTE_USER"), environ["wsgi.input"].read()))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]


def call(app: Any, authorization: str | None, body: bytes, trailing: bytes = b"") \
        -> tuple[str, list[tuple[str, str]], bytes]:
    environ: dict[str, Any] = {"REQUEST_METHOD": "PUT", "CONTENT_LENGTH": str(len(body)),
                               "wsgi.input": io.BytesIO(body + trailing)}
    if authorization is not None:
        environ["HTTP_AUTHORIZATION"] = authorization
    answer: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        answer.update(status=status, headers=headers)

    payload = b"".join(app(environ, start_response))
    return answer["status"], answer["headers"], payload


def test_without_the_password_the_application_is_never_called():
    inner = Recorder()
    app = basic_auth(inner, USERS)
    for authorization in (None, basic(b"clinic:wrong"), "Basic ???"):
        status, headers, _ = call(app, authorization, b"BEGIN:VCALENDAR")
        assert status == "401 Unauthorized"
        assert ("WWW-Authenticate", 'Basic realm="Clinic test calendar"') in headers
    assert inner.calls == []


def test_with_the_password_the_application_gets_the_user_and_only_the_body():
    inner = Recorder()
    app = basic_auth(inner, USERS)
    # what follows the body on the connection (the next request) is not the application's
    status, _, payload = call(app, basic(b"clinic:s3cret:with-colon"), b"BEGIN:VCALENDAR",
                              trailing=b"GET /next HTTP/1.1")
    assert (status, payload) == ("200 OK", b"ok")
    assert inner.calls == [("clinic", b"BEGIN:VCALENDAR")]


def test_an_unknown_server_kind_is_refused():
    with pytest.raises(ValueError, match="radicale, xandikos"):
        caldav_server("baikal")
