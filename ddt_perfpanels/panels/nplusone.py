from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from ddt_perfpanels.panels.base import (
    PerfPanel,
    card_css,
    ignored_suffix,
    in_package,
    with_source,
)

if TYPE_CHECKING:
    from ddt_perfpanels.report import Report


class NPlusOnePanel(PerfPanel):
    """N+1 query clusters with the select_related/prefetch_related fix."""

    title = _("N+1 queries")
    template = "ddt_perfpanels/panels/nplusone.html"
    ignored_sources = ("nplusone", "unused_eager")

    @property
    def nav_subtitle(self) -> str:
        stats = self.get_stats()
        clusters = [c for c in stats.get("nplusone", []) if not in_package(c)]
        if stats.get("errors") and not clusters:
            return str(_("recording failed")) if not stats.get("query_count") else ""
        if not clusters:
            return str(_("none")) + ignored_suffix(stats)
        wasted = sum(max(c["count"] - 1, 0) for c in clusters)
        found = ngettext("%(n)d cluster", "%(n)d clusters", len(clusters)) % {
            "n": len(clusters)
        }
        lost = ngettext("%(w)d wasted query", "%(w)d wasted queries", wasted) % {"w": wasted}
        return f"{found}, {lost}" + ignored_suffix(stats)

    def build_stats(self, report: Report) -> dict[str, Any]:
        return {
            "query_count": report.query_count,
            "db_time_ms": round(report.db_time_ms, 2),
            "nplusone": [f.to_dict() for f in report.nplusone],
            "unused_eager": [f.to_dict() for f in report.unused_eager],
            "duplicate_loads": [f.to_dict() for f in report.duplicate_loads],
        }

    def add_source_lines(self, stats: dict[str, Any]) -> None:
        from ddt_perfpanels.analysis.nplusone import (
            DuplicateLoadFinding,
            NPlusOneFinding,
            UnusedEagerFinding,
        )

        clusters = stats.get("nplusone", [])
        stats["packages"] = [c for c in clusters if in_package(c)]
        stats["nplusone"] = [
            {
                **cluster,
                "source_frames": with_source(cluster.get("frames", [])),
                "css": card_css(NPlusOneFinding, cluster),
            }
            for cluster in clusters
            if not in_package(cluster)
        ]
        unused = [
            {**u, "css": card_css(UnusedEagerFinding, u)} for u in stats.get("unused_eager", [])
        ]
        stats["unused_eager"] = [u for u in unused if u.get("certain", True)]
        stats["unused_notes"] = [u for u in unused if not u.get("certain", True)]
        stats["duplicate_loads"] = [
            {**row, "css": card_css(DuplicateLoadFinding, row)}
            for row in stats.get("duplicate_loads", [])
        ]
        stats["combined"] = list(
            dict.fromkeys(
                c["combined_suggestion"] for c in stats["nplusone"] if c.get("combined_suggestion")
            )
        )
        # The same statements in the form of the class that owns the queryset.
        combined_where: dict[str, dict[str, Any]] = {}
        for cluster in stats["nplusone"]:
            combined = (cluster.get("where") or {}).get("combined")
            if combined:
                combined_where.setdefault(combined["fix"], combined)
        stats["combined_where"] = list(combined_where.values())
        stats["wasted"] = sum(max(c["count"] - 1, 0) for c in stats["nplusone"])
        # All but one query of a cluster were avoidable: that share of its time.
        stats["wasted_ms"] = round(
            sum(c["duration_ms"] * (c["count"] - 1) / c["count"] for c in stats["nplusone"]),
            2,
        )
