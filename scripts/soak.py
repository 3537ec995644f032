"""``make soak``: mixed traffic for a fixed time at moderate concurrency, minute by minute.

Starts the assistant as ``make run`` does (on free loopback ports with temporary databases, like
``make bench``), then for ``--minutes`` (20) keeps ``--concurrency`` (4) virtual users sending the
benchmark's conversation mix (FAQ, small talk, whole bookings; each conversation its own sender,
one message in flight per sender). Every minute it records the latency percentiles, errors and
the resident memory of every process. It checks that there were no errors, that memory is flat
(growth over the second half) and that p95 in the last minute is close to the first minute's,
and that every booking sent in full was stored and delivered once.

Writes ``results/bench/soak.json`` and the block between ``<!-- soak -->`` and ``<!-- /soak -->``
in ``docs/benchmarks.md`` (``make bench`` keeps that block). Exit code 1 when a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from scripts.bench import REST_PATH, check_bookings, clinic_stack, machine_info, rss_snapshot
from scripts.bench_load import MIX, Conversation, conversation, load_average, post_message
from scripts.bench_stats import (
    OK,
    SOAK_END,
    SOAK_START,
    Sample,
    markdown_table,
    percentile,
    text_table,
)
from scripts.serve import DEFAULT_MODEL, PROJECT_ROOT

logger = logging.getLogger("soak")

PAGE = PROJECT_ROOT / "docs" / "benchmarks.md"
JSON_OUT = PROJECT_ROOT / "results" / "bench" / "soak.json"
PREFIX = "soak"
MIB = 1024 * 1024


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--page", type=Path, default=PAGE)
    parser.add_argument("--json", type=Path, default=JSON_OUT)
    parser.add_argument("--max-p95-ratio", type=float, default=1.5,
                        help="last minute's p95 may be at most this times the first minute's")
    parser.add_argument("--max-growth-mib", type=float, default=50.0,
                        help="largest RSS growth of any process over the second half")
    return parser.parse_args(argv)


async def traffic(url: str, minutes: float, concurrency: int, seed: int, timeout: float,
                  stack: Any) -> tuple[list[Sample], list[Conversation], list[dict[str, Any]]]:
    """Send the mix until the time is up; sample memory once a minute."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible mix, not a secret
    kinds = [k for k, _ in MIX]
    weights = [w for _, w in MIX]
    samples: list[Sample] = []
    sent: list[Conversation] = []
    memory: list[dict[str, Any]] = []
    start = time.perf_counter()
    deadline = start + minutes * 60

    def next_conversation() -> Conversation:
        kind = rng.choices(kinds, weights)[0]
        item = Conversation(f"{PREFIX}-{len(sent):06d}", kind, conversation(kind, rng))
        sent.append(item)
        return item

    async def virtual_user(session: aiohttp.ClientSession) -> None:
        while time.perf_counter() < deadline:
            item = next_conversation()
            for message in item.messages:
                began = time.perf_counter() - start
                outcome, latency = await post_message(session, url, item.sender, message)
                samples.append(Sample(began, latency, outcome, item.kind))

    async def sample_memory() -> None:
        minute = 0
        while True:
            rss = await asyncio.to_thread(rss_snapshot, stack)
            memory.append({"minute": minute, "rss_mib": {k: round(v / MIB, 1)
                                                         for k, v in rss.items()}})
            logger.info("minute %d: %d messages so far, RSS %s", minute, len(samples),
                        {k: f"{v / MIB:.0f} MiB" for k, v in rss.items()})
            if time.perf_counter() >= deadline:
                return
            minute += 1
            await asyncio.sleep(max(0.0, start + minute * 60 - time.perf_counter()))

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=timeout)) as session:
        await asyncio.gather(sample_memory(),
                             *(virtual_user(session) for _ in range(concurrency)))
    return samples, sent, memory


def per_minute(samples: list[Sample], minutes: float) -> list[dict[str, Any]]:
    rows = []
    for minute in range(int(round(minutes))):
        window = [s for s in samples if minute * 60 <= s.started < (minute + 1) * 60]
        ok = [s.latency * 1000 for s in window if s.outcome == OK]
        rows.append({
            "minute": minute + 1,
            "requests": len(window),
            "errors": sum(1 for s in window if s.outcome != OK),
            "msg_s": round(len(window) / 60.0, 1),
            "p50_ms": round(percentile(ok, 50), 1) if ok else None,
            "p95_ms": round(percentile(ok, 95), 1) if ok else None,
            "p99_ms": round(percentile(ok, 99), 1) if ok else None,
        })
    return rows


