"""What the cache hooks record, on LocMem, django-redis and Django's RedisCache."""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import tracemalloc
import types

import django
import pytest
from django.core.cache import CacheHandler, cache, caches

from ddt_perfpanels import capture
from ddt_perfpanels.recording import cache as hooks
from tests.cache.conftest import cache_settings

THIS_FILE = "tests/cache/test_cache_recording.py"


def calls_of(report):
    record = report.recorder.extras.get("cache")
    return record.calls if record is not None else []


def operations(report):
    return [c.operation for c in calls_of(report)]


def events(call):
    return [(e.written, e.op, e.hit) for e in call.keys]


def test_every_sync_method_is_recorded_once(backend):
    with capture() as report:
        cache.set("a", 1)
        cache.get("a")
        cache.get("missing")
        cache.get_many(["a", "missing"])
        cache.get_or_set("b", 2)  # LocMem runs get + add + get inside: not counted
        cache.add("c", 3)
        cache.set_many({"d": 4, "e": 5})
        cache.has_key("d")
        cache.incr("a")
        cache.decr("a")
        cache.touch("a", 30)
        cache.delete("c")
        cache.delete_many(["d", "e"])
        cache.clear()
    assert operations(report) == [
        "set", "get", "get", "get_many", "get_or_set", "add", "set_many", "has_key",
        "incr", "decr", "touch", "delete", "delete_many", "clear",
    ]  # fmt: skip
    by_op = {c.operation: c for c in calls_of(report)}
    assert events(by_op["get_many"]) == [("a", "read", True), ("missing", "read", False)]
    assert events(by_op["get_or_set"]) == [("b", "read", False)]
    assert by_op["get_or_set"].keys[0].filled  # a miss that stored the default
    assert events(by_op["has_key"]) == [("d", "read", True)]
    assert report.cache.totals["calls"] == 14
    assert all(c.alias == "default" and not c.raw for c in calls_of(report))


async def test_every_async_method_is_recorded_once(backend):
    async with capture() as report:
        await cache.aset("a", 1)
        assert await cache.aget("a") == 1
        assert await cache.aget("missing", "fallback") == "fallback"
        assert await cache.aget_many(["a", "missing"]) == {"a": 1}
        assert await cache.aget_or_set("b", 2) == 2
        assert await cache.aadd("c", 3) is True
        await cache.aset_many({"d": 4})
        assert await cache.ahas_key("d") is True
        assert await cache.aincr("a") == 2
        assert await cache.adecr("a") == 1
        assert await cache.atouch("a", 30) is True
        await cache.adelete("c")
        await cache.adelete_many(["d"])
        await cache.aclear()
    assert operations(report) == [
        "aset", "aget", "aget", "aget_many", "aget_or_set", "aadd", "aset_many", "ahas_key",
        "aincr", "adecr", "atouch", "adelete", "adelete_many", "aclear",
    ]  # fmt: skip
    calls = calls_of(report)
    assert all(c.is_async for c in calls)
    assert events(calls[3]) == [("a", "read", True), ("missing", "read", False)]
    assert events(calls[4]) == [("b", "read", False)]
    assert report.cache.totals["hits"] == 3  # aget a, aget_many a, ahas_key d
    assert report.cache.totals["misses"] == 3
    assert report.cache.totals["exact"] is True


def test_hit_and_miss_are_exact_even_for_falsy_values(backend):
    cache.set("none", None)
    cache.set("zero", 0)
    with capture() as report:
        assert cache.get("none") is None  # stored None: a hit
        assert cache.get("zero", 0) == 0  # stored 0, default 0: a hit
        assert cache.get("absent", "dflt") == "dflt"  # the caller gets their default
        assert cache.get("absent", default=None) is None
    hits = [c.keys[0].hit for c in calls_of(report)]
    assert hits == [True, True, False, False]
    methods = {c.hit_method for c in calls_of(report)}
    assert methods == ({"sentinel"} if backend == "locmem" else {"redis"})
    assert report.cache.totals["exact"] is True
    assert report.cache.totals["hit_ratio"] == 0.5


