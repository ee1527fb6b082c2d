from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from ddt_perfpanels.html import wrappable
from ddt_perfpanels.panels.base import PerfPanel, card_css, with_source

if TYPE_CHECKING:
    from ddt_perfpanels.report import Report


SHOWN_CALLS = 300


class CacheBreakdownPanel(PerfPanel):
    """Cache calls per key pattern, exact hit/miss on Redis, and what to fix.

    Its own name, so it can sit beside django-debug-toolbar's ``CachePanel``.
    """

    title = _("Cache breakdown")
    nav_title = _("Cache breakdown")
    template = "ddt_perfpanels/panels/cache.html"
    ignored_sources = ("cache",)

    @property
    def nav_subtitle(self) -> str:
        stats = self.get_stats()
        totals = (stats.get("cache") or {}).get("totals")
        if not totals:
            return str(_("recording failed")) if stats.get("errors") else ""
        calls = totals["calls"]
        if not calls:
            return str(_("no calls"))
        text = ngettext("%(n)d call", "%(n)d calls", calls) % {"n": calls}
        if totals["hit_ratio"] is not None:
            text += ", " + str(_("%(ratio)d%% hits")) % {"ratio": round(totals["hit_ratio"] * 100)}
        findings = len(stats["cache"].get("findings", []))
        if findings:
            text += ", " + ngettext("%(n)d finding", "%(n)d findings", findings) % {"n": findings}
        return text

    def build_stats(self, report: Report) -> dict[str, Any]:
        cache = report.cache
        if cache is None:
            return {"cache": None}
        stats = cache.to_dict(calls=True)
        # The patterns, totals and findings cover every call; the list of calls
        # stops at the first SHOWN_CALLS, as the toolbar's long lists do: 10,000
        # calls were 7.5 MB of HTML and took seconds to open.
        calls = stats.get("calls") or []
        stats["calls"] = calls[:SHOWN_CALLS]
        stats["calls_not_shown"] = len(calls) - len(stats["calls"])
        return {"cache": stats}

    def add_source_lines(self, stats: dict[str, Any]) -> None:
        cache = stats.get("cache")
        if not cache:
            return
        from ddt_perfpanels.analysis.cache import HIT_METHODS, SIZE_METHODS, CacheFinding

        findings = []
        for finding in cache.get("findings", []):
            findings.append(
                {
                    **finding,
                    "title": CacheFinding.heading_of(finding["kind"]),
                    "css": card_css(CacheFinding, finding),
                    "source_frames": with_source(finding.get("frames", [])),
                }
            )
        calls = []
        for call in cache.get("calls", []):
            exact, how = HIT_METHODS.get(call.get("hit_method") or "", (None, ""))
            calls.append(
                {
                    **call,
                    "hit_how": how,
                    "hit_exact": exact,
                    "source_frames": with_source(call.get("frames", [])),
                }
            )
        backends = [
            {**row, "backend_html": wrappable(row["backend"])}
            for row in cache.get("by_backend", [])
        ]
        stats["cache"] = {**cache, "findings": findings, "calls": calls, "by_backend": backends}
        stats["size_methods"] = SIZE_METHODS
        stats["show_alias"] = len({row["alias"] for row in cache.get("patterns", [])}) > 1
