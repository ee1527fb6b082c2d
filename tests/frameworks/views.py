"""Generic class-based views: ``model =`` alone, and ``queryset =``."""

from django.db.models import Count
from django.views.generic import DetailView, ListView

from tests.testapp.models import Author, Book


class BookListView(ListView):
    model = Book
    template_name = "testapp/cbv_books.html"


class OrderedBookListView(ListView):
    queryset = Book.objects.order_by("title")
    template_name = "testapp/cbv_books.html"
    paginate_by = 100


class UnusedEagerListView(ListView):
    queryset = Book.objects.select_related("author").order_by("title")
    template_name = "testapp/cbv_titles.html"


class PropertyListView(ListView):
    """The lazy loads happen in a model property and a cached_property."""

    model = Book
    template_name = "testapp/cbv_properties.html"


class AuthorDetailView(DetailView):
    model = Author
    template_name = "testapp/cbv_author.html"


class AuthorListView(ListView):
    """A count per row in the template."""

    model = Author
    template_name = "testapp/cbv_author_counts.html"


class DeferredListView(ListView):
    """The template reads the field the queryset defers."""

    queryset = Book.objects.defer("summary").order_by("pk")
    template_name = "testapp/cbv_summaries.html"


class FannedOutCountsListView(ListView):
    """Two counts over joins that multiply each other's rows."""

    queryset = Author.objects.annotate(
        n_books=Count("books", distinct=True),
        n_tags=Count("books__tags", distinct=True),
    ).order_by("name")
    template_name = "testapp/cbv_author_annotations.html"
