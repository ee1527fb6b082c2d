"""Every N+1 shape is detected with the right fix, and the fix, pasted in as
written, makes the number of queries constant."""

import django
import pytest
from django.core.paginator import Paginator
from django.db import models
from django.db.models import Prefetch
from django.template.loader import render_to_string

from ddt_perfpanels import capture
from tests.factories import make_library
from tests.testapp.models import (
    Author,
    AuthorProfile,
    Book,
    Chapter,
    Comment,
    Country,
    Publisher,
    Tag,
)

pytestmark = pytest.mark.django_db

NAMES = {
    "Author": Author,
    "AuthorProfile": AuthorProfile,
    "Book": Book,
    "Chapter": Chapter,
    "Comment": Comment,
    "Country": Country,
    "Publisher": Publisher,
    "Tag": Tag,
    "Prefetch": Prefetch,
    "models": models,
}


def run(body):
    with capture() as report:
        body()
    return report


def only_finding(report):
    assert len(report.nplusone) == 1, [f.message for f in report.nplusone]
    return report.nplusone[0]


def apply(suggestion, **names):
    """Evaluate the suggested code exactly as the panel shows it."""
    return eval(suggestion, {**NAMES, **names})


def query_counts(loop, make_queryset):
    """Queries used by ``loop`` over the suggested queryset, at two data sizes."""
    counts = []
    for _ in range(2):
        report = run(lambda: loop(make_queryset()))
        counts.append(len(report.queries))
        assert report.nplusone == [], [f.message for f in report.nplusone]
        make_library(authors=2)  # more rows for the second measurement
    return counts


@pytest.fixture(autouse=True)
def library():
    make_library(authors=3, books_per_author=3)


# -- forward and reverse single-valued relations -------------------------------------


def read_authors(books):
    for book in books:
        book.author.name


def test_forward_foreign_key():
    finding = only_finding(run(lambda: read_authors(Book.objects.all())))
    assert finding.model == "testapp.Book"
    assert finding.field == "author"
    assert finding.fix == "select_related"
    assert finding.lookup == "author"
    assert finding.suggestion == 'Book.objects.select_related("author")'
    assert finding.count == 9
    assert finding.relation == "fk"
    assert finding.origin.startswith("tests/test_nplusone.py:")
    assert "SELECT" in finding.sql and "testapp_author" in finding.sql
    counts = query_counts(read_authors, lambda: apply(finding.suggestion))
    assert counts == [1, 1]


def test_forward_one_to_one():
    def loop(profiles):
        for profile in profiles:
            profile.author.name

    finding = only_finding(run(lambda: loop(AuthorProfile.objects.all())))
    assert (finding.fix, finding.lookup, finding.relation) == ("select_related", "author", "o2o")
    assert finding.suggestion == 'AuthorProfile.objects.select_related("author")'
    assert query_counts(loop, lambda: apply(finding.suggestion)) == [1, 1]


def test_reverse_one_to_one():
    def loop(authors):
        for author in authors:
            author.profile.website

    finding = only_finding(run(lambda: loop(Author.objects.all())))
    assert (finding.fix, finding.lookup, finding.relation) == (
        "select_related",
        "profile",
        "reverse_o2o",
    )
    assert finding.suggestion == 'Author.objects.select_related("profile")'
    assert query_counts(loop, lambda: apply(finding.suggestion)) == [1, 1]


def test_two_rows_are_already_an_n_plus_one():
    Book.objects.exclude(pk__in=Book.objects.order_by("pk")[:2].values("pk")).delete()
    finding = only_finding(run(lambda: read_authors(Book.objects.all())))
    assert finding.count == 2
    assert finding.rows == 2


# -- many-valued relations -------------------------------------------------------------


def test_reverse_foreign_key():
    def loop(authors):
        for author in authors:
            [b.title for b in author.books.all()]

    finding = only_finding(run(lambda: loop(Author.objects.all())))
    assert (finding.fix, finding.lookup, finding.relation) == (
        "prefetch_related",
        "books",
        "reverse_fk",
    )
    assert finding.suggestion == 'Author.objects.prefetch_related("books")'
    assert query_counts(loop, lambda: apply(finding.suggestion)) == [2, 2]


def test_many_to_many_forward():
    def loop(books):
        for book in books:
            [t.name for t in book.tags.all()]

    finding = only_finding(run(lambda: loop(Book.objects.all())))
    assert (finding.fix, finding.lookup, finding.relation) == ("prefetch_related", "tags", "m2m")
    assert finding.suggestion == 'Book.objects.prefetch_related("tags")'
    assert query_counts(loop, lambda: apply(finding.suggestion)) == [2, 2]