def test_keys_as_written_and_as_stored(settings, backend, redis_url):
    entry = cache_settings(backend, redis_url if backend != "locmem" else None)
    settings.CACHES = {"default": {**entry, "KEY_PREFIX": "site1", "VERSION": 7}}
    with capture() as report:
        caches["default"].set("user:1", "x")
        caches["default"].get("user:1", version=2)
    set_call, get_call = calls_of(report)
    assert (set_call.keys[0].written, set_call.keys[0].stored) == ("user:1", "site1:7:user:1")
    assert (get_call.keys[0].written, get_call.keys[0].stored) == ("user:1", "site1:2:user:1")
    assert get_call.keys[0].hit is False  # another version


def test_binary_and_non_string_keys(backend):
    with capture() as report:
        cache.set(b"\xff\x00bin", b"\x00" * 10)
        assert cache.get(b"\xff\x00bin") == b"\x00" * 10
        cache.set(42, "answer")
        assert cache.get(42) == "answer"
        found = cache.get_many([42, b"\xff\x00bin", 7])
        assert found == {42: "answer", b"\xff\x00bin": b"\x00" * 10}
    calls = calls_of(report)
    assert calls[1].keys[0].written == repr(b"\xff\x00bin")
    assert calls[1].keys[0].stored == ":1:" + str(b"\xff\x00bin")
    assert calls[1].keys[0].hit is True
    assert calls[3].keys[0].written == "42" and calls[3].keys[0].hit is True
    assert [e.hit for e in calls[4].keys] == [True, True, False]
    json.dumps(report.cache.to_dict(calls=True))


def test_a_one_shot_iterator_of_keys_still_reaches_the_backend(backend):
    cache.set_many({"k1": 1, "k2": 2})
    with capture() as report:
        found = cache.get_many(key for key in ["k1", "k2", "k3"])
    assert found == {"k1": 1, "k2": 2}
    assert [e.hit for e in calls_of(report)[0].keys] == [True, True, False]


def test_timeouts_as_given(backend):
    with capture() as report:
        cache.set("default-timeout", 1)
        cache.set("sixty", 1, 60)
        cache.set("forever", 1, None)
        cache.add("added", 1, timeout=None)
    calls = calls_of(report)
    assert [(c.timeout, c.timeout_given) for c in calls] == [
        (300, False),
        (60, True),
        (None, True),
        (None, True),
    ]


def test_call_site_is_the_application_line(backend):
    with capture() as report:
        cache.get("where")
        line = sys._getframe().f_lineno - 1
    [call] = calls_of(report)
    assert call.site == f"{THIS_FILE}:{line}"
    assert call.stack[0].startswith(f"{THIS_FILE}:{line} in ")


def test_sizes_are_measured_and_values_never_kept(backend):
    big = b"x" * (5 * 1024 * 1024)
    with capture() as report:
        cache.set("huge", big)
        assert len(cache.get("huge")) == len(big)
    set_call, get_call = calls_of(report)
    written = set_call.keys[0].written_bytes
    # The serialized size: pickled bytes (LocMem, Redis) are a little larger.
    assert len(big) < written < len(big) + 100
    assert get_call.keys[0].read_bytes == written
    assert set_call.size_method == ("locmem" if backend == "locmem" else "redis")
    # Nothing recorded refers to the value.
    record = report.recorder.extras["cache"]
    recorded = {id(o) for o in [record, *record.calls, *(e for c in record.calls for e in c.keys)]}
    assert not any(id(r) in recorded for r in gc.get_referrers(big))


def test_measuring_a_huge_value_copies_nothing(backend):
    big = b"y" * (8 * 1024 * 1024)
    cache.set("huge", big)

    def peak(recording: bool) -> int:
        gc.collect()
        tracemalloc.start()
        try:
            if recording:
                with capture() as report:
                    cache.get("huge")
                report.cache.to_dict(calls=True)
            else:
                cache.get("huge")
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    without = min(peak(False) for _ in range(2))
    with_capture = min(peak(True) for _ in range(2))
    assert with_capture - without < 1024 * 1024  # not one more copy of 8 MB


