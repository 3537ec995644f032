"""`make run` with CALENDAR_DEMO=1: the demo calendar starts with its sample busy times, and the
servers are pointed at it."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from actions.calendar import CalendarClient
from actions.clinic import get_clinic
from scripts.calendar_demo import demo_env, start_demo


def test_the_demo_calendar_has_lunch_breaks_and_a_meeting():
    clinic = get_clinic()
    server = start_demo(clinic, date.today())
    try:
        env = demo_env(server)
        client = CalendarClient(env["CALENDAR_URL"], env["CALENDAR_USER"],
                                env["CALENDAR_PASSWORD"], timeout=5, cache_seconds=0)
        now = datetime.now(timezone.utc)
        busy = client.busy(now, now + timedelta(days=14), clinic.tz)
        local = [(b.start.astimezone(clinic.tz), b.end.astimezone(clinic.tz)) for b in busy]
        lunches = [s for s, e in local if (s.hour, e.hour) == (12, 13) and s.weekday() < 5]
        meetings = [s for s, e in local if s.weekday() == 1 and (s.hour, s.minute) == (9, 0)]
        assert len(lunches) >= 8 and len(meetings) >= 1
        assert all(s.weekday() < 5 for s, _ in local)  # nothing at weekends
    finally:
        server.close()
