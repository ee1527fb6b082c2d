"""Where the fix goes: the admin, Django REST framework and generic class-based
views own querysets that no line of the application evaluates.

Each test reads the owner (class, file, line), the lazy-load site and the fix
text, then applies the fix to the class as written (the attribute set, the
generated ``get_queryset()`` used) and requests the page again at two data
sizes: the same page, and a query count that does not grow.
"""

import json
import re
import sys
import textwrap
import warnings

import pytest
from django.contrib.auth.models import User
from django.db.models import Count, Prefetch
from django.test import Client

from ddt_perfpanels import capture
from tests.factories import make_library
from tests.frameworks import admin as fwadmin
from tests.frameworks import api, urls, views
from tests.testapp.models import Author, Book, Chapter, Publisher
from tests.toolbar import panel_content

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.frameworks.urls")]


@pytest.fixture
def client():
    client = Client()
    client.force_login(User.objects.create_superuser("admin", "admin@example.org", "pw"))
    return client


def line_of(path: str, text: str, after: str = "") -> int:
    """The line of ``path`` that holds ``text`` (the first one below the line
    that holds ``after``): where the fix must point."""
    start = line_of(path, after) if after else 0
    with open(path) as source:
        for number, line in enumerate(source, 1):
            if number > start and text in line:
                return number
    raise AssertionError(f"{text!r} not in {path}")


def request(client, url):
    with capture() as report:
        response = client.get(url)
    assert response.status_code == 200, response.content[:2000]
    return report, response


def finding(report, path):
    [found] = [f for f in report.nplusone if f.path == path]
    return found


def fixed_class(base: type, text: str, imports: str = "") -> type:
    """``base`` with the suggested class-body text pasted into a subclass,
    evaluated in the namespace of the module ``base`` was written in (with the
    suggested ``imports``)."""
    namespace = {**vars(sys.modules[base.__module__]), "Count": Count, "Prefetch": Prefetch}
    source = f"{imports}\nclass Fixed({base.__name__}):\n" + textwrap.indent(text, "    ")
    exec(compile(source, "<suggested fix>", "exec"), namespace)
    return namespace["Fixed"]


def rewritten_class(base: type, text: str, imports: str = "") -> type:
    """``base`` with the suggested text in place of its own methods of the
    same names (their ``super()`` is the base's base, as once pasted)."""
    namespace = {**vars(sys.modules[base.__module__]), "_bases": base.__bases__}
    source = f"{imports}\nclass Fixed(*_bases):\n" + textwrap.indent(text, "    ")
    exec(compile(source, "<suggested fix>", "exec"), namespace)
    fixed = namespace["Fixed"]
    for name, value in vars(base).items():
        if not name.startswith("__") and name not in vars(fixed):
            setattr(fixed, name, value)
    return fixed


def page_text(response) -> str:
    """The page without what changes at every request (the CSRF token)."""
    if response["Content-Type"].startswith("application/json"):
        return json.dumps(response.json(), sort_keys=True)
    html = response.content.decode()
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)


def constant_at_two_sizes(client, url, grow, before=None):
    """Query counts at two data sizes, with no N+1 left; the page equals
    ``before`` (the unfixed page at the first size) when given."""
    report, response = request(client, url)
    if before is not None:
        assert page_text(response) == before
    small = report.query_count
    assert report.nplusone == []
    grow()
    report, _response = request(client, url)
    assert report.nplusone == []
    assert report.query_count == small
    return small


def more_books(author, count=4):
    """More books of one author, each with tags: the second data size."""
    for n in range(count):
        book = Book.objects.create(title=f"More {n}", isbn=f"more-{n}", author=author)
        book.tags.set(Book.objects.first().tags.all())


def constant_as_library_grows(client, url, response, authors, books_per_author):
    """``constant_at_two_sizes`` with more authors and books as the second size."""
    return constant_at_two_sizes(
        client,
        url,
        lambda: make_library(authors=authors, books_per_author=books_per_author),
        before=page_text(response),
    )


def paste_queryset(monkeypatch, cls, text):
    """The suggested ``queryset = ...`` pasted into the view class."""
    monkeypatch.setattr(cls, "queryset", fixed_class(cls, text).queryset)


def swap_view(monkeypatch, name, cls, **arguments):
    original = urls.VIEWS[name]
    monkeypatch.setitem(urls.VIEWS, name, (cls, {**original[1], **arguments}))


# -- admin changelist ----------------------------------------------------------------


