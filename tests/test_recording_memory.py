"""What a capture keeps alive while the request runs: its own small records, not
the ORM's objects. Every object the garbage collector tracks and we keep until
the end of the request is traversed by each of its collections, and enough of
them trigger the full ones (an N+1 page of 2,000 queries spent more time in the
collector than in our code). Counted, not timed."""

import gc
from collections import Counter

import pytest

from ddt_perfpanels import capture
from ddt_perfpanels.recording.context import Load, QueryRecord, Relation
from tests.factories import make_library
from tests.testapp.models import Book

pytestmark = pytest.mark.django_db


def _n_plus_one() -> None:
    for book in Book.objects.order_by("pk"):
        book.author.name


def _census() -> Counter[str]:
    gc.collect()
    return Counter(type(o).__name__ for o in gc.get_objects())


def test_a_lazy_foreign_key_keeps_three_small_records_and_no_query_objects():
    make_library(authors=30, books_per_author=2)
    _n_plus_one()  # Django's caches warm, the hooks' site caches too
    with capture():
        _n_plus_one()
    books = Book.objects.count()

    with capture() as report:
        before = _census()
        _n_plus_one()
        after = _census()
        kept = after - before
    queries = len(report.queries)
    assert queries == books + 1

    # One Load, one QueryRecord and one Relation per lazy load; nothing of the
    # Query Django built to run it (a Query is a dozen tracked objects).
    assert kept[Load.__name__] == queries
    assert kept[QueryRecord.__name__] == queries
    assert kept[Relation.__name__] == queries - 1
    assert kept["Query"] <= 1 and kept["WhereNode"] <= 1, str(kept.most_common(30))
    # A query's frames are a tuple the collector stops tracking, not a list.
    assert kept["list"] < queries / 10 and kept["tuple"] < queries / 10, str(kept.most_common(30))
    # The rows, a book and its author per query (kept so that their ids stay
    # unique, and alive in the loop anyway), each with its ModelState and their
    # dicts: no dict of ours per query.
    rows = 2 * books
    assert kept["ModelState"] == rows
    assert kept["dict"] <= 2 * rows, str(kept.most_common(30))


def test_the_queries_of_one_loop_share_one_stack():
    make_library(authors=10, books_per_author=2)
    with capture() as report:
        _n_plus_one()
    lazy = report.queries[1:]
    assert len(lazy) == 20
    # The same stack, kept once: one tuple for all the loop's queries.
    assert len({id(query.frames) for query in lazy}) == 1
    assert lazy[0].frames and lazy[0].frames[0][2] == "_n_plus_one"
