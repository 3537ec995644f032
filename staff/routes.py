"""The staff console's HTML pages (``/staff/...``); the JSON API is in ``staff.api``.

Every page but the sign-in page needs a session (``staff.http.page``); forms carry the session's
CSRF token. Handlers only parse the request, call ``staff.service`` in a worker thread and render.
"""

from __future__ import annotations

import logging
from datetime import datetime
from urllib.parse import unquote

from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from staff import api, live, live_views, service
from staff.auth import LockedOutError, LoginRefusedError, Session
from staff.context import STAFF_DIR, build_context, conversation_url
from staff.conversations import ConversationFilter
from staff.db import audit_entries, corrections
from staff.http import (
    HOME_URL,
    LOGIN_COOKIE,
    LOGIN_URL,
    SESSION_COOKIE,
    blocking,
    clear_cookie,
    current_session,
    form_value,
    no_store,
    page,
    render,
    safe_next,
    set_cookie,
    staff,
)
from staff.privacy import Person
from staff.training import corrections_yaml
from web.settings import WebSettings

logger = logging.getLogger(__name__)

AUDIT_PAGE = 100
SAVED = ("1", "confirmed", "declined", "moved")  # request page: what was just saved


def _page_number(request: Request) -> int:
    try:
        return max(1, min(10_000, int(request.args.get("page") or 1)))
    except ValueError:
        return 1


def _not_found(request: Request, what: str) -> HTTPResponse:
    return render(request, "error.html", status=404, message=f"{what} was not found.")


# ---- sign-in -----------------------------------------------------------------------------------


def _login_page(request: Request, next_url: str, error: str | None = None,
                status: int = 200, username: str = "") -> HTTPResponse:
    cookie, token = staff(request).auth.new_login_nonce()
    reply = render(request, "login.html", status=status, token=token, next_url=next_url,
                   error=error, signed_out=request.args.get("signed_out") == "1",
                   username=username[:64])
    set_cookie(reply, request, LOGIN_COOKIE, cookie, 3600)
    return reply


async def login_form(request: Request) -> HTTPResponse:
    next_url = safe_next(request.args.get("next"))
    if await current_session(request) is not None:
        return no_store(response.redirect(next_url))
    return _login_page(request, next_url)


async def login_submit(request: Request) -> HTTPResponse:
    context = staff(request)
    next_url = safe_next(form_value(request, "next", 500))
    if not context.auth.check_login_form(request.cookies.get(LOGIN_COOKIE),
                                         form_value(request, "token", 200)):
        return _login_page(request, next_url, "The sign-in form had expired. Please try again.",
                           status=400)
    username = form_value(request, "username", 200)
    try:
        user = await blocking(context.auth.authenticate, username,
                              form_value(request, "password", 2000))
    except LoginRefusedError as exc:
        return _login_page(request, next_url, str(exc), username=username,
                           status=429 if isinstance(exc, LockedOutError) else 401)
    cookie, _ = await blocking(context.auth.create_session, user)
    reply = no_store(response.redirect(next_url, status=303))
    set_cookie(reply, request, SESSION_COOKIE, cookie, context.settings.session_hours * 3600)
    clear_cookie(reply, request, LOGIN_COOKIE)
    return reply


@page()
async def logout(request: Request, session: Session) -> HTTPResponse:
    await blocking(live.mark_absent, staff(request), session.user.username)
    await blocking(staff(request).auth.end_session, session)
    reply = no_store(response.redirect(f"{LOGIN_URL}?signed_out=1", status=303))
    clear_cookie(reply, request, SESSION_COOKIE)
    return reply


async def index(request: Request) -> HTTPResponse:
    return no_store(response.redirect(HOME_URL))


# ---- conversations -----------------------------------------------------------------------------


@page()
async def conversations_page(request: Request, session: Session) -> HTTPResponse:
    context = staff(request)
    error = None
    try:
        filters = ConversationFilter.parse({k: request.args.get(k) for k in request.args})
    except ValueError as exc:
        error, filters = str(exc), ConversationFilter()
    summaries, has_more = await blocking(service.list_conversations, context, filters)
    channels = await blocking(context.conversations.channels)
    return render(request, "conversations.html", filters=filters, summaries=summaries,
                  has_more=has_more, channels=channels, error=error,
                  status=400 if error else 200)


@page()
async def transcript_page(request: Request, session: Session, sender_id: str) -> HTTPResponse:
    sender = unquote(sender_id)
    transcript = await blocking(service.view_transcript, staff(request), sender,
                                session.user.username, "page")
    if transcript is None:
        return _not_found(request, "This conversation")
    return render(request, "transcript.html", t=transcript, intents=staff(request).intents,
                  saved=request.args.get("saved"), error=request.args.get("error"))


