"""The statistics of the paired estimate, and the arithmetic of the
instruction counts: plain functions, no Django."""

from __future__ import annotations

import math
import re
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


def collected(stderr: str) -> int:
    """The instructions callgrind counted, from what it prints at exit."""
    match = re.search(r"Collected\s*:\s*(\d+)", stderr)
    if match is None:
        raise RuntimeError(f"callgrind counted nothing: {stderr[-2000:]}")
    return int(match.group(1))


def instruction_rows(
    per_request: dict[tuple[str, int], float], pairs: tuple[tuple[str, str, str], ...]
) -> list[dict]:
    """The cost per query of each of ``pairs`` ((the cost of what, the
    configuration without it, with it)), from instructions per request of each
    (configuration, queries): (with it - without it) / queries."""
    rows = []
    for n in sorted({n for _config, n in per_request}):
        for label, without, with_ in pairs:
            if (without, n) in per_request and (with_, n) in per_request:
                cost = (per_request[with_, n] - per_request[without, n]) / n
                rows.append(
                    {
                        "queries": n,
                        "cost_of": label,
                        "pairs": f"{with_} - {without}",
                        "instructions_per_query": round(cost),
                        "base_per_query": round(per_request[without, n] / n),
                    }
                )
    by = {(row["queries"], row["cost_of"]): row for row in rows}
    for row in rows:
        if row["cost_of"] != "our panels":
            continue
        ours = row["instructions_per_query"]
        for label, key in (("the toolbar", "of_the_toolbar"), ("django-zeal", "of_zeal")):
            other = by.get((row["queries"], label))
            if other is not None and other["instructions_per_query"] > 0:
                row[key] = round(ours / other["instructions_per_query"], 3)
    for row in rows:
        if row["cost_of"] == "light capture":
            row["of_the_request"] = round(row["instructions_per_query"] / row["base_per_query"], 4)
    return rows