def test_admin_changelist_fix_goes_to_the_model_admin(client, monkeypatch):
    make_library(authors=3, books_per_author=2)
    report, response = request(client, "/fwadmin/testapp/book/")
    path = "tests/frameworks/admin.py"

    chain = finding(report, "author__publisher")
    assert chain.where["owner"] == "BookAdmin"
    assert chain.where["kind"] == "admin"
    # Merged with the list_select_related the class already has.
    assert chain.where["fix"] == 'list_select_related = ("author__publisher",)'
    assert chain.where["site"] == f"{path}:{line_of(path, 'list_select_related = (')}"
    assert chain.access == {
        "name": "BookAdmin.publisher_name (list_display)",
        "site": f"{path}:{line_of(path, 'def publisher_name')}",
    }

    tags = finding(report, "tags")
    assert tags.where["fix"] == (
        "def get_queryset(self, request):\n"
        '    return super().get_queryset(request).prefetch_related("tags")'
    )
    assert tags.where["site"] == f"{path}:{line_of(path, 'class BookAdmin')}"
    assert tags.access["name"] == "BookAdmin.tag_names (list_display)"
    combined = tags.where["combined"]["fix"]
    assert combined == chain.where["combined"]["fix"]

    fixed = fixed_class(fwadmin.BookAdmin, combined)
    monkeypatch.setattr(fwadmin.site._registry[Book], "__class__", fixed)
    constant_as_library_grows(client, "/fwadmin/testapp/book/", response, 4, 3)


def test_admin_list_select_related_true_becomes_a_tuple(client, monkeypatch):
    make_library(authors=3, books_per_author=2)
    model_admin = fwadmin.site._registry[Book]
    # True follows the non-null foreign keys only: author, not author.publisher.
    monkeypatch.setattr(model_admin, "list_select_related", True)
    with warnings.catch_warnings():
        # Django 6.1 deprecates the select_related() that True makes; the tuple
        # the fix writes is its replacement (and the fixed page runs warning-free).
        warnings.filterwarnings("ignore", "Calling select_related.. with no arguments")
        report, response = request(client, "/fwadmin/testapp/book/")
    chain = finding(report, "author__publisher")
    assert chain.where["fix"] == (
        "# in place of list_select_related = True: name every relation read\n"
        'list_select_related = ("author__publisher",)'
    )
    fixed = fixed_class(fwadmin.BookAdmin, chain.where["combined"]["fix"])
    monkeypatch.setattr(model_admin, "list_select_related", fixed.list_select_related)
    monkeypatch.setattr(model_admin, "__class__", fixed)
    constant_as_library_grows(client, "/fwadmin/testapp/book/", response, 4, 3)


def test_admin_str_in_the_changelist_names_the_model_method(client, monkeypatch):
    make_library(authors=2, books_per_author=2)
    report, response = request(client, "/fwadmin/testapp/chapter/")
    found = finding(report, "book")
    assert found.where["owner"] == "ChapterAdmin"
    assert found.where["fix"] == 'list_select_related = ("book",)'
    models = "tests/testapp/models.py"
    assert found.access["name"].startswith("Chapter.__str__(), called for ")
    assert "ChapterAdmin" in found.access["name"]
    assert found.access["site"] == f"{models}:{line_of(models, 'def __str__')}"

    fixed = fixed_class(fwadmin.ChapterAdmin, found.where["fix"])
    monkeypatch.setattr(
        fwadmin.site._registry[Chapter], "list_select_related", fixed.list_select_related
    )
    constant_as_library_grows(client, "/fwadmin/testapp/chapter/", response, 3, 3)


def test_admin_unused_list_select_related_is_taken_out(client, monkeypatch):
    make_library(authors=2, books_per_author=2)
    model_admin = fwadmin.site._registry[Chapter]
    # __str__ reads chapter.book; nothing reads the book's author.
    monkeypatch.setattr(model_admin, "list_select_related", ("book", "book__author"))
    report, response = request(client, "/fwadmin/testapp/chapter/")
    assert report.nplusone == []
    [unused] = report.unused_eager
    assert unused.lookup == "book__author"
    assert unused.where["owner"] == "ChapterAdmin"
    assert unused.where["fix"] == 'list_select_related = ("book",)'
    fixed = fixed_class(fwadmin.ChapterAdmin, unused.where["fix"])
    monkeypatch.setattr(model_admin, "list_select_related", fixed.list_select_related)
    report, after = request(client, "/fwadmin/testapp/chapter/")
    assert report.unused_eager == [] and report.nplusone == []
    assert page_text(after) == page_text(response)


