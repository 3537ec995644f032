"""Conversations from Rasa's ``events`` table: the list with flags, and transcripts.

A conversation is one ``sender_id`` (Rasa's tracker): a browser's chat widget, a REST client's
sender, a phone number on SMS. The list is one SQL aggregate over the events table (grouped by
sender, flags as conditional aggregates over the plain columns ``type_name``, ``intent_name`` and
``action_name``; JSON fields read with the database's JSON functions, SQLite or PostgreSQL), so a
page never loads events into Python. A transcript loads one sender's events.

Flags (the same rules in SQL for the list and in Python for one conversation):

* ``emergency``   intent ``emergency``, action ``action_emergency`` or slot ``flag_emergency``
* ``fallback``    intent ``nlu_fallback``, action ``action_default_fallback`` or ``utter_default``
* ``handoff``     intent ``request_human`` or slot ``flag_handoff``
* ``privacy``     the patient asked for their data to be deleted: slot ``flag_privacy``
  (``action_record_forget_me``); staff erase it with the console's forget-me
* ``appointment`` an appointment request was stored: slot ``booking_reference`` set by
  ``action_submit_booking`` (it also runs when the patient answers "no" to the read-back, so
  running alone is not enough), or a ``requests`` row with this sender id
* ``abandoned``   ``booking_form`` was activated and no appointment request was stored
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from time import monotonic
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import String, and_, case, cast, false, func, not_, or_, select
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement

from staff.db import events_table, has_events_table

logger = logging.getLogger(__name__)

FLAGS: dict[str, str] = {
    "emergency": "Emergency",
    "fallback": "Not understood",
    "handoff": "Hand-off to a person",
    "appointment": "Appointment requested",
    "abandoned": "Booking abandoned",
    "privacy": "Asked to delete their data",
}
MESSAGE_TYPES = ("user", "bot")
# How Rasa stores an intent triggered through its API (rasa.shared.core.constants; the console
# does not import Rasa, a unit test checks the two agree)
EXTERNAL_MESSAGE_PREFIX = "EXTERNAL: "
LANGUAGES: dict[str, str] = {"en": "English", "es": "Spanish"}  # the ones the assistant speaks
FALLBACK_ACTIONS = ("action_default_fallback", "utter_default")
# Slots not worth showing in a transcript: clinic facts, form bookkeeping.
HIDDEN_SLOTS = frozenset({"requested_slot", "preferred_time_data", "booking_failures",
                          "booking_change_requested", "session_started_metadata"})
HIDDEN_ACTIONS = frozenset({"action_listen", "action_session_start"})
PAGE_SIZE = 50
MAX_QUERY_CHARS = 200


@dataclass(frozen=True)
class ConversationFilter:
    flag: str | None = None
    channel: str | None = None
    language: str | None = None  # en | es: the language the conversation was answered in
    q: str | None = None
    since: date | None = None  # clinic time zone, inclusive
    until: date | None = None  # clinic time zone, inclusive
    page: int = 1

    @classmethod
    def parse(cls, args: dict[str, str]) -> ConversationFilter:
        """From query-string values; ValueError with a message for staff when one is wrong."""
        flag = (args.get("flag") or "").strip() or None
        if flag is not None and flag not in FLAGS:
            raise ValueError(f"flag must be one of {', '.join(FLAGS)}")
        q = " ".join((args.get("q") or "").split()) or None
        if q is not None and len(q) > MAX_QUERY_CHARS:
            raise ValueError(f"search text: at most {MAX_QUERY_CHARS} characters")
        since = _date(args.get("since"), "since")
        until = _date(args.get("until"), "until")
        if since and until and until < since:
            raise ValueError("until is before since")
        try:
            page = max(1, min(10_000, int(args.get("page") or 1)))
        except ValueError:
            raise ValueError("page must be a number") from None
        channel = (args.get("channel") or "").strip()[:64] or None
        language = (args.get("language") or "").strip() or None
        if language is not None and language not in LANGUAGES:
            raise ValueError(f"language must be one of {', '.join(LANGUAGES)}")
        return cls(flag=flag, channel=channel, language=language, q=q, since=since,
                   until=until, page=page)

    def query_args(self, **override: Any) -> dict[str, str]:
        values = {"flag": self.flag, "channel": self.channel, "language": self.language,
                  "q": self.q,
                  "since": self.since.isoformat() if self.since else None,
                  "until": self.until.isoformat() if self.until else None,
                  "page": str(self.page) if self.page > 1 else None}
        values.update(override)
        return {key: str(value) for key, value in values.items() if value}

    def for_audit(self) -> dict[str, Any]:
        """What to write to the audit log: never the search text itself."""
        return {"flag": self.flag, "channel": self.channel, "language": self.language,
                "searched": bool(self.q),
                "since": self.since.isoformat() if self.since else None,
                "until": self.until.isoformat() if self.until else None}


def _date(raw: str | None, name: str) -> date | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"{name} must be a date like 2024-05-31") from None


@dataclass
class ConversationSummary:
    sender_id: str
    channel: str | None
    started: datetime | None
    last_message: datetime | None
    last_event: datetime | None
    user_turns: int
    flags: set[str] = field(default_factory=set)
    references: list[str] = field(default_factory=list)
    language: str = "en"

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.sender_id,
            "channel": self.channel,
            "language": self.language,
            "started": iso(self.started),
            "last_message": iso(self.last_message),
            "user_turns": self.user_turns,
            "flags": sorted(self.flags),
            "requests": self.references,
        }


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def from_timestamp(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, tz=timezone.utc) if value is not None else None


def day_bounds(day: date, tz: ZoneInfo) -> tuple[float, float]:
    """Start and end (exclusive) of a clinic-time-zone day as UNIX timestamps."""
    start = datetime.combine(day, time.min, tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)
    return start.timestamp(), end.timestamp()


# ---- SQL --------------------------------------------------------------------------------------


def json_field(column: Any, key: str, dialect: str) -> ColumnElement:
    """A top-level field of a JSON text column, as text (NULL for JSON null)."""
    if dialect == "sqlite":
        return func.json_extract(column, f"$.{key}")
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import JSONB

        return cast(column, JSONB)[key].astext
    if dialect in ("mysql", "mariadb"):
        return func.json_unquote(func.json_extract(column, f"$.{key}"))
    raise NotImplementedError(f"the staff console does not support {dialect} tracker databases")


def like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class FlagSql:
    """The flag rules as SQL conditions on one events row."""

    def __init__(self, events: Any, dialect: str) -> None:
        ev = events.c
        value = cast(json_field(ev.data, "value", dialect), String)

        def slot(name: str) -> ColumnElement:
            return and_(ev.type_name == "slot", ev.action_name == name)

        def action(*names: str) -> ColumnElement:
            return and_(ev.type_name == "action", ev.action_name.in_(names))

        def slot_true(name: str) -> ColumnElement:
            return and_(slot(name), value.in_(("1", "true")))

        self.emergency = or_(ev.intent_name == "emergency", action("action_emergency"),
                             slot_true("flag_emergency"))
        self.fallback = or_(ev.intent_name == "nlu_fallback", action(*FALLBACK_ACTIONS))
        self.handoff = or_(ev.intent_name == "request_human", slot_true("flag_handoff"))
        self.privacy = slot_true("flag_privacy")
        self.appointment = and_(slot("booking_reference"), value.isnot(None), value != "")
        self.booking_form = and_(ev.type_name == "active_loop", ev.action_name == "booking_form")
        # answered in Spanish at some point (the language slot follows the patient)
        self.spanish = and_(slot("language"), value == "es")


class ConversationStore:
    """Reads conversations from the tracker database."""

    CHANNELS_TTL = 60.0  # seconds the channel list (a full scan) is reused

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._channels: tuple[float, list[str]] | None = None

    def ready(self) -> bool:
        return has_events_table(self.engine)

    def _summary(self, search: str | None) -> Any:
        ev = events_table
        flags = FlagSql(ev, self.dialect)

        def any_of(condition: ColumnElement) -> Any:
            return func.max(case((condition, 1), else_=0))

        query = select(
            ev.c.sender_id.label("sender_id"),
            func.min(ev.c.timestamp).label("started"),
            func.max(ev.c.timestamp).label("last_event"),
            func.max(case((ev.c.type_name.in_(MESSAGE_TYPES), ev.c.timestamp))).label(
                "last_message"),
            func.sum(case((and_(ev.c.type_name == "user",
                                func.coalesce(ev.c.intent_name, "") != "session_start"), 1),
                          else_=0)).label("user_turns"),
            func.max(case((ev.c.type_name == "user",
                           json_field(ev.c.data, "input_channel", self.dialect)))).label(
                "channel"),
            any_of(flags.emergency).label("emergency"),
            any_of(flags.fallback).label("fallback"),
            any_of(flags.handoff).label("handoff"),
            any_of(flags.privacy).label("privacy"),
            any_of(flags.appointment).label("appointment"),
            any_of(flags.booking_form).label("booking_form"),
            any_of(flags.spanish).label("spanish"),
        ).group_by(ev.c.sender_id)
        if search:
            found = events_table.alias("found")
            text = json_field(found.c.data, "text", self.dialect)
            query = query.where(ev.c.sender_id.in_(
                select(found.c.sender_id)
                .where(found.c.type_name.in_(MESSAGE_TYPES))
                .where(text.ilike(like_pattern(search), escape="\\"))
            ))
        return query.subquery("conversations")

    def list(
        self,
        filters: ConversationFilter,
        tz: ZoneInfo,
        request_senders: Sequence[str] = (),
        page_size: int = PAGE_SIZE,
    ) -> tuple[list[ConversationSummary], bool]:
        """One page of conversations, most recent activity first, and whether more follow.

        ``request_senders``: conversation ids with an appointment request row (the requests
        live in another database, so they come in as a list).
        """
        if not self.ready():
            return [], False
        s = self._summary(filters.q)
        from_request: ColumnElement = (s.c.sender_id.in_(list(request_senders))
                                       if request_senders else false())
        appointment = or_(s.c.appointment == 1, from_request)
        conditions = {
            "emergency": s.c.emergency == 1,
            "fallback": s.c.fallback == 1,
            "handoff": s.c.handoff == 1,
            "privacy": s.c.privacy == 1,
            "appointment": appointment,
            "abandoned": and_(s.c.booking_form == 1, not_(appointment)),
        }
        query = select(s, case((from_request, 1), else_=0).label("has_request"))
        if filters.flag:
            query = query.where(conditions[filters.flag])
        if filters.channel:
            query = query.where(s.c.channel == filters.channel)
        if filters.language:
            query = query.where(s.c.spanish == (1 if filters.language == "es" else 0))
        if filters.since:
            query = query.where(s.c.last_event >= day_bounds(filters.since, tz)[0])
        if filters.until:
            query = query.where(s.c.started < day_bounds(filters.until, tz)[1])
        query = (query.order_by(s.c.last_event.desc(), s.c.sender_id)
                 .limit(page_size + 1).offset((filters.page - 1) * page_size))
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        summaries = [self._summary_row(row) for row in rows[:page_size]]
        return summaries, len(rows) > page_size

    @staticmethod
    def _summary_row(row: Any) -> ConversationSummary:
        flags = {name for name in ("emergency", "fallback", "handoff", "privacy") if row[name]}
        if row["appointment"] or row["has_request"]:
            flags.add("appointment")
        elif row["booking_form"]:
            flags.add("abandoned")
        return ConversationSummary(
            sender_id=row["sender_id"],
            channel=row["channel"],
            language="es" if row["spanish"] else "en",
            started=from_timestamp(row["started"]),
            last_message=from_timestamp(row["last_message"]),
            last_event=from_timestamp(row["last_event"]),
            user_turns=int(row["user_turns"] or 0),
            flags=flags,
        )

    def channels(self) -> list[str]:
        """Every channel a conversation came in on (for the filter; cached for a minute)."""
        now = monotonic()
        if self._channels is not None and now - self._channels[0] < self.CHANNELS_TTL:
            return self._channels[1]
        if not self.ready():
            return []
        channel = json_field(events_table.c.data, "input_channel", self.dialect)
        with self.engine.connect() as conn:
            values = conn.execute(select(channel).distinct()
                                  .where(events_table.c.type_name == "user")).scalars()
            found = sorted(str(v) for v in values if v)
        self._channels = (now, found)
        return found

    def events(self, sender_id: str) -> list[dict[str, Any]]:
        """A conversation's events in order, each its stored JSON plus ``_id``."""
        if not self.ready():
            return []
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(events_table.c.id, events_table.c.type_name, events_table.c.data)
                .where(events_table.c.sender_id == sender_id)
                .order_by(events_table.c.id)
            ).all()
        return [event_of_row(row) for row in rows]


