"""Every count finding with its fix, the fix applied as written, and the code
that is correct and must never be reported."""

import json

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Count, Exists, OuterRef, Prefetch, Q, Subquery
from django.db.models.functions import Coalesce
from django.template import engines

from ddt_perfpanels import capture
from ddt_perfpanels.checks import check_settings
from ddt_perfpanels.panels.counts import joined_rows_sql, measure_joined_rows
from tests.factories import make_library
from tests.testapp.models import Author, Book, Chapter, Comment, Publisher, Tag

pytestmark = pytest.mark.django_db

NAMES = {
    "Author": Author,
    "Book": Book,
    "Chapter": Chapter,
    "Comment": Comment,
    "Publisher": Publisher,
    "Tag": Tag,
    "ContentType": ContentType,
    "Count": Count,
    "Exists": Exists,
    "OuterRef": OuterRef,
    "Prefetch": Prefetch,
    "Q": Q,
    "Subquery": Subquery,
    "Coalesce": Coalesce,
}


@pytest.fixture(autouse=True)
def library():
    make_library(authors=3, books_per_author=3)


def run(body):
    with capture() as report:
        result = body()
    report.result = result
    return report


def only(report, kind=None):
    findings = report.counts
    assert len(findings) == 1, [f.message for f in findings]
    if kind is not None:
        assert findings[0].kind == kind, findings[0].message
    return findings[0]


def apply(code, **names):
    """Evaluate the suggested code exactly as the panel shows it."""
    return eval(code, {**NAMES, **names})


def constant_queries(loop, make_queryset):
    """Queries (and findings) of ``loop`` over the fixed queryset, at two data sizes."""
    counts = []
    for _ in range(2):
        report = run(lambda: loop(make_queryset()))
        assert report.counts == [], [f.message for f in report.counts]
        counts.append(len(report.queries))
        make_library(authors=2)
    return counts


def render(source, **context):
    return engines["django"].from_string(source).render(context)


# -- count_in_loop ---------------------------------------------------------------------


def count_books(authors):
    return {a.pk: a.books.count() for a in authors}


def test_count_in_loop():
    report = run(lambda: count_books(Author.objects.all()))
    finding = only(report, "count_in_loop")
    assert finding.model == "testapp.Author"
    assert finding.field == "books"
    assert finding.count == 3
    assert finding.rows == 3
    assert finding.origin.startswith("tests/test_counts.py:")
    assert finding.suggestion == 'Author.objects.annotate(books_count=Count("books"))'
    assert finding.attribute == "books_count"
    assert finding.imports == "from django.db.models import Count"
    assert "then read author.books_count" in finding.message
    assert "testapp_book" in finding.sql and "COUNT" in finding.sql.upper()

    # The fix: one query at any size, and the same numbers.
    fixed = apply(finding.suggestion)
    assert {a.pk: a.books_count for a in fixed} == report.result
    assert constant_queries(
        lambda authors: [a.books_count for a in authors], lambda: apply(finding.suggestion)
    ) == [1, 1]


def test_the_findings_and_the_table_of_a_finished_capture_share_their_context(monkeypatch):
    from ddt_perfpanels.analysis.counts import base

    built = []
    original = base._Context.__init__

    def counted(self, recorder):
        built.append(recorder)
        original(self, recorder)

    monkeypatch.setattr(base._Context, "__init__", counted)
    with capture() as report:
        count_books(Author.objects.all())
        live = report.counts  # read while the capture runs: its own context
    assert [f.kind for f in live] == ["count_in_loop"]
    table = report.count_table
    assert [f.kind for f in report.counts] == ["count_in_loop"]
    assert table[0]["queries"] == 3
    # One while it ran, one for both once it finished.
    assert len(built) == 2


def test_a_nested_capture_and_the_outer_one_count_their_own_rows():
    with capture() as outer:
        count_books(Author.objects.all())
        with capture() as inner:
            count_books(Author.objects.all())
        # Read once the inner capture has ended, while the outer one runs.
        inner_table = inner.count_table
        assert [f.count for f in inner.counts] == [3]
    assert inner_table[0]["queries"] == 3
    assert outer.count_table[0]["queries"] == 6
    assert [f.count for f in outer.counts] == [3, 3]  # two loops, two lines


