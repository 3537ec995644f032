"""The benchmark's pure helpers: statistics, tables, the generated page (no servers, no timing)."""

from __future__ import annotations

import math

import pytest

from scripts.bench_load import build_workload, one_sender, parse_stat, parse_vmrss_kib
from scripts.bench_report import markdown_report, text_report, write_markdown
from scripts.bench_stats import (
    EMPTY,
    HTTP_ERROR,
    OK,
    SOAK_END,
    SOAK_START,
    TIMEOUT,
    Sample,
    fmt,
    growth,
    keep_section,
    markdown_table,
    percentile,
    quantiles,
    ratio,
    summarize,
    text_table,
)


def test_percentile_interpolates_like_numpy():
    values = [15, 20, 35, 40, 50]
    assert percentile(values, 0) == 15
    assert percentile(values, 100) == 50
    assert percentile(values, 50) == 35
    assert percentile(values, 40) == pytest.approx(29.0)  # numpy.percentile(values, 40)
    assert percentile([3, 1, 2], 50) == 2  # order does not matter
    assert percentile([7], 99) == 7


def test_percentile_of_nothing_is_nan_and_range_is_checked():
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError):
        percentile([1, 2], 101)


def test_quantiles_are_a_monotone_cdf():
    q = quantiles(list(range(1, 101)), steps=4)
    assert q == [1, 25.75, 50.5, 75.25, 100]
    assert quantiles([]) == []


def test_summarize_counts_errors_apart_from_latency():
    samples = [Sample(0.0, 0.1, OK, "faq"), Sample(0.1, 0.2, OK, "faq"),
               Sample(0.2, 0.3, EMPTY, "booking"), Sample(0.3, 5.0, TIMEOUT, "booking"),
               Sample(0.4, 0.05, HTTP_ERROR, "faq")]
    summary = summarize(samples, wall_seconds=2.0, concurrency=2)
    assert summary["requests"] == 5
    assert summary["answered"] == 3  # ok and empty replies are answers with a latency
    assert summary["errors"] == {"http": 1, "timeout": 1, "connection": 0, "empty": 1}
    assert summary["error_total"] == 3
    assert summary["throughput_msg_s"] == 1.5
    assert summary["p50_ms"] == 200.0
    assert summary["max_ms"] == 300.0  # the timeout is not a latency
    assert summary["by_kind"]["faq"] == {"answered": 2, "p50_ms": 150.0, "p95_ms": 195.0}
    assert summary["by_kind"]["booking"]["answered"] == 1


def test_summarize_with_no_answers():
    summary = summarize([Sample(0.0, 60.0, TIMEOUT)], wall_seconds=60.0, concurrency=1)
    assert summary["p95_ms"] is None and summary["mean_ms"] is None
    assert summary["throughput_msg_s"] == 0.0


def test_ratio_and_growth():
    assert ratio(3.0, 2.0) == 1.5
    assert ratio(None, 2.0) is None and ratio(1.0, 0) is None
    assert growth([100, 120, 125]) == 5
    assert growth([100]) is None


def test_fmt_cells():
    assert fmt(None) == "-"
    assert fmt(math.nan) == "-"
    assert fmt(1234) == "1,234"
    assert fmt(1234.567) == "1,234.6"
    assert fmt(True) == "yes"
    assert fmt("c8") == "c8"


def test_text_table_aligns_columns():
    table = text_table(["model", "p95 ms"], [["clinic", 12.34], ["default", 1234.0]])
    lines = table.splitlines()
    assert lines[0] == "model     p95 ms"
    assert lines[1] == "-------  -------"
    assert lines[2] == "clinic      12.3"
    assert lines[3] == "default  1,234.0"
    with pytest.raises(ValueError):
        text_table(["a", "b"], [["only one"]])


def test_markdown_table():
    table = markdown_table(["model", "p95 ms"], [["a|b", None]])
    assert table.splitlines() == ["| model | p95 ms |", "|---|---:|", "| a\\|b | - |"]


def test_keep_section_keeps_what_another_script_wrote():
    old = f"# Old\nstale numbers\n{SOAK_START}\n## Soak\n8 hours, flat\n{SOAK_END}\ntail\n"
    new = f"# New\nfresh numbers\n{SOAK_START}\n{SOAK_END}\n"
    merged = keep_section(new, old)
    assert merged == f"# New\nfresh numbers\n{SOAK_START}\n## Soak\n8 hours, flat\n{SOAK_END}\n"
    assert keep_section(new, None) == new
    assert keep_section(new, "# no block here") == new
    # a page without the markers still gets the old block, at the end
    assert keep_section("# New\n", old).endswith(f"8 hours, flat\n{SOAK_END}\n")


