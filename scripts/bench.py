"""``make bench``: REST latency, throughput, cold start and memory of the clinic assistant,
against Rasa's own ``rasa init`` starter model measured in the same run.

Starts the assistant exactly as ``make run`` does (``scripts.serve.Stack``) on free loopback
ports with temporary databases, outbox and logs, sends a fixed, seeded mix of conversations over
the REST channel, then does the same with a Rasa server serving a freshly trained ``rasa init``
model. Every process it starts is stopped at the end, also on Ctrl-C, SIGTERM or an error.

Writes ``results/bench/bench.json``, ``docs/benchmarks.md`` (keeping its ``<!-- soak -->``
block) and ``docs/images/latency.png``, and prints the tables. ``--quick`` is a ~2-minute smoke
run with small counts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import platform
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

from scripts.bench_load import (
    MIX,
    Conversation,
    build_workload,
    group_rss_bytes,
    load_average,
    one_sender,
    run_load,
)
from scripts.bench_report import text_report, write_markdown, write_plot
from scripts.bench_stats import ratio, summarize
from scripts.serve import DEFAULT_MODEL, PROJECT_ROOT, Stack, StackConfig, free_port, rasa_command

logger = logging.getLogger("bench")

RESULTS_DIR = PROJECT_ROOT / "results" / "bench"
DEFAULT_JSON = RESULTS_DIR / "bench.json"
DEFAULT_PAGE = PROJECT_ROOT / "docs" / "benchmarks.md"
DEFAULT_PLOT = PROJECT_ROOT / "docs" / "images" / "latency.png"
# The baseline model of the last run, reused by --quick / --reuse-baseline (git-ignored).
BASELINE_CACHE = RESULTS_DIR / "default-model.tar.gz"

TARGET_P95_RATIO = 1.5
TARGET_COLD_START_S = 45.0
TARGET_RSS_BYTES = int(1.5 * 1024**3)  # 1.5 GiB

# Defaults of the counts: full run (about 10-15 minutes on 2 cores) and --quick.
FULL = {"messages": 300, "sequential_messages": 150, "warmup": 30, "memory_messages": 5000,
        "memory_interval": 1000, "memory_concurrency": 8}
QUICK = {"messages": 40, "sequential_messages": 15, "warmup": 8, "memory_messages": 200,
         "memory_interval": 100, "memory_concurrency": 8}

REST_PATH = "/webhooks/rest/webhook"


class BenchError(RuntimeError):
    pass


# --- command line ----------------------------------------------------------------------------

def _levels(text: str) -> list[int]:
    try:
        levels = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of numbers: {text}") from None
    if not levels or min(levels) < 1:
        raise argparse.ArgumentTypeError("concurrency levels must be 1 or more")
    return levels


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.bench", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    load = parser.add_argument_group("load (defaults: full run; --quick makes them small)")
    load.add_argument("--quick", action="store_true",
                      help="smoke run (~2 min): small counts, reuse the cached baseline model")
    load.add_argument("--concurrency", type=_levels, default=[1, 8, 32], metavar="N,N,...",
                      help="concurrency levels (default 1,8,32)")
    load.add_argument("--messages", type=int, metavar="N",
                      help=f"messages at each concurrency level (default {FULL['messages']}, "
                           f"quick {QUICK['messages']})")
    load.add_argument("--sequential-messages", type=int, metavar="N",
                      help="messages from one sender, back to back "
                           f"(default {FULL['sequential_messages']}, quick "
                           f"{QUICK['sequential_messages']})")
    load.add_argument("--warmup", type=int, metavar="N",
                      help=f"warm-up messages, not counted (default {FULL['warmup']})")
    load.add_argument("--memory-messages", type=int, metavar="N",
                      help="messages of the clinic's memory soak; 0: none "
                           f"(default {FULL['memory_messages']}, quick {QUICK['memory_messages']})")
    load.add_argument("--memory-interval", type=int, metavar="N",
                      help="messages between memory samples in the soak "
                           f"(default {FULL['memory_interval']}, quick {QUICK['memory_interval']})")
    load.add_argument("--memory-concurrency", type=int, metavar="N",
                      help=f"virtual users in the soak (default {FULL['memory_concurrency']})")
    load.add_argument("--timeout", type=float, default=60.0, metavar="S",
                      help="seconds before a request counts as timed out (default 60)")
    load.add_argument("--seed", type=int, default=42, help="seed of the conversation mix")
    load.add_argument("--startup-timeout", type=float, default=300.0, metavar="S",
                      help="longest wait for the servers to answer after starting (default 300)")

    models = parser.add_argument_group("models")
    models.add_argument("--model", type=Path, default=DEFAULT_MODEL,
                        help="the clinic model (default models/clinic.tar.gz)")
    models.add_argument("--no-baseline", action="store_true",
                        help="skip the rasa init baseline (no comparison)")
    models.add_argument("--baseline-model", type=Path, metavar="PATH",
                        help="use this already trained rasa init model instead of training one")
    models.add_argument("--reuse-baseline", action="store_true",
                        help=f"reuse {BASELINE_CACHE.relative_to(PROJECT_ROOT)} from an earlier "
                             "run when there is one (--quick does)")
    models.add_argument("--train-seconds", type=float, metavar="S",
                        help="the clinic model's training time to report (e.g. from make train)")
    models.add_argument("--measure-training", action="store_true",
                        help="time `rasa train` of --train-config into a temporary directory "
                             "(takes minutes)")
    models.add_argument("--train-config", type=Path, default=PROJECT_ROOT / "config.yml",
                        help="config for --measure-training (default config.yml)")

    out = parser.add_argument_group("output")
    out.add_argument("--json", type=Path, default=DEFAULT_JSON, help="results JSON")
    out.add_argument("--page", type=Path, default=DEFAULT_PAGE, help="generated Markdown page")
    out.add_argument("--plot", type=Path, default=DEFAULT_PLOT, help="latency plot (PNG)")
    out.add_argument("--report-only", action="store_true",
                     help="no run: redraw the page and plot from the JSON")
    out.add_argument("-v", "--verbose", action="store_true", help="debug logging")

    args = parser.parse_args(argv)
    counts = QUICK if args.quick else FULL
    for name, value in counts.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    for name in ("messages", "sequential_messages", "warmup", "memory_messages"):
        if getattr(args, name) < 0:
            parser.error(f"--{name.replace('_', '-')} must be 0 or more")
    if args.memory_interval < 1 or args.memory_concurrency < 1:
        parser.error("--memory-interval and --memory-concurrency must be 1 or more")
    if args.quick:
        args.reuse_baseline = True
    return args


# --- child processes -------------------------------------------------------------------------

def base_env(cache_dir: Path) -> dict[str, str]:
    """Environment of rasa init / rasa train: the Makefile's settings, a private cache."""
    return {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2",
            "TF_DETERMINISTIC_OPS": "1", "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
            "RASA_CACHE_DIRECTORY": str(cache_dir)}


