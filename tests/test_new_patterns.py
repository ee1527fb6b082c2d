"""Patterns beyond lazy loads and .count(): each found with its fix (run as
written, in place of the code it fixes), and the correct code never reported."""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.db.models import Avg, Count, Max, Min, Sum, prefetch_related_objects

from ddt_perfpanels import capture
from tests.factories import make_library
from tests.test_nplusone import apply, only_finding, query_counts, run
from tests.testapp.models import Author, Book, Tag

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def library():
    make_library(authors=3, books_per_author=3)


# -- a single-object lookup per id, beyond .get() ------------------------------------------


def book_ids():
    return list(Book.objects.order_by("pk").values_list("pk", flat=True))


def filter_first(pk):
    return Book.objects.filter(pk=pk).first()


def filter_last(pk):
    return Book.objects.filter(id=pk).last()


def get(pk):
    return Book.objects.get(pk=pk)


@pytest.mark.parametrize("lookup", [filter_first, filter_last, get])
def test_single_object_lookup_per_id_suggests_in_bulk(lookup):
    ids = book_ids()

    def loop():
        return [lookup(pk) for pk in ids]

    finding = only_finding(run(loop))
    assert finding.fix == "in_bulk"
    assert finding.suggestion == "Book.objects.in_bulk(ids)"
    assert finding.count == finding.rows == len(ids)
    with capture() as fixed:
        by_id = apply(finding.suggestion, ids=ids)
    assert [by_id[pk] for pk in ids] == [lookup(pk) for pk in ids]
    assert len(fixed.queries) == 1
    make_library(authors=2)  # more ids: still one query
    more = book_ids()
    with capture() as bigger:
        assert len(apply(finding.suggestion, ids=more)) == len(more) > len(ids)
    assert len(bigger.queries) == 1


def test_in_bulk_keeps_the_filter_of_the_lookup():
    ids = book_ids()

    def slow():
        return [Book.objects.filter(published=True, pk=pk).first() for pk in ids]

    expected = slow()
    finding = only_finding(run(slow))
    assert finding.suggestion == "Book.objects.filter(published=True).in_bulk(ids)"
    by_id = apply(finding.suggestion, ids=ids)
    assert [by_id.get(pk) for pk in ids] == expected
    assert None in expected


def test_first_by_a_unique_field():
    isbns = list(Book.objects.values_list("isbn", flat=True))
    finding = only_finding(run(lambda: [Book.objects.filter(isbn=i).first() for i in isbns]))
    assert finding.suggestion == 'Book.objects.in_bulk(values, field_name="isbn")'
    assert sorted(apply(finding.suggestion, values=isbns)) == sorted(isbns)


def test_aget_in_an_async_loop(transactional_db):
    ids = book_ids()

    async def view():
        return [await Book.objects.aget(pk=pk) for pk in ids]

    async def body():
        with capture() as report:
            books = await view()
        return report, books

    report, books = asyncio.run(body())
    finding = only_finding(report)
    assert finding.fix == "in_bulk"
    assert finding.suggestion == "Book.objects.in_bulk(ids)"
    assert "aget() calls on Book" in finding.message
    assert finding.origin.startswith("tests/test_new_patterns.py:")

    async def fixed():
        with capture() as report:
            by_id = await sync_to_async(apply)(finding.suggestion, ids=ids)
        return report, [by_id[pk] for pk in ids]

    fixed_report, fixed_books = asyncio.run(fixed())
    assert fixed_books == books
    assert len(fixed_report.queries) == 1


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            lambda: [Book.objects.filter(author=a).first() for a in Author.objects.all()],
            id="first-per-non-unique-key",
        ),
        pytest.param(lambda: Book.objects.filter(pk=book_ids()[0]).first(), id="one-first"),
        pytest.param(lambda: Book.objects.order_by("pk").last(), id="one-last"),
    ],
)
def test_single_object_lookups_that_are_not_an_n_plus_one(body):
    report = run(body)
    assert [f for f in report.nplusone if f.fix == "in_bulk"] == []


