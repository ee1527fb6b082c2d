"""How our panels share one capture inside the toolbar's request cycle: no frame
of theirs under the view's queries (the toolbar's SQL panel walks every frame of
every query), and the records freed before the toolbar builds its own stats."""

import sys

import pytest
from debug_toolbar.panels.sql import SQLPanel
from django.db import connection
from django.test import Client

from ddt_perfpanels.panels.base import toolbar_report
from tests.factories import make_library
from tests.toolbar import toolbar_stats

pytestmark = pytest.mark.django_db

# The toolbar's panels that work with the test URLs (History needs its own).
TOOLBARS = [
    "debug_toolbar.panels.timer.TimerPanel",
    "debug_toolbar.panels.sql.SQLPanel",
    "debug_toolbar.panels.cache.CachePanel",
]
OURS = [
    "ddt_perfpanels.panels.NPlusOnePanel",
    "ddt_perfpanels.panels.CountsPanel",
    "ddt_perfpanels.panels.CacheBreakdownPanel",
    "ddt_perfpanels.panels.BudgetPanel",
]


@pytest.fixture(autouse=True)
def toolbar_on(settings):
    settings.DEBUG = True
    make_library(authors=2, books_per_author=2)


def test_no_frame_of_our_panels_is_under_the_views_queries():
    modules: list[set[str]] = []

    def spy(execute, sql, params, many, context):
        frames, frame = set(), sys._getframe()
        while frame is not None:
            frames.add(frame.f_globals.get("__name__", ""))
            frame = frame.f_back
        modules.append(frames)
        return execute(sql, params, many, context)

    connection.ensure_connection()
    connection.execute_wrappers.append(spy)
    try:
        response = Client().get("/books/")
    finally:
        connection.execute_wrappers.remove(spy)
    assert response.status_code == 200
    assert len(modules) >= 5  # the page's queries (1 + 4 lazy authors)
    assert all("tests.testapp.views" in frames for frames in modules)
    assert not [m for frames in modules for m in frames if m.startswith("ddt_perfpanels.panels")]
    # ... and the toolbar's chain ran: the panels saw the cluster.
    [cluster] = toolbar_stats(response, "NPlusOnePanel")["nplusone"]
    assert cluster["count"] == 4


@pytest.mark.parametrize(
    "panels",
    [
        pytest.param([*OURS, *TOOLBARS], id="ours-first"),
        pytest.param([*TOOLBARS, *OURS], id="ours-last"),
    ],
)
def test_records_are_freed_before_the_toolbars_sql_panel_builds_its_stats(
    settings, monkeypatch, panels
):
    settings.DEBUG_TOOLBAR_PANELS = panels
    seen: list[int] = []
    generate = SQLPanel.generate_stats

    def sql_generate_stats(self, request, response):
        report = toolbar_report(self.toolbar)
        seen.append(len(report.recorder.queries) if report is not None else -1)
        return generate(self, request, response)

    monkeypatch.setattr(SQLPanel, "generate_stats", sql_generate_stats)
    response = Client().get("/books/")
    assert response.status_code == 200
    assert seen == [0]  # the report is there, its records already freed
    # Every one of our panels still has its stats.
    [cluster] = toolbar_stats(response, "NPlusOnePanel")["nplusone"]
    assert cluster["suggestion"] == 'Book.objects.select_related("author")'
    assert toolbar_stats(response, "CountsPanel")["query_count"] == 5
    assert toolbar_stats(response, "BudgetPanel")["path"] == "/books/"


def test_our_panels_ask_the_toolbar_which_panels_are_on_no_more_than_it_does(
    settings, monkeypatch
):
    # The toolbar's enabled_panels asks every panel whether it is on (a cookie,
    # its configuration, the panel's dotted name) at each read; and each of our
    # panels is asked, by the toolbar, several times per request.
    from debug_toolbar.panels import Panel
    from debug_toolbar.toolbar import DebugToolbar

    settings.DEBUG_TOOLBAR_PANELS = [*TOOLBARS, *OURS]
    reads = {"enabled_panels": 0, "ours_asked": 0}
    enabled_panels = DebugToolbar.enabled_panels
    panel_enabled = Panel.enabled

    def counted_enabled_panels(self):
        reads["enabled_panels"] += 1
        return enabled_panels.fget(self)

    def counted_enabled(self):
        if type(self).__module__.startswith("ddt_perfpanels"):
            reads["ours_asked"] += 1
        return panel_enabled.fget(self)

    monkeypatch.setattr(DebugToolbar, "enabled_panels", property(counted_enabled_panels))
    monkeypatch.setattr(Panel, "enabled", property(counted_enabled))
    with_ours = Client().get("/books/")
    assert with_ours.status_code == 200
    [cluster] = toolbar_stats(with_ours, "NPlusOnePanel")["nplusone"]
    assert cluster["count"] == 4
    with_ours_reads = dict(reads)

    settings.DEBUG_TOOLBAR_PANELS = TOOLBARS
    reads["enabled_panels"] = 0
    assert Client().get("/books/").status_code == 200
    # Read as often as by the toolbar alone (to enable, disable, build the stats).
    assert with_ours_reads["enabled_panels"] == reads["enabled_panels"]
    # Each of our four panels answers once per request, however often asked.
    assert with_ours_reads["ours_asked"] == len(OURS)


