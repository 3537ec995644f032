"""Staff console commands (no TTY needed).

    python -m staff.manage add-user NAME [--admin]   password from STAFF_PASSWORD or stdin
    python -m staff.manage set-password NAME         password from STAFF_PASSWORD or stdin
    python -m staff.manage list-users
    python -m staff.manage unlock NAME               end a sign-in lock-out now
    python -m staff.manage retention [--days N] [--dry-run]
    python -m staff.manage forget (--sender ID | --phone NUMBER | --email ADDRESS)... [--dry-run]
    python -m staff.manage export-corrections [PATH]   (default results/corrections.yml)

Databases come from DATABASE_URL and TRACKER_DATABASE_URL, as for the servers. Privacy
operations are written to the audit log as done by ``command line (<os user>)``.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import sys
from pathlib import Path

from actions.clinic import get_clinic
from actions.settings import get_settings
from staff.auth import AccountError, Auth
from staff.db import corrections, staff_engine, tracker_engine
from staff.privacy import Person, Privacy
from staff.training import DEFAULT_EXPORT, write_corrections
from web.settings import get_web_settings

logger = logging.getLogger(__name__)


def read_password(confirm: bool = True) -> str:
    """STAFF_PASSWORD, else stdin: prompted twice on a terminal, one line otherwise."""
    password = os.environ.get("STAFF_PASSWORD")
    if password:
        return password
    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if confirm and getpass.getpass("Again: ") != password:
            raise AccountError("the passwords differ")
        return password
    return sys.stdin.readline().rstrip("\r\n")


def actor() -> str:
    try:
        name = getpass.getuser()
    except Exception:  # no user name in this environment
        name = "unknown"
    return f"command line ({name})"[:64]


def _auth() -> Auth:
    engine = staff_engine(get_settings().database_url)
    return Auth(engine, get_web_settings().secret_key)


def _privacy() -> Privacy:
    return Privacy(staff_engine(get_settings().database_url),
                   tracker_engine(get_web_settings().tracker_database_url))


def cmd_add_user(args: argparse.Namespace) -> int:
    user = _auth().create_user(args.name, read_password(), is_admin=args.admin)
    print(f"Created {'admin ' if user.is_admin else ''}account {user.username}")
    return 0


def cmd_set_password(args: argparse.Namespace) -> int:
    _auth().set_password(args.name, read_password())
    print(f"Password changed for {args.name}; its sessions were ended")
    return 0


def cmd_list_users(_: argparse.Namespace) -> int:
    for user in _auth().users():
        role = "admin" if user["is_admin"] else "staff"
        state = "" if user["active"] else " (disabled)"
        print(f"{user['username']}\t{role}{state}")
    return 0


def cmd_unlock(args: argparse.Namespace) -> int:
    count = _auth().unlock(args.name)
    print(f"Unlocked {args.name} ({count} failed sign-ins forgotten)")
    return 0


def _print_counts(title: str, counts: dict[str, int]) -> None:
    print(title)
    for name, value in counts.items():
        print(f"  {name:<14}{value}")


def cmd_retention(args: argparse.Namespace) -> int:
    days = args.days if args.days is not None else get_web_settings().retention_days
    counts = _privacy().retention(days, actor(), dry_run=args.dry_run)
    verb = "Would delete" if args.dry_run else "Deleted"
    _print_counts(f"{verb} (retention {days} days):", counts.as_dict())
    return 0


def cmd_forget(args: argparse.Namespace) -> int:
    region = get_clinic(get_settings().clinic_config).country
    person = Person.parse(args.sender, args.phone, args.email, region)
    counts = _privacy().forget(person, actor(), dry_run=args.dry_run)
    verb = "Would delete" if args.dry_run else "Deleted"
    _print_counts(f"{verb}:", counts.as_dict())
    return 0


def cmd_export_corrections(args: argparse.Namespace) -> int:
    rows = corrections(staff_engine(get_settings().database_url))
    path = Path(args.path) if args.path else DEFAULT_EXPORT
    count = write_corrections(rows, path)
    print(f"Wrote {count} example{'s' if count != 1 else ''} to {path} (review before adding "
          "them to data/nlu/)")
    return 0


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="python -m staff.manage",
                                   description="Staff console commands.")
    sub = main.add_subparsers(dest="command", required=True)

    add = sub.add_parser("add-user", help="create a staff account")
    add.add_argument("name")
    add.add_argument("--admin", action="store_true", help="may see the audit log and forget")
    add.set_defaults(func=cmd_add_user)

    password = sub.add_parser("set-password", help="change an account's password")
    password.add_argument("name")
    password.set_defaults(func=cmd_set_password)

    sub.add_parser("list-users", help="list the accounts").set_defaults(func=cmd_list_users)

    unlock = sub.add_parser("unlock", help="end a sign-in lock-out")
    unlock.add_argument("name")
    unlock.set_defaults(func=cmd_unlock)

    retention = sub.add_parser("retention", help="delete what is older than RETENTION_DAYS")
    retention.add_argument("--days", type=int, help="instead of RETENTION_DAYS")
    retention.add_argument("--dry-run", action="store_true", help="only count")
    retention.set_defaults(func=cmd_retention)

    forget = sub.add_parser("forget", help="delete everything about one person")
    forget.add_argument("--sender", help="conversation id (Rasa sender id)")
    forget.add_argument("--phone", help="phone number (any usual format)")
    forget.add_argument("--email", help="e-mail address")
    forget.add_argument("--dry-run", action="store_true", help="only count")
    forget.set_defaults(func=cmd_forget)

    export = sub.add_parser("export-corrections", help="write corrections as Rasa NLU YAML")
    export.add_argument("path", nargs="?", help=f"default {DEFAULT_EXPORT}")
    export.set_defaults(func=cmd_export_corrections)
    return main


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "WARNING"),
                        format="%(levelname)s %(name)s %(message)s")
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (AccountError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
