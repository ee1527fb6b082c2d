"""The cache hooks: every call on every cache alias, and the Redis commands under them.

Two levels are recorded into ``recorder.extras["cache"]`` (a ``CacheRecord``):

* Django's cache API. Each cache instance that is used while a capture is active
  gets instance-level wrappers for its public methods (``get`` ... ``aclear`` and
  django-redis' extras), bound with ``types.MethodType`` because Django 6.1's
  async methods read ``self.get_many.__func__``. A wrapper installed on top of
  another tool's patch (django-debug-toolbar's ``CachePanel``) calls through it.
  Calls a backend makes on itself (``get_or_set`` calling ``get``) are nested and
  not counted twice.
* redis-py's ``Redis.execute_command`` and ``Pipeline.execute``: the commands
  django-redis and Django's ``RedisCache`` send, and raw client use (for instance
  through ``django_redis.get_redis_connection()``). Inside a cache call they are
  attached to it; outside one each is a call of its own.

The cache handler and redis-py are hooked once (``recording.hooks``); a cache
instance is wrapped the first time a capture uses it, and stays wrapped.
Outside a capture a wrapper costs one ``ContextVar.get()``. Values are never
kept, only their sizes, measured with ``len()`` on the bytes the backend already
has (no copy). The records are in ``cache_records``, the Redis command table and
its reading in ``redis_commands``, the INFO counters in ``redis_info``.
"""

from __future__ import annotations

import logging
import threading
import types
from collections.abc import Awaitable, Callable, Collection, Coroutine, Iterator, Mapping
from contextvars import ContextVar
from time import perf_counter
from typing import TYPE_CHECKING, Any, NamedTuple

from ddt_perfpanels.recording import redis_commands
from ddt_perfpanels.recording.cache_records import (
    _MAX_KEYS,
    CacheCall,
    CacheRecord,
    KeyEvent,
    RedisCommand,
    ServerStats,
    _python_key_text,
    cache_record,
    key_text,
    value_size,
)
from ddt_perfpanels.recording.context import _active, format_exception
from ddt_perfpanels.recording.redis_commands import (
    _new_command,
    _observe_reply,
)
from ddt_perfpanels.recording.redis_info import server_counters, server_name
from ddt_perfpanels.recording.stack import capture_stack

if TYPE_CHECKING:
    from django.core.cache import CacheHandler
    from django.core.cache.backends.base import BaseCache
    from redis.client import Pipeline, Redis

    from ddt_perfpanels.recording.context import Recorder

# The cache call being recorded in this thread or task: the Django-level call
# whose nested calls and Redis commands belong to it.
_current: ContextVar[CacheCall | None] = ContextVar("ddt_perfpanels_cache_call", default=None)
# True inside our redis-py hook, so that a command is recorded once even if the
# hook ends up in the call chain twice (or a pipeline issues commands itself).
_in_redis: ContextVar[bool] = ContextVar("ddt_perfpanels_in_redis", default=False)

# Our private ``default`` for get(): the backend returns it exactly when the key
# is missing. Only used when no other tool's patch sits below ours.
_MISSING = object()
logger = logging.getLogger("ddt_perfpanels")
_MARK = "_ddt_perfpanels_cache"


class _Spec(NamedTuple):
    kind: str  # read | write | delete | touch | clear | scan | other
    keys: str  # one | many | data | pattern | none
    default: int = -1  # positional index of the argument, -1: none
    timeout: int = -1
    version: int = -1
    value: int = -1


