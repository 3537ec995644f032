"""Parts of the assistant fail while patients talk to it; nothing confirmed is lost or doubled.

Real processes, started by this module on free loopback ports with their own temp directories
(not the session fixture, because these tests stop parts of it): a throwaway PostgreSQL for the
conversations (``TRACKER_DATABASE_URL``) and the requests (``DATABASE_URL``), the action server
(its own ``Stack``, so it can be killed and started again), the Rasa server and the delivery
worker, a real SMTP server that can refuse or hold mail, and a booking webhook receiver that can
answer too late. Every booking goes out by e-mail *and* webhook.

* the action server killed in the middle of a booking: the patient gets an apology, not
  silence; once it is back the booking completes and is stored and delivered once;
* PostgreSQL stopped while patients confirm and started again: their messages wait for it and
  get the right answer; every stored request is delivered once; conversations go on;
* the requests database refusing connections: after the action's three tries the patient is
  told to call the clinic (with the number); nothing half-stored;
* PostgreSQL stopped while a delivery is being sent: it is recorded once the database is back,
  not sent twice;
* the mail server answering 451 then 550, then accepting: one e-mail;
* the webhook answering after its timeout twice: three calls with the same reference and body,
  one booking at a receiver that deduplicates by ``Idempotency-Key`` (its duty, see the README),
  and the delivery recorded as delivered.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import hashlib
import hmac
import json
import logging
import os
import re
import signal
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import psycopg2
import pytest
import requests
import yaml
from aiosmtpd.controller import Controller

from actions.storage import get_engine, list_requests
from channels.limits import no_reply_text
from scripts.serve import DEFAULT_MODEL, Stack, StackConfig, free_port, start_together
from tests.conftest import render
from tests.services import PostgresServer, ServiceMissingError

logger = logging.getLogger(__name__)

REFERENCE_RE = re.compile(r"\bPMR-[A-Z2-9]{6}\b")
WEBHOOK_SECRET = "fault-test-webhook-secret"
WEBHOOK_TIMEOUT_SECONDS = 2
QUIET_SECONDS = 2.0  # a duplicate delivery, if any, would come within a few 0.2 s polls

T = TypeVar("T")

# The model the servers load (RASA_MODEL, as for `make run`): a copy keeps a run independent of a
# training that rewrites models/ meanwhile.
MODEL = Path(os.environ.get("RASA_MODEL") or DEFAULT_MODEL)


def wait_for(condition: Callable[[], T], timeout: float = 60.0, what: str = "a condition") -> T:
    """Poll until ``condition()`` is truthy; fail after ``timeout`` (a bound, not a measure)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")


class _FlakyHandler:
    """aiosmtpd handler: refuses the next messages with the queued codes, may hold one."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.refusals: list[str] = []  # e.g. "451 4.3.0 Try again later", popped per message
        self.refused: list[EmailMessage] = []
        self.accepted: list[EmailMessage] = []
        self.gate = threading.Event()  # cleared: a message waits at DATA until it is set
        self.gate.set()
        self.waiting = threading.Event()  # set while a message waits at the gate

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        if not self.gate.is_set():
            self.waiting.set()
            while not self.gate.is_set():
                await asyncio.sleep(0.05)
            self.waiting.clear()
        with self.lock:
            if self.refusals:
                code = self.refusals.pop(0)
                self.refused.append(message)
                return code
            self.accepted.append(message)
        return "250 Message accepted for delivery"


class FlakySmtp:
    """A real SMTP server on loopback that can refuse (4xx/5xx) or hold messages."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.handler = _FlakyHandler()
        self._controller = Controller(self.handler, hostname="127.0.0.1", port=port)

    def refuse_next(self, *codes: str) -> None:
        with self.handler.lock:
            self.handler.refusals.extend(codes)

    def accepted_for(self, reference: str) -> list[EmailMessage]:
        return [m for m in list(self.handler.accepted) if reference in str(m["Subject"])]

    def refused_for(self, reference: str) -> list[EmailMessage]:
        return [m for m in list(self.handler.refused) if reference in str(m["Subject"])]

    def start(self) -> FlakySmtp:
        self._controller.start()
        return self

    def stop(self) -> None:
        self.handler.gate.set()
        self._controller.stop()


