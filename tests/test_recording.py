"""The recording engine: isolation, zero cost outside a capture, hostile input."""

import asyncio
import json
import os
import re
import threading

import pytest
from asgiref.sync import sync_to_async
from django.db import DatabaseError, connection, transaction
from django.db.models.fields.related_descriptors import ForwardManyToOneDescriptor
from django.db.models.query import QuerySet

from ddt_perfpanels import capture
from ddt_perfpanels.analysis.sql import fingerprint_sql
from ddt_perfpanels.recording import current_recorder, paused
from tests.factories import make_library
from tests.testapp.models import Author, Book

pytestmark = pytest.mark.django_db


@pytest.fixture
def library():
    make_library(authors=2, books_per_author=2)


def test_hooks_are_installed_once_and_pass_through_outside_a_capture(library):
    """Patched once (at ready()), never removed: outside a capture each hook
    calls Django's own method and records nothing."""
    from django.core.signals import request_started

    from ddt_perfpanels.recording import hooks, orm

    assert hooks.installed()
    fetch_all = QuerySet.__dict__["_fetch_all"]
    descriptor_get = ForwardManyToOneDescriptor.__dict__["__get__"]
    assert fetch_all is not orm._originals[QuerySet, "_fetch_all"]  # ours
    with capture() as report:
        with capture():
            pass
        titles = [f"{b.title} by {b.author.name}" for b in Book.objects.order_by("pk")]
    # The same hooks during and after the captures: nothing swapped per capture.
    assert QuerySet.__dict__["_fetch_all"] is fetch_all
    assert ForwardManyToOneDescriptor.__dict__["__get__"] is descriptor_get
    assert [f.lookup for f in report.nplusone] == ["author"]
    # Outside: the same rows, nothing recorded anywhere.
    assert [f"{b.title} by {b.author.name}" for b in Book.objects.order_by("pk")] == titles
    assert report.query_count == 5  # the books, then each one's author
    # No receiver checks the hooks at every request any more.
    assert not any(
        "ddt_perfpanels" in getattr(entry[1](), "__module__", "")
        for entry in request_started.receivers
    )


def test_queries_outside_a_capture_are_not_recorded(library):
    list(Book.objects.all())
    assert current_recorder() is None
    with capture() as report:
        list(Author.objects.all())
    list(Book.objects.all())
    assert len(report.queries) == 1
    assert "testapp_author" in report.queries[0].sql


def test_start_and_stop_record_what_a_with_block_does(library):
    # For code that can't use "with": the middleware, the panels, the test helpers.
    outer = capture()
    report = outer.start()
    list(Author.objects.all())
    inner = capture()
    inner_report = inner.start()
    for book in Book.objects.all():
        book.author.name
    inner.stop()
    assert current_recorder() is not None
    outer.stop()
    assert current_recorder() is None
    list(Book.objects.all())
    assert len(inner_report.queries) == 5
    assert len(report.queries) == 6
    assert inner.absorbed and not outer.absorbed
    assert [(f.model, f.field) for f in report.nplusone] == [("testapp.Book", "author")]


def test_nested_capture_sees_its_own_and_the_outer_sees_all(library):
    with capture() as outer:
        list(Author.objects.all())
        with capture() as inner:
            for book in Book.objects.all():
                book.author.name
        list(Author.objects.all())
    assert len(inner.queries) == 5
    assert len(outer.queries) == 7
    assert len(inner.nplusone) == 1
    assert len(outer.nplusone) == 1


def test_paused_records_nothing(library):
    with capture() as report:
        with paused():
            list(Book.objects.all())
        list(Author.objects.all())
    assert len(report.queries) == 1


