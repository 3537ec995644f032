"""Calendar mode in the website widget: a patient books by clicking, in a real headless Chromium
on the demo page of the calendar-mode servers (tests/e2e/calendar_rig.py).

The free times come as buttons; a click on one and on "Yes, book it" books it. The patient sees
the booked day, time and reference; the CalDAV server then holds exactly one event at that time,
the confirmed booking with that reference. The screenshot of the offered times is the README's.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

import caldav
import icalendar
import recurring_ical_events
from playwright.sync_api import Browser, Page, expect

from actions.calendar import X_KIND, X_REFERENCE
from actions.storage import get_engine, list_requests
from tests.conftest import render
from tests.e2e.calendar_rig import TZ, CalendarRig
from tests.e2e.test_widget_browser import REFERENCE_RE, SCREENSHOTS, WAIT_MS, Widget, squash

NOT_A_TIME = ("Other times", "Please call me instead")


def offered_times(page: Page) -> list[str]:
    """The titles of the time buttons under the bot's last message, as the patient sees them."""
    replies = page.locator(".rw-replies").last.locator(".rw-reply")
    expect(replies.first).to_be_visible(timeout=WAIT_MS)
    return [t for t in (squash(r) for r in replies.all_inner_texts()) if t not in NOT_A_TIME]


def as_shown(start: datetime) -> str:
    """A start time as a patient reads it on a button: 'Friday 11 December, 3:00 pm'."""
    local = start.astimezone(TZ)
    clock = f"{local.hour % 12 or 12}:{local:%M} {'am' if local.hour < 12 else 'pm'}"
    return f"{local:%A} {local.day} {local:%B}, {clock}"


def events_between(rig: CalendarRig, start: datetime, end: datetime
                   ) -> list[icalendar.cal.Component]:
    """Every event occurrence overlapping [start, end), asked of the CalDAV server the way a
    calendar program asks (a time-range query, recurrences expanded)."""
    client = caldav.DAVClient(url=rig.calendar.url, username=rig.calendar.user,
                              password=rig.calendar.password, timeout=10)
    calendar = client.calendar(url=rig.calendar.url)
    found: list[icalendar.cal.Component] = []
    for item in calendar.search(start=start, end=end, event=True):
        parsed = icalendar.Calendar.from_ical(item.data)
        for event in recurring_ical_events.of(parsed).between(start, end):
            found.append(event)
    return found


def test_a_patient_books_an_offered_time_by_clicking(calendar_rig: CalendarRig, browser: Browser,
                                                    domain: dict[str, Any]) -> None:
    rig = calendar_rig
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    widget = Widget(page)
    page.goto(rig.assistant.web_url + "/")
    expect(page).to_have_title(re.compile("Physical Medicine & Rehabilitation"))
    widget.open()
    widget.wait_for_bot(render(domain, "utter_privacy_notice"))

    widget.say("I'd like to book an appointment")
    widget.wait_for_bot(render(domain, "utter_ask_patient_name"))
    widget.say("Maria Lopez")
    widget.wait_for_bot(render(domain, "utter_ask_patient_contact"))
    widget.say("212 555 0123")
    widget.wait_for_bot(render(domain, "utter_ask_preferred_time"))
    widget.say("next friday afternoon")
    widget.wait_for_bot(render(domain, "utter_ask_visit_reason"))
    widget.say("migraines twice a week")
    widget.wait_for_bot(render(domain, "utter_ask_patient_status"))
    widget.press_reply("I'm a new patient")
    widget.wait_for_bot("These are the earliest free times")

    times = offered_times(page)
    assert times and all(t.startswith("Friday") for t in times), times
    for title in NOT_A_TIME:
        expect(page.get_by_role("button", name=title)).to_be_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "widget-calendar.png"))

    chosen = times[0]
    widget.press_reply(chosen)
    widget.wait_for_bot("Here is your appointment")
    [summary] = [t for t in widget.bot_texts() if t.startswith("Here is your appointment")]
    assert f"Time: {chosen}" in summary and summary.endswith("Shall I book it?")
    widget.press_reply("Yes, book it")
    booked = page.locator(".rw-response .rw-message-text").filter(
        has_text="Your appointment is booked")
    expect(booked).to_have_count(1, timeout=WAIT_MS)
    seen = squash(booked.inner_text())
    match = REFERENCE_RE.search(seen)
    assert match, seen
    reference = match.group(0)
    assert seen == squash(render(domain, "utter_appointment_booked", name="Maria Lopez",
                                 reference=reference, when=chosen))

    # the calendar holds exactly one event at that time: the confirmed booking, with the
    # reference the patient was shown
    [row] = [r for r in list_requests(get_engine(rig.database_url))
             if r["reference"] == reference]
    assert row["channel"] == "socketio"
    start = row["appointment_start"].replace(tzinfo=timezone.utc)
    end = row["appointment_end"].replace(tzinfo=timezone.utc)
    assert as_shown(start) == chosen and end > start
    [event] = events_between(rig, start, end)
    assert event.decoded("DTSTART") == start and event.decoded("DTEND") == end
    assert str(event[X_REFERENCE]) == reference
    assert str(event[X_KIND]) == "booking" and str(event["STATUS"]) == "CONFIRMED"
    assert str(event["UID"]) == row["calendar_uid"]
    context.close()