def test_many_to_many_reverse():
    def loop(tags):
        for tag in tags:
            [b.title for b in tag.books.all()]

    finding = only_finding(run(lambda: loop(Tag.objects.all())))
    assert (finding.fix, finding.lookup, finding.relation) == (
        "prefetch_related",
        "books",
        "reverse_m2m",
    )
    assert query_counts(loop, lambda: apply(finding.suggestion)) == [2, 2]


def test_generic_foreign_key():
    def loop(comments):
        for comment in comments:
            comment.target.title

    finding = only_finding(run(lambda: loop(Comment.objects.all())))
    assert (finding.fix, finding.lookup, finding.relation) == ("prefetch_related", "target", "gfk")
    assert finding.suggestion == 'Comment.objects.prefetch_related("target")'
    counts = query_counts(loop, lambda: apply(finding.suggestion))
    assert counts[0] == counts[1] <= 3


def test_generic_relation():
    def loop(books):
        for book in books:
            [c.text for c in book.comments.all()]

    finding = only_finding(run(lambda: loop(Book.objects.all())))
    assert (finding.fix, finding.lookup, finding.relation) == (
        "prefetch_related",
        "comments",
        "generic_relation",
    )
    assert query_counts(loop, lambda: apply(finding.suggestion)) == [2, 2]


# -- chains ----------------------------------------------------------------------------


def test_chain_of_foreign_keys_is_one_finding_with_the_whole_path():
    def loop(books):
        for book in books:
            book.author.publisher.name

    finding = only_finding(run(lambda: loop(Book.objects.all())))
    assert finding.lookup == "author__publisher"
    assert finding.field == "publisher"
    assert finding.suggestion == 'Book.objects.select_related("author__publisher")'
    assert finding.count == 18  # 9 authors + 9 publishers, one cluster
    assert "Book.author.publisher" in finding.message
    assert query_counts(loop, lambda: apply(finding.suggestion)) == [1, 1]


def test_chain_extends_an_existing_select_related():
    def loop(books):
        for book in books:
            book.author.publisher.name

    finding = only_finding(run(lambda: loop(Book.objects.select_related("author"))))
    assert finding.lookup == "author__publisher"
    assert finding.count == 9
    assert finding.suggestion == 'Book.objects.select_related("author__publisher")'


def test_relation_of_a_prefetched_child():
    def loop(authors):
        for author in authors:
            for book in author.books.all():
                [t.name for t in book.tags.all()]

    finding = only_finding(run(lambda: loop(Author.objects.prefetch_related("books"))))
    assert (finding.fix, finding.lookup) == ("prefetch_related", "books__tags")
    assert finding.suggestion == 'Author.objects.prefetch_related("books__tags")'
    assert query_counts(loop, lambda: apply(finding.suggestion)) == [3, 3]


def test_lazy_chain_through_a_manager_is_one_finding():
    def loop(authors):
        for author in authors:
            for book in author.books.all():
                [c.title for c in book.chapters.all()]

    finding = only_finding(run(lambda: loop(Author.objects.all())))
    assert finding.lookup == "books__chapters"
    assert finding.count == 3 + 9
    assert finding.suggestion == 'Author.objects.prefetch_related("books__chapters")'
    assert query_counts(loop, lambda: apply(finding.suggestion)) == [3, 3]


def test_fan_out_below_a_single_object_fetched_in_the_request():
    def body():
        author = Author.objects.get(name="Author 0")
        for book in author.books.all():
            [t.name for t in book.tags.all()]

    finding = only_finding(run(body))
    assert finding.model == "testapp.Book"
    assert finding.lookup == "tags"
    assert finding.suggestion == 'author.books.prefetch_related("tags")'
    assert finding.count == 3


def test_fan_out_below_an_object_loaded_before_the_capture():
    author = Author.objects.get(name="Author 0")

    def loop(books):
        for book in books:
            book.author.publisher  # cached by the related manager: no query
            [t.name for t in book.tags.all()]

    finding = only_finding(run(lambda: loop(author.books.all())))
    assert finding.model == "testapp.Book"
    assert finding.lookup == "tags"
    assert finding.suggestion == 'author.books.prefetch_related("tags")'
    counts = query_counts(loop, lambda: apply(finding.suggestion, author=author))
    assert counts == [2, 2]


# -- filters on related managers -------------------------------------------------------