_DJANGO_SPECS: dict[str, _Spec] = {
    "get": _Spec("read", "one", default=1, version=2),
    "get_many": _Spec("read", "many", version=1),
    "get_or_set": _Spec("read", "one", default=1, timeout=2, version=3),
    "has_key": _Spec("read", "one", version=1),
    "set": _Spec("write", "one", value=1, timeout=2, version=3),
    "add": _Spec("write", "one", value=1, timeout=2, version=3),
    "set_many": _Spec("write", "data", timeout=1, version=2),
    "delete": _Spec("delete", "one", version=1),
    "delete_many": _Spec("delete", "many", version=1),
    "incr": _Spec("write", "one", version=2),
    "decr": _Spec("write", "one", version=2),
    "touch": _Spec("touch", "one", timeout=1, version=2),
    "clear": _Spec("clear", "none"),
    "incr_version": _Spec("write", "one", version=2),
    "decr_version": _Spec("write", "one", version=2),
}
_OTHER = _Spec("other", "one")
# django-redis' own methods (wrapped when the backend has them).
_REDIS_SPECS: dict[str, _Spec] = {
    "keys": _Spec("scan", "pattern", version=1),
    "iter_keys": _Spec("scan", "pattern"),
    "delete_pattern": _Spec("scan", "pattern", version=1),
    "ttl": _Spec("other", "one", version=1),
    "pttl": _Spec("other", "one", version=1),
    "persist": _Spec("touch", "one", version=1),
    "expire": _Spec("touch", "one", version=2),
    "pexpire": _Spec("touch", "one", version=2),
    "expire_at": _Spec("touch", "one", version=2),
    "pexpire_at": _Spec("touch", "one", version=2),
    "lock": _Spec("other", "one", version=1),
    **{
        name: _OTHER
        for name in (
            "sadd scard sdiff sdiffstore sinter sinterstore sismember smembers smove spop "
            "srandmember srem sscan sscan_iter smismember sunion sunionstore hset hdel hlen "
            "hkeys hexists zadd zcard zcount zincrby zpopmax zpopmin zrange zrangebyscore "
            "zrank zrem zremrangebyscore zrevrange zrevrangebyscore zscore"
        ).split()
    },
}
_ASYNC_NAMES = frozenset("a" + name for name in _DJANGO_SPECS)
_KEY_NAMES = ("key", "keys", "data", "name", "search", "pattern")


# -- small helpers ------------------------------------------------------------------


def _argument(
    args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str, missing: Any = None
) -> Any:
    if name in kwargs:
        return kwargs[name]
    if 0 <= index < len(args):
        return args[index]
    return missing


def _backend_path(cache: Any) -> str:
    cls = type(cache)
    return f"{cls.__module__}.{cls.__qualname__}"


# -- Django-level wrappers ------------------------------------------------------------


