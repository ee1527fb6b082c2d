"""The metrics a budget can limit: their names, labels and units.

Every value comes from ``Report.metrics()`` except ``response_time_ms``, which
whoever runs the code (the middleware, the panel, ``assert_budget``) measures.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    unit: str = ""  # "ms", "bytes" or "" for a count

    @property
    def is_count(self) -> bool:
        return self.unit == ""


# In the order the panel, the admin and failure messages show them.
METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("queries", _("Queries")),
        Metric("duplicate_queries", _("Duplicate queries")),
        Metric("similar_queries", _("Similar queries")),
        Metric("db_time_ms", _("Database time"), "ms"),
        Metric("nplusone", _("N+1 clusters")),
        Metric("count_findings", _("Count findings")),
        Metric("cache_calls", _("Cache calls")),
        Metric("cache_misses", _("Cache misses")),
        Metric("cache_sets", _("Cache sets")),
        Metric("cache_time_ms", _("Cache time"), "ms"),
        Metric("cache_bytes_read", _("Cache bytes read"), "bytes"),
        Metric("cache_bytes_written", _("Cache bytes written"), "bytes"),
        Metric("cache_findings", _("Cache findings")),
        Metric("redis_commands", _("Redis commands")),
        Metric("response_time_ms", _("Response time"), "ms"),
    )
}


MAX_RATIO = 1e12


def ratio(actual: float, limit: float) -> float:
    """How far over its limit a value is: actual / limit.

    A limit of 0 counts as 1 (one query, one millisecond, one byte), so that
    "3 N+1 clusters where none are allowed" is a ratio of 3, not infinity.
    """
    try:
        value = actual / (limit if limit > 0 else 1)
    except (OverflowError, ZeroDivisionError, TypeError):
        return MAX_RATIO
    # Stored in a float column and in JSON: never inf or nan.
    return round(min(value, MAX_RATIO), 4) if value == value else MAX_RATIO


def format_value(metric: str, value: float | None) -> str:
    """A value as a person reads it: ``12``, ``35.2 ms``, ``4,096 bytes``."""
    if value is None:
        return "—"
    unit = METRICS[metric].unit if metric in METRICS else ""
    if unit == "ms":
        return f"{value:,.1f} ms"
    number = f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"
    return f"{number} bytes" if unit == "bytes" else number


def format_ratio(metric: str, actual: float | None, limit: float | None, ratio: float) -> str:
    """How far over its limit a metric went: ``×3.20``; over a limit of 0 the
    ratio counts the limit as 1, and "×1.00" would read as "at the limit", so it
    says ``1 over a limit of 0``."""
    if limit == 0:
        return str(_("%(actual)s over a limit of 0")) % {"actual": format_value(metric, actual)}
    return f"×{ratio:.2f}"
