"""The staff console's JSON API (``/staff/api/...``), behind the same sign-in as the pages.

``POST /staff/api/login`` with ``{"username": ..., "password": ...}`` sets the session cookie
and returns the session's CSRF token; every state-changing call (POST, PATCH) must then send
``Content-Type: application/json`` and ``X-CSRF-Token: <token>``. Without a session every call
answers 401 with a JSON error.

``POST /staff/api/requests/<reference>/confirm`` and ``.../decline`` (body ``{}``) confirm or
decline a calendar appointment; ``.../move`` with ``{"start": "2026-12-08T14:00"}`` (the clinic's
time zone, or an ISO time with its offset) moves it, keeping its length. The patient is told by
e-mail or SMS when they can be (the history says how). 503 when the calendar cannot be reached
(nothing changed), 409 when the request has no appointment in the calendar (any more) or the new
time is not free, 400 for a time that is malformed or past.
"""

from __future__ import annotations

import logging
from urllib.parse import unquote

from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse

from staff import live, service
from staff.auth import LockedOutError, LoginRefusedError, Session
from staff.conversations import ConversationFilter
from staff.http import (
    SESSION_COOKIE,
    api,
    blocking,
    clear_cookie,
    is_json,
    json_body,
    json_error,
    json_reply,
    set_cookie,
    staff,
)

logger = logging.getLogger(__name__)


def _session_json(session: Session) -> dict:
    return {"user": {"username": session.user.username, "is_admin": session.user.is_admin},
            "csrf_token": session.csrf_token, "expires_at": session.expires_at.isoformat()}


async def login(request: Request) -> HTTPResponse:
    if not is_json(request):
        return json_error(415, "send Content-Type: application/json")
    body = json_body(request)
    if body is None or not isinstance(body.get("username"), str) \
            or not isinstance(body.get("password"), str):
        return json_error(400, 'send {"username": "...", "password": "..."}')
    context = staff(request)
    try:
        user = await blocking(context.auth.authenticate, body["username"][:200],
                              body["password"][:2000])
    except LockedOutError as exc:
        return json_error(429, str(exc), retry_after=int(exc.retry_after.total_seconds()) + 1)
    except LoginRefusedError as exc:
        return json_error(401, str(exc))
    cookie, session = await blocking(context.auth.create_session, user)
    reply = json_reply(_session_json(session))
    set_cookie(reply, request, SESSION_COOKIE, cookie, context.settings.session_hours * 3600)
    return reply


@api()
async def logout(request: Request, session: Session) -> HTTPResponse:
    await blocking(live.mark_absent, staff(request), session.user.username)
    await blocking(staff(request).auth.end_session, session)
    reply = json_reply({"status": "signed out"})
    clear_cookie(reply, request, SESSION_COOKIE)
    return reply


@api()
async def me(request: Request, session: Session) -> HTTPResponse:
    return json_reply(_session_json(session))


@api()
async def conversations(request: Request, session: Session) -> HTTPResponse:
    try:
        filters = ConversationFilter.parse({k: request.args.get(k) for k in request.args})
    except ValueError as exc:
        return json_error(400, str(exc))
    summaries, has_more = await blocking(service.list_conversations, staff(request), filters)
    return json_reply({"conversations": [s.as_json() for s in summaries],
                       "page": filters.page, "has_more": has_more,
                       "time_zone": staff(request).tz.key})


@api()
async def conversation(request: Request, session: Session, sender_id: str) -> HTTPResponse:
    transcript = await blocking(service.view_transcript, staff(request), unquote(sender_id),
                                session.user.username, "api")
    if transcript is None:
        return json_error(404, "no such conversation")
    return json_reply(transcript.as_json())


@api()
async def requests_list(request: Request, session: Session) -> HTTPResponse:
    status = (request.args.get("status") or "").strip() or None
    kind = (request.args.get("kind") or "").strip() or None
    error = service.check_request_filters(status, kind)
    if error is not None:
        return json_error(400, error)
    try:
        number = max(1, int(request.args.get("page") or 1))
    except ValueError:
        return json_error(400, "page must be a number")
    rows, has_more = await blocking(service.list_requests, staff(request), status, kind, number)
    tz = staff(request).tz
    return json_reply({"requests": [service.request_json(r, tz) for r in rows], "page": number,
                       "has_more": has_more, "time_zone": tz.key})


