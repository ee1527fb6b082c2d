"""The one registry of metrics: every number a report gives (``Report.metrics()``)
and the response time, each with its label and unit, what it needs to be
measured, and whether a budget can limit it. Budgets, the panels, the admin, the
middleware, the test helpers and the plugin all read it from here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Metric:
    name: str
    label: Any  # a lazy translation
    unit: str = ""  # "ms", "bytes" or "" for a count
    # What measures it: "queries" (any capture), "orm" (the ORM provenance: not a
    # light capture), "cache" (the cache hooks), "response" (whoever runs the
    # code: the middleware, the panel, assert_budget).
    source: str = "queries"
    budget: bool = True  # a budget can limit it

    @property
    def is_count(self) -> bool:
        return self.unit == ""


# In the order the panel, the admin and failure messages show them.
ALL: tuple[Metric, ...] = (
    Metric("queries", _("Queries")),
    Metric("duplicate_queries", _("Duplicate queries")),
    Metric("similar_queries", _("Similar queries")),
    Metric("db_time_ms", _("Database time"), "ms"),
    Metric("nplusone", _("N+1 clusters"), source="orm"),
    Metric("count_findings", _("Count findings"), source="orm"),
    Metric("cache_calls", _("Cache calls"), source="cache"),
    # Reported beside the misses; a budget limits misses, never hits.
    Metric("cache_hits", _("Cache hits"), source="cache", budget=False),
    Metric("cache_misses", _("Cache misses"), source="cache"),
    Metric("cache_sets", _("Cache sets"), source="cache"),
    Metric("cache_time_ms", _("Cache time"), "ms", source="cache"),
    Metric("cache_bytes_read", _("Cache bytes read"), "bytes", source="cache"),
    Metric("cache_bytes_written", _("Cache bytes written"), "bytes", source="cache"),
    Metric("cache_findings", _("Cache findings"), source="cache"),
    Metric("redis_commands", _("Redis commands"), source="cache"),
    Metric("response_time_ms", _("Response time"), "ms", source="response"),
)

# What a budget can limit, by name.
METRICS: dict[str, Metric] = {m.name: m for m in ALL if m.budget}
# What a light capture does not measure (it keeps no ORM provenance).
LIGHT_UNMEASURED: tuple[str, ...] = tuple(m.name for m in ALL if m.source == "orm")
# What the cache report gives.
CACHE_METRICS: tuple[str, ...] = tuple(m.name for m in ALL if m.source == "cache")


# Each metric's label, translated, by language: a lazy label costs a lookup in
# the active translation (about 5 µs) each time it is made a str, and the budget
# panel shows every one of them on every request.
_labels: dict[str | None, dict[str, str]] = {}


def labels() -> dict[str, str]:
    """Every metric's label in the active language, by name."""
    language = get_language()
    found = _labels.get(language)
    if found is None:
        found = _labels[language] = {m.name: str(m.label) for m in ALL}
    return found


@receiver(setting_changed)
def _forget_labels(*, setting: str, **kwargs: Any) -> None:
    # The settings that change what a language's catalog says.
    if setting in ("LANGUAGES", "LANGUAGE_CODE", "LOCALE_PATHS", "INSTALLED_APPS"):
        _labels.clear()
