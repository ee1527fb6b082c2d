"""What the cache hooks record: the records of one capture's cache calls, keys
and Redis commands (never a value, only its size), and the key and value
helpers they are built with. Built by ``recording.cache``, read by
``analysis.cache``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ddt_perfpanels.conf import get_config
from ddt_perfpanels.recording.context import format_exception
from ddt_perfpanels.recording.redis_info import server_counters
from ddt_perfpanels.recording.stack import CallSite

if TYPE_CHECKING:
    from ddt_perfpanels.recording.context import Recorder

_MAX_KEYS = 5_000  # keys itemized per call; past it they are counted
_KEY_CHARS = 250


# -- records ------------------------------------------------------------------------


class KeyEvent:
    """One key touched by one call: never the value, only its size."""

    __slots__ = ("written", "stored", "op", "hit", "read_bytes", "written_bytes", "filled")

    def __init__(self, written: str, stored: str | None, op: str):
        self.written = written  # as the caller wrote it
        self.stored = stored  # as the backend stores it (prefix, version)
        self.op = op  # read | write | delete | touch | other
        self.hit: bool | None = None  # for reads: found or not; None: unknown
        self.read_bytes: int | None = None
        self.written_bytes: int | None = None
        self.filled = op == "write"  # this call stored a value under the key


class RedisCommand:
    """One command as redis-py sent it, with what its reply said (not the reply)."""

    __slots__ = (
        "name",
        "keys",
        "pattern",
        "hits",
        "read_sizes",
        "written_sizes",
        "duration_ms",
        "error",
        "server",
        "batch",
    )

    def __init__(self, name: str, keys: list[str], pattern: str | None, server: str):
        self.name = name
        self.keys = keys  # as Redis saw them
        self.pattern = pattern  # KEYS / SCAN MATCH
        self.hits: list[bool | None] | None = None  # per key, for GET/MGET/EXISTS
        self.read_sizes: list[int | None] | None = None  # per key
        self.written_sizes: list[int | None] | None = None  # per key
        self.duration_ms = 0.0
        self.error: str | None = None
        self.server = server  # host:port/db
        self.batch = 0  # pipeline number, 0 when sent on its own


class CacheCall(CallSite):
    """One call on a cache (``cache.get(...)``) or one raw redis-py command."""

    __slots__ = (
        "index",
        "alias",
        "backend",
        "operation",
        "is_async",
        "kind",
        "keys",
        "key_count",
        "pattern",
        "hit_method",
        "size_method",
        "timeout",
        "timeout_given",
        "default_timeout",
        "duration_ms",
        "frames",
        "template",
        "error",
        "commands",
        "inner_hit",
        "raw",
        "overhead",
    )

    def __init__(self, alias: str, backend: str, operation: str, kind: str):
        self.index = 0
        self.alias = alias
        self.backend = backend  # dotted class path, "redis-py" for raw commands
        self.operation = operation  # "get", "aget_many", "keys"; raw: "GET", "pipeline"
        self.is_async = False
        self.kind = kind
        self.keys: list[KeyEvent] = []
        self.key_count = 0
        self.pattern: str | None = None  # the glob of keys()/iter_keys()/delete_pattern()
        self.hit_method: str | None = None  # how hit/miss was decided, see analysis
        self.size_method: str | None = None  # where sizes come from
        self.timeout: Any = None  # effective timeout in seconds (None: never expires)
        self.timeout_given = False  # the caller passed a timeout
        self.default_timeout: Any = None  # the cache's default
        self.duration_ms = 0.0
        self.frames: list[tuple[str, int, str]] = []
        self.template: tuple[str, int] | None = None
        self.error: str | None = None
        self.commands: list[RedisCommand] = []
        self.inner_hit: bool | None = None  # what the backend's own get() saw
        self.raw = False  # a redis-py command outside any cache call
        self.overhead = 0.0  # seconds ddt_perfpanels spent inside the call (INFO stats)

    def __repr__(self) -> str:
        return f"<CacheCall {self.alias} {self.operation} {len(self.keys)} keys>"


class ServerStats:
    """INFO stats counters of one Redis server, before and after the capture."""

    __slots__ = ("server", "before", "after", "error", "_pool")

    def __init__(self, server: str, pool: Any):
        self.server = server
        self.before: dict[str, int] | None = None
        self.after: dict[str, int] | None = None
        self.error: str | None = None
        self._pool = pool


class CacheRecord:
    """What the cache hooks recorded in one capture: ``recorder.extras["cache"]``."""

    def __init__(self) -> None:
        config = get_config()
        self.max_calls: int = config["CACHE_MAX_CALLS"]
        self.server_stats: bool = config["CACHE_SERVER_STATS"]
        self.calls: list[CacheCall] = []
        self.dropped_calls = 0
        self.dropped_ms = 0.0
        self.servers: dict[str, ServerStats] = {}
        # id(connection pool) -> cache alias, to name raw redis-py commands.
        self.pool_aliases: dict[int, str] = {}
        self.aliases: dict[str, dict[str, Any]] = {}  # alias -> backend facts
        self._batches = 0
        self._absorbed = False

    def add(self, call: CacheCall) -> None:
        if len(self.calls) >= self.max_calls:
            self.dropped_calls += 1
            self.dropped_ms += call.duration_ms
            return
        call.index = len(self.calls)
        self.calls.append(call)

    def next_batch(self) -> int:
        self._batches += 1
        return self._batches

    def absorb(self, other: CacheRecord) -> None:
        """A nested capture ended: its calls are this capture's too."""
        for call in other.calls:
            self.add(call)
        self.dropped_calls += other.dropped_calls
        self.dropped_ms += other.dropped_ms
        for server, stats in other.servers.items():
            self.servers.setdefault(server, stats)
        self.pool_aliases.update(other.pool_aliases)
        for alias, facts in other.aliases.items():
            self.aliases.setdefault(alias, facts)
        other._absorbed = True

    def finish(self) -> None:
        """The capture ended: read the servers' counters again (never raises)."""
        if self._absorbed:
            return
        for stats in self.servers.values():
            # An entry a nested capture already finished has no connection left:
            # its counters were read then.
            if stats._pool is None:
                continue
            if stats.before is not None and stats.error is None:
                try:
                    stats.after = server_counters(stats._pool)
                except Exception as exc:
                    stats.error = f"after: {format_exception(exc)}"
            stats._pool = None


