"""A redis-server for the cache tests, through tests.servers when it is there."""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

_session = None


def start():
    """A fresh redis-server (with .url, .kill() and .stop()); skips if none is installed."""
    try:
        from tests.servers import ServerUnavailable, start_redis
    except ImportError:  # pragma: no cover - before tests/servers.py existed
        return _start_own()
    try:
        return start_redis()
    except ServerUnavailable as exc:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"redis-server not installed (CI=true): {exc}", pytrace=False)
        pytest.skip(str(exc))


def session_server():
    global _session
    if _session is None:
        _session = start()
    return _session


def url_of(server) -> str:
    return server if isinstance(server, str) else server.url


class _OwnServer:  # pragma: no cover - fallback only
    def __init__(self, process, port, root):
        self.process, self.port, self.root = process, port, root
        self.url = f"redis://127.0.0.1:{port}/0"

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self):
        self.kill()
        shutil.rmtree(self.root, ignore_errors=True)


def _start_own():  # pragma: no cover - fallback only
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not shutil.os.access(binary, shutil.os.X_OK):
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    root = tempfile.mkdtemp(prefix="ddtpp-redis-")
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", root],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = _OwnServer(process, port, root)
    atexit.register(server.stop)
    for _ in range(500):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return server
        except OSError:
            time.sleep(0.01)
    raise RuntimeError("redis-server did not start")