def evaluate(result: dict[str, Any], args: argparse.Namespace) -> list[dict[str, Any]]:
    minutes = result["minutes"]
    memory = result["memory"]
    first, last = minutes[0]["p95_ms"], minutes[-1]["p95_ms"]
    ratio = round(last / first, 2) if first and last else None
    half = memory[len(memory) // 2]["rss_mib"]
    end = memory[-1]["rss_mib"]
    growth = {name: round(end[name] - half.get(name, end[name]), 1) for name in end}
    bookings = result["bookings"]
    return [
        {"check": "errors (non-200, timeouts, empty replies)", "measured": result["errors"],
         "limit": "0", "ok": result["errors"] == 0},
        {"check": "p95 last minute / first minute", "measured": f"{last} / {first} ms = {ratio}x",
         "limit": f"<= {args.max_p95_ratio}x",
         "ok": ratio is not None and ratio <= args.max_p95_ratio},
        {"check": "RSS growth over the second half, largest process",
         "measured": f"{max(growth.values()):+.1f} MiB ({max(growth, key=growth.get)})",
         "limit": f"<= {args.max_growth_mib:.0f} MiB",
         "ok": max(growth.values()) <= args.max_growth_mib},
        {"check": "bookings stored / delivered (sent in full)",
         "measured": f"{bookings['stored']} / {bookings['delivered']} "
                     f"({bookings['booking_conversations']})",
         "limit": "all, once",
         "ok": bookings["stored"] == bookings["delivered"] == bookings["booking_conversations"]},
    ]


def markdown(result: dict[str, Any]) -> str:
    minutes = result["minutes"]
    memory = {m["minute"]: m["rss_mib"] for m in result["memory"]}
    processes = list(result["memory"][-1]["rss_mib"])
    rows = []
    for row in minutes:
        rss = memory.get(row["minute"], {})
        rows.append([row["minute"], row["requests"], row["msg_s"], row["p50_ms"], row["p95_ms"],
                     row["p99_ms"], row["errors"], *[rss.get(p) for p in processes]])
    checks = [[c["check"], c["measured"], c["limit"], "PASS" if c["ok"] else "FAIL"]
              for c in result["checks"]]
    info = result["machine"]
    return "\n".join([
        SOAK_START,
        "## Soak",
        "",
        f"Written by `make soak` (`scripts/soak.py`) on {result['finished']}: "
        f"{result['args']['minutes']:.0f} minutes of the same conversation mix at concurrency "
        f"{result['args']['concurrency']} against the assistant started as `make run` starts it "
        f"(temporary databases), {info.get('cpu_count')} CPU cores; load average (1, 5, 15 min) "
        f"before {result['load_before']}, after {result['load_after']}. "
        f"{result['requests']} messages in all, {result['conversations']} conversations.",
        "",
        markdown_table(["check", "measured", "limit", "result"], checks),
        "",
        "Minute by minute (latency of the messages sent in that minute; RSS in MiB at its end):",
        "",
        markdown_table(["minute", "messages", "msg/s", "p50 ms", "p95 ms", "p99 ms", "errors",
                        *[f"{p} MiB" for p in processes]], rows),
        SOAK_END,
    ])


def write_page(page: Path, block: str) -> None:
    old = page.read_text(encoding="utf-8") if page.exists() else "# Benchmarks\n"
    begin, end = old.find(SOAK_START), old.find(SOAK_END)
    if begin >= 0 and end > begin:
        new = old[:begin] + block + old[end + len(SOAK_END):]
    else:
        new = old.rstrip("\n") + "\n\n" + block + "\n"
    page.write_text(new, encoding="utf-8")


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    stack, database = clinic_stack(args.model, work)
    load_before = load_average()
    stack.start()
    try:
        logger.info("servers up; %.0f minutes at concurrency %d", args.minutes, args.concurrency)
        samples, sent, memory = asyncio.run(traffic(
            stack.rasa_url + REST_PATH, args.minutes, args.concurrency, args.seed, args.timeout,
            stack))
        bookings = check_bookings(database, PREFIX, sent)
    finally:
        stack.stop()
    result: dict[str, Any] = {
        "finished": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
        "args": {"minutes": args.minutes, "concurrency": args.concurrency, "seed": args.seed},
        "machine": machine_info(),
        "requests": len(samples),
        "conversations": len(sent),
        "errors": sum(1 for s in samples if s.outcome != OK),
        "minutes": per_minute(samples, args.minutes),
        "memory": memory,
        "bookings": bookings,
        "load_before": load_before,
        "load_after": load_average(),
    }
    result["checks"] = evaluate(result, args)
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[soak] %(message)s")
    if not args.model.exists():
        print(f"no trained model at {args.model}: run `make train`", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="clinic-soak-") as tmp:
        result = run(args, Path(tmp))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")
    write_page(args.page, markdown(result))
    print(text_table(["minute", "messages", "p50 ms", "p95 ms", "errors"],
                     [[m["minute"], m["requests"], m["p50_ms"], m["p95_ms"], m["errors"]]
                      for m in result["minutes"]]))
    print(text_table(["check", "measured", "limit", "ok"],
                     [[c["check"], c["measured"], c["limit"], c["ok"]]
                      for c in result["checks"]]))
    return 0 if all(c["ok"] for c in result["checks"]) else 1


if __name__ == "__main__":
    sys.exit(main())