@page()
async def transcript_download(request: Request, session: Session,
                              sender_id: str) -> HTTPResponse:
    sender = unquote(sender_id)
    text = await blocking(service.export_transcript, staff(request), sender,
                          session.user.username)
    if text is None:
        return _not_found(request, "This conversation")
    return no_store(response.text(text, headers={
        "Content-Disposition": 'attachment; filename="transcript.txt"'}))


@page()
async def correction_submit(request: Request, session: Session, sender_id: str) -> HTTPResponse:
    sender = unquote(sender_id)
    context = staff(request)
    try:
        event_id = int(form_value(request, "event_id", 20))
    except ValueError:
        return render(request, "error.html", status=400, message="No message was chosen.")
    if form_value(request, "action", 20) == "remove":
        await blocking(service.unmark_misunderstood, context, sender, event_id)
        error = None
    else:
        error = await blocking(service.mark_misunderstood, context, sender, event_id,
                               form_value(request, "intent", 200), session.user.username)
    outcome = "error=intent" if error else "saved=correction"
    return no_store(response.redirect(
        f"{conversation_url(sender)}?{outcome}#m{event_id}", status=303))


# ---- requests ----------------------------------------------------------------------------------


def _request_filters(request: Request) -> tuple[str | None, str | None]:
    return ((request.args.get("status") or "").strip() or None,
            (request.args.get("kind") or "").strip() or None)


@page()
async def requests_page(request: Request, session: Session) -> HTTPResponse:
    status, kind = _request_filters(request)
    error = service.check_request_filters(status, kind)
    rows: list = []
    has_more = False
    number = _page_number(request)
    if error is None:
        rows, has_more = await blocking(service.list_requests, staff(request), status, kind,
                                        number)
    return render(request, "requests.html", rows=rows, has_more=has_more, page_number=number,
                  filters={"status": status, "kind": kind}, error=error,
                  status=400 if error else 200)


