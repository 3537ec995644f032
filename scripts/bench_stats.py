"""Pure helpers for ``scripts/bench.py``: percentiles, phase summaries, text and Markdown tables.

Nothing here starts a process or touches the network, so ``tests/unit/test_bench.py`` can check
it directly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

# How a request ended. Latency percentiles and throughput count HTTP-200 answers ("ok" and
# "empty"); "empty" (200 with no bot message), "http" (not 200), "timeout" and "connection" are
# the error kinds, counted separately.
OK = "ok"
EMPTY = "empty"
HTTP_ERROR = "http"
TIMEOUT = "timeout"
CONNECTION = "connection"
ERROR_KINDS = (HTTP_ERROR, TIMEOUT, CONNECTION, EMPTY)
ANSWERED = (OK, EMPTY)

SOAK_START = "<!-- soak -->"
SOAK_END = "<!-- /soak -->"
# written by scripts/bench_setup.py
SETUP_START = "<!-- setup -->"
SETUP_END = "<!-- /setup -->"
# written by hand: what was tried to make training and CI faster, with its figures
TRIED_START = "<!-- tried -->"
TRIED_END = "<!-- /tried -->"
# the blocks of docs/benchmarks.md that `make bench` keeps when it writes the page again
KEPT_BLOCKS = ((SETUP_START, SETUP_END), (TRIED_START, TRIED_END), (SOAK_START, SOAK_END))


@dataclass(frozen=True)
class Sample:
    """One request: when it started (seconds into its phase), how long it took, how it ended."""

    started: float
    latency: float
    outcome: str
    kind: str = ""  # the conversation's kind: faq, smalltalk, booking, sequential


def percentile(values: Sequence[float], pct: float) -> float:
    """The pct-th percentile (0-100) with linear interpolation between closest ranks.

    Same definition as numpy's default (``method="linear"``). NaN for no values.
    """
    if not 0 <= pct <= 100:
        raise ValueError(f"percentile must be between 0 and 100, got {pct}")
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low = math.floor(rank)
    high = math.ceil(rank)
    if low == high:
        return float(ordered[low])
    return float(ordered[low] + (ordered[high] - ordered[low]) * (rank - low))


def quantiles(values: Sequence[float], steps: int = 100) -> list[float]:
    """``steps + 1`` evenly spaced percentiles (0, 1, ..., 100 by default): a compact CDF."""
    if not values:
        return []
    ordered = sorted(values)
    return [percentile(ordered, 100 * i / steps) for i in range(steps + 1)]


def summarize(samples: Iterable[Sample], wall_seconds: float, concurrency: int) -> dict[str, Any]:
    """Latency percentiles (ms), throughput and error counts of one phase."""
    samples = list(samples)
    answered = [s.latency for s in samples if s.outcome in ANSWERED]
    errors = {kind: sum(1 for s in samples if s.outcome == kind) for kind in ERROR_KINDS}
    total_latency = sum(s.latency for s in samples)
    ms = [1000 * v for v in answered]
    return {
        "concurrency": concurrency,
        "requests": len(samples),
        "answered": len(answered),
        "errors": errors,
        "error_total": sum(errors.values()),
        "wall_s": round(wall_seconds, 3),
        "throughput_msg_s": round(len(answered) / wall_seconds, 3) if wall_seconds > 0 else 0.0,
        # Little's law: the average number of requests actually in flight.
        "mean_in_flight": round(total_latency / wall_seconds, 2) if wall_seconds > 0 else 0.0,
        "p50_ms": _round(percentile(ms, 50)),
        "p95_ms": _round(percentile(ms, 95)),
        "p99_ms": _round(percentile(ms, 99)),
        "mean_ms": _round(sum(ms) / len(ms)) if ms else None,
        "max_ms": _round(max(ms)) if ms else None,
        "quantiles_ms": [round(v, 2) for v in quantiles(ms)],
        "by_kind": by_kind(samples),
        # Does latency drift within the phase (e.g. as a long conversation grows)?
        "p50_first_fifth_ms": _round(percentile(_fifth(samples, last=False), 50)),
        "p50_last_fifth_ms": _round(percentile(_fifth(samples, last=True), 50)),
    }


def _fifth(samples: list[Sample], last: bool) -> list[float]:
    """Latencies (ms) of the first or last fifth of the answered requests, by start time."""
    answered = sorted((s for s in samples if s.outcome in ANSWERED), key=lambda s: s.started)
    size = max(1, len(answered) // 5) if answered else 0
    part = answered[-size:] if last else answered[:size]
    return [1000 * s.latency for s in part]


def by_kind(samples: Iterable[Sample]) -> dict[str, dict[str, Any]]:
    """Count, p50 and p95 (ms) of the answered requests of each conversation kind."""
    groups: dict[str, list[float]] = {}
    for s in samples:
        if s.outcome in ANSWERED:
            groups.setdefault(s.kind, []).append(1000 * s.latency)
    return {kind: {"answered": len(ms), "p50_ms": _round(percentile(ms, 50)),
                   "p95_ms": _round(percentile(ms, 95))}
            for kind, ms in sorted(groups.items())}


def _round(value: float, digits: int = 1) -> float | None:
    return None if math.isnan(value) else round(value, digits)


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, or None when either is missing or the denominator is 0."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


def growth(values: Sequence[float]) -> float | None:
    """Difference between the last two values (None with fewer than two)."""
    if len(values) < 2:
        return None
    return values[-1] - values[-2]


def fmt(value: Any, digits: int = 1) -> str:
    """A table cell: '-' for missing, numbers with fixed decimals, the rest as text."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def text_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table for the terminal: first column left-aligned, the others right."""
    cells = [[fmt(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        if len(row) != len(headers):
            raise ValueError(f"row has {len(row)} cells, expected {len(headers)}: {row}")
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.ljust(w) if i == 0 else v.rjust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in cells)])


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub Markdown table: first column left-aligned, the others right."""
    out = ["| " + " | ".join(headers) + " |",
           "|" + "|".join(["---"] + ["---:"] * (len(headers) - 1)) + "|"]
    for row in rows:
        if len(row) != len(headers):
            raise ValueError(f"row has {len(row)} cells, expected {len(headers)}: {row}")
        out.append("| " + " | ".join(fmt(c).replace("|", "\\|") for c in row) + " |")
    return "\n".join(out)


def keep_section(new_text: str, old_text: str | None, start: str = SOAK_START,
                 end: str = SOAK_END) -> str:
    """``new_text`` with its ``start``...``end`` block replaced by the one in ``old_text``.

    The generated page carries an empty block; another script fills it, and regenerating the
    page keeps what that script wrote. Without a block in ``old_text``, ``new_text`` is
    returned unchanged.
    """
    old_block = _block(old_text or "", start, end)
    if old_block is None:
        return new_text
    new_block = _block(new_text, start, end)
    if new_block is None:
        return new_text.rstrip("\n") + "\n\n" + old_block + "\n"
    return new_text.replace(new_block, old_block, 1)


def _block(text: str, start: str, end: str) -> str | None:
    begin = text.find(start)
    if begin < 0:
        return None
    finish = text.find(end, begin + len(start))
    if finish < 0:
        return None
    return text[begin:finish + len(end)]