def run_timed(argv: list[str], cwd: Path, env: dict[str, str], log: Path) -> float:
    """Run a command to completion, output to ``log``; return its wall time in seconds.

    It runs in its own process group, which is stopped if we are interrupted.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    logger.info("running %s (log: %s)", " ".join(argv[1:3]), log.name)
    started = time.monotonic()
    with open(log, "ab") as out:
        process = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            code = process.wait()
        except BaseException:
            _stop_group(process)
            raise
    elapsed = time.monotonic() - started
    if code != 0:
        tail = log.read_text(errors="replace").splitlines()[-20:]
        raise BenchError(f"{' '.join(argv[1:3])} failed with code {code}:\n" + "\n".join(tail))
    return elapsed


def _stop_group(process: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def rasa_bin() -> str:
    return str(Path(sys.executable).parent / "rasa")


def train_baseline(work: Path) -> tuple[Path, float]:
    """``rasa init --no-prompt`` in a temporary directory (it also trains); model and seconds."""
    init_dir = work / "default-project"
    init_dir.mkdir()
    seconds = run_timed([rasa_bin(), "init", "--no-prompt", "--init-dir", str(init_dir)],
                        cwd=work, env=base_env(work / "cache-default"),
                        log=work / "logs" / "default-init.log")
    models = sorted((init_dir / "models").glob("*.tar.gz"))
    if not models:
        raise BenchError(f"rasa init trained no model in {init_dir / 'models'}")
    return models[-1], seconds


def measure_training(config: Path, work: Path) -> float:
    """Time ``rasa train`` of the clinic's domain and data with ``config``, from scratch."""
    out = work / "clinic-train"
    return run_timed([*rasa_command(), "train", "--config", str(config), "--domain", "domain.yml",
                      "--data", "data", "--out", str(out), "--fixed-model-name", "bench"],
                     cwd=PROJECT_ROOT, env=base_env(work / "cache-clinic"),
                     log=work / "logs" / "clinic-train.log")


