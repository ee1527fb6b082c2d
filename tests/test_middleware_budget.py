"""BudgetMiddleware on real requests: sync and async, function and class-based
views, sampling, the toolbar, and a database that fails while recording."""

import html
import logging

import pytest
from asgiref.sync import sync_to_async
from django.db import OperationalError, connection
from django.http import HttpResponse
from django.test import AsyncClient, Client
from django.urls import include, path
from django.views import View

from ddt_perfpanels import capture
from ddt_perfpanels.budgets import perf_budget
from ddt_perfpanels.models import BudgetViolation, ViolationMetric
from ddt_perfpanels.recording import current_recorder
from tests import settings as test_settings
from tests.factories import make_library
from tests.testapp import views
from tests.testapp.models import Book
from tests.toolbar import panel_content, toolbar_stats


def _titles():
    return "".join(f"{b.title} by {b.author.name};" for b in Book.objects.all())


@perf_budget(queries=1, nplusone=0)
class BooksView(View):
    def get(self, request):
        return HttpResponse(_titles())


@perf_budget(queries=1)
async def books_async(request):
    return HttpResponse(await sync_to_async(_titles)())


def probe(request, **kwargs):
    return HttpResponse("recording" if current_recorder() is not None else "not recording")


urlpatterns = [
    path("books/", views.book_list, name="book-list"),
    path("books/fixed/", views.book_list_fixed, name="book-list-fixed"),
    path("books/async/", views.book_list_async, name="book-list-async"),
    path("cbv/", BooksView.as_view(), name="books-cbv"),
    path("async/", books_async, name="books-async"),
    path("items/<int:pk>/", probe),
    path("probe/", probe, name="probe"),
    path("__debug__/", include("debug_toolbar.urls")),
]

pytestmark = pytest.mark.django_db
MIDDLEWARE = "ddt_perfpanels.middleware.BudgetMiddleware"


@pytest.fixture(autouse=True)
def budget_middleware(settings):
    settings.ROOT_URLCONF = "tests.test_middleware_budget"
    settings.MIDDLEWARE = [*test_settings.MIDDLEWARE, MIDDLEWARE]
    settings.DDT_PERFPANELS = {"BUDGETS": {"default": {"queries": 3, "nplusone": 0}}}
    make_library(authors=2, books_per_author=2)


