"""Tables, ``docs/benchmarks.md`` and the latency plot from the results of ``scripts/bench.py``.

Everything here works on the JSON-shaped results dict, so ``python -m scripts.bench
--report-only`` can redraw the page from ``results/bench/bench.json`` without a new run.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from scripts.bench_stats import (
    KEPT_BLOCKS,
    fmt,
    growth,
    keep_section,
    markdown_table,
    text_table,
)

logger = logging.getLogger("bench")

MIB = 1024 * 1024
LABELS = {"clinic": "clinic", "default": "default (rasa init)"}
PROCESS_ORDER = ("rasa server", "action server", "delivery worker", "web server")


def _mib(value: int | None) -> float | None:
    return None if value is None else value / MIB


def _phase_label(key: str, phase: dict[str, Any]) -> str:
    if key == "sequential":
        return "one sender, back to back"
    return f"concurrency {phase['concurrency']}"


def latency_rows(data: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    headers = ["model", "load", "requests", "msg/s", "p50 ms", "p95 ms", "p99 ms", "max ms",
               "non-200", "timeout", "conn", "empty"]
    rows: list[list[Any]] = []
    for name, target in data["targets"].items():
        for key, phase in target.get("phases", {}).items():
            errors = phase["errors"]
            rows.append([LABELS.get(name, name), _phase_label(key, phase), phase["requests"],
                         phase["throughput_msg_s"], phase["p50_ms"], phase["p95_ms"],
                         phase["p99_ms"], phase["max_ms"], errors["http"], errors["timeout"],
                         errors["connection"], errors["empty"]])
    return headers, rows


def kind_level(data: dict[str, Any]) -> str | None:
    """The phase to break down by conversation kind: concurrency 8, else the highest level."""
    order = [f"c{c}" for c in data["options"]["concurrency"]]
    present = [k for k in order if any(k in t.get("phases", {})
                                      for t in data["targets"].values())]
    if not present:
        return None
    return "c8" if "c8" in present else present[-1]


def kind_rows(data: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    headers = ["model", "conversation kind", "answered", "p50 ms", "p95 ms"]
    key = kind_level(data)
    rows: list[list[Any]] = []
    if key is None:
        return headers, rows
    for name, target in data["targets"].items():
        for kind, stats in target.get("phases", {}).get(key, {}).get("by_kind", {}).items():
            rows.append([LABELS.get(name, name), kind, stats["answered"], stats["p50_ms"],
                         stats["p95_ms"]])
    return headers, rows


def bookings_line(data: dict[str, Any]) -> str | None:
    bookings = data["targets"].get("clinic", {}).get("bookings")
    if not bookings:
        return None
    return (f"Bookings (clinic): {bookings['booking_conversations']:,} booking conversations "
            f"sent in full, {bookings['stored']:,} requests stored, {bookings['delivered']:,} "
            "delivered to the outbox by the delivery worker.")


def cold_start_rows(data: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    headers = ["model", "Rasa server up (s)", "first REST answer (s)", "all services up (s)"]
    rows = []
    for name, target in data["targets"].items():
        cold = target.get("cold_start", {})
        rows.append([LABELS.get(name, name), cold.get("rasa_health_s"),
                     cold.get("rasa_first_answer_s"), cold.get("stack_ready_s")])
    return headers, rows


def memory_rows(data: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    headers = ["model", "process", "after warm-up MiB", "after load MiB", "after soak MiB",
               "peak MiB"]
    rows = []
    for name, target in data["targets"].items():
        memory = target.get("memory", {})
        soak = memory.get("soak", [])
        for process in _processes(memory):
            warm = memory.get("after_warmup", {}).get(process)
            load = memory.get("after_load", {}).get(process)
            last = soak[-1]["rss"].get(process) if soak else None
            rows.append([LABELS.get(name, name), process, _mib(warm), _mib(load), _mib(last),
                         _mib(memory.get("peak", {}).get(process))])
    return headers, rows


def _processes(memory: dict[str, Any]) -> list[str]:
    names = set(memory.get("after_warmup", {})) | set(memory.get("after_load", {}))
    return [p for p in PROCESS_ORDER if p in names] + sorted(names - set(PROCESS_ORDER))


def soak_rows(data: dict[str, Any], name: str = "clinic") -> tuple[list[str], list[list[Any]]]:
    memory = data["targets"].get(name, {}).get("memory", {})
    soak = memory.get("soak", [])
    processes = _processes(memory)
    headers = ["messages", *(f"{p} MiB" for p in processes), "p50 ms", "p95 ms", "errors"]
    rows = []
    for point in soak:
        rows.append([point["messages"], *(_mib(point["rss"].get(p)) for p in processes),
                     point.get("p50_ms"), point.get("p95_ms"), point.get("errors")])
    return headers, rows


def soak_growth(data: dict[str, Any], name: str = "clinic") -> dict[str, float | None]:
    """MiB each process grew between the last two soak checkpoints."""
    memory = data["targets"].get(name, {}).get("memory", {})
    soak = memory.get("soak", [])
    out: dict[str, float | None] = {}
    for process in _processes(memory):
        values = [p["rss"].get(process) for p in soak if p["rss"].get(process) is not None]
        delta = growth(values)
        out[process] = None if delta is None else delta / MIB
    return out


def training_rows(data: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    headers = ["model", "training time (s)", "how"]
    rows = []
    for name, info in data.get("training", {}).items():
        rows.append([LABELS.get(name, name), info.get("seconds"), info.get("how", "")])
    return headers, rows


def check_rows(data: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    headers = ["target", "measured", "limit", "result"]
    rows = []
    for check in data.get("checks", []):
        passed = check.get("passed")
        result = "n/a" if passed is None else ("PASS" if passed else "FAIL")
        rows.append([check["name"], check.get("shown", fmt(check.get("value"), 2)),
                     check["limit"], result])
    return headers, rows


def text_report(data: dict[str, Any]) -> str:
    """Every table, for the terminal."""
    parts = []
    for title, (headers, rows) in (
        ("REST latency and throughput", latency_rows(data)),
        (f"By conversation kind ({kind_level(data)})", kind_rows(data)),
        ("Cold start (process start to ...)", cold_start_rows(data)),
        ("Resident memory (RSS of each process group)", memory_rows(data)),
        ("Memory soak, clinic (RSS at each checkpoint)", soak_rows(data)),
        ("Training", training_rows(data)),
        ("Targets", check_rows(data)),
    ):
        if rows:
            parts.append(f"{title}\n{text_table(headers, rows)}")
    line = bookings_line(data)
    if line:
        parts.append(line)
    grown = soak_growth(data)
    if any(v is not None for v in grown.values()):
        parts.append("Growth over the last soak interval (MiB): " + ", ".join(
            f"{p} {fmt(v)}" for p, v in grown.items()))
    return "\n\n".join(parts)


def markdown_report(data: dict[str, Any], plot: Path | None, page: Path) -> str:
    """The whole generated ``docs/benchmarks.md`` (with an empty soak block)."""
    machine = data["machine"]
    opts = data["options"]
    workload = data["workload"]
    levels = ", ".join(str(c) for c in opts["concurrency"])
    lines = [
        "# Benchmarks",
        "",
        "<!-- Generated by `make bench` (scripts/bench.py); edit the script, not this page. "
        "The blocks at the end are written elsewhere and kept: setup times by "
        "`make bench-setup` (scripts/bench_setup.py), what was tried by hand, the soak by "
        "`make soak`. -->",
        "",
        f"Measured {data['generated']} on {machine['cpu_count']} CPU cores "
        f"({machine.get('cpu_model') or 'unknown CPU'}), {fmt(machine.get('memory_gib'))} GiB "
        f"RAM, Python {machine['python']}, Rasa {machine['rasa']}, Rasa SDK "
        f"{machine.get('rasa_sdk', '?')}. The whole run took {fmt(data['duration_s'] / 60)} "
        f"minutes{' (`--quick` smoke run: small counts, rough figures)' if opts['quick'] else ''}."
        f" Load average (1, 5, 15 min) at the start {_load(machine.get('load_start'))}, at the "
        f"end {_load(machine.get('load_end'))}: figures from a machine busy with other work are "
        "slower and noisier than on an idle one.",
        "",
        "## Targets",
        "",
        markdown_table(*check_rows(data)),
        "",
        "## How to re-run",
        "",
        "```bash",
        "make bench                                  # about 10-15 minutes on 2 cores",
        "make bench BENCH_ARGS=--quick               # about 2 minutes, small counts (smoke run)",
        "make bench BENCH_ARGS='--measure-training'  # also time `rasa train` of config.yml",
        ".venv/bin/python -m scripts.bench --help    # every count and option",
        "```",
        "",
        "It writes `results/bench/bench.json` (every summary figure, machine and options), this "
        "page and `docs/images/latency.png`. `python -m scripts.bench --report-only` redraws the "
        "page and plot from the JSON.",
        "",
        "## What is measured",
        "",
        "Two assistants, one after the other, each started fresh on free loopback ports with "
        "temporary databases, outbox and logs, and stopped afterwards:",
        "",
        "- **clinic**: this project exactly as `make run` starts it (`scripts/serve.py`): Rasa "
        "server with `models/clinic.tar.gz` and the SQL tracker store (SQLite), action server, "
        "delivery worker (no `SMTP_HOST`: request e-mails go to a temporary outbox directory) "
        "and web server.",
        "- **default (rasa init)**: the baseline, Rasa's own starter project (`rasa init "
        "--no-prompt` in a temporary directory, which trains it with Rasa's default config and the "
        "moodbot domain and data), served by a Rasa server alone with Rasa's defaults "
        "(in-memory tracker store, no action server). It gets the same message texts; what it "
        "answers does not matter, the comparison is the server's latency on the same machine. "
        "Its figures therefore include neither the SQL tracker store nor action-server calls, "
        "which are part of what the clinic's figures measure.",
        "",
        "Load, over the REST channel (`POST /webhooks/rest/webhook`), with a fixed mix of "
        f"conversations (seed {workload['seed']}): "
        + ", ".join(f"{int(w * 100)}% {k}" for k, w in workload["mix"]) + ". "
        "A *faq* conversation is a greeting and two FAQ questions, *smalltalk* is greeting, "
        "\"are you a bot?\"-style question, thanks, goodbye, and *booking* is the whole "
        "appointment form (\"I'd like to book an appointment\", a name, a phone number, \"next "
        "tuesday afternoon\", a reason, \"I'm a new patient\", \"yes\"). Every conversation has "
        "its own sender id; a virtual user sends a conversation's messages one after another "
        "(never two in flight for one sender), and different virtual users run concurrently.",
        "",
        f"- **warm-up**: {opts['warmup']} messages, not counted.",
        f"- **one sender, back to back**: {opts['sequential_messages']} messages of the same mix "
        "from a single sender id (one long conversation).",
        f"- **concurrency {levels}**: {opts['messages']} messages at each level, that many "
        "virtual users.",
        f"- **memory soak** (clinic only): {opts['memory_messages']:,} more messages at "
        f"concurrency {opts['memory_concurrency']}, with the resident memory of every process "
        f"sampled every {opts['memory_interval']:,} messages.",
        "",
        "Latency is the client's time from sending a message to reading the whole reply. "
        "Percentiles and messages/s count HTTP-200 replies; errors are counted separately: "
        f"non-200 status, timeouts ({fmt(opts['timeout'])} s), connection errors and empty "
        "replies (200 with no bot message). The load generator runs on the same cores as the "
        "servers. Cold start is the time from starting the processes to the Rasa server "
        "answering `/` and to the first answered REST message (which includes the first "
        "message's own warm-up). Memory is the resident set size (VmRSS from `/proc`) summed "
        "over each service's process group, children included; shared pages count once per "
        "process.",
        "",
        "## REST latency and throughput",
        "",
        markdown_table(*latency_rows(data)),
        "",
    ]
    if plot is not None:
        lines += [f"![Latency percentiles by load, and latency distribution at the highest "
                  f"common concurrency]({_relative(plot, page)})", ""]
    headers, rows = kind_rows(data)
    if rows:
        level = kind_level(data) or ""
        lines += [f"By conversation kind, at concurrency {level[1:]} (the booking form calls the "
                  "action server to validate each answer and stores the request):", "",
                  markdown_table(headers, rows), ""]
    line = bookings_line(data)
    if line:
        lines += [line, ""]
    lines += ["## Cold start", "", markdown_table(*cold_start_rows(data)), "",
              "## Memory", "", markdown_table(*memory_rows(data)), ""]
    headers, rows = soak_rows(data)
    if rows:
        grown = soak_growth(data)
        lines += [
            "Clinic, resident memory at each soak checkpoint (messages sent in the soak; the "
            "latency columns are for the messages since the previous checkpoint):",
            "",
            markdown_table(headers, rows),
            "",
            "Growth over the last interval: " + ", ".join(
                f"{p} {fmt(v)} MiB" for p, v in grown.items()) + ".",
            "",
        ]
    lines += ["## Training time", "", markdown_table(*training_rows(data)), ""]
    notes = data.get("notes", [])
    if notes:
        lines += ["## Notes", "", *(f"- {n}" for n in notes), ""]
    for start, end in KEPT_BLOCKS:
        lines += [start, end, ""]
    return "\n".join(lines)


def _load(values: list[float] | None) -> str:
    return "/".join(f"{v:.2f}" for v in values) if values else "unknown"


def _relative(path: Path, page: Path) -> str:
    try:
        return str(path.resolve().relative_to(page.resolve().parent))
    except ValueError:
        return str(path)


def write_markdown(data: dict[str, Any], page: Path, plot: Path | None) -> None:
    """Write the page, keeping the blocks other scripts (and people) wrote on the page already
    there (setup times, what was tried, the soak)."""
    old = page.read_text(encoding="utf-8") if page.exists() else None
    page.parent.mkdir(parents=True, exist_ok=True)
    text = markdown_report(data, plot, page)
    for start, end in KEPT_BLOCKS:
        text = keep_section(text, old, start, end)
    page.write_text(text, encoding="utf-8")


def write_plot(data: dict[str, Any], path: Path) -> None:
    """Left: p50/p95/p99 by load for each model. Right: latency distribution (CDF)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"clinic": "tab:blue", "default": "tab:orange"}
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    order = data["options"]["concurrency"]
    labels = ["one sender", *(f"c={c}" for c in order)]
    keys = ["sequential", *(f"c{c}" for c in order)]
    for name, target in data["targets"].items():
        phases = target.get("phases", {})
        color = colors.get(name)
        for pct, style in (("p50_ms", "-"), ("p95_ms", "--"), ("p99_ms", ":")):
            values = [phases.get(k, {}).get(pct) for k in keys]
            left.plot(labels, [float("nan") if v is None else v for v in values], style,
                      marker="o", color=color, label=f"{LABELS.get(name, name)} {pct[:3]}")
    left.set_yscale("log")
    left.set_ylabel("latency (ms, log scale)")
    left.set_title("REST latency by load")
    left.grid(True, which="both", alpha=0.3)
    left.legend(fontsize=7)

    common = [c for c in order if all(f"c{c}" in t.get("phases", {})
                                      for t in data["targets"].values())]
    pick = 8 if 8 in common else (common[-1] if common else None)
    if pick is not None:
        for name, target in data["targets"].items():
            q = target["phases"][f"c{pick}"].get("quantiles_ms") or []
            if q:
                right.plot(q, [i / (len(q) - 1) for i in range(len(q))],
                           color=colors.get(name), label=LABELS.get(name, name))
        right.set_xscale("log")
        right.set_xlabel("latency (ms, log scale)")
        right.set_ylabel("fraction of messages answered within")
        right.set_title(f"Latency distribution at concurrency {pick}")
        right.grid(True, which="both", alpha=0.3)
        right.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