def test_count_hidden_in_a_model_property():
    report = run(lambda: [a.book_total for a in Author.objects.all()])
    finding = only(report, "count_in_loop")
    assert finding.suggestion == 'Author.objects.annotate(books_count=Count("books"))'
    assert "property Author.book_total" in finding.message
    assert finding.access_site.startswith("tests/testapp/models.py:")
    assert any("tests/test_counts.py" in line for line in finding.stack)


def test_filtered_count_in_loop():
    def loop(authors):
        return {a.pk: a.books.filter(published=True).count() for a in authors}

    report = run(lambda: loop(Author.objects.all()))
    finding = only(report, "count_in_loop")
    assert finding.suggestion == (
        "Author.objects.annotate("
        'published_books_count=Count("books", filter=Q(books__published=True)))'
    )
    assert "author.books.filter(published=True).count()" in finding.message
    fixed = apply(finding.suggestion)
    assert {a.pk: a.published_books_count for a in fixed} == report.result
    assert constant_queries(
        lambda authors: [a.published_books_count for a in authors],
        lambda: apply(finding.suggestion),
    ) == [1, 1]


def test_filter_and_exclude_are_both_kept():
    def loop(authors):
        return {
            a.pk: a.books.filter(published=True).exclude(pages__gt=101).count() for a in authors
        }

    report = run(lambda: loop(Author.objects.all()))
    finding = only(report, "count_in_loop")
    assert finding.suggestion == (
        "Author.objects.annotate(filtered_books_count=Count("
        '"books", filter=Q(books__published=True) & ~Q(books__pages__gt=101)))'
    )
    assert "author.books.filter(published=True).exclude(pages__gt=101).count()" in finding.message
    fixed = apply(finding.suggestion)
    assert {a.pk: a.filtered_books_count for a in fixed} == report.result


@pytest.mark.parametrize(
    "model, accessor, expected",
    [
        (Book, "tags", 'Book.objects.annotate(tags_count=Count("tags"))'),
        (Tag, "books", 'Tag.objects.annotate(books_count=Count("books"))'),
        (Book, "comments", 'Book.objects.annotate(comments_count=Count("comments"))'),
        (Book, "chapters", 'Book.objects.annotate(chapters_count=Count("chapters"))'),
    ],
    ids=["m2m", "reverse_m2m", "generic_relation", "reverse_fk"],
)
def test_count_in_loop_every_relation_shape(model, accessor, expected):
    def loop(rows):
        return {row.pk: getattr(row, accessor).count() for row in rows}

    report = run(lambda: loop(model.objects.all()))
    finding = only(report, "count_in_loop")
    assert finding.suggestion == expected
    assert finding.field == accessor
    fixed = apply(finding.suggestion)
    assert {row.pk: getattr(row, finding.attribute) for row in fixed} == report.result
    assert constant_queries(
        lambda rows: [getattr(row, finding.attribute) for row in rows],
        lambda: apply(finding.suggestion),
    ) == [1, 1]


def test_count_through_a_select_related_chain_annotates_the_outer_queryset():
    def loop(books):
        return {b.pk: b.author.books.count() for b in books}

    report = run(lambda: loop(Book.objects.select_related("author")))
    finding = only(report, "count_in_loop")
    assert finding.model == "testapp.Book"
    assert finding.field == "author__books"
    assert finding.suggestion == (
        'Book.objects.select_related("author")'
        '.annotate(author_books_count=Count("author__books"))'
    )
    assert "book.author_books_count" in finding.message
    fixed = apply(finding.suggestion)
    assert {b.pk: b.author_books_count for b in fixed} == report.result


def test_count_on_prefetched_rows_under_another_name_says_len_is_free():
    def loop(authors):
        return [a.books.count() for a in authors]

    report = run(
        lambda: loop(Author.objects.prefetch_related(Prefetch("books", to_attr="book_list")))
    )
    finding = only(report, "count_in_loop")
    assert finding.suggestion == "len(author.book_list)"
    assert "costs nothing" in finding.message
    # The fix, as written: no query beyond the two that load the rows.
    with capture() as fixed:
        authors = Author.objects.prefetch_related(Prefetch("books", to_attr="book_list"))
        assert [len(a.book_list) for a in authors] == report.result
    assert len(fixed.queries) == 2


