"""Requests to a Sanic app through its ASGI interface, without a server or a port: one POST
(:func:`post`), or a client on a private event loop with the app's lifespan started first,
streamed responses (server-sent events) included (:class:`AsgiClient`)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

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


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self) -> Any:
        return json.loads(self.body)


class AsgiClient:
    def __init__(self, app: Sanic) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self._in: asyncio.Queue = asyncio.Queue()
        self._out: asyncio.Queue = asyncio.Queue()
        self._task = self.loop.create_task(self.app(
            {"type": "lifespan", "asgi": {"version": "3.0"}}, self._in.get, self._out.put))
        self._lifespan("startup")

    def _lifespan(self, what: str) -> None:
        async def exchange() -> dict:
            await self._in.put({"type": f"lifespan.{what}"})
            return await asyncio.wait_for(self._out.get(), 30)

        assert self.loop.run_until_complete(exchange())["type"] == f"lifespan.{what}.complete"

    def close(self) -> None:
        try:
            self._lifespan("shutdown")
            self.loop.run_until_complete(asyncio.gather(self._task, return_exceptions=True))
        finally:
            self.loop.close()

    def _scope(self, method: str, path: str, headers: dict[str, str]) -> dict[str, Any]:
        path, _, query = path.partition("?")
        return {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": method, "scheme": "http", "path": unquote(path),
            "raw_path": path.encode(), "query_string": query.encode(), "root_path": "",
            "headers": [(b"host", b"console.test"), *[(k.lower().encode(), v.encode())
                                                      for k, v in headers.items()]],
            "client": ("127.0.0.1", 50000), "server": ("console.test", 80),
        }

    @staticmethod
    def _reply(sent: list[dict]) -> Reply:
        start = next(m for m in sent if m["type"] == "http.response.start")
        headers = {k.decode().lower(): v.decode() for k, v in start.get("headers", [])}
        body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        return Reply(start["status"], headers, body)

    def request(self, method: str, path: str, body: bytes = b"",
                headers: dict[str, str] | None = None) -> Reply:
        sent: list[dict] = []
        messages = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> dict:
            if messages:
                return messages.pop(0)
            await asyncio.sleep(3600)
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            sent.append(message)

        self.loop.run_until_complete(asyncio.wait_for(
            self.app(self._scope(method, path, headers or {}), receive, send), 30))
        return self._reply(sent)

    def stream(self, path: str, headers: dict[str, str],
               steps: list[tuple[Callable[[str], bool], Callable[[], None] | None]],
               timeout: float = 20) -> Reply:
        """GET a streaming response; for each step, wait until ``predicate(body so far)``,
        then run ``action`` (the loop stands still meanwhile); then disconnect."""
        sent: list[dict] = []
        messages = [{"type": "http.request", "body": b"", "more_body": False}]

        async def receive() -> dict:
            if messages:
                return messages.pop(0)
            await asyncio.sleep(3600)
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            sent.append(message)

        def body() -> str:
            return b"".join(m.get("body", b"") for m in sent
                            if m["type"] == "http.response.body").decode()

        task = self.loop.create_task(self.app(self._scope("GET", path, headers), receive, send))

        async def until(predicate: Callable[[str], bool]) -> None:
            deadline = self.loop.time() + timeout
            while not predicate(body()):
                if task.done():
                    task.result()
                    raise AssertionError(f"the stream ended: {body()!r}")
                if self.loop.time() > deadline:
                    raise AssertionError(f"not seen in the stream: {body()!r}")
                await asyncio.sleep(0.02)

        try:
            for predicate, action in steps:
                self.loop.run_until_complete(until(predicate))
                if action is not None:
                    action()
        finally:
            task.cancel()
            self.loop.run_until_complete(asyncio.gather(task, return_exceptions=True))
        return self._reply(sent)
