"""The tests' CalDAV server: the one `make run`'s calendar demo starts too
(scripts/caldav_server.py)."""

from scripts.caldav_server import CalDavServer

__all__ = ["CalDavServer"]
