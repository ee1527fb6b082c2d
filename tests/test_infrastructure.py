"""The throwaway servers (tests/servers.py) the suite, the demo and the
screenshots run against."""

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
            assert cursor.fetchone()[0].startswith("PostgreSQL ")
            assert connection.settings_dict["HOST"] == "127.0.0.1"
        else:
            cursor.execute("SELECT sqlite_version()")
            assert connection.vendor == "sqlite"


@pytest.mark.redis
def test_killing_redis_closes_its_port(fresh_redis):
    assert servers.redis_ping(fresh_redis.port)
    fresh_redis.kill()
    assert not fresh_redis.running
    assert not servers.redis_ping(fresh_redis.port)


_DIE_WITH_SERVERS = """
import os, sys
from tests import servers
started = [servers.RedisServer().start()]
if sys.argv[1] == "postgres":
    started.append(servers.PostgresServer().start())
print(*[server.port for server in started], flush=True)
os.kill(os.getpid(), 9)
"""


@pytest.mark.redis
@pytest.mark.parametrize(
    "kinds",
    [
        "redis",
        pytest.param(
            "postgres",
            marks=pytest.mark.applies_if(ON_POSTGRES, reason="PostgreSQL run only"),
        ),
    ],
)
def test_servers_stop_when_their_owner_is_killed(kinds, redis_server):
    # An interrupted run leaves nothing running. (redis_server: skips, or fails
    # in CI, like the fixtures when redis-server is missing.)
    result = subprocess.run(
        [sys.executable, "-c", _DIE_WITH_SERVERS, kinds],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
        timeout=120,
    )
    assert result.returncode == -signal.SIGKILL, result.stderr
    ports = [int(port) for port in result.stdout.split()]
    assert len(ports) == (2 if kinds == "postgres" else 1)
    for port in ports:
        assert _wait_until(lambda port=port: not servers.port_is_open(port)), port
