"""Settings of the web server (demo page, widget, staff console), read from the environment.

Every setting has a default that works for ``make run`` on a developer machine; the README lists
them all. Nothing is read at import time: call :func:`get_web_settings`.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from actions.settings import VAR_DIR, SettingsError, _env, _env_int, _path

logger = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class WebSettings:
    host: str
    port: int
    rasa_port: int
    # Where browsers reach the Rasa server's socket.io channel; empty: same host as the page,
    # port RASA_PORT.
    chat_socket_url: str
    allowed_origins: tuple[str, ...]
    webchat_bundle: Path
    tracker_database_url: str
    # staff console
    staff_admin_user: str
    staff_admin_password: str
    secret_key: str
    session_hours: int
    retention_days: int
    secure_cookies: bool

    def __repr__(self) -> str:  # never print secrets
        return f"WebSettings(host={self.host!r}, port={self.port}, origins={self.allowed_origins})"


def default_origins(port: int) -> str:
    return f"http://localhost:{port},http://127.0.0.1:{port}"


def _secret_key() -> str:
    """``STAFF_SECRET_KEY``, else a random key kept in ``var/`` (created once, mode 600)."""
    configured = _env("STAFF_SECRET_KEY")
    if configured:
        if len(configured) < 32:
            raise SettingsError("STAFF_SECRET_KEY must be at least 32 characters")
        return configured
    key_file = VAR_DIR / "staff-secret.key"
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_urlsafe(48))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


@lru_cache(maxsize=1)
def get_web_settings() -> WebSettings:
    port = _env_int("WEB_PORT", 8080)
    origins = _env("WEB_ALLOWED_ORIGINS", default_origins(port))
    return WebSettings(
        host=_env("WEB_HOST", "127.0.0.1"),
        port=port,
        rasa_port=_env_int("RASA_PORT", 5005),
        chat_socket_url=_env("CHAT_SOCKET_URL").rstrip("/"),
        allowed_origins=tuple(o.strip().rstrip("/") for o in origins.split(",") if o.strip()),
        webchat_bundle=_path(
            "WEBCHAT_BUNDLE", WEB_DIR / "node_modules" / "rasa-webchat" / "lib" / "index.js"
        ),
        tracker_database_url=_env(
            "TRACKER_DATABASE_URL", f"sqlite:///{VAR_DIR / 'conversations.db'}"
        ),
        staff_admin_user=_env("STAFF_ADMIN_USER"),
        staff_admin_password=_env("STAFF_ADMIN_PASSWORD"),
        secret_key=_secret_key(),
        session_hours=_env_int("STAFF_SESSION_HOURS", 8),
        retention_days=_env_int("RETENTION_DAYS", 180),
        secure_cookies=_env("STAFF_SECURE_COOKIES", "false").lower() in ("1", "true", "yes"),
    )
