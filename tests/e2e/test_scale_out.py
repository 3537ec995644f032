"""Two Rasa servers behind one address share conversations and locks: nothing interleaves.

Real processes on loopback, started by this module: a throwaway PostgreSQL (conversations in
``events``, requests in ``requests``) and Redis (conversation locks), ONE action server, ONE
delivery worker, and TWO Rasa servers, A and B, with the same ``TRACKER_DATABASE_URL``,
``DATABASE_URL`` and ``LOCK_STORE_URL``: what a load balancer in front of several machines sees.

* one patient's booking sent alternately to A and B completes;
* 20 patients booking at once (7 turns each), each message to a random server: every
  conversation is complete and in order in the database (each message followed by exactly the
  replies it got, nothing of another message in between) and every booking is stored and
  e-mailed once;
* several messages of ONE patient sent at the same moment to both servers are handled one at a
  time (the Redis lock store): each stored message is followed by its own replies, none is lost.

The lock store itself (``components/lock_store.py``) is checked first, in this process: how the
URL picks the store, that a wrong class path or an unreachable Redis stops Rasa loudly, and that
tickets stay unique when many clients take them at the same moment.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import psycopg2
import pytest
import requests
import yaml
from rasa.core.lock_store import InMemoryLockStore, LockStore, RedisLockStore
from rasa.shared.exceptions import ConnectionException
from rasa.utils.endpoints import EndpointConfig

from actions.storage import get_engine, list_requests
from components.lock_store import AtomicRedisLockStore, UrlLockStore, lock_store_from_url
from scripts.serve import DEFAULT_MODEL, Stack, StackConfig, free_port, start_together
from tests.conftest import render
from tests.services import PostgresServer, RedisServer, ServiceMissingError
from tests.smtp_sink import SmtpSink

logger = logging.getLogger(__name__)

REFERENCE_RE = re.compile(r"\bPMR-[A-Z2-9]{6}\b")
MODEL = Path(os.environ.get("RASA_MODEL") or DEFAULT_MODEL)
SENDERS = 20
BOOKING = [
    "I'd like to book an appointment",
    "Maria Lopez",
    "212 555 0123",
    "next tuesday afternoon",
    "migraines twice a week",
    "I'm a new patient",
    "yes",
]

T = TypeVar("T")


def wait_for(condition: Callable[[], T], timeout: float = 60.0, what: str = "a condition") -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")


def server_or_fail(server: Any) -> Any:
    """A tests.services server, started; a missing binary fails the test (never a skip)."""
    try:
        return server()
    except ServiceMissingError as exc:
        pytest.fail(str(exc))


# ---- the lock store on its own ------------------------------------------------------------


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with server_or_fail(RedisServer) as server:
        yield server


def test_lock_store_url_picks_the_store(redis_server: RedisServer) -> None:
    assert type(lock_store_from_url("")) is InMemoryLockStore  # one server: today's behaviour
    assert type(lock_store_from_url(None)) is InMemoryLockStore
    store = lock_store_from_url(redis_server.url_for(3))
    assert isinstance(store, RedisLockStore) and isinstance(store, AtomicRedisLockStore)
    assert store.key_prefix == "clinic:lock:"
    assert store.red.connection_pool.connection_kwargs["db"] == 3
    custom = lock_store_from_url(redis_server.url + "?key_prefix=frontdesk")
    assert custom.key_prefix == "frontdesk:lock:"
    for wrong in ("http://127.0.0.1:6379/0", "redis:///0", "redis://127.0.0.1:6379/x",
                  "127.0.0.1:6379"):
        with pytest.raises(ValueError, match="LOCK_STORE_URL"):
            lock_store_from_url(wrong)


def test_rasa_loads_it_from_endpoints_and_fails_loudly(redis_server: RedisServer) -> None:
    # what `rasa run` does with endpoints.yml's lock_store section
    endpoint = EndpointConfig.from_dict({"type": "components.lock_store.UrlLockStore",
                                         "url": redis_server.url})
    assert isinstance(LockStore.create(endpoint), AtomicRedisLockStore)
    empty = EndpointConfig.from_dict({"type": "components.lock_store.UrlLockStore", "url": ""})
    assert type(LockStore.create(empty)) is InMemoryLockStore
    assert type(UrlLockStore(endpoint_config=empty)) is InMemoryLockStore
    # a typo in the class path stops the server (Rasa does not fall back to memory here)
    typo = EndpointConfig.from_dict({"type": "components.lock_stor.UrlLockStore", "url": ""})
    with pytest.raises(Exception, match="Could not find a class"):
        LockStore.create(typo)
    # so does a Redis that does not answer, at start-up rather than on a patient's message
    down = EndpointConfig.from_dict({"type": "components.lock_store.UrlLockStore",
                                     "url": f"redis://127.0.0.1:{free_port()}/0"})
    with pytest.raises(ConnectionException, match="LOCK_STORE_URL"):
        LockStore.create(down)


def test_tickets_stay_unique_when_taken_at_the_same_moment(redis_server: RedisServer) -> None:
    """Rasa's RedisLockStore reads, changes and writes a lock in three steps, so clients taking
    tickets at once can get the same number (RasaHQ/rasa#9213); these steps are one transaction.
    """
    clients, per_client = 8, 25
    barrier = threading.Barrier(clients)

    def take(_: int) -> list[int]:
        store = lock_store_from_url(redis_server.url)  # its own connection, like another server
        barrier.wait()
        return [store.issue_ticket("one-conversation", 30) for _ in range(per_client)]

    with ThreadPoolExecutor(clients) as pool:
        tickets = [n for batch in pool.map(take, range(clients)) for n in batch]
    assert sorted(tickets) == list(range(clients * per_client))
    store = lock_store_from_url(redis_server.url)
    for ticket in tickets:
        store.cleanup("one-conversation", ticket)
    assert store.get_lock("one-conversation") is None  # the last one out removes the lock


# ---- two Rasa servers -----------------------------------------------------------------------


def model_domain(model: Path = MODEL) -> dict[str, Any]:
    """The domain stored inside the model that answers (domain.yml may be newer)."""
    with tarfile.open(model) as archive:
        for member in archive.getmembers():
            if member.name.lstrip("/") == "components/domain_provider/domain.yml":
                handle = archive.extractfile(member)
                assert handle is not None
                return yaml.safe_load(handle)
    raise AssertionError(f"no domain in {model}")


@pytest.fixture(scope="module")
def domain() -> dict[str, Any]:
    return model_domain()


@dataclass
class Cluster:
    servers: list[Stack]  # Rasa server A (with the delivery worker) and Rasa server B
    database_url: str
    tracker_database_url: str
    redis: RedisServer
    smtp: SmtpSink

    def send(self, server: int, sender: str, message: str) -> list[str]:
        reply = requests.post(f"{self.servers[server].rasa_url}/webhooks/rest/webhook",
                              json={"sender": sender, "message": message}, timeout=180)
        assert reply.status_code == 200, (reply.status_code, reply.text)
        return [m["text"] for m in reply.json() if "text" in m]

    def events(self, sender: str) -> list[tuple[str, str]]:
        """(type, text) of the stored user and bot events, in the order they were stored."""
        connection = psycopg2.connect(self.tracker_database_url, connect_timeout=10)
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT type_name, data FROM events WHERE sender_id = %s "
                               "ORDER BY id", (sender,))
                rows = cursor.fetchall()
        finally:
            connection.close()
        return [(kind, json.loads(data).get("text") or "") for kind, data in rows
                if kind in ("user", "bot")]

    def requests_of(self, sender: str) -> list[dict[str, Any]]:
        return [r for r in list_requests(get_engine(self.database_url))
                if r["sender_id"] == sender]


@pytest.fixture(scope="module")
def cluster(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[Cluster]:
    if not MODEL.exists():
        pytest.fail(f"no trained model at {MODEL}: run `make train` (make e2e does)")
    base = tmp_path_factory.mktemp("scale-out")
    with ExitStack() as cleanup:
        pg = cleanup.enter_context(server_or_fail(PostgresServer))
        smtp = cleanup.enter_context(SmtpSink(free_port()))
        tracker_database_url = pg.create_database("conversations")
        database_url = pg.create_database("clinic")
        env = {
            "TRACKER_DATABASE_URL": tracker_database_url,
            "DATABASE_URL": database_url,
            "LOCK_STORE_URL": redis_server.url,
            "OUTBOX_DIR": str(base / "outbox"),
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(smtp.port),
            "DELIVERY_RETRY_SECONDS": "1",
            "DELIVERY_RETRY_MAX_SECONDS": "2",
            "DELIVERY_POLL_MS": "200",
        }
        action_port = free_port()
        stacks = [
            Stack(StackConfig(action_port=action_port, log_dir=base / "actions", model=MODEL,
                              extra_env=env, only=("action server",))),
            Stack(StackConfig(rasa_port=free_port(), action_port=action_port, model=MODEL,
                              log_dir=base / "a", extra_env=env,
                              only=("rasa server", "delivery worker"))),
            Stack(StackConfig(rasa_port=free_port(), action_port=action_port, model=MODEL,
                              log_dir=base / "b", extra_env=env, only=("rasa server",))),
        ]
        for stack in stacks:
            cleanup.callback(stack.stop)
        start_together(stacks)  # the two Rasa servers load their models side by side
        yield Cluster(servers=stacks[1:], database_url=database_url,
                      tracker_database_url=tracker_database_url, redis=redis_server, smtp=smtp)


def expected_booking(domain: dict[str, Any]) -> list[Callable[[list[str]], bool]]:
    """What each turn of BOOKING must answer (the first also opens the conversation)."""
    def exactly(*responses: str) -> Callable[[list[str]], bool]:
        texts = [render(domain, r) for r in responses]
        return lambda replies: replies[-len(texts):] == texts

    return [
        exactly("utter_booking_start", "utter_ask_patient_name"),
        exactly("utter_ask_patient_contact"),
        exactly("utter_ask_preferred_time"),
        exactly("utter_ask_visit_reason"),
        exactly("utter_ask_patient_status"),
        lambda replies: len(replies) == 1 and "Name: Maria Lopez" in replies[0],
        lambda replies: len(replies) == 1 and bool(REFERENCE_RE.search(replies[0])),
    ]


def book(cluster: Cluster, sender: str, domain: dict[str, Any],
         pick_server: Callable[[int], int]) -> tuple[str, list[tuple[str, list[str]]]]:
    """One patient's whole booking; returns the reference and (message, replies) per turn."""
    turns: list[tuple[str, list[str]]] = []
    for number, (message, check) in enumerate(zip(BOOKING, expected_booking(domain),
                                                  strict=True)):
        replies = cluster.send(pick_server(number), sender, message)
        assert check(replies), (sender, message, replies)
        turns.append((message, replies))
    reference = REFERENCE_RE.search(turns[-1][1][0])
    assert reference
    return reference.group(0), turns


def assert_stored_in_order(cluster: Cluster, sender: str,
                           turns: list[tuple[str, list[str]]]) -> None:
    """The stored conversation is exactly the turns, in order: each user message followed by
    the replies it got and nothing else (the first reply of a conversation also carries the
    opening notice, stored before the first user message)."""
    events = cluster.events(sender)
    users = [i for i, (kind, _) in enumerate(events) if kind == "user"]
    assert [events[i][1] for i in users] == [message for message, _ in turns], sender
    opening = [text for _, text in events[:users[0]]]
    for number, start in enumerate(users):
        end = users[number + 1] if number + 1 < len(users) else len(events)
        stored = [text for _, text in events[start + 1:end]]
        expected = turns[number][1]
        if number == 0:
            stored = opening + stored
        assert stored == expected, (sender, turns[number][0], stored, expected)


def assert_booked_once(cluster: Cluster, sender: str, reference: str) -> None:
    rows = cluster.requests_of(sender)
    assert [r["reference"] for r in rows] == [reference], (sender, rows)


def test_one_patient_alternating_between_the_two_servers(
        cluster: Cluster, domain: dict[str, Any]) -> None:
    sender = f"scale-alt-{os.urandom(4).hex()}"
    reference, turns = book(cluster, sender, domain, pick_server=lambda turn: turn % 2)
    assert_stored_in_order(cluster, sender, turns)
    assert_booked_once(cluster, sender, reference)
    wait_for(lambda: [m for m in cluster.smtp.messages if reference in m["Subject"]],
             what="the e-mail")


def test_many_patients_at_once_on_random_servers(
        cluster: Cluster, domain: dict[str, Any]) -> None:
    senders = [f"scale-{n:02d}-{os.urandom(3).hex()}" for n in range(SENDERS)]
    seeds = random.Random(20240605)  # noqa: S311 - picks a server, nothing secret
    choosers = {s: random.Random(seeds.random()) for s in senders}  # noqa: S311
    used: dict[str, set[int]] = {s: set() for s in senders}

    def patient(sender: str) -> tuple[str, list[tuple[str, list[str]]]]:
        def pick(_: int) -> int:
            server = choosers[sender].randrange(2)
            used[sender].add(server)
            return server

        return book(cluster, sender, domain, pick)

    started_at = time.monotonic()
    with ThreadPoolExecutor(SENDERS) as pool:
        results = dict(zip(senders, pool.map(patient, senders), strict=True))
    elapsed = time.monotonic() - started_at
    logger.warning("scale-out: %d patients x %d turns = %d messages on 2 Rasa servers in %.1fs",
                   SENDERS, len(BOOKING), SENDERS * len(BOOKING), elapsed)

    for sender, (reference, turns) in results.items():
        assert_stored_in_order(cluster, sender, turns)
        assert_booked_once(cluster, sender, reference)
    assert sum(len(servers) == 2 for servers in used.values()) > SENDERS // 2  # both servers
    references = {reference for reference, _ in results.values()}
    assert len(references) == SENDERS

    def emailed() -> bool:
        subjects = [str(m["Subject"]) for m in cluster.smtp.messages]
        return all(any(r in s for s in subjects) for r in references)

    wait_for(emailed, what="every booking's e-mail")
    time.sleep(2.0)  # room for a duplicate to show up
    subjects = [str(m["Subject"]) for m in cluster.smtp.messages]
    for reference in references:
        assert sum(reference in s for s in subjects) == 1, reference


def test_one_patient_messages_at_once_on_both_servers_are_taken_in_turn(
        cluster: Cluster, domain: dict[str, Any]) -> None:
    sender = f"scale-same-{os.urandom(4).hex()}"
    assert cluster.send(0, sender, "hello")  # the conversation exists (opening notice stored)
    questions = [
        "what are your opening hours",
        "what is the clinic's address",
        "what is your phone number",
        "what is acupuncture",
        "who is dr kuzminov",
        "what is a primary headache",
    ]
    barrier = threading.Barrier(len(questions))

    def ask(number: int) -> tuple[str, list[str]]:
        barrier.wait()  # all at the same moment, alternately to A and B
        return questions[number], cluster.send(number % 2, sender, questions[number])

    with ThreadPoolExecutor(len(questions)) as pool:
        answers = dict(pool.map(ask, range(len(questions))))
    assert all(answers.values()), answers

    events = cluster.events(sender)
    users = [i for i, (kind, _) in enumerate(events) if kind == "user"]
    stored_order = [events[i][1] for i in users][1:]  # after "hello"
    assert sorted(stored_order) == sorted(questions)  # each stored once, none lost
    for number, start in enumerate(users[1:], start=1):
        end = users[number + 1] if number + 1 < len(users) else len(events)
        stored = [text for _, text in events[start + 1:end]]
        assert stored == answers[events[start][1]], (events[start][1], stored)
    assert render(domain, "utter_faq/opening_hours") in answers[questions[0]]
    # every ticket was returned: no lock is left behind in Redis
    assert not list(cluster.redis.client().scan_iter("clinic:lock:*"))