@pytest.mark.django_db(transaction=True)
def test_threads_do_not_mix_records(library):
    results = {}
    barrier = threading.Barrier(2)

    def work(name, model):
        from django.db import connections

        with capture() as report:
            barrier.wait()
            for _ in range(5):
                list(model.objects.all())
            barrier.wait()
        results[name] = report
        connections.close_all()

    threads = [
        threading.Thread(target=work, args=("authors", Author)),
        threading.Thread(target=work, args=("books", Book)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results["authors"].queries) == 5
    assert all("testapp_author" in q.sql for q in results["authors"].queries)
    assert all("testapp_book" in q.sql for q in results["books"].queries)


@pytest.mark.django_db(transaction=True)
async def test_async_tasks_do_not_mix_records(close_thread_connections):
    await sync_to_async(make_library)(authors=2, books_per_author=2)

    async def task(model, n):
        with capture() as report:
            for _ in range(n):
                await sync_to_async(lambda: list(model.objects.all()))()
                await asyncio.sleep(0)
        return report

    authors, books = await asyncio.gather(task(Author, 3), task(Book, 4))
    assert len(authors.queries) == 3
    assert len(books.queries) == 4
    assert all("testapp_book" in q.sql for q in books.queries)


@pytest.mark.django_db(transaction=True)
async def test_async_orm_calls_are_recorded(close_thread_connections):
    await sync_to_async(make_library)(authors=2, books_per_author=2)
    with capture() as report:
        titles = [book.title async for book in Book.objects.all()]
        assert len(titles) == 4
        assert await Book.objects.acount() == 4
    assert len(report.queries) == 2


@pytest.mark.parametrize("light", [False, True])
def test_failing_sql_is_raised_to_the_caller_and_recorded(light):
    with capture(light=light) as report:
        with pytest.raises(DatabaseError):
            with connection.cursor() as cursor:
                cursor.execute("THIS IS ))) NOT SQL '")
    [query] = report.queries
    assert query.error and "syntax error" in query.error
    assert report.light is light
    assert fingerprint_sql(query.sql)  # no exception on unreadable SQL
    json.dumps(report.to_dict(queries=True))


def test_huge_in_list_and_binary_params(library):
    ids = list(range(1, 20_001))
    with capture() as report:
        list(Book.objects.filter(pk__in=ids[:900]))
        with connection.cursor() as cursor:
            cursor.execute("SELECT %s, %s", [b"\x00\x01\xff" * 1000, memoryview(b"abc")])
    data = report.to_dict(queries=True)
    json.dumps(data)
    assert data["queries"][1]["params"] == ["<3000 bytes>", "<3 bytes>"]
    assert len(data["queries"][0]["params"]) == 51  # 50 kept, then "… 850 more"
    assert fingerprint_sql(report.queries[0].sql).count("?") <= 2
    sql = "SELECT * FROM t WHERE id IN (" + ", ".join(map(str, ids)) + ")"
    assert fingerprint_sql(sql) == "SELECT * FROM t WHERE id IN (...)"


def test_internal_failure_is_kept_and_never_raised(library, monkeypatch):
    from ddt_perfpanels.recording import db

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(db, "capture_stack", broken)
    with capture() as report:
        books = list(Book.objects.all())
    assert len(books) == 4
    assert report.queries == []
    assert report.errors and "RuntimeError: boom" in report.errors[0]


def test_failure_tagging_rows_is_kept_and_never_raised(library, monkeypatch):
    from ddt_perfpanels.recording.context import Recorder

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(Recorder, "_tag_select_related", broken)
    with capture() as report:
        books = list(Book.objects.select_related("author"))
    assert len(books) == 4
    assert len(report.queries) == 1
    assert any("tagging an instance: RuntimeError: boom" in e for e in report.errors)


def test_max_queries_keeps_counting(library, settings):
    settings.DDT_PERFPANELS = {"MAX_QUERIES": 3}
    with capture() as report:
        for _ in range(5):
            list(Author.objects.all())
    assert len(report.queries) == 3
    assert report.query_count == 5
    assert report.metrics()["queries"] == 5


@pytest.mark.parametrize("light", [False, True])
def test_what_the_database_hook_sees_is_recorded_alike_full_or_light(library, settings, light):
    """SQL given as bytes is kept as text, and past MAX_QUERIES queries are
    counted and timed, not kept: for a light capture (its records are made in
    record_query itself) as for a full one. A light capture, which walks no
    stack, tells the toolbar's own storage by its table and leaves it out."""
    from ddt_perfpanels.recording.db import record_query

    def execute(sql, params, many, context):
        return "done"

    settings.DDT_PERFPANELS = {"MAX_QUERIES": 3}
    context = {"connection": connection}
    with capture(light=light) as report:
        assert record_query(execute, b"SELECT 1", None, False, context) == "done"
        for _ in range(4):
            list(Author.objects.all())
    assert report.queries[0].sql == "SELECT 1"
    assert len(report.queries) == 3
    assert report.query_count == 5
    assert report.db_time_ms >= sum(q.duration_ms for q in report.queries)
    assert report.light is light
    if light:
        with capture(light=True) as storage:
            record_query(execute, 'SELECT * FROM "debug_toolbar_historyentry"', (), False, context)
        assert storage.query_count == 0


def test_sql_fingerprints():
    assert fingerprint_sql("SELECT a FROM t WHERE x = 'it''s' AND y = 42") == (
        "SELECT a FROM t WHERE x = ? AND y = ?"
    )
    assert fingerprint_sql('SELECT "t"."a1" FROM t WHERE b = %s') == (
        'SELECT "t"."a1" FROM t WHERE b = ?'
    )


def test_duplicate_and_similar_counts_repeats_of_any_params():
    from collections import Counter

    from ddt_perfpanels.analysis.sql import duplicate_and_similar, params_key
    from ddt_perfpanels.recording.context import QueryRecord

    def q(sql, params, alias="default"):
        return QueryRecord(0, sql, params, False, alias, "sqlite", 0.1, [], None)

    one = "SELECT * FROM a WHERE id = %s"
    queries = [
        q(one, (1,)),
        q(one, (1,)),  # a duplicate
        q(one, [1]),  # a list of the same params: another duplicate
        q(one, (2,)),  # similar
        q(one, (1,), alias="other"),  # another database: neither
        q("SELECT * FROM a WHERE id IN %s", ([1, 2],)),  # a tuple holding a list
        q("SELECT * FROM a WHERE id IN %s", ([1, 2],)),  # its duplicate
        q("SELECT * FROM a WHERE id IN %s", ([3],)),  # similar
        q("SELECT 1", None),
        q("SELECT 1", None),  # a duplicate
        q("SELECT %(x)s", {"x": 1}),
        q("SELECT %(x)s", {"x": 1}),  # a duplicate (by repr)
        q("SELECT   %(x)s", {"x": 2}),  # similar: another text, the same statement
    ]

    def repeats(keys):
        return sum(n - 1 for n in Counter(keys).values() if n > 1)

    # What it counts: repeats of (database, SQL, params), and of the statement.
    duplicates = repeats((x.alias, x.sql, params_key(x.params)) for x in queries)
    similar = repeats((x.alias, fingerprint_sql(x.sql)) for x in queries)
    assert (duplicates, similar - duplicates) == (5, 3)
    assert duplicate_and_similar(queries) == (5, 3)
    # Every query's params hashable as they are (the ORM's tuples, None): the
    # same count, read without params_key().
    plain = [x for x in queries if x.params is None or x.params == (1,) or x.params == (2,)]
    assert [type(x.params) for x in plain].count(list) == 0 and len(plain) == 6
    assert duplicate_and_similar(plain) == (
        repeats((x.alias, x.sql, params_key(x.params)) for x in plain),
        repeats((x.alias, fingerprint_sql(x.sql)) for x in plain)
        - repeats((x.alias, x.sql, params_key(x.params)) for x in plain),
    ) == (2, 1)


def test_a_query_record_gives_back_the_params_it_was_given():
    from ddt_perfpanels.recording.context import QueryRecord

    def record(params):
        return QueryRecord(0, "SELECT %s", params, False, "default", "sqlite", 0.1, [], None)

    pair = (1, "a")
    for params in [(7,), ("x",), ((1, 2),), ([3],), (None,), pair, (), [7], {"x": 1}, None]:
        kept = record(params).params
        assert kept == params and type(kept) is type(params)
    assert record(pair).params is pair
    # A single parameter is kept as its value, not in Django's tuple.
    value = object()
    one = (value,)
    assert record(one).params[0] is value and record(one).params is not one


def test_duplicate_and_similar_counts_query_records_as_it_counts_their_params():
    # A single parameter is kept as its value: told apart from other parameters.
    from collections import Counter

    from ddt_perfpanels.analysis.sql import duplicate_and_similar, params_key
    from ddt_perfpanels.recording.context import QueryRecord

    def q(sql, params, alias="default"):
        return QueryRecord(0, sql, params, False, alias, "sqlite", 0.1, [], None)

    one = "SELECT * FROM a WHERE id = %s"
    in_list = "SELECT * FROM a WHERE id IN %s"
    plain = [
        q(one, (1,)),
        q(one, (1,)),  # a duplicate
        q(one, (2,)),  # similar
        q(one, (1,), alias="other"),  # another database: neither
        q("SELECT 1", None),
        q("SELECT 1", None),  # a duplicate
        q("SELECT %s", (None,)),  # one parameter, None: not the same as no parameters
        q("SELECT %s", None),
        q("SELECT %s, %s", ((1, 2),)),  # one parameter, a tuple...
        q("SELECT %s, %s", (1, 2)),  # ...is not the same as two
    ]
    unhashable = [*plain, q(in_list, ([1, 2],)), q(in_list, ([1, 2],)), q(in_list, ([3],))]

    def repeats(keys):
        return sum(n - 1 for n in Counter(keys).values() if n > 1)

    for queries, expected in [(plain, (2, 4)), (unhashable, (3, 5))]:
        # "SELECT 1" and "SELECT %s" are one statement: fingerprint_sql abstracts the 1.
        duplicates = repeats((x.alias, x.sql, params_key(x.params)) for x in queries)
        similar = repeats((x.alias, fingerprint_sql(x.sql)) for x in queries)
        assert (duplicates, similar - duplicates) == expected
        assert duplicate_and_similar(queries) == expected


def test_querysets_with_recorded_relations_pickle_cleanly(library):
    import copy
    import pickle

    with capture():
        author = Author.objects.first()
        books = author.books.all()
        restored = pickle.loads(pickle.dumps(books))
        copied = copy.deepcopy(books)
    assert [b.pk for b in restored] == [b.pk for b in books]
    assert restored._hints.get("ddt_perfpanels_relation") is None
    assert list(copied) == list(books)


def test_iterator_rows_are_tracked(library):
    with capture() as report:
        for book in Book.objects.iterator(chunk_size=2):
            book.author.name
    [finding] = report.nplusone
    assert finding.suggestion == 'Book.objects.select_related("author")'


# Django's own bodies of the QuerySet methods whose hooks, while capturing, run
# those lines themselves instead of calling them (recording/orm.py: one frame
# less in the stack of every query, which django-debug-toolbar reads).
_DJANGO_BODIES = {
    "_fetch_all": """
if self._result_cache is None:
    self._result_cache = list(self._iterable_class(self))
if self._prefetch_related_lookups and not self._prefetch_done:
    self._prefetch_related_objects()
""",
    "__len__": "self._fetch_all()\nreturn len(self._result_cache)",
    "__bool__": "self._fetch_all()\nreturn bool(self._result_cache)",
    "__iter__": "self._fetch_all()\nreturn iter(self._result_cache)",
}


@pytest.mark.parametrize("name", sorted(_DJANGO_BODIES))
def test_the_django_lines_the_hooks_run_are_djangos(name):
    """A Django that changes one of these methods fails here, and the hook is
    then brought in line with it, rather than silently running old lines."""
    import ast
    import inspect
    import textwrap

    from ddt_perfpanels.recording import orm

    original = orm._originals[QuerySet, name]
    [function] = ast.parse(textwrap.dedent(inspect.getsource(original))).body
    body = function.body
    if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    expected = ast.parse(textwrap.dedent(_DJANGO_BODIES[name])).body
    assert [ast.dump(node) for node in body] == [ast.dump(node) for node in expected]
    # And the hooks know the method as Django's own.
    if name == "_fetch_all":
        assert orm._django_fetch_all
    else:
        assert orm._fetch_then(name, original) is not None


def _query_stacks(action):
    """The qualified names of the frames below each query ``action`` runs."""
    import sys

    stacks = []
    query_module = os.path.join("django", "db", "models", "query.py")

    def spy(execute, sql, params, many, context):
        names, frame = [], sys._getframe(1)
        while frame is not None:
            if frame.f_code.co_filename.endswith(query_module):
                names.append(frame.f_code.co_qualname)
            frame = frame.f_back
        stacks.append(names)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(spy):
        result = action()
    return result, stacks


def test_while_capturing_the_stack_of_a_query_is_one_frame_shorter(library):
    """Django's QuerySet._fetch_all and __len__/__iter__ are run by the hooks,
    not called: the toolbar reads every frame of every query's stack."""

    def n_plus_one():
        return [f"{b.title} by {b.author.name}" for b in Book.objects.order_by("pk")]

    outside, plain = _query_stacks(n_plus_one)
    with capture() as report:
        inside, captured = _query_stacks(n_plus_one)
    assert inside == outside
    assert len(captured) == len(plain) == 5
    assert all("QuerySet._fetch_all" in names for names in plain)
    assert "QuerySet.__iter__" in plain[0] and "QuerySet.__len__" in plain[1]
    for names in captured:
        assert not {"QuerySet._fetch_all", "QuerySet.__len__", "QuerySet.__iter__"} & set(names)
    [finding] = report.nplusone
    assert finding.lookup == "author" and finding.count == 4


def _library_report():
    from django.db.models import Prefetch

    with capture() as report:
        for author in Author.objects.order_by("pk").prefetch_related(
            Prefetch("books", queryset=Book.objects.order_by("pk"))
        ):
            for book in author.books.all():
                book.tags.count()
        for book in Book.objects.select_related("author").order_by("pk"):
            book.author.publisher.name
        bool(Author.objects.filter(name__startswith="Author"))
        len(Book.objects.all())
    return report.to_dict()


def test_another_packages_fetch_all_wrapper_is_called_and_the_advice_is_the_same(
    library, monkeypatch
):
    """When another package wrapped QuerySet._fetch_all or __len__ before us
    (they are not Django's own), its wrapper is called as before: the records
    and the advice are the same as when the hooks run Django's lines."""
    from ddt_perfpanels.recording import orm

    reports = []
    try:
        for djangos_lines in (True, False):
            if not djangos_lines:
                monkeypatch.setattr(orm, "_FETCH_THEN", {})
                orm.install()  # the wrappers made again: none runs Django's lines
                monkeypatch.setattr(orm, "_django_fetch_all", False)
            reports.append(_library_report())  # one line: the same call sites
    finally:
        monkeypatch.undo()
        orm.install()
    ours, wrapped = reports

    def plain(value):
        """The report without its timings, which differ from run to run."""
        if isinstance(value, dict):
            return {
                key: plain(item)
                for key, item in value.items()
                if not any(word in key for word in ("time", "_ms", "duration"))
            }
        if isinstance(value, list):
            return [plain(item) for item in value]
        return value

    assert ours["nplusone"] and ours["counts"]
    assert plain(wrapped) == plain(ours)


def test_a_row_already_tagged_keeps_its_first_load(library, monkeypatch):
    """A model whose from_db() hands back the same instance (an identity map)
    keeps the load that first produced it, as when rows were tagged one by
    one; the rows of a list are tagged at once only when none is tagged yet."""
    from ddt_perfpanels.recording.context import Recorder

    cache = {}
    real_from_db = Author.from_db.__func__

    def from_db(cls, db, field_names, values, **kwargs):  # fetch_mode= in Django 6.1
        instance = real_from_db(cls, db, field_names, values, **kwargs)
        return cache.setdefault(instance.pk, instance)

    monkeypatch.setattr(Author, "from_db", classmethod(from_db))
    with capture() as report:
        first = list(Author.objects.order_by("pk"))
        again = list(Author.objects.order_by("-pk"))
        recorder = report.recorder
        assert set(map(id, again)) == set(map(id, first))
        assert {recorder.load_of(a) for a in again} == {recorder.loads[0]}
        [one] = Author.objects.filter(pk=first[1].pk)  # a list of one row
        assert one is first[1] and recorder.load_of(one) is recorder.loads[0]
    tagged = []
    monkeypatch.setattr(Recorder, "tag_rows", lambda recorder, rows, load: tagged.append(rows))
    with capture():
        list(Author.objects.all())
    assert tagged and len(tagged[0]) == 2


@pytest.mark.parametrize("value", [-1, "10", True])
def test_bad_hooks_linger_setting_is_a_startup_error(settings, value):
    from ddt_perfpanels.checks import check_settings

    settings.DDT_PERFPANELS = {"HOOKS_LINGER_SECONDS": value}
    [error] = check_settings()
    assert error.id == "ddt_perfpanels.E002"
    assert "HOOKS_LINGER_SECONDS" in error.msg


def test_light_capture_counts_queries_without_provenance(library):
    from ddt_perfpanels.recording import context

    with capture(light=True) as report:
        # The ORM hooks pass straight through for a light capture.
        assert context._orm_active.get() is None
        titles = [f"{b.title} by {b.author.name}" for b in Book.objects.order_by("pk")]
        Book.objects.filter(pk=1).count()
    assert len(titles) == 4
    assert report.light
    assert report.query_count == 6
    author_ids = list(Book.objects.order_by("pk").values_list("author_id", flat=True))
    assert [q.params[0] for q in report.queries[1:5]] == author_ids
    assert all(q.frames == [] and q.cause is None for q in report.queries)
    assert report.nplusone == [] and report.counts == []
    metrics = report.metrics()
    assert "nplusone" not in metrics and "count_findings" not in metrics
    assert metrics["queries"] == 6
    assert metrics["duplicate_queries"] == 2  # the same author loaded twice, twice
    assert metrics["similar_queries"] == 1  # author 2 after author 1
    assert metrics["cache_calls"] == 0


def test_light_capture_inside_a_full_one_is_full(library):
    with capture() as outer:
        with capture(light=True) as inner:
            for book in Book.objects.all():
                book.author.name  # noqa: B018
    assert not inner.light
    assert [f.path for f in inner.nplusone] == ["author"]
    assert [f.path for f in outer.nplusone] == ["author"]


def test_full_capture_inside_a_light_one_keeps_its_provenance(library):
    with capture(light=True) as outer:
        with capture() as inner:
            for book in Book.objects.all():
                book.author.name  # noqa: B018
        Book.objects.count()
    assert [f.path for f in inner.nplusone] == ["author"]
    assert outer.light and outer.query_count == inner.query_count + 1


def test_a_light_capture_records_what_a_full_one_records(library):
    """A light capture keeps its queries in lists and makes them records when
    they are read: the same fields as a full capture's, in the order the
    queries ran, with a nested full capture's and an ignore() block's in between."""
    from ddt_perfpanels import ignore

    def run():
        Author.objects.filter(pk=1).first()  # one parameter
        Book.objects.filter(pk__in=[1, 2]).count()  # two
        with connection.cursor() as cursor:
            cursor.executemany("UPDATE testapp_author SET name = name WHERE id = %s", [(1,), (2,)])
            with pytest.raises(DatabaseError), transaction.atomic():  # PostgreSQL: a savepoint
                cursor.execute("THIS IS ))) NOT SQL '")
            cursor.execute("SELECT 1")  # none
        with capture():  # nested: absorbed
            list(Author.objects.all())
        with ignore(model="testapp.Author"):
            list(Author.objects.filter(name="x"))
        Book.objects.count()

    savepoint = re.compile(r'"s\d+_x\d+"')  # atomic()'s names differ between the runs

    def fields(report):
        return [
            (q.index, savepoint.sub("sid", q.sql), q.params, q.many, q.alias, q.vendor, q.error)
            for q in report.queries
        ]

    with capture() as full:
        run()
    with capture(light=True) as light:
        run()
        assert light.query_count == full.query_count >= 8
    assert light.light and not full.light
    assert fields(light) == fields(full)
    assert [q.params for q in light.queries[:3]] == [(1,), (1, 2), None]
    [many] = [q for q in light.queries if q.many]
    [failed] = [q for q in light.queries if q.error]
    assert many.index == 2 and "NOT SQL" in failed.sql
    assert light.db_time_ms == pytest.approx(sum(q.duration_ms for q in light.queries))
    assert light.metrics()["duplicate_queries"] == full.metrics()["duplicate_queries"]


def test_a_package_file_is_shown_by_its_import_path():
    import django.db.models.query

    from ddt_perfpanels.recording.stack import short_path

    # Not /…/.venv/lib/python3.x/site-packages/django/db/models/query.py
    assert short_path(django.db.models.query.__file__) == "django/db/models/query.py"
    assert short_path(os.path.abspath("tests/testapp/models.py")) == "tests/testapp/models.py"
