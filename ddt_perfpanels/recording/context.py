"""The capture context: which recorder is active for this thread or async task,
and the plain records (queries, loads, relation causes) it accumulates.

A ``ContextVar`` scopes everything: concurrent requests in threads or tasks never
share a recorder, and code outside a capture pays one ``ContextVar.get()``.
"""

from __future__ import annotations

import logging
import traceback
from contextvars import ContextVar
from itertools import count, repeat
from operator import attrgetter
from time import perf_counter
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeVar

from ddt_perfpanels.conf import get_config
from ddt_perfpanels.recording.stack import CallSite, Frame, TemplatePosition

if TYPE_CHECKING:
    from collections.abc import Sequence

    from django.db.models import Model
    from django.db.models.sql import Query

logger = logging.getLogger("ddt_perfpanels")

_T = TypeVar("_T")

# Recorder.last_walk: (frame, f_lasti, stack, template position, library frames,
# and for a generator's frame the frames above it that resumed it, with their
# f_lasti, up to the first that is not a generator's; else None).
LastWalk = tuple[
    FrameType,
    int,
    "Sequence[Frame]",
    "TemplatePosition | None",
    "Sequence[Frame]",
    "tuple[tuple[FrameType, int], ...] | None",
]

_active: ContextVar[Recorder | None] = ContextVar("ddt_perfpanels_recorder", default=None)
# The recorder the ORM provenance hooks record into: the same one, except in a
# light capture (queries and cache calls counted, no provenance), where it is None.
_orm_active: ContextVar[Recorder | None] = ContextVar("ddt_perfpanels_orm", default=None)
# What the ORM is doing right now in this task: a Load, an Op, a Relation (while
# a descriptor loads it) or a PrefetchCause. The database hook attaches it to
# each query it records.
_cause: ContextVar[Load | Op | Relation | PrefetchCause | None] = ContextVar(
    "ddt_perfpanels_cause", default=None
)
# (method, application frames) of an awaited ``aget()``, ``afirst()``...: Django
# runs the query in a worker thread, whose stack holds none of those frames.
_async_frames: ContextVar[tuple[str, list[Frame]] | None] = ContextVar(
    "ddt_perfpanels_async_frames", default=None
)

_ids = count(1)
# A query record's time (summed for every report: a C loop, not a generator).
_DURATION = attrgetter("duration_ms")

SINGLE_KINDS = frozenset({"fk", "o2o", "reverse_o2o"})

# A method applied on a related manager: (method, args, kwargs).
RelationFilter = tuple[str, tuple[Any, ...], dict[str, Any]]
# Where an eager lookup was added: (site, owner, (file, function) or None).
EagerSite = tuple[str, str, tuple[str, str] | None]


