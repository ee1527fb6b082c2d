from asgiref.sync import sync_to_async
from django.db import connection
from django.http import HttpResponse
from django.shortcuts import render
from django.utils.html import escape

from tests.testapp.models import Book

PAGE = "<html><body><h1>{title}</h1><ul>{items}</ul></body></html>"


def _page(title, books):
    items = "".join(f"<li>{escape(b.title)} by {escape(b.author.name)}</li>" for b in books)
    return HttpResponse(PAGE.format(title=title, items=items))


def book_list(request):
    return _page("Books", Book.objects.all())


def book_list_fixed(request):
    return _page("Books", Book.objects.select_related("author"))


async def book_list_async(request):
    books = await sync_to_async(lambda: [(b.title, b.author.name) for b in Book.objects.all()])()
    items = "".join(f"<li>{escape(t)} by {escape(a)}</li>" for t, a in books)
    return HttpResponse(PAGE.format(title="Books", items=items))


def book_list_template(request):
    return render(request, "testapp/books.html", {"books": Book.objects.all()})


def hostile(request):
    """Raw SQL the parser cannot read, binary params, and names that are HTML."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s, %s", [b"\x00\xffbinary", "<script>alert(1)</script>"])
        cursor.fetchall()
    return _page("Hostile", Book.objects.all())


def book_list_with_tags(request):
    items = "".join(
        f"<li>{escape(b.title)} by {escape(b.author.name)}: "
        f"{escape(', '.join(t.name for t in b.tags.all()))}</li>"
        for b in Book.objects.all()
    )
    return HttpResponse(PAGE.format(title="Books and tags", items=items))
