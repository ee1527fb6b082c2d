"""A Redis server's name and its INFO stats counters (keyspace hits and misses),
read on a connection of our own, before and after a capture."""

from __future__ import annotations

from typing import Any


def server_name(pool: Any) -> str:
    kwargs = getattr(pool, "connection_kwargs", None) or {}
    db = kwargs.get("db", 0)
    if kwargs.get("path"):
        return f"unix:{kwargs['path']}/{db}"
    return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{db}"


def server_counters(pool: Any) -> dict[str, int]:
    """keyspace_hits/keyspace_misses from INFO stats, on a connection of our own
    (never the application's pool) with no retries and a short timeout."""
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    kwargs = dict(pool.connection_kwargs)
    kwargs["retry"] = Retry(NoBackoff(), 0)
    for name in ("socket_timeout", "socket_connect_timeout"):
        value = kwargs.get(name)
        kwargs[name] = 1.0 if value is None else min(value, 1.0)
    connection = pool.connection_class(**kwargs)
    try:
        connection.send_command("INFO", "stats")
        text = connection.read_response()
    finally:
        connection.disconnect()
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if isinstance(text, dict):
        return {k: int(text[k]) for k in ("keyspace_hits", "keyspace_misses") if k in text}
    counters = {}
    for line in str(text).splitlines():
        name, _, value = line.partition(":")
        if name in ("keyspace_hits", "keyspace_misses"):
            counters[name] = int(value.strip())
    return counters
