"""URLs whose view classes the tests can swap for their fixed versions."""

from django.urls import include, path
from django.views.generic import ListView

from tests.frameworks import admin, views
from tests.testapp.models import Book

try:
    from tests.frameworks import api
except ImportError:  # DRF is optional: the rest runs without it
    api = None

# name -> (view class, as_view() arguments); the tests put a fixed class here.
VIEWS = {
    "books-cbv": (views.BookListView, {}),
    "ordered-cbv": (views.OrderedBookListView, {}),
    "unused-cbv": (views.UnusedEagerListView, {}),
    "properties-cbv": (views.PropertyListView, {}),
    "author-counts-cbv": (views.AuthorListView, {}),
    "deferred-cbv": (views.DeferredListView, {}),
    "fanned-out-cbv": (views.FannedOutCountsListView, {}),
    "plain-cbv": (ListView, {"model": Book, "template_name": "testapp/cbv_books.html"}),
}
if api is not None:
    VIEWS.update(
        {
            "books-api": (api.BookViewSet, {"actions": {"get": "list"}}),
            "summaries-api": (api.BookSummaryList, {}),
            "chapters-api": (api.ChapterList, {}),
            "authors-api": (api.AuthorList, {}),
            "chapter-books-api": (api.ChapterBookList, {}),
        }
    )


def _current(name):
    def view(request, *args, **kwargs):
        cls, arguments = VIEWS[name]
        arguments = dict(arguments)
        actions = arguments.pop("actions", None)
        handler = cls.as_view(actions, **arguments) if actions else cls.as_view(**arguments)
        return handler(request, *args, **kwargs)

    return view


urlpatterns = [
    path("author/<int:pk>/", views.AuthorDetailView.as_view(), name="author-detail"),
    *(
        [path("books-api-direct/", api.BookViewSet.as_view({"get": "list"}))]
        if api is not None
        else []
    ),
    path("fwadmin/", admin.site.urls),
    path("fwcounts/", admin.counts_site.urls),
    path("__debug__/", include("debug_toolbar.urls")),
    *(path(f"{name}/", _current(name), name=name) for name in VIEWS),
]