class _Pending:
    """A Django-level call being recorded: built before, completed after the call."""

    __slots__ = (
        "recorder",
        "cache",
        "spec",
        "call",
        "args",
        "kwargs",
        "key_objects",
        "user_default",
        "sentinel",
        "version",
    )

    def __init__(
        self,
        recorder: Recorder,
        cache: Any,
        alias: str,
        name: str,
        spec: _Spec,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        sentinel_ok: bool,
    ) -> None:
        self.recorder = recorder
        self.cache = cache
        self.spec = spec
        self.args = args
        self.kwargs = kwargs
        self.sentinel = False
        self.user_default: Any = None
        base = name[1:] if name.startswith("a") and name[1:] in _DJANGO_SPECS else name
        call = CacheCall(alias, _backend_path(cache), name, spec.kind)
        call.is_async = base != name
        call.default_timeout = getattr(cache, "default_timeout", None)
        self.call = call
        if spec.timeout >= 0:
            from django.core.cache.backends.base import DEFAULT_TIMEOUT

            timeout = _argument(args, kwargs, spec.timeout, "timeout", DEFAULT_TIMEOUT)
            if timeout is DEFAULT_TIMEOUT:
                call.timeout = call.default_timeout
            else:
                call.timeout = timeout
                call.timeout_given = True
        self.version: Any = _argument(args, kwargs, spec.version, "version")
        self.key_objects: list[Any] = []
        if spec.keys != "none":
            first = args[0] if args else next((kwargs[k] for k in _KEY_NAMES if k in kwargs), None)
            if spec.keys == "one":
                self.key_objects = [first]
            elif spec.keys == "pattern":
                call.pattern = key_text(first)
            elif spec.keys == "data":
                if isinstance(first, Mapping):
                    self.key_objects = list(first)
            elif first is not None and not isinstance(first, (str, bytes)):
                if not isinstance(first, Collection):
                    # A one-shot iterator: read it once here and hand the
                    # backend the same keys as a list.
                    first = list(first)
                    if args:
                        self.args = (first, *args[1:])
                    else:
                        self.kwargs = {**kwargs, "keys": first}
                self.key_objects = list(first)
        if base == "get" and sentinel_ok:
            # The backend returns our private default exactly when the key is
            # missing; the caller still gets their own default back.
            self.sentinel = True
            self.user_default = _argument(args, kwargs, 1, "default")
            if "default" in kwargs or len(args) < 2:
                self.kwargs = {**self.kwargs, "default": _MISSING}
            else:
                self.args = (args[0], _MISSING, *args[2:])
        elif spec.default >= 0:
            self.user_default = _argument(args, kwargs, spec.default, "default")
        call.frames, call.template = capture_stack(recorder.stack_depth, skip=2)

    def done(self, result: Any, error: BaseException | None, seconds: float) -> Any:
        """Complete the record; return the result the caller must see."""
        if self.sentinel and result is _MISSING:
            result = self.user_default
            missing = True
        else:
            missing = False
        call = self.call
        call.duration_ms = max(seconds - call.overhead, 0.0) * 1000
        try:
            if error is not None:
                call.error = format_exception(error)
            self._fill(result, error, missing)
        except Exception as exc:
            self.recorder.internal_error("recording a cache call", exc)
        try:
            cache_record(self.recorder).add(call)
        except Exception as exc:  # pragma: no cover - defensive
            self.recorder.internal_error("recording a cache call", exc)
        return result

    def _fill(self, result: Any, error: BaseException | None, missing: bool) -> None:
        call, cache, spec = self.call, self.cache, self.spec
        record = cache_record(self.recorder)
        if call.alias not in record.aliases:
            record.aliases[call.alias] = _alias_facts(cache)
        keys = self.key_objects
        call.key_count = len(keys)
        if not keys:
            return
        op = spec.kind if spec.kind in ("read", "write", "delete", "touch") else "other"
        events = []
        make_key = getattr(cache, "make_key", None)
        for key in keys[:_MAX_KEYS]:
            try:
                stored = key_text(make_key(key, version=self.version)) if make_key else None
            except Exception:
                stored = None
            events.append(KeyEvent(_python_key_text(key), stored, op))
        call.keys = events
        failed = next((c for c in call.commands if c.error is not None), None)
        if failed is not None and error is None:
            # The backend swallowed the failure (django-redis IGNORE_EXCEPTIONS)
            # and returned a default: the caller saw no error, the panel does.
            call.error = f"{failed.name} failed, the backend returned a default: {failed.error}"
        if error is not None or failed is not None:
            for event in events:
                event.filled = False
            return
        by_redis = _redis_outcomes(call.commands)
        name = call.operation[1:] if call.is_async else call.operation
        if by_redis:
            for event in events:
                outcome = by_redis.get(event.stored) if event.stored is not None else None
                if outcome is None:
                    continue
                hit, read, written = outcome
                if op == "read" and hit is not None:
                    event.hit = hit
                    call.hit_method = "redis"
                event.read_bytes = read
                event.written_bytes = written
            call.size_method = "redis"
        if op == "read" and call.hit_method is None:
            self._decide_hits(name, events, result, missing)
        if name == "get_or_set":
            event = events[0]
            event.filled = event.hit is False
        elif name == "add":
            events[0].filled = bool(result)
        if call.size_method is None:
            self._sizes(name, events, result)

    def _decide_hits(self, name: str, events: list[KeyEvent], result: Any, missing: bool) -> None:
        call = self.call
        if name == "get":
            store = _locmem_store(self.cache)
            if self.sentinel:
                events[0].hit = not missing
                call.hit_method = "sentinel"
            elif store is not None and events[0].stored is not None:
                # LocMemCache drops an expired key on get(): the key is still
                # there afterwards exactly when the get() found it.
                events[0].hit = events[0].stored in store
                call.hit_method = "store"
            else:
                events[0].hit = result is not self.user_default
                call.hit_method = "default"
        elif name == "get_many" and isinstance(result, Mapping):
            for event, key in zip(events, self.key_objects, strict=False):
                try:
                    event.hit = key in result
                except TypeError:
                    event.hit = None
            call.hit_method = "result"
        elif name == "has_key":
            events[0].hit = bool(result)
            call.hit_method = "result"
        elif name == "get_or_set" and call.inner_hit is not None:
            events[0].hit = call.inner_hit
            call.hit_method = "inner"

    def _sizes(self, name: str, events: list[KeyEvent], result: Any) -> None:
        call, cache = self.call, self.cache
        store = _locmem_store(cache)
        if store is not None:
            # LocMemCache keeps the pickled bytes: their length is the size.
            for event in events:
                if event.stored is None:
                    continue
                stored = store.get(event.stored) if event.op in ("read", "write") else None
                size = len(stored) if isinstance(stored, (bytes, bytearray)) else None
                if event.op == "read" and event.hit and name != "has_key":
                    event.read_bytes = size
                if event.filled:
                    event.written_bytes = size
            call.size_method = "locmem"
            return
        # Other backends do not expose the serialized value: bytes and text
        # values are measured as they are, anything else is unknown.
        measured = False
        if self.spec.value >= 0:
            size = value_size(_argument(self.args, self.kwargs, self.spec.value, "value"))
            if size is not None:
                events[0].written_bytes = size
                measured = True
        elif name == "set_many":
            data = self.args[0] if self.args else self.kwargs.get("data")
            if isinstance(data, Mapping):
                for event, key in zip(events, self.key_objects, strict=False):
                    size = value_size(data.get(key))
                    if size is not None:
                        event.written_bytes = size
                        measured = True
        elif name == "get" and events[0].hit:
            size = value_size(result)
            if size is not None:
                events[0].read_bytes = size
                measured = True
        elif name == "get_many" and isinstance(result, Mapping):
            for event, key in zip(events, self.key_objects, strict=False):
                if event.hit:
                    size = value_size(result.get(key))
                    if size is not None:
                        event.read_bytes = size
                        measured = True
        if measured:
            call.size_method = "value"


