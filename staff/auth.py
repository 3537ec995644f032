"""Staff accounts, passwords, sessions, CSRF tokens and sign-in lock-out.

* Passwords: argon2id (``argon2-cffi``'s ``PasswordHasher`` defaults), re-hashed on sign-in when
  the parameters change.
* Sessions: a random session id in a cookie signed with HMAC-SHA256 (STAFF_SECRET_KEY); the
  server keeps only the id's SHA-256 with the user and the expiry, so signing out or expiry ends
  the session whatever the browser keeps.
* CSRF: each session has a token derived from its id (HMAC); HTML forms carry it in a hidden
  field, API calls in the ``X-CSRF-Token`` header. The sign-in form, before any session exists,
  is protected by a signed nonce cookie and its matching form token (double submit).
* Lock-out: ``LockoutPolicy.max_failures`` failed sign-ins for one username within ``window``
  refuse that username for ``lock`` (whatever the password), for existing and unknown usernames
  alike, so the answer never tells whether an account exists.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import and_, delete, select, update
from sqlalchemy.engine import Engine

from actions.storage import as_utc, utcnow
from staff.db import login_attempts_table, sessions_table, users_table

logger = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")


class AccountError(ValueError):
    """An account cannot be created or changed as asked (bad name, short password, exists)."""


class LoginRefusedError(Exception):
    """Sign-in refused; the message is safe to show (it never says whether the user exists)."""


class BadCredentialsError(LoginRefusedError):
    def __init__(self) -> None:
        super().__init__("Wrong username or password.")


class LockedOutError(LoginRefusedError):
    def __init__(self, retry_after: timedelta) -> None:
        minutes = max(1, int(-(-retry_after.total_seconds() // 60)))
        self.retry_after = retry_after
        super().__init__(
            "Too many failed sign-ins for this username. Sign-in is blocked for "
            f"{minutes} more minute{'s' if minutes != 1 else ''}; try again later or ask an "
            "administrator."
        )


def normalize_username(name: str) -> str:
    return (name or "").strip().lower()


def check_new_account(username: str, password: str) -> None:
    if not USERNAME_RE.fullmatch(username):
        raise AccountError("username: 1-64 characters, lower-case letters, digits and . _ @ -")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"password: at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(f"password: at most {MAX_PASSWORD_LENGTH} characters")


class Passwords:
    """argon2 hashing and verification."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self.hasher = hasher or PasswordHasher()

    def hash(self, password: str) -> str:
        return self.hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        try:
            return self.hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self.hasher.check_needs_rehash(password_hash)

    @cached_property
    def dummy_hash(self) -> str:
        """Verified against for unknown usernames, so they take as long as known ones."""
        return self.hasher.hash(secrets.token_urlsafe(16))


