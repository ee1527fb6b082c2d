"""assert_budget: the budget as a test assertion, and its pytest fixture."""

import re
import time

import pytest
from asgiref.sync import sync_to_async
from django.test import Client
from django.urls import path

from ddt_perfpanels.budgets import BudgetExceeded, assert_budget
from tests.factories import make_library
from tests.testapp import views
from tests.testapp.models import Book

pytest_plugins = ["ddt_perfpanels.budgets.pytest_plugin"]
pytestmark = pytest.mark.django_db

urlpatterns = [
    path("books/", views.book_list, name="book-list"),
    path("books/fixed/", views.book_list_fixed, name="book-list-fixed"),
]


@pytest.fixture(autouse=True)
def urlconf(settings):
    settings.ROOT_URLCONF = "tests.test_budget_assert"


def titles(books):
    return [(book.title, book.author.name) for book in books]


def test_within_budget_passes_and_gives_the_report():
    make_library(authors=2, books_per_author=2)
    with assert_budget(queries=1, nplusone=0) as report:
        titles(Book.objects.select_related("author"))
    assert report.query_count == 1


def test_over_budget_lists_every_metric_and_the_fix():
    make_library(authors=2, books_per_author=2)
    with pytest.raises(BudgetExceeded) as caught:
        with assert_budget(queries=3, nplusone=0, db_time_ms=10_000):
            titles(Book.objects.all())
    message = str(caught.value)
    lines = message.splitlines()
    assert lines[0] == "Performance budget exceeded: 2 metrics over."
    assert lines[1] == "  Queries       5 > 3  (queries, limit from assert_budget())"
    assert lines[2] == "  N+1 clusters  1 > 0  (nplusone, limit from assert_budget())"
    assert "Database time" not in message  # within its limit
    assert "Findings and their fixes:" in lines
    assert re.search(
        r"^  - N\+1: testapp\.Book → author \(4 queries\) at tests/test_budget_assert\.py:\d+$",
        message,
        re.M,
    )
    assert '    fix: Book.objects.select_related("author")' in lines
    # The exception carries the numbers for further assertions.
    assert [o.metric for o in caught.value.result.over] == ["queries", "nplusone"]
    assert caught.value.report.query_count == 5


def test_applying_the_suggested_fix_makes_the_count_constant():
    make_library(authors=2, books_per_author=2)
    with pytest.raises(BudgetExceeded) as caught:
        with assert_budget(nplusone=0):
            titles(Book.objects.all())
    [cluster] = caught.value.report.nplusone
    assert cluster.suggestion == 'Book.objects.select_related("author")'
    counts = []
    for _ in range(3):
        make_library(authors=3, books_per_author=3)
        with assert_budget(queries=1, nplusone=0) as report:
            titles(Book.objects.select_related("author"))  # the suggestion, applied
        counts.append(report.query_count)
    assert Book.objects.count() == 31
    assert counts == [1, 1, 1]


def test_exact_message_without_findings():
    make_library(authors=1, books_per_author=1)
    with pytest.raises(BudgetExceeded) as caught:
        with assert_budget(queries=0):
            list(Book.objects.all())
    assert str(caught.value) == (
        "Performance budget exceeded: 1 metric over.\n"
        "  Queries  1 > 0  (queries, limit from assert_budget())"
    )


def test_response_time_is_the_blocks_duration():
    with pytest.raises(BudgetExceeded, match=r"Response time  \d+\.\d ms > 1\.0 ms"):
        with assert_budget(response_time_ms=1):
            time.sleep(0.02)


def test_an_exception_in_the_block_is_not_hidden():
    with pytest.raises(ZeroDivisionError):
        with assert_budget(queries=0):
            list(Book.objects.all())
            1 / 0  # noqa: B018


