"""The clinic's CalDAV calendar: busy times, and appointments the assistant writes into it.

The calendar is the clinic's own (Nextcloud, Radicale, Baikal, iCloud, Fastmail, ...), reached
with the ``caldav`` library; events are read with ``icalendar`` and recurrences expanded with
``recurring_ical_events``, so nothing here parses iCalendar text by hand.

How a booking is written so that two conversations never get the same slot:

* :meth:`CalendarClient.hold` writes a ``STATUS:TENTATIVE`` event at once. Its resource name is
  derived from the slot's start (``slot-20261208T140000Z.ics``) and the PUT carries
  ``If-None-Match: *``: the server creates it only if no resource of that name exists, so of two
  conversations holding the same slot at the same moment exactly one succeeds (the other gets
  HTTP 412). Right after the write the slot is read again: if anything else now overlaps it
  (staff typed an event in between, or a hold of an overlapping slot with another start), the
  hold is removed and the slot is not offered. Two overlapping holds with different starts may
  then both give way: never a double booking, at worst one more question to the patient.
* Each hold has an expiry (``X-CLINIC-HOLD-EXPIRES``). An expired hold that was never confirmed
  does not count as busy, is replaced by the next hold of the same slot, and is deleted by
  :meth:`CalendarClient.expire_holds`.
* :meth:`CalendarClient.confirm` turns a hold into the booking (``CONFIRMED``, or ``TENTATIVE``
  when staff confirm bookings themselves); :meth:`~CalendarClient.cancel` deletes it and
  :meth:`~CalendarClient.move` holds the new slot before it lets go of the old one.

Every UID carries a random part besides the slot (``slot-20261208T140000Z-1a2b3c4d@...``), so a
conversation whose hold expired and was replaced can never confirm or cancel someone else's.

Network errors, time-outs, refused passwords and unexpected answers all raise one exception,
:class:`CalendarUnavailable`, so that callers fall back to taking a request for the front desk.
Logs name the operation and the error's kind only: never a summary or a description. What goes
into an event is the caller's choice; this module adds no personal data.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo

import caldav
import icalendar
import recurring_ical_events
from caldav.elements import dav
from caldav.lib.error import DAVError
from lxml.etree import LxmlError
from requests.auth import HTTPBasicAuth

logger = logging.getLogger(__name__)

UTC = timezone.utc
PRODID = "-//Clinic assistant//calendar//EN"
UID_DOMAIN = "clinic-assistant"
DEFAULT_HOLD = timedelta(minutes=15)

# Our own properties on the events we write (RFC 5545 section 3.8.8.2, non-standard properties).
X_KIND = "X-CLINIC-ASSISTANT"  # "hold" until confirmed, then "booking"
X_EXPIRES = "X-CLINIC-HOLD-EXPIRES"  # UTC, basic format; removed on confirm
X_REFERENCE = "X-CLINIC-REFERENCE"  # the request's reference the patient was given

_STAMP = "%Y%m%dT%H%M%SZ"
_UID_RE = re.compile(rf"^(slot-\d{{8}}T\d{{6}}Z)-[0-9a-f]{{8}}@{re.escape(UID_DOMAIN)}$")
_MARGIN = timedelta(days=1)  # all-day and floating events are local to some zone: ask wider
_MAX_CACHED = 256

T = TypeVar("T")
Status = Literal["CONFIRMED", "TENTATIVE"]


class CalendarUnavailable(RuntimeError):  # noqa: N818 (the name callers know it by)
    """The calendar could not be read or written: network, time-out, password or server error."""


@dataclass(frozen=True)
class Busy:
    """A time that is taken in the clinic's calendar (aware datetimes, UTC)."""

    start: datetime
    end: datetime


@dataclass(frozen=True)
class _Occurrence:
    start: datetime
    end: datetime
    uid: str


