"""Two Rasa servers behind one address share conversations and locks: nothing interleaves.

Real processes on loopback, started by this module: a throwaway PostgreSQL (conversations in
``events``, requests in ``requests``) and Redis (conversation locks, the widget's sockets), ONE
action server, ONE delivery worker, ONE web server (the staff console) and TWO Rasa servers, A
and B, with the same ``TRACKER_DATABASE_URL``, ``DATABASE_URL`` and ``LOCK_STORE_URL``: what a
load balancer in front of several machines sees. Each is a process of its own, so a test can
restart any one of them.

* one patient's booking sent alternately to A and B completes;
* 20 patients booking at once (7 turns each), each message to a random server: every
  conversation is complete and in order in the database (each message followed by exactly the
  replies it got, nothing of another message in between) and every booking is stored and
  e-mailed once;
* several messages of ONE patient sent at the same moment to both servers are handled one at a
  time (the Redis lock store): each stored message is followed by its own replies, none is lost;
* a live chat with the widget on A and the console on B's API: every staff line reaches the
  widget, and the chat survives a restart of each process in turn.

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
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import psycopg2
import pytest
import requests
import socketio
import yaml
from rasa.core.lock_store import InMemoryLockStore, LockStore, RedisLockStore
from rasa.shared.exceptions import ConnectionException
from rasa.utils.endpoints import EndpointConfig
from sqlalchemy import update

from actions import live_store, rasa_api
from actions.storage import get_engine, list_requests, utcnow
from components.lock_store import AtomicRedisLockStore, UrlLockStore, lock_store_from_url
from scripts.serve import DEFAULT_MODEL, Stack, StackConfig, free_port, start_together
from staff.live import patient_line
from tests.conftest import render
from tests.services import PostgresServer, RedisServer, ServiceMissingError
from tests.smtp_sink import SmtpSink

logger = logging.getLogger(__name__)

REFERENCE_RE = re.compile(r"\bPMR-[A-Z2-9]{6}\b")
MODEL = Path(os.environ.get("RASA_MODEL") or DEFAULT_MODEL)
SENDERS = 20
STAFF_PASSWORD = "correct horse battery staple"
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
    servers: list[Stack]  # Rasa servers A and B
    database_url: str
    tracker_database_url: str
    redis: RedisServer
    smtp: SmtpSink
    # every process by name: "action server", "rasa a", "rasa b", "delivery worker", "web
    # server" (the staff console); the worker and the console use B's HTTP API
    processes: dict[str, Stack]

    @property
    def console_url(self) -> str:
        return self.processes["web server"].web_url

    def restart(self, name: str) -> None:
        """Stop one process (SIGTERM, like a deploy) and start it again; wait until it answers."""
        stack = self.processes[name]
        stack.stop()
        stack.start()

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
        web_port = free_port()
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
            # live chats (Rasa's HTTP API on every server, one token), whatever the time
            "RASA_API_TOKEN": "scale-out-api-token-" + "k" * 24,
            "LIVE_CHAT_HOURS": "always",
            "LIVE_ALERTS": "false",
            "WEB_ALLOWED_ORIGINS": f"http://127.0.0.1:{web_port}",
            "STAFF_ADMIN_USER": "admin",
            "STAFF_ADMIN_PASSWORD": STAFF_PASSWORD,
            "STAFF_SECRET_KEY": "scale-out-secret-key-" + "x" * 32,
            # a restart does not wait Sanic's 15 s for the widget's open connection to end
            "SANIC_GRACEFUL_SHUTDOWN_TIMEOUT": "2",
        }
        action_port, port_a, port_b = free_port(), free_port(), free_port()

        def process(name: str, service: str, rasa_port: int) -> Stack:
            return Stack(StackConfig(rasa_port=rasa_port, action_port=action_port,
                                     web_port=web_port, model=MODEL, extra_env=env,
                                     log_dir=base / name.replace(" ", "-"), only=(service,)))

        processes = {
            "action server": process("action server", "action server", port_a),
            "rasa a": process("rasa a", "rasa server", port_a),
            "rasa b": process("rasa b", "rasa server", port_b),
            "delivery worker": process("delivery worker", "delivery worker", port_b),
            "web server": process("web server", "web server", port_b),
        }
        for stack in processes.values():
            cleanup.callback(stack.stop)
        start_together(list(processes.values()))  # the Rasa servers load side by side
        yield Cluster(servers=[processes["rasa a"], processes["rasa b"]],
                      database_url=database_url, tracker_database_url=tracker_database_url,
                      redis=redis_server, smtp=smtp, processes=processes)


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


# ---- a live chat across the servers, and restarts mid-chat --------------------------------


class SocketPatient:
    """A patient's widget: a socket.io client (polling transport, in its own threads) on one
    Rasa server, with the widget's persistent session id; it can move to another server."""

    def __init__(self, origin: str, session_id: str) -> None:
        self.origin = origin
        self.session_id = session_id
        self.received: list[str] = []
        self.client: socketio.Client | None = None

    def connect(self, rasa_url: str) -> None:
        client = socketio.Client(reconnection=False)
        confirmed = threading.Event()
        client.on("bot_uttered", lambda data: self.received.append(str(data.get("text"))))
        client.on("session_confirm", lambda _data: confirmed.set())
        client.connect(rasa_url, headers={"Origin": self.origin}, transports=["polling"],
                       socketio_path="socket.io", wait_timeout=30)
        client.emit("session_request", {"session_id": self.session_id})
        assert confirmed.wait(30), "no session_confirm"
        self.client = client

    def disconnect(self) -> None:
        if self.client is not None:
            self.client.disconnect()
            self.client = None

    def say(self, text: str) -> None:
        assert self.client is not None
        self.client.emit("user_uttered", {"message": text, "session_id": self.session_id})

    def wait_for(self, text: str, timeout: float = 60) -> None:
        wait_for(lambda: text in self.received, timeout, f"the widget to show {text!r}")


