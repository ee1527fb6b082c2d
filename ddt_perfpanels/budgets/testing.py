"""``assert_budget``: the budget as a test assertion."""

from __future__ import annotations

import functools
import inspect
from typing import Any

from ddt_perfpanels.budgets.config import Budget, budget_for_url, validate_limits
from ddt_perfpanels.budgets.evaluate import (
    BudgetResult,
    evaluate,
    summarize_findings,
)
from ddt_perfpanels.budgets.metrics import METRICS, format_value
from ddt_perfpanels.findings import format_findings

_MAX_FINDINGS = 10


class BudgetExceeded(AssertionError):
    """Raised by ``assert_budget`` with every metric over budget and the fixes."""

    def __init__(self, message: str, result: BudgetResult, report: Any):
        super().__init__(message)
        self.result = result
        self.report = report


class assert_budget:
    """Fail if the enclosed code goes over a budget.

    ::

        with assert_budget(queries=8, nplusone=0):
            client.get("/projects/")

        with assert_budget(url="/projects/"):      # the budget settings give that URL
            client.get("/projects/")

        @assert_budget(queries=3)                  # on a test function, sync or async
        def test_list(client): ...

    With ``url`` the budget is the one ``BudgetMiddleware`` would apply to a
    request to that URL (default, matching route, the view's ``@perf_budget``),
    and keyword limits override it. Without ``url`` only the keyword limits apply.
    ``response_time_ms`` is the time the block took. The failure message lists
    every metric over budget and the findings with their suggested fixes; the
    exception (``BudgetExceeded``) carries ``.result`` and ``.report``.
    """

    def __init__(self, url: str | None = None, *, urlconf: str | None = None, **limits: Any):
        clean, problems = validate_limits(limits, "assert_budget()")
        if problems:
            raise TypeError(
                " ".join(p.message + (f" {p.hint}" if p.hint else "") for p in problems)
            )
        if url is None and not clean:
            raise TypeError(
                "assert_budget() needs limits (assert_budget(queries=8)) or a URL whose "
                "budget settings define (assert_budget(url='/projects/'))."
            )
        self.url = url
        self.urlconf = urlconf
        self.limits = clean
        self.report: Any = None
        self._capture: Any = None

    def budget(self) -> Budget:
        if self.url is not None:
            return budget_for_url(self.url, self.urlconf).override(self.limits, "assert_budget()")
        return Budget({}, route="").override(self.limits, "assert_budget()")

    # -- context manager ---------------------------------------------------------

    def __enter__(self) -> Any:
        from ddt_perfpanels.api import capture

        self._capture = capture()
        self.report = self._capture.start()
        return self.report

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        __tracebackhide__ = True
        self._capture.stop()
        if exc_type is None:
            self.check(self.report)

    async def __aenter__(self) -> Any:
        return self.__enter__()

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        __tracebackhide__ = True
        self.__exit__(exc_type, exc, tb)

    # -- decorator ---------------------------------------------------------------

    def _fresh(self) -> assert_budget:
        return type(self)(self.url, urlconf=self.urlconf, **self.limits)

    def __call__(self, func: Any) -> Any:
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                __tracebackhide__ = True
                async with self._fresh():
                    return await func(*args, **kwargs)

            return async_wrapper

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            __tracebackhide__ = True
            with self._fresh():
                return func(*args, **kwargs)

        return wrapper

    # -- the check ---------------------------------------------------------------

    def check(self, report: Any) -> BudgetResult:
        __tracebackhide__ = True
        result = evaluate(report, self.budget())
        if result.over:
            raise BudgetExceeded(failure_message(result, report, self.url), result, report)
        return result


def failure_message(result: BudgetResult, report: Any, url: str | None = None) -> str:
    budget = result.budget
    where = f" for {url}" if url else ""
    if budget.route:
        where += f" (route {budget.route!r})"
    over = result.over
    lines = [
        f"Performance budget exceeded{where}: "
        f"{len(over)} metric{'s' if len(over) != 1 else ''} over.",
    ]
    width = max(len(str(METRICS[o.metric].label)) for o in over)
    for o in over:
        label = str(METRICS[o.metric].label)
        numbers = f"{format_value(o.metric, o.actual)} > {format_value(o.metric, o.limit)}"
        source = budget.source_of(o.metric)
        lines.append(f"  {label:<{width}}  {numbers}  ({o.metric}, limit from {source})")
    nplusone, findings = summarize_findings(report, _MAX_FINDINGS)
    if nplusone or findings:
        lines.append("")
        lines.append("Findings and their fixes:")
        lines.extend(format_findings([*nplusone, *findings]))
    if report.errors:
        lines.append("")
        lines.append("ddt_perfpanels could not record everything: " + "; ".join(report.errors))
    return "\n".join(lines)
