"""The delivery worker: sends stored requests to the clinic (and calendar bookings' confirmations
and later notices to patients), retrying with backoff until done.

Run as ``python -m actions.outbox`` (``make run`` starts it next to the action server). It polls
the ``deliveries`` and ``notices`` tables, so requests stored while the mail server was down, or
before a restart, are delivered once it is back. Several workers may run: each delivery is claimed
by one.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time

from sqlalchemy.engine import Engine

from actions.clinic import get_clinic
from actions.notify import deliver
from actions.settings import Settings, get_settings
from actions.storage import (
    backoff_seconds,
    claim_due_deliveries,
    deliveries_table,
    get_engine,
    mark_delivered,
    mark_failed,
    notices_table,
)

logger = logging.getLogger(__name__)

# A claimed delivery is retried by another worker if this one dies before finishing it.
LEASE_SECONDS = 120
# A delivery that went out but could not be recorded (the database restarting) is recorded later
# instead of being sent again; this worker keeps trying for this long, well within its lease.
RECORD_WITHIN_SECONDS = LEASE_SECONDS / 2
# While the database is unreachable the worker polls less often, up to this interval.
MAX_PAUSE_SECONDS = 10.0


def record_delivered(engine: Engine, item: dict, within: float = RECORD_WITHIN_SECONDS) -> bool:
    """Mark a sent delivery as delivered, retrying while the database is unreachable.

    Giving up here would leave the delivery pending, and it would be sent a second time once its
    lease runs out. Returns False if it could not be recorded in time.
    """
    deadline = time.monotonic() + within
    pause = 0.5
    while True:
        try:
            mark_delivered(engine, item["delivery_id"], item["outbox"])
            return True
        except Exception as exc:  # noqa: BLE001 - the database restarting or unreachable
            if time.monotonic() >= deadline:
                logger.error("Delivered %s by %s but could not record it (%s); it may be sent "
                             "again", item["reference"], item["target"], type(exc).__name__)
                return False
            logger.warning("Delivered %s by %s but could not record it yet (%s); retrying",
                           item["reference"], item["target"], type(exc).__name__)
            time.sleep(pause)
            pause = min(pause * 2, 5.0)


def run_once(engine: Engine, settings: Settings) -> int:
    """Attempt every due delivery once; return how many were delivered."""
    delivered = 0
    clinic = get_clinic(settings.clinic_config)
    lease_ends = time.monotonic() + LEASE_SECONDS
    # room for one send (its timeout) and recording it before the lease runs out
    margin = max(settings.smtp_timeout, settings.webhook_timeout) + 5
    due = [item for table in (deliveries_table, notices_table)
           for item in claim_due_deliveries(engine, lease_seconds=LEASE_SECONDS, table=table)]
    for item in due:
        reference, target = item["reference"], item["target"]
        if time.monotonic() > lease_ends - margin:
            # Another worker may claim it once the lease is over: leave it to that claim rather
            # than risk sending it twice.
            logger.info("Leaving %s by %s for the next pass (lease nearly over)", reference,
                        target)
            continue
        try:
            deliver(target, item, clinic, settings)
        except Exception as exc:  # noqa: BLE001 - any failure is retried later
            attempts = int(item["attempts"]) + 1
            delay = backoff_seconds(attempts, settings.retry_first_seconds,
                                    settings.retry_max_seconds)
            mark_failed(engine, item["delivery_id"], attempts, delay,
                        f"{type(exc).__name__}: {exc}", item["outbox"])
            logger.warning("Delivery of %s by %s failed (attempt %d, %s); retrying in %.0fs",
                           reference, target, attempts, type(exc).__name__, delay)
            continue
        if record_delivered(engine, item,
                            within=min(RECORD_WITHIN_SECONDS, lease_ends - time.monotonic())):
            delivered += 1
            logger.info("Delivered %s by %s", reference, target)
    return delivered


def live_pass(engine: Engine, settings: Settings) -> int:
    """Live chats whose wait ran out get the leave-a-message flow (actions.live) and alert
    e-mails go out (actions.live_alerts); never raises, so deliveries go on whatever happens
    to Rasa or the live-chat tables."""
    if not settings.live_chat:
        return 0
    from actions import live, live_alerts

    handed_back = 0
    try:
        handed_back = live.expire_waits(live.ready(engine), settings)
    except Exception as exc:  # noqa: BLE001 - tried again on the next pass
        logger.warning("Live chat pass failed (%s); trying again", type(exc).__name__)
    try:
        live_alerts.send_due_alerts(engine, settings, get_clinic(settings.clinic_config))
    except Exception as exc:  # noqa: BLE001 - tried again on the next pass
        logger.warning("Alert e-mail pass failed (%s); trying again", type(exc).__name__)
    return handed_back


def serve(stop: threading.Event) -> None:
    settings = get_settings()
    engine = get_engine(settings.database_url)
    logger.info("Delivery worker started (%r)", settings)
    failures = 0
    while not stop.is_set():
        live_pass(engine, settings)
        try:
            run_once(engine, settings)
        except Exception as exc:  # noqa: BLE001 - e.g. the database restarting: keep going
            failures += 1
            if failures == 1:
                logger.exception("Delivery pass failed; trying again")
            else:
                logger.warning("Delivery pass failed again (%d in a row, %s)", failures,
                               type(exc).__name__)
        else:
            if failures:
                logger.info("Delivery passes work again after %d failures", failures)
            failures = 0
        # poll as configured; back off while passes fail (a database down floods no log)
        stop.wait(min(MAX_PAUSE_SECONDS, settings.poll_seconds * 2 ** min(failures, 10)))
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
