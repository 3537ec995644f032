"""Rasa's lock store, configured with one URL like the tracker store.

Rasa handles the messages of one conversation one at a time: each message takes a ticket from
the conversation's lock and waits for its turn. With one Rasa server the locks can live in
memory; with several behind a load balancer they must be shared, or two servers would answer
two messages of the same patient at once, each from a stale copy of the conversation.

``endpoints.yml`` names this class and passes ``url: ${LOCK_STORE_URL}``::

    lock_store:
      type: components.lock_store.UrlLockStore
      url: ${LOCK_STORE_URL}

* empty URL: Rasa's ``InMemoryLockStore`` (one Rasa server, the default of ``make run``);
* ``redis://[[user]:password@]host[:port][/db]`` (or ``rediss://`` for TLS): a
  ``RedisLockStore`` shared by every Rasa server, keys prefixed with ``clinic:lock:`` (another
  prefix with ``?key_prefix=<letters and digits>``).

Rasa 3.6 loads a custom lock store with ``class_from_module_path(type)`` and calls it as
``UrlLockStore(endpoint_config=<EndpointConfig>)`` (``rasa.core.lock_store.
_load_from_module_name_in_endpoint_config``); a wrong module path raises there and the server
does not start. Anything else unusable here (an unknown scheme, a bad port) raises too: a
misconfigured lock store never silently falls back to memory.

Rasa's own ``RedisLockStore`` reads a conversation's lock, changes it in Python and writes it
back, so two servers issuing tickets for the same conversation at the same moment can both get
ticket 0 and answer at once, or drop each other's ticket (RasaHQ/rasa#9213). The store used
here does each of those read-change-write steps as one Redis transaction (``WATCH``/``MULTI``,
retried when another server changed the lock in between).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

from rasa.core.lock import TicketLock
from rasa.core.lock_store import (
    DEFAULT_SOCKET_TIMEOUT_IN_SECONDS,
    LOCK_LIFETIME,
    InMemoryLockStore,
    LockError,
    LockStore,
    RedisLockStore,
)
from rasa.shared.exceptions import ConnectionException
from rasa.utils.endpoints import EndpointConfig
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

DEFAULT_KEY_PREFIX = "clinic"
DEFAULT_REDIS_PORT = 6379
# A lock left behind by a server that died is dropped by Redis this long after its last ticket
# would have expired anyway.
KEY_TTL_MARGIN_SECONDS = 60

T = TypeVar("T")


class UrlLockStore(LockStore):
    """Factory named in ``endpoints.yml``: builds the lock store the URL describes.

    Calling the class returns Rasa's ``InMemoryLockStore`` or an :class:`AtomicRedisLockStore`
    (a ``RedisLockStore``), so Rasa's own checks (e.g. whether several Sanic workers are safe)
    see the real store.
    """

    def __new__(  # type: ignore[misc]
        cls,
        endpoint_config: EndpointConfig | None = None,
        url: str | None = None,
        **kwargs: Any,
    ) -> LockStore:
        if endpoint_config is not None:
            url = endpoint_config.url if url is None else url
            kwargs = {**endpoint_config.kwargs, **kwargs}
        return lock_store_from_url(url, **kwargs)


def lock_store_from_url(url: str | None, **kwargs: Any) -> LockStore:
    """``InMemoryLockStore`` for an empty URL, a Redis lock store for ``redis://``."""
    url = (url or "").strip()
    if not url:
        workers = os.environ.get("SANIC_WORKERS", "1").strip() or "1"
        if workers != "1":
            raise ValueError(
                f"SANIC_WORKERS={workers} needs a shared lock store: set LOCK_STORE_URL to "
                "redis://host:6379/0"
            )
        logger.info("Conversation locks are kept in memory (one Rasa server)")
        return InMemoryLockStore()
    return AtomicRedisLockStore(**redis_settings(url, **kwargs))