def _locmem_store(cache: Any) -> dict[str, Any] | None:
    """LocMemCache's dict of pickled values (other backends have none)."""
    store = getattr(cache, "__dict__", {}).get("_cache")
    return store if isinstance(store, dict) else None


def _alias_facts(cache: Any) -> dict[str, Any]:
    from django.core.cache.backends.base import default_key_func

    return {
        "backend": _backend_path(cache),
        "default_timeout": getattr(cache, "default_timeout", None),
        "key_prefix": getattr(cache, "key_prefix", ""),
        "version": getattr(cache, "version", 1),
        "default_key_func": getattr(cache, "key_func", None) is default_key_func,
    }


def _redis_outcomes(
    commands: list[RedisCommand],
) -> dict[str, tuple[bool | None, int | None, int | None]]:
    """stored key -> (first hit/miss, bytes read, bytes written) from the commands."""
    outcomes: dict[str, list[Any]] = {}  # [hit, bytes read, bytes written]
    for command in commands:
        hits, reads, writes = command.hits, command.read_sizes, command.written_sizes
        if hits is None and reads is None and writes is None:
            continue
        for i, key in enumerate(command.keys):
            entry = outcomes.get(key)
            if entry is None:
                entry = outcomes[key] = [None, None, None]
            if hits is not None and entry[0] is None and i < len(hits):
                entry[0] = hits[i]
            # The size is bound once: mypy narrows a name, not reads[i].
            if reads is not None and i < len(reads) and (read := reads[i]) is not None:
                entry[1] = (entry[1] or 0) + read
            if writes is not None and i < len(writes) and (written := writes[i]) is not None:
                entry[2] = (entry[2] or 0) + written
    return {key: tuple(value) for key, value in outcomes.items()}


