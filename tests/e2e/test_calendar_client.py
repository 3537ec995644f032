"""The CalDAV client (``actions.calendar``) against two real CalDAV servers, Radicale and
Xandikos: every test that needs a server runs once on each (``kind``).

Events that staff would type in another calendar program are stored as iCalendar text over
HTTP, the way such a program writes them; the client must read them as busy time the way a
person reads the calendar. Holds are checked on the server's storage, not only through the
client. These tests start no assistant (they never ask for the ``assistant`` fixture).
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from actions.calendar import Busy, CalendarClient, CalendarUnavailable
from tests.caldav_server import SERVERS, LocalCalDavServer, caldav_server

UTC = timezone.utc
NEW_YORK = ZoneInfo("America/New_York")
PASSWORD = "not-a-secret-calendar-password"

VTIMEZONE_NEW_YORK = """BEGIN:VTIMEZONE
TZID:America/New_York
BEGIN:DAYLIGHT
TZOFFSETFROM:-0500
TZOFFSETTO:-0400
TZNAME:EDT
DTSTART:20070311T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:-0400
TZOFFSETTO:-0500
TZNAME:EST
DTSTART:20071104T020000
RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU
END:STANDARD
END:VTIMEZONE
"""

# What Outlook writes: a zone known only by its VTIMEZONE, under a name no tz database has.
VTIMEZONE_PACIFIC_OUTLOOK = """BEGIN:VTIMEZONE
TZID:Clinic Test Pacific Time
BEGIN:STANDARD
DTSTART:16010101T020000
TZOFFSETFROM:-0700
TZOFFSETTO:-0800
RRULE:FREQ=YEARLY;BYDAY=1SU;BYMONTH=11
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:16010101T020000
TZOFFSETFROM:-0800
TZOFFSETTO:-0700
RRULE:FREQ=YEARLY;BYDAY=2SU;BYMONTH=3
END:DAYLIGHT
END:VTIMEZONE
"""


def ics(*events: str, timezones: str = "") -> str:
    body = "".join(events)
    text = f"BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//Staff calendar//EN\n{timezones}{body}" \
           "END:VCALENDAR\n"
    return text.replace("\n", "\r\n")


def vevent(uid: str, *lines: str) -> str:
    return "BEGIN:VEVENT\nUID:{}\nDTSTAMP:20260101T000000Z\n{}\nEND:VEVENT\n".format(
        uid, "\n".join(lines))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def busy(start: datetime, end: datetime) -> Busy:
    return Busy(start, end)


@pytest.fixture(scope="module", params=sorted(SERVERS))
def kind(request: pytest.FixtureRequest) -> str:
    """Which CalDAV server the tests of this round run on."""
    return request.param


@pytest.fixture(scope="module")
def server(kind: str) -> Iterator[LocalCalDavServer]:
    with caldav_server(kind, password=PASSWORD) as running:
        yield running


OwnServer = Callable[[], LocalCalDavServer]


@pytest.fixture()
def own_server(kind: str) -> Iterator[OwnServer]:
    """Start a test's own server of this round's kind (one it may stop and start again)."""
    started: list[LocalCalDavServer] = []

    def start() -> LocalCalDavServer:
        own = caldav_server(kind, password=PASSWORD)
        started.append(own)
        own.start()
        return own

    yield start
    for own in started:
        own.close()


@pytest.fixture()
def calendar_url(server: LocalCalDavServer) -> str:
    """A fresh, empty calendar collection for each test."""
    return server.make_calendar(f"test-{uuid.uuid4().hex[:10]}")


@pytest.fixture()
def client(server: LocalCalDavServer, calendar_url: str) -> CalendarClient:
    return CalendarClient(calendar_url, server.user, server.password, timeout=5, tz=NEW_YORK)


def _collection(calendar_url: str) -> str:
    return calendar_url.rstrip("/").rsplit("/", 1)[1]


def names(server: LocalCalDavServer, calendar_url: str) -> list[str]:
    return server.event_names(_collection(calendar_url))


def stored_text(server: LocalCalDavServer, calendar_url: str, name: str) -> str:
    """An event as the server stored it (its file in the server's storage folder)."""
    return server.stored_text(_collection(calendar_url), name)


# reading busy time ---------------------------------------------------------------------------


def test_a_plain_event_is_busy_in_utc(server, calendar_url, client):
    server.put_event(calendar_url, "visit", ics(vevent(
        "plain-1", "DTSTART;TZID=America/New_York:20261208T100000",
        "DTEND;TZID=America/New_York:20261208T110000", "SUMMARY:Team meeting"),
        timezones=VTIMEZONE_NEW_YORK))
    assert client.busy(utc(2026, 12, 8, 0), utc(2026, 12, 9, 0)) == [
        busy(utc(2026, 12, 8, 15), utc(2026, 12, 8, 16))]
    # overlapping the edge of the asked range counts; touching it does not
    assert client.busy(utc(2026, 12, 8, 15, 30), utc(2026, 12, 8, 17)) == [
        busy(utc(2026, 12, 8, 15), utc(2026, 12, 8, 16))]
    assert client.busy(utc(2026, 12, 8, 16), utc(2026, 12, 8, 17)) == []
    assert client.busy(utc(2026, 12, 8, 12), utc(2026, 12, 8, 15)) == []


def test_a_weekly_lunch_break_is_busy_every_week(server, calendar_url, client):
    server.put_event(calendar_url, "lunch", ics(
        vevent("lunch-1", "DTSTART;TZID=America/New_York:20261201T120000",
               "DTEND;TZID=America/New_York:20261201T130000",
               "RRULE:FREQ=WEEKLY;BYDAY=TU", "EXDATE;TZID=America/New_York:20261215T120000",
               "SUMMARY:Lunch"),
        # one week lunch is later; another week it is cancelled
        vevent("lunch-1", "RECURRENCE-ID;TZID=America/New_York:20261222T120000",
               "DTSTART;TZID=America/New_York:20261222T140000",
               "DTEND;TZID=America/New_York:20261222T150000", "SUMMARY:Lunch"),
        vevent("lunch-1", "RECURRENCE-ID;TZID=America/New_York:20261229T120000",
               "DTSTART;TZID=America/New_York:20261229T120000",
               "DTEND;TZID=America/New_York:20261229T130000", "STATUS:CANCELLED"),
        timezones=VTIMEZONE_NEW_YORK))
    found = client.busy(utc(2026, 12, 1), utc(2027, 1, 13))
    assert found == [
        busy(utc(2026, 12, 1, 17), utc(2026, 12, 1, 18)),
        busy(utc(2026, 12, 8, 17), utc(2026, 12, 8, 18)),
        # 15 December: EXDATE
        busy(utc(2026, 12, 22, 19), utc(2026, 12, 22, 20)),  # moved that week
        # 29 December: that occurrence is cancelled
        busy(utc(2027, 1, 5, 17), utc(2027, 1, 5, 18)),
        busy(utc(2027, 1, 12, 17), utc(2027, 1, 12, 18)),
    ]


def test_an_all_day_event_is_busy_the_whole_day_in_the_clinics_zone(server, calendar_url,
                                                                      client):
    server.put_event(calendar_url, "closed", ics(vevent(
        "closed-1", "DTSTART;VALUE=DATE:20261224", "DTEND;VALUE=DATE:20261226",
        "SUMMARY:Clinic closed", "TRANSP:OPAQUE")))
    day_start = datetime(2026, 12, 24, tzinfo=NEW_YORK).astimezone(UTC)
    day_end = datetime(2026, 12, 26, tzinfo=NEW_YORK).astimezone(UTC)
    assert client.busy(utc(2026, 12, 23), utc(2026, 12, 28)) == [busy(day_start, day_end)]
    # early on the 24th in New York is still the 24th (it is 10:00 UTC there, not midnight)
    assert client.busy(utc(2026, 12, 24, 3), utc(2026, 12, 24, 5)) == []
    assert client.busy(utc(2026, 12, 24, 5), utc(2026, 12, 24, 6)) == [busy(day_start, day_end)]
    # another zone asked explicitly
    assert client.busy(utc(2026, 12, 23), utc(2026, 12, 28), tz=ZoneInfo("UTC")) == [
        busy(utc(2026, 12, 24), utc(2026, 12, 26))]


def test_floating_times_are_read_in_the_clinics_zone(server, calendar_url, client):
    server.put_event(calendar_url, "floating", ics(vevent(
        "floating-1", "DTSTART:20261208T090000", "DTEND:20261208T093000")))
    assert client.busy(utc(2026, 12, 8), utc(2026, 12, 9)) == [
        busy(utc(2026, 12, 8, 14), utc(2026, 12, 8, 14, 30))]


def test_events_in_other_time_zones_are_converted(server, calendar_url, client):
    server.put_event(calendar_url, "la", ics(vevent(
        "la-1", "DTSTART;TZID=America/Los_Angeles:20261208T090000", "DURATION:PT1H")))
    server.put_event(calendar_url, "outlook", ics(vevent(
        "outlook-1", 'DTSTART;TZID="Clinic Test Pacific Time":20260707T090000',
        'DTEND;TZID="Clinic Test Pacific Time":20260707T100000'),
        timezones=VTIMEZONE_PACIFIC_OUTLOOK))
    server.put_event(calendar_url, "utc", ics(vevent(
        "utc-1", "DTSTART:20261208T200000Z", "DTEND:20261208T203000Z")))
    assert client.busy(utc(2026, 12, 8), utc(2026, 12, 9)) == [
        busy(utc(2026, 12, 8, 17), utc(2026, 12, 8, 18)),  # 9:00 PST
        busy(utc(2026, 12, 8, 20), utc(2026, 12, 8, 20, 30)),
    ]
    assert client.busy(utc(2026, 7, 7), utc(2026, 7, 8)) == [
        busy(utc(2026, 7, 7, 16), utc(2026, 7, 7, 17))]  # 9:00 PDT, from the VTIMEZONE rules


def test_free_and_cancelled_events_are_not_busy(server, calendar_url, client):
    server.put_event(calendar_url, "free", ics(vevent(
        "free-1", "DTSTART:20261208T150000Z", "DTEND:20261208T160000Z", "TRANSP:TRANSPARENT",
        "SUMMARY:Reminder")))
    server.put_event(calendar_url, "cancelled", ics(vevent(
        "cancelled-1", "DTSTART:20261208T170000Z", "DTEND:20261208T180000Z",
        "STATUS:CANCELLED")))
    server.put_event(calendar_url, "tentative", ics(vevent(
        "tentative-1", "DTSTART:20261208T190000Z", "DTEND:20261208T200000Z",
        "STATUS:TENTATIVE")))
    assert client.busy(utc(2026, 12, 8), utc(2026, 12, 9)) == [
        busy(utc(2026, 12, 8, 19), utc(2026, 12, 8, 20))]


def test_a_range_across_the_dst_change(server, calendar_url, client):
    # Clocks go forward in the US at 2:00 on Sunday 14 March 2027: 9:00 is 14:00 UTC before,
    # 13:00 UTC after.
    server.put_event(calendar_url, "daily", ics(vevent(
        "daily-1", "DTSTART;TZID=America/New_York:20270312T090000",
        "DTEND;TZID=America/New_York:20270312T100000", "RRULE:FREQ=DAILY;COUNT=5"),
        timezones=VTIMEZONE_NEW_YORK))
    assert [b.start for b in client.busy(utc(2027, 3, 10), utc(2027, 3, 20))] == [
        utc(2027, 3, 12, 14), utc(2027, 3, 13, 14), utc(2027, 3, 14, 13),
        utc(2027, 3, 15, 13), utc(2027, 3, 16, 13)]


def test_busy_needs_aware_datetimes(client):
    with pytest.raises(ValueError):
        client.busy(datetime(2026, 12, 8), datetime(2026, 12, 9))


# holding, confirming, cancelling, moving ---------------------------------------------------


def test_the_same_slot_is_held_once(server, calendar_url, client):
    start = utc(2026, 12, 8, 14)
    uid = client.hold(start, start + timedelta(minutes=45), "K7Q2X9", "Appointment", "")
    assert uid is not None and uid.startswith("slot-20261208T140000Z-")
    assert uid.endswith("@clinic-assistant")
    assert names(server, calendar_url) == ["slot-20261208T140000Z"]
    assert client.busy(utc(2026, 12, 8), utc(2026, 12, 9)) == [
        busy(start, start + timedelta(minutes=45))]
    other = CalendarClient(calendar_url, server.user, server.password, timeout=5, tz=NEW_YORK)
    assert other.hold(start, start + timedelta(minutes=30), "ABC123", "Appointment", "") is None
    assert client.hold(start, start + timedelta(minutes=45), "K7Q2X9", "Appointment", "") is None
    assert names(server, calendar_url) == ["slot-20261208T140000Z"]
    text = stored_text(server, calendar_url, "slot-20261208T140000Z")
    assert "STATUS:TENTATIVE" in text and "X-CLINIC-HOLD-EXPIRES:" in text
    assert "X-CLINIC-REFERENCE:K7Q2X9" in text


def test_ten_conversations_holding_one_slot_at_once_get_it_once(server, calendar_url):
    start = utc(2026, 12, 9, 15)
    barrier = threading.Barrier(10)
    results: list[str | None] = []
    errors: list[BaseException] = []

    def hold(n: int) -> None:
        mine = CalendarClient(calendar_url, server.user, server.password, timeout=10)
        try:
            barrier.wait(timeout=10)
            results.append(mine.hold(start, start + timedelta(minutes=30), f"REF{n:03d}",
                                     "Appointment", ""))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=hold, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert len(results) == 10
    assert len([uid for uid in results if uid is not None]) == 1
    assert names(server, calendar_url) == ["slot-20261209T150000Z"]


def test_a_hold_over_someone_elses_event_is_withdrawn(server, calendar_url, client):
    server.put_event(calendar_url, "staff", ics(vevent(
        "staff-1", "DTSTART:20261210T140000Z", "DTEND:20261210T150000Z")))
    start = utc(2026, 12, 10, 14, 30)  # another start, so the PUT itself succeeds
    assert client.hold(start, start + timedelta(minutes=30), "K7Q2X9", "Appointment", "") is None
    assert names(server, calendar_url) == ["staff"]


def test_hold_confirm_and_cancel(server, calendar_url, client):
    start = utc(2026, 12, 11, 16)
    uid = client.hold(start, start + timedelta(hours=1), "K7Q2X9", "Hold", "")
    assert uid is not None
    assert client.confirm(uid, "CONFIRMED", "Acupuncture - new patient", "Reference K7Q2X9")
    text = stored_text(server, calendar_url, "slot-20261211T160000Z")
    assert "STATUS:CONFIRMED" in text and "SUMMARY:Acupuncture - new patient" in text
    assert "X-CLINIC-HOLD-EXPIRES" not in text
    assert client.busy(utc(2026, 12, 11), utc(2026, 12, 12)) == [
        busy(start, start + timedelta(hours=1))]
    assert client.cancel(uid) is True
    assert names(server, calendar_url) == []
    assert client.busy(utc(2026, 12, 11), utc(2026, 12, 12)) == []
    assert client.cancel(uid) is False
    assert client.confirm(uid, "CONFIRMED", "x", "") is False
    # the slot is free again for the next patient
    assert client.hold(start, start + timedelta(hours=1), "ZZZ999", "Hold", "") is not None


def test_move_holds_the_new_slot_before_letting_go_of_the_old(server, calendar_url, client):
    start = utc(2026, 12, 14, 14)
    uid = client.hold(start, start + timedelta(minutes=30), "K7Q2X9", "Hold", "")
    assert uid is not None and client.confirm(uid, "TENTATIVE", "Appointment", "")
    server.put_event(calendar_url, "staff", ics(vevent(
        "staff-1", "DTSTART:20261214T160000Z", "DTEND:20261214T170000Z")))
    # into a taken slot: nothing changes
    assert client.move(uid, utc(2026, 12, 14, 16), utc(2026, 12, 14, 16, 30)) is None
    assert names(server, calendar_url) == ["slot-20261214T140000Z", "staff"]
    # into a free one: the booking moves, still a (staff-to-confirm) booking
    new_uid = client.move(uid, utc(2026, 12, 14, 15), utc(2026, 12, 14, 15, 30))
    assert new_uid is not None and new_uid != uid
    assert names(server, calendar_url) == ["slot-20261214T150000Z", "staff"]
    assert client.busy(utc(2026, 12, 14), utc(2026, 12, 15)) == [
        busy(utc(2026, 12, 14, 15), utc(2026, 12, 14, 15, 30)),
        busy(utc(2026, 12, 14, 16), utc(2026, 12, 14, 17))]
    text = stored_text(server, calendar_url, "slot-20261214T150000Z")
    assert "STATUS:TENTATIVE" in text and "X-CLINIC-HOLD-EXPIRES" not in text
    assert "X-CLINIC-REFERENCE:K7Q2X9" in text
    # the same start, longer: rewritten in place, but not over the staff event
    assert client.move(new_uid, utc(2026, 12, 14, 15), utc(2026, 12, 14, 16)) == new_uid
    assert client.move(new_uid, utc(2026, 12, 14, 15), utc(2026, 12, 14, 16, 30)) is None
    assert client.busy(utc(2026, 12, 14, 15), utc(2026, 12, 14, 16)) == [
        busy(utc(2026, 12, 14, 15), utc(2026, 12, 14, 16))]
    assert client.move(uid, utc(2026, 12, 14, 18), utc(2026, 12, 14, 19)) is None  # old UID


def test_a_booking_moves_by_less_than_its_length(server, calendar_url, client):
    uid = client.hold(utc(2026, 12, 21, 14), utc(2026, 12, 21, 15), "K7Q2X9", "Hold", "")
    assert uid is not None and client.confirm(uid, "CONFIRMED", "Appointment", "")
    new_uid = client.move(uid, utc(2026, 12, 21, 14, 30), utc(2026, 12, 21, 15, 30))
    assert new_uid is not None
    assert names(server, calendar_url) == ["slot-20261221T143000Z"]
    assert "STATUS:CONFIRMED" in stored_text(server, calendar_url, "slot-20261221T143000Z")


def test_expired_holds_are_free_replaced_and_deleted(server, calendar_url, client):
    start = utc(2026, 12, 15, 14)
    stale = client.hold(start, start + timedelta(minutes=30), "OLD111", "Hold", "",
                        expires_after=timedelta(seconds=-1))
    kept = client.hold(start + timedelta(hours=1), start + timedelta(hours=2), "KEEP22", "Hold",
                       "", expires_after=timedelta(hours=1))
    booked = client.hold(start + timedelta(hours=3), start + timedelta(hours=4), "BOOK33",
                         "Hold", "", expires_after=timedelta(seconds=-1))
    assert stale and kept and booked
    assert client.confirm(booked, "CONFIRMED", "Appointment", "")  # confirmed in time
    # an expired hold is not busy, and the next patient gets the slot
    assert client.busy(start, start + timedelta(minutes=30)) == []
    fresh = client.hold(start, start + timedelta(minutes=30), "NEW444", "Hold", "")
    assert fresh is not None and fresh != stale
    assert client.confirm(stale, "CONFIRMED", "Appointment", "") is False  # not theirs now
    assert client.cancel(stale) is False
    # the sweep: nothing has expired yet; two hours on, the unconfirmed ones go
    assert client.expire_holds(datetime.now(UTC)) == 0
    assert client.expire_holds(datetime.now(UTC) + timedelta(hours=2)) == 2
    assert names(server, calendar_url) == ["slot-20261215T170000Z"]


def test_staff_events_are_never_expired(server, calendar_url, client):
    server.put_event(calendar_url, "staff", ics(vevent(
        "staff-1", "DTSTART:20261216T140000Z", "DTEND:20261216T150000Z", "STATUS:TENTATIVE",
        "X-CLINIC-ASSISTANT:hold", "X-CLINIC-HOLD-EXPIRES:20000101T000000Z")))
    assert client.expire_holds(datetime.now(UTC)) == 0
    assert names(server, calendar_url) == ["staff"]


# faults -------------------------------------------------------------------------------------


def test_a_wrong_password_makes_the_calendar_unavailable(server, calendar_url):
    wrong = CalendarClient(calendar_url, server.user, "wrong-password", timeout=5)
    with pytest.raises(CalendarUnavailable):
        wrong.busy(utc(2026, 12, 8), utc(2026, 12, 9))
    with pytest.raises(CalendarUnavailable):
        wrong.hold(utc(2026, 12, 8, 14), utc(2026, 12, 8, 15), "K7Q2X9", "Hold", "")
    anonymous = CalendarClient(calendar_url, None, None, timeout=5)
    with pytest.raises(CalendarUnavailable):
        anonymous.busy(utc(2026, 12, 8), utc(2026, 12, 9))


def test_a_stopped_server_is_unavailable_at_once_and_back_after_restart(own_server, caplog):
    with own_server() as own:
        client = CalendarClient(own.url, own.user, own.password, timeout=2, cache_seconds=0)
        uid = client.hold(utc(2026, 12, 17, 14), utc(2026, 12, 17, 15), "K7Q2X9",
                          "Secret summary", "Secret description")
        assert uid is not None
        own.stop()
        began = time.monotonic()
        with pytest.raises(CalendarUnavailable):
            client.busy(utc(2026, 12, 17), utc(2026, 12, 18))
        with pytest.raises(CalendarUnavailable):
            client.hold(utc(2026, 12, 17, 16), utc(2026, 12, 17, 17), "K7Q2X9", "Secret", "")
        with pytest.raises(CalendarUnavailable):
            client.confirm(uid, "CONFIRMED", "Secret summary", "Secret description")
        with pytest.raises(CalendarUnavailable):
            client.cancel(uid)
        assert time.monotonic() - began < 2
        own.start()
        assert client.busy(utc(2026, 12, 17), utc(2026, 12, 18)) == [
            busy(utc(2026, 12, 17, 14), utc(2026, 12, 17, 15))]
        assert client.confirm(uid, "CONFIRMED", "Secret summary", "Secret description")
    warnings = [r for r in caplog.records if r.name == "actions.calendar"]
    assert warnings and all("Secret" not in r.getMessage() for r in caplog.records)


def test_a_server_that_never_answers_times_out():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)  # accepts connections (the kernel does), never answers them
        port = silent.getsockname()[1]
        client = CalendarClient(f"http://127.0.0.1:{port}/clinic/calendar/", "clinic",
                                PASSWORD, timeout=0.5)
        began = time.monotonic()
        with pytest.raises(CalendarUnavailable):
            client.busy(utc(2026, 12, 8), utc(2026, 12, 9))
        assert time.monotonic() - began < 1.5


