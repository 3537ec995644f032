"""One HTTP request to a Sanic app through its ASGI interface, without a server or a port."""

from __future__ import annotations

from typing import Any

from sanic import Sanic


async def post(app: Sanic, path: str, body: bytes, host: str,
               headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """POST ``body`` to ``path``; the response's status and body."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "client": ("127.0.0.1", 40000), "server": (host, 80),
        "headers": [(b"host", host.encode()), (b"content-length", str(len(body)).encode())]
        + [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
    }
    inbox = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return inbox.pop(0) if inbox else {"type": "http.disconnect"}

    async def send(event: dict[str, Any]) -> None:
        sent.append(event)

    await app(scope, receive, send)
    status = next(e["status"] for e in sent if e["type"] == "http.response.start")
    return status, b"".join(e.get("body", b"") for e in sent if e["type"] == "http.response.body")
