"""A local server process for tests and demos: its own temporary folder, a free loopback port,
its own process group and log file, started and stopped (and restarted) on request.

``tests/services.py`` (PostgreSQL, Redis) and ``scripts/caldav_server.py`` (Radicale, Xandikos)
build on it: a subclass says how to start (``_start``, usually with ``_spawn``) and how to know
it is ready (``_ready``).
"""

from __future__ import annotations

import logging
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO

from scripts.serve import free_port

logger = logging.getLogger(__name__)

READY_TIMEOUT = 60.0


class LocalServer:
    """A child process in its own process group, with a log file in the temp directory."""

    name = "server"

    def __init__(self, base_dir: Path | None) -> None:
        self._own_dir = base_dir is None
        self.dir = Path(tempfile.mkdtemp(prefix=f"clinic-{self.name}-")) if base_dir is None \
            else base_dir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self._log: IO[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.dir / f"{self.name}.log"

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def _spawn(self, argv: list[str], user: pwd.struct_passwd | None = None,
               env: dict[str, str] | None = None) -> None:
        self._log = open(self.log_path, "ab")  # closed in stop()
        self.process = subprocess.Popen(
            argv,
            cwd=self.dir,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            user=user.pw_uid if user else None,
            group=user.pw_gid if user else None,
            extra_groups=[] if user else None,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
                 "LC_ALL": "C.UTF-8", "TZ": "UTC", **(env or {})},
        )

    def _ready(self) -> bool:
        raise NotImplementedError

    def _start(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        """Start the server (again) and wait until it answers."""
        if self.running:
            return
        self._start()
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                code = self.process.returncode
                self._close_log()
                raise RuntimeError(f"{self.name} exited with code {code} while starting:\n"
                                   f"{self.log_tail()}")
            if self._ready():
                logger.info("%s is ready on port %d", self.name, self.port)
                return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.name} did not become ready in {READY_TIMEOUT:.0f}s:\n"
                           f"{self.log_tail()}")

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, sig: signal.Signals = signal.SIGTERM, grace: float = 30.0) -> None:
        """Stop the server (its data directory stays for the next ``start()``)."""
        process = self.process
        if process is not None and process.poll() is None:
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                pass
            try:
                process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                logger.warning("%s did not stop in %.0fs; killing it", self.name, grace)
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                process.wait()
        self.process = None
        self._close_log()

    def kill(self) -> None:
        """Stop abruptly, like a crash (SIGKILL)."""
        self.stop(signal.SIGKILL)

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def close(self) -> None:
        """Stop and remove the temporary directory."""
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> LocalServer:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