class Signer:
    """HMAC-SHA256 signatures of short strings, one purpose per use."""

    def __init__(self, secret: str) -> None:
        if len(secret) < 32:
            raise ValueError("the signing secret must be at least 32 characters")
        self._key = secret.encode()

    def token(self, purpose: str, value: str) -> str:
        digest = hmac.new(self._key, f"{purpose}\x00{value}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def sign(self, purpose: str, value: str) -> str:
        return f"{value}.{self.token(purpose, value)}"

    def unsign(self, purpose: str, signed: str | None) -> str | None:
        """The value, or None when the signature is missing or wrong."""
        if not signed or "." not in signed or len(signed) > 512:
            return None
        value, _, signature = signed.rpartition(".")
        if not value or not hmac.compare_digest(signature, self.token(purpose, value)):
            return None
        return value

    def check(self, purpose: str, value: str, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(str(token), self.token(purpose, value))


@dataclass(frozen=True)
class LockoutPolicy:
    max_failures: int = 5
    window: timedelta = timedelta(minutes=15)
    lock: timedelta = timedelta(minutes=15)


@dataclass(frozen=True)
class StaffUser:
    id: int
    username: str
    is_admin: bool


@dataclass(frozen=True)
class Session:
    user: StaffUser
    session_id: str
    csrf_token: str
    expires_at: datetime


def _token_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class Auth:
    """Accounts, sign-in with lock-out, and sessions on the staff database."""

    def __init__(
        self,
        engine: Engine,
        secret: str,
        session_hours: int = 8,
        policy: LockoutPolicy | None = None,
        passwords: Passwords | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.signer = Signer(secret)
        self.session_length = timedelta(hours=session_hours)
        self.policy = policy or LockoutPolicy()
        self.passwords = passwords or Passwords()
        self.clock = clock

    # ---- accounts ----

    def create_user(self, username: str, password: str, is_admin: bool = False) -> StaffUser:
        username = normalize_username(username)
        check_new_account(username, password)
        with self.engine.begin() as conn:
            if conn.execute(select(users_table.c.id)
                            .where(users_table.c.username == username)).first():
                raise AccountError(f"user {username!r} already exists")
            user_id = conn.execute(users_table.insert().values(
                username=username, password_hash=self.passwords.hash(password),
                is_admin=is_admin, active=True, created_at=self.clock(),
            )).inserted_primary_key[0]
        logger.info("Staff account %s created%s", username, " (admin)" if is_admin else "")
        return StaffUser(id=int(user_id), username=username, is_admin=is_admin)

    def set_password(self, username: str, password: str) -> None:
        username = normalize_username(username)
        check_new_account(username, password)
        with self.engine.begin() as conn:
            changed = conn.execute(
                update(users_table).where(users_table.c.username == username)
                .values(password_hash=self.passwords.hash(password))
            ).rowcount
            if not changed:
                raise AccountError(f"no user {username!r}")
            # a new password ends every session of the account
            user_ids = select(users_table.c.id).where(users_table.c.username == username)
            conn.execute(delete(sessions_table).where(sessions_table.c.user_id.in_(user_ids)))
        logger.info("Password of staff account %s changed", username)

    def users(self) -> list[dict]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(users_table.c.username, users_table.c.is_admin,
                                       users_table.c.active, users_table.c.created_at,
                                       users_table.c.last_login_at)
                                .order_by(users_table.c.username)).mappings().all()
        return [dict(row) for row in rows]

    def bootstrap_admin(self, username: str, password: str) -> bool:
        """Create the first admin from STAFF_ADMIN_USER / _PASSWORD when there are no users."""
        with self.engine.connect() as conn:
            if conn.execute(select(users_table.c.id).limit(1)).first() is not None:
                return False
        if not username or not password:
            logger.warning("No staff accounts yet: set STAFF_ADMIN_USER and STAFF_ADMIN_PASSWORD "
                           "or run `python -m staff.manage add-user <name> --admin`")
            return False
        try:
            self.create_user(username, password, is_admin=True)
        except AccountError as exc:
            logger.error("First admin account not created: %s", exc)
            return False
        return True

    # ---- sign-in and lock-out ----

    def lockout_remaining(self, username: str) -> timedelta | None:
        """How long this username is still refused, or None when it may sign in."""
        now = self.clock()
        policy = self.policy
        horizon = now - policy.window - policy.lock
        with self.engine.connect() as conn:
            last_success = conn.execute(
                select(login_attempts_table.c.at)
                .where(login_attempts_table.c.username == username)
                .where(login_attempts_table.c.succeeded.is_(True))
                .where(login_attempts_table.c.at >= horizon)
                .order_by(login_attempts_table.c.at.desc()).limit(1)
            ).scalar()
            since = max(horizon, as_utc(last_success)) if last_success else horizon
            failures = [as_utc(at) for at in conn.execute(
                select(login_attempts_table.c.at)
                .where(login_attempts_table.c.username == username)
                .where(login_attempts_table.c.succeeded.is_(False))
                .where(login_attempts_table.c.at > since)
                .order_by(login_attempts_table.c.at)
            ).scalars()]
        locked_until: datetime | None = None
        n = policy.max_failures
        for first, last in zip(failures, failures[n - 1:], strict=False):
            if last - first <= policy.window:
                locked_until = last + policy.lock
        if locked_until is not None and locked_until > now:
            return locked_until - now
        return None

    def _record_attempt(self, username: str, succeeded: bool) -> None:
        with self.engine.begin() as conn:
            conn.execute(login_attempts_table.insert().values(
                username=username[:64], at=self.clock(), succeeded=succeeded))

    def authenticate(self, username: str, password: str) -> StaffUser:
        """The user, or LockedOutError / BadCredentialsError (the same for unknown usernames)."""
        username = normalize_username(username)[:64]
        remaining = self.lockout_remaining(username)
        with self.engine.connect() as conn:
            row = conn.execute(select(users_table)
                               .where(users_table.c.username == username)).mappings().first()
        # what was typed as a username is logged only when it names an account (a password
        # typed into the wrong field must not reach the log)
        who = username if row is not None else "an unknown username"
        if remaining is not None:
            logger.warning("Sign-in refused for %s: locked out", who)
            raise LockedOutError(remaining)
        password = (password or "")[:MAX_PASSWORD_LENGTH]
        stored = row["password_hash"] if row is not None else self.passwords.dummy_hash
        ok = self.passwords.verify(stored, password) and row is not None and bool(row["active"])
        self._record_attempt(username, ok)
        if not ok:
            logger.warning("Failed staff sign-in for %s", who)
            remaining = self.lockout_remaining(username)
            if remaining is not None:
                raise LockedOutError(remaining)
            raise BadCredentialsError()
        assert row is not None
        values: dict = {"last_login_at": self.clock()}
        if self.passwords.needs_rehash(row["password_hash"]):
            values["password_hash"] = self.passwords.hash(password)
        with self.engine.begin() as conn:
            conn.execute(update(users_table).where(users_table.c.id == row["id"]).values(**values))
        logger.info("Staff user %s signed in", username)
        return StaffUser(id=int(row["id"]), username=username, is_admin=bool(row["is_admin"]))

    def unlock(self, username: str) -> int:
        """Forget a username's failed sign-ins (ends its lock-out); the number forgotten."""
        with self.engine.begin() as conn:
            return conn.execute(delete(login_attempts_table).where(and_(
                login_attempts_table.c.username == normalize_username(username),
                login_attempts_table.c.succeeded.is_(False),
            ))).rowcount or 0

    # ---- sessions ----

    def create_session(self, user: StaffUser) -> tuple[str, Session]:
        """A new session: the cookie value and the session."""
        now = self.clock()
        session_id = secrets.token_urlsafe(32)
        expires_at = now + self.session_length
        with self.engine.begin() as conn:
            conn.execute(delete(sessions_table).where(sessions_table.c.expires_at < now))
            conn.execute(sessions_table.insert().values(
                token_hash=_token_hash(session_id), user_id=user.id,
                created_at=now, expires_at=expires_at))
        session = Session(user=user, session_id=session_id,
                          csrf_token=self.signer.token("csrf", session_id), expires_at=expires_at)
        return self.signer.sign("session", session_id), session

    def load_session(self, cookie: str | None) -> Session | None:
        """The session a cookie names, if its signature is right and it has not expired."""
        session_id = self.signer.unsign("session", cookie)
        if session_id is None:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(
                select(sessions_table.c.expires_at, users_table.c.id, users_table.c.username,
                       users_table.c.is_admin, users_table.c.active)
                .join(users_table, users_table.c.id == sessions_table.c.user_id)
                .where(sessions_table.c.token_hash == _token_hash(session_id))
            ).first()
        if row is None or not row.active:
            return None
        expires_at = as_utc(row.expires_at)
        if expires_at is None or expires_at <= self.clock():
            return None
        user = StaffUser(id=int(row.id), username=row.username, is_admin=bool(row.is_admin))
        return Session(user=user, session_id=session_id,
                       csrf_token=self.signer.token("csrf", session_id), expires_at=expires_at)

    def end_session(self, session: Session) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(sessions_table)
                         .where(sessions_table.c.token_hash == _token_hash(session.session_id)))
        logger.info("Staff user %s signed out", session.user.username)

    def prune(self) -> None:
        """Drop expired sessions and sign-in attempts too old to matter."""
        now = self.clock()
        with self.engine.begin() as conn:
            conn.execute(delete(sessions_table).where(sessions_table.c.expires_at < now))
            conn.execute(delete(login_attempts_table).where(
                login_attempts_table.c.at < now - timedelta(days=1)))

    # ---- CSRF ----

    def check_csrf(self, session: Session, token: str | None) -> bool:
        return self.signer.check("csrf", session.session_id, token)

    def new_login_nonce(self) -> tuple[str, str]:
        """For the sign-in form: (signed cookie value, form token)."""
        nonce = secrets.token_urlsafe(16)
        return self.signer.sign("login", nonce), self.signer.token("login-form", nonce)

    def login_form_token(self, cookie: str | None) -> str | None:
        nonce = self.signer.unsign("login", cookie)
        return self.signer.token("login-form", nonce) if nonce else None

    def check_login_form(self, cookie: str | None, token: str | None) -> bool:
        nonce = self.signer.unsign("login", cookie)
        return nonce is not None and self.signer.check("login-form", nonce, token)
