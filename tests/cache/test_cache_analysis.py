"""report.cache: totals, the key-pattern breakdown and every finding, with its fix."""

from __future__ import annotations

import json

import pytest
from django.core.cache import cache, caches
from django.core.checks import run_checks

from ddt_perfpanels import capture
from ddt_perfpanels.analysis.cache import abstract_key


@pytest.mark.parametrize(
    ("key", "pattern"),
    [
        ("badge_progress:17", "badge_progress:{int}"),
        ("user:42:badges", "user:{int}:badges"),
        ("session:9f86d081884c7d659a2feaa0c55ad015", "session:{hex}"),
        ("obj:123e4567-e89b-12d3-a456-426614174000", "obj:{uuid}"),
        ("token:Zx81kQ2pLm0aBc9dEf7gH", "token:{hash}"),
        ("django.contrib.sessions.cache3k9xq2m7v1b8n4c6z", "django.contrib.sessions.cache{hash}"),
        ("template.cache.nav.d41d8cd98f00b204e9800998ecf8427e", "template.cache.nav.{hex}"),
        ("page2", "page{int}"),
        ("config:site", "config:site"),
        ("deadbeef", "deadbeef"),  # a word, not a digest
    ],
)  # fmt: skip
def test_key_patterns(key, pattern):
    assert abstract_key(key) == pattern


def kinds(report):
    return [(f.kind, f.pattern, f.count) for f in report.cache.findings]


def finding(report, kind):
    [match] = [f for f in report.cache.findings if f.kind == kind]
    return match


def test_totals_patterns_and_backends(backend):
    cache.set("badge_progress:1", "a" * 10)
    with capture() as report:
        for pk in (1, 2, 3):
            cache.get(f"badge_progress:{pk}")
        cache.set("badge_progress:2", "b")
        cache.delete("badge_progress:3")
        cache.get("config:site")
    totals = report.cache.totals
    assert (totals["calls"], totals["hits"], totals["misses"]) == (6, 1, 3)
    assert (totals["sets"], totals["deletes"]) == (1, 1)
    assert totals["hit_ratio"] == 0.25
    rows = {row.pattern: row for row in report.cache.patterns}
    badges = rows["badge_progress:{int}"]
    assert (badges.keys, badges.gets, badges.hits, badges.misses) == (3, 3, 1, 2)
    assert (badges.sets, badges.deletes, badges.hit_ratio) == (1, 1, 0.3333)
    assert badges.bytes_read > 10 and badges.bytes_written > 0
    assert report.cache.patterns[0].pattern == "badge_progress:{int}"  # most misses first
    [row] = report.cache.by_backend
    assert row.alias == "default" and row.calls == 6 and row.exact
    metrics = report.metrics()
    assert (metrics["cache_calls"], metrics["cache_hits"], metrics["cache_misses"]) == (6, 1, 3)
    data = report.to_dict()
    json.dumps(data)
    assert data["cache"]["totals"]["calls"] == 6 and "calls" not in data["cache"]
    json.dumps(report.cache.to_dict(calls=True))


def test_no_cache_calls_gives_an_empty_report():
    with capture() as report:
        pass
    assert report.cache.totals["calls"] == 0
    assert report.cache.findings == [] and report.cache.patterns == []
    assert report.metrics()["cache_misses"] == 0


# -- get_in_loop ---------------------------------------------------------------------------


def badge_view(pks):
    return [cache.get(f"badge_progress:{pk}") for pk in pks]


def test_get_in_loop_and_its_fix_is_one_call(backend):
    with capture() as report:
        badge_view(range(6))
    found = finding(report, "get_in_loop")
    assert (found.pattern, found.count) == ("badge_progress:{int}", 6)
    assert found.code == 'values = cache.get_many([f"badge_progress:{pk}" for pk in pks])'
    assert "6 calls become 1" in found.suggestion
    assert found.sites[0].startswith("tests/cache/test_cache_analysis.py:")

    # The suggested code, as the panel prints it, fetches any number of keys in one call.
    for size in (6, 30):
        namespace = {"cache": cache, "pks": range(size)}
        with capture() as fixed:
            exec(found.code, namespace)
        assert fixed.cache.totals["calls"] == 1
        assert fixed.cache.patterns[0].gets == size
        assert "get_in_loop" not in [f.kind for f in fixed.cache.findings]


async def test_get_in_loop_async_suggests_aget_many(backend):
    async with capture() as report:
        for pk in range(4):
            await cache.aget(f"badge_progress:{pk}")
    found = finding(report, "get_in_loop")
    assert found.code == 'values = await cache.aget_many([f"badge_progress:{pk}" for pk in pks])'


def test_get_in_loop_names_the_alias(settings):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "sessions": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    }
    with capture() as report:
        for key in ("a1b2c3d4e5f60718", "a1b2c3d4e5f60719", "a1b2c3d4e5f6071a"):
            caches["sessions"].get(f"s:{key}")
    assert finding(report, "get_in_loop").code == (
        'values = caches["sessions"].get_many([f"s:{digest}" for digest in digests])'
    )


def test_a_loop_below_the_threshold_is_not_flagged(backend, settings):
    settings.DDT_PERFPANELS = {"CACHE_LOOP_MIN_GETS": 10}
    with capture() as report:
        badge_view(range(6))
    assert "get_in_loop" not in [f.kind for f in report.cache.findings]


