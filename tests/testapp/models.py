"""Models that give every relation shape the N+1 and count detectors must handle."""

from django.contrib.contenttypes.fields import GenericForeignKey, GenericRelation
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils.functional import cached_property


class Country(models.Model):
    name = models.CharField(max_length=100)


class Publisher(models.Model):
    name = models.CharField(max_length=100)
    country = models.ForeignKey(Country, null=True, blank=True, on_delete=models.SET_NULL)


class Author(models.Model):
    name = models.CharField(max_length=100)
    bio = models.TextField(blank=True, default="")
    publisher = models.ForeignKey(
        Publisher, null=True, blank=True, related_name="authors", on_delete=models.SET_NULL
    )

    @property
    def book_total(self) -> int:
        # A per-row count hidden in a property: the counts detector must still see it.
        return self.books.count()


class AuthorProfile(models.Model):
    author = models.OneToOneField(Author, related_name="profile", on_delete=models.CASCADE)
    website = models.CharField(max_length=200, blank=True, default="")


class Tag(models.Model):
    name = models.CharField(max_length=50)


class Book(models.Model):
    title = models.CharField(max_length=200)
    isbn = models.CharField(max_length=20, unique=True)
    summary = models.TextField(blank=True, default="")
    published = models.BooleanField(default=True)
    pages = models.IntegerField(default=100)
    author = models.ForeignKey(Author, related_name="books", on_delete=models.CASCADE)
    tags = models.ManyToManyField(Tag, related_name="books", blank=True)
    comments = GenericRelation("Comment")

    @property
    def author_name(self) -> str:
        return self.author.name

    @cached_property
    def first_tag(self) -> Tag | None:
        return next(iter(self.tags.all()), None)


class Chapter(models.Model):
    book = models.ForeignKey(Book, related_name="chapters", on_delete=models.CASCADE)
    title = models.CharField(max_length=200)

    def __str__(self) -> str:
        # Reads the related row: a form's choice labels do, one per choice.
        return f"{self.book.title}: {self.title}"


class Comment(models.Model):
    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE)
    object_id = models.PositiveIntegerField()
    target = GenericForeignKey("content_type", "object_id")
    text = models.CharField(max_length=200)
