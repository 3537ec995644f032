"""Live chats in the console: staff take a conversation from the assistant, answer the patient
in the same chat, and hand it back (``/staff/live``, ``/staff/api/live``).

The chats themselves (who waits, who has which) are rows of ``actions.live_store`` in the clinic
database; the messages are the conversation in Rasa's tracker store. The console changes a
conversation only through Rasa's HTTP API (``actions.rasa_api.append_events``), so Rasa keeps
the one transcript and delivers staff messages on the patient's own channel:

* accept  - ``live_store.accept`` (one winner), then ``ConversationPaused`` (when the tracker is
  not paused yet) and a "<name> has joined" line; when Rasa cannot be reached the accept is
  undone, so nothing changed (503).
* reply   - a ``BotUttered`` with metadata ``{"staff": username, "live": true}``, its text
  prefixed "<Name> (clinic staff): " so the patient sees on any channel (SMS too) who wrote it.
* release - a "you're back with the assistant" line and ``ConversationResumed``, then
  ``end_chat(..., "released")``; close: a closing line, ``ConversationResumed``,
  ``end_chat(..., "closed")``. Rasa first: if it cannot be reached the chat stays as it was.

Every function here blocks (database, HTTP): the handlers run them in worker threads.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, select, update

from actions import live_store, rasa_api
from actions.live_store import LiveChat
from staff.context import StaffContext
from staff.conversations import TranscriptItem, build_transcript, compute_flags, event_of_row
from staff.db import audit, events_table

logger = logging.getLogger(__name__)

MAX_TEXT = 2000
SHOWN_MESSAGES = 40  # messages of a conversation shown on the live page (the latest)
STAFF_PICK_WAIT = timedelta(minutes=10)  # the wait of a chat staff opened themselves

# What the patient reads, in the conversation's language.
TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "joined": "{name}, a member of the clinic's staff, has joined the chat.",
        "reply": "{name} (clinic staff): {text}",
        "released": "You're back with the clinic's assistant.",
        "closed": "{name} has ended the chat. Thank you for contacting the clinic.",
        "closed_anonymous": "The chat has ended. Thank you for contacting the clinic.",
        "joined_anonymous": "A member of the clinic's staff has joined the chat.",
        "reply_anonymous": "Clinic staff: {text}",
    },
    "es": {
        "joined": "{name}, del personal de la clínica, se ha unido al chat.",
        "reply": "{name} (personal de la clínica): {text}",
        "released": "Vuelve a hablar con el asistente de la clínica.",
        "closed": "{name} ha terminado el chat. Gracias por contactar con la clínica.",
        "closed_anonymous": "El chat ha terminado. Gracias por contactar con la clínica.",
        "joined_anonymous": "Un miembro del personal de la clínica se ha unido al chat.",
        "reply_anonymous": "Personal de la clínica: {text}",
    },
}


class LiveError(Exception):
    """A live-chat action that cannot be done: ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class RasaUnavailableError(LiveError):
    def __init__(self) -> None:
        super().__init__(503, "The assistant's server cannot be reached right now; nothing "
                              "was changed. Try again in a moment.")


AppendEvents = Callable[..., Any]


def default_append_events() -> AppendEvents:
    """``actions.rasa_api.append_events``: RASA_API_URL, RASA_API_TOKEN (actions.settings)."""
    return rasa_api.append_events


def first_name(username: str) -> str:
    """How the patient sees a staff member: the first part of the username, capitalised
    ("maria.lopez" -> "Maria"; accounts have no other name); "" when that is not a name."""
    head = re.split(r"[._@\-\d]+", username.strip())[0] if username else ""
    return head[:1].upper() + head[1:].lower() if len(head) >= 2 else ""


def patient_line(kind: str, language: str, username: str, text: str = "") -> str:
    """What the patient reads: ``joined``, ``reply``, ``released`` or ``closed``."""
    lines = texts(language)
    name = first_name(username)
    if not name and f"{kind}_anonymous" in lines:
        return lines[f"{kind}_anonymous"].format(text=text)
    return lines[kind].format(name=name or "Staff", text=text)


def texts(language: str) -> dict[str, str]:
    return TEXTS.get(language, TEXTS["en"])


def _bot(text: str, username: str) -> dict[str, Any]:
    return rasa_api.staff_message(text, username)