class Relation:
    """A relation followed from one model instance (``book.author``, ``author.books``)."""

    __slots__ = (
        "owner",
        "owner_key",
        "owner_name",
        "accessor",
        "kind",
        "prefetched",
        "filters",
        "frame",
    )

    def __init__(
        self,
        owner: Load | None,
        owner_key: int,
        accessor: str,
        kind: str,
        prefetched: bool = False,
        filters: tuple[RelationFilter, ...] = (),
        owner_name: str = "",
    ) -> None:
        self.owner: Load | None = owner  # the load that produced the instance
        self.owner_key: int = owner_key  # id() of the instance, to count distinct rows
        self.owner_name: str = owner_name  # the instance's model class name
        self.accessor: str = accessor
        self.kind: str = kind
        self.prefetched: bool = prefetched
        self.filters: tuple[RelationFilter, ...] = filters  # applied on a related manager
        # While a descriptor loads it: the frame that read the attribute, where
        # the stack of its query starts (never kept after the load).
        self.frame: FrameType | None = None

    # A Relation rides in queryset hints. Pickling or copying a queryset (to
    # cache it, say) must not drag the recording along: it becomes None.
    def __reduce__(self) -> tuple[type[None], tuple[()]]:
        return (type(None), ())

    def __copy__(self) -> Relation:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Relation:
        return self

    def with_filter(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Relation:
        return Relation(
            self.owner,
            self.owner_key,
            self.accessor,
            self.kind,
            self.prefetched,
            (*self.filters, (method, args, kwargs)),
            self.owner_name,
        )


class PrefetchCause:
    """Set while ``prefetch_related`` loads one level for a list of instances."""

    __slots__ = ("owner", "through", "kind", "to_attr", "owner_key")

    def __init__(
        self, owner: Load | None, through: str, kind: str, to_attr: str | None, owner_key: int = 0
    ) -> None:
        self.owner: Load | None = owner
        self.through: str = through
        self.kind: str = kind
        self.to_attr: str | None = to_attr
        # id() of the instance when the prefetch ran for one instance only
        # (``prefetch_related_objects([obj], ...)``), else 0.
        self.owner_key: int = owner_key


class Op:
    """A queryset operation that runs its own query: count, exists, aggregate, get..."""

    __slots__ = (
        "id",
        "kind",
        "model",
        "relation",
        "query",
        "kwargs_keys",
        "origin_load",
        "inputs",
        "result_pk",
        "method",
        "aggregates",
    )

    def __init__(
        self,
        kind: str,
        model: str,
        relation: Relation | None,
        query: Query,
        kwargs_keys: tuple[str, ...] = (),
    ) -> None:
        self.id: int = next(_ids)
        self.kind: str = kind
        self.model: str = model
        self.relation: Relation | None = relation
        self.query: Query | None = query  # for the analysis to read (None once released)
        self.kwargs_keys: tuple[str, ...] = kwargs_keys
        self.origin_load: Load | None = relation.owner if relation is not None else None
        # get(): the loads of the instances and the plain values it was given,
        # and the pk it returned: a walk where each get() starts from the row the
        # previous one returned (a tree, URL path segments) is not a loop.
        self.inputs: tuple[frozenset[int], frozenset[int | str]] = (frozenset(), frozenset())
        self.result_pk: Any = None
        # count()/exists() run by a method of a row: (load of the row, id of the
        # row, "Model.method", file, line).
        self.method: tuple[Load, int, str, str, int] | None = None
        self.aggregates: dict[str, Any] = {}  # aggregate(): alias -> expression


# model class -> (label, class name, default manager name), computed once.
_model_names: dict[type[Model] | None, tuple[str, str, str]] = {}


def _names_of(model_cls: type[Model] | None) -> tuple[str, str, str]:
    if model_cls is None:
        return ("", "", "objects")
    manager = getattr(model_cls, "_default_manager", None)
    return (
        model_cls._meta.label,
        model_cls.__name__,
        getattr(manager, "name", None) or "objects",
    )


class Load:
    """One evaluation of a queryset that produced model instances (or rows).

    ``via`` says how: "root" (the application evaluated it), "lazy" (a relation
    or related manager loaded on one instance), "deferred" (a deferred field),
    "prefetch" or "select_related" (eager children of another load), or
    "support" (a helper query, such as a ContentType lookup).

    The attributes every load sets are slots. The ones most loads leave at
    their default are class attributes, written to the instance's ``__dict__``
    only when set (the dict is created then): a lazy load of one row, the
    commonest kind, is built with fewer stores and no dict. Never mutate a
    default in place (``children``, ``prefetch_querysets``): assign a new one.
    """

    __slots__ = (
        "id",
        "model",
        "model_name",
        "manager",
        "parent",
        "segment",
        "kind",
        "via",
        "owner_key",
        "path",
        "root",
        "rows",
        "first_query",
        "relation",
        "qs_id",
        "built",
        "frame",
        "__dict__",
    )

    # -- defaults, in the instance's __dict__ once set --------------------------
    # "iterate", or the single-object method that loaded it (get, first...).
    op: str = "iterate"
    # Its Query (None for a descriptor's own, unannotated query: see _begin_load).
    query: Query | None = None
    select_related: Any = False
    prefetch: Sequence[tuple[str, str | None]] = ()  # a list when it has any
    children: dict[str, Load] = {}  # noqa: RUF012 - never mutated: see eager_child
    get_keys: tuple[str, ...] = ()
    get_op: Op | None = None
    # The queryset's _iterable_class is not Django's ModelIterable (a CMS's
    # "specific" iterable): select_related does not reach the rows it yields.
    custom_iterable = ""  # the class name
    # {lookup: (site, owner, function)} for the eager lookups added inside the capture.
    eager_sites: dict[str, EagerSite] | None = None
    # prefetch through -> the queryset= of its Prefetch(), when it has one.
    prefetch_querysets: dict[str, Any] = {}  # noqa: RUF012 - never mutated: see _begin_load
    # Where the code called annotate() on this queryset (application frames).
    annotate_frames: Sequence[Any] = ()

    def __init__(
        self,
        model_cls: type[Model] | None,
        parent: Load | None = None,
        segment: str = "",
        kind: str = "",
        via: str = "root",
        owner_key: int = 0,
    ) -> None:
        self.id: int = next(_ids)
        names = _model_names.get(model_cls)
        if names is None:
            names = _model_names[model_cls] = _names_of(model_cls)
        self.model, self.model_name, self.manager = names
        self.parent: Load | None = parent
        self.segment = segment
        self.kind = kind
        self.via = via
        self.owner_key = owner_key
        if parent is None or via == "support":
            self.path: str = ""
            self.root: Load = self
        else:
            self.path = f"{parent.path}__{segment}" if parent.path else segment
            self.root = parent.root
        self.rows = 0
        self.first_query: QueryRecord | None = None
        self.relation: Relation | None = None
        self.qs_id = 0
        # The library frames that built the queryset, when a package built it.
        self.built: tuple[Frame, ...] | None = None
        # While its rows are fetched: the frame that asked for them, where the
        # stack of its own query starts (never kept after the fetch).
        self.frame: FrameType | None = None

    def eager_child(self, name: str, model_cls: type[Model], via: str) -> Load:
        child = self.children.get(name)
        if child is None:
            child = Load(model_cls, parent=self, segment=name, kind="fk", via=via)
            if not self.children:
                self.children = {}  # its own, not the class's shared default
            self.children[name] = child
        return child

    def segments(self) -> list[Load]:
        """The loads from the root (exclusive) down to this one."""
        chain = []
        node: Load | None = self
        while node is not None and node.parent is not None and node.via != "support":
            chain.append(node)
            node = node.parent
        chain.reverse()
        return chain


# QueryRecord.kept_params of a query given one parameter, kept in QueryRecord.kept_param.
ONE_PARAM: Any = object()
# The frames of a query recorded without its stack, and the library frames of
# one that has none: one shared empty list (never appended to), not a new one
# per query kept until the end of the request.
NO_FRAMES: list[Frame] = []


class QueryRecord(CallSite):
    """One SQL statement as the database hook saw it."""

    __slots__ = (
        "index",
        "sql",
        "kept_params",
        "kept_param",
        "many",
        "alias",
        "vendor",
        "duration_ms",
        "frames",
        "template",
        "cause",
        "error",
        "library",
    )

    def __init__(
        self,
        index: int,
        sql: str,
        params: Any,
        many: bool,
        alias: str,
        vendor: str,
        duration_ms: float,
        frames: Sequence[Frame],
        template: TemplatePosition | None,
    ) -> None:
        self.index = index
        self.sql = sql
        if type(params) is tuple and len(params) == 1:
            # The commonest parameters by far (the ORM's `WHERE fk = %s` of an
            # N+1 query): the value is kept, not Django's tuple around it. Kept
            # until the capture ends, 10,000 such tuples fill CPython's free
            # list of one-element tuples when they are freed together, and it
            # keeps 2,000 of them, about 94 KiB, after the request (see
            # benchmarks/README.md, peak memory).
            self.kept_params = ONE_PARAM
            self.kept_param = params[0]
        else:
            self.kept_params = params
        self.many = many
        self.alias = alias
        self.vendor = vendor
        self.duration_ms = duration_ms
        self.frames = frames
        self.template = template
        self.cause: Load | Op | Relation | PrefetchCause | None = None  # see _cause
        self.error: str | None = None
        # Library frames below the first application frame (file, line, qualname).
        self.library: Sequence[Frame] = ()

    @property
    def params(self) -> Any:
        """The parameters as the database hook was given them (None for an
        executemany: they may have been a generator, consumed)."""
        params = self.kept_params
        return (self.kept_param,) if params is ONE_PARAM else params

    def __repr__(self) -> str:
        return f"<QueryRecord {self.index} {self.sql[:60]!r}>"


class Recorder:
    """Everything recorded by one ``capture()``.

    A light recorder (``capture(light=True)``) records queries without their
    stack and without ORM provenance, and cache calls as usual: the numbers of
    a budget, and its cache findings, without N+1 or counts findings.
    """

    def __init__(self, light: bool = False) -> None:
        config = get_config()
        self.light = light
        self.stack_depth: int = config["STACK_DEPTH"]
        self.max_queries: int = config["MAX_QUERIES"]
        self.max_provenance: int = config["MAX_PROVENANCE"]
        # Queries recorded when the ORM provenance stopped at MAX_PROVENANCE
        # (None: it did not): later ones are counted and timed, without stack.
        self.provenance_stopped_at: int | None = None
        # The queries as records: a full capture's, each appended as it runs.
        # Read ``queries``: it is this list, with a light capture's queries
        # made into records first.
        self.records: list[QueryRecord] = []
        # A light capture's queries, as the database hook saw them, in parallel
        # lists: no object per query for the collector to count and walk. Made
        # into records only when something reads ``queries`` (a budget within
        # its limits reads the count and the time only). light_params holds
        # ONE_PARAM for a query given one parameter, that parameter being in
        # light_param (as QueryRecord keeps them); light_odd: index -> (many,
        # error) of an executemany's or a failed query. light_room: how many
        # more queries they take before MAX_QUERIES (the records count too).
        self.light_sql: list[str]
        self.light_params: list[Any]
        self.light_param: list[Any]
        self.light_connection: list[Any]
        self.light_ms: list[float]
        self.light_odd: dict[int, tuple[bool, str | None]]
        self.light_room: int
        self._empty_light_lists()
        self.loads: list[Load] = []
        self.ops: list[Op] = []
        self.dropped_queries = 0
        self.dropped_time_ms = 0.0
        # id(instance) -> the load that produced it. The instances are kept (in
        # `kept`, a list: no object per row) so that their ids stay unique while
        # the capture lasts; both are dropped when it finishes.
        self.tags: dict[int, Load] = {}
        self.kept: list[Any] = []
        # (root load id, path) pairs whose eager-loaded objects were read.
        self.used_eager: set[tuple[int, str]] = set()
        self.errors: list[str] = []
        self.paused = 0
        # Extensions (the cache hooks) keep their records here, by name.
        self.extras: dict[str, Any] = {}
        self.started = perf_counter()
        self.finished: float | None = None
        # The last stack walked from the frame that asked for a load's rows
        # (db._record): (that frame, its f_lasti, the stack, the template
        # position, the library frames, and for a generator's frame where it
        # was resumed from). The loads of a loop ask from one line of one frame,
        # and while that frame runs the frames above it stay the same: their
        # walk is done once. Dropped when the capture finishes (the
        # frame keeps its locals, and the frames above it, alive).
        self.last_walk: LastWalk | None = None

    # -- the queries -------------------------------------------------------------------

    @property
    def queries(self) -> list[QueryRecord]:
        """Every query recorded, as a record, in the order they ran."""
        if self.light_sql:
            self._make_records()
        return self.records

    def query_count(self) -> int:
        """The queries recorded, and those past MAX_QUERIES (counted, not kept)."""
        return len(self.records) + len(self.light_sql) + self.dropped_queries

    def query_time_ms(self) -> float:
        """Their time, in milliseconds."""
        total: float = sum(map(_DURATION, self.records))
        return total + sum(self.light_ms) + self.dropped_time_ms

    def _make_records(self) -> None:
        """A light capture's queries, from its lists to records."""
        records = self.records
        odd = self.light_odd
        start = len(records)
        rows = zip(
            self.light_sql,
            self.light_params,
            self.light_param,
            self.light_connection,
            self.light_ms,
            strict=True,
        )
        for index, (sql, params, param, connection, ms) in enumerate(rows, start):
            record = QueryRecord(
                index, sql, None, False, connection.alias, connection.vendor, ms, NO_FRAMES, None
            )
            record.kept_params = params
            if params is ONE_PARAM:
                record.kept_param = param
            if odd:
                record.many, record.error = odd.get(index - start, (False, None))
            records.append(record)
        self._empty_light_lists()

    def _empty_light_lists(self) -> None:
        """New light lists, with room for what the records leave of MAX_QUERIES."""
        self.light_sql, self.light_params, self.light_param = [], [], []
        self.light_connection, self.light_ms, self.light_odd = [], [], {}
        self.light_room = self.max_queries - len(self.records)

    # -- internal errors: logged, kept for the panel, never raised -----------------

    def internal_error(self, where: str, exc: BaseException) -> None:
        message = f"{where}: {type(exc).__name__}: {exc}"
        if len(self.errors) < 20:
            self.errors.append(message)
        logger.warning("ddt_perfpanels %s", message, exc_info=exc)

    # -- loads and instance tags ------------------------------------------------------

    def load_of(self, instance: Any) -> Load | None:
        return self.tags.get(id(instance))

    def tag(self, obj: _T, load: Load, adopt: bool = False) -> _T:
        """Remember that ``load`` produced ``obj``, and return it: mapped over
        the rows Django yields (never raises into the caller's loop)."""
        try:
            tags = self.tags
            if self.provenance_stopped_at is not None or len(tags) >= self.max_provenance:
                self.stop_provenance()
                return obj
            if id(obj) not in tags:
                tags[id(obj)] = load
                self.kept.append(obj)
            elif adopt:
                tags[id(obj)] = load
            if load.select_related:
                self._tag_select_related(obj, load, 0)
        except Exception as exc:
            self.internal_error("tagging an instance", exc)
        return obj

    def tag_rows(self, rows: list[Any], load: Load) -> None:
        """``tag()`` for each of a list of rows Django built whole (none seen yet
        by the code that asked for them), done at once where nothing depends on
        the order: not for a load that follows select_related, rows tagged
        already (an identity map's ``from_db``) or near the bound on provenance.
        Never raises."""
        try:
            tags = self.tags
            if (
                not load.select_related
                and self.provenance_stopped_at is None
                and len(tags) + len(rows) < self.max_provenance
            ):
                if len(rows) == 1:  # a lazy load's one row, the commonest
                    row = rows[0]
                    if id(row) not in tags:
                        tags[id(row)] = load
                        self.kept.append(row)
                    return
                if tags.keys().isdisjoint(map(id, rows)):
                    tags.update(zip(map(id, rows), repeat(load)))
                    self.kept.extend(rows)
                    return
        except Exception as exc:
            self.internal_error("tagging the rows", exc)
            return
        for row in rows:
            self.tag(row, load)

    def _tag_select_related(self, obj: Any, load: Load, depth: int) -> None:
        from django.db.models import Model

        if depth > 10:
            return
        state = getattr(obj, "_state", None)
        cache = getattr(state, "fields_cache", None)
        if not cache:
            return
        for name, value in cache.items():
            if isinstance(value, Model) and id(value) not in self.tags:
                child = load.eager_child(name, type(value), "select_related")
                self.tags[id(value)] = child
                self.kept.append(value)
                self._tag_select_related(value, child, depth + 1)

    def note_read(self, value: Any) -> None:
        """An eagerly loaded object was read through its descriptor."""
        load = self.tags.get(id(value))
        if load is not None:
            if load.via in ("select_related", "prefetch"):
                self.used_eager.add((load.root.id, load.path))

    def note_prefetched_read(self, owner: Load | None, accessor: str) -> None:
        if owner is not None:
            path = f"{owner.path}__{accessor}" if owner.path else accessor
            self.used_eager.add((owner.root.id, path))

    # -- the memory bound -------------------------------------------------------------

    def provenance_size(self) -> int:
        return len(self.tags) + len(self.loads) + len(self.ops)

    def stop_provenance(self) -> None:
        """MAX_PROVENANCE reached: the ORM hooks stop recording into this capture
        (each instance kept costs about a kilobyte, each load of a queryset its
        Query), and queries are recorded without their stack from now on."""
        if self.provenance_stopped_at is None:
            self.provenance_stopped_at = len(self.records)
        self.tags, self.kept = {}, []
        if _orm_active.get() is self:
            _orm_active.set(None)

    def release(self) -> None:
        """Drop everything recorded, once its report was read: the memory of a
        big request goes back when the request ends, not at some later garbage
        collection (loads point at each other)."""
        for load in self.loads:
            # root is None only on a released load, which nothing reads again.
            load.parent = load.root = load.first_query = load.relation = None  # type: ignore[assignment]
            # Only those that were set: reading a default creates no __dict__.
            if load.query is not None:
                load.query = None
            if load.get_op is not None:
                load.get_op = None
            if load.children:
                load.children = {}
        for op in self.ops:
            op.query = op.relation = op.origin_load = None
        for query in self.records:
            query.cause = None
        self.records, self.loads, self.ops, self.tags, self.extras = [], [], [], {}, {}
        self._empty_light_lists()
        self.kept = []
        self.used_eager = set()
        self.last_walk = None

    # -- the record for the panels -----------------------------------------------

    def finish(self) -> None:
        self.finished = perf_counter()
        self.tags, self.kept = {}, []
        self.last_walk = None
        # Extensions may read something once more at the end (the cache hooks
        # read the Redis servers' counters); they never raise.
        for value in list(self.extras.values()):
            if hasattr(value, "finish"):
                value.finish()

    def absorb(self, inner: Recorder) -> None:
        """A nested capture ended: keep its records here too."""
        offset = len(self.queries)
        for record in inner.queries:
            record.index += offset
        self.records.extend(inner.records)
        self._empty_light_lists()  # made into records above: only the room changes
        self.loads.extend(inner.loads)
        self.ops.extend(inner.ops)
        self.tags.update(inner.tags)
        self.kept.extend(inner.kept)
        self.used_eager |= inner.used_eager
        self.errors.extend(inner.errors)
        self.dropped_queries += inner.dropped_queries
        if inner.provenance_stopped_at is not None and self.provenance_stopped_at is None:
            self.provenance_stopped_at = offset + inner.provenance_stopped_at
        self.dropped_time_ms += inner.dropped_time_ms
        for name, value in inner.extras.items():
            mine = self.extras.get(name)
            if mine is None:
                self.extras[name] = value
            elif hasattr(mine, "absorb"):
                mine.absorb(value)


def current_recorder() -> Recorder | None:
    return _active.get()


class paused:
    """Nothing inside is recorded: this package's own storage uses it."""

    def __enter__(self) -> None:
        self._token = _active.set(None)
        self._orm_token = _orm_active.set(None)

    def __exit__(self, *exc_info: Any) -> None:
        _orm_active.reset(self._orm_token)
        _active.reset(self._token)


class Recording:
    """The capture state of one ``capture()``: its recorder and the context
    variables it set, which turn the hooks (``recording.hooks``, installed once)
    on in this context. ``ddt_perfpanels.api.capture`` builds the Report on it;
    this layer knows nothing of reports."""

    def __init__(self, light: bool = False) -> None:
        self.absorbed = False
        self.recorder: Recorder | None = None
        self._light = light

    def new_recorder(self) -> Recorder:
        """The recorder that ``start()`` makes active (made first, for the report)."""
        light = self._light and _orm_active.get() is None
        self.recorder = Recorder(light=light)
        return self.recorder

    def start(self) -> None:
        recorder = self.recorder
        assert recorder is not None
        light = recorder.light
        self._cause_token = _cause.set(None)
        self._token = _active.set(recorder)
        self._orm_token = _orm_active.set(None if light else recorder)

    def stop(self) -> bool:
        """Stop recording; True when this was the outermost capture."""
        recorder = self.recorder
        assert recorder is not None
        try:
            _orm_active.reset(self._orm_token)
            _active.reset(self._token)
            _cause.reset(self._cause_token)
        except ValueError:
            # Exited in another context than it was entered (a misuse across
            # tasks): fall back to clearing the variables.
            _orm_active.set(None)
            _active.set(None)
            _cause.set(None)
        outer = _active.get()
        # Absorbed records are shared with the outer capture: never released here.
        self.absorbed = outer is not None
        if outer is not None:
            outer.absorb(recorder)
        recorder.finish()
        return outer is None

    def release(self) -> None:
        """Free what this finished capture recorded (its report is then empty),
        unless an outer capture took its records over."""
        if self.recorder is not None and not self.absorbed:
            self.recorder.release()


def format_exception(exc: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()