def test_the_hooks_stay_and_pass_through_outside_a_capture(backend):
    from redis.client import Pipeline, Redis

    # Installed once, at ready(): the cache handler and redis-py.
    execute_command, execute = Redis.execute_command, Pipeline.execute
    assert execute_command is not hooks._originals[Redis, "execute_command"]
    assert "__getitem__" in CacheHandler.__dict__
    cache.get("warm")  # the instance exists before the capture
    instance = caches["default"]
    with capture():
        cache.get("x")
        assert isinstance(instance.__dict__["get"], types.MethodType)
    # Nothing is swapped back: the same hooks, passing calls straight through.
    assert isinstance(instance.__dict__["get"], types.MethodType)
    assert Redis.execute_command is execute_command and Pipeline.execute is execute
    with capture() as report:
        pass
    cache.set("outside", 1)
    assert cache.get("outside") == 1
    assert calls_of(report) == []


def test_nested_captures_are_absorbed(backend):
    with capture() as outer:
        cache.get("one")
        with capture() as inner:
            cache.get("two")
        cache.get("three")
    assert [c.keys[0].written for c in calls_of(inner)] == ["two"]
    assert [c.keys[0].written for c in calls_of(outer)] == ["one", "two", "three"]
    assert outer.cache.totals["calls"] == 3


async def test_concurrent_tasks_do_not_mix(backend):
    async def task(prefix, n):
        async with capture() as report:
            for i in range(n):
                await cache.aget(f"{prefix}:{i}")
                await asyncio.sleep(0)
        return report

    first, second = await asyncio.gather(task("first", 3), task("second", 5))
    assert {c.keys[0].written.split(":")[0] for c in calls_of(first)} == {"first"}
    assert len(calls_of(first)) == 3 and len(calls_of(second)) == 5


