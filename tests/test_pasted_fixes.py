"""Every suggestion, pasted in place of the code's queryset, keeps what that
queryset did (filters, ordering, only()/defer(), an existing Prefetch's
queryset=) and makes the number of queries constant: each test evaluates the
suggested text itself, at two data sizes."""

import pytest
from django.db.models import Count, Prefetch

from tests.factories import make_library
from tests.test_nplusone import apply, only_finding, query_counts, run
from tests.testapp.models import Author, Book, Tag

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def library():
    make_library(authors=3, books_per_author=3)


def fixed_rows(loop, make_queryset):
    """``loop``'s result over the fixed queryset, then its query counts."""
    result = loop(make_queryset())
    return result, query_counts(loop, make_queryset)


def pasted(code, loop, root):
    """The suggested code in place of ``root()``: the same result from ``loop``;
    returns the query counts at two data sizes."""
    assert loop(apply(code)) == loop(root())
    return query_counts(loop, lambda: apply(code))


# -- the root's own calls are kept -----------------------------------------------------


def titles_and_authors(books):
    return [(b.title, b.author.name) for b in books]


def test_select_related_keeps_the_filter_and_the_ordering():
    def root():
        return Book.objects.filter(published=True).order_by("-pages", "title")

    report = run(lambda: titles_and_authors(root()))
    finding = only_finding(report)
    assert finding.suggestion == (
        'Book.objects.filter(published=True).order_by("-pages", "title")'
        '.select_related("author")'
    )
    assert pasted(finding.suggestion, titles_and_authors, root) == [1, 1]


def test_prefetch_keeps_exclude_distinct_and_reverse():
    def root():
        return Author.objects.exclude(name="Author 1").order_by("name").reverse()

    def loop(authors):
        return [(a.name, sorted(b.title for b in a.books.all())) for a in authors]

    finding = only_finding(run(lambda: loop(root())))
    assert finding.suggestion == (
        'Author.objects.exclude(name=\'Author 1\').order_by("name").reverse()'
        '.prefetch_related("books")'
    )
    assert pasted(finding.suggestion, loop, root) == [2, 2]


def test_the_combined_statement_keeps_the_root_calls():
    def root():
        return Book.objects.filter(pages__gte=101).order_by("isbn")

    def loop(books):
        return [(b.isbn, b.author.name, sorted(t.name for t in b.tags.all())) for b in books]

    report = run(lambda: loop(root()))
    [combined] = {f.combined_suggestion for f in report.nplusone}
    assert combined == (
        'Book.objects.filter(pages__gte=101).order_by("isbn")'
        '.select_related("author").prefetch_related("tags")'
    )
    assert pasted(combined, loop, root) == [2, 2]


def test_unused_eager_keeps_the_root_calls():
    report = run(
        lambda: [b.title for b in Book.objects.filter(published=False).select_related("author")]
    )
    [unused] = report.unused_eager
    assert unused.suggestion == "Book.objects.filter(published=False)"
    assert [b.title for b in apply(unused.suggestion)] == [
        b.title for b in Book.objects.filter(published=False)
    ]


def test_a_root_that_cannot_be_written_back_says_so():
    def loop(books):
        return [b.author.name for b in books]

    finding = only_finding(run(lambda: loop(Book.objects.annotate(n=Count("tags")))))
    assert "cannot be written back here: keep them" in finding.message


# -- an existing Prefetch keeps its queryset= and its to_attr --------------------------------


def published_books_with_tags(authors, attr="books"):
    rows = []
    for author in authors:
        books = getattr(author, attr)
        books = books if isinstance(books, list) else books.all()
        rows.append([(b.title, sorted(t.name for t in b.tags.all())) for b in books])
    return rows


def test_an_existing_prefetch_keeps_its_queryset():
    def root():
        return Author.objects.order_by("pk").prefetch_related(
            Prefetch("books", queryset=Book.objects.filter(published=True).order_by("-title"))
        )

    finding = only_finding(run(lambda: published_books_with_tags(root())))
    assert finding.lookup == "books__tags"
    assert finding.suggestion == (
        'Author.objects.order_by("pk").prefetch_related(Prefetch("books", '
        'queryset=Book.objects.filter(published=True).order_by("-title")), "books__tags")'
    )
    assert pasted(finding.suggestion, published_books_with_tags, root) == [3, 3]


