from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from ddt_perfpanels.panels.base import PerfPanel

if TYPE_CHECKING:

    from ddt_perfpanels.report import Report


class BudgetPanel(PerfPanel):
    """This request against its performance budget, metric by metric."""

    title = _("Performance budget")
    template = "ddt_perfpanels/panels/budget.html"

    @property
    def nav_title(self) -> str:
        if self.get_stats().get("over"):
            return "⚠ " + str(_("Over budget"))
        return str(_("Budget"))

    @property
    def nav_subtitle(self) -> str:
        stats = self.get_stats()
        rows = stats.get("rows")
        if rows is None:
            return str(_("recording failed")) if stats.get("errors") else ""
        limited = stats.get("limited", 0)
        if not limited:
            return str(_("no budget"))
        over = stats.get("over", [])
        if over:
            return ngettext(
                "%(n)d of %(total)d metric over: %(names)s",
                "%(n)d of %(total)d metrics over: %(names)s",
                len(over),
            ) % {"n": len(over), "total": limited, "names": ", ".join(over)}
        return ngettext("within budget (%(n)d limit)", "within budget (%(n)d limits)", limited) % {
            "n": limited
        }

    def build_stats(self, report: Report) -> dict[str, Any]:
        from ddt_perfpanels.budgets.config import budget_for_request
        from ddt_perfpanels.budgets.evaluate import evaluate, summarize_findings
        from ddt_perfpanels.findings import finding_title

        request = self.toolbar.request
        budget = budget_for_request(request)
        result = evaluate(report, budget)
        nplusone, findings = summarize_findings(report, 10)
        fixes = [{**finding, "title": finding_title(finding)} for finding in [*nplusone, *findings]]
        return {
            "route": budget.route,
            "path": request.path,
            "sources": list(budget.sources),
            "limited": len(budget.limits),
            "rows": result.rows(),
            "over": [o.metric for o in result.over],
            "fixes": fixes,
        }