# -- the same row loaded twice: a duplicate, never an N+1 ------------------------------------


def test_the_same_row_loaded_twice_is_a_duplicate_not_an_n_plus_one():
    pk = book_ids()[0]

    def view():
        book = Book.objects.get(pk=pk)
        again = Book.objects.filter(pk=pk).first()
        return book, again

    def loop():
        return [Book.objects.get(pk=pk) for _ in range(2)]

    for body in (view, loop):
        report = run(body)
        assert report.nplusone == [], [f.message for f in report.nplusone]
        [duplicate] = report.duplicate_loads
        assert (duplicate.model, duplicate.lookup, duplicate.count) == ("testapp.Book", "pk", 2)
        assert all(site.startswith("tests/test_new_patterns.py:") for site in duplicate.sites)
        assert "in_bulk" not in duplicate.message.split("(")[0]
        assert "Duplicate query: the same Book row was loaded by pk 2 times, at " in (
            duplicate.message
        )
    view_report = run(view)
    assert len(set(view_report.duplicate_loads[0].sites)) == 2  # both places named


def test_a_loop_with_some_repeated_ids_is_still_an_in_bulk_and_no_duplicate():
    ids = book_ids()
    report = run(lambda: [Book.objects.get(pk=pk) for pk in [*ids, ids[0]]])
    finding = only_finding(report)
    assert (finding.fix, finding.rows, finding.count) == ("in_bulk", len(ids), len(ids) + 1)
    assert report.duplicate_loads == []


def test_different_rows_are_never_duplicates():
    ids = book_ids()

    def view():
        first = Book.objects.get(pk=ids[0])
        second = Book.objects.get(pk=ids[1])
        return first, second

    report = run(view)
    assert report.duplicate_loads == []
    assert report.nplusone == []


def make_violation():
    from ddt_perfpanels.models import BudgetViolation

    return BudgetViolation.objects.create(
        route="r",
        path="/r/",
        method="GET",
        status=200,
        worst_metric="queries",
        worst_ratio=2,
        over_count=1,
        limits={"queries": 1},
        actuals={"queries": 2},
        sources=["default"],
        nplusone=[],
    )


def test_the_violation_admin_page_reports_a_duplicate_not_an_n_plus_one(admin_client):
    violation = make_violation()
    with capture() as report:
        response = admin_client.get(
            f"/admin/ddt_perfpanels/budgetviolation/{violation.pk}/change/"
        )
    assert response.status_code == 200
    assert [f for f in report.nplusone if f.model == "ddt_perfpanels.BudgetViolation"] == []
    [duplicate] = [d for d in report.duplicate_loads if d.model.endswith("BudgetViolation")]
    assert duplicate.count == 2
    # Both loads ran in the admin's own code: its line is named.
    assert "admin/options.py:" in duplicate.message


# -- prefetch_related_objects() once per instance ---------------------------------------------


def shapes():
    return [
        pytest.param(
            lambda: Book.objects.order_by("pk"),
            "author",
            lambda b: b.author.name,
            2,
            id="forward-fk",
        ),
        pytest.param(
            lambda: Author.objects.order_by("pk"),
            "books",
            lambda a: sorted(b.title for b in a.books.all()),
            2,
            id="reverse-fk",
        ),
        pytest.param(
            lambda: Author.objects.order_by("pk"),
            "profile",
            lambda a: a.profile.website,
            2,
            id="reverse-o2o",
        ),
        pytest.param(
            lambda: Book.objects.order_by("pk"),
            "tags",
            lambda b: sorted(t.name for t in b.tags.all()),
            2,
            id="m2m",
        ),
        pytest.param(
            lambda: Tag.objects.order_by("pk"),
            "books",
            lambda t: sorted(b.title for b in t.books.all()),
            2,
            id="reverse-m2m",
        ),
        pytest.param(
            lambda: Book.objects.order_by("pk"),
            "comments",
            lambda b: [c.text for c in b.comments.all()],
            2,
            id="generic-relation",
        ),
        pytest.param(
            lambda: Author.objects.order_by("pk"),
            "books__tags",
            lambda a: sorted(
                (b.title, sorted(t.name for t in b.tags.all()))
                for b in a.books.all()
            ),
            3,
            id="nested",
        ),
    ]


