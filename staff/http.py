"""Request plumbing shared by the console's pages and its JSON API: sign-in checks, CSRF,
cookies, rendering, and running blocking database work off the event loop."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from functools import partial, wraps
from typing import Any, TypeVar
from urllib.parse import quote

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from staff.auth import Session
from staff.context import StaffContext

logger = logging.getLogger(__name__)

SESSION_COOKIE = "staff_session"
LOGIN_COOKIE = "staff_login"
COOKIE_PATH = "/staff"
LOGIN_URL = "/staff/login"
HOME_URL = "/staff/conversations"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

T = TypeVar("T")
Handler = Callable[..., Awaitable[HTTPResponse]]


def staff(request: Request) -> StaffContext:
    context = getattr(request.app.ctx, "staff", None)
    if context is None:
        raise RuntimeError("the staff console has not started")
    return context


async def blocking(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking call (database, argon2) in a worker thread."""
    return await asyncio.to_thread(partial(func, *args, **kwargs))


async def current_session(request: Request) -> Session | None:
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    return await blocking(staff(request).auth.load_session, cookie)


def set_cookie(reply: HTTPResponse, request: Request, name: str, value: str,
               max_age: int) -> None:
    reply.cookies[name] = value
    cookie = reply.cookies[name]
    cookie["path"] = COOKIE_PATH
    cookie["httponly"] = True
    cookie["samesite"] = "Strict"
    cookie["max-age"] = max_age
    if staff(request).settings.secure_cookies:
        cookie["secure"] = True


def clear_cookie(reply: HTTPResponse, request: Request, name: str) -> None:
    set_cookie(reply, request, name, "", 0)


def no_store(reply: HTTPResponse) -> HTTPResponse:
    """Pages and API answers hold patients' data: no caching anywhere."""
    reply.headers["Cache-Control"] = "no-store"
    return reply


def json_reply(body: Any, status: int = 200, headers: dict[str, str] | None = None
               ) -> HTTPResponse:
    return no_store(response.json(body, status=status, headers=headers))


def json_error(status: int, message: str, **extra: Any) -> HTTPResponse:
    headers = {"Retry-After": str(extra["retry_after"])} if "retry_after" in extra else None
    return json_reply({"error": message, **extra}, status=status, headers=headers)


def render(request: Request, template: str, status: int = 200, **values: Any) -> HTTPResponse:
    context = staff(request)
    session: Session | None = getattr(request.ctx, "staff_session", None)
    html = context.templates.get_template(template).render(
        session=session,
        user=session.user if session else None,
        csrf_token=session.csrf_token if session else "",
        path=request.path,
        **values,
    )
    return no_store(response.html(html, status=status))


def safe_next(target: str | None) -> str:
    """Only a path inside the console: never another site (open redirect)."""
    if (target and target.startswith("/staff/") and not target.startswith("//")
            and "\\" not in target and "\n" not in target and "\r" not in target):
        return target
    return HOME_URL


def login_redirect(request: Request) -> HTTPResponse:
    target = request.path + (f"?{request.query_string}" if request.query_string else "")
    return no_store(response.redirect(f"{LOGIN_URL}?next={quote(target, safe='')}"))


def form_value(request: Request, name: str, limit: int = 10_000) -> str:
    value = request.form.get(name) if request.form else None
    return (value or "")[:limit]


def page(admin: bool = False) -> Callable[[Handler], Handler]:
    """An HTML page for signed-in staff: sign-in redirect, admin check, CSRF on POST."""

    def decorate(handler: Handler) -> Handler:
        @wraps(handler)
        async def wrapper(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
            session = await current_session(request)
            if session is None:
                if request.method in UNSAFE_METHODS:
                    return no_store(response.redirect(LOGIN_URL))
                return login_redirect(request)
            request.ctx.staff_session = session
            if admin and not session.user.is_admin:
                return render(request, "error.html", status=403,
                              message="Only an administrator can open this page.")
            if request.method in UNSAFE_METHODS and not staff(request).auth.check_csrf(
                    session, form_value(request, "csrf_token", 200)):
                logger.warning("CSRF check failed for %s (%s %s)", session.user.username,
                               request.method, request.route.name if request.route else "?")
                return render(request, "error.html", status=403,
                              message="This form has expired. Go back, reload the page and "
                                      "try again.")
            return await handler(request, session, *args, **kwargs)

        return wrapper

    return decorate


def api(admin: bool = False) -> Callable[[Handler], Handler]:
    """A JSON API call for signed-in staff: 401 without a session; state-changing calls need
    ``Content-Type: application/json`` and the session's ``X-CSRF-Token``."""

    def decorate(handler: Handler) -> Handler:
        @wraps(handler)
        async def wrapper(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
            session = await current_session(request)
            if session is None:
                return json_error(401, "sign in first: POST /staff/api/login")
            request.ctx.staff_session = session
            if admin and not session.user.is_admin:
                return json_error(403, "administrators only")
            if request.method in UNSAFE_METHODS:
                if not is_json(request):
                    return json_error(415, "send Content-Type: application/json")
                if not staff(request).auth.check_csrf(session,
                                                      request.headers.get("x-csrf-token")):
                    return json_error(403, "missing or wrong X-CSRF-Token header")
            return await handler(request, session, *args, **kwargs)

        return wrapper

    return decorate


def is_json(request: Request) -> bool:
    content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    return content_type == "application/json"


def json_body(request: Request) -> dict[str, Any] | None:
    """The request's JSON object, or None when the body is not one."""
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None