def event_of_row(row: Any) -> dict[str, Any]:
    """One stored event (a row with ``id``, ``type_name``, ``data``): its JSON plus ``_id``; a
    row whose JSON is broken is an event of its type with nothing else."""
    try:
        data = json.loads(row.data) if row.data else {}
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    data.setdefault("event", row.type_name)
    data["_id"] = row.id
    return data


# ---- one conversation in Python ----------------------------------------------------------------


def compute_flags(events: Iterable[dict[str, Any]], has_request: bool = False) -> set[str]:
    """The flags of one conversation from its Rasa events (as dicts, ``Event.as_dict()``)."""
    flags: set[str] = set()
    booking_form = False
    appointment = has_request
    for event in events:
        kind = event.get("event")
        name = event.get("name")
        if kind == "user":
            intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
            if intent == "emergency":
                flags.add("emergency")
            elif intent == "nlu_fallback":
                flags.add("fallback")
            elif intent == "request_human":
                flags.add("handoff")
        elif kind == "action":
            if name == "action_emergency":
                flags.add("emergency")
            elif name in FALLBACK_ACTIONS:
                flags.add("fallback")
        elif kind == "slot":
            value = event.get("value")
            if name == "flag_emergency" and value is True:
                flags.add("emergency")
            elif name == "flag_handoff" and value is True:
                flags.add("handoff")
            elif name == "flag_privacy" and value is True:
                flags.add("privacy")
            elif name == "booking_reference" and value not in (None, ""):
                appointment = True
        elif kind == "active_loop" and name == "booking_form":
            booking_form = True
    if appointment:
        flags.add("appointment")
    elif booking_form:
        flags.add("abandoned")
    return flags


