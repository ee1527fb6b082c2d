"""What our panels share: one capture per request, started by whichever of our
panels runs first, and stats computed once from its report."""

from __future__ import annotations

import inspect
import linecache
import logging
import pickle
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from debug_toolbar.panels import Panel
from django.apps import apps
from django.core.checks import Error
from django.core.handlers.asgi import ASGIRequest
from django.utils.translation import gettext_lazy as _

from ddt_perfpanels.api import capture
from ddt_perfpanels.finding import Finding
from ddt_perfpanels.ignoring import note_request

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponseBase

    from ddt_perfpanels.report import Report

logger = logging.getLogger("ddt_perfpanels")

_REPORT_ATTR = "_ddt_perfpanels_report"
_ERROR_ATTR = "_ddt_perfpanels_error"
_CAPTURE_ATTR = "_ddt_perfpanels_capture"
_STOPPED_ATTR = "_ddt_perfpanels_stopped"
# {panel_id: stats} of all our panels, built once; pickled while the toolbar
# builds its own panels' stats (see _build_all).
_STATS_ATTR = "_ddt_perfpanels_stats"
# The panel of ours whose disable_instrumentation() builds all our stats, or None
# (the toolbar's SQL panel comes first): found once, by the first of ours enabled.
_BUILDER_ATTR = "_ddt_perfpanels_builder"
# Our panels enabled for this request, in the toolbar's order: each adds itself
# as the toolbar enables it. Read instead of the toolbar's enabled_panels, a list
# it builds anew at every read by asking each of its panels (a cookie, the
# configuration, the panel's dotted name).
_OURS_ATTR = "_ddt_perfpanels_ours"
# Our panels whose generate_stats() ran before the toolbar's SQL panel's (listed
# after it: the toolbar builds the stats last to first). Their stats wait,
# pickled, through the SQL panel's (the peak of the request's memory), and are
# recorded at the first read of any of our panels' stats (the toolbar reads each
# panel's nav_subtitle as it renders), at the latest when the toolbar asks the
# panels for their headers, after rendering.
_PENDING_ATTR = "_ddt_perfpanels_pending"
# {panel_id: whether the toolbar builds its SQL panel's stats after this panel's}
# for our panels (see _PENDING_ATTR): found once per request.
_SQL_LATER_ATTR = "_ddt_perfpanels_sql_later"


def check_app_installed(panel_class: type) -> list[Error]:
    """ddt_perfpanels.E020: our panels configured without the app in INSTALLED_APPS.

    Run by the toolbar's own check of its panels, as the system checks are
    registered by the app that is missing (ddt_perfpanels.checks holds the others).
    Reported once, by the first of our panels.
    """
    from debug_toolbar.toolbar import DebugToolbar

    if apps.is_installed("ddt_perfpanels"):
        return []
    ours = [c for c in DebugToolbar.get_panel_classes() or () if issubclass(c, PerfPanel)]
    if ours and panel_class is not ours[0]:
        return []
    return [
        Error(
            f"{panel_class.__module__}.{panel_class.__name__} is in "
            "DEBUG_TOOLBAR_PANELS but 'ddt_perfpanels' is not in INSTALLED_APPS: "
            "its templates, static files and models would not be found.",
            hint="Add 'ddt_perfpanels' to INSTALLED_APPS (after 'debug_toolbar').",
            id="ddt_perfpanels.E020",
        )
    ]


def toolbar_report(toolbar: Any) -> Report | None:
    report: Report | None = getattr(toolbar, _REPORT_ATTR, None)
    return report


# Our ORM hooks sit between Django's frames on the stack of every query, and our
# panels' process_request below the view, as the toolbar's own panels do. The
# toolbar hides its own frames and Django's database layer from the stacks its
# SQL and cache panels show; ours are hidden the same way. Without this each
# query's stack in the SQL panel listed up to seven of our frames, and the
# toolbar read a source line for each of them.
HIDDEN_MODULE = "ddt_perfpanels"


def hide_hooks_in_toolbar_stacks(**kwargs: Any) -> None:
    """Once at ready(), and again when DEBUG_TOOLBAR_CONFIG changes (the toolbar
    then reads its configuration anew; connected after the toolbar's own
    receiver, so this runs after it)."""
    if kwargs.get("setting") not in (None, "DEBUG_TOOLBAR_CONFIG"):
        return
    try:
        from debug_toolbar import settings as dt_settings

        config = dt_settings.get_config()
        hidden = tuple(config.get("HIDE_IN_STACKTRACES") or ())
        if HIDDEN_MODULE not in hidden:
            config["HIDE_IN_STACKTRACES"] = (*hidden, HIDDEN_MODULE)
    except Exception:  # pragma: no cover - defensive: stacks only look busier
        logger.exception("ddt_perfpanels could not hide its frames from the toolbar")


