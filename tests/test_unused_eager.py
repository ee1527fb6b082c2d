"""An "unused" eager load is advice to delete code: every way of reading the
relation must be seen, and the advice given only when it is certain.

Each reading path below reads the eager-loaded rows; none may be called unused,
and removing the lookup adds queries (so the advice would have been wrong)."""

import pytest
from django import forms
from django.db.models import QuerySet
from django.template import engines

from ddt_perfpanels import capture
from tests.factories import make_library
from tests.testapp.models import Author, AuthorProfile, Book, Chapter

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def library():
    make_library()


def run(body):
    with capture() as report:
        report.result = body()
    return report


def assert_read(with_lookup, without_lookup):
    """The lookup is seen as read, and removing it adds queries, same result."""
    report = run(with_lookup)
    assert report.unused_eager == [], [f.message for f in report.unused_eager]
    removed = run(without_lookup)
    assert removed.result == report.result
    assert len(removed.queries) > len(report.queries)


def titles_and_authors(books):
    return [(b.title, b.author.name) for b in books]


def test_attribute():
    assert_read(
        lambda: titles_and_authors(Book.objects.select_related("author")),
        lambda: titles_and_authors(Book.objects.all()),
    )


def websites(authors):
    out = []
    for author in authors:
        try:
            out.append(author.profile.website)
        except AuthorProfile.DoesNotExist:
            out.append(None)
    return out


def test_does_not_exist_on_an_empty_reverse_one_to_one():
    AuthorProfile.objects.all().delete()  # every read raises DoesNotExist
    assert_read(
        lambda: websites(Author.objects.select_related("profile")),
        lambda: websites(Author.objects.all()),
    )


class ChapterForm(forms.Form):
    chapter = forms.ModelChoiceField(queryset=Chapter.objects.none())


def choices(queryset):
    form = ChapterForm()
    form.fields["chapter"].queryset = queryset
    return str(form["chapter"])


def test_str_in_form_choice_labels():
    assert_read(
        lambda: choices(Chapter.objects.select_related("book")),
        lambda: choices(Chapter.objects.all()),
    )


def test_template():
    template = engines["django"].from_string(
        "{% for b in books %}{{ b.title }} by {{ b.author.name }}; {% endfor %}"
    )
    assert_read(
        lambda: template.render({"books": Book.objects.select_related("author")}),
        lambda: template.render({"books": Book.objects.all()}),
    )


def test_prefetch_read_in_a_template():
    template = engines["django"].from_string(
        "{% for a in authors %}{% for b in a.books.all %}{{ b.title }}{% endfor %}{% endfor %}"
    )
    assert_read(
        lambda: template.render({"authors": Author.objects.prefetch_related("books")}),
        lambda: template.render({"authors": Author.objects.all()}),
    )


def test_drf_serializer():
    serializers = pytest.importorskip("rest_framework.serializers")

    class BookSerializer(serializers.ModelSerializer):
        author = serializers.StringRelatedField()
        author_name = serializers.CharField(source="author.name")

        class Meta:
            model = Book
            fields = ["title", "author", "author_name"]

    def data(books):
        return [dict(row) for row in BookSerializer(books, many=True).data]

    assert_read(
        lambda: data(Book.objects.select_related("author")),
        lambda: data(Book.objects.all()),
    )


# -- what is reported, and how -------------------------------------------------------------


def test_serializable_value_does_not_read_the_row():
    """serializable_value("author") reads author_id: the join is truly unused,
    and removing it adds no query."""

    def ids(books):
        return [b.serializable_value("author") for b in books]

    report = run(lambda: ids(Book.objects.select_related("author").order_by("title")))
    [unused] = report.unused_eager
    assert unused.certain
    assert unused.suggestion == 'Book.objects.order_by("title")'
    fixed = run(lambda: ids(eval(unused.suggestion, {"Book": Book})))
    assert fixed.result == report.result
    assert len(fixed.queries) <= len(report.queries)


def test_the_root_filter_and_ordering_are_kept():
    report = run(
        lambda: [b.title for b in Book.objects.filter(published=True).select_related("author")
                 .order_by("-title")[:3]]
    )
    [unused] = report.unused_eager
    # The slice stays where it is written (a paginator takes it as often).
    assert unused.suggestion == 'Book.objects.filter(published=True).order_by("-title")'
    fixed = run(lambda: [b.title for b in eval(unused.suggestion, {"Book": Book})[:3]])
    assert fixed.result == report.result


def test_one_card_per_queryset():
    def view():
        books = Book.objects.select_related("author")
        first = [b.title for b in books.all()]
        second = [b.title for b in books.filter(published=True)]
        return first, second

    assert len(run(view).unused_eager) == 1


def test_read_by_one_evaluation_is_not_unused():
    def view():
        books = Book.objects.select_related("author")
        titles = [b.title for b in books.filter(published=True)]
        return titles, titles_and_authors(books.filter(published=False))

    assert run(view).unused_eager == []


def test_a_lookup_added_before_the_request_is_only_a_note():
    books = Book.objects.select_related("author")  # a class attribute, say
    report = run(lambda: [b.title for b in books.all()])
    [note] = report.unused_eager
    assert not note.certain
    assert "before this request" in note.reason
    assert "Remove it" not in note.message


class Shelf(QuerySet):
    def with_authors(self):
        return self.select_related("author")


def test_a_lookup_added_by_a_shared_queryset_method_is_only_a_note():
    report = run(lambda: [b.title for b in Shelf(model=Book).with_authors()])
    [note] = report.unused_eager
    assert not note.certain
    assert "every caller" in note.reason


def test_notes_are_never_counted():
    books = Book.objects.select_related("author")
    report = run(lambda: [b.title for b in books.all()])
    assert report.unused_eager and "unused_eager" not in report.metrics()


def books_with_authors():
    return Book.objects.select_related("author")


def test_a_lookup_added_by_a_helper_is_only_a_note():
    """The helper returned the queryset: another page may call it and read authors."""
    report = run(lambda: [b.title for b in books_with_authors()])
    [note] = report.unused_eager
    assert not note.certain
    assert "books_with_authors()" in note.reason


class BookList:
    def get_queryset(self):
        return Book.objects.select_related("author")


def test_a_lookup_added_by_a_view_method_is_advice():
    report = run(lambda: [b.title for b in BookList().get_queryset()])
    [unused] = report.unused_eager
    assert unused.certain
    assert unused.suggestion == "Book.objects.all()"