def test_admin_display_function_in_list_display(client, monkeypatch):
    make_library(authors=3, books_per_author=1)
    report, response = request(client, "/fwadmin/testapp/authorprofile/")
    found = finding(report, "author")
    path = "tests/frameworks/admin.py"
    assert found.where["owner"] == "AuthorProfileAdmin"
    assert found.where["fix"] == 'list_select_related = ("author",)'
    assert found.where["site"] == f"{path}:{line_of(path, 'class AuthorProfileAdmin')}"
    assert found.access == {
        "name": "profile_author() (list_display of AuthorProfileAdmin)",
        "site": f"{path}:{line_of(path, 'def profile_author')}",
    }
    fixed = fixed_class(fwadmin.AuthorProfileAdmin, found.where["fix"])
    model_admin = fwadmin.site._registry[fwadmin.AuthorProfile]
    monkeypatch.setattr(model_admin, "list_select_related", fixed.list_select_related)
    constant_as_library_grows(client, "/fwadmin/testapp/authorprofile/", response, 4, 1)


def test_admin_inline_fix_goes_to_the_inline(client, monkeypatch):
    make_library(authors=1, books_per_author=3)
    author = Author.objects.get()
    url = f"/fwadmin/testapp/author/{author.pk}/change/"
    report, response = request(client, url)
    found = finding(report, "tags")
    path = "tests/frameworks/admin.py"
    assert found.where["owner"] == "BookInline"
    assert found.where["kind"] == "inline"
    assert found.where["parent"] == "AuthorAdmin"
    assert found.where["site"] == f"{path}:{line_of(path, 'class BookInline')}"
    assert found.where["fix"] == (
        "def get_queryset(self, request):\n"
        '    return super().get_queryset(request).prefetch_related("tags")'
    )
    assert found.access == {
        "name": "BookInline.tag_list (readonly_fields)",
        "site": f"{path}:{line_of(path, 'def tag_list')}",
    }

    monkeypatch.setattr(
        fwadmin.AuthorAdmin, "inlines", [fixed_class(fwadmin.BookInline, found.where["fix"])]
    )

    constant_at_two_sizes(client, url, lambda: more_books(author), before=page_text(response))


@pytest.mark.parametrize(
    "column, kind",
    [
        ("book_count", "count_in_loop"),
        ("page_total", "aggregate_in_loop"),
        ("has_unpublished", "exists_in_loop"),
    ],
)
def test_admin_count_per_row_goes_to_a_get_queryset_override(client, monkeypatch, column, kind):
    make_library(authors=3, books_per_author=2)
    model_admin = fwadmin.counts_site._registry[Author]
    monkeypatch.setattr(model_admin, "list_display", ("name", column))
    url = "/fwcounts/testapp/author/"
    report, response = request(client, url)
    path = "tests/frameworks/admin.py"
    [count] = [f for f in report.counts if f.kind == kind]
    assert count.where["owner"] == "AuthorCountsAdmin"
    assert count.where["attribute"] == "get_queryset()"
    assert count.where["site"] == f"{path}:{line_of(path, 'class AuthorCountsAdmin')}"
    # The annotate() of the queryset-form fix, on what the admin's queryset is.
    annotate = count.suggestion[count.suggestion.index(".annotate(") :]
    assert count.where["fix"] == (
        f"def get_queryset(self, request):\n    return super().get_queryset(request){annotate}"
    )

    # The override pasted, and the column reading the annotation.
    read = f"\n\ndef {column}(self, obj):\n    return obj.{count.attribute}"
    fixed = fixed_class(fwadmin.AuthorCountsAdmin, count.where["fix"] + read, count.imports)
    monkeypatch.setattr(model_admin, "__class__", fixed)
    small = constant_as_library_grows(client, url, response, 4, 3)
    report, _ = request(client, url)
    assert report.counts == [] and report.query_count == small


# -- Django REST framework -----------------------------------------------------------


