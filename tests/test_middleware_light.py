"""BudgetMiddleware's light captures: numbers only, unless the budget limits
what needs the ORM hooks or the route went over its budget lately."""

import pytest
from django.core.checks import run_checks
from django.test import Client

from ddt_perfpanels import middleware
from ddt_perfpanels.models import BudgetViolation
from tests import settings as test_settings
from tests.factories import make_library

pytestmark = pytest.mark.django_db
MIDDLEWARE = "ddt_perfpanels.middleware.BudgetMiddleware"


@pytest.fixture(autouse=True)
def light_budget(settings, monkeypatch):
    settings.ROOT_URLCONF = "tests.test_middleware_budget"
    settings.MIDDLEWARE = [*test_settings.MIDDLEWARE, MIDDLEWARE]
    settings.DDT_PERFPANELS = {"BUDGETS": {"default": {"queries": 3}}}
    monkeypatch.setattr(middleware, "_watched", {})
    make_library(authors=2, books_per_author=2)


def _violations():
    return list(BudgetViolation.objects.order_by("pk"))


def test_a_budget_of_numbers_is_measured_light_then_the_route_in_full():
    Client().get("/books/")
    [light] = _violations()
    assert light.actuals["queries"] == 5
    assert light.actuals["duplicate_queries"] == 2
    assert "nplusone" not in light.actuals  # not measured, never a false 0
    assert light.nplusone == []
    # The route went over: its next requests are recorded in full, fixes included.
    Client().get("/books/")
    light, full = _violations()
    assert full.actuals["queries"] == 5
    assert full.actuals["nplusone"] == 1
    assert full.nplusone[0]["suggestion"] == 'Book.objects.select_related("author")'


def test_the_watch_on_a_route_expires(settings):
    settings.DDT_PERFPANELS = {**settings.DDT_PERFPANELS, "BUDGET_FULL_CAPTURE_SECONDS": 0}
    Client().get("/books/")
    Client().get("/books/")
    assert ["nplusone" in v.actuals for v in _violations()] == [False, False]


def test_other_routes_stay_light():
    Client().get("/books/")
    Client().get("/cbv/")  # @perf_budget(queries=1, nplusone=0): limits nplusone
    Client().get("/books/async/")
    routes = {v.route: "nplusone" in v.actuals for v in _violations()}
    assert routes == {"book-list": False, "books-cbv": True, "book-list-async": False}


def test_a_budget_limiting_nplusone_is_measured_in_full(settings):
    settings.DDT_PERFPANELS = {"BUDGETS": {"default": {"queries": 3, "count_findings": 5}}}
    Client().get("/books/")
    [violation] = _violations()
    assert violation.actuals["nplusone"] == 1
    assert violation.actuals["count_findings"] == 0


def test_budget_capture_full(settings):
    settings.DDT_PERFPANELS = {**settings.DDT_PERFPANELS, "BUDGET_CAPTURE": "full"}
    Client().get("/books/")
    [violation] = _violations()
    assert violation.nplusone[0]["path"] == "author"


def test_light_before_the_toolbar_does_not_count_the_toolbars_storage(settings):
    settings.DEBUG = True
    settings.MIDDLEWARE = [MIDDLEWARE, *test_settings.MIDDLEWARE]
    response = Client().get("/books/")
    assert "djDebug" in response.content.decode()
    [violation] = _violations()
    assert violation.actuals["queries"] == 5


def test_the_violation_page_shows_what_was_not_measured(admin_client):
    Client().get("/books/")
    violation = BudgetViolation.objects.get()
    settings_urls = "tests.urls"
    from django.test import override_settings

    with override_settings(ROOT_URLCONF=settings_urls):
        page = admin_client.get(
            f"/admin/ddt_perfpanels/budgetviolation/{violation.pk}/change/"
        ).content.decode()
    assert "not measured" in page


@pytest.mark.parametrize("value", ["light", "", None, 1])
@pytest.mark.django_db  # all checks: Django 6.1 asks the database about JSONField
def test_bad_budget_capture_is_a_startup_error(settings, value):
    settings.DDT_PERFPANELS = {"BUDGET_CAPTURE": value}
    errors = [e for e in run_checks() if e.id == "ddt_perfpanels.E017"]
    assert len(errors) == 1
    assert "'auto' or 'full'" in errors[0].msg


def test_the_watched_routes_stay_bounded(monkeypatch):
    from time import monotonic

    watched = {f"route-{i}": monotonic() + 600 for i in range(middleware._MAX_WATCHED - 1)}
    watched["expired"] = monotonic() - 1
    monkeypatch.setattr(middleware, "_watched", watched)
    middleware._watch("new")
    assert "expired" not in watched and "new" in watched
    assert len(watched) == middleware._MAX_WATCHED
    middleware._watch("newer")  # nothing expired: the oldest 100 go
    assert len(watched) == middleware._MAX_WATCHED - 99
    assert "route-0" not in watched and "newer" in watched


@pytest.mark.django_db(transaction=True)
async def test_light_under_asgi_then_full(close_thread_connections):
    from asgiref.sync import sync_to_async
    from django.test import AsyncClient

    response = await AsyncClient().get("/books/async/")
    assert response.status_code == 200
    await AsyncClient().get("/books/async/")
    light, full = await sync_to_async(_violations)()
    assert light.route == full.route == "book-list-async"
    assert light.actuals["queries"] == full.actuals["queries"] == 5
    assert "nplusone" not in light.actuals
    assert full.actuals["nplusone"] == 1


def test_within_a_budget_of_queries_and_time_nothing_more_is_measured(settings, monkeypatch):
    from ddt_perfpanels.budgets import evaluate

    measured = []
    measure = evaluate.measure

    def counting(*args, **kwargs):
        measured.append(1)
        return measure(*args, **kwargs)

    monkeypatch.setattr(evaluate, "measure", counting)
    within = {"queries": 100, "db_time_ms": 60_000, "response_time_ms": 60_000}
    settings.DDT_PERFPANELS = {"BUDGETS": {"default": within}}
    Client().get("/books/")
    assert measured == [] and _violations() == []
    # A limit on duplicates needs them counted, within or not.
    settings.DDT_PERFPANELS = {"BUDGETS": {"default": {**within, "duplicate_queries": 5}}}
    Client().get("/books/")
    assert measured == [1] and _violations() == []
    # Over: everything is measured, as before, and stored.
    settings.DDT_PERFPANELS = {"BUDGETS": {"default": {**within, "queries": 3}}}
    Client().get("/books/")
    [violation] = _violations()
    assert measured == [1, 1]
    assert violation.actuals["queries"] == 5 and violation.actuals["duplicate_queries"] == 2