def test_busy_times_are_cached_then_asked_again(own_server):
    with own_server() as own:
        own.put_event(own.url, "staff", ics(vevent(
            "staff-1", "DTSTART:20261218T140000Z", "DTEND:20261218T150000Z")))
        client = CalendarClient(own.url, own.user, own.password, timeout=2, cache_seconds=0.5)
        first = client.busy(utc(2026, 12, 18), utc(2026, 12, 19))
        assert first == [busy(utc(2026, 12, 18, 14), utc(2026, 12, 18, 15))]
        own.stop()
        # within cache_seconds: answered from the cache, the server is not asked
        assert client.busy(utc(2026, 12, 18), utc(2026, 12, 19)) == first
        # another range is another question
        with pytest.raises(CalendarUnavailable):
            client.busy(utc(2026, 12, 18), utc(2026, 12, 20))
        time.sleep(0.6)
        with pytest.raises(CalendarUnavailable):
            client.busy(utc(2026, 12, 18), utc(2026, 12, 19))
        own.start()
        assert client.busy(utc(2026, 12, 18), utc(2026, 12, 19)) == first
        # a write through the client empties the cache at once
        client.cache_seconds = 60
        assert client.hold(utc(2026, 12, 18, 16), utc(2026, 12, 18, 17), "K7Q2X9", "Hold", "")
        assert client.busy(utc(2026, 12, 18), utc(2026, 12, 19)) == [
            busy(utc(2026, 12, 18, 14), utc(2026, 12, 18, 15)),
            busy(utc(2026, 12, 18, 16), utc(2026, 12, 18, 17))]
        own.stop()
        client.invalidate()
        with pytest.raises(CalendarUnavailable):
            client.busy(utc(2026, 12, 18), utc(2026, 12, 19))
