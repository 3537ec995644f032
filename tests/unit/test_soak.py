"""The soak report's arithmetic and its place in docs/benchmarks.md (no servers)."""

from __future__ import annotations

from argparse import Namespace

from scripts.bench_stats import OK, TIMEOUT, Sample
from scripts.soak import evaluate, per_minute, write_page

ARGS = Namespace(max_p95_ratio=1.5, max_growth_mib=50.0)


def result(first_p95: float, last_p95: float, errors: int = 0, growth: float = 0.0,
           delivered: int = 3) -> dict:
    return {
        "errors": errors,
        "minutes": [{"p95_ms": first_p95}, {"p95_ms": 100.0}, {"p95_ms": last_p95}],
        "memory": [{"rss_mib": {"rasa server": 1000.0}}, {"rss_mib": {"rasa server": 1000.0}},
                   {"rss_mib": {"rasa server": 1000.0 + growth}}],
        "bookings": {"booking_conversations": 3, "stored": 3, "delivered": delivered},
    }


def test_per_minute_splits_by_start_time_and_counts_errors():
    samples = [Sample(5.0, 0.1, OK), Sample(59.9, 0.3, OK), Sample(61.0, 0.2, OK),
               Sample(70.0, 60.0, TIMEOUT)]
    first, second = per_minute(samples, 2)
    assert (first["requests"], first["errors"], second["requests"], second["errors"]) == (
        2, 0, 2, 1)
    assert second["p95_ms"] == 200.0  # only answered messages count for latency


def test_checks_pass_for_a_steady_run():
    assert all(check["ok"] for check in evaluate(result(100.0, 120.0), ARGS))


def test_checks_catch_errors_slowdown_growth_and_lost_bookings():
    failing = {c["check"] for c in evaluate(
        result(100.0, 200.0, errors=1, growth=80.0, delivered=2), ARGS) if not c["ok"]}
    assert len(failing) == 4


def test_write_page_replaces_only_the_soak_block(tmp_path):
    page = tmp_path / "benchmarks.md"
    page.write_text("# Benchmarks\n\nbefore\n\n<!-- soak -->\nold\n<!-- /soak -->\n\nafter\n")
    write_page(page, "<!-- soak -->\nnew\n<!-- /soak -->")
    text = page.read_text()
    assert "before" in text and "after" in text and "new" in text and "old" not in text
