"""A report measured against a budget: the rows every consumer shows, and the
findings (with their fixes) kept alongside a violation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ddt_perfpanels.budgets.config import Budget, Overage
from ddt_perfpanels.budgets.metrics import METRICS, format_value, ratio
from ddt_perfpanels.findings import compact
from ddt_perfpanels.metrics import LIGHT_UNMEASURED, labels


def measure(report: Any, response_time_ms: float | None = None) -> dict[str, float]:
    """Every budget metric for a report; cache metrics are 0 when not recorded."""
    values: dict[str, float] = dict.fromkeys(METRICS, 0)
    values.update({k: v for k, v in report.metrics().items() if k in METRICS})
    if getattr(report, "light", False):
        # Not measured by a light capture: absent, never a misleading 0.
        for name in LIGHT_UNMEASURED:
            values.pop(name, None)
    values["response_time_ms"] = _response_time(report, response_time_ms)
    return values


def _response_time(report: Any, response_time_ms: float | None = None) -> float:
    """As given, else the capture's duration."""
    return round(report.duration_ms if response_time_ms is None else response_time_ms, 3)


@dataclass
class BudgetResult:
    budget: Budget
    metrics: dict[str, float]
    over: list[Overage]

    @property
    def worst(self) -> Overage | None:
        return max(self.over, key=lambda o: o.ratio) if self.over else None

    def rows(self) -> list[dict[str, Any]]:
        """One row per metric, limited ones first: JSON for the panel."""
        over = {o.metric for o in self.over}
        label = labels()
        rows = []
        for name, metric in METRICS.items():
            limit = self.budget.limits.get(name)
            actual = self.metrics.get(name)
            rows.append(
                {
                    "metric": name,
                    "label": label[name],
                    "unit": metric.unit,
                    "actual": actual,
                    "limit": limit,
                    "actual_display": format_value(name, actual),
                    "limit_display": format_value(name, limit),
                    "over": name in over,
                    "percent": round(actual * 100 / limit)
                    if limit and actual is not None
                    else None,
                    "ratio": ratio(actual, limit)
                    if limit is not None and actual is not None
                    else None,
                    "source": self.budget.source_of(name) if limit is not None else "",
                }
            )
        rows.sort(key=lambda row: row["limit"] is None)
        return rows


# The metrics known without analysing a report's records (Report.plain_metrics()
# and the response time).
_READ_AS_IS = frozenset({"queries", "db_time_ms", "response_time_ms"})


def within_as_read(report: Any, budget: Budget) -> bool:
    """True when the budget limits only numbers the report reads as they are
    (queries, database and response time) and none is over: the request is
    within its budget without the rest being measured (duplicate queries, say,
    are counted over every query). False says: evaluate() it."""
    if not budget.limits.keys() <= _READ_AS_IS:
        return False
    values = {**report.plain_metrics(), "response_time_ms": _response_time(report)}
    return not budget.check(values)


def evaluate(report: Any, budget: Budget, response_time_ms: float | None = None) -> BudgetResult:
    metrics = measure(report, response_time_ms)
    return BudgetResult(budget, metrics, budget.check(metrics))


def summarize_findings(
    report: Any, limit: int, redacted: bool = False
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The worst N+1 clusters, and the other findings (counts, cache), each at most
    ``limit`` long, as small JSON dicts with their suggested fix; ``redacted``:
    without the values of the request (``redact.redact_finding``), to store."""
    from ddt_perfpanels.report import budgeted

    # Never by time: clusters of one size swapped places between identical runs.
    clusters = sorted(
        budgeted(report.nplusone), key=lambda f: (-f.count, f.model, f.path or f.lookup)
    )
    nplusone = [compact(f, redacted) for f in clusters[:limit]]
    cache = report.cache
    others = [*budgeted(report.counts or []), *(getattr(cache, "findings", None) or [])]
    findings = [compact(finding, redacted) for finding in others]
    findings.sort(key=lambda f: -(f.get("count") or 0))  # stable: each source is ordered
    return nplusone, findings[:limit]