def test_filtered_count_on_prefetched_manager_explains_the_new_query():
    def loop(authors):
        return [a.books.filter(published=True).count() for a in authors]

    report = run(lambda: loop(Author.objects.prefetch_related("books")))
    finding = only(report, "count_in_loop")
    assert 'Count("books", filter=Q(books__published=True))' in finding.suggestion
    assert "a .filter() on a prefetched manager" in finding.message


# -- exists_in_loop ---------------------------------------------------------------------


def test_exists_in_loop():
    Author.objects.create(name="No books yet")

    def loop(authors):
        return {a.pk: a.books.exists() for a in authors}

    report = run(lambda: loop(Author.objects.all()))
    finding = only(report, "exists_in_loop")
    assert finding.model == "testapp.Author"
    assert finding.field == "books"
    assert finding.count == 4
    assert finding.suggestion == (
        'Author.objects.annotate(has_books=Exists(Book.objects.filter(author=OuterRef("pk"))))'
    )
    assert finding.imports == "from django.db.models import Exists, OuterRef"
    fixed = apply(finding.suggestion)
    assert {a.pk: a.has_books for a in fixed} == report.result
    assert False in report.result.values()
    assert constant_queries(
        lambda authors: [a.has_books for a in authors], lambda: apply(finding.suggestion)
    ) == [1, 1]


@pytest.mark.parametrize(
    "model, accessor, expected",
    [
        (
            Book,
            "tags",
            'Book.objects.annotate(has_tags=Exists(Tag.objects.filter(books=OuterRef("pk"))))',
        ),
        (
            Book,
            "comments",
            "Book.objects.annotate(has_comments=Exists(Comment.objects.filter("
            "content_type=ContentType.objects.get_for_model(Book), "
            'object_id=OuterRef("pk"))))',
        ),
    ],
    ids=["m2m", "generic_relation"],
)
def test_exists_in_loop_other_shapes(model, accessor, expected):
    Book.objects.filter(pk=Book.objects.order_by("pk")[0].pk).update(title="untouched")
    Comment.objects.filter(object_id=Book.objects.order_by("pk")[1].pk).delete()
    Book.objects.order_by("pk")[2].tags.clear()

    def loop(rows):
        return {row.pk: getattr(row, accessor).exists() for row in rows}

    report = run(lambda: loop(model.objects.all()))
    finding = only(report, "exists_in_loop")
    assert finding.suggestion == expected
    fixed = apply(finding.suggestion)
    assert {row.pk: getattr(row, finding.attribute) for row in fixed} == report.result
    assert False in report.result.values()


def test_filtered_exists_in_loop():
    def loop(authors):
        return {a.pk: a.books.filter(pages__gt=101).exists() for a in authors}

    report = run(lambda: loop(Author.objects.all()))
    finding = only(report, "exists_in_loop")
    assert finding.suggestion == (
        "Author.objects.annotate(has_pages_gt_101_books=Exists("
        'Book.objects.filter(author=OuterRef("pk"), pages__gt=101)))'
    )
    fixed = apply(finding.suggestion)
    assert {a.pk: a.has_pages_gt_101_books for a in fixed} == report.result


# -- annotation_ignored -------------------------------------------------------------------


def test_annotation_ignored():
    def loop(authors):
        return [a.books.count() for a in authors]

    report = run(lambda: loop(Author.objects.annotate(n_books=Count("books"))))
    finding = only(report, "annotation_ignored")
    assert finding.model == "testapp.Author"
    assert finding.field == "books"
    assert finding.attribute == "n_books"
    assert finding.suggestion == "author.n_books"
    assert finding.count == 3
    assert "already carry n_books" in finding.message


