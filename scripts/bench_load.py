"""Load for ``scripts/bench.py``: a seeded conversation mix, a REST client that keeps each
sender's messages in order, and resident memory of a process group read from ``/proc``."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from scripts.bench_stats import CONNECTION, EMPTY, HTTP_ERROR, OK, TIMEOUT, Sample

logger = logging.getLogger("bench")

GREETINGS = ("hi", "hello there", "good morning", "hey")
FAQ_QUESTIONS = (
    "how can acupuncture help my migraines?",
    "what is acupuncture?",
    "what types of headaches are there?",
    "what causes a primary headache?",
    "can a headache be a sign of another illness?",
    "which headaches can acupuncture treat?",
    "is there any evidence that acupuncture works for headaches?",
    "painkillers don't help my headaches anymore, what can I do?",
    "who is Dr. Kuzminov?",
    "do you treat back pain?",
    "does acupuncture hurt?",
    "is acupuncture safe?",
    "how many sessions will I need?",
    "what are your opening hours?",
    "where is the clinic?",
    "how can I contact you?",
)
SMALL_TALK = ("are you a bot?", "what can you do?", "can you help me?")
THANKS = ("thanks!", "thank you very much")
GOODBYES = ("bye", "goodbye, have a nice day")
PATIENT_NAMES = ("Maria Lopez", "John Carter", "Aisha Khan", "Peter Novak")
PHONES = ("212 555 0123", "(212) 555-0188", "212-555-0142")
REASONS = ("migraines twice a week", "tension headaches after work", "lower back pain")

# Share of conversations of each kind. Messages per conversation: faq 3, smalltalk 4, booking 7.
MIX = (("faq", 0.5), ("smalltalk", 0.25), ("booking", 0.25))


@dataclass(frozen=True)
class Conversation:
    sender: str
    kind: str
    messages: tuple[str, ...]


def conversation(kind: str, rng: random.Random) -> tuple[str, ...]:
    """The messages of one conversation of a kind, picked with ``rng``."""
    if kind == "faq":
        first, second = rng.sample(FAQ_QUESTIONS, 2)
        return (rng.choice(GREETINGS), first, second)
    if kind == "smalltalk":
        return (rng.choice(GREETINGS), rng.choice(SMALL_TALK), rng.choice(THANKS),
                rng.choice(GOODBYES))
    if kind == "booking":
        return ("I'd like to book an appointment", rng.choice(PATIENT_NAMES), rng.choice(PHONES),
                "next tuesday afternoon", rng.choice(REASONS), "I'm a new patient", "yes")
    raise ValueError(f"unknown conversation kind {kind!r}")


def build_workload(total_messages: int, seed: int, prefix: str) -> list[Conversation]:
    """Conversations with exactly ``total_messages`` messages in all, the same for a seed.

    Each conversation has its own sender id (``<prefix>-<n>``); the last one is cut short when
    needed to hit the total.
    """
    rng = random.Random(seed)  # noqa: S311 - a reproducible mix, not a secret
    kinds = [k for k, _ in MIX]
    weights = [w for _, w in MIX]
    out: list[Conversation] = []
    left = total_messages
    while left > 0:
        kind = rng.choices(kinds, weights)[0]
        messages = conversation(kind, rng)[:left]
        out.append(Conversation(f"{prefix}-{len(out):05d}", kind, messages))
        left -= len(messages)
    return out


def one_sender(total_messages: int, seed: int, sender: str) -> list[Conversation]:
    """The same mix sent by a single sender, back to back: one long conversation."""
    messages = [m for c in build_workload(total_messages, seed, "x") for m in c.messages]
    return [Conversation(sender, "sequential", tuple(messages))]


async def post_message(session: aiohttp.ClientSession, url: str, sender: str,
                       message: str) -> tuple[str, float]:
    """Send one REST message; return how it ended and its latency in seconds."""
    started = time.perf_counter()
    try:
        async with session.post(url, json={"sender": sender, "message": message}) as reply:
            if reply.status != 200:
                await reply.read()
                logger.debug("HTTP %s for %s: %r", reply.status, sender, message)
                return HTTP_ERROR, time.perf_counter() - started
            body = await reply.json(content_type=None)
            outcome = OK if isinstance(body, list) and body else EMPTY
            return outcome, time.perf_counter() - started
    except asyncio.TimeoutError:
        return TIMEOUT, time.perf_counter() - started
    except (aiohttp.ClientError, ValueError) as exc:  # ValueError: a body that is not JSON
        logger.debug("%s for %s: %r", exc, sender, message)
        return CONNECTION, time.perf_counter() - started


async def _run(
    url: str, conversations: Sequence[Conversation], concurrency: int, timeout: float,
    progress: Callable[[int], None] | None,
) -> tuple[list[Sample], float]:
    queue: asyncio.Queue[Conversation] = asyncio.Queue()
    for item in conversations:
        queue.put_nowait(item)
    samples: list[Sample] = []
    connector = aiohttp.TCPConnector(limit=concurrency)
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    async with aiohttp.ClientSession(connector=connector, timeout=client_timeout) as session:
        phase_start = time.perf_counter()

        async def virtual_user() -> None:
            while True:
                try:
                    item = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                for message in item.messages:  # one after another: never two in flight
                    started = time.perf_counter() - phase_start
                    outcome, latency = await post_message(session, url, item.sender, message)
                    samples.append(Sample(started, latency, outcome, item.kind))
                    if progress is not None:
                        progress(len(samples))

        await asyncio.gather(*(virtual_user() for _ in range(concurrency)))
        wall = time.perf_counter() - phase_start
    return samples, wall


def run_load(url: str, conversations: Sequence[Conversation], concurrency: int,
             timeout: float, progress: Callable[[int], None] | None = None,
             ) -> tuple[list[Sample], float]:
    """Send every conversation with ``concurrency`` virtual users; return samples and wall time.

    Each virtual user takes the next conversation and sends its messages one after another, so
    a sender never has two messages in flight while different senders run concurrently.
    """
    return asyncio.run(_run(url, conversations, concurrency, timeout, progress))


# --- resident memory from /proc ---------------------------------------------------------------

def parse_stat(text: str) -> tuple[int, int]:
    """(parent pid, process group id) from the text of ``/proc/<pid>/stat``.

    The command name (field 2) is in parentheses and may itself contain spaces or ')'.
    """
    rest = text[text.rindex(")") + 2:].split()
    return int(rest[1]), int(rest[2])


def parse_vmrss_kib(text: str) -> int:
    """VmRSS in KiB from the text of ``/proc/<pid>/status`` (0 when absent, e.g. a zombie)."""
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def group_rss_bytes(pgid: int, proc: Path = Path("/proc")) -> tuple[int, list[int]]:
    """Summed resident memory of every process in a process group, and their pids.

    Each service runs in its own process group (``start_new_session``), so this includes any
    child processes it started. Shared pages count once per process (plain RSS).
    """
    total = 0
    pids: list[int] = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            _ppid, group = parse_stat((entry / "stat").read_text())
            if group != pgid:
                continue
            total += 1024 * parse_vmrss_kib((entry / "status").read_text())
        except (OSError, ValueError):
            continue  # the process ended while we looked
        pids.append(int(entry.name))
    return total, sorted(pids)


def load_average() -> list[float]:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return []
