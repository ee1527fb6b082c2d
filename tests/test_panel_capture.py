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