def _send(ctx: StaffContext, sender_id: str, events: list[dict[str, Any]]) -> None:
    append = ctx.rasa
    if append is None:
        raise RasaUnavailableError()
    try:
        append(sender_id, events, output_channel="latest", execute_side_effects=True)
    except Exception as exc:  # the client's own errors, timeouts, refused connections
        logger.warning("Rasa's API refused or could not be reached for a live chat (%s)",
                       type(exc).__name__)
        raise RasaUnavailableError() from exc


# ---- reading -----------------------------------------------------------------------------------


def is_paused(ctx: StaffContext, sender_id: str) -> bool:
    """Whether the conversation's tracker is paused (its latest pause/resume is a pause)."""
    if not ctx.conversations.ready():
        return False
    with ctx.conversations.engine.connect() as conn:
        latest = conn.execute(
            select(events_table.c.type_name)
            .where(events_table.c.sender_id == sender_id)
            .where(events_table.c.type_name.in_(("pause", "resume")))
            .order_by(events_table.c.id.desc()).limit(1)).scalar()
    return latest == "pause"


def conversation_facts(events: Sequence[dict[str, Any]]) -> tuple[str, str]:
    """The channel (latest patient message's) and language (``language`` slot) of a
    conversation, for a chat staff open themselves."""
    channel, language = "unknown", "en"
    for event in events:
        if event.get("event") == "user" and event.get("input_channel"):
            channel = str(event["input_channel"])
        elif event.get("event") == "slot" and event.get("name") == "language" \
                and event.get("value") in TEXTS:
            language = str(event["value"])
    return channel, language


def emergency_since(events: Sequence[dict[str, Any]], since: datetime) -> bool:
    """A red flag (emergency intent, action or slot) at or after ``since``."""
    start = since.timestamp() - 1
    recent = [e for e in events if (e.get("timestamp") or 0) >= start]
    return "emergency" in compute_flags(recent)


