"""The tests' CalDAV servers (scripts/caldav_server.py): Radicale, the one `make run`'s calendar
demo starts too, and Xandikos, a second server the calendar client is tested against."""

from scripts.caldav_server import (
    SERVERS,
    CalDavServer,
    LocalCalDavServer,
    RadicaleServer,
    XandikosServer,
    caldav_server,
)

__all__ = ["SERVERS", "CalDavServer", "LocalCalDavServer", "RadicaleServer", "XandikosServer",
           "caldav_server"]