def test_in_either_order_our_stats_are_held_pickled_through_the_sql_panel_s(settings, monkeypatch):
    """Listed first (as the README lists them), our panels' stats are built as
    the toolbar disables them, before it builds its own panels' stats; listed
    after them, in our generate_stats(), which the toolbar calls before its SQL
    panel's. Either way they are held pickled through the SQL panel's (the peak
    of the request's memory), none of them recorded yet, and each of our panels
    gets the same stats in both orders."""
    from ddt_perfpanels.panels.base import _STATS_ATTR

    held: list[type] = []
    recorded_by_then: list[set[str]] = []
    generate = SQLPanel.generate_stats

    def sql_generate_stats(self, request, response):
        held.append(type(getattr(self.toolbar, _STATS_ATTR)))
        recorded_by_then.append(set(self.toolbar.stats) & {p.rsplit(".", 1)[1] for p in OURS})
        return generate(self, request, response)

    monkeypatch.setattr(SQLPanel, "generate_stats", sql_generate_stats)
    stats = {}
    for panels in ([*OURS, *TOOLBARS], [*TOOLBARS, *OURS]):
        settings.DEBUG_TOOLBAR_PANELS = panels
        response = Client().get("/books/")
        assert response.status_code == 200
        stats[panels[0]] = {
            name: toolbar_stats(response, name)
            for name in ("NPlusOnePanel", "CountsPanel", "CacheBreakdownPanel", "BudgetPanel")
        }
    assert held == [bytes, bytes]
    assert recorded_by_then == [set(), set()]
    first, last = stats[OURS[0]], stats[TOOLBARS[0]]
    assert first["NPlusOnePanel"]["nplusone"][0]["count"] == 4
    for name in first:
        # The same but for what differs between any two requests (timings).
        assert first[name].keys() == last[name].keys(), name
    assert first["NPlusOnePanel"]["nplusone"][0]["suggestion"] == (
        last["NPlusOnePanel"]["nplusone"][0]["suggestion"]
    )
    assert first["BudgetPanel"]["rows"][0] == last["BudgetPanel"]["rows"][0]  # the query count


@pytest.mark.parametrize("split", [False, True], ids=["ours-after", "one-of-ours-before"])
def test_stats_held_for_the_sql_panel_reach_the_store_if_the_toolbar_never_reads_them(
    settings, monkeypatch, split
):
    """Listed after the toolbar's SQL panel, our stats are recorded at the first
    read of them (the toolbar's template reads each panel's nav_subtitle), else
    when the toolbar asks each panel for its headers, after it has rendered; or
    by the generate_stats() of one of ours listed before the SQL panel, which the
    toolbar calls after the SQL panel's."""
    from debug_toolbar.panels import Panel
    from debug_toolbar.toolbar import DebugToolbar

    from ddt_perfpanels.panels import BudgetPanel, CacheBreakdownPanel, CountsPanel, NPlusOnePanel

    for panel_class in (NPlusOnePanel, CountsPanel, CacheBreakdownPanel, BudgetPanel):
        # A toolbar template that shows neither (nothing else reads our stats).
        monkeypatch.setattr(panel_class, "nav_subtitle", property(lambda self: ""))
        monkeypatch.setattr(panel_class, "nav_title", property(lambda self: "ours"))
    rendered: list[bool] = []
    render = DebugToolbar.render_toolbar

    def render_toolbar(self):
        html = render(self)
        rendered.append(True)
        return html

    recorded: list[tuple[str, bool]] = []
    record = Panel.record_stats

    def record_stats(self, stats):
        recorded.append((self.panel_id, bool(rendered)))
        return record(self, stats)

    monkeypatch.setattr(DebugToolbar, "render_toolbar", render_toolbar)
    monkeypatch.setattr(Panel, "record_stats", record_stats)
    settings.DEBUG_TOOLBAR_PANELS = [OURS[0], *TOOLBARS, *OURS[1:]] if split else [*TOOLBARS, *OURS]
    response = Client().get("/books/")
    assert response.status_code == 200
    ours = {p.rsplit(".", 1)[1] for p in OURS}
    after_rendering = {panel_id: after for panel_id, after in recorded if panel_id in ours}
    assert after_rendering == dict.fromkeys(ours, not split)
    [cluster] = toolbar_stats(response, "NPlusOnePanel")["nplusone"]
    assert cluster["count"] == 4
    assert toolbar_stats(response, "BudgetPanel")["rows"][0]["actual"] == 5
    assert toolbar_stats(response, "CountsPanel")["errors"] == []
