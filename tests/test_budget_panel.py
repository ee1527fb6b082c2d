"""BudgetPanel inside a real django-debug-toolbar request cycle."""

import html

import pytest
from django.test import AsyncClient, Client
from django.urls import include, path

from tests.factories import make_library
from tests.testapp import views
from tests.toolbar import apanel_content, panel_content, toolbar_stats

pytestmark = pytest.mark.django_db

# Our own URLconf: debug_toolbar_urls() in tests.urls is empty when DEBUG was
# False the first time it was imported.
urlpatterns = [
    path("books/", views.book_list, name="book-list"),
    path("books/fixed/", views.book_list_fixed, name="book-list-fixed"),
    path("books/async/", views.book_list_async, name="book-list-async"),
    path("__debug__/", include("debug_toolbar.urls")),
]

BUDGETS = {"default": {"queries": 3, "nplusone": 0, "db_time_ms": 10_000}}


@pytest.fixture(autouse=True)
def toolbar_on(settings):
    settings.DEBUG = True
    settings.ROOT_URLCONF = "tests.test_budget_panel"
    settings.DDT_PERFPANELS = {"BUDGETS": BUDGETS}
    make_library(authors=2, books_per_author=2)


def nav(response):
    return html.unescape(response.content.decode())


def test_over_budget_turns_the_nav_title_to_a_warning():
    response = Client().get("/books/")
    page = nav(response)
    assert "⚠ Over budget" in page
    assert "2 of 3 metrics over: queries, nplusone" in page


def test_panel_shows_each_metric_against_its_limit():
    client = Client()
    response = client.get("/books/")
    content = panel_content(client, response, "BudgetPanel")
    assert "2 of 3 limited metrics are over budget." in content
    rows = {
        row["metric"]: (row["actual"], row["limit"], row["over"], row["percent"])
        for row in toolbar_stats(response, "BudgetPanel")["rows"]
    }
    assert rows["queries"] == (5, 3, True, 167)
    assert rows["nplusone"] == (1, 0, True, None)
    assert rows["db_time_ms"][1:3] == (10_000, False)
    assert rows["cache_misses"] == (0, None, False, None)  # measured, not limited
    # Over rows are red; the fix is there, escaped, with its copy button.
    assert '<tr class="ddtpp-over">' in content
    assert "✗ Queries <code>queries</code>" in content
    assert '<td class="ddtpp-num">1 over a limit of 0</td>' in content  # nplusone 1 > 0
    assert html.escape('Book.objects.select_related("author")') in content
    assert 'data-ddtpp-copy="Book.objects.select_related(&quot;author&quot;)"' in content
    assert "<code>default</code>" in content


def test_within_budget():
    client = Client()
    response = client.get("/books/fixed/")
    page = nav(response)
    assert "within budget (3 limits)" in page
    assert "⚠ Over budget" not in page
    content = panel_content(client, response, "BudgetPanel")
    assert "Within budget: all 3 limited metrics." in content
    assert '<tr class="ddtpp-over">' not in content


def test_no_budget_says_how_to_set_one(settings):
    settings.DDT_PERFPANELS = {}
    client = Client()
    response = client.get("/books/")
    assert "no budget" in nav(response)
    content = html.unescape(panel_content(client, response, "BudgetPanel"))
    assert 'No budget applies to this request: set DDT_PERFPANELS["BUDGETS"]' in content
    assert "5" in content  # the metrics are still measured and shown


def test_route_budget_and_its_source(settings):
    settings.DDT_PERFPANELS = {"BUDGETS": {**BUDGETS, "routes": {"book-list*": {"queries": 10}}}}
    client = Client()
    response = client.get("/books/")
    stats = toolbar_stats(response, "BudgetPanel")
    assert stats["route"] == "book-list"
    assert stats["sources"] == ["default", "route 'book-list*'"]
    assert stats["over"] == ["nplusone"]
    assert "1 of 3 metric over: nplusone" in nav(response)


def test_user_controlled_text_is_escaped(settings):
    settings.DDT_PERFPANELS = {"BUDGETS": {"routes": {"/nowhere/*": {"response_time_ms": 0}}}}
    client = Client()
    response = client.get("/nowhere/<b>x</b>/")
    assert response.status_code == 404
    content = panel_content(client, response, "BudgetPanel")
    assert "/nowhere/&lt;b&gt;x&lt;/b&gt;/" in content
    assert "<b>x</b>" not in content
    assert "route '/nowhere/*'" in html.unescape(content)


@pytest.mark.django_db(transaction=True)
async def test_async_view_under_asgi(close_thread_connections):
    client = AsyncClient()
    response = await client.get("/books/async/")
    assert "⚠ Over budget" in nav(response)
    content = await apanel_content(client, response, "BudgetPanel")
    assert html.escape('Book.objects.select_related("author")') in content
