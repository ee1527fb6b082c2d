"""Accepted findings: IGNORE in settings and ignore() in code, honoured by the
report, the panels and BudgetMiddleware; the system check; the signals."""

import pytest
from django.core.checks import run_checks
from django.test import Client

import ddt_perfpanels
from ddt_perfpanels import capture
from ddt_perfpanels.models import BudgetViolation
from ddt_perfpanels.signals import budget_violation, findings_recorded
from tests import settings as test_settings
from tests.factories import make_library
from tests.testapp.models import Author, Book
from tests.toolbar import panel_content, toolbar_stats

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def library():
    make_library(authors=2, books_per_author=2)


def _nplusone():
    for book in Book.objects.all():
        book.author.name


def _counts():
    for author in Author.objects.all():
        author.books.count()


def test_settings_rule_moves_a_finding_apart(settings):
    settings.DDT_PERFPANELS = {"IGNORE": [{"model": "testapp.Book", "field": "author"}]}
    with capture() as report:
        _nplusone()
        _counts()
    assert report.nplusone == []
    [ignored] = report.ignored["nplusone"]
    assert ignored.suggestion == 'Book.objects.select_related("author")'
    assert report.metrics()["nplusone"] == 0
    assert report.metrics()["count_findings"] == 1
    assert report.to_dict()["ignored"]["nplusone"][0]["model"] == "testapp.Book"


def test_combined_fix_leaves_out_nothing_ignored(settings):
    def titles_and_tags():
        for book in Book.objects.all():
            book.author.name, list(book.tags.all())

    with capture() as report:
        titles_and_tags()
    assert {f.combined_suggestion for f in report.nplusone} == {
        'Book.objects.select_related("author").prefetch_related("tags")'
    }
    settings.DDT_PERFPANELS = {"IGNORE": [{"field": "tags"}]}
    with capture() as report:
        titles_and_tags()
    [kept] = report.nplusone
    assert kept.combined_suggestion == ""
    assert kept.suggestion == 'Book.objects.select_related("author")'


@pytest.mark.parametrize(
    "rule, accepted",
    [
        ({"model": "testapp.*"}, True),
        ({"model": "otherapp.*"}, False),
        ({"kind": "nplusone"}, True),
        ({"kind": "count_in_loop"}, False),
        ({"file": "*/tests/test_ignore.py"}, True),
        ({"file": "*/legacy/*.py"}, False),
        ({"field": "auth*"}, True),
    ],
)
def test_patterns(settings, rule, accepted):
    settings.DDT_PERFPANELS = {"IGNORE": [rule]}
    with capture() as report:
        _nplusone()
    assert len(report.ignored["nplusone"]) == (1 if accepted else 0)
    assert len(report.nplusone) == (0 if accepted else 1)


def test_ignore_block_covers_only_what_ran_inside():
    with capture() as report:
        with ddt_perfpanels.ignore(model="testapp.Book"):
            _nplusone()
        _counts()
        with ddt_perfpanels.ignore(model="testapp.Author"):
            pass
    assert report.nplusone == [] and len(report.ignored["nplusone"]) == 1
    assert len(report.counts) == 1  # ran after the blocks


def test_ignore_decorator_and_captures_started_inside():
    @ddt_perfpanels.ignore()
    def everything():
        with capture() as inner:
            _nplusone()
            _counts()
        return inner

    inner = everything()
    assert inner.nplusone == [] and inner.counts == []
    assert len(inner.ignored["nplusone"]) == 1 and len(inner.ignored["counts"]) == 1


@pytest.mark.django_db(transaction=True)
async def test_ignore_async_decorator(close_thread_connections):
    from asgiref.sync import sync_to_async

    @ddt_perfpanels.ignore(kind="count_in_loop")
    async def view():
        await sync_to_async(_counts)()

    with capture() as report:
        await view()
    assert report.counts == [] and len(report.ignored["counts"]) == 1


def test_ignore_rejects_unknown_patterns():
    with pytest.raises(TypeError, match="did you mean 'model'"):
        ddt_perfpanels.ignore(modle="testapp.Book")


