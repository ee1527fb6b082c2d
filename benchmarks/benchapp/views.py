from django.http import HttpResponse

from benchmarks.benchapp.models import Book

PAGE = "<html><body><p>{n} queries</p><ul>{items}</ul></body></html>"


def n_queries(request, n):
    """Exactly n queries: one list of n - 1 books, then each book's author
    loaded lazily (the N+1 shape, the most work for the recorder)."""
    books = Book.objects.order_by("pk")[: n - 1]
    items = "".join(f"<li>{b.title}: {b.author.name}</li>" for b in books)
    return HttpResponse(PAGE.format(n=n, items=items))
