"""Live chats over HTTP: the live page and its forms, its event stream, and the JSON API.

Pages (sign-in; forms carry the CSRF token; each answers with a redirect to the live page):

* ``GET  /staff/live``                      waiting and taken chats (marks you present)
* ``GET  /staff/live/events``               server-sent events for the page's script
* ``POST /staff/live/presence``             ``available=1|0``
* ``POST /staff/live/<sender>/accept``      ``.../reply`` (``text``), ``.../release``,
  ``.../close``

API (``staff.api`` rules: JSON bodies, ``X-CSRF-Token``): ``GET /staff/api/live``, ``POST
/staff/api/live/presence`` ``{"available": true}``, ``POST /staff/api/live/<sender>/accept``,
``.../messages`` ``{"text": ...}``, ``.../release``, ``.../close``. 404: no such
conversation; 409: someone else has it, or it has no live chat; 400: empty or too long a
message; 503: Rasa's API cannot be reached (nothing changed).

The event stream looks at the database and the tracker store every ``live_poll_seconds`` (so
it works with several web servers), marks the staff member present every 30 s, checks that the
session still holds every 15 s, and ends after 10 minutes (the browser reconnects).
"""

from __future__ import annotations

import asyncio
import json
import logging
from time import monotonic
from typing import Any
from urllib.parse import unquote

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from actions import live_store
from actions.storage import utcnow
from staff import live
from staff.auth import Session
from staff.http import (
    api,
    blocking,
    current_session,
    form_value,
    json_body,
    json_error,
    json_reply,
    no_store,
    page,
    render,
    staff,
)

logger = logging.getLogger(__name__)

LIVE_URL = "/staff/live"
STREAM_SECONDS = 600
PRESENCE_EVERY = 30
SESSION_EVERY = 15
KEEPALIVE_EVERY = 15
DONE = {"accepted": "You have the chat: the patient was told you joined.",
        "sent": "Message sent.",
        "released": "The patient is back with the assistant.",
        "closed": "Chat closed.",
        "presence": "Saved."}


def _live_page(request: Request, session: Session, views: list[live.LiveView],
               available: bool, staff_available: list[str], status: int = 200,
               error: str | None = None, done: str | None = None) -> HTTPResponse:
    return render(request, "live.html", status=status, views=views, available=available,
                  staff_available=staff_available, error=error, done=done, now=utcnow())


async def _page_state(request: Request, session: Session
                      ) -> tuple[list[live.LiveView], bool, list[str]]:
    context = staff(request)
    available = await blocking(live.mark_present, context, session.user.username)
    views = await blocking(live.queue, context, session.user.username, "live")
    return views, available, await blocking(live.available_staff, context)


@page()
async def live_page(request: Request, session: Session) -> HTTPResponse:
    views, available, others = await _page_state(request, session)
    return _live_page(request, session, views, available, others,
                      done=DONE.get(request.args.get("done") or ""))


@page()
async def presence_submit(request: Request, session: Session) -> HTTPResponse:
    available = form_value(request, "available", 5) == "1"
    await blocking(live.mark_present, staff(request), session.user.username, available)
    return no_store(response.redirect(f"{LIVE_URL}?done=presence", status=303))


async def _change(request: Request, session: Session, sender_id: str, action: str
                  ) -> HTTPResponse:
    """A live-chat form: the live page again (303), or with the reason it was not done."""
    context = staff(request)
    sender = unquote(sender_id)
    username = session.user.username
    try:
        if action == "accept":
            view = await blocking(live.accept, context, sender, username, "page")
            target = f"{LIVE_URL}?done=accepted#chat-{view.chat.id}"
        elif action == "reply":
            view = await blocking(live.reply, context, sender, username,
                                  form_value(request, "text", live.MAX_TEXT + 1000))
            target = f"{LIVE_URL}?done=sent#chat-{view.chat.id}"
        else:
            status = live_store.RELEASED if action == "release" else live_store.CLOSED
            await blocking(live.end, context, sender, username, status, "page")
            target = f"{LIVE_URL}?done={status}"
    except live.LiveError as exc:
        views, available, others = await _page_state(request, session)
        return _live_page(request, session, views, available, others, status=exc.status,
                          error=str(exc))
    return no_store(response.redirect(target, status=303))


@page()
async def accept_submit(request: Request, session: Session, sender_id: str) -> HTTPResponse:
    return await _change(request, session, sender_id, "accept")


@page()
async def reply_submit(request: Request, session: Session, sender_id: str) -> HTTPResponse:
    return await _change(request, session, sender_id, "reply")


@page()
async def release_submit(request: Request, session: Session, sender_id: str) -> HTTPResponse:
    return await _change(request, session, sender_id, "release")


@page()
async def close_submit(request: Request, session: Session, sender_id: str) -> HTTPResponse:
    return await _change(request, session, sender_id, "close")


# ---- the event stream --------------------------------------------------------------------------


def sse(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data, default=str)}\n\n"


def _card_html(request: Request, session: Session, view: live.LiveView) -> str:
    return staff(request).templates.get_template("_live_card.html").render(
        v=view, csrf_token=session.csrf_token, me=session.user.username, now=utcnow())