def test_drf_viewset_nested_many_and_related_fields(client, monkeypatch):
    make_library(authors=3, books_per_author=2)
    report, response = request(client, "/books-api/")
    path = "tests/frameworks/api.py"
    queryset_line = f"{path}:{line_of(path, 'queryset = Book.objects.all()')}"

    author = finding(report, "author")
    assert author.where["owner"] == "BookViewSet"
    assert author.where["kind"] == "drf"
    assert author.where["attribute"] == "queryset"
    assert author.where["site"] == queryset_line
    assert author.where["fix"] == 'queryset = Book.objects.all().select_related("author")'
    assert author.access == {
        "name": "BookSerializer.author (AuthorSerializer)",
        "site": f"{path}:{line_of(path, 'author = AuthorSerializer()')}",
    }
    tags = finding(report, "tags")
    assert tags.access == {
        "name": "BookSerializer.tags (TagSerializer(many=True))",
        "site": f"{path}:{line_of(path, 'tags = TagSerializer(many=True)')}",
    }
    chapters = finding(report, "chapters")
    assert chapters.access["name"] == (
        'BookSerializer.chapter_ids (PrimaryKeyRelatedField(many=True), source="chapters")'
    )
    combined = tags.where["combined"]["fix"]
    assert combined == (
        'queryset = Book.objects.all().select_related("author")'
        '.prefetch_related("tags", "chapters")'
    )

    paste_queryset(monkeypatch, api.BookViewSet, combined)
    constant_as_library_grows(client, "/books-api/", response, 4, 3)


def test_drf_evaluates_but_the_application_owns_the_queryset(client):
    # Routed straight to the viewset: no line of the application on the stack
    # when DRF evaluates the queryset and reads the rows.
    from ddt_perfpanels.analysis.thirdparty import is_third_party

    make_library(authors=3, books_per_author=2)
    report, _response = request(client, "/books-api-direct/")
    tags = finding(report, "tags")
    assert tags.third_party["package"] == "rest_framework"
    assert tags.third_party["owner"] == "yours"
    assert "BookViewSet builds it" in tags.third_party["how"]
    assert not any(is_third_party(f) for f in report.nplusone)
    assert tags.suggestion == 'Book.objects.prefetch_related("tags")'
    assert "Add to your query: " in tags.message
    assert tags.combined_suggestion == (
        'Book.objects.select_related("author").prefetch_related("tags", "chapters")'
    )
    assert tags.where["combined"]["fix"] == (
        'queryset = Book.objects.all().select_related("author")'
        '.prefetch_related("tags", "chapters")'
    )


def test_drf_list_view_get_queryset_dotted_source_method_field_pagination(client, monkeypatch):
    make_library(authors=3, books_per_author=2)
    report, response = request(client, "/summaries-api/")
    path = "tests/frameworks/api.py"

    country = finding(report, "author__publisher__country")
    assert country.where["owner"] == "BookSummaryList"
    assert country.where["attribute"] == "get_queryset()"
    assert country.where["site"] == f"{path}:{line_of(path, 'def get_queryset(self):')}"
    assert country.access == {
        "name": 'BookSummarySerializer.country (CharField, source="author.publisher.country.name")',
        "site": f"{path}:{line_of(path, 'country = serializers.CharField')}",
    }
    tags = finding(report, "tags")
    method_line = line_of(path, "def get_tag_names")
    assert tags.access == {
        "name": (
            "BookSummarySerializer.tag_names (SerializerMethodField), "
            f"read in get_tag_names() at {path}:{method_line}"
        ),
        "site": f"{path}:{line_of(path, 'tag_names = serializers.SerializerMethodField()')}",
    }
    combined = tags.where["combined"]["fix"]
    assert combined == (
        "def get_queryset(self):\n"
        '    return Book.objects.order_by("title")'
        '.select_related("author__publisher__country").prefetch_related("tags")'
    )

    swap_view(monkeypatch, "summaries-api", fixed_class(api.BookSummaryList, combined))
    constant_as_library_grows(client, "/summaries-api/", response, 4, 3)


def test_drf_string_related_field(client, monkeypatch):
    make_library(authors=2, books_per_author=2)
    report, response = request(client, "/chapters-api/")
    path = "tests/frameworks/api.py"
    found = finding(report, "book")
    assert found.where["owner"] == "ChapterList"
    assert found.where["fix"] == 'queryset = Chapter.objects.order_by("pk").select_related("book")'
    assert found.access == {
        "name": "ChapterSerializer.book (StringRelatedField)",
        "site": f"{path}:{line_of(path, 'book = serializers.StringRelatedField()')}",
    }
    paste_queryset(monkeypatch, api.ChapterList, found.where["fix"])
    constant_as_library_grows(client, "/chapters-api/", response, 3, 3)


def test_drf_nested_serializer_names_the_field_it_sits_in(client, monkeypatch):
    make_library(authors=2, books_per_author=2)
    report, response = request(client, "/chapter-books-api/")
    path = "tests/frameworks/api.py"
    found = finding(report, "book__author")
    assert found.access == {
        "name": (
            "BookAuthorSerializer.author (StringRelatedField), "
            "nested in ChapterBookSerializer.book"
        ),
        "site": f"{path}:{line_of(path, 'author = serializers.StringRelatedField()')}",
    }
    assert found.where["fix"] == (
        'queryset = Chapter.objects.order_by("pk").select_related("book__author")'
    )
    paste_queryset(monkeypatch, api.ChapterBookList, found.where["fix"])
    constant_as_library_grows(client, "/chapter-books-api/", response, 3, 3)


