"""Staff sign-in: argon2 passwords, signed session cookies, expiry, CSRF, lock-out."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from argon2 import PasswordHasher

from staff.auth import (
    AccountError,
    Auth,
    BadCredentialsError,
    LockedOutError,
    Passwords,
    Signer,
)
from staff.db import staff_engine

SECRET = "unit-test-secret-" + "s" * 32
PASSWORD = "correct horse battery staple"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 15, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def fast_passwords() -> Passwords:
    return Passwords(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def auth(tmp_path, clock) -> Auth:
    engine = staff_engine(f"sqlite:///{tmp_path / 'clinic.db'}")
    auth = Auth(engine, SECRET, session_hours=8, passwords=fast_passwords(), clock=clock)
    auth.create_user("alice", PASSWORD)
    return auth


def test_passwords_are_argon2_hashes_that_verify_only_the_right_password():
    passwords = Passwords()
    stored = passwords.hash(PASSWORD)
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert passwords.verify(stored, PASSWORD)
    assert not passwords.verify(stored, PASSWORD + " ")
    assert not passwords.verify("not a hash", PASSWORD)
    assert passwords.hash(PASSWORD) != stored  # salted


def test_stored_password_is_a_hash_and_sign_in_works(auth):
    assert auth.authenticate("alice", PASSWORD).username == "alice"
    assert auth.authenticate("  Alice ", PASSWORD).username == "alice"  # names are lower-case
    with pytest.raises(BadCredentialsError):
        auth.authenticate("alice", "wrong password here")


def test_weak_or_duplicate_accounts_are_refused(auth):
    with pytest.raises(AccountError, match="at least 12"):
        auth.create_user("bob", "short")
    with pytest.raises(AccountError, match="already exists"):
        auth.create_user("ALICE", PASSWORD)
    with pytest.raises(AccountError, match="username"):
        auth.create_user("bob smith", PASSWORD)


def test_first_admin_only_when_there_are_no_users(tmp_path, clock):
    engine = staff_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    auth = Auth(engine, SECRET, passwords=fast_passwords(), clock=clock)
    assert not auth.bootstrap_admin("", "")  # nothing configured
    assert auth.bootstrap_admin("admin", PASSWORD)
    assert auth.authenticate("admin", PASSWORD).is_admin
    assert not auth.bootstrap_admin("admin2", PASSWORD)
    assert [u["username"] for u in auth.users()] == ["admin"]


def test_signer_rejects_tampered_values():
    signer = Signer(SECRET)
    signed = signer.sign("session", "abc")
    assert signer.unsign("session", signed) == "abc"
    value, _, signature = signed.rpartition(".")
    assert signer.unsign("session", f"abd.{signature}") is None
    assert signer.unsign("session", f"{value}.{signature[:-1]}x") is None
    assert signer.unsign("other-purpose", signed) is None
    assert Signer("another-secret-" + "t" * 32).unsign("session", signed) is None
    assert signer.unsign("session", "") is None and signer.unsign("session", "nodot") is None


def test_session_cookie_loads_and_tampering_is_refused(auth):
    user = auth.authenticate("alice", PASSWORD)
    cookie, session = auth.create_session(user)
    loaded = auth.load_session(cookie)
    assert loaded is not None and loaded.user.username == "alice"
    assert loaded.csrf_token == session.csrf_token
    session_id, _, signature = cookie.rpartition(".")
    assert auth.load_session(session_id[:-1] + ("A" if session_id[-1] != "A" else "B")
                             + "." + signature) is None
    assert auth.load_session(session_id) is None  # unsigned
    assert auth.load_session(None) is None
    # a validly signed id that the server never issued
    assert auth.load_session(auth.signer.sign("session", "made-up-id")) is None


def test_session_expires_on_the_server(auth, clock):
    cookie, _ = auth.create_session(auth.authenticate("alice", PASSWORD))
    clock.advance(hours=7, minutes=59)
    assert auth.load_session(cookie) is not None
    clock.advance(minutes=2)
    assert auth.load_session(cookie) is None


def test_logout_ends_the_session_for_good(auth):
    cookie, session = auth.create_session(auth.authenticate("alice", PASSWORD))
    auth.end_session(session)
    assert auth.load_session(cookie) is None


def test_new_password_ends_existing_sessions(auth):
    cookie, _ = auth.create_session(auth.authenticate("alice", PASSWORD))
    auth.set_password("alice", "a completely new passphrase")
    assert auth.load_session(cookie) is None
    assert auth.authenticate("alice", "a completely new passphrase")


def test_csrf_token_belongs_to_its_session(auth):
    user = auth.authenticate("alice", PASSWORD)
    _, first = auth.create_session(user)
    _, second = auth.create_session(user)
    assert auth.check_csrf(first, first.csrf_token)
    assert not auth.check_csrf(first, second.csrf_token)
    assert not auth.check_csrf(first, "")
    assert not auth.check_csrf(first, None)


def test_login_form_token_matches_only_its_cookie(auth):
    cookie, token = auth.new_login_nonce()
    other_cookie, other_token = auth.new_login_nonce()
    assert auth.check_login_form(cookie, token)
    assert not auth.check_login_form(cookie, other_token)
    assert not auth.check_login_form(None, token)
    assert auth.login_form_token(cookie) == token


def test_five_failures_lock_the_username_for_15_minutes(auth, clock):
    for _ in range(4):
        with pytest.raises(BadCredentialsError):
            auth.authenticate("alice", "wrong password here")
        clock.advance(minutes=1)
    with pytest.raises(LockedOutError) as locked:
        auth.authenticate("alice", "wrong password here")  # the fifth
    assert "Too many failed sign-ins" in str(locked.value)
    assert "15 more minutes" in str(locked.value)
    # even the right password is refused while locked
    clock.advance(minutes=10)
    with pytest.raises(LockedOutError, match="5 more minutes"):
        auth.authenticate("alice", PASSWORD)
    clock.advance(minutes=5, seconds=1)
    assert auth.authenticate("alice", PASSWORD).username == "alice"


def test_failures_spread_over_more_than_the_window_do_not_lock(auth, clock):
    for _ in range(8):
        with pytest.raises(BadCredentialsError):
            auth.authenticate("alice", "wrong password here")
        clock.advance(minutes=4)  # 5 failures span 16 minutes
    assert auth.authenticate("alice", PASSWORD)


def test_success_resets_the_failure_count(auth, clock):
    for _ in range(4):
        with pytest.raises(BadCredentialsError):
            auth.authenticate("alice", "wrong password here")
    auth.authenticate("alice", PASSWORD)
    for _ in range(4):
        with pytest.raises(BadCredentialsError):
            auth.authenticate("alice", "wrong password here")
    assert auth.authenticate("alice", PASSWORD)


def test_unknown_usernames_lock_the_same_way(auth):
    """The answers never reveal whether an account exists."""
    answers = []
    for name in ("alice", "nobody"):
        for _ in range(4):
            with pytest.raises(BadCredentialsError) as failed:
                auth.authenticate(name, "wrong password here")
            answers.append(str(failed.value))
        with pytest.raises(LockedOutError) as locked:
            auth.authenticate(name, "wrong password here")
        answers.append(str(locked.value))
    assert answers[:5] == answers[5:]


def test_lockout_is_per_username_and_an_admin_can_unlock(auth):
    auth.create_user("bob", PASSWORD)
    for _ in range(5):
        with pytest.raises((BadCredentialsError, LockedOutError)):
            auth.authenticate("alice", "wrong password here")
    assert auth.authenticate("bob", PASSWORD)  # another user is not affected
    with pytest.raises(LockedOutError):
        auth.authenticate("alice", PASSWORD)
    assert auth.unlock("alice") == 5
    assert auth.authenticate("alice", PASSWORD)