@dataclass
class Console:
    """The staff console's JSON API, signed in."""

    base: str
    http: requests.Session
    csrf: str

    @classmethod
    def sign_in(cls, base: str) -> Console:
        http = requests.Session()
        reply = http.post(f"{base}/staff/api/login", timeout=30,
                          json={"username": "admin", "password": STAFF_PASSWORD})
        assert reply.status_code == 200, reply.text
        return cls(base=base, http=http, csrf=reply.json()["csrf_token"])

    def post(self, path: str, body: dict[str, Any] | None = None) -> requests.Response:
        return self.http.post(self.base + path, json=body or {}, timeout=60,
                              headers={"X-CSRF-Token": self.csrf})

    def chat(self, sender: str) -> dict[str, Any] | None:
        reply = self.http.get(f"{self.base}/staff/api/live", timeout=60)
        assert reply.status_code == 200, reply.text
        return next((c for c in reply.json()["chats"] if c["sender_id"] == sender), None)

    def patient_lines(self, sender: str) -> list[str]:
        chat = self.chat(sender)
        return [m["text"] for m in (chat or {}).get("messages", []) if m["kind"] == "user"]


def rasa_tracker(stack: Stack, sender: str) -> dict[str, Any]:
    return rasa_api.get_tracker(sender, base_url=stack.rasa_url, token=stack.api_token)


