"""CacheBreakdownPanel inside a real django-debug-toolbar request cycle, next to the
toolbar's own CachePanel."""

from __future__ import annotations

import html
import json

import pytest
from django.test import AsyncClient, Client

from tests.cache import views
from tests.cache.conftest import cache_settings
from tests.toolbar import apanel_content, panel_content, toolbar_stats

PANEL = "CacheBreakdownPanel"


@pytest.fixture(autouse=True)
def toolbar_on(settings):
    settings.DEBUG = True


def test_panel_shows_the_breakdown_and_the_fix(backend):
    client = Client()
    response = client.get("/cache/badges/")
    assert response.status_code == 200
    content = panel_content(client, response, PANEL)
    assert "badge_progress:{int}" in content
    assert 'data-kind="get_in_loop"' in content
    code = 'values = cache.get_many([f"badge_progress:{pk}" for pk in pks])'
    assert html.escape(code) in content  # shown, and escaped
    assert f'data-ddtpp-copy="{html.escape(code)}"' in content
    assert "5 single-key get() calls for badge_progress:{int} from tests/cache/views.py:" in content
    assert 'data-kind="no_expiry"' in content
    assert "never expires" in content
    # The pattern table can be sorted by misses, bytes and time.
    assert content.count('class="ddtpp-num ddtpp-sortable"') == 9
    assert "tests/cache/views.py:" in content  # the call site, with its source line
    assert html.escape('progress = [cache.get(f"badge_progress:{pk}", 0) for pk in BADGES]') in (
        content
    )


def test_nav_subtitle(backend):
    client = Client()
    response = client.get("/cache/badges/")
    # 5 gets (all misses) and one set; get_in_loop, miss_without_set, no_expiry.
    assert "6 calls, 0% hits, 3 findings" in response.content.decode()


def test_the_fixed_view_is_one_call(backend):
    client = Client()
    response = client.get("/cache/badges/fixed/")
    stats = toolbar_stats(response, PANEL)
    assert stats["cache"]["totals"]["calls"] == 1
    assert "get_in_loop" not in [f["kind"] for f in stats["cache"]["findings"]]


def test_thousands_of_calls_list_the_first_few_hundred(settings):
    from ddt_perfpanels.panels.cache import SHOWN_CALLS

    settings.CACHES = {"default": cache_settings("locmem", None)}
    client = Client()
    # The toolbar's own cache panel renders a stack trace for each of the 2,000
    # calls (5 s): off, as a developer turns it off in the toolbar.
    client.cookies["djdtCachePanel"] = "off"
    response = client.get("/cache/many/")
    stats = toolbar_stats(response, PANEL)["cache"]
    content = panel_content(client, response, PANEL)
    # The totals, patterns and findings count every call; the list stops.
    assert stats["totals"]["calls"] == 2_000
    pattern = next(p for p in stats["patterns"] if p["pattern"] == "badge_progress:{int}")
    assert pattern["gets"] == 2_000
    loop = next(f for f in stats["findings"] if f["kind"] == "get_in_loop")
    assert loop["count"] == 2_000
    assert len(stats["calls"]) == SHOWN_CALLS == 300
    assert "… and 1700 more calls, not listed" in content
    listed = content.split('<table class="ddtpp-calls">')[1].split("</table>")[0]
    assert listed.count("<tr") == 1 + SHOWN_CALLS  # the header, then the calls
    assert len(content) < 500_000, len(content)


def test_stats_are_stored_as_json(backend):
    client = Client()
    response = client.get("/cache/badges/")
    stats = toolbar_stats(response, PANEL)
    json.dumps(stats)
    cache = stats["cache"]
    assert cache["totals"]["misses"] == 5
    [row] = [r for r in cache["patterns"] if r["pattern"] == "badge_progress:{int}"]
    assert (row["gets"], row["misses"], row["hit_ratio"]) == (5, 5, 0.0)
    assert [c["operation"] for c in cache["calls"]] == ["get"] * 5 + ["set"]
    assert cache["calls"][0]["frames"][0][0].endswith("tests/cache/views.py")


def test_coexists_with_the_toolbars_cache_panel(backend):
    client = Client()
    response = client.get("/cache/badges/")
    ours = toolbar_stats(response, PANEL)["cache"]["totals"]
    theirs = toolbar_stats(response, "CachePanel")
    assert theirs["total_calls"] == ours["calls"] == 6
    # Our panel's hit/miss counts are exact; the toolbar's compare values to defaults.
    assert ours["exact"] is True


@pytest.mark.filterwarnings("ignore::django.core.cache.backends.base.CacheKeyWarning")
def test_hostile_keys_are_escaped(backend):
    client = Client()
    response = client.get("/cache/hostile/")
    assert response.status_code == 200
    content = panel_content(client, response, PANEL)
    assert "<script>alert(1)</script>" not in content
    assert "<img src=x" not in content
    assert html.escape("<script>alert(1)</script>") in content
    stats = toolbar_stats(response, PANEL)
    written = [k["written"] for c in stats["cache"]["calls"] for k in c["keys"]]
    assert written == [
        "<script>alert(1)</script>",
        repr(b"\xff\x00<img src=x onerror=alert(1)>"),
        "12345",
    ]


@pytest.mark.django_db(transaction=True)
async def test_async_view_under_asgi(backend):
    """Django 6.1's aget_many()/ahas_key() with the toolbar's CachePanel patches."""
    client = AsyncClient()
    response = await client.get("/cache/async/")
    assert response.status_code == 200
    assert html.escape("(0, False, 1)") in response.content.decode()
    content = await apanel_content(client, response, PANEL)
    assert "aget_many" in content and "ahas_key" in content


@pytest.mark.redis
def test_redis_down_mid_request(settings, fresh_redis):
    settings.CACHES = {"default": cache_settings("django_redis", fresh_redis.url)}
    views.server_to_kill = fresh_redis
    client = Client()
    try:
        response = client.get("/cache/down/")
    finally:
        views.server_to_kill = None
    # The view saw exactly what it sees without the panel: redis-py's error.
    assert response.status_code == 503
    assert b"cache down: redis.exceptions.ConnectionError" in response.content
    content = panel_content(client, response, PANEL)
    assert "failed" in content and "ConnectionError" in content
    stats = toolbar_stats(response, PANEL)["cache"]
    assert stats["totals"]["errors"] == 1
    [server] = stats["servers"]
    assert server["error"].startswith("after:")
    assert "not readable" in content


@pytest.mark.redis
def test_redis_commands_and_server_counters_are_shown(django_redis):
    client = Client()
    response = client.get("/cache/badges/fixed/")
    content = panel_content(client, response, PANEL)
    assert "MGET" in content
    assert "Redis servers (server-wide counters)" in content
    assert "hit/miss exact" in content
    assert "exact: Redis replies" in content
    # The backend's dotted path wraps after its dots, not inside a word.
    assert "<code>django_<wbr>redis.<wbr>cache.<wbr>RedisCache</code>" in content