@dataclass
class Received:
    """One webhook call as the receiver saw it."""

    reference: str
    idempotency_key: str
    body: bytes
    signature_ok: bool
    answered_late: bool


@dataclass
class WebhookState:
    secret: str
    slow_next: int = 0  # this many calls are answered after `slow_seconds`
    slow_seconds: float = 4.0
    received: list[Received] = field(default_factory=list)
    # What a well-behaved receiver keeps: one booking per reference (Idempotency-Key).
    bookings: dict[str, dict[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class SlowWebhook:
    """The practice-management system's booking webhook, on loopback, sometimes too slow.

    Like a real receiver it records the booking *before* answering, so a call the sender gave up
    on (timeout) was still processed: the retry that follows is a duplicate, and the receiver
    must deduplicate by the ``Idempotency-Key`` header (the request reference). It does, in
    ``bookings``; ``received`` keeps every call.
    """

    def __init__(self, port: int, secret: str) -> None:
        self.port = port
        self.state = WebhookState(secret=secret)
        state = self.state

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                timestamp = self.headers.get("X-Clinic-Timestamp", "")
                expected = "sha256=" + hmac.new(state.secret.encode(),
                                                timestamp.encode() + b"." + body,
                                                hashlib.sha256).hexdigest()
                signature_ok = hmac.compare_digest(
                    self.headers.get("X-Clinic-Signature", ""), expected)
                payload = json.loads(body)
                key = self.headers.get("Idempotency-Key", "")
                with state.lock:
                    late = state.slow_next > 0
                    if late:
                        state.slow_next -= 1
                    state.received.append(Received(payload["reference"], key, body,
                                                   signature_ok, late))
                    if signature_ok:
                        state.bookings.setdefault(key, payload)  # deduplicated by reference
                if late:
                    time.sleep(state.slow_seconds)
                self.send_response(200 if signature_ok else 401)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                logger.debug("webhook: " + format, *args)

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bookings"

    def received_for(self, reference: str) -> list[Received]:
        with self.state.lock:
            return [r for r in self.state.received if r.reference == reference]

    def start(self) -> SlowWebhook:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def model_domain(model: Path = MODEL) -> dict[str, Any]:
    """The domain stored inside a trained model."""
    with tarfile.open(model) as archive:
        for member in archive.getmembers():
            if member.name.lstrip("/") == "components/domain_provider/domain.yml":
                handle = archive.extractfile(member)
                assert handle is not None
                return yaml.safe_load(handle)
    raise AssertionError(f"no domain in {model}")


@dataclass
class Rig:
    """The running parts and handles on everything a test breaks or inspects."""

    actions: Stack  # the action server alone: killed and started again
    assistant: Stack  # the Rasa server and the delivery worker
    pg: PostgresServer
    smtp: FlakySmtp
    webhook: SlowWebhook
    database_url: str
    tracker_database_url: str
    log_dir: Path

    def post(self, sender: str, message: str, timeout: float = 120) -> requests.Response:
        return requests.post(f"{self.assistant.rasa_url}/webhooks/rest/webhook",
                             json={"sender": sender, "message": message}, timeout=timeout)

    def texts(self, sender: str, message: str) -> list[str]:
        reply = self.post(sender, message)
        assert reply.status_code == 200, (reply.status_code, reply.text)
        return [m["text"] for m in reply.json() if "text" in m]

    def log(self, service: str) -> str:
        path = self.log_dir / f"{service.replace(' ', '-')}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def requests_of(self, sender: str) -> list[dict[str, Any]]:
        return [r for r in list_requests(get_engine(self.database_url))
                if r["sender_id"] == sender]

    def request(self, reference: str) -> dict[str, Any]:
        [row] = [r for r in list_requests(get_engine(self.database_url))
                 if r["reference"] == reference]
        return row

    def all_delivered(self) -> bool:
        return all(d["status"] == "delivered"
                   for r in list_requests(get_engine(self.database_url))
                   for d in r["deliveries"])


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    if not MODEL.exists():
        pytest.fail(f"no trained model at {MODEL}: run `make train` (make e2e does)")
    try:
        pg = PostgresServer()
    except ServiceMissingError as exc:
        pytest.fail(str(exc))
    base = tmp_path_factory.mktemp("faults")
    with ExitStack() as cleanup:
        cleanup.enter_context(pg)
        tracker_database_url = pg.create_database("conversations")
        database_url = pg.create_database("clinic")
        smtp = FlakySmtp(free_port()).start()
        cleanup.callback(smtp.stop)
        webhook = SlowWebhook(free_port(), WEBHOOK_SECRET).start()
        cleanup.callback(webhook.stop)
        env = {
            "TRACKER_DATABASE_URL": tracker_database_url,
            "DATABASE_URL": database_url,
            "OUTBOX_DIR": str(base / "outbox"),
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(smtp.port),
            "SMTP_TIMEOUT": "30",
            "BOOKING_WEBHOOK_URL": webhook.url,
            "BOOKING_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "BOOKING_WEBHOOK_TIMEOUT": str(WEBHOOK_TIMEOUT_SECONDS),
            "DELIVERY_RETRY_SECONDS": "1",
            "DELIVERY_RETRY_MAX_SECONDS": "2",
            "DELIVERY_POLL_MS": "200",
        }
        log_dir = base / "logs"
        action_port = free_port()
        actions = Stack(StackConfig(action_port=action_port, log_dir=log_dir, extra_env=env,
                                    model=MODEL, only=("action server",)))
        cleanup.callback(actions.stop)
        assistant = Stack(StackConfig(rasa_port=free_port(), action_port=action_port,
                                      log_dir=log_dir, extra_env=env, model=MODEL,
                                      only=("rasa server", "delivery worker")))
        cleanup.callback(assistant.stop)
        start_together([actions, assistant])
        yield Rig(actions=actions, assistant=assistant, pg=pg, smtp=smtp, webhook=webhook,
                  database_url=database_url, tracker_database_url=tracker_database_url,
                  log_dir=log_dir)


@pytest.fixture(scope="module")
def domain() -> dict[str, Any]:
    """The responses of the model that answers (``domain.yml`` may be newer than the model)."""
    return model_domain()


@pytest.fixture()
def sender(rig: Rig) -> str:
    """A new conversation, opened like the widget opens it; no delivery left from a test before."""
    wait_for(rig.all_delivered, what="deliveries of earlier tests")
    name = f"fault-{os.urandom(6).hex()}"
    assert len(rig.texts(name, "/session_start")) == 2  # privacy notice and disclaimer
    return name


def kill_action_server(rig: Rig) -> None:
    """SIGKILL to the action server's process group, like a crash; reaped, nothing restarts."""
    [service] = rig.actions.services
    assert service.process is not None and service.process.poll() is None
    os.killpg(service.process.pid, signal.SIGKILL)
    rig.actions.stop()


def fill_form(rig: Rig, sender: str, domain: dict[str, Any],
              until: str | None = None) -> None:
    """Answer the booking form up to the read-back (or up to, not including, ``until``)."""
    turns = [
        ("I'd like to book an appointment",
         [render(domain, "utter_booking_start"), render(domain, "utter_ask_patient_name")]),
        ("Maria Lopez", [render(domain, "utter_ask_patient_contact")]),
        ("212 555 0123", [render(domain, "utter_ask_preferred_time")]),
        ("next tuesday afternoon", [render(domain, "utter_ask_visit_reason")]),
        ("migraines twice a week", [render(domain, "utter_ask_patient_status")]),
        ("I'm a new patient", None),
    ]
    for message, expected in turns:
        if message == until:
            return
        replies = rig.texts(sender, message)
        if expected is None:
            [summary] = replies
            assert "Name: Maria Lopez" in summary and "Patient: new patient" in summary
        else:
            assert replies == expected, (message, replies)


def submitted(rig: Rig, domain: dict[str, Any], replies: list[str]) -> str:
    """The reference in a 'request submitted' reply (which must be exactly that reply)."""
    [done] = replies
    match = REFERENCE_RE.search(done)
    assert match, replies
    assert done == render(domain, "utter_booking_submitted", name="Maria Lopez",
                          reference=match.group(0))
    return match.group(0)


def assert_delivered_once(rig: Rig, reference: str) -> dict[str, Any]:
    """E-mail and webhook both delivered; one e-mail, one booking at the receiver."""
    def delivered() -> bool:
        return all(d["status"] == "delivered" for d in rig.request(reference)["deliveries"])

    wait_for(delivered, what=f"delivery of {reference}")
    time.sleep(QUIET_SECONDS)  # room for a duplicate to show up
    assert len(rig.smtp.accepted_for(reference)) == 1
    calls = rig.webhook.received_for(reference)
    assert calls and {c.idempotency_key for c in calls} == {reference}
    assert len({c.body for c in calls}) == 1  # a retry sends the very same booking
    assert all(c.signature_ok for c in calls)
    assert rig.webhook.state.bookings[reference]["reference"] == reference
    row = rig.request(reference)
    assert sorted(d["target"] for d in row["deliveries"]) == ["email", "webhook"]
    assert all(d["status"] == "delivered" for d in row["deliveries"])
    return row


def test_action_server_down_mid_booking_patient_gets_an_apology_then_books_once(
        rig: Rig, sender: str, domain: dict[str, Any]) -> None:
    fill_form(rig, sender, domain, until="212 555 0123")
    kill_action_server(rig)
    # The form's validation runs in the action server: Rasa logs the failure and would answer
    # nothing; the channel answers with an apology instead (the patient's words are not lost:
    # the form asks again).
    assert rig.texts(sender, "212 555 0123") == [no_reply_text()]
    assert "Couldn't connect to the server" in rig.log("rasa server")
    rig.actions.start()
    assert rig.texts(sender, "212 555 0123") == [render(domain, "utter_ask_preferred_time")]
    assert rig.texts(sender, "next tuesday afternoon") == [
        render(domain, "utter_ask_visit_reason")]
    assert rig.texts(sender, "migraines twice a week") == [
        render(domain, "utter_ask_patient_status")]
    assert len(rig.texts(sender, "I'm a new patient")) == 1  # the read-back

    kill_action_server(rig)  # down again exactly when the patient confirms
    assert rig.texts(sender, "yes") == [no_reply_text()]
    assert rig.requests_of(sender) == []  # nothing stored without the patient knowing
    rig.actions.start()
    reference = submitted(rig, domain, rig.texts(sender, "yes"))
    assert [r["reference"] for r in rig.requests_of(sender)] == [reference]
    assert_delivered_once(rig, reference)
    assert rig.texts(sender, "yes") == [render(domain, "utter_affirm_ack")]
    assert len(rig.requests_of(sender)) == 1


def test_postgres_restart_while_patients_confirm(rig: Rig, domain: dict[str, Any]) -> None:
    senders = [f"fault-pg-{i}-{os.urandom(4).hex()}" for i in range(3)]
    for name in senders:
        assert len(rig.texts(name, "/session_start")) == 2
        fill_form(rig, name, domain)
    first = submitted(rig, domain, rig.texts(senders[0], "yes"))

    waits_before = rig.log("rasa server").count("Conversation database unreachable")
    rig.pg.stop()
    replies: dict[str, requests.Response] = {}

    def confirm(name: str) -> None:
        replies[name] = rig.post(name, "yes")

    threads = [threading.Thread(target=confirm, args=(name,)) for name in senders[1:]]
    for thread in threads:
        thread.start()
    try:
        # both confirmations have reached Rasa and are waiting for the database
        wait_for(lambda: rig.log("rasa server").count("Conversation database unreachable")
                 >= waits_before + 2, timeout=30, what="Rasa waiting for the database")
    finally:
        rig.pg.start()
        for thread in threads:
            thread.join(timeout=120)
    references = [first]
    for name in senders[1:]:
        reply = replies[name]
        assert reply.status_code == 200, reply.text
        # answered from the stored conversation (no second privacy notice, the form was there)
        references.append(submitted(rig, domain, [m["text"] for m in reply.json()]))

    for name, reference in zip(senders, references, strict=True):
        assert [r["reference"] for r in rig.requests_of(name)] == [reference]
        assert_delivered_once(rig, reference)
        assert rig.texts(name, "what are your opening hours?") == [
            render(domain, "utter_faq/opening_hours")]


def test_requests_database_refusing_connections_patient_is_told_to_call(
        rig: Rig, sender: str, domain: dict[str, Any]) -> None:
    fill_form(rig, sender, domain)
    admin = psycopg2.connect(rig.pg.url("postgres"), connect_timeout=10)
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute("ALTER DATABASE clinic ALLOW_CONNECTIONS false")
            cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE datname = 'clinic' AND pid <> pg_backend_pid()")
        # the action tries three times, then apologises with the clinic's phone and hours
        assert rig.texts(sender, "yes") == [render(domain, "utter_booking_store_failed")]
    finally:
        with admin.cursor() as cursor:
            cursor.execute("ALTER DATABASE clinic ALLOW_CONNECTIONS true")
        admin.close()
    assert rig.requests_of(sender) == []
    assert rig.texts(sender, "what are your opening hours?") == [
        render(domain, "utter_faq/opening_hours")]
    assert rig.texts(sender, "I'd like to book an appointment") == [
        render(domain, "utter_booking_start"), render(domain, "utter_ask_patient_name")]


def test_postgres_restart_while_a_delivery_is_being_sent(
        rig: Rig, sender: str, domain: dict[str, Any]) -> None:
    gate = rig.smtp.handler
    gate.gate.clear()  # the next e-mail waits at the mail server
    try:
        fill_form(rig, sender, domain)
        reference = submitted(rig, domain, rig.texts(sender, "yes"))
        wait_for(gate.waiting.is_set, what="the e-mail to reach the mail server")
        rig.pg.stop()
    finally:
        gate.gate.set()  # the mail server accepts it while the database is down
    try:
        wait_for(lambda: rig.smtp.accepted_for(reference), what="the e-mail to be accepted")
        wait_for(lambda: "could not record it yet" in rig.log("delivery worker"),
                 what="the worker retrying to record the delivery")
    finally:
        rig.pg.start()
    row = assert_delivered_once(rig, reference)
    mail = next(d for d in row["deliveries"] if d["target"] == "email")
    assert mail["attempts"] == 1  # sent once, recorded late


def test_mail_server_refusing_then_accepting_delivers_once(
        rig: Rig, sender: str, domain: dict[str, Any]) -> None:
    rig.smtp.refuse_next("451 4.3.0 Mailbox busy, try again later",
                         "550 5.7.1 Refused for now")
    fill_form(rig, sender, domain)
    reference = submitted(rig, domain, rig.texts(sender, "yes"))
    row = assert_delivered_once(rig, reference)
    assert len(rig.smtp.refused_for(reference)) == 2
    mail = next(d for d in row["deliveries"] if d["target"] == "email")
    assert (mail["attempts"], mail["last_error"]) == (3, None)


def test_webhook_timing_out_is_retried_and_deduplicated_by_reference(
        rig: Rig, sender: str, domain: dict[str, Any]) -> None:
    rig.webhook.state.slow_next = 2  # the next two calls are answered after the timeout
    rig.webhook.state.slow_seconds = WEBHOOK_TIMEOUT_SECONDS + 2
    fill_form(rig, sender, domain)
    reference = submitted(rig, domain, rig.texts(sender, "yes"))
    row = assert_delivered_once(rig, reference)
    calls = rig.webhook.received_for(reference)
    # The receiver processed all three calls (two answered too late): every one carries the
    # same reference as Idempotency-Key and the same body, so it keeps one booking.
    assert [c.answered_late for c in calls] == [True, True, False]
    assert list(rig.webhook.state.bookings).count(reference) == 1
    hook = next(d for d in row["deliveries"] if d["target"] == "webhook")
    assert (hook["status"], hook["attempts"]) == ("delivered", 3)
    assert "Timeout" in rig.log("delivery worker")