@dataclass
class TranscriptItem:
    kind: str  # user | bot | action | slot | form | session | opened | external
    at: datetime | None
    text: str = ""
    event_id: int | None = None
    intent: str | None = None
    confidence: float | None = None
    retrieval_intent: str | None = None
    retrieval_confidence: float | None = None
    name: str | None = None  # action, slot or form name
    value: Any = None  # slot value
    buttons: list[str] = field(default_factory=list)
    channel: str | None = None
    correctable: bool = False
    staff: str | None = None  # a bot message a staff member sent in a live chat: who

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "at": iso(self.at)}
        if self.kind in ("user", "bot", "external"):
            data["text"] = self.text
        if self.kind == "external":
            data["intent"] = self.name
        if self.kind == "user":
            data.update(event_id=self.event_id, intent=self.intent, confidence=self.confidence,
                        retrieval_intent=self.retrieval_intent,
                        retrieval_confidence=self.retrieval_confidence, channel=self.channel)
        if self.kind == "bot" and self.buttons:
            data["buttons"] = self.buttons
        if self.kind == "bot":
            data["event_id"] = self.event_id
            if self.staff:
                data["staff"] = self.staff
        if self.kind in ("action", "slot", "form"):
            data["name"] = self.name
        if self.kind == "slot":
            data["value"] = self.value
        return data

    @property
    def shown_intent(self) -> str | None:
        return self.retrieval_intent or self.intent

    @property
    def shown_confidence(self) -> float | None:
        return self.retrieval_confidence if self.retrieval_intent else self.confidence


