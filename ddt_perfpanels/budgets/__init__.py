"""Performance budgets: one definition, enforced by the toolbar (``BudgetPanel``),
on recorded traffic (``BudgetMiddleware``) and in tests (``assert_budget``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ddt_perfpanels.budgets.config import Budget, budget_for_request, budget_for_url
    from ddt_perfpanels.budgets.decorators import perf_budget
    from ddt_perfpanels.budgets.metrics import METRICS
    from ddt_perfpanels.budgets.testing import BudgetExceeded, assert_budget

__all__ = [
    "METRICS",
    "Budget",
    "BudgetExceeded",
    "assert_budget",
    "budget_for_request",
    "budget_for_url",
    "perf_budget",
]

_WHERE = {
    "Budget": "config",
    "budget_for_request": "config",
    "budget_for_url": "config",
    "perf_budget": "decorators",
    "METRICS": "metrics",
    "BudgetExceeded": "testing",
    "assert_budget": "testing",
}


def __getattr__(name: str) -> Any:
    # Lazy, so that the pytest plugin in this package imports nothing of Django.
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'ddt_perfpanels.budgets' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"ddt_perfpanels.budgets.{module}"), name)
