"""Live chats in the staff console: accept, reply, hand back, close, presence and the live
page's event stream, against a fake Rasa HTTP API.

The console runs in-process (the real blueprint through its ASGI interface, as in
``test_staff_appointments.py``), with real SQLite databases for the clinic and the tracker store.
Rasa's API is a real local HTTP server (``FakeRasa``) reached through ``actions.rasa_api``: it
checks the token, records every call, and stores the events it gets in the tracker store's
``events`` table the way Rasa's SQLTrackerStore does, so the transcript shows them.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

import pytest
from argon2 import PasswordHasher
from sanic import Sanic
from sqlalchemy import select
from sqlalchemy.engine import Engine

import staff.routes
from actions import live_store, rasa_api
from actions.clinic import get_clinic
from staff import live, live_views
from staff.auth import Auth, Passwords
from staff.context import StaffContext, make_templates
from staff.conversations import ConversationStore
from staff.db import audit_entries, events_table, staff_engine, tracker_engine, tracker_metadata
from staff.privacy import DELETED, Person, Privacy
from tests.unit.asgi import AsgiClient, Reply
from tests.unit.test_staff_conversations import Conversation, store
from web.settings import WebSettings

CLINIC = get_clinic()
SECRET = "unit-test-live-secret-" + "x" * 32
TOKEN = "fake-rasa-token-" + "t" * 16


# ---- a fake Rasa HTTP API ----------------------------------------------------------------------


class FakeRasa:
    """``POST /conversations/<id>/tracker/events`` as Rasa answers it (token auth; the events
    appended to the tracker store; the tracker's state as JSON)."""

    def __init__(self, tracker: Engine) -> None:
        self.tracker = tracker
        self.calls: list[dict[str, Any]] = []
        self.server: ThreadingHTTPServer | None = None
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> FakeRasa:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"] or 0)))
                if query.get("token") != TOKEN:
                    self._answer(401, {"version": "3.6.21", "status": "failure",
                                       "reason": "NotAuthenticated", "code": 401})
                    return
                path = parts.path.split("/")
                if len(path) != 5 or path[1] != "conversations" or path[3:] != ["tracker",
                                                                                 "events"]:
                    self._answer(404, {"status": "failure", "reason": "NotFound"})
                    return
                sender = unquote(path[2])
                events = body if isinstance(body, list) else [body]
                with fake.lock:
                    fake.calls.append({"sender": sender, "query": query, "events": events})
                    fake.save(sender, events)
                self._answer(200, {"sender_id": sender, "slots": {}, "latest_message": {},
                                   "events": None, "paused": fake.paused(sender),
                                   "followup_action": None, "active_loop": {},
                                   "latest_action_name": "action_listen"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def save(self, sender: str, events: list[dict[str, Any]]) -> None:
        tracker_metadata.create_all(self.tracker)
        with self.tracker.begin() as conn:
            for event in events:
                event = {"timestamp": time.time(), **event}
                conn.execute(events_table.insert().values(
                    sender_id=sender, type_name=event["event"], timestamp=event["timestamp"],
                    intent_name=None, action_name=event.get("name"), data=json.dumps(event)))

    def paused(self, sender: str) -> bool:
        with self.tracker.connect() as conn:
            latest = conn.execute(select(events_table.c.type_name)
                                  .where(events_table.c.sender_id == sender)
                                  .where(events_table.c.type_name.in_(("pause", "resume")))
                                  .order_by(events_table.c.id.desc()).limit(1)).scalar()
        return latest == "pause"

    def sent(self, sender: str) -> list[list[dict[str, Any]]]:
        """The events of each call for one conversation, without timestamps."""
        return [[{k: v for k, v in e.items() if k != "timestamp"} for e in call["events"]]
                for call in self.calls if call["sender"] == sender]


def sse_events(text: str) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for block in text.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines()
                     if ": " in line and not line.startswith(":"))
        if "event" in lines:
            found.append((lines["event"], json.loads(lines.get("data", "{}"))))
    return found


# ---- the console -------------------------------------------------------------------------------


@dataclass
class User:
    name: str
    cookie: str
    csrf: str


@dataclass
class Console:
    client: AsgiClient
    context: StaffContext
    rasa: FakeRasa
    tracker: Engine
    alice: User
    bob: User

    def headers(self, user: User | None) -> dict[str, str]:
        return {"cookie": f"staff_session={user.cookie}"} if user else {}

    def get(self, path: str, user: User | None) -> Reply:
        return self.client.request("GET", path, headers=self.headers(user))

    def form(self, path: str, user: User | None, values: dict[str, str] | None = None,
             csrf: bool = True) -> Reply:
        values = dict(values or {})
        if csrf and user:
            values["csrf_token"] = user.csrf
        return self.client.request("POST", path, urlencode(values).encode(), {
            "content-type": "application/x-www-form-urlencoded", **self.headers(user)})

    def api(self, path: str, user: User | None, body: Any = None, csrf: bool = True) -> Reply:
        headers = {"content-type": "application/json", **self.headers(user)}
        if csrf and user:
            headers["x-csrf-token"] = user.csrf
        return self.client.request("POST", path, json.dumps(body or {}).encode(), headers)

    # conversations and chats
    def conversation(self, language: str = "en", channel: str = "socketio",
                     paused: bool = True, sender: str | None = None) -> str:
        """A conversation in the tracker store: the patient asked for a person and (paused)
        the action server opened a waiting chat and paused it."""
        sender = sender or f"p-{uuid.uuid4().hex[:8]}"
        talk = Conversation(sender, start=time.time() - 60, channel=channel)
        if language == "es":
            talk.slot("language", "es")
        talk.user("I want to talk to a person", "request_human")
        if paused:
            talk.action("action_offer_handoff").bot("Someone will join you shortly.")
            talk.slot("flag_handoff", True).action("action_listen").add({"event": "pause"})
        store(self.tracker, talk)
        if paused:
            live_store.open_chat(self.context.engine, sender, channel, language, "asked",
                                 timedelta(minutes=5))
        return sender

    def patient_says(self, sender: str, text: str, intent: str = "inform") -> None:
        parse_data = {"text": text, "intent": {"name": intent, "confidence": 0.9},
                      "entities": []}
        event = {"event": "user", "timestamp": time.time(), "text": text,
                 "parse_data": parse_data, "input_channel": "socketio", "metadata": {}}
        store(self.tracker, SimpleNamespace(sender=sender, events=[event]))

    def chat(self, sender: str) -> live_store.LiveChat | None:
        return live_store.open_chat_of(self.context.engine, sender)


@pytest.fixture(scope="module")
def app() -> Iterator[tuple[Sanic, AsgiClient]]:
    settings = WebSettings(host="127.0.0.1", port=0, rasa_port=0, chat_socket_url="",
                           allowed_origins=(), webchat_bundle=staff.routes.STAFF_DIR,
                           tracker_database_url="", staff_admin_user="",
                           staff_admin_password="", secret_key=SECRET, session_hours=1,
                           retention_days=180, secure_cookies=False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Sanic, "test_mode", True)
        patch.setattr(staff.routes, "build_context", lambda _settings: None)
        sanic_app = Sanic(f"staff_live_{uuid.uuid4().hex[:8]}")
        staff.routes.register(sanic_app, settings)
        client = AsgiClient(sanic_app)
        sanic_app.ctx.settings = settings
        try:
            yield sanic_app, client
        finally:
            client.close()


@pytest.fixture()
def console(app, tmp_path) -> Iterator[Console]:
    sanic_app, client = app
    engine = staff_engine(f"sqlite:///{tmp_path / 'clinic.db'}")
    tracker = tracker_engine(f"sqlite:///{tmp_path / 'conversations.db'}")
    tracker_metadata.create_all(tracker)
    rasa = FakeRasa(tracker).start()
    auth = Auth(engine, SECRET, 1, passwords=Passwords(PasswordHasher(time_cost=1,
                                                                      memory_cost=8192)))
    context = StaffContext(
        settings=sanic_app.ctx.settings, engine=engine, auth=auth,
        conversations=ConversationStore(tracker), privacy=None, tz=CLINIC.tz,
        region=CLINIC.country, intents=(), templates=make_templates(CLINIC.tz, CLINIC.country),
        clinic=CLINIC, rasa=partial(rasa_api.append_events, base_url=rasa.url, token=TOKEN,
                                    timeout=5),
        live_poll_seconds=0.05,
    )
    sanic_app.ctx.staff = context
    users = []
    for name in ("alice", "bob.smith"):
        cookie, session = auth.create_session(auth.create_user(name, f"{name} password 123"))
        users.append(User(name, cookie, session.csrf_token))
    try:
        yield Console(client, context, rasa, tracker, users[0], users[1])
    finally:
        sanic_app.ctx.staff = None
        rasa.stop()


def live_path(sender: str, action: str, api: bool = True) -> str:
    return f"/staff{'/api' if api else ''}/live/{quote(sender, safe='')}/{action}"


def actions(console: Console, user: str) -> list[tuple[str, str | None]]:
    return [(e["action"], e["target"]) for e in reversed(audit_entries(console.context.engine,
                                                                        100))
            if e["username"] == user and e["action"].startswith("live.")]


# ---- accept ------------------------------------------------------------------------------------


def test_accept_tells_the_patient_who_joined_and_is_audited(console):
    sender = console.conversation()
    listed = console.client.request("GET", "/staff/api/live",
                                    headers=console.headers(console.alice)).json()
    [waiting] = listed["chats"]
    assert (waiting["sender_id"], waiting["status"], waiting["reason"]) == (
        sender, "waiting", "asked")
    assert [m["kind"] for m in waiting["messages"]] == ["user", "bot"]

    reply = console.api(live_path(sender, "accept"), console.alice)
    assert reply.status == 200, reply.text
    assert reply.json()["chat"]["taken_by"] == "alice"
    # already paused by the action server: only the line the patient reads
    assert console.rasa.sent(sender) == [[{
        "event": "bot", "text": "Alice, a member of the clinic's staff, has joined the chat.",
        "metadata": {"staff": "alice", "live": True}}]]
    call = console.rasa.calls[-1]
    assert call["query"]["output_channel"] == "latest"
    assert call["query"]["execute_side_effects"] == "true"
    chat = console.chat(sender)
    assert (chat.status, chat.taken_by) == ("taken", "alice")
    assert actions(console, "alice") == [("live.accept", sender)]
    entry = audit_entries(console.context.engine, 1)[0]
    assert entry["details"] == {"reason": "asked", "channel": "socketio", "via": "api"}
    # accepting again (a second tab) changes nothing and tells the patient nothing
    assert console.api(live_path(sender, "accept"), console.alice).status == 200
    assert len(console.rasa.sent(sender)) == 1


def test_staff_can_take_over_any_conversation_in_its_language(console):
    sender = console.conversation(language="es", channel="twilio", paused=False)
    assert console.chat(sender) is None
    reply = console.api(live_path(sender, "accept"), console.bob)
    assert reply.status == 200, reply.text
    assert console.rasa.sent(sender) == [[
        {"event": "pause"},
        {"event": "bot", "text": "Bob, del personal de la clínica, se ha unido al chat.",
         "metadata": {"staff": "bob.smith", "live": True}}]]
    chat = console.chat(sender)
    assert (chat.reason, chat.channel, chat.language, chat.taken_by) == (
        "staff", "twilio", "es", "bob.smith")
    assert console.api(live_path("nobody-here", "accept"), console.bob).status == 404


def test_a_conversation_rasas_api_cannot_reach_is_not_taken_over(console):
    """A REST client's id with a space (Rasa would read "maria%20lopez", another
    conversation): refused with a reason, nothing opened, nothing sent."""
    sender = console.conversation(paused=False, sender="maria lopez")
    reply = console.api(live_path(sender, "accept"), console.bob)
    assert reply.status == 422 and "by phone or e-mail" in reply.json()["error"]
    assert console.chat(sender) is None and console.rasa.sent(sender) == []


def test_two_staff_racing_to_accept_one_wins(console):
    sender = console.conversation()
    first = console.api(live_path(sender, "accept"), console.alice)
    second = console.api(live_path(sender, "accept"), console.bob)
    assert (first.status, second.status) == (200, 409)
    assert "alice has already taken" in second.json()["error"]

    # the same race from threads, through the service functions the handlers call
    other = console.conversation()
    barrier = threading.Barrier(2)
    outcomes: dict[str, Any] = {}

    def take(user: str) -> None:
        barrier.wait()
        try:
            outcomes[user] = live.accept(console.context, other, user, "api").chat.taken_by
        except live.LiveError as exc:
            outcomes[user] = exc.status

    threads = [threading.Thread(target=take, args=(u,)) for u in ("alice", "bob.smith")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winner = console.chat(other).taken_by
    assert sorted(outcomes.values(), key=str) == sorted([winner, 409], key=str)
    assert len(console.rasa.sent(other)) == 1  # one "has joined" line


# ---- reply -------------------------------------------------------------------------------------


def test_only_the_one_who_has_the_chat_replies(console):
    sender = console.conversation()
    assert console.api(live_path(sender, "messages"), console.alice,
                       {"text": "hello"}).status == 409  # nobody accepted it yet
    console.api(live_path(sender, "accept"), console.alice)
    refused = console.api(live_path(sender, "messages"), console.bob, {"text": "I'm Bob"})
    assert refused.status == 409
    assert console.api(live_path(sender, "messages"), console.alice,
                       {"text": "   "}).status == 400
    assert console.api(live_path(sender, "messages"), console.alice,
                       {"text": "x" * 2001}).status == 400
    assert console.api(live_path(sender, "messages"), console.alice,
                       {"nothing": 1}).status == 400
    sent = console.api(live_path(sender, "messages"), console.alice,
                       {"text": " Yes, we can see you on Tuesday. "})
    assert sent.status == 200, sent.text
    assert console.rasa.sent(sender)[-1] == [{
        "event": "bot", "text": "Alice (clinic staff): Yes, we can see you on Tuesday.",
        "metadata": {"staff": "alice", "live": True}}]
    # the transcript (the tracker store) keeps it with who sent it
    last = sent.json()["chat"]["messages"][-1]
    assert (last["kind"], last["staff"]) == ("bot", "alice")
    assert console.api(live_path("nobody-here", "messages"), console.alice,
                       {"text": "hi"}).status == 404


# ---- release and close -------------------------------------------------------------------------


def test_hand_back_resumes_the_assistant(console):
    sender = console.conversation()
    console.api(live_path(sender, "accept"), console.alice)
    assert console.api(live_path(sender, "release"), console.bob).status == 409
    released = console.api(live_path(sender, "release"), console.alice)
    assert released.status == 200, released.text
    assert released.json()["chat"]["status"] == "released"
    assert console.rasa.sent(sender)[-1] == [
        {"event": "bot", "text": "You're back with the clinic's assistant.",
         "metadata": {"staff": "alice", "live": True}},
        {"event": "resume"}]
    assert console.chat(sender) is None and not console.rasa.paused(sender)
    assert actions(console, "alice") == [("live.accept", sender), ("live.release", sender)]
    assert console.api(live_path(sender, "release"), console.alice).status == 409


def test_close_ends_the_chat_and_the_assistant_answers_next_time(console):
    sender = console.conversation(language="es")
    console.api(live_path(sender, "accept"), console.bob)
    closed = console.api(live_path(sender, "close"), console.bob)
    assert closed.status == 200, closed.text
    assert closed.json()["chat"]["status"] == "closed"
    assert console.rasa.sent(sender)[-1] == [
        {"event": "bot", "text": "Bob ha terminado el chat. Gracias por contactar con la "
                                 "clínica.", "metadata": {"staff": "bob.smith", "live": True}},
        {"event": "resume"}]
    assert not console.rasa.paused(sender)
    assert actions(console, "bob.smith")[-1] == ("live.close", sender)
    # a waiting chat nobody took: anyone may hand it back
    other = console.conversation()
    assert console.api(live_path(other, "release"), console.alice).status == 200


# ---- Rasa cannot be reached --------------------------------------------------------------------


def test_when_rasa_cannot_be_reached_nothing_changes(console):
    waiting = console.conversation()
    taken = console.conversation()
    console.api(live_path(taken, "accept"), console.alice)
    untouched = console.conversation(paused=False)
    console.rasa.stop()

    for sender, action, body in ((waiting, "accept", None), (untouched, "accept", None),
                                 (taken, "messages", {"text": "hello"}),
                                 (taken, "release", None), (taken, "close", None)):
        reply = console.api(live_path(sender, action), console.alice, body)
        assert reply.status == 503, (action, reply.text)
        assert "nothing was changed" in reply.json()["error"]
    assert (console.chat(waiting).status, console.chat(waiting).taken_by) == ("waiting", None)
    assert console.chat(untouched) is None
    assert (console.chat(taken).status, console.chat(taken).taken_by) == ("taken", "alice")
    assert actions(console, "alice") == [("live.accept", taken)]
    # the page says so too, and keeps the chat
    page = console.form(live_path(waiting, "accept", api=False), console.alice)
    assert page.status == 503 and "cannot be reached" in page.text


# ---- sign-in and CSRF --------------------------------------------------------------------------


def test_sign_in_and_csrf_are_required(console):
    sender = console.conversation()
    assert console.client.request("GET", "/staff/api/live").status == 401
    assert console.api(live_path(sender, "accept"), None).status == 401
    assert console.api(live_path(sender, "accept"), console.alice, csrf=False).status == 403
    form = console.form(live_path(sender, "accept", api=False), console.alice, csrf=False)
    assert form.status == 403
    page = console.get("/staff/live", None)
    assert page.status == 302 and page.headers["location"].startswith("/staff/login")
    stream = console.get("/staff/live/events", None)
    assert stream.status == 302
    assert console.chat(sender).status == "waiting" and console.rasa.calls == []


# ---- the page and its forms --------------------------------------------------------------------


def test_the_live_page_works_with_plain_forms(console):
    sender = console.conversation()
    console.patient_says(sender, "Is anyone there?")
    chat = console.chat(sender)
    page = console.get("/staff/live", console.alice)
    assert page.status == 200, page.text
    for marker in (f'id="chat-{chat.id}"', f'id="accept-{chat.id}"', 'id="live-queue"',
                   'id="presence-form"', "Is anyone there?", "The patient asked for a person",
                   'href="/staff/live" id="nav-live" aria-current="page"',
                   '<script src="/staff/static/live.js" defer></script>'):
        assert marker in page.text, marker
    assert f'id="reply-{chat.id}"' not in page.text
    viewed = audit_entries(console.context.engine, 1)[0]  # who read which conversation
    assert (viewed["action"], viewed["target"], viewed["username"], viewed["details"]) == (
        "view", sender, "alice", {"via": "live"})

    accepted = console.form(live_path(sender, "accept", api=False), console.alice)
    assert accepted.status == 303
    assert accepted.headers["location"] == f"/staff/live?done=accepted#chat-{chat.id}"
    page = console.get("/staff/live", console.alice)
    assert f'id="reply-text-{chat.id}"' in page.text and "Taken by" in page.text
    assert f'id="accept-{chat.id}"' not in page.text
    others = console.get("/staff/live", console.bob)
    assert f'id="reply-{chat.id}"' not in others.text and "alice" in others.text

    sent = console.form(live_path(sender, "reply", api=False), console.alice,
                        {"text": "Hello, this is the front desk."})
    assert sent.status == 303
    page = console.get("/staff/live", console.alice)
    assert "Staff · alice" in page.text and "Alice (clinic staff): Hello" in page.text
    empty = console.form(live_path(sender, "reply", api=False), console.alice, {"text": ""})
    assert empty.status == 400 and "Write a message first" in empty.text
    refused = console.form(live_path(sender, "release", api=False), console.bob)
    assert refused.status == 409 and "alice has this conversation" in refused.text

    released = console.form(live_path(sender, "release", api=False), console.alice)
    assert released.status == 303 and released.headers["location"] == "/staff/live?done=released"
    page = console.get(released.headers["location"], console.alice)
    assert "The patient is back with the assistant." in page.text
    assert 'id="live-empty" class="empty">' in page.text  # no chat left, shown

    # the conversation's transcript page: staff messages with who sent them, a take-over form
    transcript = console.get(f"/staff/conversations/{quote(sender, safe='')}", console.bob)
    assert "Staff · alice" in transcript.text and 'id="take-over"' in transcript.text


def test_presence_page_toggle_api_and_sign_out(console):
    engine = console.context.engine
    assert live_store.available_staff(engine) == []
    console.get("/staff/live", console.alice)
    assert live_store.available_staff(engine) == ["alice"]
    off = console.form("/staff/live/presence", console.alice, {"available": "0"})
    assert off.status == 303
    assert live_store.available_staff(engine) == []
    page = console.get("/staff/live", console.alice)  # reloading keeps the choice
    assert "You are not taking live chats." in page.text
    assert live_store.available_staff(engine) == []
    on = console.api("/staff/api/live/presence", console.bob, {"available": True})
    assert on.status == 200 and live_store.available_staff(engine) == ["bob.smith"]
    assert console.api("/staff/api/live/presence", console.bob,
                       {"available": "yes"}).status == 400
    me = console.get("/staff/api/live", console.bob).json()
    assert me["me"] == {"username": "bob.smith", "available": True}
    assert me["available_staff"] == ["bob.smith"]
    assert console.api("/staff/api/logout", console.bob).status == 200
    assert live_store.available_staff(engine) == []
    console.form("/staff/live/presence", console.alice, {"available": "1"})
    assert live_store.available_staff(engine) == ["alice"]
    signed_out = console.form("/staff/logout", console.alice)
    assert signed_out.status == 303 and live_store.available_staff(engine) == []


# ---- the event stream --------------------------------------------------------------------------


def test_the_event_stream_sends_new_chats_messages_and_alerts(console):
    first = console.conversation()
    holder: dict[str, str] = {}

    def new_patient() -> None:
        holder["sender"] = console.conversation()

    def patient_writes() -> None:
        console.patient_says(first, "My head hurts a lot")

    def emergency() -> None:
        console.patient_says(holder["sender"], "worst headache of my life", "emergency")

    def has(name: str, sender_key: str | None = None, count: int = 1) -> Callable[[str], bool]:
        def check(body: str) -> bool:
            events = [e for e in sse_events(body) if e[0] == name and (
                sender_key is None or e[1].get("sender_id") == (
                    first if sender_key == "first" else holder.get("sender")))]
            return len(events) >= count
        return check

    reply = console.client.stream("/staff/live/events", console.headers(console.alice), [
        (has("chat", "first"), new_patient),
        (has("alert", "new"), patient_writes),
        (has("message", "first"), emergency),
        (lambda body: any(e == ("alert", {"kind": "emergency",
                                          "sender_id": holder.get("sender")})
                          for e in sse_events(body)), None),
    ])
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("text/event-stream")
    events = sse_events(reply.text)
    names = [name for name, _ in events]
    assert names[0] == "presence" and events[0][1] == {"username": "alice", "available": True}
    snapshot = next(d for n, d in events if n == "chat" and d["sender_id"] == first)
    assert snapshot["status"] == "waiting" and 'id="accept-' in snapshot["html"]
    assert ("alert", {"kind": "waiting", "sender_id": holder["sender"]}) in events
    message = next(d for n, d in events if n == "message")
    assert message["item"]["text"] == "My head hurts a lot" and message["item"]["kind"] == "user"
    flagged = [d for n, d in events if n == "chat" and d["sender_id"] == holder["sender"]]
    assert flagged[-1]["emergency"] is True and "flag-emergency" in flagged[-1]["html"]
    assert live_store.available_staff(console.context.engine) == ["alice"]  # present
    views = {e["target"] for e in audit_entries(console.context.engine, 100)
             if e["action"] == "view" and e["details"] == {"via": "live"}}
    assert views == {first, holder["sender"]}


def test_the_event_stream_says_who_took_a_chat_and_when_it_ended(console):
    sender = console.conversation()

    def bob_accepts() -> None:
        live.accept(console.context, sender, "bob.smith", "api")

    def bob_closes() -> None:
        live.end(console.context, sender, "bob.smith", "closed", "api")

    def chat_state(status: str) -> Callable[[str], bool]:
        return lambda body: any(n == "chat" and d["status"] == status
                                for n, d in sse_events(body))

    reply = console.client.stream("/staff/live/events", console.headers(console.alice), [
        (chat_state("waiting"), bob_accepts),
        (chat_state("taken"), bob_closes),
        (lambda body: any(n == "ended" for n, _ in sse_events(body)), None),
    ])
    events = sse_events(reply.text)
    taken = next(d for n, d in events if n == "chat" and d["status"] == "taken")
    assert taken["taken_by"] == "bob.smith"
    assert "Taken by <strong class=\"taken-by\">bob.smith</strong>" in taken["html"]
    assert 'id="reply-' not in taken["html"]  # alice does not have it
    assert ("ended", {"sender_id": sender}) in events
    # the staff messages in the stream carry who sent them
    joined = [m for m in taken["messages"] if m["kind"] == "bot" and m.get("staff")]
    assert joined and joined[-1]["staff"] == "bob.smith"


def test_the_event_stream_ends_when_the_session_does(console, monkeypatch):
    monkeypatch.setattr(live_views, "SESSION_EVERY", 0)
    signed_out = console.context.auth.load_session(console.alice.cookie)

    def sign_out() -> None:
        console.context.auth.end_session(signed_out)

    reply = console.client.stream("/staff/live/events", console.headers(console.alice), [
        (lambda body: "event: presence" in body, sign_out),
        (lambda body: "event: signed_out" in body, None),
    ])
    assert sse_events(reply.text)[-1] == ("signed_out", {})


def test_the_text_export_names_the_staff_member(console):
    sender = console.conversation()
    console.api(live_path(sender, "accept"), console.alice)
    console.api(live_path(sender, "messages"), console.alice, {"text": "Hello"})
    text = console.get(f"/staff/conversations/{quote(sender, safe='')}/transcript.txt",
                       console.bob).text
    assert "Staff (alice): Alice (clinic staff): Hello" in text
    assert "Assistant: Someone will join you shortly." in text


def test_forget_me_deletes_the_live_chats_and_hides_the_audit_targets(console):
    sender = console.conversation()
    console.api(live_path(sender, "accept"), console.alice)
    console.api(live_path(sender, "close"), console.alice)
    console.conversation()  # someone else's, kept
    Privacy(console.context.engine, console.tracker).forget(Person(sender=sender), "admin")
    with console.context.engine.connect() as conn:
        left = conn.execute(select(live_store.live_chats_table.c.sender_id)).scalars().all()
    assert sender not in left and len(left) == 1
    console.get("/staff/live", console.bob)  # a view of the other one
    targets = {e["target"] for e in audit_entries(console.context.engine, 100)
               if e["action"].startswith("live.") or e["target"] == sender}
    assert targets == {DELETED}


def test_what_the_patient_reads_without_a_usable_name():
    assert live.first_name("maria.lopez@clinic.example") == "Maria"
    assert live.first_name("x1") == ""
    assert live.patient_line("joined", "en", "x1") == (
        "A member of the clinic's staff has joined the chat.")
    assert live.patient_line("reply", "es", "x1", "Hola {no}") == (
        "Personal de la clínica: Hola {no}")
    assert live.patient_line("released", "fr", "x1") == "You're back with the clinic's assistant."