def test_a_live_chat_across_servers_survives_a_restart_of_each_process(
        cluster: Cluster, domain: dict[str, Any]) -> None:
    """The widget is connected to server A; the console appends staff lines through server B's
    API; the sockets are shared through Redis (channels/socketio.py), so they reach the widget.
    Then each process restarts mid-chat and the chat goes on: the console (sessions in the
    database), Rasa server A (the patient reconnects, to B), the action server, the delivery
    worker (a second patient's wait still runs out into the leave-a-message flow)."""
    a, b = cluster.servers
    console = Console.sign_in(cluster.console_url)
    assert console.post("/staff/api/live/presence", {"available": True}).status_code == 200
    patient = SocketPatient(cluster.console_url, f"scale-live-{os.urandom(4).hex()}")
    sender = patient.session_id
    try:
        patient.connect(a.rasa_url)
        patient.say("i want to talk to a real person")
        patient.wait_for(render(domain, "utter_live_waiting", minutes=2))
        assert wait_for(lambda: console.chat(sender), what="the chat in the console"
                        )["status"] == "waiting"

        # accepted and answered through B; delivered by A, where the widget is
        assert console.post(f"/staff/api/live/{sender}/accept").status_code == 200
        patient.wait_for(patient_line("joined", "en", "admin"))
        assert console.post(f"/staff/api/live/{sender}/messages",
                            {"text": "Hello, how can I help?"}).status_code == 200
        patient.wait_for(patient_line("reply", "en", "admin", "Hello, how can I help?"))
        shown = len(patient.received)
        patient.say("can i move my appointment to friday?")
        wait_for(lambda: "can i move my appointment to friday?" in console.patient_lines(sender),
                 what="the patient's message in the console")

        # the console restarts: the staff member's session and the chat are still there
        cluster.restart("web server")
        assert console.post(f"/staff/api/live/{sender}/messages",
                            {"text": "Friday works, let me check the time."}).status_code == 200
        patient.wait_for(patient_line("reply", "en", "admin",
                                      "Friday works, let me check the time."))
        assert len(patient.received) == shown + 1  # the staff line only: no bot reply

        # server A (the patient's) restarts: the widget reconnects, here to B, and goes on;
        # A loads its model meanwhile
        restarting = ThreadPoolExecutor(1)
        a_back = restarting.submit(cluster.restart, "rasa a")
        wait_for(lambda: not patient.client or not patient.client.connected, 30,
                 "the widget to lose server A")
        patient.disconnect()
        patient.connect(b.rasa_url)
        assert rasa_tracker(b, sender)["paused"] is True
        patient.say("are you still there?")
        wait_for(lambda: "are you still there?" in console.patient_lines(sender),
                 what="the message after the restart in the console")
        assert console.post(f"/staff/api/live/{sender}/messages",
                            {"text": "Yes, 2 pm on Friday is yours."}).status_code == 200
        patient.wait_for(patient_line("reply", "en", "admin", "Yes, 2 pm on Friday is yours."))

        # the action server restarts too, and the delivery worker while a second patient waits
        cluster.restart("action server")
        other = f"scale-live-wait-{os.urandom(4).hex()}"
        assert cluster.send(1, other, "can i speak to a human please")[-1] == render(
            domain, "utter_live_waiting", minutes=2)
        cluster.processes["delivery worker"].stop()
        table = live_store.live_chats_table
        with get_engine(cluster.database_url).begin() as conn:
            conn.execute(update(table).where(table.c.open_key == other)
                         .values(wait_until=utcnow() - timedelta(seconds=1)))
        cluster.processes["delivery worker"].start()

        def handed_back() -> bool:
            state = rasa_tracker(b, other)
            texts = [e.get("text") for e in state["events"] if e["event"] == "bot"]
            return not state["paused"] and texts[-2:] == [
                render(domain, "utter_live_unavailable"), render(domain, "utter_ask_patient_name")]

        wait_for(handed_back, 60, "the worker to hand the second wait back")
        assert cluster.send(1, other, "Maria Lopez") == [render(domain,
                                                                "utter_ask_patient_contact")]

        # handed back to the assistant; the patient returns to the restarted server A
        a_back.result(timeout=300)
        restarting.shutdown()
        assert console.post(f"/staff/api/live/{sender}/release").status_code == 200
        patient.wait_for(patient_line("released", "en", "admin"))
        patient.disconnect()
        patient.connect(a.rasa_url)
        patient.say("what are your opening hours?")
        patient.wait_for(render(domain, "utter_faq/opening_hours"))
        assert rasa_tracker(a, sender)["paused"] is False
        assert console.chat(sender) is None
        staff_lines = [e for e in rasa_tracker(a, sender)["events"]
                       if e["event"] == "bot" and (e.get("metadata") or {}).get("live")]
        assert [e["metadata"]["staff"] for e in staff_lines] == ["admin"] * 5
    finally:
        patient.disconnect()
        console.post("/staff/api/live/presence", {"available": False})
        live_store.mark_absent(get_engine(cluster.database_url), "admin")
