"""Throwaway Redis and PostgreSQL servers: one way, for the tests, the demo, the
screenshots and the benchmarks.

    with RedisServer() as redis: redis.url
    with PostgresServer() as pg: pg.settings()   # a Django DATABASES entry

Each server is a child process of its owner, in the foreground, on a free
loopback port and a fresh temporary directory that is deleted when it stops.
On Linux it also gets a parent-death signal, so that an owner killed outright
(even by SIGKILL) takes its servers with it: nothing is left running after an
interrupted run. PostgreSQL refuses to run as root; as root it runs as the
``postgres`` user that Debian's postgresql package creates. (That is why this is
not pytest-postgresql: its executor runs initdb and pg_ctl as the current user,
and CI runs as root. pytest-redis would serve the tests but not the demo.)

``python -m tests.servers with-redis -- CMD ...`` runs CMD with REDIS_URL set to
a throwaway Redis (scripts/demo).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from glob import glob
from pathlib import Path
from typing import Any

PG_DATABASE = "ddt_perfpanels"


class ServerUnavailable(RuntimeError):
    """The server's binaries (or the user to run them as) are missing here."""


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_is_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
        return True
    return False


def redis_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _die_with_owner(sig: int):
    """preexec_fn: deliver ``sig`` to the server when its owner dies. It runs
    after the child has switched user (which would clear the setting)."""

    def preexec() -> None:  # pragma: no cover - runs in the child
        with contextlib.suppress(Exception):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, sig)  # PR_SET_PDEATHSIG

    return preexec if sys.platform == "linux" else None


def _remove_orphaned_dirs(parent: str) -> None:
    """The directories of servers whose owner was killed (the servers died with
    it, their directories stayed)."""
    for path in glob(os.path.join(parent, "ddt-redis-*")) + glob(
        os.path.join(parent, "ddt-postgres-*")
    ):
        try:
            owner = int(Path(path, "owner").read_text())
            os.kill(owner, 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except (OSError, ValueError):
            pass  # being created, or not ours to judge


class _Server:
    """A foreground child process on a free port; subclasses say how to start it."""

    kind = ""
    stop_signal = signal.SIGTERM

    def __init__(self) -> None:
        self.port = 0
        self.process: subprocess.Popen | None = None
        self.root: Path | None = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _argv(self) -> list[str]:
        raise NotImplementedError

    def _popen_user(self) -> dict[str, Any]:
        return {}

    def _ready(self) -> bool:
        raise NotImplementedError

    def _prepare(self) -> None:
        """Set up self.root before the first start."""

    def start(self, attempts: int = 3, timeout: float = 30.0):
        # As root the directory must be reachable by the server's user: /tmp.
        tmp = "/tmp" if os.geteuid() == 0 else None
        _remove_orphaned_dirs(tmp or tempfile.gettempdir())
        self.root = Path(tempfile.mkdtemp(prefix=f"ddt-{self.kind}-", dir=tmp))
        (self.root / "owner").write_text(str(os.getpid()))
        try:
            self._prepare()
            for _ in range(attempts):
                self.port = free_port()
                log = open(self.root / "server.log", "wb")  # noqa: SIM115
                with log:
                    self.process = subprocess.Popen(
                        self._argv(),
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        preexec_fn=_die_with_owner(self.stop_signal),
                        **self._popen_user(),
                    )
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline and self.running:
                    if self._ready():
                        return self
                    time.sleep(0.05)
                self._stop_process()  # most likely the port was taken meanwhile
            raise RuntimeError(f"{self.kind} did not start:\n{self.log()[-3000:]}")
        except BaseException:
            self.stop()
            raise

    def log(self) -> str:
        path = self.root / "server.log" if self.root else None
        return path.read_text(errors="replace") if path and path.exists() else ""

    def _stop_process(self) -> None:
        if self.running:
            self.process.send_signal(self.stop_signal)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """Simulate an outage: SIGKILL, connections drop, the port closes."""
        if self.running:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        self._stop_process()
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None


class RedisServer(_Server):
    kind = "redis"

    def __init__(self) -> None:
        super().__init__()
        self.binary = shutil.which("redis-server") or ""
        if not self.binary:
            raise ServerUnavailable(
                "no redis-server on PATH; install it with `apt-get install redis-server`"
            )

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _argv(self) -> list[str]:
        return [
            self.binary,
            *("--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.root)),
            *("--save", "", "--appendonly", "no", "--daemonize", "no"),
            *("--protected-mode", "no", "--loglevel", "warning"),
        ]

    def _ready(self) -> bool:
        return redis_ping(self.port)


def find_postgres_bin() -> Path:
    candidates = [os.environ.get("DDT_PG_BIN", ""), os.path.dirname(shutil.which("initdb") or "")]
    candidates += sorted(glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for candidate in filter(None, candidates):
        bindir = Path(os.path.realpath(candidate))
        if all(os.access(bindir / tool, os.X_OK) for tool in ("initdb", "postgres", "psql")):
            return bindir
    raise ServerUnavailable(
        "PostgreSQL server binaries (initdb, postgres) not found on PATH or in "
        "/usr/lib/postgresql/*/bin; install them with `apt-get install postgresql-15`"
    )


class PostgresServer(_Server):
    kind = "postgres"
    stop_signal = signal.SIGQUIT  # immediate shutdown: the data is thrown away

    def __init__(self) -> None:
        super().__init__()
        self.bindir = find_postgres_bin()
        self.user: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            try:
                self.user = pwd.getpwnam("postgres")
            except KeyError:
                raise ServerUnavailable(
                    "running as root and there is no 'postgres' user to run PostgreSQL "
                    "as; Debian's postgresql package creates it"
                ) from None

    def _popen_user(self) -> dict[str, Any]:
        if self.user is None:
            return {}
        return {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}

    def _prepare(self) -> None:
        if self.user is not None:
            os.chown(self.root, self.user.pw_uid, self.user.pw_gid)
        subprocess.run(
            [self.bindir / "initdb", "-D", self.root / "data", "-U", "postgres"]
            + ["--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"],
            check=True,
            capture_output=True,
            env={**os.environ, "LC_ALL": "C"},
            **self._popen_user(),
        )

    def _argv(self) -> list[str]:
        # Speed over durability: the cluster lives for one run.
        options = {
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self.root),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "50",
            "timezone": "UTC",
        }
        argv = [str(self.bindir / "postgres"), "-D", str(self.root / "data"), "-p", str(self.port)]
        for name, value in options.items():
            argv += ["-c", f"{name}={value}"]
        return argv

    def _ready(self) -> bool:
        result = subprocess.run(
            [self.bindir / "psql", "-X", "-q", "-h", "127.0.0.1", "-p", str(self.port)]
            + ["-U", "postgres", "-d", "postgres", "-c", f"CREATE DATABASE {PG_DATABASE}"],
            capture_output=True,
        )
        return result.returncode == 0

    def settings(self) -> dict[str, Any]:
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": PG_DATABASE,
            "USER": "postgres",
            "PASSWORD": "",
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
        }


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[:1] != ["with-redis"] or argv[1] != "--":
        print("usage: python -m tests.servers with-redis -- CMD [ARG ...]", file=sys.stderr)
        return 2
    with RedisServer() as redis:
        child = subprocess.Popen(argv[2:], env={**os.environ, "REDIS_URL": redis.url})
        # Ctrl-C reaches the child from the terminal too: wait for it to finish.
        signal.signal(signal.SIGINT, lambda *_: None)
        signal.signal(signal.SIGTERM, lambda *_: child.terminate())
        status = child.wait()
    print(f"==> stopped the redis-server at {redis.url}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
