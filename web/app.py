"""The web server: the clinic's demo page with the chat widget, and the staff console.

* ``/``                 a demo clinic page with the rasa-webchat widget, in the clinic's colours
* ``/widget-config.json`` the widget's settings, for the snippet a clinic pastes into its site
* ``/webchat.js``       the widget bundle from npm (``web/package-lock.json``), served without its
                        web-font import so patients' browsers call no third party
* ``/static/...``       the page's own CSS and script
* ``/staff/...``        the staff console (``staff`` package; sign-in required)
* ``/health``           ``{"status": "ok"}``

Every response carries a Content-Security-Policy that allows only this server and the Rasa
server's socket.io endpoint.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from actions.clinic import Clinic, get_clinic
from actions.settings import get_settings
from web.settings import WEB_DIR, WebSettings, get_web_settings

logger = logging.getLogger(__name__)

# The bundle's CSS imports the "Inter" web font from a third-party host; drop that import (the
# page maps "Inter" to local fonts instead).
FONT_IMPORT_RE = re.compile(r"@import url\(https?://[^)]*\);?")


@lru_cache(maxsize=2)
def load_webchat_bundle(path: str, mtime_ns: int) -> tuple[bytes, str]:
    """The widget bundle without remote imports, and its ETag."""
    source = Path(path).read_text(encoding="utf-8")
    cleaned = FONT_IMPORT_RE.sub("", source)
    if "fonts.googleapis" in cleaned:
        raise RuntimeError("the webchat bundle still refers to a remote font")
    body = cleaned.encode("utf-8")
    return body, hashlib.sha256(body).hexdigest()[:16]


def socket_url(settings: WebSettings, request: Request) -> str:
    """Where the browser reaches Rasa's socket.io channel."""
    if settings.chat_socket_url:
        return settings.chat_socket_url
    host = request.host.rsplit(":", 1)[0] if not request.host.endswith("]") else request.host
    return f"{request.scheme}://{host}:{settings.rasa_port}"


def content_security_policy(chat_url: str) -> str:
    parts = urlsplit(chat_url)
    ws_scheme = "wss" if parts.scheme == "https" else "ws"
    chat_origin = f"{parts.scheme}://{parts.netloc}"
    return "; ".join([
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",  # the widget injects its CSS as <style> elements
        "img-src 'self' data:",
        "font-src 'self' data:",  # the widget's carousel icons are inline fonts
        f"connect-src 'self' {chat_origin} {ws_scheme}://{parts.netloc}",
        "frame-ancestors 'self'",
        "base-uri 'none'",
        "form-action 'self'",
    ])


# The widget's own words in each language the assistant speaks.
# ``connectingText`` shows in the chat's header while the connection to the assistant is lost
# (the widget's own is "Waiting for server...").
WIDGET_TEXTS = {
    "en": {"subtitle": "Headaches, acupuncture, appointments",
           "inputTextFieldHint": "Type your question",
           "connectingText": "Connecting to the assistant…"},
    "es": {"subtitle": "Dolores de cabeza, acupuntura, citas",
           "inputTextFieldHint": "Escriba su pregunta",
           "connectingText": "Conectando con el asistente…"},
}


def page_language(request: Request) -> str:
    """The page's language: ``?lang=es`` (the page's language links), else the browser's
    first choice among the languages the assistant speaks (Accept-Language), else English."""
    asked = (request.args.get("lang") or "").strip().lower()[:2]
    if asked in WIDGET_TEXTS:
        return asked
    for part in request.headers.get("accept-language", "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in WIDGET_TEXTS:
            return code
    return "en"


def widget_config(clinic: Clinic, chat_url: str, language: str = "en") -> dict[str, object]:
    """What the page's script passes to ``WebChat.default``. ``language`` goes to the assistant
    with the start of the conversation (``customData``): its first replies are in it."""
    primary = clinic.colors.get("primary", "#1d5c7a")
    texts = WIDGET_TEXTS.get(language, WIDGET_TEXTS["en"])
    return {
        "socketUrl": chat_url,
        "socketPath": "/socket.io/",
        "initPayload": "/session_start",  # never null: a null payload crashes Rasa 3.6
        "customData": {"language": language if language in WIDGET_TEXTS else "en"},
        "title": clinic.name,
        **texts,
        "params": {"storage": "local"},
        "showFullScreenButton": True,
        "hideWhenNotConnected": False,
        "mainColor": primary,
        "userBackgroundColor": primary,
        "userTextColor": clinic.colors.get("on_primary", "#ffffff"),
    }


def create_app(settings: WebSettings | None = None, name: str = "clinic_web") -> Sanic:
    settings = settings or get_web_settings()
    app = Sanic(name)
    app.config.REQUEST_MAX_SIZE = 1_000_000
    app.config.FORWARDED_SECRET = None
    templates = Environment(
        loader=FileSystemLoader(str(WEB_DIR / "templates")),
        autoescape=select_autoescape(["html"]),
    )
    app.ctx.settings = settings
    app.ctx.templates = templates
    app.static("/static", str(WEB_DIR / "static"), name="static")

    @app.get("/")
    async def index(request: Request) -> HTTPResponse:
        clinic = get_clinic(get_settings().clinic_config)
        chat_url = socket_url(settings, request)
        language = page_language(request)
        html = templates.get_template("index.html").render(
            clinic=clinic, lang=language,
            config_json=json.dumps(widget_config(clinic, chat_url, language)).replace(
                "<", "\\u003c"),
        )
        reply = response.html(html)
        reply.headers["Content-Security-Policy"] = content_security_policy(chat_url)
        reply.headers["Vary"] = "Accept-Language"
        return reply

    @app.get("/widget-config.json")
    async def widget_settings(request: Request) -> HTTPResponse:
        """The widget's settings for a clinic's own site (README snippet); CORS for its origins."""
        clinic = get_clinic(get_settings().clinic_config)
        reply = response.json(widget_config(clinic, socket_url(settings, request),
                                            page_language(request)))
        origin = request.headers.get("origin", "").rstrip("/")
        reply.headers["Vary"] = "Origin, Accept-Language"
        if origin in settings.allowed_origins:
            reply.headers["Access-Control-Allow-Origin"] = origin
        return reply

    @app.get("/webchat.js")
    async def webchat(request: Request) -> HTTPResponse:
        bundle = settings.webchat_bundle
        if not bundle.exists():
            logger.error("webchat bundle missing at %s: run `make web-install`", bundle)
            return response.text("chat widget not installed (run make web-install)", status=503)
        body, etag = load_webchat_bundle(str(bundle), bundle.stat().st_mtime_ns)
        if request.headers.get("if-none-match") == etag:
            return response.empty(status=304)
        return response.raw(body, content_type="application/javascript; charset=utf-8",
                            headers={"ETag": etag, "Cache-Control": "public, max-age=3600"})

    @app.get("/favicon.ico")
    async def favicon(_: Request) -> HTTPResponse:
        return response.empty(status=204)

    @app.get("/health")
    async def health(_: Request) -> HTTPResponse:
        return response.json({"status": "ok"})

    @app.on_response
    async def security_headers(request: Request, reply: HTTPResponse) -> None:
        reply.headers.setdefault("X-Content-Type-Options", "nosniff")
        reply.headers.setdefault("Referrer-Policy", "same-origin")
        reply.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        )

    from staff.routes import register as register_staff

    register_staff(app, settings)
    return app
