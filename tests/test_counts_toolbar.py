"""The counts panel inside a real django-debug-toolbar request cycle: the
request goes through the toolbar middleware, and the panel is fetched from the
toolbar's store the way the toolbar's JavaScript fetches it."""

import html

import pytest
from asgiref.sync import sync_to_async
from debug_toolbar.toolbar import debug_toolbar_urls
from django.db import connection
from django.db.models import Count
from django.http import HttpResponse
from django.test import AsyncClient, Client
from django.urls import path
from django.utils.html import escape

from tests.factories import make_library
from tests.testapp.models import Author, Book
from tests.toolbar import apanel_content, panel_content, toolbar_stats

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

HOSTILE = "<script>alert('x')</script>"


def _page(items):
    return HttpResponse(
        "<html><body><ul>" + "".join(f"<li>{escape(i)}</li>" for i in items) + "</ul></body></html>"
    )


def authors_with_counts(request):
    return _page(f"{a.name}: {a.books.count()}" for a in Author.objects.order_by("pk"))


def authors_annotated(request):
    authors = Author.objects.annotate(books_count=Count("books")).order_by("pk")
    return _page(f"{a.name}: {a.books_count}" for a in authors)


def dashboard(request):
    counts = [
        Book.objects.count(),
        Book.objects.filter(published=True).count(),
        Book.objects.filter(title=HOSTILE).count(),
    ]
    return _page(str(n) for n in counts)


def fanned_out(request):
    authors = Author.objects.annotate(
        n_books=Count("books", distinct=True), n_tags=Count("books__tags", distinct=True)
    )
    return _page(f"{a.name}: {a.n_books} {a.n_tags}" for a in authors)


async def fanned_out_async(request):
    def work():
        authors = Author.objects.annotate(
            n_books=Count("books", distinct=True), n_tags=Count("books__tags", distinct=True)
        )
        rows = [f"{a.name}: {a.n_books} {a.n_tags}" for a in authors]
        rows += [str(a.books.count()) for a in Author.objects.all()]
        return rows

    return _page(await sync_to_async(work)())


def count_then_loop(request):
    shelf = Book.objects.filter(published=True)
    total = shelf.count()
    return _page([str(total), *(b.title for b in shelf)])


urlpatterns = [
    path("counts/loop/", authors_with_counts),
    path("counts/fixed/", authors_annotated),
    path("counts/dashboard/", dashboard),
    path("counts/fanned-out/", fanned_out),
    path("counts/fanned-out-async/", fanned_out_async),
    path("counts/count-then-loop/", count_then_loop),
    *debug_toolbar_urls(),
]


def open_panel(url):
    """GET ``url`` through the toolbar, then fetch the counts panel as the toolbar does."""
    client = Client()
    response = client.get(url)
    assert response.status_code == 200
    return response, panel_content(client, response, "CountsPanel")


@pytest.fixture(autouse=True)
def toolbar_on(settings):
    settings.DEBUG = True
    make_library(authors=3, books_per_author=3)


def test_count_in_loop_is_shown_with_its_fix():
    response, content = open_panel("/counts/loop/")
    assert "testapp.Author → books" in content
    assert "3 queries" in content
    suggestion = 'Author.objects.order_by("pk").annotate(books_count=Count("books"))'
    assert html.escape(suggestion) in content
    # The copy button carries the imports and the code, escaped in the attribute.
    copied = html.escape(f"from django.db.models import Count\n\n{suggestion}")
    assert f'data-ddtpp-copy="{copied}"' in content
    assert "tests/test_counts_toolbar.py:" in content


def test_annotation_versus_count_table():
    client = Client()
    response = client.get("/counts/loop/")
    stats = toolbar_stats(response, "CountsPanel")
    assert stats["table"] == [
        {
            "model": "testapp.Author",
            "relation": "books",
            "annotated": 0,
            "queries": 3,
            "ignored": 0,
            "prefetched": 0,
            "duration_ms": stats["table"][0]["duration_ms"],
        }
    ]
    fixed = client.get("/counts/fixed/")
    [row] = toolbar_stats(fixed, "CountsPanel")["table"]
    assert (row["annotated"], row["queries"]) == (3, 0)
    content = panel_content(client, fixed, "CountsPanel")
    assert 'data-value="3"' in content
    assert "No count problems in this request." in content


def test_nav_subtitle_counts_findings():
    client = Client()
    assert "1 finding" in client.get("/counts/loop/").content.decode()
    fixed = client.get("/counts/fixed/").content.decode()
    assert "1 finding" not in fixed


