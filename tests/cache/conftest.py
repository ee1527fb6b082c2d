"""Fixtures for the cache tests: each cache backend, on the suite's real Redis
(``redis_server`` and ``fresh_redis`` in tests/conftest.py)."""

from __future__ import annotations

import pytest

BACKENDS = {
    "locmem": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "t"},
    "django_redis": {"BACKEND": "django_redis.cache.RedisCache", "DB": 0},
    "redis": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "DB": 1},
}


@pytest.fixture(scope="session")
def redis_url(redis_server) -> str:
    return redis_server.url


def cache_settings(name: str, url: str | None, **options) -> dict:
    entry = dict(BACKENDS[name])
    db = entry.pop("DB", None)
    if db is not None:
        assert url is not None
        entry["LOCATION"] = url.rsplit("/", 1)[0] + f"/{db}"
    if options:
        entry["OPTIONS"] = options
    return entry


@pytest.fixture(
    params=[
        "locmem",
        pytest.param("django_redis", marks=pytest.mark.redis),
        pytest.param("redis", marks=pytest.mark.redis),
    ]
)
def backend(request, settings) -> str:
    """Each backend in turn as the "default" cache, emptied first."""
    name = request.param
    url = None
    if name != "locmem":
        url = request.getfixturevalue("redis_url")
    settings.CACHES = {"default": cache_settings(name, url)}
    from django.core.cache import cache

    cache.clear()
    yield name
    cache.clear()


@pytest.fixture(
    params=[
        pytest.param("django_redis", marks=pytest.mark.redis),
        pytest.param("redis", marks=pytest.mark.redis),
    ]
)
def redis_backend(request, settings, redis_url) -> str:
    """The two Redis backends (django-redis and Django's RedisCache) as "default"."""
    settings.CACHES = {"default": cache_settings(request.param, redis_url)}
    from django.core.cache import cache

    cache.clear()
    yield request.param
    cache.clear()


@pytest.fixture
def django_redis(settings, redis_url) -> str:
    settings.CACHES = {"default": cache_settings("django_redis", redis_url)}
    from django.core.cache import cache

    cache.clear()
    yield "django_redis"
    cache.clear()
