"""Admins on their own site, so that the default admin stays as it was."""

from django.contrib import admin
from django.db.models import Count, Sum

from tests.testapp.models import Author, AuthorProfile, Book, Chapter, Publisher

site = admin.AdminSite(name="fwadmin")


class BookAdmin(admin.ModelAdmin):
    list_display = ("title", "author_name", "publisher_name", "tag_names")
    list_select_related = ("author",)

    def author_name(self, obj):
        return obj.author.name

    @admin.display(description="publisher")
    def publisher_name(self, obj):
        return obj.author.publisher.name

    def tag_names(self, obj):
        return ", ".join(sorted(tag.name for tag in obj.tags.all()))


class BookInline(admin.TabularInline):
    model = Book
    fields = ("title", "tag_list")
    readonly_fields = ("tag_list",)
    extra = 0

    def tag_list(self, obj):
        return ", ".join(sorted(tag.name for tag in obj.tags.all()))


class AuthorAdmin(admin.ModelAdmin):
    inlines = [BookInline]


class ChapterAdmin(admin.ModelAdmin):
    list_display = ("__str__",)


@admin.display(description="author")
def profile_author(profile):
    return profile.author.name


class AuthorProfileAdmin(admin.ModelAdmin):
    list_display = ("website", profile_author)


site.register(Book, BookAdmin)
site.register(AuthorProfile, AuthorProfileAdmin)
site.register(Author, AuthorAdmin)
site.register(Chapter, ChapterAdmin)


# Counts per row in list_display columns: each test shows one of them.
counts_site = admin.AdminSite(name="fwcounts")


class AuthorCountsAdmin(admin.ModelAdmin):
    list_display = ("name", "book_count", "page_total", "has_unpublished")

    def book_count(self, obj):
        return obj.books.count()

    def page_total(self, obj):
        return obj.books.aggregate(total=Sum("pages"))["total"]

    def has_unpublished(self, obj):
        return obj.books.filter(published=False).exists()


class PublisherCountsAdmin(admin.ModelAdmin):
    list_display = ("name", "authors", "books")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            n_authors=Count("authors", distinct=True),
            n_books=Count("authors__books", distinct=True),
        )

    def authors(self, obj):
        return obj.n_authors

    def books(self, obj):
        return obj.n_books


counts_site.register(Author, AuthorCountsAdmin)
counts_site.register(Publisher, PublisherCountsAdmin)
