"""The delivery worker: sends stored requests to the clinic, retrying with backoff until done.

Run as ``python -m actions.outbox`` (``make run`` starts it next to the action server). It polls
the ``deliveries`` table, so requests stored while the mail server was down, or before a restart,
are delivered once it is back. Several workers may run: each delivery is claimed by one.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from sqlalchemy.engine import Engine

from actions.clinic import get_clinic
from actions.notify import deliver
from actions.settings import Settings, get_settings
from actions.storage import (
    backoff_seconds,
    claim_due_deliveries,
    get_engine,
    mark_delivered,
    mark_failed,
)

logger = logging.getLogger(__name__)

# A claimed delivery is retried by another worker if this one dies before finishing it.
LEASE_SECONDS = 120


def run_once(engine: Engine, settings: Settings) -> int:
    """Attempt every due delivery once; return how many were delivered."""
    delivered = 0
    clinic = get_clinic(settings.clinic_config)
    for item in claim_due_deliveries(engine, lease_seconds=LEASE_SECONDS):
        reference, target = item["reference"], item["target"]
        try:
            deliver(target, item, clinic, settings)
        except Exception as exc:  # noqa: BLE001 - any failure is retried later
            attempts = int(item["attempts"]) + 1
            delay = backoff_seconds(attempts, settings.retry_first_seconds,
                                    settings.retry_max_seconds)
            mark_failed(engine, item["delivery_id"], attempts, delay,
                        f"{type(exc).__name__}: {exc}")
            logger.warning("Delivery of %s by %s failed (attempt %d, %s); retrying in %.0fs",
                           reference, target, attempts, type(exc).__name__, delay)
            continue
        mark_delivered(engine, item["delivery_id"])
        delivered += 1
        logger.info("Delivered %s by %s", reference, target)
    return delivered


def serve(stop: threading.Event) -> None:
    settings = get_settings()
    engine = get_engine(settings.database_url)
    logger.info("Delivery worker started (%r)", settings)
    while not stop.is_set():
        try:
            run_once(engine, settings)
        except Exception:  # noqa: BLE001 - e.g. the database restarting: keep going
            logger.exception("Delivery pass failed; trying again")
        stop.wait(settings.poll_seconds)
    logger.info("Delivery worker stopped")


def main() -> int:
    argparse.ArgumentParser(description=__doc__).parse_args()
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)-7s %(name)s - %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    serve(stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
