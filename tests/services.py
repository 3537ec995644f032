"""Real PostgreSQL and Redis servers for tests, started from Debian's packages.

Each server is a throwaway: its own temporary directory, a free port on loopback, no system
service involved. Use them as context managers; ``stop()`` and ``start()`` restart one in the
middle of a test (PostgreSQL keeps its data directory across a restart; Redis runs without
persistence, so a restart empties it). Everything is stopped and removed on exit, also when the
test fails.

    with PostgresServer() as pg, RedisServer() as redis:
        pg.create_database("clinic")       # -> postgresql://clinic:...@127.0.0.1:<port>/clinic
        redis.url                          # -> redis://:...@127.0.0.1:<port>/0

The binaries come from ``make services`` (``scripts/install-services.sh``: apt-get install
postgresql redis-server). When they are missing, :class:`ServiceMissingError` says so; tests turn it
into a failure, never a skip.
"""

from __future__ import annotations

import glob
import logging
import os
import pwd
import re
import secrets
import shutil
import signal
from pathlib import Path

import psycopg2
import redis
from psycopg2 import sql

from scripts.local_server import LocalServer

logger = logging.getLogger(__name__)

INSTALL_HINT = "run `make services` (apt-get install postgresql redis-server)"


class ServiceMissingError(RuntimeError):
    """A server binary the tests need is not installed."""


def _postgres_bin_dir() -> Path:
    """The newest ``/usr/lib/postgresql/<version>/bin`` with initdb and postgres."""

    def version(path: str) -> int:
        match = re.search(r"/postgresql/(\d+)/", path)
        return int(match.group(1)) if match else 0

    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=version)
    for initdb in reversed(candidates):
        bin_dir = Path(initdb).parent
        if (bin_dir / "postgres").exists():
            return bin_dir
    raise ServiceMissingError(f"PostgreSQL server binaries not found in /usr/lib/postgresql: "
                         f"{INSTALL_HINT}")


def _redis_binary() -> str:
    found = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None)
    if found is None:
        raise ServiceMissingError(f"redis-server not found: {INSTALL_HINT}")
    return found


def _unprivileged_user() -> pwd.struct_passwd | None:
    """PostgreSQL refuses to run as root: as root, run it as ``postgres`` (or ``nobody``)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise ServiceMissingError("running as root and there is no postgres user: " + INSTALL_HINT)


def _chown_tree(path: Path, user: pwd.struct_passwd) -> None:
    for root, dirs, files in os.walk(path):
        for name in (root, *(os.path.join(root, d) for d in dirs),
                     *(os.path.join(root, f) for f in files)):
            os.chown(name, user.pw_uid, user.pw_gid)


class PostgresServer(LocalServer):
    """A throwaway PostgreSQL cluster: initdb in a temp dir, postgres on a free loopback port.

    Password authentication (scram-sha-256) for the superuser ``clinic``, as a real deployment
    would have it; the socket directory is inside the temp dir, so nothing in /var/run is used.
    """

    name = "postgres"
    superuser = "clinic"

    def __init__(self, base_dir: Path | None = None) -> None:
        self.bin_dir = _postgres_bin_dir()
        self.user = _unprivileged_user()
        super().__init__(base_dir)
        self.password = secrets.token_hex(12)
        self.data_dir = self.dir / "data"
        self.socket_dir = self.dir / "socket"
        self._initialised = False

    def __enter__(self) -> PostgresServer:
        super().__enter__()
        return self

    def url(self, database: str = "postgres") -> str:
        return (f"postgresql://{self.superuser}:{self.password}@127.0.0.1:{self.port}/"
                f"{database}")

    def _initdb(self) -> None:
        self.socket_dir.mkdir(exist_ok=True)
        password_file = self.dir / "pwfile"
        password_file.write_text(self.password + "\n")
        if self.user is not None:
            _chown_tree(self.dir, self.user)
        os.chmod(self.dir, 0o700)
        self._spawn([str(self.bin_dir / "initdb"), "-D", str(self.data_dir),
                     "-U", self.superuser, f"--pwfile={password_file}",
                     "--auth=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"],
                    self.user)
        assert self.process is not None
        code = self.process.wait(timeout=120)
        self.process = None
        self._close_log()
        password_file.unlink()
        if code != 0:
            raise RuntimeError(f"initdb failed with code {code}:\n{self.log_tail()}")
        self._initialised = True

    def _start(self) -> None:
        if not self._initialised:
            self._initdb()
        # Durability off: a throwaway cluster; a stop()/start() still keeps every commit
        # (a clean shutdown writes everything out).
        self._spawn([str(self.bin_dir / "postgres"), "-D", str(self.data_dir),
                     "-p", str(self.port), "-k", str(self.socket_dir),
                     "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                     "-c", "full_page_writes=off", "-c", "max_connections=200",
                     "-c", "shared_buffers=32MB"], self.user)

    def _ready(self) -> bool:
        try:
            psycopg2.connect(self.url(), connect_timeout=2).close()
        except psycopg2.OperationalError:
            return False
        return True

    def stop(self, sig: signal.Signals = signal.SIGINT, grace: float = 30.0) -> None:
        """SIGINT is PostgreSQL's "fast" shutdown: open connections are cut, commits kept."""
        super().stop(sig, grace)

    def create_database(self, name: str) -> str:
        """Create an empty database; return its SQLAlchemy URL."""
        connection = psycopg2.connect(self.url(), connect_timeout=10)
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        finally:
            connection.close()
        return self.url(name)


class RedisServer(LocalServer):
    """A throwaway redis-server on a free loopback port: no persistence, a password."""

    name = "redis"

    def __init__(self, base_dir: Path | None = None) -> None:
        self.binary = _redis_binary()
        super().__init__(base_dir)
        self.password = secrets.token_hex(12)

    def __enter__(self) -> RedisServer:
        super().__enter__()
        return self

    def url_for(self, db: int = 0) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/{db}"

    @property
    def url(self) -> str:
        return self.url_for(0)

    def client(self, db: int = 0) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, db=db, password=self.password,
                           socket_timeout=5)

    def _start(self) -> None:
        self._spawn([self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                     "--save", "", "--appendonly", "no", "--dir", str(self.dir),
                     "--daemonize", "no", "--protected-mode", "yes",
                     "--requirepass", self.password, "--loglevel", "warning"])

    def _ready(self) -> bool:
        try:
            return bool(self.client().ping())
        except redis.RedisError:
            return False