@pytest.mark.django_db  # all checks: Django 6.1 asks the database about JSONField
def test_system_check_for_a_malformed_ignore(settings):
    settings.DDT_PERFPANELS = {
        "IGNORE": [{"modle": "x"}, "testapp.Book", {"model": 3}],
        "AUDIT_URLS": ["projects/"],
    }
    errors = run_checks()
    messages = [e.msg for e in errors if e.id == "ddt_perfpanels.E030"]
    assert len(messages) == 3
    assert "DDT_PERFPANELS['IGNORE'][0] has unknown keys 'modle' (did you mean 'model'?)" in (
        messages[0]
    )
    assert "DDT_PERFPANELS['IGNORE'][1] must be a non-empty dict" in messages[1]
    assert "model must be glob strings" in messages[2]
    [audit_urls] = [e.msg for e in errors if e.id == "ddt_perfpanels.E031"]
    assert "must be a list of paths starting with '/'" in audit_urls
    settings.DDT_PERFPANELS = {"IGNORE": [{"url_name": "admin:*"}], "AUDIT_URLS": ["/x/"]}
    assert not [e for e in run_checks() if e.id in ("ddt_perfpanels.E030", "ddt_perfpanels.E031")]


def test_panels_grey_ignored_findings_and_count_them_apart(settings):
    settings.DEBUG = True
    settings.DDT_PERFPANELS = {"IGNORE": [{"url_name": "book-list"}]}
    client = Client()
    response = client.get("/books/")
    stats = toolbar_stats(response, "NPlusOnePanel")
    assert stats["nplusone"] == []
    [row] = stats["ignored"]
    assert row["title"] == "N+1: testapp.Book → author (4 queries)"
    content = panel_content(client, response, "NPlusOnePanel")
    assert "No N+1 queries" in content
    assert 'class="ddtpp-ignored"' in content
    assert "1 ignored finding (IGNORE or ignore()), not counted" in content
    from debug_toolbar.toolbar import DebugToolbar

    from tests.toolbar import request_id

    toolbar = DebugToolbar.fetch(request_id(response), "NPlusOnePanel")
    assert toolbar.get_panel_by_id("NPlusOnePanel").nav_subtitle == "none, 1 ignored"
    # Another URL name: the same N+1 is shown as usual.
    other = client.get("/books/template/")
    assert toolbar_stats(other, "NPlusOnePanel")["ignored"] == []


def test_middleware_records_no_violation_for_ignored_findings(settings):
    settings.MIDDLEWARE = [*test_settings.MIDDLEWARE, "ddt_perfpanels.middleware.BudgetMiddleware"]
    settings.DDT_PERFPANELS = {
        "BUDGETS": {"default": {"nplusone": 0}},
        "IGNORE": [{"url_name": "book-list"}],
    }
    Client().get("/books/")
    assert not BudgetViolation.objects.exists()
    Client().get("/books/template/")
    assert BudgetViolation.objects.get().route == "book-list-template"


def test_signals(settings):
    settings.MIDDLEWARE = [*test_settings.MIDDLEWARE, "ddt_perfpanels.middleware.BudgetMiddleware"]
    # nplusone in the budget: a full capture, with N+1 findings.
    settings.DDT_PERFPANELS = {"BUDGETS": {"default": {"queries": 2, "nplusone": 0}}}
    received = []

    def on_findings(sender, report, findings, **kwargs):
        received.append(("findings", [f["title"] for f in findings], report.query_count))

    def on_violation(sender, violation, request, result, report, **kwargs):
        received.append(("violation", violation.route, request.path, result.worst.metric))

    def broken(**kwargs):
        raise RuntimeError("a receiver's own bug")

    findings_recorded.connect(on_findings)
    findings_recorded.connect(broken)
    budget_violation.connect(on_violation)
    try:
        response = Client(REMOTE_ADDR="192.0.2.1").get("/books/")  # no toolbar
        with capture():
            list(Book.objects.select_related("author"))  # no findings: no signal
    finally:
        findings_recorded.disconnect(on_findings)
        findings_recorded.disconnect(broken)
        budget_violation.disconnect(on_violation)
    assert response.status_code == 200
    assert received == [
        ("findings", ["N+1: testapp.Book → author (4 queries)"], 5),
        ("violation", "book-list", "/books/", "queries"),
    ]