class PerfPanel(Panel):
    """Base class: thin panels over the shared capture's report."""

    is_async = True
    template = ""
    # The report.ignored sources this panel lists, greyed, apart from its findings.
    ignored_sources: tuple[str, ...] = ()

    @property
    def enabled(self) -> bool:
        """The toolbar's answer, found once per request: the toolbar asks again
        and again (each read of its enabled_panels asks every panel), and each
        time reads a cookie, its configuration and the panel's dotted name. A
        panel loaded from the store answers from its stats, every time."""
        if self.from_store:
            return bool(super().enabled)
        enabled: bool | None = self.__dict__.get("_ddt_perfpanels_enabled")
        if enabled is None:
            enabled = self.__dict__["_ddt_perfpanels_enabled"] = bool(super().enabled)
        return enabled

    @property
    def scripts(self) -> list[str]:
        """The Copy buttons and the folding, in each of our panels."""
        from django.templatetags.static import static

        return [static("ddt_perfpanels/js/panels.js")]

    @classmethod
    def run_checks(cls) -> list[Error]:
        # Without the app our templates are not found: the toolbar loads, then
        # opening a panel is a 500. The toolbar asks each panel class; one of ours
        # answers for all of them.
        return check_app_installed(cls)

    # -- the one capture our panels share ------------------------------------------
    # It runs from the toolbar's enable_instrumentation() to its
    # disable_instrumentation(), around the whole chain of panels, so that no
    # frame of ours sits on the stack of every query. The toolbar's SQL panel
    # walks each frame of each query's stack: counted in instructions
    # (cachegrind, a 200-query N+1 view), each frame of ours there cost about
    # 22,000 per query, where all our panels' work now costs about 140,000.

    def enable_instrumentation(self) -> None:
        """The first of our panels starts the capture the others read too."""
        toolbar = self.toolbar
        ours: list[PerfPanel] | None = getattr(toolbar, _OURS_ATTR, None)
        if ours is None:
            ours = []
            setattr(toolbar, _OURS_ATTR, ours)
            setattr(toolbar, _BUILDER_ATTR, self._builder())
        ours.append(self)
        if getattr(toolbar, _REPORT_ATTR, None) is not None:
            return
        cap = capture()
        try:
            report = cap.start()
        except Exception as exc:  # pragma: no cover - defensive: never break the request
            logger.exception("ddt_perfpanels could not start recording")
            setattr(toolbar, _ERROR_ATTR, f"{type(exc).__name__}: {exc}")
            return
        setattr(toolbar, _REPORT_ATTR, report)
        setattr(toolbar, _CAPTURE_ATTR, cap)
        note_request(report, toolbar.request)

    def _ours(self) -> list[PerfPanel]:
        """Our panels enabled for this request, as the toolbar enabled them (or,
        when it did not, tests calling the methods: as it lists them)."""
        ours: list[PerfPanel] | None = getattr(self.toolbar, _OURS_ATTR, None)
        if ours is None:
            ours = [p for p in self.toolbar.enabled_panels if isinstance(p, PerfPanel)]
        return ours

    def _builder(self) -> PerfPanel | None:
        """The first of our panels enabled (this one, when the toolbar enables
        its panels in order), unless the toolbar's SQL panel comes before it.
        Found with, and kept beside, _SQL_LATER_ATTR: one walk of the panels."""
        from debug_toolbar.panels.sql import SQLPanel

        builder: PerfPanel | None = None
        first_found = False
        later: dict[str, bool] = {}
        sql_seen = False
        for panel in self.toolbar.panels:  # not enabled_panels: it asks every panel
            if isinstance(panel, SQLPanel):
                sql_seen = sql_seen or panel.enabled
            elif isinstance(panel, PerfPanel):
                later[panel.panel_id] = sql_seen
                if not first_found and panel.enabled:
                    first_found = True
                    builder = None if sql_seen else panel
        setattr(self.toolbar, _SQL_LATER_ATTR, later)
        return builder

    def disable_instrumentation(self) -> None:
        self._stop()
        # The toolbar disables its panels last to first. At the first of ours,
        # unless its SQL panel comes before it (it would still record what our
        # stats measure), build our stats and free the records now, before the
        # toolbar builds its own panels' stats.
        toolbar = self.toolbar
        if not hasattr(toolbar, _BUILDER_ATTR):  # not enabled by the toolbar
            setattr(toolbar, _BUILDER_ATTR, self._builder())
        if getattr(toolbar, _BUILDER_ATTR) is self:
            self._build_all(pack=True)

    def _stop(self) -> None:
        """Stop the capture, once (the toolbar calls each panel)."""
        toolbar = self.toolbar
        cap: capture | None = getattr(toolbar, _CAPTURE_ATTR, None)
        if cap is None or getattr(toolbar, _STOPPED_ATTR, False):
            return
        setattr(toolbar, _STOPPED_ATTR, True)
        try:
            cap.stop()
        except Exception as exc:  # pragma: no cover - defensive
            logger.exception("ddt_perfpanels could not stop recording")
            setattr(self.toolbar, _ERROR_ATTR, f"{type(exc).__name__}: {exc}")

    @property  # a callable, as the toolbar reads it
    def process_request(self) -> Callable[[HttpRequest], Any]:
        """The layer the toolbar chains for this panel: none for a WSGI request
        (the capture runs around the chain); for an ASGI one, one layer for all
        of our panels (the outermost skips the ones right inside it), where what
        they measure is measured in a thread before the toolbar builds the stats
        in the event loop."""
        inner = self.get_response
        if not isinstance(self.toolbar.request, ASGIRequest):
            return inner
        if getattr(inner, "__func__", None) is PerfPanel._async_layer:
            self.get_response = inner.__self__.get_response  # type: ignore[attr-defined]
        return self._async_layer

    def _async_layer(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        response = self.get_response(request)
        if inspect.isawaitable(response):
            return self._finish_async(response)
        return response

    async def _finish_async(self, awaitable: Awaitable[HttpResponseBase]) -> HttpResponseBase:
        try:
            response = await awaitable
        finally:
            self._stop()  # what is measured now is not the request's
        # The toolbar builds the stats in the event loop, where the database may
        # not be used: what our panels measure in it is measured now, in a thread.
        from asgiref.sync import sync_to_async

        report = toolbar_report(self.toolbar)
        measuring = [
            panel for panel in self._ours() if type(panel).measure is not PerfPanel.measure
        ]
        if report is not None and measuring:  # one thread hop for all of them
            await sync_to_async(_measure_all)(measuring, report)
        return response

    # -- stats ----------------------------------------------------------------------

    def build_stats(self, report: Report) -> dict[str, Any]:
        raise NotImplementedError

    def measure(self, report: Report) -> None:
        """Database work the stats need, for an async request: called in a thread
        that may use the database, before ``generate_stats`` (which the toolbar
        then calls in the event loop). A sync request's ``build_stats`` does it
        itself."""

    def generate_stats(self, request: HttpRequest, response: HttpResponseBase) -> None:
        toolbar = self.toolbar
        sql_later = self._sql_panel_later()
        self._build_all(pack=sql_later)
        if sql_later:
            pending: list[PerfPanel] | None = getattr(toolbar, _PENDING_ATTR, None)
            if pending is None:
                pending = []
                setattr(toolbar, _PENDING_ATTR, pending)
            pending.append(self)
            return
        self._record_pending(also=self)

    def _sql_panel_later(self) -> bool:
        """Whether the toolbar builds its SQL panel's stats after this panel's:
        it comes before this one in the toolbar's order."""
        toolbar = self.toolbar
        if not hasattr(toolbar, _SQL_LATER_ATTR):  # not enabled by the toolbar
            setattr(toolbar, _BUILDER_ATTR, self._builder())
        later: dict[str, bool] = getattr(toolbar, _SQL_LATER_ATTR)
        return later.get(self.panel_id, False)

    def _record_pending(self, also: PerfPanel | None = None) -> None:
        """Record the stats of the panels waiting (_PENDING_ATTR), and of ``also``."""
        toolbar = self.toolbar
        panels: list[PerfPanel] = getattr(toolbar, _PENDING_ATTR, None) or []
        setattr(toolbar, _PENDING_ATTR, None)
        if also is not None:
            panels.append(also)
        if not panels:
            return
        built: dict[str, dict[str, Any]] | bytes = getattr(toolbar, _STATS_ATTR)
        stats: dict[str, dict[str, Any]]
        if isinstance(built, bytes):  # ours, pickled by _build_all (see pack)
            stats = pickle.loads(built)
            setattr(toolbar, _STATS_ATTR, stats)
        else:
            stats = built
        for panel in panels:
            panel.record_stats(stats[panel.panel_id])  # type: ignore[no-untyped-call]  # debug_toolbar

    def get_stats(self) -> dict[str, Any]:
        if getattr(self.toolbar, _PENDING_ATTR, None):
            self._record_pending()
        stats: dict[str, Any] = super().get_stats()  # type: ignore[no-untyped-call]  # debug_toolbar
        return stats

    def get_headers(self, request: HttpRequest) -> dict[str, str]:
        """Called by the toolbar after it built every panel's stats and rendered
        itself: what is still waiting is recorded now (see _PENDING_ATTR)."""
        if getattr(self.toolbar, _PENDING_ATTR, None):
            self._record_pending()
        headers: dict[str, str] = super().get_headers(request)  # type: ignore[no-untyped-call]  # debug_toolbar
        return headers

    def _build_all(self, pack: bool = False) -> None:
        """The stats of every one of our panels, once per request, then the
        capture's records freed: whichever of our panels' generate_stats() the
        toolbar calls first (or the toolbar's last disable_instrumentation(),
        when it is ours), so that its own panels' stats (the SQL panel's are
        the biggest) are built without our records still in memory.

        ``pack``: built before the toolbar builds its SQL panel's stats, ours
        are held through them pickled (about 4 KiB for the 20 KiB of dicts of an
        N+1 page), until they are recorded (_record_pending)."""
        toolbar = self.toolbar
        if getattr(toolbar, _STATS_ATTR, None) is not None:
            return
        built: dict[str, dict[str, Any]] | bytes
        built = {panel.panel_id: panel._build_stats() for panel in self._ours()}
        if self.panel_id not in built:  # a panel not enabled (tests call it)
            built[self.panel_id] = self._build_stats()
        if pack:
            try:
                built = pickle.dumps(built, pickle.HIGHEST_PROTOCOL)
            except Exception:  # pragma: no cover - JSON-serializable stats pickle
                logger.exception("ddt_perfpanels could not hold its stats pickled")
        setattr(toolbar, _STATS_ATTR, built)
        cap: capture | None = getattr(toolbar, _CAPTURE_ATTR, None)
        if cap is not None and getattr(toolbar, _STOPPED_ATTR, False):
            cap.release()

    def _build_stats(self) -> dict[str, Any]:
        report = toolbar_report(self.toolbar)
        errors: list[str] = []
        stats: dict[str, Any] = {}
        if report is None:
            failure = getattr(self.toolbar, _ERROR_ATTR, None)
            errors.append(failure or "Nothing was recorded for this request.")
        else:
            try:
                stats = self.build_stats(report)
                if self.ignored_sources:
                    stats["ignored"] = ignored_rows(report, self.ignored_sources)
            except Exception as exc:
                logger.exception("ddt_perfpanels could not build the %s stats", self.panel_id)
                errors.append(f"{type(exc).__name__}: {exc}")
            errors.extend(report.errors)
            stats["notices"] = report.notices
        stats["errors"] = errors
        return stats

    @property
    def content(self) -> str:
        stats = dict(self.get_stats())
        self.add_source_lines(stats)
        from django.template.loader import render_to_string

        return render_to_string(self.template, stats)

    def add_source_lines(self, stats: dict[str, Any]) -> None:
        """Read source lines only now, when the panel is opened."""


def _measure_all(panels: list[PerfPanel], report: Report) -> None:
    for panel in panels:
        try:
            panel.measure(report)
        except Exception:  # pragma: no cover - defensive: the stats say less
            logger.exception("ddt_perfpanels could not measure for %s", panel.panel_id)


def in_package(finding: dict[str, Any]) -> bool:
    """A stored finding whose queryset an installed package builds: shown apart,
    folded (analysis.thirdparty)."""
    return (finding.get("third_party") or {}).get("owner") == "package"


def ignored_suffix(stats: dict[str, Any]) -> str:
    """", 2 ignored" for a nav subtitle: ignored findings are counted apart."""
    count = len(stats.get("ignored") or ())
    return ", " + str(_("%(n)d ignored") % {"n": count}) if count else ""


def ignored_rows(report: Report, sources: tuple[str, ...]) -> list[dict[str, Any]]:
    """The findings IGNORE or ignore() accepted: a title, where, and the fix."""
    from ddt_perfpanels.findings import compact

    rows = []
    ignored = report.ignored
    for source in sources:
        for finding in ignored.get(source, ()):
            data = compact(finding)
            rows.append(
                {
                    "title": finding.title_of(data),
                    "site": data.get("access_site") or data.get("origin") or "",
                    "fix": data.get("code") or data.get("suggestion") or "",
                }
            )
    return rows


def card_css(cls: type[Finding], finding: dict[str, Any]) -> str:
    """The class of a stored finding's card, from its kind's severity: a "bad"
    one has the card's own red border."""
    severity = cls.severity_of(finding.get("kind") or "")
    return "" if severity == "bad" else f"ddtpp-{severity}"


def source_line(filename: str, line: int) -> str:
    return linecache.getline(filename, line).strip()


def with_source(frames: list[list[Any]]) -> list[dict[str, Any]]:
    from ddt_perfpanels.recording.stack import short_path

    return [
        {"file": short_path(f), "line": n, "function": func, "source": source_line(f, n)}
        for f, n, func in frames
    ]