@pytest.mark.parametrize(("root", "lookup", "read", "fixed_queries"), shapes())
def test_prefetch_related_objects_per_instance(root, lookup, read, fixed_queries):
    def loop(rows):
        result = []
        for row in rows:
            prefetch_related_objects([row], lookup)
            result.append(read(row))
        return result

    expected = loop(root())
    report = run(lambda: loop(root()))
    finding = only_finding(report)
    assert finding.relation == "prefetch_related_objects"
    assert finding.lookup == lookup
    model = root().model.__name__
    assert finding.suggestion == f'{model}.objects.order_by("pk").prefetch_related("{lookup}")'
    once = f'prefetch_related_objects({model.lower()}s, "{lookup}")'
    assert f"or call it once: {once}" in finding.message
    # The other fix: one call over the whole list.
    rows = list(root())
    with capture() as once_report:
        prefetch_related_objects(rows, lookup)
        assert [read(row) for row in rows] == expected
    assert len(once_report.queries) == fixed_queries - 1 and once_report.nplusone == []
    # The fix in place of the root: the calls in the loop find the rows prefetched.
    assert loop(apply(finding.suggestion)) == expected
    counts = query_counts(loop, lambda: apply(finding.suggestion))
    assert counts == [fixed_queries, fixed_queries]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            lambda: prefetch_related_objects(list(Author.objects.all()), "books"),
            id="one-call-over-the-list",
        ),
        pytest.param(
            lambda: [
                prefetch_related_objects([a], "books")
                for a in Author.objects.prefetch_related("books")
            ],
            id="already-prefetched",
        ),
        pytest.param(
            lambda: prefetch_related_objects([Author.objects.first()], "books"),
            id="one-object",
        ),
    ],
)
def test_prefetch_related_objects_never_reported(body):
    report = run(body)
    assert report.nplusone == [], [f.message for f in report.nplusone]


# -- aggregate() on a related manager per row --------------------------------------------------


@pytest.mark.parametrize(
    ("aggregate", "suggestion", "imports"),
    [
        (
            lambda a: a.books.aggregate(total=Sum("pages"))["total"],
            'Author.objects.order_by("name").annotate(books_total=Sum("books__pages"))',
            "Sum",
        ),
        (
            lambda a: a.books.filter(published=True).aggregate(Avg("pages"))["pages__avg"],
            'Author.objects.order_by("name").annotate(published_books_pages_avg=Avg('
            '"books__pages", filter=Q(books__published=True)))',
            "Avg, Q",
        ),
        (
            lambda a: a.books.aggregate(longest=Max("pages"), shortest=Min("pages")),
            'Author.objects.order_by("name").annotate(books_longest=Max("books__pages"), '
            'books_shortest=Min("books__pages"))',
            "Max, Min",
        ),
        (
            lambda a: a.books.exclude(pages=100).aggregate(n=Count("pk"))["n"],
            'Author.objects.order_by("name").annotate(not_pages_100_books_n=Count("books", '
            "filter=~Q(books__pages=100)))",
            "Count, Q",
        ),
    ],
    ids=["sum", "filtered-avg", "max-and-min", "count"],
)
def test_aggregate_on_a_related_manager_per_row(aggregate, suggestion, imports):
    from tests.test_counts import apply

    def apply_counts(code):
        return apply(code, Sum=Sum, Avg=Avg, Max=Max, Min=Min)

    Author.objects.create(name="No books")  # Sum/Avg/Max over no rows: None, as annotate gives

    def slow(authors):
        return [(a.name, aggregate(a)) for a in authors]

    def root():
        return Author.objects.order_by("name")

    expected = slow(root())
    report = run(lambda: slow(root()))
    [finding] = report.counts
    assert finding.kind == "aggregate_in_loop"
    assert finding.field == "books"
    assert finding.count == finding.rows == 4
    assert finding.suggestion == suggestion
    assert finding.imports == f"from django.db.models import {imports}"
    names = [part.split("=")[0] for part in suggestion.split(".annotate(")[1].split(", books_")]
    attributes = [n if "books_" in n else f"books_{n}" for n in names]
    assert finding.attribute == attributes[0]

    def fixed(authors):
        values = []
        for a in authors:
            read = [getattr(a, name) for name in attributes]
            if len(read) > 1:  # an aggregate() of several values is a dict
                aliases = [name.removeprefix("books_") for name in attributes]
                read = [dict(zip(aliases, read, strict=True))]
            values.append((a.name, read[0]))
        return values

    assert fixed(apply_counts(finding.suggestion)) == expected
    counts = query_counts(fixed, lambda: apply_counts(finding.suggestion))
    assert counts == [1, 1]


