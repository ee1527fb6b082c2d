from django.contrib import admin
from django.urls import include, path

from tests.testapp import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("books/", views.book_list, name="book-list"),
    path("books/fixed/", views.book_list_fixed, name="book-list-fixed"),
    path("books/tags/", views.book_list_with_tags, name="book-list-tags"),
    path("books/async/", views.book_list_async, name="book-list-async"),
    path("books/template/", views.book_list_template, name="book-list-template"),
    path("hostile/", views.hostile, name="hostile"),
    path("cache/", include("tests.cache.urls")),
    path("cms/", include("tests.cmssite.urls")),
    # Not debug_toolbar_urls(): it returns nothing unless DEBUG is on when this
    # module is first imported, and pytest-django turns DEBUG off.
    path("__debug__/", include("debug_toolbar.urls")),
]