def cache_record(recorder: Recorder) -> CacheRecord:
    record: CacheRecord | None = recorder.extras.get("cache")
    if record is None:
        record = recorder.extras.setdefault("cache", CacheRecord())
        if recorder.light:
            # Server-wide counters are for the panel; a budget never reads them,
            # and reading them costs two connections per request.
            record.server_stats = False
    return record


# -- small helpers ------------------------------------------------------------------


def key_text(key: Any) -> str:
    """A key as text: strings as they are, anything else as its repr."""
    if isinstance(key, str):
        text = str(key)
    elif isinstance(key, (bytes, bytearray)):
        try:
            text = bytes(key).decode("utf-8") if len(key) <= _KEY_CHARS * 4 else repr(key)
        except UnicodeDecodeError:
            text = repr(bytes(key[: _KEY_CHARS * 4]))
    else:
        try:
            text = repr(key)
        except Exception:
            text = f"<{type(key).__name__}>"
    return text if len(text) <= _KEY_CHARS else text[:_KEY_CHARS] + "…"


def _python_key_text(key: Any) -> str:
    """A key as the caller wrote it: bytes and other objects as their repr."""
    if type(key) is str or isinstance(key, str):
        text = str(key)
        return text if len(text) <= _KEY_CHARS else text[:_KEY_CHARS] + "…"
    try:
        text = repr(key)
    except Exception:
        text = f"<{type(key).__name__}>"
    return text if len(text) <= _KEY_CHARS else text[:_KEY_CHARS] + "…"


def value_size(value: Any) -> int | None:
    """Bytes of a serialized value, without copying it; None when unknown."""
    if isinstance(value, (bytes, bytearray)):
        return len(value)
    if isinstance(value, memoryview):
        return value.nbytes
    if isinstance(value, str):
        if value.isascii() or len(value) > 1_000_000:
            return len(value)
        return len(value.encode("utf-8", "surrogatepass"))
    if isinstance(value, bool):
        return 1
    if isinstance(value, (int, float)):
        return len(repr(value))
    return None