def test_one_aggregate_and_a_prefetched_sum_are_never_reported():
    from tests.test_counts import run as run_counts

    author = Author.objects.first()
    assert run_counts(lambda: author.books.aggregate(Sum("pages"))).counts == []
    authors = Author.objects.prefetch_related("books")
    report = run_counts(lambda: [sum(b.pages for b in a.books.all()) for a in authors])
    assert report.counts == []
    report = run_counts(
        lambda: [a.total for a in Author.objects.annotate(total=Sum("books__pages"))]
    )
    assert report.counts == []


# -- if qs: / .exists() then the same rows --------------------------------------------------


def render(source, **context):
    from django.template import engines

    return engines["django"].from_string(source).render(context)


def test_bool_of_a_queryset_only_to_test_for_any():
    from tests.test_counts import apply as apply_counts
    from tests.test_counts import only, run

    def view():
        return "some" if Book.objects.filter(published=True) else "none"

    report = run(view)
    finding = only(report, "bool_for_exists")
    assert finding.suggestion == "Book.objects.filter(published=True).exists()"
    assert finding.rows == 6
    assert "if books: fetched 6 Book rows only to test whether there is one" in finding.message
    with capture() as fixed:
        assert ("some" if apply_counts(finding.suggestion) else "none") == report.result
    [query] = fixed.queries
    assert "LIMIT 1" in query.sql.upper()
    # The data grows: still one query, one row.
    make_library(authors=2)
    with capture() as again:
        apply_counts(finding.suggestion)
    assert len(again.queries) == 1


def test_exists_then_the_same_rows_fetched():
    from tests.test_counts import only, run

    def view():
        books = Book.objects.filter(published=True)
        if books.exists():
            return [b.title for b in books]
        return []

    report = run(view)
    finding = only(report, "exists_then_fetch")
    assert finding.suggestion == "if books:"
    assert finding.count == 1
    assert "Fetch once and test the rows in memory" in finding.message

    def fixed_view():
        books = Book.objects.filter(published=True)
        if books:
            return [b.title for b in books]
        return []

    fixed = run(fixed_view)
    assert fixed.result == report.result
    assert len(fixed.queries) == 1 and fixed.counts == []


