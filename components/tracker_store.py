"""Rasa's SQL tracker store, configured with one database URL instead of five settings.

``endpoints.yml`` names this class and passes ``url: ${TRACKER_DATABASE_URL}``; Rasa hands that
value to the constructor as ``host``. Any SQLAlchemy URL works: ``sqlite:///var/conversations.db``
(the default ``make run`` sets) or ``postgresql://user:password@host:5432/clinic``, the same
database family as the appointment requests (``DATABASE_URL``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from sqlalchemy.engine import make_url

logger = logging.getLogger(__name__)


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
        logger.info("Conversations are stored in a %s database", url.get_backend_name())
