"""Views that use the cache the way real pages do, for the toolbar tests."""

from django.core.cache import cache
from django.http import HttpResponse
from django.utils.html import escape

BADGES = [3, 5, 8, 13, 21]
PAGE = "<html><body><h1>{title}</h1><p>{body}</p></body></html>"


def badges(request):
    """One cache.get() per badge: the loop the panel should flag."""
    progress = [cache.get(f"badge_progress:{pk}", 0) for pk in BADGES]
    cache.set("homepage:banner", "<b>sale</b>", None)
    return HttpResponse(PAGE.format(title="Badges", body=escape(progress)))


def badges_fixed(request):
    found = cache.get_many([f"badge_progress:{pk}" for pk in BADGES])
    progress = [found.get(f"badge_progress:{pk}", 0) for pk in BADGES]
    return HttpResponse(PAGE.format(title="Badges", body=escape(progress)))


def many_calls(request):
    """2,000 gets: a page that reads its cache the slow way, at scale."""
    progress = [cache.get(f"badge_progress:{pk}", 0) for pk in range(2_000)]
    return HttpResponse(PAGE.format(title="Many", body=len(progress)))


def hostile(request):
    """Keys and values an attacker controls."""
    cache.get("<script>alert(1)</script>")
    cache.set(b"\xff\x00<img src=x onerror=alert(1)>", b"\x00\xff" * 10)
    cache.get(12345)
    return HttpResponse(PAGE.format(title="Hostile", body="ok"))


async def async_badges(request):
    found = await cache.aget_many([f"badge_progress:{pk}" for pk in BADGES])
    present = await cache.ahas_key("badge_progress:3")
    await cache.aset("visits", 1)
    value = await cache.aget("visits")
    return HttpResponse(PAGE.format(title="Async", body=escape((len(found), present, value))))


# The test that takes Redis down mid-request sets this to the server to kill.
server_to_kill = None


def redis_goes_down(request):
    cache.set("before", 1)
    server_to_kill.kill()
    try:
        value = cache.get("before")
    except Exception as exc:
        name = f"{type(exc).__module__}.{type(exc).__name__}"
        return HttpResponse(PAGE.format(title="Down", body=f"cache down: {name}"), status=503)
    return HttpResponse(PAGE.format(title="Up", body=escape(value)))