@dataclass
class LiveView:
    """One waiting or taken chat as the console shows it."""

    chat: LiveChat
    items: list[TranscriptItem] = field(default_factory=list)
    emergency: bool = False
    last_event_id: int = 0

    @property
    def sender_id(self) -> str:
        return self.chat.sender_id

    @property
    def state(self) -> str:
        """What the live page compares to know a chat changed."""
        return f"{self.chat.id}|{self.chat.status}|{self.chat.taken_by or ''}|" \
               f"{int(self.emergency)}"

    @property
    def staff_name(self) -> str:
        """How the patient sees the staff member who has the chat ("Maria")."""
        return first_name(self.chat.taken_by or "") or "Clinic staff"

    def waiting_minutes(self, now: datetime) -> int:
        return max(0, int((now - self.chat.requested_at).total_seconds() // 60))

    def as_json(self) -> dict[str, Any]:
        return {**self.chat.as_json(), "emergency": self.emergency,
                "messages": [item.as_json() for item in self.items]}


def messages_of(events: Sequence[dict[str, Any]]) -> list[TranscriptItem]:
    items = [i for i in build_transcript(events) if i.kind in ("user", "bot")]
    return items[-SHOWN_MESSAGES:]


def view_of(ctx: StaffContext, chat: LiveChat) -> LiveView:
    events = ctx.conversations.events(chat.sender_id)
    return LiveView(
        chat=chat, items=messages_of(events),
        emergency=chat.reason == "emergency" or emergency_since(events, chat.requested_at),
        last_event_id=max((int(e.get("_id") or 0) for e in events), default=0))


def queue(ctx: StaffContext, username: str, via: str) -> list[LiveView]:
    """Waiting and taken chats, longest waiting first, with their messages so far; each one
    shown is written to the audit log as a view (``via`` "live" or "api")."""
    views = [view_of(ctx, chat) for chat in live_store.open_chats(ctx.engine)]
    for view in views:
        audit(ctx.engine, username, "view", view.sender_id, {"via": via})
    return views


def presence(ctx: StaffContext, username: str) -> bool:
    """Whether ``username`` said they are available (True when they never said)."""
    table = live_store.staff_presence_table
    with ctx.engine.connect() as conn:
        available = conn.execute(select(table.c.available)
                                 .where(table.c.username == username)).scalar()
    return True if available is None else bool(available)


def mark_present(ctx: StaffContext, username: str, available: bool | None = None) -> bool:
    """The console of ``username`` is open; ``available`` None keeps what they chose."""
    if available is None:
        available = presence(ctx, username)
    live_store.mark_present(ctx.engine, username, available)
    return available


def mark_absent(ctx: StaffContext, username: str) -> None:
    live_store.mark_absent(ctx.engine, username)


def available_staff(ctx: StaffContext) -> list[str]:
    return live_store.available_staff(ctx.engine)


# ---- changing ----------------------------------------------------------------------------------


def _undo_accept(ctx: StaffContext, chat: LiveChat, username: str, opened_now: bool) -> None:
    """Rasa could not be told: the chat as it was before (waiting, or not there at all)."""
    table = live_store.live_chats_table
    mine = and_(table.c.id == chat.id, table.c.status == live_store.TAKEN,
                table.c.taken_by == username)
    with ctx.engine.begin() as conn:
        if opened_now:
            conn.execute(delete(table).where(mine))
        else:
            conn.execute(update(table).where(mine).values(
                status=live_store.WAITING, taken_by=None, taken_at=None))


def accept(ctx: StaffContext, sender_id: str, username: str, via: str) -> LiveView:
    """Take a conversation: its waiting chat, or (staff picked it) a chat opened for it now."""
    if not rasa_api.addressable(sender_id):
        raise LiveError(422, "This conversation cannot be taken over: its id cannot be sent to "
                             "Rasa's API. Answer the patient by phone or e-mail instead.")
    chat = live_store.open_chat_of(ctx.engine, sender_id)
    opened_now = False
    if chat is None:
        events = ctx.conversations.events(sender_id)
        if not events:
            raise LiveError(404, "There is no such conversation.")
        channel, language = conversation_facts(events)
        chat, opened_now = live_store.open_chat(ctx.engine, sender_id, channel, language,
                                                "staff", STAFF_PICK_WAIT)
    if chat.status == live_store.TAKEN:
        if chat.taken_by == username:
            return view_of(ctx, chat)  # already yours (a second tab, a double click)
        raise LiveError(409, f"{chat.taken_by} has already taken this conversation.")
    won = live_store.accept(ctx.engine, sender_id, username)
    if won is None:
        current = live_store.open_chat_of(ctx.engine, sender_id)
        who = current.taken_by if current and current.taken_by else "someone else"
        raise LiveError(409, f"{who} has already taken this conversation.")
    events = [] if is_paused(ctx, sender_id) else [rasa_api.paused()]
    events.append(_bot(patient_line("joined", won.language, username), username))
    try:
        _send(ctx, sender_id, events)
    except RasaUnavailableError:
        _undo_accept(ctx, won, username, opened_now)
        raise
    audit(ctx.engine, username, "live.accept", sender_id,
          {"reason": won.reason, "channel": won.channel, "via": via})
    logger.info("Live chat %s taken by %s", won.id, username)
    return view_of(ctx, won)


def _held_chat(ctx: StaffContext, sender_id: str, username: str,
               allow_waiting: bool) -> LiveChat:
    chat = live_store.open_chat_of(ctx.engine, sender_id)
    if chat is None:
        if not ctx.conversations.events(sender_id):
            raise LiveError(404, "There is no such conversation.")
        raise LiveError(409, "This conversation has no live chat (any more).")
    if chat.status == live_store.TAKEN and chat.taken_by != username:
        raise LiveError(409, f"{chat.taken_by} has this conversation.")
    if chat.status == live_store.WAITING and not allow_waiting:
        raise LiveError(409, "Accept the conversation first.")
    return chat


def check_text(text: Any) -> str:
    if not isinstance(text, str) or not text.strip():
        raise LiveError(400, "Write a message first.")
    text = text.strip()
    if len(text) > MAX_TEXT:
        raise LiveError(400, f"A message can have at most {MAX_TEXT} characters.")
    return text


def reply(ctx: StaffContext, sender_id: str, username: str, text: Any) -> LiveView:
    """Send ``text`` to the patient, as the staff member who has the chat."""
    text = check_text(text)
    chat = _held_chat(ctx, sender_id, username, allow_waiting=False)
    _send(ctx, sender_id, [_bot(patient_line("reply", chat.language, username, text),
                                username)])
    logger.info("Live chat %s: message from %s (%d characters)", chat.id, username, len(text))
    return view_of(ctx, chat)


def end(ctx: StaffContext, sender_id: str, username: str, status: str, via: str) -> LiveChat:
    """Hand the conversation back to the assistant (``released``) or close it (``closed``):
    the patient's line and ConversationResumed through Rasa first, then the chat ends."""
    chat = _held_chat(ctx, sender_id, username, allow_waiting=True)
    kind = "released" if status == live_store.RELEASED else "closed"
    _send(ctx, sender_id, [_bot(patient_line(kind, chat.language, username), username),
                           rasa_api.resumed()])
    ended = live_store.end_chat(ctx.engine, sender_id, username, status)
    if ended is None:  # ended a moment ago (another tab): the patient is back with the bot
        raise LiveError(409, "This conversation has no live chat (any more).")
    audit(ctx.engine, username, "live.release" if status == live_store.RELEASED
          else "live.close", sender_id, {"via": via, "was": chat.status})
    logger.info("Live chat %s %s by %s", chat.id, status, username)
    return ended


# ---- what changed, for the live page's event stream ------------------------------------------


@dataclass
class StreamState:
    """What one open live page has been told."""

    username: str
    states: dict[str, str] = field(default_factory=dict)  # sender -> LiveView.state
    last_event_id: int = 0
    started: bool = False


def _new_events(ctx: StaffContext, senders: Sequence[str], after: int) -> list[dict[str, Any]]:
    if not senders or not ctx.conversations.ready():
        return []
    with ctx.conversations.engine.connect() as conn:
        rows = conn.execute(
            select(events_table.c.id, events_table.c.sender_id, events_table.c.type_name,
                   events_table.c.data)
            .where(events_table.c.sender_id.in_(list(senders)))
            .where(events_table.c.id > after)
            .order_by(events_table.c.id).limit(1000)).all()
    return [{**event_of_row(row), "_sender": row.sender_id} for row in rows]


def max_event_id(ctx: StaffContext) -> int:
    if not ctx.conversations.ready():
        return 0
    with ctx.conversations.engine.connect() as conn:
        return int(conn.execute(select(func.max(events_table.c.id))).scalar() or 0)


def changes(ctx: StaffContext, state: StreamState) -> list[tuple[str, dict[str, Any]]]:
    """What changed since the stream last looked, as (event name, data) pairs:

    * ``chat``    a chat appeared or changed (status, who has it, emergency): its JSON
                  (``view``: the LiveView, for the handler to render)
    * ``ended``   a chat is no longer waiting or taken: ``{"sender_id"}``
    * ``message`` a new message in an open chat: ``{"sender_id", "chat_id", "item"}``
    * ``alert``   a new patient waiting or an emergency: ``{"kind", "sender_id"}``
    """
    out: list[tuple[str, dict[str, Any]]] = []
    chats = live_store.open_chats(ctx.engine)
    senders = [c.sender_id for c in chats]
    fresh = _new_events(ctx, senders, state.last_event_id)
    by_sender: dict[str, list[dict[str, Any]]] = {}
    for event in fresh:
        by_sender.setdefault(event["_sender"], []).append(event)
        state.last_event_id = max(state.last_event_id, int(event["_id"]))
    seen = set()
    for chat in chats:
        seen.add(chat.sender_id)
        known = state.states.get(chat.sender_id)
        new = by_sender.get(chat.sender_id, [])
        same = known is not None and known.startswith(
            f"{chat.id}|{chat.status}|{chat.taken_by or ''}|")
        if same and (known.endswith("|1") or "emergency" not in compute_flags(new)):
            for item in messages_of(new):  # only the new messages
                out.append(("message", {"sender_id": chat.sender_id, "chat_id": chat.id,
                                        "item": item.as_json(), "event_id": item.event_id}))
            continue
        view = view_of(ctx, chat)  # new or changed: the whole card, every message so far
        if known is None:  # this page had not shown it: a view of the conversation
            audit(ctx.engine, state.username, "view", chat.sender_id, {"via": "live"})
        out.append(("chat", {**view.as_json(), "state": view.state, "view": view}))
        if state.started and chat.status == live_store.WAITING and (
                known is None or not known.startswith(f"{chat.id}|")):
            out.append(("alert", {"kind": "waiting", "sender_id": chat.sender_id}))
        if view.emergency and state.started and not (known or "").endswith("|1"):
            out.append(("alert", {"kind": "emergency", "sender_id": chat.sender_id}))
        state.states[chat.sender_id] = view.state
    for sender in [s for s in state.states if s not in seen]:
        del state.states[sender]
        out.append(("ended", {"sender_id": sender}))
    state.started = True
    return out