def test_drf_count_per_row_goes_to_the_view_queryset(client, monkeypatch):
    make_library(authors=3, books_per_author=2)
    report, response = request(client, "/authors-api/")
    path = "tests/frameworks/api.py"
    [count] = [f for f in report.counts if f.kind == "count_in_loop"]
    assert count.where["owner"] == "AuthorList"
    assert count.where["site"] == f"{path}:{line_of(path, 'queryset = Author.objects')}"
    assert count.where["fix"] == (
        f'queryset = Author.objects.order_by("name").annotate({count.attribute}=Count("books"))'
    )

    # The fix, and the one line that reads the annotation instead.
    fixed = fixed_class(api.AuthorList, count.where["fix"])
    read = fixed_class(
        api.AuthorTotalSerializer,
        f"def get_book_total(self, obj):\n    return obj.{count.attribute}",
    )
    monkeypatch.setattr(api.AuthorList, "queryset", fixed.queryset)
    monkeypatch.setattr(api.AuthorList, "serializer_class", read)

    def grow():
        make_library(authors=4, books_per_author=3)

    small = constant_at_two_sizes(client, "/authors-api/", grow, before=page_text(response))
    report, _ = request(client, "/authors-api/")
    assert report.counts == [] and report.query_count == small


# -- generic class-based views -------------------------------------------------------


def test_list_view_with_model_alone_gets_a_queryset_attribute(client, monkeypatch):
    make_library(authors=3, books_per_author=2)
    report, response = request(client, "/books-cbv/")
    path = "tests/frameworks/views.py"
    author = finding(report, "author")
    assert author.where["owner"] == "BookListView"
    assert author.where["kind"] == "cbv"
    assert author.where["attribute"] == "queryset"
    assert author.where["site"] == f"{path}:{line_of(path, 'model = Book')}"
    assert author.where["fix"] == 'queryset = Book.objects.select_related("author")'
    combined = author.where["combined"]["fix"]
    assert combined == 'queryset = Book.objects.select_related("author").prefetch_related("tags")'

    swap_view(monkeypatch, "books-cbv", fixed_class(views.BookListView, combined))
    constant_as_library_grows(client, "/books-cbv/", response, 4, 3)


def test_list_view_with_queryset_keeps_its_chain(client, monkeypatch):
    make_library(authors=3, books_per_author=2)
    report, response = request(client, "/ordered-cbv/")
    path = "tests/frameworks/views.py"
    tags = finding(report, "tags")
    assert tags.where["owner"] == "OrderedBookListView"
    assert tags.where["site"] == f"{path}:{line_of(path, 'queryset = Book.objects.order_by')}"
    combined = tags.where["combined"]["fix"]
    assert combined == (
        'queryset = Book.objects.order_by("title").select_related("author")'
        '.prefetch_related("tags")'
    )
    paste_queryset(monkeypatch, views.OrderedBookListView, combined)
    constant_as_library_grows(client, "/ordered-cbv/", response, 4, 3)


def test_detail_view_gets_the_whole_path_on_its_queryset(client, monkeypatch):
    make_library(authors=1, books_per_author=3)
    author = Author.objects.get()
    url = f"/author/{author.pk}/"
    report, response = request(client, url)
    tags = finding(report, "books__tags")
    # As a statement: below the one author, author.books. As the view's attribute:
    # the whole path on the queryset the view gets the author from.
    assert tags.suggestion == 'author.books.prefetch_related("tags")'
    path = "tests/frameworks/views.py"
    assert tags.where["owner"] == "AuthorDetailView"
    assert tags.where["site"] == f"{path}:{line_of(path, 'model = Author')}"
    assert tags.where["fix"] == 'queryset = Author.objects.prefetch_related("books__tags")'
    paste_queryset(monkeypatch, views.AuthorDetailView, tags.where["fix"])

    constant_at_two_sizes(client, url, lambda: more_books(author), before=page_text(response))


