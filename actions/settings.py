"""Settings of the action server and the delivery worker, read from environment variables.

Every setting has a default that works for ``make run`` on a developer machine; the README lists
them all. Nothing is read at import time: call :func:`get_settings`.
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
VAR_DIR = PROJECT_ROOT / "var"


class SettingsError(ValueError):
    """A setting has a value that cannot be used."""


def _env(name: str, default: str = "") -> str:
    value = os.environ.get(name, "").strip()
    return value or default


def _env_int(name: str, default: int) -> int:
    raw = _env(name)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None


def _env_bool(name: str, default: bool) -> bool:
    raw = _env(name).lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def _path(name: str, default: Path) -> Path:
    path = Path(_env(name, str(default)))
    return path if path.is_absolute() else PROJECT_ROOT / path


@dataclass(frozen=True)
class Settings:
    """Action-server and delivery settings; see the README's settings table."""

    clinic_config: Path
    database_url: str
    # delivery to the front desk
    smtp_host: str
    smtp_port: int
    smtp_user: str
    smtp_password: str
    smtp_starttls: bool
    smtp_timeout: int
    clinic_inbox: str
    clinic_sender: str
    outbox_dir: Path
    webhook_url: str
    webhook_secret: str
    webhook_timeout: int
    retry_first_seconds: int
    retry_max_seconds: int
    poll_seconds: float
    # the clinic's CalDAV calendar; empty URL = request mode (the front desk calls back)
    calendar_url: str = ""
    calendar_user: str = ""
    calendar_password: str = ""
    calendar_timeout: float = 5.0
    calendar_cache_seconds: float = 30.0
    # Twilio (the SMS/WhatsApp channel's account): notices to patients who booked by SMS
    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    twilio_number: str = ""
    # Rasa's HTTP API (the staff console's replies, the worker's expired waits)
    rasa_api_url: str = "http://127.0.0.1:5005"
    rasa_api_token: str = ""
    rasa_api_timeout: float = 10.0
    # a person, live (docs/live-chat.md)
    live_chat: bool = True
    live_wait_minutes: int = 5
    live_join_minutes: int = 2
    live_chat_hours: str = "opening"  # opening: only while the clinic is open; always
    live_alerts: bool = True  # e-mail the clinic when no one is signed in
    live_alert_email: str = ""  # empty: clinic_inbox
    console_url: str = ""  # the staff console's public base URL, for links in alert e-mails

    @property
    def sms_enabled(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token and self.twilio_number)

    def __repr__(self) -> str:  # never print secrets
        return (
            f"Settings(database={self.database_url.split('@')[-1]!r}, "
            f"smtp_host={self.smtp_host!r}, webhook={'on' if self.webhook_url else 'off'}, "
            f"calendar={'on' if self.calendar_url else 'off'}, "
            f"sms={'on' if self.sms_enabled else 'off'})"
        )


RASA_API_TOKEN_FILE = VAR_DIR / "rasa-api.key"


def rasa_api_token(environ: dict[str, str] | None = None) -> str:
    """``RASA_API_TOKEN``, else a random token kept in ``var/rasa-api.key`` (created once, mode
    600): the Rasa server requires it and the processes that call Rasa's API send it."""
    environ = os.environ if environ is None else environ
    configured = environ.get("RASA_API_TOKEN", "").strip()
    if configured:
        if len(configured) < 16:
            raise SettingsError("RASA_API_TOKEN must be at least 16 characters")
        return configured
    path = RASA_API_TOKEN_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:  # O_EXCL: of two processes starting together, one writes it
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as file:
                file.write(secrets.token_urlsafe(32))
    token = path.read_text().strip()
    if not token:  # the other process is still writing it
        import time

        time.sleep(0.2)
        token = path.read_text().strip()
    return token


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Read the settings from the environment once per process."""
    default_db = f"sqlite:///{VAR_DIR / 'clinic.db'}"
    settings = Settings(
        clinic_config=_path("CLINIC_CONFIG", PROJECT_ROOT / "clinic.yml"),
        database_url=_env("DATABASE_URL", default_db),
        smtp_host=_env("SMTP_HOST"),
        smtp_port=_env_int("SMTP_PORT", 25),
        smtp_user=_env("SMTP_USER"),
        smtp_password=_env("SMTP_PASSWORD"),
        smtp_starttls=_env_bool("SMTP_STARTTLS", False),
        smtp_timeout=_env_int("SMTP_TIMEOUT", 10),
        clinic_inbox=_env("CLINIC_INBOX", "frontdesk@clinic.example"),
        clinic_sender=_env("CLINIC_SENDER", "assistant@clinic.example"),
        outbox_dir=_path("OUTBOX_DIR", VAR_DIR / "outbox"),
        webhook_url=_env("BOOKING_WEBHOOK_URL"),
        webhook_secret=_env("BOOKING_WEBHOOK_SECRET"),
        webhook_timeout=_env_int("BOOKING_WEBHOOK_TIMEOUT", 10),
        retry_first_seconds=_env_int("DELIVERY_RETRY_SECONDS", 10),
        retry_max_seconds=_env_int("DELIVERY_RETRY_MAX_SECONDS", 900),
        poll_seconds=float(_env_int("DELIVERY_POLL_MS", 1000)) / 1000.0,
        calendar_url=_env("CALENDAR_URL"),
        calendar_user=_env("CALENDAR_USER"),
        calendar_password=_env("CALENDAR_PASSWORD"),
        calendar_timeout=_env_int("CALENDAR_TIMEOUT_MS", 5000) / 1000.0,
        calendar_cache_seconds=float(_env_int("CALENDAR_CACHE_SECONDS", 30)),
        twilio_account_sid=_env("TWILIO_ACCOUNT_SID"),
        twilio_auth_token=_env("TWILIO_AUTH_TOKEN"),
        twilio_number=_env("TWILIO_NUMBER"),
        rasa_api_url=_env("RASA_API_URL",
                          f"http://127.0.0.1:{_env_int('RASA_PORT', 5005)}").rstrip("/"),
        rasa_api_token=rasa_api_token(),
        rasa_api_timeout=_env_int("RASA_API_TIMEOUT_MS", 10000) / 1000.0,
        live_chat=_env_bool("LIVE_CHAT", True),
        live_wait_minutes=_env_int("LIVE_WAIT_MINUTES", 5),
        live_join_minutes=_env_int("LIVE_JOIN_MINUTES", 2),
        live_chat_hours=_env("LIVE_CHAT_HOURS", "opening").lower(),
        live_alerts=_env_bool("LIVE_ALERTS", True),
        live_alert_email=_env("LIVE_ALERT_EMAIL"),
        console_url=_env("CONSOLE_URL",
                         f"http://127.0.0.1:{_env_int('WEB_PORT', 8080)}").rstrip("/"),
    )
    if settings.live_wait_minutes < 1 or settings.live_join_minutes < 1:
        raise SettingsError("LIVE_WAIT_MINUTES and LIVE_JOIN_MINUTES must be at least 1")
    if settings.live_chat_hours not in ("opening", "always"):
        raise SettingsError("LIVE_CHAT_HOURS must be opening or always")
    if settings.webhook_url and not settings.webhook_secret:
        raise SettingsError("BOOKING_WEBHOOK_URL is set but BOOKING_WEBHOOK_SECRET is not")
    logger.debug("Settings loaded: %r", settings)
    return settings