def test_workload_is_seeded_and_exact():
    first = build_workload(50, seed=7, prefix="t")
    assert first == build_workload(50, seed=7, prefix="t")
    assert first != build_workload(50, seed=8, prefix="t")
    assert sum(len(c.messages) for c in first) == 50
    assert len({c.sender for c in first}) == len(first)  # one sender per conversation
    booking = next(c for c in build_workload(200, seed=7, prefix="t") if c.kind == "booking")
    assert booking.messages[0] == "I'd like to book an appointment"
    assert booking.messages[-2:] == ("I'm a new patient", "yes")
    [single] = one_sender(20, seed=7, sender="me")
    assert single.sender == "me" and len(single.messages) == 20


def test_proc_parsing():
    # a command name with a space and a parenthesis, as /proc shows it
    stat = "4242 (rasa (main) x) S 4200 4242 4242 0 -1 4194560 123"
    assert parse_stat(stat) == (4200, 4242)
    assert parse_vmrss_kib("Name:\trasa\nVmRSS:\t 1234567 kB\nThreads:\t40\n") == 1234567
    assert parse_vmrss_kib("Name:\tzombie\n") == 0


def _data() -> dict:
    phase = summarize([Sample(0.0, 0.1, OK, "faq"), Sample(0.0, 0.2, OK, "booking")], 1.0, 8)
    phase["conversations"] = 2
    return {
        "generated": "2025-01-01T00:00:00+00:00",
        "duration_s": 600.0,
        "machine": {"cpu_count": 2, "python": "3.10.13", "rasa": "3.6.21", "rasa_sdk": "3.6.2",
                    "load_start": [1.0, 1.0, 1.0], "load_end": [2.0, 2.0, 2.0]},
        "options": {"quick": False, "concurrency": [8], "messages": 2,
                    "sequential_messages": 0, "warmup": 0, "memory_messages": 0,
                    "memory_interval": 1000, "memory_concurrency": 8, "timeout": 60.0},
        "workload": {"seed": 42, "mix": [["faq", 0.5], ["booking", 0.5]]},
        "targets": {
            "clinic": {"phases": {"c8": phase},
                       "cold_start": {"rasa_health_s": 20.0, "rasa_first_answer_s": 21.0,
                                      "stack_ready_s": 21.5},
                       "memory": {"after_warmup": {"rasa server": 2**30},
                                  "after_load": {"rasa server": 2**30},
                                  "peak": {"rasa server": 2**30}}},
        },
        "training": {"clinic": {"seconds": None, "how": "not measured"}},
        "checks": [{"name": "cold start", "value": 21.0, "shown": "21.0 s", "limit": "< 45 s",
                    "passed": True},
                   {"name": "p95 ratio", "value": None, "shown": "-", "limit": "<= 1.5x",
                    "passed": None}],
    }


def test_report_renders_tables_and_an_empty_soak_block(tmp_path):
    page = markdown_report(_data(), plot=tmp_path / "images" / "latency.png",
                           page=tmp_path / "benchmarks.md")
    assert "| cold start | 21.0 s | < 45 s | PASS |" in page
    assert "| p95 ratio | - | <= 1.5x | n/a |" in page
    assert "| clinic | concurrency 8 | 2 |" in page
    assert "![" in page and "](images/latency.png)" in page
    assert page.rstrip().endswith(f"{SOAK_START}\n{SOAK_END}")
    assert "1,024.0" in text_report(_data())  # MiB


def test_write_markdown_keeps_the_soak_block(tmp_path):
    target = tmp_path / "benchmarks.md"
    target.write_text(f"old\n{SOAK_START}\nsoak results\n{SOAK_END}\n")
    write_markdown(_data(), target, plot=None)
    text = target.read_text()
    assert f"{SOAK_START}\nsoak results\n{SOAK_END}" in text
    assert text.startswith("# Benchmarks")


def test_summarize_reports_drift_within_a_phase():
    samples = [Sample(float(i), 0.01 * (i + 1), OK) for i in range(10)]
    summary = summarize(samples, wall_seconds=10.0, concurrency=1)
    assert summary["p50_first_fifth_ms"] == 15.0  # 10 and 20 ms
    assert summary["p50_last_fifth_ms"] == 95.0  # 90 and 100 ms
