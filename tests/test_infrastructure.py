"""The throwaway servers the suite runs against (tests/servers.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from tests import servers

ON_POSTGRES = os.environ.get("DDT_TEST_DB") == "postgres"


def _wait_until(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


@pytest.mark.django_db
def test_the_run_uses_the_database_it_says():
    with connection.cursor() as cursor:
        if ON_POSTGRES:
            cursor.execute("SELECT version()")
            version = cursor.fetchone()[0]
            assert connection.vendor == "postgresql"
            assert version.startswith("PostgreSQL ")
            assert connection.settings_dict["HOST"] == "127.0.0.1"
        else:
            cursor.execute("SELECT sqlite_version()")
            assert connection.vendor == "sqlite"


@pytest.mark.postgres
@pytest.mark.skipif(not ON_POSTGRES, reason="PostgreSQL run only (DDT_TEST_DB=postgres)")
def test_a_postgres_cluster_is_deleted_when_stopped():
    server = servers.start_postgres()
    assert servers.port_is_open(server.port)
    assert (server.datadir / "postmaster.pid").exists()
    server.stop()
    assert not servers.port_is_open(server.port)
    assert not server.root.exists()


@pytest.mark.redis
def test_the_redis_fixture_answers_ping(redis_server):
    assert servers.redis_ping(redis_server.port)
    assert redis_server.url == f"redis://127.0.0.1:{redis_server.port}/0"


@pytest.mark.redis
def test_killing_redis_closes_its_port(fresh_redis):
    fresh_redis.kill()
    assert not fresh_redis.running
    assert not servers.redis_ping(fresh_redis.port)


_DIE_WITH_SERVERS = """
import os, sys
from tests import servers
started = [servers.start_redis()]
if sys.argv[1] == "postgres":
    started.append(servers.start_postgres())
for server in started:
    print(server.port, server.root, flush=True)
os.kill(os.getpid(), 9)
"""


@pytest.mark.redis
@pytest.mark.parametrize(
    "kinds",
    [
        "redis",
        pytest.param(
            "postgres",
            marks=pytest.mark.skipif(not ON_POSTGRES, reason="PostgreSQL run only"),
        ),
    ],
)
def test_servers_go_away_when_their_owner_is_killed(kinds, redis_server):
    # redis_server: skips (or fails in CI) like the fixtures if redis-server is missing.
    result = subprocess.run(
        [sys.executable, "-c", _DIE_WITH_SERVERS, kinds],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
        timeout=120,
    )
    assert result.returncode == -signal.SIGKILL, result.stderr
    started = [line.split(" ", 1) for line in result.stdout.splitlines()]
    assert len(started) == (2 if kinds == "postgres" else 1)
    for port, root in started:
        assert _wait_until(lambda port=int(port): not servers.port_is_open(port)), port
        assert _wait_until(lambda root=Path(root): not root.exists()), root