def test_annotation_ignored_in_a_property_even_once():
    """A serializer falls back to the property: one row is enough to report."""

    def detail():
        author = Author.objects.annotate(books_count=Count("books")).get(name="Author 0")
        return author.book_total

    report = run(detail)
    finding = only(report, "annotation_ignored")
    assert finding.suggestion == "author.books_count"
    assert finding.count == 1
    assert "property Author.book_total" in finding.message


@pytest.mark.parametrize(
    "annotation, expected",
    [
        (Exists(Book.objects.filter(author=OuterRef("pk"))), "author.flag"),
        (Count("books"), "author.flag > 0"),
    ],
    ids=["exists_annotation", "count_annotation"],
)
def test_exists_with_an_annotation_already_there(annotation, expected):
    def loop(authors):
        return [a.books.exists() for a in authors]

    report = run(lambda: loop(Author.objects.annotate(flag=annotation)))
    finding = only(report, "annotation_ignored")
    assert finding.suggestion == expected


def test_subquery_count_annotation_is_recognized():
    subquery = Subquery(
        Book.objects.filter(author=OuterRef("pk"))
        .order_by()
        .values("author")
        .annotate(c=Count("pk"))
        .values("c")
    )

    def loop(authors):
        return [a.books.count() for a in authors]

    report = run(lambda: loop(Author.objects.annotate(total=Coalesce(subquery, 0))))
    assert only(report, "annotation_ignored").suggestion == "author.total"


def test_filtered_annotation_matches_the_same_filter_only():
    queryset = Author.objects.annotate(
        published_count=Count("books", filter=Q(books__published=True))
    )
    same = run(lambda: [a.books.filter(published=True).count() for a in queryset.all()])
    assert only(same, "annotation_ignored").suggestion == "author.published_count"
    other = run(lambda: [a.books.count() for a in queryset.all()])
    assert only(other, "count_in_loop").suggestion == (
        'Author.objects.annotate(books_count=Count("books"))'
    )


# -- repeated_count ---------------------------------------------------------------------------


def dashboard():
    return {
        "total": Book.objects.count(),
        "published": Book.objects.filter(published=True).count(),
        "not_published": Book.objects.filter(published=False).count(),
        "pages_gt_100": Book.objects.filter(pages__gt=100).count(),
    }


def test_repeated_count():
    report = run(dashboard)
    finding = only(report, "repeated_count")
    assert finding.model == "testapp.Book"
    assert finding.count == 4
    assert finding.suggestion == (
        "Book.objects.aggregate(\n"
        '    total=Count("id"),\n'
        '    published_count=Count("id", filter=Q(published=True)),\n'
        '    not_published_count=Count("id", filter=Q(published=False)),\n'
        '    pages_gt_100_count=Count("id", filter=Q(pages__gt=100)),\n'
        ")"
    )
    assert finding.imports == "from django.db.models import Count, Q"
    with capture() as fixed:
        values = apply(finding.suggestion)
    assert list(values.values()) == list(report.result.values())
    assert len(fixed.queries) == 1


def test_repeated_count_factors_out_the_common_filter():
    def counts():
        return {
            "total": Book.objects.filter(author__name="Author 1").count(),
            "published": Book.objects.filter(author__name="Author 1", published=True).count(),
            "long": Book.objects.filter(author__name="Author 1", pages__gte=102).count(),
        }

    report = run(counts)
    finding = only(report, "repeated_count")
    assert finding.suggestion == (
        "Book.objects.filter(author__name='Author 1').aggregate(\n"
        '    total=Count("id"),\n'
        '    published_count=Count("id", filter=Q(published=True)),\n'
        '    pages_gte_102_count=Count("id", filter=Q(pages__gte=102)),\n'
        ")"
    )
    values = apply(finding.suggestion)
    assert list(values.values()) == list(report.result.values())


def test_repeated_count_of_one_field_becomes_a_group_by():
    def per_author(authors):
        return {a.pk: Book.objects.filter(author=a, published=True).count() for a in authors}

    authors = list(Author.objects.all())
    report = run(lambda: per_author(authors))
    finding = only(report, "repeated_count")
    assert finding.field == "author"
    assert finding.suggestion == (
        "counts = dict(Book.objects.filter(published=True).order_by()"
        '.values_list("author").annotate(n=Count("id")))'
    )
    namespace = {}
    with capture() as fixed:
        exec(finding.suggestion, {**NAMES}, namespace)
    assert {pk: namespace["counts"].get(pk, 0) for pk in report.result} == report.result
    assert len(fixed.queries) == 1