def test_filter_on_a_prefetched_manager_suggests_prefetch_with_to_attr():
    def slow(authors):
        for author in authors:
            [b.title for b in author.books.filter(published=True)]

    finding = only_finding(run(lambda: slow(Author.objects.prefetch_related("books"))))
    assert finding.fix == "prefetch_related"
    assert finding.suggestion == (
        'Author.objects.prefetch_related(Prefetch("books", '
        'queryset=Book.objects.filter(published=True), to_attr="published_books"))'
    )
    assert "author.published_books" in finding.message
    assert "prefetched manager" in finding.message

    seen = {}

    def fixed(authors):
        for author in authors:
            seen[author.pk] = sorted(b.pk for b in author.published_books)

    assert query_counts(fixed, lambda: apply(finding.suggestion)) == [2, 2]
    for author in Author.objects.all():
        if author.pk in seen:
            expected = sorted(b.pk for b in author.books.filter(published=True))
            assert seen[author.pk] == expected


def test_filter_on_a_related_manager_without_prefetch():
    def slow(authors):
        for author in authors:
            [b.title for b in author.books.filter(published=True)]

    finding = only_finding(run(lambda: slow(Author.objects.all())))
    assert 'Prefetch("books", queryset=Book.objects.filter(published=True)' in finding.suggestion
    assert "prefetched manager" not in finding.message


# -- deferred fields, get() in a loop, templates ------------------------------------------


def test_deferred_field_after_only():
    def loop(books):
        for book in books:
            book.summary

    finding = only_finding(run(lambda: loop(Book.objects.only("title"))))
    assert (finding.fix, finding.lookup, finding.field) == ("only", "summary", "summary")
    assert finding.suggestion == 'Book.objects.only("summary", "title")'
    assert query_counts(loop, lambda: apply(finding.suggestion)) == [1, 1]


def test_deferred_field_after_defer():
    def loop(books):
        for book in books:
            book.summary

    finding = only_finding(run(lambda: loop(Book.objects.defer("summary", "pages"))))
    assert finding.fix == "only"
    assert finding.suggestion == 'Book.objects.defer("pages")'
    assert query_counts(loop, lambda: apply(finding.suggestion)) == [1, 1]


def test_get_in_a_loop_suggests_in_bulk():
    ids = list(Book.objects.values_list("pk", flat=True))

    def slow():
        for pk in ids:
            Book.objects.get(pk=pk)

    finding = only_finding(run(slow))
    assert finding.fix == "in_bulk"
    assert finding.suggestion == "Book.objects.in_bulk(ids)"
    assert finding.count == len(ids)
    report = run(lambda: apply(finding.suggestion, ids=ids))
    assert len(report.queries) == 1
    assert report.nplusone == []


def test_get_by_unique_field_in_a_loop():
    isbns = list(Book.objects.values_list("isbn", flat=True))

    def slow():
        for isbn in isbns:
            Book.objects.get(isbn=isbn)

    finding = only_finding(run(slow))
    assert finding.suggestion == 'Book.objects.in_bulk(values, field_name="isbn")'
    by_isbn = apply(finding.suggestion, values=isbns)
    assert sorted(by_isbn) == sorted(isbns)


def test_lazy_loads_inside_a_template_loop():
    finding = only_finding(
        run(lambda: render_to_string("testapp/books.html", {"books": Book.objects.all()}))
    )
    assert finding.suggestion == 'Book.objects.select_related("author")'
    assert finding.access_site == "testapp/books.html:4"
    assert finding.origin == "testapp/books.html:3"


@pytest.mark.applies_if(django.VERSION >= (6, 1), reason="fetch modes are new in Django 6.1")
def test_fetch_peers_is_mentioned_on_django_61():
    finding = only_finding(run(lambda: read_authors(Book.objects.all())))
    assert finding.fetch_peers == "Book.objects.fetch_mode(models.FETCH_PEERS)"
    assert "FETCH_PEERS" in finding.message
    assert query_counts(read_authors, lambda: apply(finding.fetch_peers)) == [2, 2]


@pytest.mark.applies_if(django.VERSION < (6, 1), reason="fetch modes exist from Django 6.1")
def test_fetch_peers_is_not_mentioned_before_django_61():
    finding = only_finding(run(lambda: read_authors(Book.objects.all())))
    assert finding.fetch_peers == ""
    assert "FETCH_PEERS" not in finding.message