@page()
async def requests_csv(request: Request, session: Session) -> HTTPResponse:
    status, kind = _request_filters(request)
    error = service.check_request_filters(status, kind)
    if error is not None:
        return render(request, "error.html", status=400, message=error)
    text = await blocking(service.requests_csv, staff(request), status, kind,
                          session.user.username)
    name = f"requests-{datetime.now(staff(request).tz):%Y%m%d-%H%M}.csv"
    return no_store(response.text(text, content_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{name}"'}))


@page()
async def request_page(request: Request, session: Session, reference: str) -> HTTPResponse:
    found = await blocking(service.request_details, staff(request), reference[:32])
    if found is None:
        return _not_found(request, "This request")
    row, history = found
    return render(request, "request.html", r=row, history=history, error=None,
                  saved=saved if (saved := request.args.get("saved")) in SAVED else None,
                  calendar_on=staff(request).calendar is not None)


@page()
async def request_update(request: Request, session: Session, reference: str) -> HTTPResponse:
    context = staff(request)
    status = form_value(request, "status", 32) or None
    note = form_value(request, "note", 5000)
    try:
        found = await blocking(service.update_request, context, reference[:32],
                               session.user.username, status, note)
    except ValueError as exc:
        found = await blocking(service.request_details, context, reference[:32])
        if found is None:
            return _not_found(request, "This request")
        return render(request, "request.html", status=400, r=found[0], history=found[1],
                      error=str(exc), saved=None, calendar_on=context.calendar is not None)
    if found is None:
        return _not_found(request, "This request")
    return no_store(response.redirect(f"/staff/requests/{reference}?saved=1", status=303))


async def _change_appointment(request: Request, session: Session, reference: str,
                              decision: str) -> HTTPResponse:
    """Confirm, decline or move (``start`` field) the appointment; the page again with the
    reason when that could not be done."""
    context = staff(request)
    try:
        if decision == "move":
            start = service.parse_new_start(form_value(request, "start", 40), context.tz)
            found = await blocking(service.move_appointment, context, reference[:32],
                                   session.user.username, start, "page")
        else:
            found = await blocking(service.decide_appointment, context, reference[:32],
                                   session.user.username, decision, "page")
    except (service.AppointmentError, ValueError) as exc:
        current = await blocking(service.request_details, context, reference[:32])
        if current is None:
            return _not_found(request, "This request")
        return render(request, "request.html", status=getattr(exc, "status", 400),
                      r=current[0], history=current[1], error=str(exc), saved=None,
                      calendar_on=context.calendar is not None)
    if found is None:
        return _not_found(request, "This request")
    done = {"confirm": "confirmed", "decline": "declined", "move": "moved"}[decision]
    return no_store(response.redirect(f"/staff/requests/{found[0]['reference']}?saved={done}",
                                      status=303))


@page()
async def appointment_confirm(request: Request, session: Session, reference: str
                              ) -> HTTPResponse:
    return await _change_appointment(request, session, reference, "confirm")


@page()
async def appointment_decline(request: Request, session: Session, reference: str
                              ) -> HTTPResponse:
    return await _change_appointment(request, session, reference, "decline")


@page()
async def appointment_move(request: Request, session: Session, reference: str
                           ) -> HTTPResponse:
    return await _change_appointment(request, session, reference, "move")


# ---- corrections, audit log, privacy -----------------------------------------------------------


@page()
async def corrections_page(request: Request, session: Session) -> HTTPResponse:
    rows = await blocking(corrections, staff(request).engine)
    return render(request, "corrections.html", rows=rows)


@page()
async def corrections_download(request: Request, session: Session) -> HTTPResponse:
    rows = await blocking(corrections, staff(request).engine)
    return no_store(response.text(corrections_yaml(rows), content_type="text/yaml; charset=utf-8",
                                  headers={"Content-Disposition":
                                           'attachment; filename="corrections.yml"'}))


@page(admin=True)
async def audit_page(request: Request, session: Session) -> HTTPResponse:
    number = _page_number(request)
    action = (request.args.get("action") or "").strip()[:32] or None
    rows = await blocking(audit_entries, staff(request).engine, AUDIT_PAGE + 1,
                          (number - 1) * AUDIT_PAGE, action)
    return render(request, "audit.html", rows=rows[:AUDIT_PAGE],
                  has_more=len(rows) > AUDIT_PAGE, page_number=number, action=action)


@page(admin=True)
async def privacy_page(request: Request, session: Session) -> HTTPResponse:
    return render(request, "privacy.html", step="start", person=None, counts=None, error=None,
                  days=staff(request).settings.retention_days, operation=None)


@page(admin=True)
async def forget_submit(request: Request, session: Session) -> HTTPResponse:
    context = staff(request)
    values = {name: form_value(request, name, 300) for name in ("sender", "phone", "email")}
    try:
        person = Person.parse(values["sender"], values["phone"], values["email"],
                              context.region)
    except ValueError as exc:
        return render(request, "privacy.html", status=400, step="start", person=values,
                      counts=None, error=str(exc), days=context.settings.retention_days,
                      operation="forget")
    confirmed = form_value(request, "step", 20) == "confirm"
    counts = await blocking(context.privacy.forget, person, session.user.username,
                            dry_run=not confirmed)
    return render(request, "privacy.html", step="done" if confirmed else "confirm",
                  person=values, counts=counts.as_dict(), error=None,
                  days=context.settings.retention_days, operation="forget")


@page(admin=True)
async def retention_submit(request: Request, session: Session) -> HTTPResponse:
    context = staff(request)
    confirmed = form_value(request, "step", 20) == "confirm"
    days = context.settings.retention_days
    counts = await blocking(context.privacy.retention, days, session.user.username,
                            dry_run=not confirmed)
    return render(request, "privacy.html", step="done" if confirmed else "confirm",
                  person=None, counts=counts.as_dict(), error=None, days=days,
                  operation="retention")


# ---- wiring ------------------------------------------------------------------------------------

PAGES = (
    (index, "", ("GET",)),
    (login_form, "/login", ("GET",)),
    (login_submit, "/login", ("POST",)),
    (logout, "/logout", ("POST",)),
    (conversations_page, "/conversations", ("GET",)),
    (transcript_page, "/conversations/<sender_id:str>", ("GET",)),
    (transcript_download, "/conversations/<sender_id:str>/transcript.txt", ("GET",)),
    (correction_submit, "/conversations/<sender_id:str>/corrections", ("POST",)),
    (requests_page, "/requests", ("GET",)),
    (requests_csv, "/requests.csv", ("GET",)),
    (request_page, "/requests/<reference:str>", ("GET",)),
    (request_update, "/requests/<reference:str>", ("POST",)),
    (appointment_confirm, "/requests/<reference:str>/confirm", ("POST",)),
    (appointment_decline, "/requests/<reference:str>/decline", ("POST",)),
    (appointment_move, "/requests/<reference:str>/move", ("POST",)),
    (corrections_page, "/corrections", ("GET",)),
    (corrections_download, "/corrections.yml", ("GET",)),
    (audit_page, "/audit", ("GET",)),
    (privacy_page, "/privacy", ("GET",)),
    (forget_submit, "/privacy/forget", ("POST",)),
    (retention_submit, "/privacy/retention", ("POST",)),
)


def register(app: Sanic, settings: WebSettings) -> None:
    """Add the staff console to the web app; its databases open when the server starts."""
    blueprint = Blueprint("staff", url_prefix="/staff")
    blueprint.static("/static", str(STAFF_DIR / "static"), name="static")
    for handler, uri, methods in PAGES:
        name = f"{handler.__name__}_{methods[0].lower()}"
        blueprint.add_route(handler, uri, methods=list(methods), name=name)
    api.add_routes(blueprint)
    live_views.add_routes(blueprint)
    app.blueprint(blueprint)

    async def start_staff(app: Sanic, _loop: object) -> None:
        app.ctx.staff = await blocking(build_context, settings)
        logger.info("Staff console at /staff")

    app.register_listener(start_staff, "before_server_start")