# -- repeated_get --------------------------------------------------------------------------


def test_repeated_get_and_reading_once(backend):
    cache.set("config:site", {"name": "x"})

    def page():
        header = cache.get("config:site")
        footer = cache.get("config:site")
        if cache.has_key("config:site"):
            return header, footer

    with capture() as report:
        page()
    found = finding(report, "repeated_get")
    assert (found.pattern, found.count) == ("config:site", 3)
    assert found.message == "config:site was read 3 times in this request."
    assert found.keys == ["config:site ×3"]
    assert "once per request" in found.suggestion

    with capture() as fixed:
        cache.get("config:site")
    assert "repeated_get" not in [f.kind for f in fixed.cache.findings]


# -- miss_without_set ----------------------------------------------------------------------


def test_miss_without_set_and_get_or_set_fixes_it(backend):
    with capture() as report:
        cache.get("stats:homepage")
    found = finding(report, "miss_without_set")
    assert (found.pattern, found.count) == ("stats:homepage", 1)
    assert "get_or_set" in found.suggestion

    with capture() as fixed:
        cache.get_or_set("stats:homepage", lambda: 42, 60)
    assert "miss_without_set" not in [f.kind for f in fixed.cache.findings]
    assert fixed.cache.totals["misses"] == 1  # still a miss, but now it is filled


def test_a_miss_that_is_then_set_is_fine(backend):
    with capture() as report:
        if cache.get("k") is None:
            cache.set("k", 1)
    assert report.cache.findings == []


# -- scan_keys -------------------------------------------------------------------------------


@pytest.mark.redis
def test_scan_keys_on_redis(django_redis):
    from django_redis import get_redis_connection

    cache.set_many({f"user:{pk}:profile": pk for pk in range(3)})
    with capture() as report:
        cache.keys("user:*")
        list(cache.iter_keys("user:*"))
        cache.delete_pattern("user:*")
        get_redis_connection("default").keys("raw:*")
    found = {f.message.split(" ran")[0]: f for f in report.cache.findings if f.kind == "scan_keys"}
    assert set(found) == {
        'cache.keys("user:*")',
        'cache.iter_keys("user:*")',
        'cache.delete_pattern("user:*")',
        "KEYS raw:*",
    }
    keys = found['cache.keys("user:*")']
    assert keys.pattern == "user:*" and keys.count == 1
    assert "O(N)" in keys.message and "KEYS blocks the server" in keys.message
    assert "versioned keys" in keys.suggestion and "delete_many()" in keys.suggestion
    assert "SCAN walks the whole Redis keyspace" in found['cache.iter_keys("user:*")'].message


# -- large_value -----------------------------------------------------------------------------


def test_large_value_and_its_threshold(backend, settings):
    with capture() as report:
        cache.set("report:1", b"z" * 300_000)
        cache.get("report:1")
        cache.set("small:1", b"z" * 1000)
    found = finding(report, "large_value")
    assert (found.pattern, found.count) == ("report:{int}", 2)
    assert 300_000 < found.size < 300_100
    assert "read 1 time and written 1 time" in found.message
    assert "(limit 100.0 KB)" in found.message

    settings.DDT_PERFPANELS = {"CACHE_LARGE_VALUE_BYTES": 500}
    with capture() as strict:
        cache.get("small:1")
    assert finding(strict, "large_value").pattern == "small:{int}"


# -- no_expiry -------------------------------------------------------------------------------


def test_no_expiry_only_when_none_is_not_the_default(backend, settings):
    with capture() as report:
        cache.set("banner:home", "x", None)
        cache.set("banner:sidebar", "x", timeout=None)
        cache.set("banner:footer", "x")  # the default: fine
    found = {f.pattern: f for f in report.cache.findings if f.kind == "no_expiry"}
    assert sorted(found) == ["banner:home", "banner:sidebar"]
    home = found["banner:home"]
    assert home.count == 1
    assert home.message == (
        "banner:home was stored with timeout=None (set): it never expires, while this "
        "cache's default is 300 s."
    )
    assert "Pass a timeout" in home.suggestion

    entry = dict(settings.CACHES["default"], TIMEOUT=None)
    settings.CACHES = {"default": entry}
    with capture() as fine:
        cache.set("banner:home", "x", None)
    assert fine.cache.findings == []


# -- settings ----------------------------------------------------------------------------------


@pytest.mark.django_db  # all checks: Django 6.1 asks the database about JSONField
def test_bad_settings_are_startup_errors(settings):
    settings.DDT_PERFPANELS = {"CACHE_LARGE_VALUE_BYTES": "100KB", "CACHE_SERVER_STATS": "yes"}
    messages = [e.msg for e in run_checks() if e.id.startswith("ddt_perfpanels")]
    assert (
        "DDT_PERFPANELS['CACHE_LARGE_VALUE_BYTES'] must be an integer from 1 to "
        "1,000,000,000,000, got '100KB'." in messages
    )
    assert "DDT_PERFPANELS['CACHE_SERVER_STATS'] must be True or False, got 'yes'." in messages


def test_max_calls_keeps_counting(backend, settings):
    settings.DDT_PERFPANELS = {"CACHE_MAX_CALLS": 3}
    with capture() as report:
        for pk in range(5):
            cache.get(f"k:{pk}")
    assert len(report.cache.calls) == 3
    assert report.cache.totals["calls"] == 5 and report.cache.totals["dropped_calls"] == 2