def test_an_existing_prefetch_keeps_its_to_attr_and_the_lookup_goes_through_it():
    def root():
        return Author.objects.order_by("pk").prefetch_related(
            Prefetch("books", queryset=Book.objects.order_by("title"), to_attr="shelf")
        )

    def loop(authors):
        return published_books_with_tags(authors, attr="shelf")

    finding = only_finding(run(lambda: loop(root())))
    assert finding.suggestion == (
        'Author.objects.order_by("pk").prefetch_related(Prefetch("books", '
        'queryset=Book.objects.order_by("title"), to_attr="shelf"), "shelf__tags")'
    )
    assert pasted(finding.suggestion, loop, root) == [3, 3]


# -- per-row calls on a related manager become a Prefetch with exactly that queryset ---------


def read_instead(finding, loop_var, make_queryset):
    """Run the loop with the finding's read expression in place of the per-row call."""

    def loop(rows):
        return [(row.pk, eval(finding.read, {loop_var: row})) for row in rows]

    return fixed_rows(loop, make_queryset)


def test_filter_and_order_by_per_row():
    def slow(authors):
        return [
            (a.pk, [b.title for b in a.books.filter(published=True).order_by("-pages")])
            for a in authors
        ]

    expected = slow(Author.objects.all())
    finding = only_finding(run(lambda: slow(Author.objects.all())))
    assert finding.suggestion == (
        'Author.objects.prefetch_related(Prefetch("books", queryset=Book.objects'
        '.filter(published=True).order_by("-pages"), to_attr="published_books"))'
    )
    assert finding.read == "author.published_books"
    assert "instead of author.books.filter(published=True).order_by(\"-pages\")" in (
        finding.message
    )
    result, counts = read_instead(finding, "author", lambda: apply(finding.suggestion))
    assert [(pk, [b.title for b in books]) for pk, books in result] == expected
    assert counts == [2, 2]


def test_first_per_row():
    Author.objects.create(name="No books")  # .first() gives None: so must the fix

    def slow(authors):
        return [(a.pk, a.books.first()) for a in authors]

    expected = slow(Author.objects.all())
    finding = only_finding(run(lambda: slow(Author.objects.all())))
    assert finding.suggestion == (
        'Author.objects.prefetch_related(Prefetch("books", '
        'queryset=Book.objects.order_by("pk")[:1], to_attr="first_books"))'
    )
    assert finding.read == "author.first_books[0] if author.first_books else None"
    assert "instead of author.books.first()" in finding.message
    result, counts = read_instead(finding, "author", lambda: apply(finding.suggestion))
    assert result == expected
    assert None in dict(result).values()
    assert counts == [2, 2]


def test_last_of_an_ordered_filter_per_row():
    def slow(authors):
        return [(a.pk, a.books.filter(published=True).order_by("pages").last()) for a in authors]

    expected = slow(Author.objects.all())
    finding = only_finding(run(lambda: slow(Author.objects.all())))
    assert finding.suggestion == (
        'Author.objects.prefetch_related(Prefetch("books", queryset=Book.objects'
        '.filter(published=True).order_by("pages").reverse()[:1], '
        'to_attr="last_published_books"))'
    )
    assert "instead of author.books.filter(published=True).order_by(\"pages\").last()" in (
        finding.message
    )
    result, counts = read_instead(finding, "author", lambda: apply(finding.suggestion))
    assert result == expected
    assert counts == [2, 2]


def test_index_per_row():
    def slow(authors):
        return [(a.pk, a.books.order_by("title")[0]) for a in authors]

    expected = slow(Author.objects.all())
    finding = only_finding(run(lambda: slow(Author.objects.all())))
    assert finding.suggestion == (
        'Author.objects.prefetch_related(Prefetch("books", '
        'queryset=Book.objects.order_by("title")[:1], to_attr="first_books"))'
    )
    assert finding.read == "author.first_books[0]"
    result, counts = read_instead(finding, "author", lambda: apply(finding.suggestion))
    assert result == expected
    assert counts == [2, 2]


