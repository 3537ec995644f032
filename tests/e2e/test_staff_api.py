"""The staff console's API and pages against the real running web server.

Conversations are made over REST exactly as patients make them; privacy operations run as the
documented command (``python -m staff.manage``) against the same test databases.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
import yaml
from sqlalchemy import func, select, update

from actions.clinic import get_clinic
from actions.storage import deliveries_table, get_engine, requests_table, store_request
from scripts.serve import DEFAULT_MODEL
from staff.db import audit_entries, events_table, history_table, tracker_engine, tracker_metadata
from tests.e2e.test_booking_rest import book

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ADMIN_PASSWORD = "correct horse battery staple"
REFERENCE_RE = re.compile(r"\bPMR-[A-Z2-9]{6}\b")


def manage(assistant, *args: str, password: str | None = None,
           stdin: str | None = None) -> subprocess.CompletedProcess:
    """``python -m staff.manage ...`` on the test databases, without a TTY."""
    env = {**os.environ, "DATABASE_URL": assistant.database_url,
           "TRACKER_DATABASE_URL": assistant.tracker_database_url,
           "STAFF_SECRET_KEY": assistant.stack.config.extra_env["STAFF_SECRET_KEY"],
           "SQLALCHEMY_SILENCE_UBER_WARNING": "1"}
    env.pop("STAFF_PASSWORD", None)
    if password is not None:
        env["STAFF_PASSWORD"] = password
    kwargs: dict[str, Any] = {"input": stdin} if stdin is not None else {
        "stdin": subprocess.DEVNULL}
    return subprocess.run([sys.executable, "-m", "staff.manage", *args], cwd=PROJECT_ROOT,
                          env=env, capture_output=True, text=True, timeout=120, check=False,
                          **kwargs)


def served_domain() -> dict[str, Any]:
    """The domain of the model the server runs (``book()`` compares replies with it): the same
    as domain.yml once the model is trained on it, and still right while it is not."""
    with tarfile.open(DEFAULT_MODEL, "r:gz") as archive:
        for member in archive:
            if member.name.lstrip("/").endswith("domain_provider/domain.yml"):
                handle = archive.extractfile(member)
                assert handle is not None
                return yaml.safe_load(handle.read())
    raise AssertionError("no domain in the model")


@dataclass
class Staff:
    """A signed-in API client."""

    base: str
    http: requests.Session
    csrf: str

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.http.get(self.base + path, params=params, timeout=30)

    def patch(self, path: str, body: dict[str, Any]) -> requests.Response:
        return self.http.patch(self.base + path, json=body,
                               headers={"X-CSRF-Token": self.csrf}, timeout=30)

    def form(self, path: str, data: dict[str, str]) -> requests.Response:
        return self.http.post(self.base + path, data={"csrf_token": self.csrf, **data},
                              allow_redirects=False, timeout=30)

    def listed(self, **params: Any) -> list[dict[str, Any]]:
        """Every conversation the list gives for these filters, all pages."""
        found: list[dict[str, Any]] = []
        for page in range(1, 40):
            body = self.get("/staff/api/conversations", page=page, **params).json()
            found += body["conversations"]
            if not body["has_more"]:
                return found
        raise AssertionError("too many pages")

    def ids(self, **params: Any) -> set[str]:
        return {c["id"] for c in self.listed(**params)}


def sign_in(base: str, username: str, password: str) -> Staff:
    http = requests.Session()
    reply = http.post(f"{base}/staff/api/login", json={"username": username,
                                                        "password": password}, timeout=30)
    assert reply.status_code == 200, reply.text
    return Staff(base=base, http=http, csrf=reply.json()["csrf_token"])


@pytest.fixture(scope="module")
def admin(assistant) -> Staff:
    return sign_in(assistant.web_url, "admin", ADMIN_PASSWORD)


def opened(assistant, prefix: str = "staff") -> str:
    sender = f"{prefix}-{uuid.uuid4().hex[:10]}"
    assert len(assistant.send(sender, "/session_start")) == 2
    return sender


@dataclass
class Conversations:
    faq: str
    emergency: str
    handoff: str
    booking: str
    reference: str
    handoff_reference: str


@pytest.fixture(scope="module")
def conversations(assistant) -> Conversations:
    """One FAQ, one emergency, one hand-off (message left), one full booking, over REST."""
    faq = f"staff/faq +{uuid.uuid4().hex[:8]}"  # a slash, a plus and a space in the id
    assert len(assistant.send(faq, "/session_start")) == 2
    assert assistant.texts(faq, "how can acupuncture help my migraines?")
    emergency = opened(assistant)
    assert assistant.texts(emergency, "I have the worst headache of my life, it came on "
                                      "suddenly")
    handoff = opened(assistant)
    assistant.texts(handoff, "I want to talk to a person")
    assistant.texts(handoff, "Maria Lopez")
    assistant.texts(handoff, f"h.{handoff[-10:]}@example.com")
    [done] = assistant.texts(handoff, "please call me back about my appointment")
    handoff_reference = REFERENCE_RE.search(done).group(0)
    booking = opened(assistant)
    reference = book(assistant, booking, served_domain())
    return Conversations(faq=faq, emergency=emergency, handoff=handoff, booking=booking,
                         reference=reference, handoff_reference=handoff_reference)


# ---- sign-in ---------------------------------------------------------------------------------


def test_unauthenticated_calls_are_refused(assistant):
    base = assistant.web_url
    for method, path in (("GET", "/staff/api/conversations"), ("GET", "/staff/api/requests"),
                         ("GET", "/staff/api/conversations/x"), ("POST", "/staff/api/logout"),
                         ("PATCH", "/staff/api/requests/PMR-AAAAAA")):
        reply = requests.request(method, base + path, json={}, timeout=30)
        assert reply.status_code == 401, path
        assert reply.headers["Content-Type"].startswith("application/json")
        assert "sign in" in reply.json()["error"]
    for path in ("/staff/conversations", "/staff/requests?status=new", "/staff/audit",
                 "/staff/requests.csv", "/staff/conversations/x/transcript.txt"):
        reply = requests.get(base + path, allow_redirects=False, timeout=30)
        assert reply.status_code == 302, path
        assert reply.headers["Location"] == "/staff/login?next=" + quote(path, safe="")
    reply = requests.post(base + "/staff/requests/PMR-AAAAAA", data={"status": "closed"},
                          allow_redirects=False, timeout=30)
    assert reply.status_code == 302 and reply.headers["Location"] == "/staff/login"
    forged = requests.get(base + "/staff/api/conversations", timeout=30,
                          cookies={"staff_session": "abc.def"})
    assert forged.status_code == 401


def test_sign_in_good_and_bad(assistant):
    base = assistant.web_url
    wrong = requests.post(base + "/staff/api/login", timeout=30,
                          json={"username": "admin", "password": "not the password"})
    unknown = requests.post(base + "/staff/api/login", timeout=30,
                            json={"username": "nobody-here", "password": "not the password"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"error": "Wrong username or password."}
    not_json = requests.post(base + "/staff/api/login", timeout=30,
                             data={"username": "admin", "password": ADMIN_PASSWORD})
    assert not_json.status_code == 415

    http = requests.Session()
    reply = http.post(base + "/staff/api/login", timeout=30,
                      json={"username": "admin", "password": ADMIN_PASSWORD})
    assert reply.status_code == 200
    body = reply.json()
    assert body["user"] == {"username": "admin", "is_admin": True} and body["csrf_token"]
    cookie = reply.headers["Set-Cookie"]
    assert "staff_session=" in cookie and "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie and "Path=/staff" in cookie
    assert reply.headers["Cache-Control"] == "no-store"
    assert http.get(base + "/staff/api/me", timeout=30).json()["csrf_token"] == body["csrf_token"]

    # logout is state-changing: JSON and the CSRF header are required
    assert http.post(base + "/staff/api/logout", json={}, timeout=30).status_code == 403
    assert http.post(base + "/staff/api/logout", data="x", timeout=30,
                     headers={"X-CSRF-Token": body["csrf_token"]}).status_code == 415
    stolen = dict(http.cookies)
    out = http.post(base + "/staff/api/logout", json={}, timeout=30,
                    headers={"X-CSRF-Token": body["csrf_token"]})
    assert out.status_code == 200
    # the server ended the session: the old cookie no longer works
    assert requests.get(base + "/staff/api/me", cookies=stolen, timeout=30).status_code == 401


def test_accounts_from_the_command_and_lockout(assistant, admin):
    base = assistant.web_url
    name = f"locky{uuid.uuid4().hex[:6]}"
    password = "a long enough passphrase"
    created = manage(assistant, "add-user", name, stdin=password + "\n")  # stdin, no TTY
    assert created.returncode == 0, created.stderr
    assert f"Created account {name}" in created.stdout
    again = manage(assistant, "add-user", name, password=password)  # STAFF_PASSWORD
    assert again.returncode == 2 and "already exists" in again.stderr
    sign_in(base, name, password)

    answers = []
    for _ in range(5):
        reply = requests.post(base + "/staff/api/login", timeout=30,
                              json={"username": name, "password": "wrong guess, sorry"})
        answers.append(reply.status_code)
    assert answers == [401, 401, 401, 401, 429]
    locked = requests.post(base + "/staff/api/login", timeout=30,
                           json={"username": name, "password": password})
    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.json()["error"]
    assert 800 <= int(locked.headers["Retry-After"]) <= 901
    # the HTML form says the same
    page = requests.Session()
    form = page.get(base + "/staff/login", timeout=30).text
    token = re.search(r'name="token" value="([^"]+)"', form).group(1)
    refused = page.post(base + "/staff/login", timeout=30, allow_redirects=False,
                        data={"token": token, "username": name, "password": password,
                              "next": "/staff/conversations"})
    assert refused.status_code == 429 and "Too many failed sign-ins" in refused.text
    # others are not affected; an administrator can lift the lock-out
    assert admin.get("/staff/api/me").status_code == 200
    sign_in(base, "admin", ADMIN_PASSWORD)
    unlocked = manage(assistant, "unlock", name)
    assert unlocked.returncode == 0 and "5 failed sign-ins" in unlocked.stdout
    sign_in(base, name, password)


def test_html_sign_in_form_and_csrf(assistant):
    base = assistant.web_url
    browser = requests.Session()
    target = "/staff/requests?kind=appointment"
    form = browser.get(f"{base}/staff/login?next={quote(target, safe='')}", timeout=30).text
    token = re.search(r'name="token" value="([^"]+)"', form).group(1)
    # without the sign-in form's own cookie the token is worthless (login CSRF)
    bare = requests.post(base + "/staff/login", allow_redirects=False, timeout=30,
                         data={"token": token, "username": "admin", "password": ADMIN_PASSWORD})
    assert bare.status_code == 400
    reply = browser.post(base + "/staff/login", allow_redirects=False, timeout=30,
                         data={"token": token, "username": "admin", "password": ADMIN_PASSWORD,
                               "next": target})
    assert reply.status_code == 303 and reply.headers["Location"] == target
    evil = browser.post(base + "/staff/login", allow_redirects=False, timeout=30,
                        data={"token": token, "username": "admin", "password": ADMIN_PASSWORD,
                              "next": "//evil.example/"})
    assert evil.headers.get("Location", "/staff/conversations") == "/staff/conversations"


# ---- conversations ---------------------------------------------------------------------------


def test_conversation_list_and_flag_filters(admin, conversations):
    c = conversations
    everything = {item["id"]: item for item in admin.listed()}
    for sender in (c.faq, c.emergency, c.handoff, c.booking):
        assert everything[sender]["channel"] == "rest"
    assert set(everything[c.faq]["flags"]) == set()
    assert everything[c.emergency]["flags"] == ["emergency"]
    assert everything[c.handoff]["flags"] == ["handoff"]
    assert everything[c.booking]["flags"] == ["appointment"]
    assert everything[c.booking]["requests"] == [c.reference]
    assert everything[c.booking]["user_turns"] == 7
    started = datetime.fromisoformat(everything[c.booking]["started"])
    assert abs(datetime.now(timezone.utc) - started) < timedelta(minutes=30)
    # newest first: the booking was made last
    order = [item["id"] for item in admin.listed()]
    assert order.index(c.booking) < order.index(c.handoff) < order.index(c.faq)

    assert c.emergency in admin.ids(flag="emergency")
    assert c.faq not in admin.ids(flag="emergency")
    assert c.handoff in admin.ids(flag="handoff") and c.booking not in admin.ids(flag="handoff")
    assert c.booking in admin.ids(flag="appointment")
    assert c.booking not in admin.ids(flag="abandoned")
    assert admin.get("/staff/api/conversations", flag="nonsense").status_code == 400


def test_channel_and_date_filters(admin, conversations):
    today = datetime.now(get_clinic().tz).date()
    mine = {conversations.faq, conversations.booking}
    assert mine <= admin.ids(channel="rest")
    assert not mine & admin.ids(channel="socketio")
    assert mine <= admin.ids(since=today.isoformat(), until=today.isoformat())
    assert not mine & admin.ids(until=(today - timedelta(days=1)).isoformat())
    assert not mine & admin.ids(since=(today + timedelta(days=1)).isoformat())
    assert admin.get("/staff/api/conversations", since="May 1").status_code == 400


def test_full_text_search_in_user_and_bot_messages(admin, conversations):
    assert admin.ids(q="WORST HEADACHE of my life") >= {conversations.emergency}
    assert conversations.faq not in admin.ids(q="worst headache of my life")
    transcript = admin.get("/staff/api/conversations/" + quote(conversations.faq, safe=""))
    bot_text = next(e["text"] for e in transcript.json()["events"] if e["kind"] == "bot"
                    and "acupuncture" in e["text"].lower())
    words = bot_text.split()
    phrase = " ".join(words[len(words) // 2:len(words) // 2 + 4])
    assert conversations.faq in admin.ids(q=phrase)
    assert admin.ids(q="zzqx no such words anywhere") == set()


def test_transcript_api_and_page(assistant, admin, conversations):
    c = conversations
    reply = admin.get("/staff/api/conversations/" + quote(c.booking, safe=""))
    assert reply.status_code == 200
    body = reply.json()
    assert body["id"] == c.booking and body["flags"] == ["appointment"]
    assert body["requests"] == [{"reference": c.reference, "kind": "appointment",
                                 "status": body["requests"][0]["status"]}]
    events = body["events"]
    assert [e["kind"] for e in events].count("opened") == 1  # "/session_start" is no message
    users = [e for e in events if e["kind"] == "user"]
    assert len(users) == 7 and users[0]["text"] == "I'd like to book an appointment"
    assert users[0]["intent"] == "book_appointment" and 0 < users[0]["confidence"] <= 1
    assert any(e["kind"] == "action" and e["name"] == "action_submit_booking" for e in events)
    assert any(e["kind"] == "form" and e["name"] == "booking_form" for e in events)
    assert {"kind": "slot", "name": "booking_reference", "value": c.reference} == {
        k: v for k, v in next(e for e in events if e.get("name") == "booking_reference").items()
        if k != "at"}
    times = [e["at"] for e in events]
    assert times == sorted(times)
    faq = admin.get("/staff/api/conversations/" + quote(c.faq, safe="")).json()
    question = next(e for e in faq["events"] if e["kind"] == "user" and "migraines" in e["text"])
    assert question["intent"] == "faq" and question["retrieval_intent"].startswith("faq/")

    page = admin.get("/staff/conversations/" + quote(c.booking, safe=""))
    assert page.status_code == 200
    assert f'href="/staff/requests/{c.reference}"' in page.text
    assert "book_appointment" in page.text and "Times in America/New_York" in page.text
    text = admin.get("/staff/conversations/" + quote(c.booking, safe="") + "/transcript.txt")
    assert text.headers["Content-Type"].startswith("text/plain")
    assert "attachment" in text.headers["Content-Disposition"]
    assert "Patient: Maria Lopez" in text.text and f"Requests: {c.reference}" in text.text
    assert admin.get("/staff/api/conversations/no-such-conversation").status_code == 404

    views = [e for e in audit_entries(get_engine(assistant.database_url), 500)
             if e["target"] == c.booking]
    assert [(e["action"], e["username"]) for e in views][:3] == [
        ("export_transcript", "admin"), ("view", "admin"), ("view", "admin")]
    assert abs(datetime.now(timezone.utc) - views[0]["at"]) < timedelta(minutes=5)
    audit_page = admin.get("/staff/audit", action="view")
    assert audit_page.status_code == 200 and c.booking in audit_page.text


def test_mark_a_message_as_misunderstood_and_export(assistant, admin, conversations, tmp_path):
    faq = admin.get("/staff/api/conversations/" + quote(conversations.emergency, safe=""))
    message = next(e for e in faq.json()["events"] if e["kind"] == "user"
                   and "worst headache" in e["text"])
    url = "/staff/conversations/" + quote(conversations.emergency, safe="") + "/corrections"
    refused = admin.form(url, {"event_id": str(message["event_id"]), "intent": "made_up"})
    assert refused.status_code == 303 and "error=intent" in refused.headers["Location"]
    saved = admin.form(url, {"event_id": str(message["event_id"]), "intent": "faq/evidence"})
    assert saved.status_code == 303 and "saved=correction" in saved.headers["Location"]
    again = admin.get("/staff/api/conversations/" + quote(conversations.emergency, safe=""))
    assert next(e for e in again.json()["events"]
                if e.get("event_id") == message["event_id"])["correction"] == "faq/evidence"
    target = tmp_path / "corrections.yml"
    exported = manage(assistant, "export-corrections", str(target))
    assert exported.returncode == 0, exported.stderr
    text = target.read_text()
    assert 'version: "3.1"' in text
    assert f"- intent: faq/evidence\n  examples: |\n    - {message['text']}" in text


# ---- requests ----------------------------------------------------------------------------------


def test_status_change_is_recorded_with_who_and_when(assistant, admin, conversations):
    ref = conversations.reference
    path = f"/staff/api/requests/{ref}"
    no_csrf = admin.http.patch(admin.base + path, json={"status": "contacted"}, timeout=30)
    assert no_csrf.status_code == 403
    not_json = admin.http.patch(admin.base + path, data="status=contacted", timeout=30,
                                headers={"X-CSRF-Token": admin.csrf})
    assert not_json.status_code == 415
    assert admin.patch(path, {"status": "lost"}).status_code == 400
    assert admin.patch("/staff/api/requests/PMR-AAAAAA", {"status": "booked"}).status_code == 404

    before = datetime.now(timezone.utc)
    reply = admin.patch(path, {"status": "contacted", "note": "Left a voicemail"})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["request"]["status"] == "contacted"
    [entry] = body["history"]
    assert (entry["by"], entry["old_status"], entry["new_status"], entry["note"]) == (
        "admin", "new", "contacted", "Left a voicemail")
    assert before - timedelta(seconds=5) <= datetime.fromisoformat(entry["at"]) \
        <= datetime.now(timezone.utc)
    assert ref in [r["reference"] for r in admin.get("/staff/api/requests",
                                                      status="contacted").json()["requests"]]
    assert ref not in [r["reference"] for r in admin.get("/staff/api/requests",
                                                          status="new").json()["requests"]]
    handoffs = admin.get("/staff/api/requests", kind="handoff").json()["requests"]
    assert conversations.handoff_reference in [r["reference"] for r in handoffs]
    assert {r["kind"] for r in handoffs} == {"handoff"}

    # the HTML form: CSRF token required, change shown on the request page
    assert admin.http.post(admin.base + f"/staff/requests/{ref}", data={"status": "closed"},
                           timeout=30, allow_redirects=False).status_code == 403
    saved = admin.form(f"/staff/requests/{ref}", {"status": "booked", "note": "Tue 2pm"})
    assert saved.status_code == 303
    page = admin.get(f"/staff/requests/{ref}").text
    assert "Left a voicemail" in page and "Tue 2pm" in page and "admin" in page
    with get_engine(assistant.database_url).connect() as conn:
        status = conn.execute(select(requests_table.c.status)
                              .where(requests_table.c.reference == ref)).scalar_one()
    assert status == "booked"


def test_csv_export(assistant, admin, conversations):
    reply = admin.get("/staff/requests.csv", kind="appointment")
    assert reply.status_code == 200
    assert reply.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in reply.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(reply.text)))
    row = next(r for r in rows if r["reference"] == conversations.reference)
    assert (row["name"], row["phone"], row["kind"]) == ("Maria Lopez", "'+12125550123",
                                                        "appointment")
    assert row["conversation"] == conversations.booking
    assert row["reason"] == "migraines twice a week"
    assert {r["kind"] for r in rows} == {"appointment"}
    handoffs = list(csv.DictReader(io.StringIO(admin.get("/staff/requests.csv",
                                                         kind="handoff").text)))
    assert conversations.handoff_reference in [r["reference"] for r in handoffs]
    assert admin.get("/staff/requests.csv", status="lost").status_code == 400
    exports = [e for e in audit_entries(get_engine(assistant.database_url), 50)
               if e["action"] == "export_requests"]
    assert exports[0]["details"]["kind"] == "handoff"


# ---- privacy -----------------------------------------------------------------------------------


def counts(output: str) -> dict[str, int]:
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^\s+(\w+)\s+(\d+)$", output,
                                                             re.MULTILINE)}


def test_retention_command_deletes_exactly_the_old_data(assistant, admin, conversations):
    tracker = tracker_engine(assistant.tracker_database_url)
    staff = get_engine(assistant.database_url)
    old_sender = f"old-{uuid.uuid4().hex[:8]}"
    long_ago = time.time() - 400 * 86_400
    tracker_metadata.create_all(tracker)
    with tracker.begin() as conn:
        for i, (kind, extra) in enumerate((("user", {"text": "hello from last year"}),
                                           ("bot", {"text": "Hello!"}))):
            data = {"event": kind, "timestamp": long_ago + i, **extra}
            conn.execute(events_table.insert().values(sender_id=old_sender, type_name=kind,
                                                      timestamp=long_ago + i,
                                                      data=json.dumps(data)))
    fields = {"kind": "appointment", "name": "Old Patient", "phone": "+13125550100",
              "channel": "rest", "sender_id": old_sender}
    old = store_request(staff, fields, f"old-{old_sender}", ["file"])
    recent = store_request(staff, {**fields, "sender_id": "recent"}, f"recent-{old_sender}",
                           ["file"])
    with staff.begin() as conn:
        conn.execute(update(requests_table).where(requests_table.c.id == old.id).values(
            status="closed", created_at=datetime.now(timezone.utc) - timedelta(days=400)))
        conn.execute(update(requests_table).where(requests_table.c.id == recent.id).values(
            status="closed"))
    before = admin.ids()
    dry = manage(assistant, "retention", "--dry-run")
    assert dry.returncode == 0 and "Would delete" in dry.stdout
    result = manage(assistant, "retention")
    assert result.returncode == 0, result.stderr
    assert counts(result.stdout) == counts(dry.stdout) == {
        "conversations": 1, "events": 2, "requests": 1, "deliveries": 1, "history": 0,
        "corrections": 0}
    assert admin.ids() == before - {old_sender}
    with staff.connect() as conn:
        left = set(conn.execute(select(requests_table.c.id).where(
            requests_table.c.id.in_([old.id, recent.id]))).scalars())
        deliveries = conn.execute(select(func.count()).where(
            deliveries_table.c.request_id == old.id)).scalar_one()
    assert left == {recent.id} and deliveries == 0
    entry = audit_entries(staff, 1, action="retention")[0]
    assert entry["details"]["conversations"] == 1 and entry["username"].startswith("command")


def test_forget_me_from_the_command_and_the_console(assistant, admin):
    staff = get_engine(assistant.database_url)
    # a patient who left a message with their own e-mail address
    sender = opened(assistant, "forget")
    email = f"forget.{sender[-10:]}@example.com"
    assistant.texts(sender, "I want to talk to a person")
    assistant.texts(sender, "Jane Doe")
    assistant.texts(sender, email)
    [done] = assistant.texts(sender, "please call me back about my appointment")
    found = REFERENCE_RE.search(done)
    assert found, done
    reference = found.group(0)
    admin.patch(f"/staff/api/requests/{reference}", {"status": "contacted"})
    with staff.connect() as conn:
        request_id = conn.execute(select(requests_table.c.id).where(
            requests_table.c.reference == reference)).scalar_one()
        deliveries = conn.execute(select(func.count()).where(
            deliveries_table.c.request_id == request_id)).scalar_one()
    with tracker_engine(assistant.tracker_database_url).connect() as conn:
        events = conn.execute(select(func.count()).where(
            events_table.c.sender_id == sender)).scalar_one()
    others = admin.ids() - {sender}

    result = manage(assistant, "forget", "--email", email.upper())
    assert result.returncode == 0, result.stderr
    assert counts(result.stdout) == {"conversations": 1, "events": events, "requests": 1,
                                     "deliveries": deliveries, "history": 1, "corrections": 0}
    assert admin.ids() == others  # nothing else went
    assert admin.get(f"/staff/api/requests/{reference}").status_code == 404
    with staff.connect() as conn:
        assert conn.execute(select(func.count()).where(
            history_table.c.request_id == request_id)).scalar_one() == 0
    entry = audit_entries(staff, 1, action="forget")[0]
    assert entry["target"] is None and email not in json.dumps(entry["details"])

    # the console: admin only, a preview first, then the confirmed deletion (with CSRF)
    victim = opened(assistant, "forget")
    assistant.texts(victim, "what are your opening hours?")
    preview = admin.form("/staff/privacy/forget", {"step": "preview", "sender": victim})
    assert preview.status_code == 200 and "Delete permanently" in preview.text
    assert victim in admin.ids()
    no_token = admin.http.post(admin.base + "/staff/privacy/forget", timeout=30,
                               data={"step": "confirm", "sender": victim})
    assert no_token.status_code == 403 and victim in admin.ids()
    done_page = admin.form("/staff/privacy/forget", {"step": "confirm", "sender": victim})
    assert done_page.status_code == 200 and "Deleted" in done_page.text
    assert victim not in admin.ids()

    clerk = f"clerk{uuid.uuid4().hex[:6]}"
    assert manage(assistant, "add-user", clerk, password="clerk passphrase 1").returncode == 0
    staff_member = sign_in(assistant.web_url, clerk, "clerk passphrase 1")
    assert staff_member.get("/staff/audit").status_code == 403
    assert staff_member.form("/staff/privacy/forget", {"step": "confirm",
                                                       "sender": "x"}).status_code == 403
    assert staff_member.get("/staff/api/conversations").status_code == 200