def test_stats_are_json_and_findings_complete():
    client = Client()
    response = client.get("/counts/dashboard/")
    stats = toolbar_stats(response, "CountsPanel")
    [finding] = stats["counts"]
    for key in ("kind", "model", "field", "count", "duration_ms", "origin", "suggestion"):
        assert key in finding
    assert finding["kind"] == "repeated_count"
    assert finding["count"] == 3


def test_user_data_is_escaped():
    response, content = open_panel("/counts/dashboard/")
    assert HOSTILE not in content
    assert html.escape(HOSTILE) in content


def test_join_fan_out_is_measured_when_the_stats_are_built():
    response, content = open_panel("/counts/fanned-out/")
    assert "Counts over fanned-out joins" in content
    assert "<code>books</code> × <code>books__tags</code>" in content
    if connection.vendor == "sqlite":
        assert "joined rows (counted):" in content
        assert "<strong>18</strong> (×6.0 per row returned)" in content
    else:
        assert "joined rows (EXPLAIN estimate):" in content
    fanout = toolbar_stats(response, "CountsPanel")["counts"][0]["fanout"]
    assert fanout["joined_rows"] >= 1


def test_measuring_can_be_turned_off(settings):
    settings.DDT_PERFPANELS = {"COUNTS_MEASURE_FANOUT": False}
    response, content = open_panel("/counts/fanned-out/")
    assert "join fan-out not measured" in content


def test_a_failing_measurement_is_shown_not_raised(monkeypatch):
    from ddt_perfpanels.panels import counts

    def broken(*args, **kwargs):
        raise RuntimeError("EXPLAIN failed")

    monkeypatch.setattr(counts, "measure_joined_rows", broken)
    response, content = open_panel("/counts/fanned-out/")
    assert "measuring a join fan-out: RuntimeError: EXPLAIN failed" in content
    assert "Counts over fanned-out joins" in content


@pytest.mark.django_db(transaction=True)
async def test_async_view_under_asgi(close_thread_connections):  # noqa: F811
    client = AsyncClient()
    response = await client.get("/counts/fanned-out-async/")
    assert response.status_code == 200
    stats = await sync_to_async(toolbar_stats)(response, "CountsPanel")
    kinds = sorted(f["kind"] for f in stats["counts"])
    assert kinds == ["count_in_loop", "distinct_join_count"]
    fanout = next(f for f in stats["counts"] if f["kind"] == "distinct_join_count")["fanout"]
    # No database access from the event loop: measured at the end of the request,
    # in a thread, before the toolbar built the stats; opening the panel only renders.
    assert fanout["joined_rows"] >= 1 and "pending" not in fanout
    content = await apanel_content(client, response, "CountsPanel")
    assert "join fan-out not measured" not in content
    assert "joined rows" in content


def test_the_real_variable_name_is_shown_when_the_panel_opens():
    client = Client()
    response = client.get("/counts/count-then-loop/")
    [stored] = toolbar_stats(response, "CountsPanel")["counts"]
    assert stored["suggestion"] == "len(books)"  # the guess, from the model name
    content = panel_content(client, response, "CountsPanel")
    assert "<code>len(shelf)</code>" in content
    assert "shelf.count() ran a COUNT query" in content


@pytest.fixture
def template_files(settings):
    settings.TEMPLATES = [
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "OPTIONS": {
                "debug": True,
                "loaders": [
                    (
                        "django.template.loaders.locmem.Loader",
                        {
                            "counts/length.html": "<p>\n{{ shelf|length }} books</p>",
                            "counts/count.html": (
                                "{{ shelf.count }}:{% for b in shelf %}{{ b.title }}{% endfor %}"
                            ),
                        },
                    )
                ],
            },
        }
    ]


@pytest.mark.parametrize(
    "name, kind, expected",
    [
        ("counts/length.html", "len_for_count", "{{ shelf.count }}"),
        ("counts/count.html", "count_then_fetch", "{{ shelf|length }}"),
    ],
)
def test_the_real_template_variable_is_shown(template_files, name, kind, expected):
    from django.template.loader import get_template

    from ddt_perfpanels import capture
    from ddt_perfpanels.panels.counts import name_the_variable

    with capture() as report:
        get_template(name).render({"shelf": Book.objects.all()})
    [finding] = report.counts
    assert finding.kind == kind
    assert finding.template[0] == name
    data = finding.to_dict()
    name_the_variable(data)
    assert data["suggestion"] == expected
    assert "{{ shelf" in data["message"] and "{{ books" not in data["message"]