# -- a deferred-field fix keeps the chain it was built on ------------------------------------


def test_deferred_field_keeps_select_related_and_filters():
    def root():
        return (
            Book.objects.filter(published=True)
            .select_related("author")
            .only("title", "author__name")
        )

    def loop(books):
        return [(b.title, b.author.name, b.summary) for b in books]

    finding = only_finding(run(lambda: loop(root())))
    assert finding.fix == "only"
    assert finding.suggestion == (
        'Book.objects.filter(published=True).select_related("author")'
        '.only("author__name", "summary", "title")'
    )
    assert pasted(finding.suggestion, loop, root) == [1, 1]


def test_deferred_field_after_defer_keeps_the_ordering():
    def root():
        return Book.objects.order_by("-isbn").defer("summary", "pages")

    def loop(books):
        return [(b.isbn, b.summary) for b in books]

    finding = only_finding(run(lambda: loop(root())))
    assert finding.suggestion == 'Book.objects.order_by("-isbn").defer("pages")'
    assert pasted(finding.suggestion, loop, root) == [1, 1]


# -- count fixes keep the root's calls too ---------------------------------------------------


def test_count_fix_keeps_the_filter_ordering_and_select_related():
    from tests.test_counts import apply as apply_counts

    def root():
        return Book.objects.filter(published=True).select_related("author").order_by("title")

    def slow(books):
        return [(b.title, b.author.name, b.tags.count()) for b in books]

    expected = slow(root())
    report = run(lambda: slow(root()))
    [finding] = report.counts
    assert finding.suggestion == (
        'Book.objects.filter(published=True).order_by("title").select_related("author")'
        '.annotate(tags_count=Count("tags"))'
    )

    def fixed(books):
        return [(b.title, b.author.name, b.tags_count) for b in books]

    assert fixed(apply_counts(finding.suggestion)) == expected
    assert query_counts(fixed, lambda: apply_counts(finding.suggestion)) == [1, 1]


def test_count_fix_below_a_prefetch_keeps_the_root_and_replaces_its_lookup():
    from tests.test_counts import apply as apply_counts

    def root():
        return Author.objects.exclude(name="Author 0").order_by("name").prefetch_related("books")

    def slow(authors):
        return [(a.name, sorted((b.title, b.tags.count()) for b in a.books.all())) for a in authors]

    expected = slow(root())
    [finding] = run(lambda: slow(root())).counts
    assert finding.suggestion == (
        'Author.objects.exclude(name=\'Author 0\').order_by("name").prefetch_related('
        'Prefetch("books", queryset=Book.objects.annotate(tags_count=Count("tags"))))'
    )

    def fixed(authors):
        return [(a.name, sorted((b.title, b.tags_count) for b in a.books.all())) for a in authors]

    assert fixed(apply_counts(finding.suggestion)) == expected
    assert query_counts(fixed, lambda: apply_counts(finding.suggestion)) == [2, 2]


def test_filter_per_row_below_a_lazy_manager():
    def slow(authors):
        return [
            [(b.title, [t.name for t in b.tags.filter(name="tag0")]) for b in a.books.all()]
            for a in authors
        ]

    def root():
        return Author.objects.order_by("pk")

    report = run(lambda: slow(root()))
    finding = next(f for f in report.nplusone if f.lookup == "books__tags")
    assert finding.suggestion == (
        'Author.objects.order_by("pk").prefetch_related(Prefetch("books__tags", '
        "queryset=Tag.objects.filter(name='tag0'), to_attr=\"name_tag0_tags\"))"
    )
    assert finding.read == "book.name_tag0_tags"

    def fixed(authors):
        return [
            [(b.title, [t.name for t in eval(finding.read, {"book": b})]) for b in a.books.all()]
            for a in authors
        ]

    assert fixed(apply(finding.suggestion, Tag=Tag)) == slow(root())
    assert query_counts(fixed, lambda: apply(finding.suggestion, Tag=Tag)) == [3, 3]