def _request_reply(request: Request, found: tuple) -> HTTPResponse:
    row, history = found
    return json_reply({"request": service.request_json(row, staff(request).tz),
                       "history": [service.history_json(h) for h in history]})


@api()
async def request_get(request: Request, session: Session, reference: str) -> HTTPResponse:
    found = await blocking(service.request_details, staff(request), reference[:32])
    if found is None:
        return json_error(404, "no such request")
    return _request_reply(request, found)


@api()
async def request_patch(request: Request, session: Session, reference: str) -> HTTPResponse:
    body = json_body(request)
    if body is None:
        return json_error(400, 'send a JSON object: {"status": "...", "note": "..."}')
    status, note = body.get("status"), body.get("note")
    if (status is not None and not isinstance(status, str)) or \
            (note is not None and not isinstance(note, str)):
        return json_error(400, "status and note must be strings")
    if status is None and not (note or "").strip():
        return json_error(400, "give a status, a note or both")
    if note is not None and len(note) > 5000:
        return json_error(400, "note: at most 5000 characters")
    try:
        found = await blocking(service.update_request, staff(request), reference[:32],
                               session.user.username, status, note)
    except ValueError as exc:
        return json_error(400, str(exc))
    if found is None:
        return json_error(404, "no such request")
    return _request_reply(request, found)


async def _decide(request: Request, session: Session, reference: str,
                  decision: str) -> HTTPResponse:
    context = staff(request)
    try:
        if decision == "move":
            body = json_body(request)
            start = body.get("start") if body else None
            if not isinstance(start, str):
                return json_error(400, 'send {"start": "2026-12-08T14:00"}')
            found = await blocking(service.move_appointment, context, reference[:32],
                                   session.user.username,
                                   service.parse_new_start(start[:40], context.tz), "api")
        else:
            found = await blocking(service.decide_appointment, context, reference[:32],
                                   session.user.username, decision, "api")
    except service.AppointmentError as exc:
        return json_error(exc.status, str(exc))
    except ValueError as exc:
        return json_error(400, str(exc))
    if found is None:
        return json_error(404, "no such request")
    return _request_reply(request, found)


@api()
async def request_confirm(request: Request, session: Session, reference: str) -> HTTPResponse:
    """Confirm the request's calendar appointment (the event becomes CONFIRMED)."""
    return await _decide(request, session, reference, "confirm")


@api()
async def request_decline(request: Request, session: Session, reference: str) -> HTTPResponse:
    """Decline the request's calendar appointment (the event is deleted)."""
    return await _decide(request, session, reference, "decline")


@api()
async def request_move(request: Request, session: Session, reference: str) -> HTTPResponse:
    """Move the request's calendar appointment to ``start`` (held in the calendar first)."""
    return await _decide(request, session, reference, "move")


ROUTES = (
    (login, "/api/login", ("POST",)),
    (logout, "/api/logout", ("POST",)),
    (me, "/api/me", ("GET",)),
    (conversations, "/api/conversations", ("GET",)),
    (conversation, "/api/conversations/<sender_id:str>", ("GET",)),
    (requests_list, "/api/requests", ("GET",)),
    (request_get, "/api/requests/<reference:str>", ("GET",)),
    (request_patch, "/api/requests/<reference:str>", ("PATCH",)),
    (request_confirm, "/api/requests/<reference:str>/confirm", ("POST",)),
    (request_decline, "/api/requests/<reference:str>/decline", ("POST",)),
    (request_move, "/api/requests/<reference:str>/move", ("POST",)),
)


def add_routes(blueprint: Blueprint) -> None:
    for handler, uri, methods in ROUTES:
        blueprint.add_route(handler, uri, methods=list(methods),
                            name=f"api_{handler.__name__}_{methods[0].lower()}")