def test_records_a_request_over_budget():
    response = Client().get("/books/?page=1", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    [violation] = BudgetViolation.objects.all()
    assert violation.route == "book-list"
    assert violation.path == "/books/"  # never the query string
    assert (violation.method, violation.status) == ("GET", 200)
    assert violation.limits == {"queries": 3, "nplusone": 0}
    assert violation.actuals["queries"] == 5
    assert violation.actuals["nplusone"] == 1
    assert violation.actuals["cache_misses"] == 0
    assert violation.actuals["response_time_ms"] > 0
    assert violation.sources == ["default"]
    assert (violation.worst_metric, violation.worst_ratio) == ("queries", 1.6667)
    assert violation.over_count == 2
    [cluster] = violation.nplusone
    assert cluster["suggestion"] == 'Book.objects.select_related("author")'
    assert cluster["count"] == 4
    assert cluster["access_site"].startswith("tests/testapp/views.py:")
    metrics = {
        m.metric: (m.limit, m.actual, m.ratio, m.route, m.method)
        for m in ViolationMetric.objects.filter(violation=violation)
    }
    assert metrics == {
        "queries": (3, 5, round(5 / 3, 4), "book-list", "GET"),
        # nplusone: a limit of 0 counts as 1 in the ratio
        "nplusone": (0, 1, 1.0, "book-list", "GET"),
    }


def test_nothing_recorded_within_budget():
    response = Client().get("/books/fixed/")
    assert response.status_code == 200
    assert not BudgetViolation.objects.exists()


def test_response_is_untouched():
    plain = Client().get("/books/").content
    assert BudgetViolation.objects.count() == 1
    assert b"Book 0-0 by Author 0" in plain
    assert b"djDebug" not in plain  # DEBUG is False here: no toolbar


def test_class_based_view_with_perf_budget():
    Client().get("/cbv/")
    [violation] = BudgetViolation.objects.all()
    assert violation.route == "books-cbv"
    assert violation.limits == {"queries": 1, "nplusone": 0}
    assert violation.sources == [
        "default",
        "@perf_budget on tests.test_middleware_budget.BooksView",
    ]


@pytest.mark.django_db(transaction=True)
async def test_async_view_under_asgi(close_thread_connections):
    response = await AsyncClient().get("/async/")
    assert response.status_code == 200
    assert b"Book 1-1 by Author 1" in response.content
    violations = await sync_to_async(list)(BudgetViolation.objects.all())
    [violation] = violations
    assert violation.route == "books-async"
    assert violation.limits == {"queries": 1, "nplusone": 0}
    assert violation.actuals["queries"] == 5
    assert violation.nplusone[0]["suggestion"] == 'Book.objects.select_related("author")'


@pytest.mark.django_db(transaction=True)
async def test_async_function_view_without_decorator(close_thread_connections):
    await AsyncClient().get("/books/async/")
    [violation] = await sync_to_async(list)(BudgetViolation.objects.all())
    assert violation.route == "book-list-async"
    assert violation.actuals["nplusone"] == 1


def test_its_own_writes_are_never_measured():
    with capture() as outer:
        Client().get("/books/fixed/", HTTP_X="1")  # within budget
        Client().get("/books/")  # over budget: written
    assert BudgetViolation.objects.count() == 1
    assert not [q.sql for q in outer.queries if "ddt_perfpanels_" in q.sql]
    assert BudgetViolation.objects.get().actuals["queries"] == 5


def test_sample_rate(settings, monkeypatch):
    settings.DDT_PERFPANELS = {**settings.DDT_PERFPANELS, "BUDGET_SAMPLE_RATE": 0.5}
    draws = iter([0.1, 0.9, 0.49, 0.5])
    monkeypatch.setattr("ddt_perfpanels.middleware.random.random", lambda: next(draws))
    client = Client()
    for _ in range(4):
        client.get("/books/")
    assert BudgetViolation.objects.count() == 2  # the draws below 0.5


def test_sample_rate_zero_does_not_even_record(settings):
    settings.DDT_PERFPANELS = {**settings.DDT_PERFPANELS, "BUDGET_SAMPLE_RATE": 0}
    assert Client().get("/probe/").content == b"not recording"
    settings.DDT_PERFPANELS = {**settings.DDT_PERFPANELS, "BUDGET_SAMPLE_RATE": 1}
    assert Client().get("/probe/").content == b"recording"


def test_requests_without_a_budget_are_not_even_recorded(settings):
    settings.DDT_PERFPANELS = {}
    client = Client()
    assert client.get("/probe/").content == b"not recording"
    client.get("/books/")
    assert not BudgetViolation.objects.exists()
    client.get("/cbv/")  # @perf_budget: measured all the same
    assert BudgetViolation.objects.get().route == "books-cbv"


def test_unresolved_path_and_unnamed_route(settings):
    settings.DDT_PERFPANELS = {
        "BUDGETS": {"routes": {"/items/*": {"response_time_ms": 0}, "/nowhere/*": {"queries": 0}}}
    }
    client = Client()
    client.get("/items/7/")
    client.get("/nowhere/at/all/")
    routes = dict(BudgetViolation.objects.values_list("path", "route"))
    assert routes["/items/<int:pk>/"] == "/items/<int:pk>/"  # the pattern, not /items/7/
    assert "/nowhere/at/all/" not in routes  # a 404 made no query
    settings.DDT_PERFPANELS = {"BUDGETS": {"routes": {"/nowhere/*": {"response_time_ms": 0}}}}
    client.get("/nowhere/at/all/")
    violation = BudgetViolation.objects.get(path="/nowhere/at/all/")
    assert (violation.route, violation.status) == ("", 404)


def test_database_failing_while_recording(caplog):
    def refuse_our_inserts(execute, sql, params, many, context):
        if "ddt_perfpanels_budgetviolation" in sql and sql.lstrip().upper().startswith("INSERT"):
            raise OperationalError("could not write: disk full")
        return execute(sql, params, many, context)

    caplog.set_level(logging.ERROR, logger="ddt_perfpanels")
    with connection.execute_wrapper(refuse_our_inserts):
        response = Client().get("/books/")
    assert response.status_code == 200
    assert b"Book 1-1 by Author 1" in response.content
    assert not BudgetViolation.objects.exists()
    [record] = [r for r in caplog.records if r.name == "ddt_perfpanels"]
    assert record.getMessage() == (
        "ddt_perfpanels could not record the budget violation of GET /books/"
    )
    assert "disk full" in caplog.text
    # The failed write was rolled back to its savepoint: the connection still works
    # (on PostgreSQL an aborted transaction would refuse every later query).
    assert Book.objects.count() == 4
    Client().get("/books/")
    assert BudgetViolation.objects.count() == 1


def test_a_bad_budget_never_breaks_a_request(settings, caplog):
    settings.DDT_PERFPANELS = {"BUDGETS": {"default": {"queries": -1, "querys": 2, "nplusone": 0}}}
    response = Client().get("/books/")
    assert response.status_code == 200
    [violation] = BudgetViolation.objects.all()
    assert violation.limits == {"nplusone": 0}  # the valid part applies
    assert "ignoring a bad budget" in caplog.text


def test_failure_inside_analysis_is_logged_not_raised(monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("analysis exploded")

    monkeypatch.setattr("ddt_perfpanels.budgets.evaluate.measure", broken)
    response = Client().get("/books/")
    assert response.status_code == 200
    assert "analysis exploded" in caplog.text
    assert not BudgetViolation.objects.exists()


# -- with the toolbar shown -------------------------------------------------------------


def test_toolbar_requests_are_never_recorded(settings):
    settings.DEBUG = True
    settings.DDT_PERFPANELS = {"BUDGETS": {"default": {"response_time_ms": 0}}}
    client = Client()
    response = client.get("/books/")
    content = panel_content(client, response, "BudgetPanel")  # a toolbar request
    assert "Over budget" in html.unescape(content) or "over budget" in content
    assert list(BudgetViolation.objects.values_list("path", flat=True)) == ["/books/"]


def test_with_the_toolbar_both_see_the_same_queries(settings):
    settings.DEBUG = True
    client = Client()
    response = client.get("/books/")
    assert "⚠ Over budget" in response.content.decode()
    violation = BudgetViolation.objects.get()
    assert violation.actuals["queries"] == 5


@pytest.mark.parametrize("budget_first", [False, True])
def test_the_toolbar_sql_panel_counts_what_our_panels_count(settings, budget_first):
    # Its writes (BEGIN, two INSERTs) are hidden from the toolbar's SQL panel too,
    # wherever the middleware is.
    settings.DEBUG = True
    if budget_first:
        settings.MIDDLEWARE = [MIDDLEWARE, *test_settings.MIDDLEWARE]
    response = Client().get("/books/")
    assert BudgetViolation.objects.count() == 1
    sql_panel = toolbar_stats(response, "SQLPanel")["queries"]
    budget_panel = toolbar_stats(response, "BudgetPanel")
    assert not [q["sql"] for q in sql_panel if "ddt_perfpanels_" in q["sql"]]
    assert len(sql_panel) == 5
    ours = {row["metric"]: row["actual"] for row in budget_panel["rows"]}["queries"]
    assert ours == 5 == BudgetViolation.objects.get().actuals["queries"]


def test_before_the_toolbar_middleware_too(settings):
    settings.DEBUG = True
    settings.MIDDLEWARE = [MIDDLEWARE, *test_settings.MIDDLEWARE]
    Client().get("/books/")
    violation = BudgetViolation.objects.get()
    assert violation.actuals["queries"] == 5  # the toolbar's own work is not counted


def test_prunes_expired_rows_now_and_then(settings):
    from datetime import timedelta

    from django.utils import timezone

    settings.DDT_PERFPANELS = {
        **settings.DDT_PERFPANELS,
        "BUDGET_PRUNE_EVERY": 2,
        "BUDGET_RETENTION_DAYS": 7,
    }
    old = timezone.now() - timedelta(days=8)
    Client().get("/books/")
    BudgetViolation.objects.update(created_at=old)
    ViolationMetric.objects.update(created_at=old)
    from ddt_perfpanels import middleware

    middleware._recorded = 0
    Client().get("/books/")  # 1st recorded: no pruning yet
    assert BudgetViolation.objects.filter(created_at=old).count() == 1
    Client().get("/books/")  # 2nd: one batch of expired rows goes
    assert BudgetViolation.objects.filter(created_at=old).count() == 0
    assert BudgetViolation.objects.count() == 2
    assert ViolationMetric.objects.filter(created_at=old).count() == 0