@dataclass
class _Stored:
    """One event resource as read from the server."""

    href: str
    etag: str | None
    calendar: icalendar.Calendar
    event: icalendar.Event


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _as_utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got {value!r}")
    return value.astimezone(UTC)


def _to_utc(value: date | datetime, tz: ZoneInfo) -> datetime:
    """A DTSTART/DTEND value as aware UTC: dates start at midnight and floating times are
    local to ``tz``; times with a zone (TZID or UTC) keep their own."""
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value.astimezone(UTC)


def slot_name(start: datetime) -> str:
    """The resource name every hold of a slot starting at ``start`` gets: the lock's key."""
    return f"slot-{_as_utc(start, 'start').strftime(_STAMP)}"


def _new_uid(start: datetime) -> str:
    return f"{slot_name(start)}-{secrets.token_hex(4)}@{UID_DOMAIN}"


def _name_of(uid: str) -> str:
    match = _UID_RE.match(uid)
    if match is None:
        raise ValueError(f"not an event UID of this assistant: {uid!r}")
    return match.group(1)


def _text(component: icalendar.cal.Component, name: str) -> str:
    value = component.get(name)
    return str(value).strip() if value is not None else ""


def _expires(event: icalendar.cal.Component) -> datetime | None:
    raw = _text(event, X_EXPIRES)
    if not raw:
        return None
    try:
        return datetime.strptime(raw, _STAMP).replace(tzinfo=UTC)
    except ValueError:
        return None


def _is_open_hold(event: icalendar.cal.Component) -> bool:
    """Our hold that nobody confirmed yet (confirming removes the expiry)."""
    return (_text(event, X_KIND).lower() == "hold"
            and _text(event, "STATUS").upper() == "TENTATIVE"
            and _expires(event) is not None)


def _is_expired_hold(event: icalendar.cal.Component, now: datetime) -> bool:
    expires = _expires(event)
    return _is_open_hold(event) and expires is not None and expires <= now


def _blocks_time(event: icalendar.cal.Component, now: datetime) -> bool:
    """Whether an event (one occurrence) makes its time busy."""
    if _text(event, "TRANSP").upper() == "TRANSPARENT":
        return False
    if _text(event, "STATUS").upper() == "CANCELLED":
        return False
    return not _is_expired_hold(event, now)


def _event_of(calendar: icalendar.Calendar) -> icalendar.Event | None:
    for component in calendar.walk("VEVENT"):
        if "RECURRENCE-ID" not in component:
            return component
    return None