def test_the_same_count_repeated_is_counted_once():
    report = run(lambda: [Book.objects.filter(published=True).count() for _ in range(3)])
    finding = only(report, "repeated_count")
    assert finding.suggestion == "books_count = Book.objects.filter(published=True).count()"
    assert "ran 3 times" in finding.message


def test_repeated_count_threshold_is_a_setting(settings):
    def two():
        return Book.objects.count(), Book.objects.filter(published=True).count()

    assert run(two).counts == []
    settings.DDT_PERFPANELS = {"COUNTS_REPEATED_MIN": 2}
    assert only(run(two), "repeated_count").count == 2


# -- distinct_join_count ------------------------------------------------------------------------


def annotated_authors(distinct=True):
    return Author.objects.annotate(
        n_books=Count("books", distinct=distinct),
        n_tags=Count("books__tags", distinct=distinct),
    )


def test_distinct_join_count():
    report = run(lambda: {a.pk: (a.n_books, a.n_tags) for a in annotated_authors()})
    finding = only(report, "distinct_join_count")
    assert finding.model == "testapp.Author"
    assert finding.field == "books, books__tags"
    assert finding.count == 1
    assert finding.suggestion == (
        "Author.objects.annotate(\n"
        '    n_books=Coalesce(Subquery(Book.objects.filter(author=OuterRef("pk")).order_by()'
        '.values("author").annotate(c=Count("pk")).values("c")), 0),\n'
        '    n_tags=Coalesce(Subquery(Tag.objects.filter(books__author=OuterRef("pk"))'
        '.order_by().values("books__author").annotate(c=Count("pk", distinct=True))'
        '.values("c")), 0),\n'
        ")"
    )
    assert "Correct but costly" in finding.message
    assert finding.fanout["relations"] == ["books", "books__tags"]
    assert finding.fanout["rows"] == 3

    Author.objects.create(name="No books")  # a zero, which Subquery alone would make None
    expected = {a.pk: (a.n_books, a.n_tags) for a in annotated_authors()}
    with capture() as fixed:
        rows = {a.pk: (a.n_books, a.n_tags) for a in apply(finding.suggestion)}
    assert rows == expected
    assert len(fixed.queries) == 1
    assert fixed.counts == []


def test_counts_over_fanned_out_joins_without_distinct_are_wrong():
    report = run(lambda: list(annotated_authors(distinct=False)))
    finding = only(report, "distinct_join_count")
    assert "The counts n_books, n_tags are wrong" in finding.message


def test_filtered_count_over_fanned_out_joins():
    queryset = Author.objects.annotate(
        published=Count("books", filter=Q(books__published=True), distinct=True),
        chapters=Count("books__chapters", distinct=True),
    )
    report = run(lambda: list(queryset))
    finding = only(report, "distinct_join_count")
    assert (
        'published=Coalesce(Subquery(Book.objects.filter(author=OuterRef("pk"), published=True)'
        in finding.suggestion
    )
    expected = {a.pk: (a.published, a.chapters) for a in queryset}
    assert {a.pk: (a.published, a.chapters) for a in apply(finding.suggestion)} == expected


def test_join_fan_out_is_measured():
    report = run(lambda: list(annotated_authors()))
    finding = only(report, "distinct_join_count")
    alias, vendor, sql, params = finding.measure
    measured = measure_joined_rows(alias, vendor, sql, params, max_rows=100_000)
    # Each author has 3 books with 1, 2 and 3 tags: 6 joined rows per author.
    if connection.vendor == "postgresql":
        assert measured["source"] == "estimate"
        assert measured["joined_rows"] >= 1
    else:
        assert measured == {"joined_rows": 18, "source": "counted", "capped": False}
    capped = measure_joined_rows(alias, vendor, sql, params, max_rows=5)
    if connection.vendor == "sqlite":
        assert capped == {"joined_rows": 5, "source": "counted", "capped": True}