def test_url_takes_the_route_budget_from_settings(settings):
    settings.DDT_PERFPANELS = {
        "BUDGETS": {"default": {"queries": 50}, "routes": {"book-list": {"queries": 2}}}
    }
    make_library(authors=2, books_per_author=2)
    client = Client()
    with pytest.raises(BudgetExceeded) as caught:
        with assert_budget(url="/books/"):
            client.get("/books/")
    message = str(caught.value)
    assert message.startswith(
        "Performance budget exceeded for /books/ (route 'book-list'): 1 metric over.\n"
        "  Queries  5 > 2  (queries, limit from route 'book-list')"
    )
    # The fixed page is within the same budget, and keyword limits add to it.
    with assert_budget(url="/books/fixed/", nplusone=0) as report:
        client.get("/books/fixed/")
    assert report.query_count <= 2


def test_keyword_limits_override_the_url_budget(settings):
    settings.DDT_PERFPANELS = {"BUDGETS": {"routes": {"book-list": {"queries": 2}}}}
    make_library(authors=2, books_per_author=2)
    with assert_budget(url="/books/", queries=None, nplusone=5):
        Client().get("/books/")


def test_url_without_any_budget_passes(settings):
    settings.DDT_PERFPANELS = {}
    with assert_budget(url="/books/"):
        Client().get("/books/")


def test_as_a_decorator():
    make_library(authors=2, books_per_author=1)

    @assert_budget(queries=1)
    def good():
        return titles(Book.objects.select_related("author"))

    @assert_budget(queries=1)
    def bad():
        return titles(Book.objects.all())

    assert len(good()) == 2
    assert len(good()) == 2  # each call measures afresh
    with pytest.raises(BudgetExceeded, match=r"Queries  3 > 1"):
        bad()


@pytest.mark.django_db(transaction=True)
async def test_async_with_and_async_decorator(close_thread_connections):
    async with assert_budget(queries=1) as report:
        await sync_to_async(lambda: list(Book.objects.all()))()
    assert report.query_count == 1

    @assert_budget(queries=1)
    async def two_queries():
        await sync_to_async(lambda: (Book.objects.count(), Book.objects.count()))()

    with pytest.raises(BudgetExceeded, match=r"Queries  2 > 1"):
        await two_queries()


@pytest.mark.parametrize(
    ("kwargs", "text"),
    [
        ({"querys": 1}, "unknown metric 'querys'. Did you mean 'queries'?"),
        ({"queries": -1}, "must be a number >= 0"),
        ({}, "needs limits (assert_budget(queries=8)) or a URL"),
    ],
)
def test_wrong_arguments_fail_at_once(kwargs, text):
    with pytest.raises(TypeError) as caught:
        assert_budget(**kwargs)
    assert text in str(caught.value)


def test_pytest_fixture(django_assert_budget):
    make_library(authors=2, books_per_author=2)
    with django_assert_budget(queries=1):
        titles(Book.objects.select_related("author"))
    with pytest.raises(BudgetExceeded, match="N\\+1 clusters  1 > 0"):
        with django_assert_budget(nplusone=0):
            titles(Book.objects.all())


def test_findings_keep_their_order_whatever_their_time():
    # Two clusters of one size: the message listed them by time, so tags and
    # author swapped places between identical runs.
    from ddt_perfpanels.budgets.testing import failure_message

    make_library(authors=2, books_per_author=2)
    with pytest.raises(BudgetExceeded) as exceeded, assert_budget(nplusone=0):
        for book in Book.objects.all():
            book.author.name, list(book.tags.all())
    result, report = exceeded.value.result, exceeded.value.report
    assert sorted(f.count for f in report.nplusone) == [4, 4]
    messages = []
    for author_ms, tags_ms in ((1.0, 9.0), (9.0, 1.0)):
        for finding in report.nplusone:
            finding.duration_ms = author_ms if finding.field == "author" else tags_ms
        messages.append(failure_message(result, report))
    assert messages[0] == messages[1]
    assert messages[0].index("testapp.Book → author") < messages[0].index("testapp.Book → tags")