class CalendarClient:
    """One clinic calendar (a CalDAV collection URL), connected on first use.

    ``timeout`` is in seconds and applies to each HTTP request (connecting, and each wait for
    the server's answer). ``tz`` is the clinic's time zone: all-day events and floating times
    are busy in it. Busy times are cached for ``cache_seconds`` per asked range; every write
    through this client empties the cache. Safe to share between threads.
    """

    def __init__(self, url: str, user: str | None, password: str | None, timeout: float,
                 cache_seconds: float = 30, *, tz: ZoneInfo | None = None) -> None:
        self.url = url if url.endswith("/") else url + "/"
        self._user = user
        self._password = password
        self.timeout = timeout
        self.cache_seconds = cache_seconds
        self.tz = tz or ZoneInfo("UTC")
        self._lock = threading.Lock()
        self._client: caldav.DAVClient | None = None
        self._calendar: caldav.Calendar | None = None
        self._cache: dict[tuple[datetime, datetime, str], tuple[float, tuple[Busy, ...]]] = {}

    def __repr__(self) -> str:  # never print the password
        return f"CalendarClient(url={self.url!r}, user={self._user!r})"

    # connection and errors -----------------------------------------------------------------

    def _connect(self) -> tuple[caldav.DAVClient, caldav.Calendar]:
        with self._lock:
            if self._client is None or self._calendar is None:
                # Basic credentials from the first request on: caldav would otherwise send each
                # first request without them, and on a network error retry it (doubling the
                # time-out). A server that wants Digest says so in its 401 and caldav switches.
                auth = (HTTPBasicAuth(self._user, self._password or "")
                        if self._user else None)
                client = caldav.DAVClient(url=self.url, username=self._user,
                                          password=self._password, auth=auth,
                                          timeout=self.timeout)  # type: ignore[arg-type]
                self._calendar = client.calendar(url=self.url)
                self._client = client
            return self._client, self._calendar

    def _call(self, what: str, call: Callable[[], T]) -> T:
        """Run one exchange with the server; any failure becomes :class:`CalendarUnavailable`."""
        started = time.monotonic()
        try:
            return call()
        except (OSError, DAVError, LxmlError, NotImplementedError) as exc:
            # The error's kind only: caldav's messages can quote what the server sent back.
            logger.warning("Calendar unavailable (%s) after %.1fs: %s", what,
                           time.monotonic() - started, type(exc).__name__)
            raise CalendarUnavailable(f"calendar {what} failed: {type(exc).__name__}") from exc

    def _unexpected(self, what: str, status: int) -> CalendarUnavailable:
        logger.warning("Calendar unavailable (%s): the server answered HTTP %d", what, status)
        return CalendarUnavailable(f"calendar {what} failed: HTTP {status}")

    def _request(self, what: str, method: str, href: str, body: str = "",
                 headers: dict[str, str] | None = None) -> Any:
        client, _ = self._connect()
        return self._call(what, lambda: client.request(href, method, body, headers or {}))

    def _href(self, name: str) -> str:
        return f"{self.url}{name}.ics"

    # reading -------------------------------------------------------------------------------

    def invalidate(self) -> None:
        """Forget cached busy times (the calendar changed, or staff want the latest now)."""
        with self._lock:
            self._cache.clear()

    def busy(self, start: datetime, end: datetime, tz: ZoneInfo | None = None) -> list[Busy]:
        """Every busy interval overlapping [start, end), sorted, each as the event has it.

        Recurring events are expanded; all-day events are busy the whole day and floating
        times are read in ``tz`` (default: the client's ``tz``); transparent ("free") and
        cancelled events, and expired holds nobody confirmed, are not busy.
        """
        start, end = _as_utc(start, "start"), _as_utc(end, "end")
        zone = tz or self.tz
        key = (start, end, zone.key)
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None and cached[0] > now:
                return list(cached[1])
        found = tuple(sorted({Busy(o.start, o.end) for o in self._occurrences(start, end, zone)},
                             key=lambda b: (b.start, b.end)))
        with self._lock:
            if len(self._cache) >= _MAX_CACHED:
                self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
            if len(self._cache) < _MAX_CACHED and self.cache_seconds > 0:
                self._cache[key] = (now + self.cache_seconds, found)
        return list(found)

    def _occurrences(self, start: datetime, end: datetime, tz: ZoneInfo) -> list[_Occurrence]:
        """Busy occurrences overlapping [start, end), read from the server (never cached)."""
        _, calendar = self._connect()
        wide_start, wide_end = start - _MARGIN, end + _MARGIN
        objects = self._call("search", lambda: calendar.search(
            start=wide_start, end=wide_end, event=True))
        now = _utcnow()
        found: list[_Occurrence] = []
        for item in objects:
            data = self._call("read", lambda item=item: item.data)
            try:
                parsed = icalendar.Calendar.from_ical(data)
                occurrences = recurring_ical_events.of(parsed).between(wide_start, wide_end)
                for occurrence in occurrences:
                    if not _blocks_time(occurrence, now):
                        continue
                    busy_start = _to_utc(occurrence.start, tz)
                    busy_end = _to_utc(occurrence.end, tz)
                    if busy_start < end and busy_end > start and busy_end > busy_start:
                        found.append(_Occurrence(busy_start, busy_end,
                                                 _text(occurrence, "UID")))
            except (ValueError, KeyError, TypeError) as exc:  # icalendar's errors are ValueErrors
                # An event we cannot read could be anyone's busy time: do not guess it free.
                logger.warning("Calendar unavailable (read): an unreadable event: %s",
                               type(exc).__name__)
                raise CalendarUnavailable("calendar read failed: unreadable event") from exc
        return found

    def _get(self, href: str) -> _Stored | None:
        reply = self._request("get", "GET", href)
        if reply.status == 404:
            return None
        if reply.status != 200:
            raise self._unexpected("get", reply.status)
        try:
            parsed = icalendar.Calendar.from_ical(reply.raw)
        except ValueError as exc:
            logger.warning("Calendar unavailable (get): unreadable event %s", href)
            raise CalendarUnavailable("calendar get failed: unreadable event") from exc
        event = _event_of(parsed)
        if event is None:
            return None
        return _Stored(href=href, etag=reply.headers.get("ETag"), calendar=parsed, event=event)

    def _get_own(self, uid: str) -> _Stored | None:
        """Our event with exactly this UID, or None (gone, or the slot now holds another)."""
        stored = self._get(self._href(_name_of(uid)))
        if stored is None or _text(stored.event, "UID") != uid:
            return None
        return stored

    # writing -------------------------------------------------------------------------------

    def _put(self, what: str, href: str, calendar: icalendar.Calendar,
             condition: dict[str, str]) -> tuple[bool, str | None]:
        """PUT with a precondition; (False, None) when the server answers 412."""
        reply = self._request(what, "PUT", href, calendar.to_ical().decode("utf-8"),
                              {"Content-Type": "text/calendar; charset=utf-8", **condition})
        self.invalidate()
        if reply.status == 412:
            return False, None
        if reply.status not in (200, 201, 204):
            raise self._unexpected(what, reply.status)
        return True, reply.headers.get("ETag")

    def _delete(self, what: str, href: str, etag: str | None) -> bool:
        """DELETE, only if unchanged since read when ``etag`` is known; False if gone/changed."""
        reply = self._request(what, "DELETE", href,
                              headers={"If-Match": etag} if etag else None)
        self.invalidate()
        if reply.status in (404, 412):
            return False
        if reply.status not in (200, 204):
            raise self._unexpected(what, reply.status)
        return True

    def _new_event(self, uid: str, start: datetime, end: datetime, reference: str,
                   summary: str, description: str, expires: datetime) -> icalendar.Calendar:
        calendar = icalendar.Calendar()
        calendar.add("prodid", PRODID)
        calendar.add("version", "2.0")
        event = icalendar.Event()
        now = _utcnow().replace(microsecond=0)
        event.add("uid", uid)
        event.add("dtstamp", now)
        event.add("created", now)
        event.add("dtstart", start)
        event.add("dtend", end)
        event.add("status", "TENTATIVE")
        event.add("transp", "OPAQUE")
        event.add("sequence", 0)
        if summary:
            event.add("summary", summary)
        if description:
            event.add("description", description)
        if reference:
            event.add(X_REFERENCE, reference)
        event.add(X_KIND, "hold")
        event.add(X_EXPIRES, expires.astimezone(UTC).strftime(_STAMP))
        calendar.add_component(event)
        return calendar

    def hold(self, start: datetime, end: datetime, reference: str, summary: str,
             description: str, *, expires_after: timedelta = DEFAULT_HOLD) -> str | None:
        """Hold [start, end) at once with a TENTATIVE event; its UID, or None if taken.

        None when another conversation holds or booked a slot with the same start (HTTP 412
        on ``If-None-Match: *``), or when anything else overlaps the slot right after our
        write (our hold is then removed again).
        """
        return self._hold(start, end, reference, summary, description, expires_after, set())

    def _hold(self, start: datetime, end: datetime, reference: str, summary: str,
              description: str, expires_after: timedelta, replacing: set[str]) -> str | None:
        """:meth:`hold`; events in ``replacing`` (the one being moved) may overlap."""
        start, end = _as_utc(start, "start"), _as_utc(end, "end")
        if end <= start:
            raise ValueError("a slot must end after it starts")
        uid = _new_uid(start)
        href = self._href(slot_name(start))
        body = self._new_event(uid, start, end, reference, summary, description,
                               _utcnow() + expires_after)
        written, etag = self._put("hold", href, body, {"If-None-Match": "*"})
        if not written and self._replace_expired(href):
            written, etag = self._put("hold", href, body, {"If-None-Match": "*"})
        if not written:
            logger.info("Slot %s is already held", slot_name(start))
            return None
        if not self._only_ours({uid, *replacing}, href, etag, start, end):
            return None
        logger.info("Held slot %s", slot_name(start))
        return uid

    def _replace_expired(self, href: str) -> bool:
        """Delete the resource at ``href`` if it is an expired hold nobody confirmed."""
        stored = self._get(href)
        if stored is None:
            return True  # deleted in the meantime: try again
        if not _is_expired_hold(stored.event, _utcnow()):
            return False
        return self._delete("replace expired hold", href, stored.etag)

    def _only_ours(self, uids: set[str], href: str, etag: str | None, start: datetime,
                   end: datetime) -> bool:
        """After writing a hold: is nothing but ``uids`` in [start, end)? If not, take it back."""
        try:
            others = [o for o in self._occurrences(start, end, self.tz) if o.uid not in uids]
        except CalendarUnavailable:
            self._take_back(href, etag)
            raise
        if others:
            logger.info("Slot %s overlaps another event; hold withdrawn", slot_name(start))
            self._take_back(href, etag)
            return False
        return True

    def _take_back(self, href: str, etag: str | None) -> None:
        try:
            self._delete("withdraw hold", href, etag)
        except CalendarUnavailable:
            logger.warning("A withdrawn hold could not be deleted; it expires by itself")

    def confirm(self, uid: str, status: Status, summary: str, description: str) -> bool:
        """Make a hold the booking, with its final summary and description.

        ``status`` is CONFIRMED, or TENTATIVE where staff confirm bookings themselves; either
        way the hold no longer expires. False when the hold is gone (expired and replaced,
        cancelled, or changed by someone else at the same moment).
        """
        if status not in ("CONFIRMED", "TENTATIVE"):
            raise ValueError(f"status must be CONFIRMED or TENTATIVE, got {status!r}")
        stored = self._get_own(uid)
        if stored is None:
            return False
        event = stored.event
        for name in ("STATUS", "SUMMARY", "DESCRIPTION", X_EXPIRES, X_KIND, "DTSTAMP",
                     "LAST-MODIFIED"):
            event.pop(name, None)
        sequence = int(event.pop("SEQUENCE", 0)) + 1
        now = _utcnow().replace(microsecond=0)
        event.add("status", status)
        if summary:
            event.add("summary", summary)
        if description:
            event.add("description", description)
        event.add(X_KIND, "booking")
        event.add("dtstamp", now)
        event.add("last-modified", now)
        event.add("sequence", sequence)
        written, _ = self._put("confirm", stored.href, stored.calendar,
                               {"If-Match": stored.etag} if stored.etag else {})
        if written:
            logger.info("Confirmed the booking of %s as %s", _name_of(uid), status)
        return written

    def cancel(self, uid: str) -> bool:
        """Delete our hold or booking; False when it was not there (any more)."""
        stored = self._get_own(uid)
        if stored is None:
            return False
        deleted = self._delete("cancel", stored.href, stored.etag)
        if deleted:
            logger.info("Cancelled %s", _name_of(uid))
        return deleted

    def move(self, uid: str, new_start: datetime, new_end: datetime,
             *, expires_after: timedelta = DEFAULT_HOLD) -> str | None:
        """Move a hold or booking to [new_start, new_end); the new UID, or None.

        The new slot is held first and the old one deleted only then, so a patient never ends
        up with neither. None when the new slot is taken or the old event is gone. A booking
        stays booked (same status, summary and description); a hold stays a hold.
        """
        new_start, new_end = _as_utc(new_start, "new_start"), _as_utc(new_end, "new_end")
        if new_end <= new_start:
            raise ValueError("a slot must end after it starts")
        old = self._get_own(uid)
        if old is None:
            return None
        if slot_name(new_start) == _name_of(uid):
            return self._resize(uid, old, new_end)
        event = old.event
        new_uid = self._hold(new_start, new_end, _text(event, X_REFERENCE),
                             _text(event, "SUMMARY"), _text(event, "DESCRIPTION"),
                             expires_after, {uid})
        if new_uid is None:
            return None
        new_href = self._href(slot_name(new_start))
        try:
            kept = True
            if not _is_open_hold(event):
                status = _text(event, "STATUS").upper()
                kept = self.confirm(new_uid,
                                    "TENTATIVE" if status == "TENTATIVE" else "CONFIRMED",
                                    _text(event, "SUMMARY"), _text(event, "DESCRIPTION"))
            # The old one changed since we read it (staff edited it?): keep it, undo the new.
            kept = kept and self._delete("move", old.href, old.etag)
        except CalendarUnavailable:
            self._take_back(new_href, None)  # never leave the patient with two bookings
            raise
        if not kept:
            self._take_back(new_href, None)
            return None
        logger.info("Moved %s to %s", _name_of(uid), slot_name(new_start))
        return new_uid

    def _resize(self, uid: str, old: _Stored, new_end: datetime) -> str | None:
        """Same start, new end: rewrite in place, then check nothing else overlaps."""
        start = _to_utc(old.event.start, self.tz)
        original = old.calendar.to_ical()
        old.event.pop("DTEND", None)
        old.event.pop("DURATION", None)
        old.event.add("dtend", new_end)
        written, etag = self._put("move", old.href, old.calendar,
                                  {"If-Match": old.etag} if old.etag else {})
        if not written:
            return None
        restore = {"If-Match": etag} if etag else {}
        try:
            others = [o for o in self._occurrences(start, new_end, self.tz) if o.uid != uid]
        except CalendarUnavailable:
            try:
                self._put("move back", old.href, icalendar.Calendar.from_ical(original), restore)
            except CalendarUnavailable:
                logger.warning("A resized event could not be restored")
            raise
        if others:
            self._put("move back", old.href, icalendar.Calendar.from_ical(original), restore)
            return None
        return uid

    def expire_holds(self, now: datetime, horizon: timedelta = timedelta(days=400)) -> int:
        """Delete our holds whose expiry passed and that nobody confirmed; how many.

        Looks from a week before ``now`` to ``horizon`` after it. A hold confirmed at the same
        moment is kept: the delete is conditional on the version that was read.
        """
        now = _as_utc(now, "now")
        _, calendar = self._connect()
        objects = self._call("search", lambda: calendar.search(
            start=now - timedelta(days=7), end=now + horizon, event=True,
            props=[dav.GetEtag()]))
        deleted = 0
        for item in objects:
            data = self._call("read", lambda item=item: item.data)
            try:
                event = _event_of(icalendar.Calendar.from_ical(data))
            except ValueError:
                continue  # not ours to judge: we only ever delete our own
            if event is None or not _UID_RE.match(_text(event, "UID")):
                continue
            if not _is_expired_hold(event, now):
                continue
            etag = (item.props or {}).get(dav.GetEtag.tag)
            if self._delete("expire hold", str(item.url), str(etag) if etag else None):
                deleted += 1
        if deleted:
            logger.info("Deleted %d expired hold(s)", deleted)
        return deleted