def test_joined_rows_sql_keeps_only_the_where_parameters():
    sql = (
        'SELECT "a"."id", COUNT("b"."id") FILTER (WHERE "b"."x" = %s) AS "n" '
        'FROM "a" LEFT OUTER JOIN "b" ON ("a"."id" = "b"."a_id") '
        'WHERE ("a"."name" = %s AND "a"."id" IN (SELECT U0."id" FROM "c" U0 WHERE U0."y" = %s)) '
        'GROUP BY "a"."id" HAVING COUNT("b"."id") > %s ORDER BY "a"."id"'
    )
    body, params = joined_rows_sql(sql, [1, "x", 2, 3])
    assert body.startswith('FROM "a" LEFT OUTER JOIN')
    assert body.endswith('WHERE U0."y" = %s))')
    assert params == ["x", 2]
    assert joined_rows_sql("SELECT 1", []) is None
    assert joined_rows_sql(sql, {"named": 1}) is None


# -- len_for_count ------------------------------------------------------------------------------


def test_len_for_count():
    from ddt_perfpanels.panels.counts import name_the_variable

    report = run(lambda: len(Book.objects.filter(published=True)))
    finding = only(report, "len_for_count")
    assert finding.model == "testapp.Book"
    assert finding.rows == 6
    assert finding.suggestion == "books.count()"
    # The panel writes it from the line of code, not from the runtime queryset.
    data = finding.to_dict()
    name_the_variable(data)
    assert data["suggestion"] == "Book.objects.filter(published=True).count()"
    with capture() as fixed:
        assert apply(data["suggestion"]) == report.result
    assert "COUNT" in fixed.queries[0].sql.upper()


def test_len_for_count_is_written_from_the_code():
    from ddt_perfpanels.panels.counts import name_the_variable

    pk = Book.objects.order_by("pk").values_list("pk", flat=True)[3]

    def view():
        pages = Book.objects.filter(Q() | Q(pk=pk))
        return len(pages)

    finding = only(run(view), "len_for_count")
    data = finding.to_dict()
    name_the_variable(data)
    assert data["suggestion"] == "pages.count()"
    assert "Q()" not in data["message"]


@pytest.mark.parametrize(
    "second",
    [len, bool, lambda qs: qs.count(), lambda qs: qs.exists()],
    ids=["len", "bool", "count", "exists"],
)
def test_rows_read_twice_are_not_len_for_count(second):
    """A second read of the fetched rows would be a second query after .count()."""

    def view():
        books = Book.objects.all()
        return len(books), second(books)

    report = run(view)
    assert report.counts == [], [f.message for f in report.counts]
    with capture() as fixed:
        books = Book.objects.all()
        books.count(), second(books)
    assert len(fixed.queries) > len(report.queries)


def test_length_filter_in_a_template():
    report = run(lambda: render("{{ books|length }} books", books=Book.objects.all()))
    finding = only(report, "len_for_count")
    assert finding.suggestion == "{{ books.count }}"
    assert finding.rows == 9


def test_len_of_a_related_manager_in_a_loop():
    def loop(authors):
        return {a.pk: len(a.books.all()) for a in authors}

    report = run(lambda: loop(Author.objects.all()))
    kinds = sorted(f.kind for f in report.counts)
    assert kinds == ["len_for_count"], [f.message for f in report.counts]
    finding = report.counts[0]
    assert finding.suggestion == 'Author.objects.annotate(books_count=Count("books"))'
    assert "len(author.books.all()) fetched 9 Book rows" in finding.message
    fixed = apply(finding.suggestion)
    assert {a.pk: a.books_count for a in fixed} == report.result


def test_length_twice_in_a_template_is_not_len_for_count():
    source = "{{ books|length }} books{% if books %}, {{ books|length }} to read{% endif %}"
    report = run(lambda: render(source, books=Book.objects.all()))
    assert report.counts == [], [f.message for f in report.counts]
    assert len(report.queries) == 1


