"""What budgets do with the metrics (``ddt_perfpanels.metrics``): ratios to a
limit and values as a person reads them.

Every value comes from ``Report.metrics()`` except ``response_time_ms``, which
whoever runs the code (the middleware, the panel, ``assert_budget``) measures.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

# The registry lives below the report (ddt_perfpanels.metrics); budgets read it.
from ddt_perfpanels.metrics import METRICS, Metric

__all__ = ["METRICS", "Metric", "format_ratio", "format_value", "ratio"]


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
