"""Throwaway PostgreSQL and Redis servers for the test suite.

Each server gets a fresh temporary directory and a free loopback port, and is
stopped and deleted when the process exits. Cleanup does not depend on the test
process exiting cleanly: every server has a small watchdog process holding the
read end of a pipe whose write end only the test process has. If the test
process dies in any way (even SIGKILL) the kernel closes the pipe and the
watchdog stops the server and deletes its directory. Directories left behind by
a dead owner anyway (say the machine lost power) are swept at the next start.

    postgres_settings()  -> a Django DATABASES entry for a fresh PostgreSQL cluster
    start_redis()        -> RedisServer with .url, .port, .stop(), .kill()

``python -m tests.servers check postgres|redis`` says whether the server can be
started here (exit 0) or why not (exit 1); scripts/test uses it to skip runs.
"""

from __future__ import annotations

import atexit
import glob
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PG_PREFERRED_MAJOR = "15"
PG_SUPERUSER = "postgres"
PG_DATABASE = "ddt_perfpanels"
# PostgreSQL refuses to run as root; as root we run it as this system user
# (Debian's postgresql-common creates it; we create it if it is missing).
PG_OS_USER = "postgres"

_DIR_PREFIX = "ddt-perfpanels-"
_OWNER_FILE = "owner.pid"


class ServerUnavailable(RuntimeError):
    """The server's binaries are not installed (or cannot run) on this machine."""


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_is_open(port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


# --------------------------------------------------------------------------
# Temporary directories, their owner pid file, and the watchdog


def _temp_root() -> str:
    # As root the directory must be reachable by the unprivileged server user,
    # and TMPDIR may point somewhere private (/root/...): use /tmp.
    return "/tmp" if os.geteuid() == 0 else tempfile.gettempdir()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _make_server_dir(kind: str) -> Path:
    _sweep_stale_dirs()
    path = Path(tempfile.mkdtemp(prefix=f"{_DIR_PREFIX}{kind}-", dir=_temp_root()))
    (path / _OWNER_FILE).write_text(f"{os.getpid()}\n")
    return path


# The watchdog: blocks on stdin until the test process closes it. A line "done"
# means the test process cleaned up itself; plain EOF means it died, so the
# watchdog runs the cleanup spec: stop commands, then kill pids, then rm -rf.
_WATCHDOG = r"""
import json, os, shutil, signal, subprocess, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
spec = json.loads(sys.argv[1])
data = sys.stdin.read()
if data.strip() == "done":
    sys.exit(0)
for command in spec.get("commands", []):
    try:
        subprocess.run(command["argv"], user=command.get("user"), group=command.get("group"),
                       extra_groups=command.get("extra_groups"), timeout=30,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    except Exception:
        pass
for pid in spec.get("kill_pids", []):
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
time.sleep(0.2)
for path in spec.get("remove", []):
    shutil.rmtree(path, ignore_errors=True)
"""


@dataclass
class _Watchdog:
    process: subprocess.Popen

    @classmethod
    def start(cls, spec: dict[str, Any]) -> _Watchdog:
        process = subprocess.Popen(
            [sys.executable, "-c", _WATCHDOG, json.dumps(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C in the terminal must not kill it first
            text=True,
        )
        return cls(process)

    def dismiss(self) -> None:
        """The owner cleaned up; tell the watchdog to exit without doing anything."""
        try:
            self.process.stdin.write("done\n")
            self.process.stdin.close()
        except (OSError, ValueError):
            pass
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()


# --------------------------------------------------------------------------
# PostgreSQL


def find_postgres_bin() -> Path:
    """The directory with initdb and pg_ctl; ServerUnavailable says why if none."""
    candidates: list[Path] = []
    if os.environ.get("DDT_PG_BIN"):
        candidates.append(Path(os.environ["DDT_PG_BIN"]))
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(os.path.realpath(initdb)).parent)

    def major(path: str) -> tuple[int, int]:
        version = Path(path).parent.name
        preferred = 1 if version == PG_PREFERRED_MAJOR else 0
        return (preferred, int(version) if version.isdigit() else 0)

    for bindir in sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: major(p), reverse=True
    ):
        candidates.append(Path(bindir))
    for bindir in candidates:
        if all(os.access(bindir / tool, os.X_OK) for tool in ("initdb", "pg_ctl", "postgres")):
            return bindir
    raise ServerUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or in "
        "/usr/lib/postgresql/*/bin; install them with `apt-get install postgresql-15`"
    )