# -- count_then_fetch --------------------------------------------------------------------------


def test_count_then_fetch():
    def view():
        books = Book.objects.filter(published=True)
        total = books.count()
        return total, [b.title for b in books]

    report = run(view)
    finding = only(report, "count_then_fetch")
    assert finding.suggestion == "len(books)"
    assert finding.origin != finding.access_site or finding.origin.startswith("tests/")
    with capture() as fixed:
        books = Book.objects.filter(published=True)
        assert (len(books), [b.title for b in books]) == report.result
    assert len(fixed.queries) == 1


def test_count_then_loop_in_a_template():
    source = "{{ books.count }} books:{% for b in books %} {{ b.title }}{% endfor %}"
    report = run(lambda: render(source, books=Book.objects.all()))
    finding = only(report, "count_then_fetch")
    assert finding.suggestion == "{{ books|length }}"
    fixed_source = "{{ books|length }} books:{% for b in books %} {{ b.title }}{% endfor %}"
    fixed = run(lambda: render(fixed_source, books=Book.objects.all()))
    assert fixed.result == report.result
    assert len(fixed.queries) == 1
    assert fixed.counts == []


# -- never reported ------------------------------------------------------------------------------


def test_annotation_then_reading_the_attribute():
    report = run(
        lambda: [a.books_count for a in Author.objects.annotate(books_count=Count("books"))]
    )
    assert report.counts == []


def test_count_on_a_prefetched_manager():
    report = run(lambda: [a.books.count() for a in Author.objects.prefetch_related("books")])
    assert report.counts == []
    assert len(report.queries) == 2


def test_exists_on_a_prefetched_manager():
    report = run(lambda: [a.books.exists() for a in Author.objects.prefetch_related("books")])
    assert report.counts == []


def test_one_count_for_a_paginator():
    def page():
        paginator = Paginator(Book.objects.order_by("pk"), 4)
        current = paginator.page(2)
        return paginator.count, [b.title for b in current]

    report = run(page)
    assert report.counts == []
    assert report.result[0] == 9


def test_a_paginated_template():
    def page():
        current = Paginator(Book.objects.order_by("pk"), 4).page(1)
        return render(
            "{{ page.paginator.count }} {% for b in page %}{{ b.title }}{% endfor %}", page=current
        )

    assert run(page).counts == []


def test_len_then_iterate():
    def view():
        books = Book.objects.all()
        return len(books), [b.title for b in books]

    assert run(view).counts == []


def test_template_loop_with_length():
    source = (
        "{{ books|length }}{% for b in books %}{{ b.title }}{% endfor %}{% if books %}!{% endif %}"
    )
    assert run(lambda: render(source, books=Book.objects.all())).counts == []


def test_for_empty_over_no_rows():
    source = "{% for b in books %}{{ b.title }}{% empty %}none{% endfor %}"
    report = run(lambda: render(source, books=Book.objects.filter(title="nothing")))
    assert report.counts == []


def test_len_then_index():
    def view():
        books = Book.objects.order_by("pk")
        return len(books), books[0].title

    assert run(view).counts == []


def test_one_related_count():
    author = Author.objects.get(name="Author 1")
    assert run(lambda: author.books.count()).counts == []


def test_count_over_one_multi_valued_relation():
    report = run(lambda: list(Author.objects.annotate(n=Count("books"), t=Count("profile"))))
    assert report.counts == []


def test_count_then_slice():
    def view():
        books = Book.objects.order_by("pk")
        return books.count(), list(books[:2])

    assert run(view).counts == []


def test_min_queries_is_a_setting(settings):
    settings.DDT_PERFPANELS = {"COUNTS_MIN_QUERIES": 4}
    assert run(lambda: count_books(Author.objects.all())).counts == []
    make_library(authors=1)
    assert only(run(lambda: count_books(Author.objects.all()))).count == 4


# -- the report ----------------------------------------------------------------------------------