def _tracked_iter(iterator: Iterator[Any], pending: _Pending, start: float) -> Iterator[Any]:
    """A generator returned by a cache call (iter_keys): its Redis commands run
    while it is consumed and still belong to the call."""
    call = pending.call
    elapsed = 0.0
    try:
        while True:
            token = _current.set(call)
            begin = perf_counter()
            try:
                item = next(iterator)
            except StopIteration:
                return
            except BaseException as exc:
                call.error = format_exception(exc)
                raise
            finally:
                elapsed += perf_counter() - begin
                call.duration_ms = (start + elapsed) * 1000
                _current.reset(token)
            yield item
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()


def _inner_result(
    parent: CacheCall, is_get: bool, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any
) -> Any:
    """A call the backend made to itself, inside a recorded one (get_or_set ->
    get): part of the parent, which learns from an inner get() whether it hit."""
    if is_get and parent.inner_hit is None:
        parent.inner_hit = result is not _argument(args, kwargs, 1, "default")
    return result


def _sync_wrapper(
    name: str, alias: str, spec: _Spec, inner: Callable[..., Any], sentinel_ok: bool
) -> Callable[..., Any]:
    is_get = name == "get"

    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        recorder = _active.get()
        if recorder is None:
            return inner(*args, **kwargs)
        parent = _current.get()
        if parent is not None:
            # The backend calling itself (get_or_set -> get): part of the parent.
            return _inner_result(parent, is_get, args, kwargs, inner(*args, **kwargs))
        try:
            pending = _Pending(recorder, self, alias, name, spec, args, kwargs, sentinel_ok)
        except Exception as exc:
            recorder.internal_error("recording a cache call", exc)
            return inner(*args, **kwargs)
        token = _current.set(pending.call)
        start = perf_counter()
        try:
            result = inner(*pending.args, **pending.kwargs)
        except BaseException as exc:
            _current.reset(token)
            pending.done(None, exc, perf_counter() - start)
            raise
        _current.reset(token)
        if isinstance(result, types.GeneratorType):
            seconds = perf_counter() - start
            pending.done(None, None, seconds)
            return _tracked_iter(result, pending, seconds)
        return pending.done(result, None, perf_counter() - start)

    wrapper.__name__ = wrapper.__qualname__ = name
    wrapper.__wrapped__ = inner  # type: ignore[attr-defined]
    return wrapper


def _async_wrapper(
    name: str, alias: str, spec: _Spec, inner: Callable[..., Awaitable[Any]], sentinel_ok: bool
) -> Callable[..., Coroutine[Any, Any, Any]]:
    is_get = name == "aget"

    async def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        recorder = _active.get()
        if recorder is None:
            return await inner(*args, **kwargs)
        parent = _current.get()
        if parent is not None:
            return _inner_result(parent, is_get, args, kwargs, await inner(*args, **kwargs))
        try:
            pending = _Pending(recorder, self, alias, name, spec, args, kwargs, sentinel_ok)
        except Exception as exc:
            recorder.internal_error("recording a cache call", exc)
            return await inner(*args, **kwargs)
        token = _current.set(pending.call)
        start = perf_counter()
        try:
            result = await inner(*pending.args, **pending.kwargs)
        except BaseException as exc:
            _current.reset(token)
            pending.done(None, exc, perf_counter() - start)
            raise
        _current.reset(token)
        return pending.done(result, None, perf_counter() - start)

    wrapper.__name__ = wrapper.__qualname__ = name
    wrapper.__wrapped__ = inner  # type: ignore[attr-defined]
    return wrapper