def _postgres_os_user() -> pwd.struct_passwd | None:
    """The unprivileged user to run PostgreSQL as, or None to run as ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(PG_OS_USER)
    except KeyError:
        pass
    useradd = shutil.which("useradd")
    if not useradd:
        raise ServerUnavailable(
            f"running as root, there is no {PG_OS_USER!r} user to run PostgreSQL as "
            "and no useradd to create one"
        )
    subprocess.run(
        [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_OS_USER],
        check=True,
        capture_output=True,
    )
    return pwd.getpwnam(PG_OS_USER)


def _as_user(user: pwd.struct_passwd | None) -> dict[str, Any]:
    if user is None:
        return {}
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


@dataclass
class PostgresServer:
    bindir: Path
    root: Path
    port: int
    os_user: pwd.struct_passwd | None
    watchdog: _Watchdog | None = None
    stopped: bool = field(default=False)

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "socket"

    @property
    def logfile(self) -> Path:
        return self.root / "postgres.log"

    def _run(self, *argv: str | os.PathLike, check: bool = True, timeout: float = 60):
        env = {**os.environ, "LC_ALL": "C", "PGTZ": "UTC"}
        if self.os_user is not None:
            env["HOME"] = self.os_user.pw_dir
        result = subprocess.run(
            [str(arg) for arg in argv],
            capture_output=True,
            text=True,
            env=env,
            cwd=self.root,
            timeout=timeout,
            **_as_user(self.os_user),
        )
        if check and result.returncode != 0:
            log = self.logfile.read_text(errors="replace")[-3000:] if self.logfile.exists() else ""
            raise RuntimeError(
                f"{Path(str(argv[0])).name} failed ({result.returncode}):\n"
                f"{result.stdout}{result.stderr}\n{log}"
            )
        return result

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        try:
            if (self.datadir / "postmaster.pid").exists():
                self._run(
                    self.bindir / "pg_ctl",
                    "-D",
                    self.datadir,
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                    check=False,
                    timeout=30,
                )
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
            if self.watchdog is not None:
                self.watchdog.dismiss()

    def settings(self) -> dict[str, Any]:
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": PG_DATABASE,
            "USER": PG_SUPERUSER,
            "PASSWORD": "",
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "TEST": {"NAME": f"test_{PG_DATABASE}"},
        }


def start_postgres() -> PostgresServer:
    """initdb and start a fresh cluster; the caller owns stop() (also done at exit)."""
    bindir = find_postgres_bin()
    os_user = _postgres_os_user()
    root = _make_server_dir("pg")
    (root / "socket").mkdir()
    if os_user is not None:
        for path in (root, root / "socket"):
            os.chown(path, os_user.pw_uid, os_user.pw_gid)
    server = PostgresServer(bindir=bindir, root=root, port=0, os_user=os_user)
    server.watchdog = _Watchdog.start(
        {
            "commands": [
                {
                    "argv": [
                        str(bindir / "pg_ctl"),
                        "-D",
                        str(server.datadir),
                        "-m",
                        "immediate",
                        "-w",
                        "stop",
                    ],
                    **_as_user(os_user),
                }
            ],
            "remove": [str(root)],
        }
    )
    atexit.register(server.stop)
    try:
        server._run(
            bindir / "initdb",
            "-D",
            server.datadir,
            "-U",
            PG_SUPERUSER,
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        _start_postgres_on_a_free_port(server)
        _create_database(server)
    except BaseException:
        server.stop()
        raise
    return server


def _create_database(server: PostgresServer) -> None:
    # Django connects to NAME for anything but test-database creation (and the
    # report header), so it must exist; the test database is test_<NAME>.
    server._run(
        server.bindir / "psql",
        "-X",
        "-q",
        "-h",
        server.socket_dir,
        "-p",
        str(server.port),
        "-U",
        PG_SUPERUSER,
        "-d",
        "postgres",
        "-c",
        f"CREATE DATABASE {PG_DATABASE}",
    )


def _start_postgres_on_a_free_port(server: PostgresServer, attempts: int = 5) -> None:
    conf = server.datadir / "postgresql.conf"
    base_conf = conf.read_text()
    for attempt in range(attempts):
        server.port = free_port()
        # Speed over durability: the cluster lives for one test run.
        conf.write_text(
            base_conf
            + "\n# ddt_perfpanels test cluster\n"
            + f"port = {server.port}\n"
            + "listen_addresses = '127.0.0.1'\n"
            + f"unix_socket_directories = '{server.socket_dir}'\n"
            + "fsync = off\n"
            + "synchronous_commit = off\n"
            + "full_page_writes = off\n"
            + "wal_level = minimal\n"
            + "max_wal_senders = 0\n"
            + "max_connections = 50\n"
            + "shared_buffers = 64MB\n"
            + "log_min_messages = warning\n"
            + "timezone = 'UTC'\n"
        )
        result = server._run(
            server.bindir / "pg_ctl",
            "-D",
            server.datadir,
            "-l",
            server.logfile,
            "-w",
            "-t",
            "60",
            "start",
            check=False,
            timeout=90,
        )
        if result.returncode == 0:
            return
        log = server.logfile.read_text(errors="replace") if server.logfile.exists() else ""
        if "Address already in use" not in log or attempt == attempts - 1:
            raise RuntimeError(
                f"pg_ctl start failed ({result.returncode}):\n{result.stdout}{result.stderr}\n"
                f"{log[-3000:]}"
            )


_postgres: PostgresServer | None = None


def postgres_settings() -> dict[str, Any]:
    """A Django DATABASES entry for a fresh PostgreSQL cluster (one per process)."""
    global _postgres
    if _postgres is None or _postgres.stopped:
        _postgres = start_postgres()
    return _postgres.settings()


# --------------------------------------------------------------------------
# Redis


def find_redis_server() -> str:
    path = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if os.access("/usr/bin/redis-server", os.X_OK) else None
    )
    if not path:
        raise ServerUnavailable(
            "no redis-server on PATH; install it with `apt-get install redis-server`"
        )
    return path


def redis_ping(port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@dataclass
class RedisServer:
    port: int
    process: subprocess.Popen
    root: Path
    watchdog: _Watchdog | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """Shut down cleanly and delete the directory."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)
        if self.watchdog is not None:
            self.watchdog.dismiss()
            self.watchdog = None

    def kill(self) -> None:
        """Simulate Redis going down abruptly (SIGKILL): connections drop, port closes."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()


def start_redis(attempts: int = 5) -> RedisServer:
    """Start redis-server on a free loopback port, without persistence."""
    binary = find_redis_server()
    root = _make_server_dir("redis")
    last_output = ""
    for _ in range(attempts):
        port = free_port()
        process = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(root),
                "--daemonize",
                "no",
                "--protected-mode",
                "no",
                "--loglevel",
                "warning",
                "--logfile",
                str(root / "redis.log"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        server = RedisServer(port=port, process=process, root=root)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and process.poll() is None:
            if redis_ping(port, timeout=0.2):
                server.watchdog = _Watchdog.start(
                    {"kill_pids": [process.pid], "remove": [str(root)]}
                )
                atexit.register(server.stop)
                return server
            time.sleep(0.02)
        log = root / "redis.log"
        last_output = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        if process.poll() is None:
            process.kill()
            process.wait()
    shutil.rmtree(root, ignore_errors=True)
    raise RuntimeError(f"redis-server did not start after {attempts} attempts:\n{last_output}")


def stop_redis(server: RedisServer) -> None:
    server.stop()


# --------------------------------------------------------------------------
# Stale directories from owners that died without their watchdog's help


def _sweep_stale_dirs() -> None:
    for path in glob.glob(os.path.join(_temp_root(), f"{_DIR_PREFIX}*")):
        owner_file = Path(path) / _OWNER_FILE
        try:
            owner = int(owner_file.read_text().strip())
        except (OSError, ValueError):
            # No owner file yet: maybe being created right now; only very old ones go.
            try:
                if time.time() - os.path.getmtime(path) < 3600:
                    continue
            except OSError:
                continue
            owner = -1
        if owner > 0 and _pid_alive(owner):
            continue
        _stop_stale(Path(path))


def _stop_stale(path: Path) -> None:
    pidfile = path / "data" / "postmaster.pid"
    if pidfile.exists():
        try:
            pid = int(pidfile.read_text().split("\n", 1)[0])
            os.kill(pid, signal.SIGQUIT)  # PostgreSQL's immediate shutdown
        except (OSError, ValueError):
            pass
    shutil.rmtree(path, ignore_errors=True)


# --------------------------------------------------------------------------
# `python -m tests.servers check postgres|redis`


def _check(kind: str) -> str:
    if kind == "postgres":
        bindir = find_postgres_bin()
        os_user = _postgres_os_user()
        version = subprocess.run(
            [str(bindir / "pg_ctl"), "--version"], capture_output=True, text=True
        ).stdout.strip()
        as_user = f" as user {os_user.pw_name}" if os_user else ""
        return f"{version} from {bindir}{as_user}"
    if kind == "redis":
        binary = find_redis_server()
        version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout
        match = re.search(r"v=(\S+)", version)
        return f"redis-server {match.group(1) if match else '?'} at {binary}"
    raise SystemExit(f"unknown server kind {kind!r}: expected postgres or redis")


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "check":
        print("usage: python -m tests.servers check postgres|redis", file=sys.stderr)
        return 2
    try:
        print(_check(argv[1]))
    except ServerUnavailable as exc:
        print(exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
