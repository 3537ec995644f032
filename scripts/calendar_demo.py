"""`make run` with CALENDAR_DEMO=1: a local CalDAV calendar (Radicale) with sample busy times,
so that a new user sees free slots offered and booked on a fresh machine.

The calendar lives in a temporary folder for as long as `make run` runs (bookings made in the
demo are gone after it stops). Its busy times: a lunch break every weekday 12:00-13:00 and a
staff meeting every Tuesday 9:00-10:30, in the clinic's time zone. For a real calendar set
CALENDAR_URL, CALENDAR_USER and CALENDAR_PASSWORD instead (README, "Appointments in the
clinic's calendar").
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

from actions.clinic import Clinic
from scripts.caldav_server import CalDavServer

logger = logging.getLogger(__name__)


def _event(uid: str, clinic: Clinic, first: date, start: str, end: str, rule: str,
           summary: str) -> str:
    tz = clinic.tz.key
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Clinic assistant//demo//EN\r\n"
            f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:{first:%Y%m%d}T000000Z\r\n"
            f"DTSTART;TZID={tz}:{first:%Y%m%d}T{start}\r\nDTEND;TZID={tz}:{first:%Y%m%d}T{end}\r\n"
            f"RRULE:{rule}\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


def start_demo(clinic: Clinic, today: date) -> CalDavServer:
    """Start the demo calendar with its sample busy times; the caller stops it."""
    server = CalDavServer()
    server.start()
    monday = today - timedelta(days=today.weekday())
    server.put_event(server.url, "lunch", _event(
        "demo-lunch@clinic-assistant", clinic, monday, "120000", "130000",
        "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", "Lunch break"))
    server.put_event(server.url, "meeting", _event(
        "demo-meeting@clinic-assistant", clinic, monday + timedelta(days=1), "090000",
        "103000", "FREQ=WEEKLY", "Staff meeting"))
    logger.info("Demo calendar at %s (lunch 12:00-13:00 on weekdays, Tuesday meeting 9:00-10:30)",
                server.url)
    return server


def demo_env(server: CalDavServer) -> dict[str, str]:
    """The settings that point the action server at the demo calendar."""
    return {"CALENDAR_URL": server.url, "CALENDAR_USER": server.user,
            "CALENDAR_PASSWORD": server.password}