def redis_settings(url: str, **kwargs: Any) -> dict[str, Any]:
    """``RedisLockStore`` keyword arguments from a ``redis://`` URL (plus endpoint extras)."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        raise ValueError(
            f"LOCK_STORE_URL must be empty or redis://[:password@]host:port/db, got a "
            f"{parts.scheme or 'schemeless'} URL"
        )
    if not parts.hostname:
        raise ValueError("LOCK_STORE_URL has no host: redis://[:password@]host:port/db")
    try:
        port = parts.port or DEFAULT_REDIS_PORT
    except ValueError:
        raise ValueError("LOCK_STORE_URL has an invalid port") from None
    db_text = parts.path.lstrip("/") or "0"
    if not db_text.isdigit():
        raise ValueError(f"LOCK_STORE_URL's database must be a number, got {db_text!r}")
    query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
    key_prefix = str(kwargs.pop("key_prefix", None) or query.get("key_prefix")
                     or DEFAULT_KEY_PREFIX)
    if not key_prefix.isalnum():
        raise ValueError(f"the lock store's key prefix must be letters and digits: {key_prefix!r}")
    return {
        "host": parts.hostname,
        "port": port,
        "db": int(db_text),
        "username": unquote(parts.username) if parts.username else None,
        "password": unquote(parts.password) if parts.password else None,
        "use_ssl": parts.scheme == "rediss",
        "key_prefix": key_prefix,
        "socket_timeout": float(kwargs.pop("socket_timeout", DEFAULT_SOCKET_TIMEOUT_IN_SECONDS)),
        **{k: v for k, v in kwargs.items()
           if k in ("ssl_certfile", "ssl_keyfile", "ssl_ca_certs")},
    }


class AtomicRedisLockStore(RedisLockStore):
    """``RedisLockStore`` whose ticket changes are Redis transactions, safe across servers."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        pool = self.red.connection_pool.connection_kwargs
        where = f"{pool.get('host')}:{pool.get('port')}/{pool.get('db')}"
        try:  # fail at start-up, not on the first patient's message
            self.red.ping()
        except RedisError as exc:
            raise ConnectionException(
                f"Cannot reach the Redis lock store at {where} (LOCK_STORE_URL): {exc}"
            ) from exc
        logger.info("Conversation locks are shared in Redis at %s (keys %s*)", where,
                    self.key_prefix)

    def _key(self, conversation_id: str) -> str:
        return self.key_prefix + conversation_id

    def _change(self, conversation_id: str, change: Callable[[TicketLock], T]) -> T:
        """Read the lock, apply ``change``, write it back (or delete it when no ticket is left),
        all as one transaction; retried if another server changed the lock meanwhile."""
        key = self._key(conversation_id)

        def transaction(pipe: Any) -> T:
            raw = pipe.get(key)
            lock = (TicketLock.from_dict(json.loads(raw)) if raw
                    else TicketLock(conversation_id))
            result = change(lock)
            lock.remove_expired_tickets()
            pipe.multi()
            if lock.tickets:
                expires = max(ticket.expires for ticket in lock.tickets)
                ttl = max(1, int(expires - time.time()) + KEY_TTL_MARGIN_SECONDS)
                pipe.set(key, lock.dumps(), ex=ttl)
            else:
                pipe.delete(key)
            return result

        return self.red.transaction(transaction, key, value_from_callable=True)

    def issue_ticket(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME) -> int:
        """A new ticket, numbered after every ticket any server has issued for the lock."""
        try:
            return self._change(conversation_id, lambda lock: lock.issue_ticket(lock_lifetime))
        except Exception as exc:
            raise LockError(f"Error while acquiring lock. Error:\n{exc}") from exc

    def update_lock(self, conversation_id: str) -> None:
        """Drop expired tickets (a server that died while holding the lock)."""
        self._change(conversation_id, lambda lock: lock.remove_expired_tickets())

    def finish_serving(self, conversation_id: str, ticket_number: int) -> None:
        self._change(conversation_id, lambda lock: lock.remove_ticket_for(ticket_number))

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        """Remove this ticket; the lock itself goes when no ticket is left (in the same step)."""
        self.finish_serving(conversation_id, ticket_number)