# -- never report ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            lambda: read_authors(Book.objects.select_related("author")), id="select_related"
        ),
        pytest.param(
            lambda: [
                [t.name for t in b.tags.all()] for b in Book.objects.prefetch_related("tags")
            ],
            id="prefetch_related",
        ),
        pytest.param(
            lambda: [
                b.author.publisher.country
                for b in Book.objects.select_related("author__publisher__country")
            ],
            id="deep-select_related",
        ),
        pytest.param(lambda: Book.objects.get(isbn="isbn-0-0").author.name, id="single-get"),
        pytest.param(lambda: Book.objects.order_by("pk").first().author.name, id="single-first"),
        pytest.param(
            lambda: [a.books.count() for a in Author.objects.prefetch_related("books")],
            id="count-on-prefetched-manager",
        ),
        pytest.param(
            lambda: [b.title for b in Book.objects.in_bulk(list(range(1, 6))).values()],
            id="in_bulk",
        ),
        pytest.param(
            lambda: [
                b.author.name
                for b in Paginator(Book.objects.select_related("author").order_by("pk"), 4)
                .page(2)
                .object_list
            ],
            id="pagination",
        ),
        pytest.param(
            lambda: [
                [c.title for c in b.chapters.all()]
                for a in Author.objects.prefetch_related("books__chapters")
                for b in a.books.all()
            ],
            id="nested-prefetch",
        ),
        pytest.param(
            lambda: [c.target.title for c in Comment.objects.prefetch_related("target")],
            id="gfk-prefetch",
        ),
    ],
)
def test_correct_code_is_never_reported(body):
    report = run(body)
    assert report.nplusone == [], [f.message for f in report.nplusone]
    assert report.unused_eager == [], [f.message for f in report.unused_eager]


def test_the_same_lazy_load_on_one_object_twice_is_not_a_cluster():
    book = Book.objects.first()

    def body():
        list(book.tags.all())
        list(book.tags.all())

    assert run(body).nplusone == []


# -- unused eager loading ----------------------------------------------------------------


def test_unused_select_related():
    report = run(lambda: [b.title for b in Book.objects.select_related("author")])
    assert report.nplusone == []
    [unused] = report.unused_eager
    assert (unused.model, unused.fix, unused.lookup) == ("testapp.Book", "select_related", "author")
    assert unused.suggestion == "Book.objects.all()"


def test_unused_prefetch_related():
    report = run(lambda: [a.name for a in Author.objects.prefetch_related("books")])
    [unused] = report.unused_eager
    assert (unused.fix, unused.lookup) == ("prefetch_related", "books")
    assert unused.suggestion == "Author.objects.all()"


def test_partly_used_select_related_keeps_what_was_read():
    report = run(
        lambda: [b.author.name for b in Book.objects.select_related("author__publisher")]
    )
    [unused] = report.unused_eager
    assert unused.lookup == "author__publisher"
    assert unused.suggestion == 'Book.objects.select_related("author")'


def test_empty_querysets_never_report_unused_eager_loads():
    report = run(lambda: list(Book.objects.filter(pk=-1).select_related("author")))
    assert report.unused_eager == []


# -- the report --------------------------------------------------------------------------


def test_report_to_dict_is_json_serializable():
    import json

    report = run(lambda: read_authors(Book.objects.all()))
    data = json.loads(json.dumps(report.to_dict(queries=True)))
    assert data["nplusone"][0]["suggestion"] == 'Book.objects.select_related("author")'
    assert data["metrics"]["nplusone"] == 1
    assert data["metrics"]["queries"] == 10
    assert data["queries"][1]["stack"][0].startswith("tests/test_nplusone.py:")


def test_report_queries_have_app_frames_only():
    report = run(lambda: read_authors(Book.objects.all()))
    query = report.queries[0]
    assert query.alias == "default"
    assert query.duration_ms >= 0
    assert all("site-packages" not in line and "/django/" not in line for line in query.stack)
    assert query.stack[0].startswith("tests/test_nplusone.py:")
    assert "read_authors" in query.stack[0] or "<lambda>" in query.stack[0]


def test_several_fixes_for_one_queryset_are_also_given_together():
    def loop(books):
        for book in books:
            book.author.name
            [t.name for t in book.tags.all()]
            [c.text for c in book.comments.all()]

    report = run(lambda: loop(Book.objects.all()))
    assert len(report.nplusone) == 3
    [combined] = {f.combined_suggestion for f in report.nplusone}
    assert combined == 'Book.objects.select_related("author").prefetch_related("tags", "comments")'
    assert query_counts(loop, lambda: apply(combined)) == [3, 3]


def test_a_single_fix_has_no_combined_suggestion():
    [finding] = run(lambda: read_authors(Book.objects.all())).nplusone
    assert finding.combined_suggestion == ""
