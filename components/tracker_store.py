"""Rasa's SQL tracker store, configured with one database URL instead of five settings.

``endpoints.yml`` names this class and passes ``url: ${TRACKER_DATABASE_URL}``; Rasa hands that
value to the constructor as ``host``. Any SQLAlchemy URL works: ``sqlite:///var/conversations.db``
(the default ``make run`` sets) or ``postgresql://user:password@host:5432/clinic``, the same
database family as the appointment requests (``DATABASE_URL``).

A database that restarts or drops connections is waited for, not papered over: Rasa wraps every
tracker store in a ``FailSafeTrackerStore`` that, on any error, answers the message from an
*empty* conversation (the patient gets the privacy notice again and loses the form in
progress) and keeps the result in memory only. So this store

* checks a pooled connection before using it (``pool_pre_ping``): Rasa's own engine has no
  pre-ping, and after a database restart the first message on each stale connection failed;
* retries reading and saving a conversation while the database is unreachable, for up to
  ``OUTAGE_WAIT_SECONDS``: a restart of a few seconds delays the reply instead of answering it
  from a blank conversation. Saving again is safe: Rasa stores only the events the database
  does not have yet.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import SQLTrackerStore, create_engine_kwargs
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import Event, SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy import create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import QueuePool

logger = logging.getLogger(__name__)

# How long one message waits for an unreachable conversation database before Rasa's fail-safe
# (a blank conversation, kept in memory) takes over.
OUTAGE_WAIT_SECONDS = 20.0
_RETRY_DELAYS = (0.25, 0.5, 1.0, 2.0)  # then every 2 s

T = TypeVar("T")


def _unreachable(error: Exception) -> bool:
    """The database is down or dropped the connection (not a bad query or a constraint)."""
    if isinstance(error, (OperationalError, DisconnectionError)):
        return True
    return isinstance(error, DBAPIError) and bool(error.connection_invalidated)


def _sqlite_write_ahead_log(dbapi_connection: Any, _record: Any) -> None:
    """SQLite in write-ahead-log mode: the staff console reads conversations while Rasa writes
    them, and a save appends to the log instead of rewriting pages through a rollback journal.

    ``synchronous=NORMAL`` (SQLite's recommendation for WAL) syncs the log at checkpoints rather
    than at every save: a crash of the server loses nothing; a power cut or kernel crash can
    lose the conversation turns of the last moments. Appointment requests are not stored here
    but in the requests database (``DATABASE_URL``), which syncs every commit.
    """
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _current_session_statements(events: sa.Table) -> tuple[sa.sql.Select, sa.sql.Select]:
    """Count, and read in order, one sender's events since its latest session start."""
    sender = sa.bindparam("sender_id")
    session_start = (
        sa.select(sa.func.max(events.c.timestamp))
        .where(events.c.sender_id == sender, events.c.type_name == SessionStarted.type_name)
        .scalar_subquery()
    )
    current = sa.and_(events.c.sender_id == sender,
                      sa.or_(events.c.timestamp >= session_start, session_start.is_(None)))
    count = sa.select(sa.func.count()).select_from(events).where(current)
    read = sa.select(events.c.data).where(current).order_by(events.c.id)
    return count, read


class UrlSQLTrackerStore(SQLTrackerStore):
    """Conversations (Rasa's ``events`` table) in the database the URL names."""

    def __init__(
        self,
        domain: Domain | None = None,
        host: str | None = None,
        event_broker: EventBroker | None = None,
        **kwargs: Any,
    ) -> None:
        if not host:
            raise ValueError("the tracker store needs a database URL (TRACKER_DATABASE_URL)")
        url = make_url(host)
        if url.get_backend_name() == "sqlite":
            database = url.database or "var/conversations.db"
            Path(database).parent.mkdir(parents=True, exist_ok=True)
            super().__init__(domain, dialect="sqlite", db=database, event_broker=event_broker)
        else:
            super().__init__(
                domain,
                dialect=url.drivername,
                host=url.host,
                port=url.port,
                db=url.database or "rasa",
                username=url.username,
                password=url.password,
                event_broker=event_broker,
                query=dict(url.query) or None,
                login_db=kwargs.get("login_db"),
            )
        # Rasa creates its engine without pre-ping: a connection the database closed (restart,
        # failover, idle timeout) fails the message that picks it from the pool.
        stale = self.engine
        if url.get_backend_name() == "sqlite":
            # SQLAlchemy 1.4 opens and closes a SQLite file per session (NullPool): a connect,
            # the pragmas and a close on every read and save. Kept connections instead.
            self.engine = create_engine(stale.url, poolclass=QueuePool, pool_size=4,
                                        connect_args={"check_same_thread": False,
                                                      "timeout": 30})
            event.listen(self.engine, "connect", _sqlite_write_ahead_log)
        else:
            self.engine = create_engine(stale.url, pool_pre_ping=True,
                                        **create_engine_kwargs(stale.url))
        self.sessionmaker = sessionmaker(bind=self.engine)
        stale.dispose()
        self._count_current_session, self._read_current_session = _current_session_statements(
            self.SQLEvent.__table__)
        logger.info("Conversations are stored in a %s database", url.get_backend_name())

    async def _waiting(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        """``call()``, retried while the database is unreachable, up to OUTAGE_WAIT_SECONDS."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + OUTAGE_WAIT_SECONDS
        attempt = 0
        while True:
            try:
                return await call()
            except Exception as error:
                if not _unreachable(error) or loop.time() >= deadline:
                    raise
                delay = _RETRY_DELAYS[min(attempt, len(_RETRY_DELAYS) - 1)]
                attempt += 1
                logger.warning("Conversation database unreachable while %s (%s); retrying in "
                               "%.2fs", what, type(error).__name__, delay)
                await asyncio.sleep(min(delay, max(0.0, deadline - loop.time())))

    # Rasa's own queries for the latest session, built once: Rasa builds an ORM query (with a
    # subquery) for every read and every save, and SQLAlchemy then derives its cache key again
    # each time; that was about half of the tracker store's CPU under load. Same SQL meaning:
    # the sender's events from its latest session start (all of them if it has none).

    def _additional_events(self, session: Any, tracker: DialogueStateTracker) -> Iterable[Event]:
        stored = session.execute(self._count_current_session,
                                 {"sender_id": tracker.sender_id}).scalar_one()
        return itertools.islice(tracker.events, stored, len(tracker.events))

    async def _retrieve(self, sender_id: str,
                        fetch_events_from_all_sessions: bool) -> DialogueStateTracker | None:
        if fetch_events_from_all_sessions:
            return await super()._retrieve(sender_id, fetch_events_from_all_sessions)
        with self.session_scope() as session:
            rows = session.execute(self._read_current_session, {"sender_id": sender_id})
            events = [json.loads(data) for data in rows.scalars()]
        if self.domain and events:
            return DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
        return None

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        return await self._waiting("reading a conversation",
                                   lambda: super(UrlSQLTrackerStore, self).retrieve(sender_id))

    async def retrieve_full_tracker(self, conversation_id: str) -> DialogueStateTracker | None:
        return await self._waiting(
            "reading a conversation",
            lambda: super(UrlSQLTrackerStore, self).retrieve_full_tracker(conversation_id))

    async def save(self, tracker: DialogueStateTracker) -> None:
        await self._waiting("saving a conversation",
                            lambda: super(UrlSQLTrackerStore, self).save(tracker))

    async def keys(self) -> Iterable[str]:
        return await self._waiting("listing conversations",
                                   lambda: super(UrlSQLTrackerStore, self).keys())