# Instances are patched once, marked with _MARK; the wrappers pass calls straight
# through outside a capture.
_patch_lock = threading.Lock()


def _methods_of(cache: Any) -> dict[str, _Spec]:
    methods: dict[str, _Spec] = {}
    cls = type(cache)
    for name, spec in _DJANGO_SPECS.items():
        for candidate in (name, "a" + name):
            if callable(getattr(cls, candidate, None)):
                methods[candidate] = spec
    for name, spec in _REDIS_SPECS.items():
        if callable(getattr(cls, name, None)):
            methods[name] = spec
    return methods


def patch_cache(cache: Any, alias: str) -> None:
    """Wrap the methods of one cache instance (idempotent)."""
    instance_dict = getattr(cache, "__dict__", None)
    if instance_dict is None or _MARK in instance_dict:
        return
    with _patch_lock:
        if _MARK in instance_dict:
            return
        # Our private default may only reach the backend itself: not another
        # tool's get() wrapper, which would show it among the call's arguments.
        sentinel_sync = "get" not in instance_dict
        sentinel_async = sentinel_sync and "aget" not in instance_dict
        for name, spec in _methods_of(cache).items():
            inner = getattr(cache, name)
            function: Callable[..., Any]
            if name in _ASYNC_NAMES:
                function = _async_wrapper(name, alias, spec, inner, sentinel_async)
            else:
                function = _sync_wrapper(name, alias, spec, inner, sentinel_sync)
            method = types.MethodType(function, cache)
            instance_dict[name] = method
        instance_dict[_MARK] = True


def patch_open_caches() -> None:
    """The cache instances this thread or task opened before the capture (the
    cache handler's hook patches the ones it opens during one)."""
    try:
        from django.core.cache import caches

        for alias in caches:
            # django-stubs omit BaseConnectionHandler's private _connections.
            cache = getattr(caches._connections, alias, None)  # type: ignore[attr-defined]
            if cache is not None:
                patch_cache(cache, alias)
    except Exception:  # pragma: no cover - defensive
        logger.exception("ddt_perfpanels could not hook the open caches")


# -- redis-py hooks -------------------------------------------------------------------


def _before_first_command(record: CacheRecord, pool: Any, server: str) -> None:
    # INFO counters are per server, whatever the database number.
    server = server.rpartition("/")[0]
    if not record.server_stats or server in record.servers:
        return
    stats = record.servers[server] = ServerStats(server, pool)
    start = perf_counter()
    try:
        stats.before = server_counters(pool)
    except Exception as exc:
        stats.error = format_exception(exc)
        stats._pool = None
    parent = _current.get()
    if parent is not None:
        parent.overhead += perf_counter() - start


def _pool_alias(record: CacheRecord, pool: Any) -> str:
    alias = record.pool_aliases.get(id(pool))
    if alias is not None:
        return alias
    alias = ""
    try:
        from django.core.cache import caches

        for name in caches:
            # django-stubs omit BaseConnectionHandler's private _connections.
            cache = getattr(caches._connections, name, None)  # type: ignore[attr-defined]
            if cache is not None and any(p is pool for p in _pools_of(cache)):
                alias = name
                if name not in record.aliases:
                    record.aliases[name] = _alias_facts(cache)
                break
    except Exception:  # pragma: no cover - defensive
        alias = ""
    record.pool_aliases[id(pool)] = alias
    return alias


def _pools_of(cache: Any) -> list[Any]:
    pools = []
    instance_dict = getattr(cache, "__dict__", {})
    client = instance_dict.get("_client")  # django-redis
    for redis_client in getattr(client, "_clients", None) or ():
        if redis_client is not None:
            pools.append(getattr(redis_client, "connection_pool", None))
    django_client = instance_dict.get("_cache")  # django.core.cache.backends.redis
    pools.extend(getattr(django_client, "_pools", {}).values() if django_client else ())
    return [p for p in pools if p is not None]