def prepare_baseline(args: argparse.Namespace, work: Path) -> tuple[Path, dict[str, Any]]:
    """The default model to compare with, and how its training time was obtained."""
    if args.baseline_model is not None:
        if not args.baseline_model.exists():
            raise BenchError(f"no model at {args.baseline_model}")
        return args.baseline_model, {"seconds": None, "how": f"given: {args.baseline_model}"}
    sidecar = BASELINE_CACHE.with_suffix("").with_suffix(".json")
    rasa_version = metadata.version("rasa")
    if args.reuse_baseline and BASELINE_CACHE.exists() and sidecar.exists():
        info = json.loads(sidecar.read_text())
        if info.get("rasa") == rasa_version:
            logger.info("reusing the default model trained %s", info.get("trained"))
            return BASELINE_CACHE, {
                "seconds": info.get("seconds"),
                "how": f"rasa init --no-prompt, measured in an earlier run ({info.get('trained')})",
            }
    model, seconds = train_baseline(work)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(model, BASELINE_CACHE)
    sidecar.write_text(json.dumps({"rasa": rasa_version, "seconds": round(seconds, 1),
                                   "trained": _now()}, indent=2))
    return model, {"seconds": round(seconds, 1),
                   "how": "rasa init --no-prompt (scaffold + rasa train, Rasa's default config), "
                          "measured in this run"}


# --- the servers -----------------------------------------------------------------------------

def clinic_stack(model: Path, work: Path) -> tuple[Stack, Path]:
    """Every service of ``make run``, on free ports, with temporary data; and its requests
    database."""
    data = work / "clinic-var"
    data.mkdir()
    web_port = free_port()
    stack = Stack(StackConfig(
        rasa_port=free_port(), action_port=free_port(), web_port=web_port, model=model,
        log_dir=work / "logs" / "clinic",
        extra_env={
            "TRACKER_DATABASE_URL": f"sqlite:///{data / 'conversations.db'}",
            "DATABASE_URL": f"sqlite:///{data / 'clinic.db'}",
            "OUTBOX_DIR": str(data / "outbox"),
            "WEB_ALLOWED_ORIGINS": f"http://127.0.0.1:{web_port},http://localhost:{web_port}",
            "STAFF_SECRET_KEY": secrets.token_urlsafe(48),  # not written to var/
            "LOCK_STORE_URL": "",  # locks in this Rasa server's memory, shared with nobody
            # Nothing leaves the machine: e-mails go to the outbox directory, no webhook, no SMS.
            "SMTP_HOST": "", "BOOKING_WEBHOOK_URL": "", "TWILIO_ACCOUNT_SID": "",
            "TWILIO_AUTH_TOKEN": "", "TWILIO_NUMBER": "", "TWILIO_WEBHOOK_URL": "",
        },
    ))
    return stack, data / "clinic.db"


