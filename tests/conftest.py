"""Suite-wide fixtures: throwaway Redis servers, and the report header.

Feature fixtures belong in a conftest.py next to their tests, or below in a
clearly separated section.
"""

from __future__ import annotations

import os

import pytest

from tests import servers


def pytest_report_header(config):
    import django
    from django.db import connection

    settings = connection.settings_dict
    where = settings["NAME"]
    if connection.vendor != "sqlite":
        where = f"{settings['HOST']}:{settings['PORT']}"
    return (
        f"database: {connection.vendor} ({settings['ENGINE']}, {where}), "
        f"Django {django.get_version()}"
        + (" [DDT_TEST_DB=postgres]" if os.environ.get("DDT_TEST_DB") == "postgres" else "")
    )


def _start_redis_or_skip() -> servers.RedisServer:
    try:
        return servers.start_redis()
    except servers.ServerUnavailable as exc:
        if servers.in_ci():
            pytest.fail(f"redis-server not installed (CI=true): {exc}", pytrace=False)
        pytest.skip(f"redis-server not installed: {exc}")


@pytest.fixture(scope="session")
def redis_server():
    """One Redis for the whole run: .url, .port. Don't kill it; use fresh_redis."""
    server = _start_redis_or_skip()
    yield server
    server.stop()


@pytest.fixture
def fresh_redis():
    """A Redis of the test's own, which the test may .kill() to simulate an outage."""
    server = _start_redis_or_skip()
    yield server
    server.stop()


@pytest.fixture
def hooks_removed_at_once(settings):
    """Hooks are removed as soon as the last capture ends (no linger), starting
    from Django's own methods whatever earlier tests left installed."""
    from ddt_perfpanels.recording import context

    settings.DDT_PERFPANELS = {"HOOKS_LINGER_SECONDS": 0}
    with context._install_lock:
        if context._installed and context._install_count == 0:
            context._remove_hooks()
    yield


@pytest.fixture(autouse=True)
def _remove_lingering_hooks():
    """Hooks linger after a capture (HOOKS_LINGER_SECONDS); each test starts from
    Django's own methods all the same."""
    yield
    from ddt_perfpanels.recording import context

    with context._install_lock:
        if context._installed and context._install_count == 0:
            context._remove_hooks()


@pytest.fixture
async def close_thread_connections():
    """Async views ran their ORM calls in asgiref's worker thread: close that
    thread's connection so the test database can be dropped."""
    from asgiref.sync import sync_to_async
    from django.db import connections

    yield
    await sync_to_async(connections.close_all)()