def _raw_call(
    recorder: Recorder, record: CacheRecord, pool: Any, operation: str, kind: str
) -> CacheCall:
    alias = _pool_alias(record, pool)
    call = CacheCall(alias, "redis-py", operation, kind)
    call.raw = True
    call.hit_method = "redis"
    call.size_method = "redis"
    call.frames, call.template = capture_stack(recorder.stack_depth, skip=3)
    return call


def _raw_events(record: CacheRecord, call: CacheCall) -> None:
    facts = record.aliases.get(call.alias) if call.alias else None
    prefix = None
    if facts and facts.get("default_key_func"):
        prefix = f"{facts.get('key_prefix', '')}:"
    for command in call.commands:
        op = redis_commands.key_event_kind(command.name)
        for i, stored in enumerate(command.keys):
            written = stored
            if prefix is not None and stored.startswith(prefix):
                version, sep, rest = stored[len(prefix) :].partition(":")
                if sep and version.lstrip("-").isdigit():
                    written = rest
            event = KeyEvent(written, stored, op)
            if command.error is not None:
                event.filled = False
            if command.hits is not None and i < len(command.hits):
                event.hit = command.hits[i]
            if command.read_sizes is not None and i < len(command.read_sizes):
                event.read_bytes = command.read_sizes[i]
            if command.written_sizes is not None and i < len(command.written_sizes):
                event.written_bytes = command.written_sizes[i]
            if len(call.keys) < _MAX_KEYS:
                call.keys.append(event)
            call.key_count += 1
        if command.pattern is not None and call.pattern is None:
            call.pattern = command.pattern


# (owner, name) -> what was there before us, which our hook calls.
_originals: dict[tuple[Any, str], Any] = {}


def _execute_command(self: Redis, *args: Any, **options: Any) -> Any:
    from redis.client import Redis

    previous = _originals[Redis, "execute_command"]
    recorder = _active.get()
    if recorder is None or _in_redis.get():
        return previous(self, *args, **options)
    try:
        pool = self.connection_pool
        server = server_name(pool)
        record = cache_record(recorder)
        _before_first_command(record, pool, server)
        command, _ = _new_command(args, server)
    except Exception as exc:
        recorder.internal_error("recording a Redis command", exc)
        return previous(self, *args, **options)

    def done(reply: Any, error: BaseException | None, seconds: float) -> None:
        _command_done(recorder, record, pool, command, reply, error, seconds)

    return _timed(previous, self, args, options, done)


def _timed(
    previous: Callable[..., Any],
    client: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    done: Callable[[Any, BaseException | None, float], None],
) -> Any:
    """Run redis-py's own method, timed, then report to ``done`` (which never raises)."""
    token = _in_redis.set(True)
    start = perf_counter()
    try:
        result = previous(client, *args, **kwargs)
    except BaseException as exc:
        _in_redis.reset(token)
        done(None, exc, perf_counter() - start)
        raise
    _in_redis.reset(token)
    done(result, None, perf_counter() - start)
    return result


def _command_done(
    recorder: Recorder,
    record: CacheRecord,
    pool: Any,
    command: RedisCommand,
    reply: Any,
    error: BaseException | None,
    seconds: float,
) -> None:
    try:
        command.duration_ms = seconds * 1000
        if error is not None:
            command.error = format_exception(error)
        else:
            _observe_reply(command, reply)
        parent = _current.get()
        if parent is not None:
            parent.commands.append(command)
            record.pool_aliases.setdefault(id(pool), parent.alias)
            return
        kind = redis_commands.spec(command.name).kind
        call = _raw_call(recorder, record, pool, command.name, kind)
        call.commands.append(command)
        call.duration_ms = command.duration_ms
        call.error = command.error
        _raw_events(record, call)
        record.add(call)
    except Exception as exc:
        recorder.internal_error("recording a Redis command", exc)