def test_a_failure_inside_the_recorder_never_reaches_the_caller(backend, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("recorder bug")

    monkeypatch.setattr(hooks._Pending, "_fill", broken)
    cache.set("k", "v")
    with capture() as report:
        assert cache.get("k") == "v"
        assert cache.get("nope", "dflt") == "dflt"
    assert any("recorder bug" in e for e in report.errors)
    assert len(calls_of(report)) == 2


# -- next to django-debug-toolbar's CachePanel -------------------------------------------


def toolbar_cache_panel():
    from debug_toolbar.panels.cache import CachePanel

    toolbar = types.SimpleNamespace(config={}, stats={}, server_timing_stats={})
    return CachePanel(toolbar, lambda request: None)


def test_coexists_with_the_toolbars_cache_panel(backend):
    from debug_toolbar.panels.cache import _monkey_patch_cache

    panel = toolbar_cache_panel()
    instance = caches["default"]
    _monkey_patch_cache(instance, "default", panel)  # what CachePanel does first
    toolbar_get = instance.__dict__["get"]
    try:
        with capture() as report:
            cache.set("k", None)
            assert cache.get("k", "dflt") is None
            assert cache.get_or_set("other", 1) == 1
        # Each call counted once by each tool.
        assert operations(report) == ["set", "get", "get_or_set"]
        assert [call["name"] for call in panel.calls] == ["set", "get", "get_or_set"]
        # Our private default never showed up in the toolbar's arguments.
        assert panel.calls[1]["args"] == ("k", "dflt")
        get_call = calls_of(report)[1]
        if backend == "locmem":
            # Below us is the toolbar's get(), so the default was left alone;
            # LocMemCache's store still tells exactly.
            assert get_call.hit_method == "store"
        else:
            assert get_call.hit_method == "redis"
        assert get_call.keys[0].hit is True
        # Both patch once and stay: the toolbar's get() below ours, each passing
        # through when its tool is not recording.
        assert instance.__dict__["get"].__wrapped__ is toolbar_get
    finally:
        instance._djdt_panel = None


@pytest.mark.applies_if(django.VERSION >= (6, 1), reason="Django 6.1 reads self.method.__func__")
async def test_django_61_async_methods_work_with_toolbar_patches(backend):
    from debug_toolbar.panels.cache import _monkey_patch_cache

    panel = toolbar_cache_panel()
    instance = caches["default"]
    _monkey_patch_cache(instance, "default", panel)
    try:
        await cache.aset("k", 1)
        async with capture() as report:
            assert await cache.aget_many(["k", "x"]) == {"k": 1}
            assert await cache.ahas_key("k") is True
            assert await cache.aget_or_set("y", 2) == 2
            assert await cache.aincr("k") == 2
        assert operations(report) == ["aget_many", "ahas_key", "aget_or_set", "aincr"]
        assert [e.hit for e in calls_of(report)[0].keys] == [True, False]
    finally:
        instance._djdt_panel = None


async def test_async_methods_keep_their_fast_path_checks_working(backend):
    """Django 6.1's aget_many() reads self.get_many.__func__: our wrappers are bound
    methods, so the check works (a plain function would raise AttributeError)."""
    async with capture():
        assert isinstance(cache.get_many, types.MethodType)
        assert cache.get_many.__func__ is not None
        assert asyncio.iscoroutinefunction(cache.aget_many)


def test_a_patch_made_over_ours_keeps_working(backend):
    """Another tool wraps the cache while we are installed: at the end our hook
    stays inside its chain, passing calls through, and is never doubled."""
    from debug_toolbar.panels.cache import _monkey_patch_cache

    panel = toolbar_cache_panel()
    instance = caches["default"]
    try:
        with capture() as first:
            cache.get("a")
            _monkey_patch_cache(instance, "default", panel)
            cache.get("b")
        assert instance.get("c") is None  # the toolbar's chain still works
        with capture() as second:
            cache.get("d")
        assert [c.keys[0].written for c in calls_of(first)] == ["a", "b"]
        assert [c.keys[0].written for c in calls_of(second)] == ["d"]
        assert [call["name"] for call in panel.calls] == ["get", "get", "get"]
    finally:
        instance._djdt_panel = None


# -- Redis: the commands underneath -------------------------------------------------------


def command_names(call):
    return [c.name for c in call.commands]


def test_redis_commands_are_attached_to_their_call(redis_backend):
    with capture() as report:
        cache.set("a", "x" * 100)
        cache.get_many(["a", "b"])
        cache.set_many({"c": 1, "d": "two"}, 30)
        cache.get_or_set("e", "value")
        cache.has_key("a")
    set_call, many, set_many, get_or_set, has_key = calls_of(report)
    assert command_names(set_call) == ["SET"]
    assert command_names(many) == ["MGET"]
    assert many.commands[0].keys == [":1:a", ":1:b"]
    assert many.commands[0].hits == [True, False]
    if redis_backend == "django_redis":
        assert command_names(set_many) == ["SET", "SET"]  # one pipeline
    else:
        assert command_names(set_many) == ["MSET", "EXPIRE", "EXPIRE"]
    assert len({c.batch for c in set_many.commands}) == 1 and set_many.commands[0].batch > 0
    assert command_names(get_or_set)[0] == "GET" and "SET" in command_names(get_or_set)
    assert get_or_set.keys[0].hit is False and get_or_set.hit_method == "redis"
    assert command_names(has_key) == ["EXISTS"] and has_key.keys[0].hit is True
    assert report.cache.totals["redis_commands"] == sum(len(c.commands) for c in calls_of(report))
    # Sizes are the serialized bytes Redis received and sent back.
    assert many.keys[0].read_bytes == set_call.keys[0].written_bytes > 100


def test_server_counters_before_and_after(redis_backend):
    cache.set("seen", 1)
    with capture() as report:
        cache.get("seen")
        cache.get("unseen")
    [server] = report.cache.servers
    assert server["scope"] == "server-wide"
    assert server["error"] is None
    assert server["keyspace_hits_delta"] >= 1
    assert server["keyspace_misses_delta"] >= 1
    assert (
        server["keyspace_hits_after"] - server["keyspace_hits_before"]
        == (server["keyspace_hits_delta"])
    )


def test_server_counters_can_be_turned_off(redis_backend, settings):
    settings.DDT_PERFPANELS = {"CACHE_SERVER_STATS": False}
    with capture() as report:
        cache.get("x")
    assert report.cache.servers == []


def test_django_redis_extras(django_redis):
    cache.set_many({"user:1": 1, "user:2": 2})
    with capture() as report:
        assert sorted(cache.keys("user:*")) == ["user:1", "user:2"]
        keys = cache.iter_keys("user:*")  # a generator: SCAN runs while it is read
        assert sorted(keys) == ["user:1", "user:2"]
        cache.ttl("user:1")
        cache.expire("user:1", 60)
        cache.persist("user:1")
        lock = cache.lock("job")
        assert lock.acquire(blocking=False)
        lock.release()
        cache.hset("h", "field", "value")
        assert cache.hexists("h", "field")
        cache.sadd("s", "member")
        assert cache.delete_pattern("user:*") == 2
    calls = calls_of(report)
    by_op = {}
    for call in calls:
        by_op.setdefault(call.operation, call)
    assert command_names(by_op["keys"]) == ["KEYS"]
    assert by_op["keys"].pattern == "user:*"
    assert "SCAN" in command_names(by_op["iter_keys"])
    assert command_names(by_op["ttl"]) == ["EXISTS", "TTL"]
    assert command_names(by_op["expire"]) == ["EXPIRE"]
    assert command_names(by_op["hset"]) == ["HSET"]
    assert "SCAN" in command_names(by_op["delete_pattern"])
    assert "DEL" in command_names(by_op["delete_pattern"])
    # The lock's own commands run later, on the raw client: recorded as raw calls.
    raw = [c for c in calls if c.raw]
    assert raw and raw[0].operation == "SET" and raw[0].alias == "default"
    assert raw[0].keys[0].written == "job"  # prefix and version stripped


def test_raw_client_use_is_recorded(django_redis):
    from django_redis import get_redis_connection

    cache.set("known", "v")
    client = get_redis_connection("default")
    with capture() as report:
        client.get(":1:known")
        client.get("plain-key")
        client.mget(["plain-key", ":1:known"])
        pipe = client.pipeline()
        pipe.get("plain-key")
        pipe.incr("counter")
        pipe.execute()
    get_known, get_plain, mget, pipeline = calls_of(report)
    assert all(c.raw and c.alias == "default" for c in calls_of(report))
    assert (get_known.operation, get_known.keys[0].written, get_known.keys[0].hit) == (
        "GET",
        "known",
        True,
    )
    assert (get_plain.keys[0].written, get_plain.keys[0].hit) == ("plain-key", False)
    assert [e.hit for e in mget.keys] == [False, True]
    assert pipeline.operation == "pipeline" and command_names(pipeline) == ["GET", "INCRBY"]
    assert get_known.site.startswith(THIS_FILE)


def test_redis_down_mid_request(settings, fresh_redis):
    server = fresh_redis
    settings.CACHES = {"default": cache_settings("django_redis", server.url)}
    import redis

    with capture() as report:
        cache.set("k", 1)
        server.kill()
        with pytest.raises(redis.exceptions.ConnectionError):
            cache.get("k")
    set_call, get_call = calls_of(report)
    assert set_call.error is None
    assert get_call.error.startswith("redis.exceptions.ConnectionError: ")
    assert get_call.keys[0].hit is None  # unknown, not a miss
    assert report.cache.totals["errors"] == 1
    [stats] = report.cache.servers
    assert stats["keyspace_hits_before"] is not None
    assert stats["error"].startswith("after:")


def test_redis_down_with_ignore_exceptions(settings, fresh_redis):
    server = fresh_redis
    settings.CACHES = {
        "default": cache_settings("django_redis", server.url, IGNORE_EXCEPTIONS=True)
    }
    server.kill()
    with capture() as report:
        assert cache.get("k", "dflt") == "dflt"  # exactly as without the panel
    [call] = calls_of(report)
    assert "GET failed, the backend returned a default" in call.error
    assert call.keys[0].hit is None


def test_nested_captures_read_the_redis_counters_without_error(redis_backend):
    """The budget middleware inside the toolbar: one capture inside another."""
    with capture() as outer:
        with capture():
            cache.get("nested")
    assert outer.cache.totals["calls"] == 1
    assert outer.errors == []
    for server in outer.cache.to_dict()["servers"]:
        assert not server.get("error"), server
