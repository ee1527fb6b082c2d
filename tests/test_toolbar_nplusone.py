"""The N+1 panel inside a real django-debug-toolbar request cycle."""

import html

import pytest
from django.test import AsyncClient, Client

from tests.factories import make_library
from tests.toolbar import apanel_content, panel_content, toolbar_stats

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def toolbar_on(settings):
    settings.DEBUG = True
    make_library(authors=2, books_per_author=2)


def test_cluster_and_fix_are_shown():
    client = Client()
    response = client.get("/books/")
    assert response.status_code == 200
    content = panel_content(client, response, "NPlusOnePanel")
    assert "testapp.Book → author" in content
    # The suggestion is escaped HTML, and unescapes to the exact code.
    assert html.escape('Book.objects.select_related("author")') in content
    assert 'data-ddtpp-copy="Book.objects.select_related(&quot;author&quot;)"' in content
    assert "4 queries" in content
    assert "tests/testapp/views.py:" in content  # the access site


def test_nav_subtitle_counts_clusters_and_wasted_queries():
    client = Client()
    response = client.get("/books/")
    assert "1 cluster, 3 wasted queries" in response.content.decode()


def test_fixed_page_is_clean():
    client = Client()
    response = client.get("/books/fixed/")
    content = panel_content(client, response, "NPlusOnePanel")
    assert "No N+1 queries in this request (1 query)." in content
    assert "none" in response.content.decode()


def test_stats_are_stored_as_json():
    client = Client()
    response = client.get("/books/")
    stats = toolbar_stats(response, "NPlusOnePanel")
    [cluster] = stats["nplusone"]
    assert cluster["suggestion"] == 'Book.objects.select_related("author")'
    assert cluster["count"] == 4


def test_template_loop_shows_template_line():
    client = Client()
    response = client.get("/books/template/")
    content = panel_content(client, response, "NPlusOnePanel")
    assert "testapp/books.html:4" in content


@pytest.mark.django_db(transaction=True)
async def test_async_view_under_asgi(close_thread_connections):
    client = AsyncClient()
    response = await client.get("/books/async/")
    assert response.status_code == 200
    content = await apanel_content(client, response, "NPlusOnePanel")
    assert html.escape('Book.objects.select_related("author")') in content


def test_hostile_input_is_escaped_and_recorded():
    from tests.testapp.models import Author

    Author.objects.filter(pk=Author.objects.first().pk).update(name="<img src=x onerror=alert(1)>")
    client = Client()
    response = client.get("/hostile/")
    assert response.status_code == 200
    content = panel_content(client, response, "NPlusOnePanel")
    assert "<script>" not in content and "<img src=x" not in content
    stats = toolbar_stats(response, "NPlusOnePanel")
    assert stats["query_count"] == 6  # the raw query with binary params + 1 + 4


def test_toolbar_own_requests_are_not_recorded():
    client = Client()
    response = client.get("/books/")
    before = toolbar_stats(response, "NPlusOnePanel")
    panel_content(client, response, "NPlusOnePanel")
    after = toolbar_stats(response, "NPlusOnePanel")
    assert before == after


@pytest.fixture
def history_table():
    """The toolbar only migrates its DatabaseStore table when configured at
    startup: create it for this test."""
    from debug_toolbar.models import HistoryEntry
    from django.db import connection

    with connection.schema_editor() as editor:
        editor.create_model(HistoryEntry)
    yield
    with connection.schema_editor() as editor:
        editor.delete_model(HistoryEntry)


@pytest.mark.django_db(transaction=True)
def test_toolbar_database_store_queries_are_never_counted(settings, history_table):
    """A capture around the whole toolbar (as the budget middleware has) does not
    count the toolbar's own writes to its DatabaseStore."""
    from debug_toolbar.toolbar import DebugToolbar

    from ddt_perfpanels import capture

    settings.DEBUG_TOOLBAR_CONFIG = {
        "IS_RUNNING_TESTS": False,
        "TOOLBAR_STORE_CLASS": "debug_toolbar.store.DatabaseStore",
    }
    DebugToolbar.store = None  # the toolbar caches its store class
    try:
        client = Client()
        with capture() as report:
            response = client.get("/books/")
        assert response.status_code == 200
        assert not any("djdt" in q.sql.lower() or "historyentry" in q.sql for q in report.queries)
        assert report.query_count == 5
        from debug_toolbar.models import HistoryEntry

        assert HistoryEntry.objects.exists()  # the store really wrote
    finally:
        DebugToolbar.store = None


def test_combined_fix_is_offered_once_for_a_queryset_with_several_clusters():
    client = Client()
    response = client.get("/books/tags/")
    content = panel_content(client, response, "NPlusOnePanel")
    code = 'Book.objects.select_related("author").prefetch_related("tags")'
    assert content.count(f'data-ddtpp-copy="{html.escape(code)}"') == 1


def test_our_hooks_are_hidden_from_the_toolbars_own_stacks(settings):
    settings.DEBUG_TOOLBAR_CONFIG = {
        **getattr(settings, "DEBUG_TOOLBAR_CONFIG", {}),
        "HIDE_IN_STACKTRACES": ("myproject.vendor",),
    }
    response = Client().get("/books/")
    queries = toolbar_stats(response, "SQLPanel")["queries"]
    assert len(queries) == 5
    files = [frame[0] for query in queries for frame in query["stacktrace"]]
    assert any("tests/testapp/views.py" in f for f in files)
    assert not [f for f in files if "ddt_perfpanels" in f]
    # What the user hid stays hidden.
    from debug_toolbar import settings as dt_settings

    assert dt_settings.get_config()["HIDE_IN_STACKTRACES"] == (
        "myproject.vendor",
        "ddt_perfpanels",
    )


def test_nav_subtitle_says_one_wasted_query_in_the_singular():
    from tests.testapp.models import Author, Book

    for author in Author.objects.all():
        Book.objects.filter(author=author).exclude(
            pk=Book.objects.filter(author=author).order_by("pk").values("pk")[:1]
        ).delete()
    assert Book.objects.count() == 2
    response = Client().get("/books/")
    assert "1 cluster, 1 wasted query<" in response.content.decode().replace("\n", "")
