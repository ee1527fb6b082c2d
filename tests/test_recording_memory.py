"""What a capture keeps alive while the request runs: its own small records, not
the ORM's objects. Every object the garbage collector tracks and we keep until
the end of the request is traversed by each of its collections, and enough of
them trigger the full ones (an N+1 page of 2,000 queries spent more time in the
collector than in our code). Counted, not timed."""

import gc
from collections import Counter

import pytest
from django.db.models import Prefetch

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


def test_a_light_capture_keeps_no_tracked_object_per_query():
    """A light capture (BudgetMiddleware's) keeps each query's fields in lists:
    nothing per query that the collector counts or walks. Its records are made
    when something reads them (a budget within its limits reads the count and
    the time only)."""
    make_library(authors=30, books_per_author=2)
    _n_plus_one()
    books = Book.objects.count()
    with capture(light=True) as report:
        before = _census()
        _n_plus_one()
        after = _census()
        kept = after - before
        assert report.query_count == books + 1 and report.db_time_ms > 0
        assert report.recorder.records == []  # counted and timed from the lists
    assert kept[QueryRecord.__name__] == 0
    # Django's one-parameter tuples (WHERE id = %s) are not kept either.
    assert kept["tuple"] < books / 10 and kept["list"] < books / 10, str(kept.most_common(30))
    assert len(report.queries) == books + 1
    assert [q.index for q in report.queries] == list(range(books + 1))


def test_the_queries_of_one_loop_share_one_stack():
    make_library(authors=10, books_per_author=2)
    with capture() as report:
        _n_plus_one()
    lazy = report.queries[1:]
    assert len(lazy) == 20
    # The same stack, kept once: one tuple for all the loop's queries.
    assert len({id(query.frames) for query in lazy}) == 1
    assert lazy[0].frames and lazy[0].frames[0][2] == "_n_plus_one"


@pytest.fixture
def walks(monkeypatch):
    """The stack walks of the database hook, by the frame each started from."""
    from ddt_perfpanels.recording import db

    started = []
    original = db.capture_stack

    def counted(*args, **kwargs):
        started.append(kwargs.get("start"))
        return original(*args, **kwargs)

    monkeypatch.setattr(db, "capture_stack", counted)
    return started


def test_a_loop_walks_its_stack_once_and_lets_go_of_the_frame_when_it_ends(walks):
    make_library(authors=10, books_per_author=2)
    with capture() as report:
        _n_plus_one()
        recorder = report._recorder
        assert recorder.last_walk is not None
    # The list's query, then the first lazy load's: the 19 after it reuse it.
    assert len(walks) == 2
    assert len(report.queries) == 21
    # The frame (and the frames above it, and their locals) is not kept once
    # the capture ends.
    assert recorder.last_walk is None


def _author_name(rows) -> str:
    return next(rows)


def _other_reader(rows) -> str:
    return next(rows)


def test_a_generator_resumed_from_two_places_gets_each_place_in_its_stack():
    # A generator's frame, resumed by another caller, has other frames above
    # it: the walk done for its first load must not serve its second.
    make_library(authors=2, books_per_author=1)
    books = list(Book.objects.order_by("pk"))
    rows = (book.author.name for book in books)
    with capture() as report:
        _author_name(rows)
        _other_reader(rows)
    first, second = report.queries
    assert [name for _f, _l, name in first.frames][:2] == ["<genexpr>", "_author_name"]
    assert [name for _f, _l, name in second.frames][:2] == ["<genexpr>", "_other_reader"]


def test_a_generator_resumed_by_a_generator_resumed_from_two_places():
    # The walk is reused only when every generator's frame above the loop was
    # resumed from where it was before, up to the first frame that is not one.
    make_library(authors=2, books_per_author=1)
    books = list(Book.objects.order_by("pk"))
    rows = (book.author.name for book in books)
    names = (name for name in rows)
    with capture() as report:
        _author_name(names)
        _other_reader(names)
    first, second = report.queries
    assert [name for _f, _l, name in first.frames][:3] == ["<genexpr>", "<genexpr>", "_author_name"]
    assert [name for _f, _l, name in second.frames][:3] == [
        "<genexpr>",
        "<genexpr>",
        "_other_reader",
    ]


def test_two_lines_of_one_loop_keep_their_own_line():
    make_library(authors=3, books_per_author=1)
    with capture() as report:
        for book in Book.objects.order_by("pk"):
            book.author.name  # the first line
            Book.objects.get(pk=book.pk).author.name  # another line: its own stack
    lines = {query.frames[0][1] for query in report.queries[1:] if query.frames}
    assert len(lines) == 2


def test_a_released_capture_keeps_no_record_even_when_its_findings_were_read():
    """The findings and the counts context a report computed hold the records:
    released with them, not kept by the report until the toolbar goes (at
    10,000 queries they were 1.8 MiB at the toolbar's own peak)."""
    make_library(authors=10, books_per_author=2)
    before = _census()
    cap = capture()
    report = cap.start()
    _n_plus_one()
    cap.stop()
    assert report.nplusone and report.count_table is not None and report.duplicates
    assert _census()[QueryRecord.__name__] - before[QueryRecord.__name__] == len(report.queries)

    cap.release()

    left = _census() - before
    assert left[QueryRecord.__name__] == 0 and left[Load.__name__] == 0, str(left.most_common(20))
    # "Its report is then empty": nothing computed before is served again.
    assert report.nplusone == [] and report.queries == []


def test_a_loads_children_and_prefetch_querysets_are_its_own():
    """Rarely set, they are class defaults until set: never shared by mistake."""
    from tests.testapp.models import Author

    make_library(authors=2, books_per_author=1)
    with capture() as report:
        list(Book.objects.select_related("author"))
        list(Book.objects.prefetch_related(Prefetch("author", Author.objects.all())))
        list(Book.objects.all())
    eager, prefetching, plain = [load for load in report.recorder.loads if load.via == "root"]
    assert list(eager.children) == ["author"]
    assert list(prefetching.prefetch_querysets) == ["author"]
    assert plain.children == {} and plain.prefetch_querysets == {}
    assert Load.children == {} and Load.prefetch_querysets == {}


def test_a_generator_expressions_loads_walk_their_stack_once(walks):
    # "".join(... for book in books): the loop is a generator's frame, resumed
    # each time from the same line of the same caller.
    make_library(authors=10, books_per_author=2)
    with capture() as report:
        names = ", ".join(book.author.name for book in Book.objects.order_by("pk"))
    assert names.count(",") == 19
    # The list's query, then the first lazy load's: the 19 after it reuse it.
    assert len(walks) == 2
    lazy = report.queries[1:]
    assert len({id(query.frames) for query in lazy}) == 1
    assert [name for _f, _l, name in lazy[-1].frames][:2] == [
        "<genexpr>",
        "test_a_generator_expressions_loads_walk_their_stack_once",
    ]