def test_deferred_field_read_per_row_is_loaded_by_the_view_queryset(client, monkeypatch):
    make_library(authors=2, books_per_author=2)
    report, response = request(client, "/deferred-cbv/")
    [found] = report.nplusone
    assert found.fix == "only" and found.field == "summary"
    path = "tests/frameworks/views.py"
    assert found.where["owner"] == "DeferredListView"
    assert found.where["site"] == f"{path}:{line_of(path, 'queryset = Book.objects.defer(')}"
    # defer() only ever adds to what is deferred: the fix clears it.
    assert found.where["fix"] == (
        'queryset = Book.objects.defer("summary").order_by("pk").defer(None)'
    )
    paste_queryset(monkeypatch, views.DeferredListView, found.where["fix"])
    constant_as_library_grows(client, "/deferred-cbv/", response, 3, 3)


def test_plain_list_view_gets_an_as_view_argument(client, monkeypatch):
    make_library(authors=2, books_per_author=2)
    report, response = request(client, "/plain-cbv/")
    tags = finding(report, "tags")
    assert tags.where["owner"] == "ListView"
    assert tags.where["site"] == ""
    assert "ListView.as_view()" in tags.where["note"]
    argument = tags.where["combined"]["fix"]
    assert argument == 'queryset=Book.objects.select_related("author").prefetch_related("tags")'
    queryset = eval(argument.removeprefix("queryset="), {"Book": Book})
    arguments = {"queryset": queryset, "template_name": "testapp/cbv_books.html"}
    monkeypatch.setitem(urls.VIEWS, "plain-cbv", (urls.ListView, arguments))
    constant_as_library_grows(client, "/plain-cbv/", response, 3, 3)


def test_model_property_and_cached_property_are_the_access_site(client):
    make_library(authors=2, books_per_author=2)
    report, _response = request(client, "/properties-cbv/")
    models = "tests/testapp/models.py"
    author = finding(report, "author")
    assert author.access == {
        "name": "Book.author_name (property)",
        "site": f"{models}:{line_of(models, 'def author_name')}",
    }
    # The loop that ran it: the template line.
    assert author.access_site == "testapp/cbv_properties.html:1"
    tags = finding(report, "tags")
    assert tags.access["name"] == "Book.first_tag (cached_property)"
    assert tags.where["owner"] == "PropertyListView"


def test_unused_eager_load_is_removed_from_the_owner(client, monkeypatch):
    make_library(authors=2, books_per_author=2)
    report, response = request(client, "/unused-cbv/")
    [unused] = report.unused_eager
    path = "tests/frameworks/views.py"
    assert unused.where["owner"] == "UnusedEagerListView"
    written = line_of(path, "queryset = Book.objects.select_related")
    assert unused.where["site"] == f"{path}:{written}"
    assert unused.where["fix"] == 'queryset = Book.objects.order_by("title")'
    paste_queryset(monkeypatch, views.UnusedEagerListView, unused.where["fix"])
    report, after = request(client, "/unused-cbv/")
    assert report.unused_eager == []
    assert page_text(after) == page_text(response)


def test_a_failure_to_place_the_fix_keeps_the_finding(client, monkeypatch):
    from ddt_perfpanels.analysis import where

    def unreadable(cls):
        raise OSError("source not available")

    monkeypatch.setattr(where, "_source", unreadable)
    make_library(authors=2, books_per_author=2)
    report, _response = request(client, "/books-cbv/")
    author = finding(report, "author")
    assert author.suggestion == 'Book.objects.select_related("author")'
    assert author.where == {}
    assert any("finding where the fix goes" in error for error in report.errors)


def test_a_view_owns_only_querysets_of_its_model():
    # A view with only get_queryset(): its model is its serializer's, so a Tag
    # queryset the framework evaluates for it (a form's choices) is not its own.
    from ddt_perfpanels.recording.where import _matches, _owner_of

    owner = _owner_of(api.BookSummaryList(), "testapp.Tag")
    assert owner.model == "testapp.Book"
    assert _matches(owner, "testapp.Book") and not _matches(owner, "testapp.Tag")


def test_a_function_view_has_no_owner():
    make_library(authors=2, books_per_author=2)
    with capture() as report:
        [(book.title, book.author.name) for book in Book.objects.all()]
    [found] = report.nplusone
    assert found.where == {}
    assert found.origin.startswith("tests/test_where.py:")


# -- counts over fanned-out joins ----------------------------------------------------

MODELS = "from tests.testapp.models import Author, Book, Tag"