def test_report_metrics_and_json():
    def view():
        count_books(Author.objects.all())
        dashboard()

    report = run(view)
    assert report.metrics()["count_findings"] == 2 == len(report.counts)
    data = json.loads(json.dumps(report.to_dict()))
    kinds = {c["kind"] for c in data["counts"]}
    assert kinds == {"count_in_loop", "repeated_count"}
    assert all("measure" not in c for c in data["counts"])


def test_nested_capture_is_absorbed():
    with capture() as outer:
        with capture() as inner:
            books = Book.objects.all()
            len(books)
            count_books(Author.objects.all())
        titles = [b.title for b in books]  # the rows are used after all
    assert len(titles) == 9
    assert [f.kind for f in inner.counts] == ["count_in_loop"]
    assert [f.kind for f in outer.counts] == ["count_in_loop"]


def test_fetching_hooks_stay_and_pass_through_after_the_capture():
    from django.db.models.query import QuerySet

    from ddt_perfpanels.recording import orm

    methods = [QuerySet.__len__, QuerySet.__iter__, QuerySet.__bool__, QuerySet.__getitem__]
    assert QuerySet.__len__ is not orm._originals[QuerySet, "__len__"]  # installed at ready()
    with capture() as report:
        assert QuerySet.__len__ is methods[0]
    assert [QuerySet.__len__, QuerySet.__iter__, QuerySet.__bool__, QuerySet.__getitem__] == (
        methods
    )
    assert len(Author.objects.all()) == Author.objects.count()  # outside: Django's own
    assert report.counts == []


@pytest.mark.parametrize(
    "value",
    [0, -1, "3", True, 1.5],
)
def test_bad_settings_are_startup_errors(settings, value):
    settings.DDT_PERFPANELS = {"COUNTS_MIN_QUERIES": value, "COUNTS_MEASURE_FANOUT": "yes"}
    messages = [e.msg for e in check_settings() if e.id == "ddt_perfpanels.E002"]
    assert (
        f"DDT_PERFPANELS['COUNTS_MIN_QUERIES'] must be an integer from 1 to 1,000,000, "
        f"got {value!r}." in messages
    )
    assert "DDT_PERFPANELS['COUNTS_MEASURE_FANOUT'] must be True or False, got 'yes'." in messages


def test_values_grouped_counts_over_fanned_out_joins_get_no_per_row_rewrite():
    queryset = (
        Book.objects.values("author")
        .annotate(n_tags=Count("tags", distinct=True), n_chapters=Count("chapters", distinct=True))
        .order_by("author")
    )
    finding = only(run(lambda: list(queryset)), "distinct_join_count")
    assert finding.suggestion == ""
    assert "Left as they are: n_tags, n_chapters" in finding.message


def test_count_over_a_single_valued_then_multi_valued_path():
    queryset = Author.objects.annotate(
        n_books=Count("books", distinct=True), colleagues=Count("publisher__authors", distinct=True)
    )
    finding = only(run(lambda: list(queryset)), "distinct_join_count")
    assert (
        'colleagues=Coalesce(Subquery(Author.objects.filter(publisher__authors=OuterRef("pk"))'
        in finding.suggestion
    )
    expected = {a.pk: (a.n_books, a.colleagues) for a in queryset}
    assert {a.pk: (a.n_books, a.colleagues) for a in apply(finding.suggestion)} == expected


def test_a_failing_detector_hides_nothing_else(monkeypatch):
    from ddt_perfpanels.analysis import counts

    def broken(ctx):
        raise RuntimeError("boom")

    monkeypatch.setattr(counts, "_distinct_join_findings", broken)
    report = run(lambda: (count_books(Author.objects.all()), list(annotated_authors())))
    assert [f.kind for f in report.counts] == ["count_in_loop"]
    assert any("counts: distinct_join_count: RuntimeError: boom" in e for e in report.errors)


def test_generic_relation_way_back_is_its_related_query_name():
    """A GenericRelation's lookup back from the related model is the
    related_query_name= it was given ("" for none), not the method of that name."""
    from ddt_perfpanels.analysis.decompile import _path_steps
    from ddt_perfpanels.analysis.models import _relation_info

    assert _path_steps(Book, ["comments"])[0].back == ""
    info = _relation_info(Book, "comments")
    assert info is not None and info.back == ""