@page()
async def live_events(request: Request, session: Session) -> HTTPResponse | None:
    """``text/event-stream``: ``chat`` (a chat appeared or changed; ``html`` is its card),
    ``message``, ``ended``, ``alert`` (``waiting`` / ``emergency``), ``presence``."""
    context = staff(request)
    username = session.user.username
    reply = await request.respond(content_type="text/event-stream; charset=utf-8", headers={
        "Cache-Control": "no-store", "X-Accel-Buffering": "no"})
    state = live.StreamState(username=username,
                             last_event_id=await blocking(live.max_event_id, context))
    started = monotonic()
    presence_at = session_at = keepalive_at = started
    available = await blocking(live.mark_present, context, username)
    await reply.send("retry: 3000\n\n")
    await reply.send(sse("presence", {"username": username, "available": available}))
    try:
        while monotonic() - started < STREAM_SECONDS:
            for name, data in await blocking(live.changes, context, state):
                if name == "chat":
                    data["html"] = _card_html(request, session, data.pop("view"))
                await reply.send(sse(name, data))
            now = monotonic()
            presence_due = now - presence_at >= PRESENCE_EVERY
            if presence_due or now - session_at >= SESSION_EVERY:
                session_at = now
                current = await current_session(request)
                if current is None or current.session_id != session.session_id:
                    await reply.send(sse("signed_out", {}))
                    break
            if presence_due:
                presence_at = now
                available = await blocking(live.mark_present, context, username)
                await reply.send(sse("presence", {"username": username,
                                                  "available": available}))
            if now - keepalive_at >= KEEPALIVE_EVERY:
                keepalive_at = now
                await reply.send(": keepalive\n\n")
            await asyncio.sleep(context.live_poll_seconds)
    except (ConnectionError, asyncio.CancelledError):
        logger.debug("live event stream of %s ended by the browser", username)
        raise
    await reply.eof()
    return None


# ---- JSON API ----------------------------------------------------------------------------------


async def _api_change(request: Request, session: Session, sender_id: str,
                      action: str) -> HTTPResponse:
    context = staff(request)
    sender = unquote(sender_id)
    username = session.user.username
    try:
        if action == "accept":
            view = await blocking(live.accept, context, sender, username, "api")
            return json_reply({"chat": view.as_json()})
        if action == "messages":
            body = json_body(request)
            if body is None or not isinstance(body.get("text"), str):
                return json_error(400, 'send {"text": "..."}')
            view = await blocking(live.reply, context, sender, username, body["text"])
            return json_reply({"status": "sent", "chat": view.as_json()})
        status = live_store.RELEASED if action == "release" else live_store.CLOSED
        ended = await blocking(live.end, context, sender, username, status, "api")
        return json_reply({"chat": ended.as_json()})
    except live.LiveError as exc:
        return json_error(exc.status, str(exc))


@api()
async def api_live(request: Request, session: Session) -> HTTPResponse:
    context = staff(request)
    views = await blocking(live.queue, context, session.user.username, "api")
    return json_reply({
        "chats": [v.as_json() for v in views],
        "available_staff": await blocking(live.available_staff, context),
        "me": {"username": session.user.username,
               "available": await blocking(live.presence, context, session.user.username)},
    })


@api()
async def api_presence(request: Request, session: Session) -> HTTPResponse:
    body = json_body(request)
    available = body.get("available", True) if body is not None else None
    if not isinstance(available, bool):
        return json_error(400, 'send {"available": true} or {"available": false}')
    await blocking(live.mark_present, staff(request), session.user.username, available)
    return json_reply({"username": session.user.username, "available": available})


@api()
async def api_accept(request: Request, session: Session, sender_id: str) -> HTTPResponse:
    return await _api_change(request, session, sender_id, "accept")


@api()
async def api_message(request: Request, session: Session, sender_id: str) -> HTTPResponse:
    return await _api_change(request, session, sender_id, "messages")


@api()
async def api_release(request: Request, session: Session, sender_id: str) -> HTTPResponse:
    return await _api_change(request, session, sender_id, "release")


@api()
async def api_close(request: Request, session: Session, sender_id: str) -> HTTPResponse:
    return await _api_change(request, session, sender_id, "close")


ROUTES = (
    (live_page, "/live", ("GET",)),
    (live_events, "/live/events", ("GET",)),
    (presence_submit, "/live/presence", ("POST",)),
    (accept_submit, "/live/<sender_id:str>/accept", ("POST",)),
    (reply_submit, "/live/<sender_id:str>/reply", ("POST",)),
    (release_submit, "/live/<sender_id:str>/release", ("POST",)),
    (close_submit, "/live/<sender_id:str>/close", ("POST",)),
    (api_live, "/api/live", ("GET",)),
    (api_presence, "/api/live/presence", ("POST",)),
    (api_accept, "/api/live/<sender_id:str>/accept", ("POST",)),
    (api_message, "/api/live/<sender_id:str>/messages", ("POST",)),
    (api_release, "/api/live/<sender_id:str>/release", ("POST",)),
    (api_close, "/api/live/<sender_id:str>/close", ("POST",)),
)


def add_routes(blueprint: Blueprint) -> None:
    for handler, uri, methods in ROUTES:
        blueprint.add_route(handler, uri, methods=list(methods),
                            name=f"live_{handler.__name__}_{methods[0].lower()}")