@pytest.mark.parametrize(
    ("slow", "kind", "suggestion", "fast"),
    [
        (
            "{% if books %}we have books{% endif %}",
            "bool_for_exists",
            "{% if books.exists %}",
            "{% if books.exists %}we have books{% endif %}",
        ),
        (
            "{% if books.exists %}{% for b in books %}{{ b.title }} {% endfor %}{% endif %}",
            "exists_then_fetch",
            "{% if books %}",
            "{% if books %}{% for b in books %}{{ b.title }} {% endfor %}{% endif %}",
        ),
    ],
    ids=["if-only", "exists-then-for"],
)
def test_tests_for_any_rows_in_a_template(slow, kind, suggestion, fast):
    from tests.test_counts import only, run

    report = run(lambda: render(slow, books=Book.objects.all()))
    assert only(report, kind).suggestion == suggestion
    fixed = run(lambda: render(fast, books=Book.objects.all()))
    assert fixed.result == report.result
    assert len(fixed.queries) == 1 and fixed.counts == []


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(lambda: Book.objects.filter(published=True).exists(), id="exists-alone"),
        pytest.param(
            lambda: (lambda books: [b.title for b in books] if books else [])(Book.objects.all()),
            id="if-then-loop",
        ),
        pytest.param(
            lambda: render(
                "{% if books %}{% for b in books %}{{ b }}{% endfor %}{% endif %}",
                books=Book.objects.all(),
            ),
            id="template-if-then-for",
        ),
        pytest.param(lambda: bool(Book.objects.filter(title="none")), id="no-rows"),
        pytest.param(
            lambda: (lambda books: books.exists() and books[:2])(Book.objects.order_by("pk")),
            id="exists-then-a-slice",
        ),
    ],
)
def test_tests_for_any_rows_never_reported(body):
    from tests.test_counts import run

    report = run(body)
    assert report.counts == [], [f.message for f in report.counts]


# -- "Change at" of a finding about an annotate() is the annotate() call -----------------------


def authors_with_counts():
    return Author.objects.annotate(  # the line to change
        n_books=Count("books", distinct=True), n_tags=Count("books__tags", distinct=True)
    )


def test_fanned_out_counts_point_at_the_annotate_call_not_the_template():
    from tests.test_counts import only, run

    source = "{% for a in authors %}{{ a.n_books }}/{{ a.n_tags }} {% endfor %}"
    report = run(lambda: render(source, authors=authors_with_counts()))
    finding = only(report, "distinct_join_count")
    line = authors_with_counts.__code__.co_firstlineno + 1
    assert finding.origin == f"tests/test_new_patterns.py:{line}"
    assert finding.access_site.endswith(":1")  # the template line that ran it


def test_an_annotate_before_the_capture_keeps_the_evaluating_line():
    from ddt_perfpanels.recording import orm
    from tests.test_counts import only, run

    queryset = authors_with_counts()  # outside the capture: no annotate() site recorded
    report = run(lambda: list(queryset))
    finding = only(report, "distinct_join_count")
    assert orm.ANNOTATE_HINT not in queryset._hints
    assert finding.origin == report.queries[0].site
    assert finding.access_site == ""


def test_the_annotate_site_is_never_pickled_with_the_queryset():
    import pickle

    from ddt_perfpanels.recording import orm

    with capture():
        queryset = authors_with_counts()
        assert orm.ANNOTATE_HINT in queryset._hints
        restored = pickle.loads(pickle.dumps(queryset))
    assert restored._hints.get(orm.ANNOTATE_HINT) is None
    assert [a.n_books for a in restored] == [a.n_books for a in authors_with_counts()]


def test_the_n_plus_one_panel_shows_the_duplicate_apart(admin_client, settings):
    from tests.toolbar import panel_content

    settings.DEBUG = True
    violation = make_violation()
    response = admin_client.get(f"/admin/ddt_perfpanels/budgetviolation/{violation.pk}/change/")
    content = panel_content(admin_client, response, "NPlusOnePanel")
    assert "No N+1 queries in this request" in content
    assert "The same row loaded more than once" in content
    assert "ddt_perfpanels.BudgetViolation → pk" in content
    assert "duplicate, not an N+1" in content
    assert "fix: in_bulk" not in content
