"""Deterministic test data: enough rows for every relation shape."""

from django.contrib.contenttypes.models import ContentType

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


def make_library(authors: int = 3, books_per_author: int = 3) -> None:
    country = Country.objects.create(name="Freedonia")
    publishers = [
        Publisher.objects.create(name=f"Publisher {i}", country=country) for i in range(2)
    ]
    tags = [Tag.objects.create(name=f"tag{i}") for i in range(3)]
    book_type = ContentType.objects.get_for_model(Book)
    offset = Author.objects.count()  # unique names when called again
    for a in range(offset, offset + authors):
        author = Author.objects.create(
            name=f"Author {a}", bio=f"Bio {a}", publisher=publishers[a % 2]
        )
        AuthorProfile.objects.create(author=author, website=f"https://a{a}.example")
        for b in range(books_per_author):
            book = Book.objects.create(
                title=f"Book {a}-{b}",
                isbn=f"isbn-{a}-{b}",
                summary=f"Summary {a}-{b}",
                published=b % 2 == 0,
                pages=100 + b,
                author=author,
            )
            book.tags.set(tags[: (b % 3) + 1])
            Chapter.objects.create(book=book, title="One")
            Chapter.objects.create(book=book, title="Two")
            Comment.objects.create(content_type=book_type, object_id=book.pk, text="Nice")