def default_stack(model: Path, work: Path) -> Stack:
    """A Rasa server alone with the default model and Rasa's default endpoints."""
    server_dir = work / "default-server"
    server_dir.mkdir()
    (server_dir / "credentials.yml").write_text("rest:\n")
    (server_dir / "endpoints.yml").write_text(
        "# Rasa's defaults: in-memory tracker store, no action server.\n")
    return Stack(StackConfig(
        rasa_port=free_port(), action_port=free_port(), web_port=free_port(), model=model,
        log_dir=work / "logs" / "default",
        endpoints=server_dir / "endpoints.yml", credentials=server_dir / "credentials.yml",
        only=("rasa server",), rasa_changes=False,  # Rasa as shipped
        extra_env={"TRACKER_DATABASE_URL": f"sqlite:///{server_dir / 'unused.db'}"},
    ))


def _get_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return reply.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _answered(url: str, sender: str, message: str, timeout: float) -> bool:
    body = json.dumps({"sender": sender, "message": message}).encode()
    request = urllib.request.Request(url, data=body,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return reply.status == 200 and bool(json.loads(reply.read() or b"[]"))
    except (urllib.error.URLError, OSError, ValueError):
        return False


def start_timed(stack: Stack, timeout: float, request_timeout: float) -> dict[str, float]:
    """Start the stack; seconds until the Rasa server answers ``/``, answers a first REST
    message, and until every service answered its health check."""
    found: dict[str, float] = {}
    done = threading.Event()
    started = time.monotonic()
    rest_url = stack.rasa_url + REST_PATH

    def poll() -> None:
        while not done.is_set() and time.monotonic() - started < timeout:
            if "rasa_health_s" not in found:
                if _get_ok(stack.rasa_url + "/"):
                    found["rasa_health_s"] = time.monotonic() - started
                    continue
            elif _answered(rest_url, "bench-cold-start", "hello", request_timeout):
                found["rasa_first_answer_s"] = time.monotonic() - started
                return
            done.wait(0.1)

    poller = threading.Thread(target=poll, name="cold-start", daemon=True)
    poller.start()
    try:
        stack.start(timeout)
        found["stack_ready_s"] = time.monotonic() - started
        poller.join(timeout)
    finally:
        done.set()
    if "rasa_first_answer_s" not in found:
        raise BenchError("the Rasa server did not answer a REST message after starting")
    return {key: round(value, 2) for key, value in sorted(found.items())}


def rss_snapshot(stack: Stack) -> dict[str, int]:
    """Resident bytes of each running service's process group."""
    out: dict[str, int] = {}
    for service in stack.services:
        if service.process is not None and service.process.poll() is None:
            out[service.name], _pids = group_rss_bytes(service.process.pid)
    return out


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Let a stop finish: Ctrl-C / SIGTERM during it only take effect afterwards."""
    received: list[int] = []

    def remember(signum: int, _frame: object) -> None:
        received.append(signum)

    previous = {sig: signal.signal(sig, remember) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if received:
        raise KeyboardInterrupt


def _check_alive(stack: Stack) -> None:
    dead = stack.failed()
    if dead is not None:
        code = dead.process.returncode if dead.process else "?"
        raise BenchError(f"{dead.name} stopped during the benchmark (exit code {code})")


# --- one model -------------------------------------------------------------------------------

def run_phase(stack: Stack, conversations: list[Conversation], concurrency: int,
              timeout: float, label: str) -> dict[str, Any]:
    loads = load_average()
    samples, wall = run_load(stack.rasa_url + REST_PATH, conversations, concurrency, timeout)
    summary = summarize(samples, wall, concurrency)
    summary["conversations"] = len(conversations)
    summary["load_average_before"] = loads
    logger.info("%-24s %4d msgs  %6.1f msg/s  p50 %7.1f  p95 %7.1f  p99 %7.1f ms  errors %d",
                label, summary["requests"], summary["throughput_msg_s"],
                summary["p50_ms"] or 0, summary["p95_ms"] or 0, summary["p99_ms"] or 0,
                summary["error_total"])
    _check_alive(stack)
    return summary


def bench_model(name: str, stack: Stack, args: argparse.Namespace, soak: bool,
                database: Path | None = None) -> dict[str, Any]:
    """Cold start, warm-up, the latency phases and (``soak``) the memory soak of one model.

    With ``database`` (the clinic's requests database), also checks that the booking
    conversations really were stored and delivered.
    """
    sent: list[Conversation] = []  # every conversation with its own sender
    result: dict[str, Any] = {"model": str(stack.config.model), "services":
                              [s.name for s in stack.services]}
    logger.info("== %s: starting %s", name, ", ".join(result["services"]))
    try:
        cold = start_timed(stack, args.startup_timeout, args.timeout)
        result["cold_start"] = cold
        logger.info("%s: Rasa server up after %.1f s, first REST answer after %.1f s, all "
                    "services up after %.1f s", name, cold.get("rasa_health_s", 0),
                    cold["rasa_first_answer_s"], cold["stack_ready_s"])
        peak: dict[str, int] = {}

        def sample() -> dict[str, int]:
            snapshot = rss_snapshot(stack)
            for process, value in snapshot.items():
                peak[process] = max(peak.get(process, 0), value)
            return snapshot

        memory: dict[str, Any] = {"at_start": sample()}
        if args.warmup:
            warmup = build_workload(args.warmup, args.seed + 1, f"bench-{name}-warmup")
            sent += warmup
            run_load(stack.rasa_url + REST_PATH, warmup, min(4, args.warmup), args.timeout)
        memory["after_warmup"] = sample()
        phases: dict[str, Any] = {}
        if args.sequential_messages:
            phases["sequential"] = run_phase(
                stack, one_sender(args.sequential_messages, args.seed, f"bench-{name}-one"),
                1, args.timeout, "one sender")
        for level in args.concurrency:
            if args.messages:
                workload = build_workload(args.messages, args.seed, f"bench-{name}-c{level}")
                sent += workload
                phases[f"c{level}"] = run_phase(stack, workload, level, args.timeout,
                                                f"concurrency {level}")
                if len(workload) < level:
                    logger.warning("concurrency %d: only %d conversations, so fewer virtual "
                                   "users were busy", level, len(workload))
        result["phases"] = phases
        memory["after_load"] = sample()
        if soak and args.memory_messages:
            memory["soak"] = run_soak(name, stack, args, sample, sent)
        memory["peak"] = peak
        result["memory"] = memory
        if database is not None:
            result["bookings"] = check_bookings(database, f"bench-{name}-", sent)
        for process, value in memory["after_load"].items():
            logger.info("%s: %s RSS %.0f MiB after load (%.0f after warm-up)", name, process,
                        value / 2**20, memory["after_warmup"].get(process, 0) / 2**20)
    finally:
        logger.info("%s: stopping", name)
        with signals_deferred():
            stack.stop()
    return result


def run_soak(name: str, stack: Stack, args: argparse.Namespace,
             sample: Callable[[], dict[str, int]],
             conversations: list[Conversation]) -> list[dict[str, Any]]:
    """Send ``--memory-messages`` in chunks of ``--memory-interval``, sampling RSS after each;
    the conversations sent are added to ``conversations``."""
    points = [{"messages": 0, "rss": sample(), "p50_ms": None, "p95_ms": None, "errors": None}]
    sent = 0
    chunk = 0
    while sent < args.memory_messages:
        size = min(args.memory_interval, args.memory_messages - sent)
        workload = build_workload(size, args.seed + 100 + chunk, f"bench-{name}-soak{chunk}")
        conversations += workload
        samples, wall = run_load(stack.rasa_url + REST_PATH, workload,
                                 args.memory_concurrency, args.timeout)
        _check_alive(stack)
        summary = summarize(samples, wall, args.memory_concurrency)
        sent += size
        chunk += 1
        rss = sample()
        points.append({"messages": sent, "rss": rss, "p50_ms": summary["p50_ms"],
                       "p95_ms": summary["p95_ms"], "errors": summary["error_total"],
                       "throughput_msg_s": summary["throughput_msg_s"]})
        logger.info("soak %5d msgs: %s; p95 %.1f ms, errors %d", sent, ", ".join(
            f"{p} {v / 2**20:.0f} MiB" for p, v in rss.items()), summary["p95_ms"] or 0,
            summary["error_total"])
    return points


def check_bookings(database: Path, prefix: str, sent: list[Conversation],
                   wait: float = 15.0) -> dict[str, int]:
    """Booking conversations sent in full, requests stored for them, and delivered so far.

    Waits up to ``wait`` seconds for the delivery worker to catch up.
    """
    expected = sum(1 for c in sent if c.kind == "booking" and len(c.messages) == 7)
    deadline = time.monotonic() + wait
    while True:
        with closing(sqlite3.connect(database)) as db:
            stored = db.execute(
                "SELECT count(*) FROM requests WHERE sender_id LIKE ? AND sender_id != ?",
                (prefix + "%", prefix + "one")).fetchone()[0]
            delivered = db.execute(
                "SELECT count(DISTINCT r.id) FROM requests r JOIN deliveries d "
                "ON d.request_id = r.id WHERE d.status = 'delivered' AND r.sender_id LIKE ? "
                "AND r.sender_id != ?", (prefix + "%", prefix + "one")).fetchone()[0]
        if delivered >= stored or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    logger.info("bookings: %d conversations sent in full, %d requests stored, %d delivered",
                expected, stored, delivered)
    return {"booking_conversations": expected, "stored": stored, "delivered": delivered}


# --- results ---------------------------------------------------------------------------------

def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "rasa": metadata.version("rasa"),
        "rasa_sdk": metadata.version("rasa-sdk"),
        "platform": platform.platform(),
        "load_start": load_average(),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["memory_gib"] = round(int(line.split()[1]) / 2**20, 1)
                break
    except OSError:
        pass
    try:
        info["git_commit"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT, capture_output=True,
            text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return info


def checks(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The targets of issue 8, each with its measured value and pass/fail (None: not measured)."""
    clinic = data["targets"].get("clinic", {})
    default = data["targets"].get("default", {})
    out = []
    p95 = ratio(clinic.get("phases", {}).get("c8", {}).get("p95_ms"),
                default.get("phases", {}).get("c8", {}).get("p95_ms"))
    out.append({"name": "p95 latency at concurrency 8, clinic / default", "value": p95,
                "shown": "-" if p95 is None else f"{p95:.2f}x",
                "limit": f"<= {TARGET_P95_RATIO}x",
                "passed": None if p95 is None else p95 <= TARGET_P95_RATIO})
    cold = clinic.get("cold_start", {}).get("rasa_first_answer_s")
    out.append({"name": "cold start, clinic Rasa server (start to first REST answer)",
                "value": cold, "shown": "-" if cold is None else f"{cold:.1f} s",
                "limit": f"< {TARGET_COLD_START_S:.0f} s",
                "passed": None if cold is None else cold < TARGET_COLD_START_S})
    peak = clinic.get("memory", {}).get("peak", {})
    for process in ("rasa server", "action server"):
        value = peak.get(process)
        out.append({"name": f"peak RSS, clinic {process}", "value": value,
                    "shown": "-" if value is None else f"{value / 2**20:,.0f} MiB",
                    "limit": f"< {TARGET_RSS_BYTES / 2**20:,.0f} MiB",
                    "passed": None if value is None else value < TARGET_RSS_BYTES})
    return out


def notes(data: dict[str, Any]) -> list[str]:
    out = []
    for name, target in data["targets"].items():
        for key, phase in target.get("phases", {}).items():
            label = "one sender" if key == "sequential" else f"concurrency {phase['concurrency']}"
            if phase["error_total"]:
                kinds = ", ".join(f"{n} {k}" for k, n in phase["errors"].items() if n)
                out.append(f"{name}, {label}: {phase['error_total']} of {phase['requests']} "
                           f"requests failed ({kinds}).")
            first, last = phase.get("p50_first_fifth_ms"), phase.get("p50_last_fifth_ms")
            if key == "sequential" and first and last:
                out.append(f"{name}, one sender: median latency {first:.0f} ms over the first "
                           f"fifth of the conversation, {last:.0f} ms over the last fifth.")
            if phase["conversations"] < phase["concurrency"]:
                out.append(f"{name}, {label}: only {phase['conversations']} conversations for "
                           f"{phase['concurrency']} virtual users.")
    bookings = data["targets"].get("clinic", {}).get("bookings")
    if bookings and bookings["stored"] != bookings["booking_conversations"]:
        out.append(f"clinic: {bookings['booking_conversations']} booking conversations were "
                   f"sent in full but {bookings['stored']} requests were stored.")
    if bookings and bookings["delivered"] != bookings["stored"]:
        out.append(f"clinic: {bookings['stored'] - bookings['delivered']} stored requests were "
                   "not delivered by the end of the run.")
    if any(p["errors"]["empty"] for p in data["targets"].get("default", {})
           .get("phases", {}).values()):
        out.append("default: an empty reply is the moodbot having nothing to say (its fallback "
                   "has no response), not a server error.")
    return out


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    started = time.monotonic()
    data: dict[str, Any] = {
        "generated": _now(),
        "machine": machine_info(),
        "options": {
            "quick": args.quick, "concurrency": args.concurrency, "messages": args.messages,
            "sequential_messages": args.sequential_messages, "warmup": args.warmup,
            "memory_messages": args.memory_messages, "memory_interval": args.memory_interval,
            "memory_concurrency": args.memory_concurrency, "timeout": args.timeout,
        },
        "workload": {"seed": args.seed, "mix": [list(m) for m in MIX]},
        "targets": {},
        "training": {},
    }
    if not args.model.exists():
        raise BenchError(f"no trained model at {args.model}: run `make train` first")
    training = data["training"]
    if args.measure_training:
        seconds = measure_training(args.train_config, work)
        training["clinic"] = {"seconds": round(seconds, 1),
                              "how": f"rasa train of {args.train_config.name}, measured in "
                                     "this run (empty cache)"}
    elif args.train_seconds is not None:
        training["clinic"] = {"seconds": args.train_seconds, "how": "given with --train-seconds"}
    else:
        training["clinic"] = {"seconds": None,
                              "how": "not measured (--measure-training or --train-seconds)"}
    baseline = None
    if not args.no_baseline:
        baseline, training["default"] = prepare_baseline(args, work)

    stack, database = clinic_stack(args.model, work)
    data["targets"]["clinic"] = bench_model("clinic", stack, args, soak=True, database=database)
    if baseline is not None:
        data["targets"]["default"] = bench_model("default", default_stack(baseline, work),
                                                 args, soak=False)
    data["machine"]["load_end"] = load_average()
    data["duration_s"] = round(time.monotonic() - started, 1)
    data["checks"] = checks(data)
    data["notes"] = notes(data)
    return data


def write_outputs(data: dict[str, Any], args: argparse.Namespace) -> None:
    write_plot(data, args.plot)
    write_markdown(data, args.page, args.plot)
    logger.info("wrote %s and %s", args.page, args.plot)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="[bench] %(message)s")
    logging.getLogger("serve").setLevel(logging.WARNING)
    if args.report_only:
        data = json.loads(args.json.read_text())
        data["checks"], data["notes"] = checks(data), notes(data)
        write_outputs(data, args)
        print(text_report(data))
        return 0

    def on_sigterm(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)
    # Also when started in the background (which ignores SIGINT): Ctrl-C stops everything.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with tempfile.TemporaryDirectory(prefix="clinic-bench-") as tmp:
        work = Path(tmp)
        try:
            data = run(args, work)
        except KeyboardInterrupt:
            logger.error("interrupted; every process started was stopped")
            return 130
        except Exception as exc:
            kept = RESULTS_DIR / "logs-failed"
            shutil.rmtree(kept, ignore_errors=True)
            if (work / "logs").exists():
                shutil.copytree(work / "logs", kept)
            if isinstance(exc, BenchError | RuntimeError):
                logger.error("%s", exc)
            else:
                logger.exception("benchmark failed")
            logger.error("every process started was stopped; their logs are in %s", kept)
            return 1
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(data, indent=2) + "\n")
    logger.info("wrote %s", args.json)
    write_outputs(data, args)
    print()
    print(text_report(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