def fanned_out(client, url, owner, attribute, site):
    """The distinct_join_count finding of the page, its fix placed in ``owner``
    at ``site`` (a (path, text, after) for line_of), and the page."""
    make_library(authors=3, books_per_author=3)
    report, response = request(client, url)
    [found] = [f for f in report.counts if f.kind == "distinct_join_count"]
    path, text, after = site
    assert (found.where["owner"], found.where["attribute"]) == (owner, attribute)
    assert found.where["site"] == f"{path}:{line_of(path, text, after=after)}"
    return found, response


def fanned_out_fixed(client, url, response):
    """The page with the owner's rewritten annotate(): the same counts, no
    fanned-out join left, and constant at two sizes."""
    small = constant_as_library_grows(client, url, response, 4, 3)
    report, _ = request(client, url)
    assert report.counts == [] and report.query_count == small


def test_fanned_out_counts_are_rewritten_in_the_view_queryset(client, monkeypatch):
    cls = views.FannedOutCountsListView
    site = ("tests/frameworks/views.py", "queryset = Author", f"class {cls.__name__}")
    found, response = fanned_out(client, "/fanned-out-cbv/", cls.__name__, "queryset", site)
    # The view's own call, its counts replaced by the subqueries of the suggestion.
    fix = found.where["fix"]
    assert fix.startswith("queryset = Author.objects.annotate(\n        n_books=Coalesce(Subquery(")
    assert fix.endswith('    ).order_by("name")')
    for alias_line in found.suggestion.splitlines()[1:-1]:
        assert alias_line.strip() in fix
    fixed = fixed_class(cls, fix, f"{found.imports}\n{MODELS}")
    monkeypatch.setattr(cls, "queryset", fixed.queryset)
    fanned_out_fixed(client, "/fanned-out-cbv/", response)


def test_fanned_out_counts_are_rewritten_in_the_admin_get_queryset(client, monkeypatch):
    cls = fwadmin.PublisherCountsAdmin
    site = ("tests/frameworks/admin.py", "def get_queryset", f"class {cls.__name__}")
    url = "/fwcounts/testapp/publisher/"
    found, response = fanned_out(client, url, cls.__name__, "get_queryset()", site)
    assert found.where["fix"].startswith(
        "def get_queryset(self, request):\n"
        "    return super().get_queryset(request).annotate(\n"
        '        n_authors=Coalesce(Subquery(Author.objects.filter(publisher=OuterRef("pk"))'
    )
    fixed = rewritten_class(cls, found.where["fix"], found.imports)
    monkeypatch.setattr(fwadmin.counts_site._registry[Publisher], "__class__", fixed)
    fanned_out_fixed(client, url, response)


# -- the panel ---------------------------------------------------------------------


def test_panel_shows_the_owner_and_its_fix(client, settings):
    settings.DEBUG = True
    make_library(authors=2, books_per_author=2)
    response = client.get("/fwadmin/testapp/book/")
    content = panel_content(client, response, "NPlusOnePanel")
    assert "Where the fix goes" in content
    assert "<code>BookAdmin</code>" in content
    assert "list_select_related = (&quot;author__publisher&quot;,)" in content
    assert "BookAdmin.publisher_name (list_display)" in content
    # Never a bare "?": the changelist has no line of the application.
    assert "<code>?</code>" not in content
    assert "Queryset of the admin changelist <code>BookAdmin</code>" in content


def test_counts_panel_shows_the_owner_and_its_fix(client, settings):
    settings.DEBUG = True
    make_library(authors=3, books_per_author=2)
    response = client.get("/author-counts-cbv/")
    content = panel_content(client, response, "CountsPanel")
    path = "tests/frameworks/views.py"
    assert "Where the fix goes" in content
    assert "<code>AuthorListView</code>" in content
    line = line_of(path, "model = Author", after="class AuthorListView")
    assert f"<code>{path}:{line}</code>" in content
    assert (
        "queryset = Author.objects.annotate(books_count=Count(&quot;books&quot;))" in content
    )


# -- stored violations, test failures ------------------------------------------------


def budget_on(settings, **limits):
    from tests import settings as test_settings

    settings.MIDDLEWARE = [
        *test_settings.MIDDLEWARE,
        "ddt_perfpanels.middleware.BudgetMiddleware",
    ]
    settings.DDT_PERFPANELS = {"BUDGETS": {"default": limits}}


