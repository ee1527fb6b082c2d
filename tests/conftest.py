"""Suite-wide fixtures: throwaway PostgreSQL and Redis servers, and the report header.

Feature fixtures belong in a conftest.py next to their tests, or below in a
clearly separated section.
"""

from __future__ import annotations

import os

import pytest

from tests import servers

ON_POSTGRES = os.environ.get("DDT_TEST_DB") == "postgres"


def pytest_report_header(config):
    import django
    from django.db import connection

    where = connection.settings_dict["NAME"]
    if ON_POSTGRES:
        where = "a throwaway cluster per test process (tests/servers.py)"
    return f"database: {connection.vendor} ({where}), Django {django.get_version()}"


def pytest_collection_modifyitems(config, items):
    """@pytest.mark.applies_if(condition, reason=...): a test of something that
    exists only in some environments (a Django version's feature, PostgreSQL) is
    deselected elsewhere; a skip is left to say that something is missing."""
    kept, deselected = [], []
    for item in items:
        marks = list(item.iter_markers("applies_if"))
        (kept if all(mark.args[0] for mark in marks) else deselected).append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


def _unavailable(what: str, exc: Exception):
    if servers.in_ci():
        pytest.fail(f"{what} not installed (CI=true): {exc}", pytrace=False)
    pytest.skip(f"{what} not installed: {exc}")


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """DDT_TEST_DB=postgres: the test database lives in a PostgreSQL cluster of
    this process's own (one per xdist worker), started before Django creates it."""
    if not ON_POSTGRES:
        yield
        return
    from django.conf import settings

    try:
        server = servers.PostgresServer()
    except servers.ServerUnavailable as exc:
        _unavailable("PostgreSQL", exc)
    with server:
        # Updated in place: Django's connections share this dict.
        settings.DATABASES["default"].update(server.settings())
        yield


def _redis():
    try:
        return servers.RedisServer()
    except servers.ServerUnavailable as exc:
        _unavailable("redis-server", exc)


@pytest.fixture(scope="session")
def redis_server():
    """One Redis for the whole run (of this worker): .url, .port. Don't kill it;
    use fresh_redis."""
    with _redis() as server:
        yield server


@pytest.fixture
def fresh_redis():
    """A Redis of the test's own, which the test may .kill() to simulate an outage."""
    with _redis() as server:
        yield server


@pytest.fixture
async def close_thread_connections():
    """Async views ran their ORM calls in asgiref's worker thread: close that
    thread's connection so the test database can be dropped."""
    from asgiref.sync import sync_to_async
    from django.db import connections

    yield
    await sync_to_async(connections.close_all)()
