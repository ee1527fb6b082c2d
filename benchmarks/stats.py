"""The statistics of the paired estimate: plain functions, no Django."""

from __future__ import annotations

import math
import statistics


def median_ci(values: list[float]) -> tuple[float, float, float]:
    """The median of ``values`` and a 95% confidence interval for it that assumes
    no distribution: two order statistics of the sorted values, the ranks
    n/2 - 1.96 * sqrt(n) / 2 rounded down and 1 + n/2 + 1.96 * sqrt(n) / 2
    rounded up (the binomial count of values under the median, in its normal
    approximation)."""
    ordered = sorted(values)
    count = len(ordered)
    spread = 0.98 * math.sqrt(count)
    low = max(math.floor(count / 2 - spread) - 1, 0)
    high = min(math.ceil(count / 2 + spread), count - 1)
    return statistics.median(ordered), ordered[low], ordered[high]


def verdict(low: float, high: float, limit_low: float, limit_high: float) -> str:
    """Whether an interval is under a limit (itself an interval, for a fraction
    of another measured cost): "met" when all of it is at or under the limit's
    low end, "missed" when all of it is above the limit's high end, else "not
    shown" (the measurement cannot tell)."""
    if high <= limit_low:
        return "met"
    if low > limit_high:
        return "missed"
    return "not shown"