def _retrieval(parse_data: dict[str, Any], intent: str | None) -> tuple[str | None, float | None]:
    selector = (parse_data.get("response_selector") or {}).get(intent or "") or {}
    response = selector.get("response") or {}
    key = response.get("intent_response_key")
    if not key:
        return None, None
    return str(key), _number(response.get("confidence"))


def _number(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def is_external(event: dict[str, Any]) -> bool:
    """A user event Rasa made for an intent triggered through its API
    (``UserUttered.create_external``), not a message someone typed."""
    metadata = event.get("metadata") if isinstance(event.get("metadata"), dict) else {}
    return bool(metadata.get("is_external")) or \
        str(event.get("text") or "").startswith(EXTERNAL_MESSAGE_PREFIX)


def external_text(intent: str | None, parse_data: dict[str, Any]) -> str:
    """What staff read for an intent triggered through Rasa's API (``EXTERNAL: <intent>``):
    the delivery worker's hand-back of a live chat no one accepted in time, or another trigger."""
    entities = {e.get("entity"): e.get("value") for e in parse_data.get("entities") or []
                if isinstance(e, dict)}
    if intent == "request_human" and entities.get("live_chat") == "unavailable":
        return "No one from the staff joined in time: back to the assistant, which offered " \
               "to take a message"
    return f"Triggered by the system (not typed by the patient): {intent or 'unknown'}"


def build_transcript(events: Iterable[dict[str, Any]]) -> list[TranscriptItem]:
    """What staff read: messages, intents, actions, form starts and ends, slot changes."""
    items: list[TranscriptItem] = []
    for event in events:
        kind = event.get("event")
        at = from_timestamp(_number(event.get("timestamp")))
        name = event.get("name")
        if kind == "user":
            parse_data = event.get("parse_data") or {}
            intent_data = parse_data.get("intent") or {}
            intent = intent_data.get("name")
            if intent == "session_start":  # the chat widget opening (not typed by anyone)
                items.append(TranscriptItem(kind="opened", at=at))
                continue
            text = str(event.get("text") or "")
            if is_external(event):  # Rasa's trigger_intent, not typed by anyone
                items.append(TranscriptItem(kind="external", at=at, name=intent,
                                            text=external_text(intent, parse_data)))
                continue
            retrieval_intent, retrieval_confidence = _retrieval(parse_data, intent)
            items.append(TranscriptItem(
                kind="user", at=at, text=text, event_id=event.get("_id"), intent=intent,
                confidence=_number(intent_data.get("confidence")),
                retrieval_intent=retrieval_intent, retrieval_confidence=retrieval_confidence,
                channel=event.get("input_channel"),
                correctable=bool(text.strip()) and not text.startswith("/"),
            ))
        elif kind == "bot":
            data = event.get("data") or {}
            buttons = [str(b.get("title") or b.get("payload") or "")
                       for b in data.get("buttons") or [] if isinstance(b, dict)]
            items.append(TranscriptItem(kind="bot", at=at, text=str(event.get("text") or ""),
                                        buttons=buttons, event_id=event.get("_id"),
                                        staff=staff_of(event)))
        elif kind == "action" and name and name not in HIDDEN_ACTIONS \
                and not str(name).startswith("utter_"):
            items.append(TranscriptItem(kind="action", at=at, name=str(name)))
        elif kind == "slot" and name and _slot_worth_showing(str(name), event.get("value")):
            items.append(TranscriptItem(kind="slot", at=at, name=str(name),
                                        value=event.get("value")))
        elif kind == "active_loop":
            items.append(TranscriptItem(kind="form", at=at, name=str(name) if name else None))
        elif kind == "session_started" and not (items and items[-1].kind == "opened"):
            items.append(TranscriptItem(kind="session", at=at))
    return items


def staff_of(event: dict[str, Any]) -> str | None:
    """The staff member who sent a bot message in a live chat (metadata ``staff`` with
    ``live: true``, as the console appends it), else None."""
    metadata = event.get("metadata")
    if isinstance(metadata, dict) and metadata.get("live") and metadata.get("staff"):
        return str(metadata["staff"])[:64]
    return None


def _slot_worth_showing(name: str, value: Any) -> bool:
    if name in HIDDEN_SLOTS or name.startswith("clinic_"):
        return False
    return value not in (None, "", [], {})


def slot_text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def transcript_text(
    sender_id: str,
    items: Sequence[TranscriptItem],
    tz: ZoneInfo,
    references: Sequence[str],
    exported_by: str,
    exported_at: datetime,
) -> str:
    """A transcript as plain text (messages, intents, actions and slot changes)."""

    def when(value: datetime | None) -> str:
        return value.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S") if value else " " * 19

    lines = [
        f"Conversation {sender_id}",
        f"Times in {tz.key}. Exported {when(exported_at)} by {exported_by}.",
    ]
    if references:
        lines.append("Requests: " + ", ".join(references))
    lines.append("")
    pad = " " * 21
    for item in items:
        if item.kind == "user":
            intent = ""
            if item.shown_intent:
                confidence = (f" {item.shown_confidence:.2f}"
                              if item.shown_confidence is not None else "")
                intent = f"   [intent {item.shown_intent}{confidence}]"
            lines.append(f"{when(item.at)}  Patient: {_one_line(item.text)}{intent}")
        elif item.kind == "bot":
            who = f"Staff ({item.staff})" if item.staff else "Assistant"
            lines.append(f"{when(item.at)}  {who}: {_indent(item.text, pad + '  ')}")
            if item.buttons:
                lines.append(f"{pad}  buttons: {' | '.join(item.buttons)}")
        elif item.kind == "action":
            lines.append(f"{pad}(action {item.name})")
        elif item.kind == "slot":
            lines.append(f"{pad}(slot {item.name} = {_one_line(slot_text(item.value))})")
        elif item.kind == "form":
            lines.append(f"{pad}(form {item.name} started)" if item.name
                         else f"{pad}(form ended)")
        elif item.kind == "session":
            lines.append(f"{when(item.at)}  --- new session ---")
        elif item.kind == "opened":
            lines.append(f"{when(item.at)}  (chat opened)")
        elif item.kind == "external":
            lines.append(f"{when(item.at)}  ({item.text})")
    return "\n".join(lines) + "\n"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _indent(text: str, pad: str) -> str:
    return ("\n" + pad).join(line.rstrip() for line in text.strip().splitlines())