def test_stored_violation_keeps_the_fix_in_the_admin_form(client, settings, monkeypatch):
    from ddt_perfpanels.models import BudgetViolation

    budget_on(settings, nplusone=0)
    make_library(authors=3, books_per_author=2)
    response = client.get("/fwadmin/testapp/book/")
    assert response.status_code == 200
    [violation] = BudgetViolation.objects.all()
    path = "tests/frameworks/admin.py"
    stored = {cluster["path"]: cluster for cluster in violation.nplusone}
    chain, tags = stored["author__publisher"], stored["tags"]
    line = line_of(path, "list_select_related = (")
    assert chain["where"] == (
        f"the admin changelist BookAdmin, its list_select_related at {path}:{line}"
    )
    assert chain["where_fix"] == 'list_select_related = ("author__publisher",)'
    assert tags["where"] == (
        f"the admin changelist BookAdmin, its get_queryset() at {path}:"
        f"{line_of(path, 'class BookAdmin')}"
    )
    # The two stored fixes, pasted into the class: the page as it was, and
    # constant at two sizes.
    fixed = fixed_class(fwadmin.BookAdmin, chain["where_fix"] + "\n\n" + tags["where_fix"])
    settings.DDT_PERFPANELS = {}
    monkeypatch.setattr(fwadmin.site._registry[Book], "__class__", fixed)
    monkeypatch.setattr(
        fwadmin.site._registry[Book], "list_select_related", fixed.list_select_related
    )
    constant_as_library_grows(client, "/fwadmin/testapp/book/", response, 4, 3)


def test_stored_owner_fix_loses_its_values_keeps_its_names():
    from ddt_perfpanels.findings import compact_finding

    where = {
        "owner": "BookAdmin",
        "kind": "admin",
        "kind_words": "admin changelist",
        "attribute": "list_select_related and get_queryset()",
        "site": "app/admin.py:17",
        "fix": 'list_select_related = ("author",)\n\n'
        "def get_queryset(self, request):\n"
        '    return super().get_queryset(request).filter(title="hunter2")'
        '.prefetch_related("tags")',
    }
    stored = compact_finding({"kind": "nplusone", "where": where}, "nplusone", redacted=True)
    assert stored["where"] == (
        "the admin changelist BookAdmin, its list_select_related and get_queryset() "
        "at app/admin.py:17"
    )
    assert stored["where_fix"] == (
        'list_select_related = ("author",)\n\n'
        "def get_queryset(self, request):\n"
        '    return super().get_queryset(request).filter(title=...).prefetch_related("tags")'
    )


def test_budget_exceeded_names_where_the_fix_goes(client):
    from ddt_perfpanels.budgets import BudgetExceeded, assert_budget

    make_library(authors=3, books_per_author=2)
    with pytest.raises(BudgetExceeded) as caught:
        with assert_budget(nplusone=0):
            client.get("/fwadmin/testapp/book/")
    lines = str(caught.value).splitlines()
    path = "tests/frameworks/admin.py"
    line = line_of(path, "list_select_related = (")
    assert (
        "    where the fix goes: the admin changelist BookAdmin, its list_select_related "
        f"at {path}:{line}"
    ) in lines
    assert '    fix there: list_select_related = ("author__publisher",)' in lines
    at = lines.index('    fix there: list_select_related = ("author__publisher",)')
    # the queryset form stays, below it
    assert any(line.startswith("    fix: Book.objects") for line in lines[at:])


# -- without Django REST framework ---------------------------------------------------

WITHOUT_DRF = """
import json, os, sys

class NoRestFramework:
    def find_spec(self, name, path=None, target=None):
        if name == "rest_framework" or name.startswith("rest_framework."):
            raise ImportError("no rest_framework here")

sys.meta_path.insert(0, NoRestFramework())
os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
import django
django.setup()
from django.core.management import call_command
from django.test import Client
from django.test.utils import override_settings
from ddt_perfpanels import capture
from tests.factories import make_library

call_command("migrate", verbosity=0)
make_library(authors=2, books_per_author=2)
with override_settings(ROOT_URLCONF="tests.frameworks.urls"):
    with capture() as report:
        response = Client().get("/books-cbv/")
print(json.dumps({
    "status": response.status_code,
    "owners": sorted(f.where.get("owner", "") for f in report.nplusone),
    "errors": report.errors,
    "drf_loaded": any(name.startswith("rest_framework") for name in sys.modules),
}))
"""


def test_everything_runs_without_rest_framework():
    import os
    import subprocess

    # On its own in-memory SQLite database, whatever database the suite runs on.
    env = {k: v for k, v in os.environ.items() if k != "DDT_TEST_DB"}
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_DRF], capture_output=True, text=True, timeout=120, env=env
    )
    assert result.returncode == 0, result.stderr[-3000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome == {
        "status": 200,
        "owners": ["BookListView", "BookListView"],
        "errors": [],
        "drf_loaded": False,
    }