def _pipeline_execute(self: Pipeline, *args: Any, **kwargs: Any) -> Any:
    from redis.client import Pipeline

    previous = _originals[Pipeline, "execute"]
    recorder = _active.get()
    if recorder is None or _in_redis.get():
        return previous(self, *args, **kwargs)
    try:
        stack = [command_args for command_args, _ in self.command_stack]
        pool = self.connection_pool
        server = server_name(pool)
        record = cache_record(recorder)
        if stack:
            _before_first_command(record, pool, server)
        batch = record.next_batch()
        commands = []
        for command_args in stack:
            command, _ = _new_command(command_args, server)
            command.batch = batch
            commands.append(command)
    except Exception as exc:
        recorder.internal_error("recording a Redis pipeline", exc)
        return previous(self, *args, **kwargs)

    def done(replies: Any, error: BaseException | None, seconds: float) -> None:
        _pipeline_done(recorder, record, pool, commands, replies, error, seconds)

    return _timed(previous, self, args, kwargs, done)


def _pipeline_done(
    recorder: Recorder,
    record: CacheRecord,
    pool: Any,
    commands: list[RedisCommand],
    replies: Any,
    error: BaseException | None,
    seconds: float,
) -> None:
    if not commands:
        return
    try:
        commands[0].duration_ms = seconds * 1000
        if error is not None:
            message = format_exception(error)
            for command in commands:
                command.error = message
        elif isinstance(replies, list):
            for command, reply in zip(commands, replies, strict=False):
                if isinstance(reply, Exception):
                    command.error = format_exception(reply)
                else:
                    _observe_reply(command, reply)
        parent = _current.get()
        if parent is not None:
            parent.commands.extend(commands)
            record.pool_aliases.setdefault(id(pool), parent.alias)
            return
        kinds = {redis_commands.spec(c.name).kind for c in commands}
        call = _raw_call(
            recorder, record, pool, "pipeline", kinds.pop() if len(kinds) == 1 else "other"
        )
        call.commands.extend(commands)
        call.duration_ms = seconds * 1000
        if error is not None:
            call.error = commands[0].error
        _raw_events(record, call)
        record.add(call)
    except Exception as exc:
        recorder.internal_error("recording a Redis pipeline", exc)


def _getitem(self: CacheHandler, alias: str) -> BaseCache:
    from django.core.cache import CacheHandler

    cache: BaseCache = _originals[CacheHandler, "__getitem__"](self, alias)
    if _active.get() is not None:
        instance_dict = getattr(cache, "__dict__", None)
        if instance_dict is not None and _MARK not in instance_dict:
            try:
                patch_cache(cache, alias)
            except Exception as exc:
                recorder = _active.get()
                if recorder is not None:
                    recorder.internal_error("instrumenting a cache", exc)
    return cache


def _targets() -> list[tuple[Any, str, Any]]:
    from django.core.cache import CacheHandler

    targets: list[tuple[Any, str, Any]] = [(CacheHandler, "__getitem__", _getitem)]
    try:
        from redis.client import Pipeline, Redis
    except ImportError:
        return targets
    targets.append((Redis, "execute_command", _execute_command))
    targets.append((Pipeline, "execute", _pipeline_execute))
    return targets


def install() -> None:
    """Hook the cache handler and redis-py, once (recording.hooks); never raises."""
    try:
        targets = _targets()
    except Exception:  # pragma: no cover - defensive
        logger.exception("ddt_perfpanels could not hook the caches")
        return
    for owner, name, replacement in targets:
        if owner.__dict__.get(name) is replacement:
            continue
        _originals[owner, name] = getattr(owner, name)
        setattr(owner, name, replacement)
