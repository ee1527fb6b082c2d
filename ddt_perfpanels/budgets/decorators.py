"""``@perf_budget``: a budget declared next to the view it limits."""

from __future__ import annotations

from typing import Any, TypeVar

from ddt_perfpanels.budgets.config import BUDGET_ATTR, ViewBudget, validate_limits

V = TypeVar("V")

# Every @perf_budget applied in this process, for the system checks.
declared: list[ViewBudget] = []


def perf_budget(*args: Any, **limits: float | None) -> Any:
    """Limit a view's metrics: ``@perf_budget(queries=8, nplusone=0)``.

    Works on function views (sync or async) and on class-based views (decorate
    the class). The view itself is returned unchanged, so this costs nothing per
    request; the limits are read by ``BudgetPanel``, ``BudgetMiddleware`` and
    ``assert_budget(url=...)``. They override the settings' budgets metric by
    metric; ``None`` removes a limit. A wrong metric or value is a system check
    error at startup.
    """
    if args:
        raise TypeError(
            "perf_budget takes the limits as keyword arguments: "
            "@perf_budget(queries=8, nplusone=0)."
        )

    def decorate(view: V) -> V:
        name = f"{getattr(view, '__module__', '?')}.{getattr(view, '__qualname__', repr(view))}"
        clean, problems = validate_limits(limits, f"@perf_budget on {name}")
        budget = ViewBudget(name, clean, tuple(problems))
        setattr(view, BUDGET_ATTR, budget)
        declared.append(budget)
        return view

    return decorate
