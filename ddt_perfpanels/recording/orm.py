"""ORM provenance hooks: which queryset loaded which instances, and which relation
access, deferred field, count, exists or get caused each query.

Every hook is a small wrapper around one Django method, installed once
(``recording.hooks``) and never removed.  Each wrapper starts with
``_orm_active.get()`` and passes straight through when this thread or task is
not capturing (or captures light: ``capture(light=True)``).
"""

from __future__ import annotations

import sys
import weakref
from functools import partial
from itertools import repeat
from typing import TYPE_CHECKING, Any

from django.db.models import query as query_module
from django.db.models.fields import related_descriptors as rd
from django.db.models.manager import BaseManager, Manager
from django.db.models.query import ModelIterable, QuerySet
from django.db.models.query_utils import DeferredAttribute

from ddt_perfpanels.recording.context import (
    Load,
    Op,
    PrefetchCause,
    Relation,
    _async_frames,
    _cause,
    _orm_active,
)
from ddt_perfpanels.recording.stack import (
    Frame,
    capture_stack,
    format_site,
    is_app_file,
    is_library_file,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence
    from types import FrameType

    from django.db.models import Model
    from django.db.models.query import Prefetch

    from ddt_perfpanels.recording.context import Recorder

# The key under which a related manager's queryset carries its Relation. Query
# hints are copied to every clone of a queryset, which is what we need; routers
# receive them as ``**hints`` and ignore keys they do not know.
HINT = "ddt_perfpanels_relation"
# Where each select_related/prefetch_related lookup was added, when it was added
# inside a capture: {lookup: (site, owner, (file, function) or None)}; owner is
# "app", "method", "shared" (a manager's or queryset's own method: every caller
# gets it) or "library" (see _eager_owner).
EAGER_HINT = "ddt_perfpanels_eager"

# The library frames that built a queryset, when a package's code (not the
# application's) asked a manager for it: who can change it.
BUILT_HINT = "ddt_perfpanels_built"
# The key under which a queryset carries where annotate() was called on it.
ANNOTATE_HINT = "ddt_perfpanels_annotate"
# Queryset methods that load one object: a loop of them is an in_bulk().
SINGLE_OBJECT_OPS = ("get", "first", "last")

_originals: dict[tuple[Any, str], Any] = {}


# -- loads ----------------------------------------------------------------------------


# Querysets are typed Any here: the hooks read their private _hints and
# _prefetch_related_lookups, which django-stubs omit. So are the hooks' self (a
# QuerySet, a descriptor) and what they return: whatever their original (Django's
# own method, called through an _orig_* global) returns.


def _begin_load(recorder: Recorder, qs: Any) -> Load:
    cause = _cause.get()
    hints = qs._hints
    model = qs.model
    cause_type = type(cause)
    if cause_type is Relation:
        # A descriptor loading one instance's relation: the commonest load.
        relation: Relation = cause  # type: ignore[assignment]
        kind = relation.kind
        if kind == "deferred":
            via = "deferred"
        elif kind == "gfk" and model._meta.label == "contenttypes.ContentType":
            via = "support"
        else:
            via = "lazy"
        load = Load(model, relation.owner, relation.accessor, kind, via, relation.owner_key)
        load.relation = relation
        load.frame = relation.frame
    elif cause_type is PrefetchCause:
        prefetching: PrefetchCause = cause  # type: ignore[assignment]
        load = Load(
            model,
            prefetching.owner,
            prefetching.through,
            prefetching.kind,
            "prefetch",
            prefetching.owner_key,
        )
    else:
        hint: Relation | None = hints.get(HINT) if hints else None
        if hint is not None:
            load = Load(model, hint.owner, hint.accessor, hint.kind, "lazy", hint.owner_key)
            load.relation = hint
        else:
            load = Load(model)
        if cause_type is Op and cause.kind in SINGLE_OBJECT_OPS:  # type: ignore[union-attr]
            op: Op = cause  # type: ignore[assignment]
            awaited = _async_frames.get()
            load.op = awaited[0] if awaited and awaited[0] == "a" + op.kind else op.kind
            load.get_keys = op.kwargs_keys
            load.get_op = op
    load.qs_id = id(qs)
    if hints:
        sites = hints.get(EAGER_HINT)
        if sites is not None:
            load.eager_sites = sites
        load.built = hints.get(BUILT_HINT)
        if ANNOTATE_HINT in hints:
            load.annotate_frames = hints[ANNOTATE_HINT]
    if load.built is None and cause_type is Relation:
        # A descriptor's own queryset: what built it is said by its first
        # query's library frames (db._record; _manager_queryset leaves it).
        load.built = ()
    iterable = qs._iterable_class
    if iterable is not ModelIterable and iterable.__module__ != _DJANGO_ITERABLES:
        load.custom_iterable = iterable.__name__
    query = qs.query
    if cause_type is not Relation or query.annotations:
        # A descriptor's own query (pk = the row's key, on the base manager) says
        # nothing the relation does not: not kept, one object graph less per row.
        load.query = query
    if query.select_related:
        load.select_related = query.select_related
    lookups = qs._prefetch_related_lookups
    if lookups:
        prefetch = load.prefetch = []
        querysets = {}
        for lookup in lookups:
            if isinstance(lookup, str):
                prefetch.append((lookup, None))
            else:
                prefetch.append((lookup.prefetch_through, lookup.to_attr))
                if lookup.queryset is not None:
                    querysets[lookup.prefetch_through] = lookup.queryset
        if querysets:
            load.prefetch_querysets = querysets
    recorder.loads.append(load)
    return load


def _fetch_all(self: Any) -> Any:
    recorder = _orm_active.get()
    if recorder is None or self._result_cache is not None:
        return _orig_fetch_all(self)
    try:
        load = _begin_load(recorder, self)
    except Exception as exc:
        recorder.internal_error("starting a load", exc)
        return _orig_fetch_all(self)
    if load.frame is None:
        load.frame = sys._getframe(1)
    token = _cause.set(load)
    before = len(recorder.records)
    try:
        if (
            _django_fetch_all
            and self._iterable_class is ModelIterable
            and ModelIterable.__iter__ is _model_iterable_iter
        ):
            # Django's own _fetch_all, its rows tagged all at once.
            self._result_cache = list(_orig_model_iter(ModelIterable(self)))
            recorder.tag_rows(self._result_cache, load)
        _orig_fetch_all(self)  # the prefetch, if any (and the rows, if not fetched above)
    finally:
        _cause.reset(token)
        load.frame = None
    if self._result_cache is not None:
        load.rows = len(self._result_cache)
        if load.custom_iterable:
            _adopt_rows(recorder, load, self._result_cache)
            if load.first_query is None and len(recorder.records) > before:
                # Its queries ran as other querysets': the first one says where.
                load.first_query = recorder.records[before]


_DJANGO_ITERABLES = "django.db.models.query"
# QuerySet._fetch_all is Django's own (no other package wrapped it before us):
# _fetch_all may then build the rows itself, as Django does (set by install()).
_django_fetch_all = False


def _adopt_rows(recorder: Recorder, load: Load, rows: Iterable[Any]) -> None:
    """The rows a custom iterable yielded belong to its queryset, whichever
    queries built them (one per content type, say): per-row work on them is one
    loop over one queryset."""
    from django.db.models import Model

    try:
        for row in rows:
            if isinstance(row, Model):
                recorder.tag(row, load, adopt=True)
    except Exception as exc:
        recorder.internal_error("following a custom iterable", exc)


def _iterator(self: Any, use_chunked_fetch: bool, chunk_size: int | None) -> Iterator[Any]:
    """``QuerySet.iterator()``: the cause is set only while Django fetches rows,
    never while the caller's loop body runs."""
    original = _orig_iterator
    recorder = _orm_active.get()
    if recorder is None:
        yield from original(self, use_chunked_fetch, chunk_size)
        return
    load = _begin_load(recorder, self)
    rows = original(self, use_chunked_fetch, chunk_size)
    while True:
        token = _cause.set(load)
        try:
            row = next(rows)
        except StopIteration:
            return
        finally:
            _cause.reset(token)
        load.rows += 1
        if load.custom_iterable:
            _adopt_rows(recorder, load, (row,))
        yield row


def _model_iterable_iter(self: ModelIterable[Any]) -> Iterator[Model]:
    """Tag each instance with the load that produced it.

    Not a generator: a ``map`` over Django's own generator adds no frame to the
    stack while the query runs (the toolbar walks every frame of every query's
    stack) and costs one plain call per row (``Recorder.tag`` never raises)."""
    iterator: Iterator[Model] = _orig_model_iter(self)
    recorder = _orm_active.get()
    if recorder is None:
        return iterator
    load = _cause.get()
    if not isinstance(load, Load) or load.qs_id != id(self.queryset):
        return iterator
    return map(recorder.tag, iterator, repeat(load))


# -- queryset operations that run their own query -----------------------------------


def _relation_in_effect(qs: Any) -> Relation | None:
    hint: Relation | None = qs._hints.get(HINT) if qs._hints else None
    if hint is not None:
        return hint
    cause = _cause.get()
    if isinstance(cause, Relation):
        return cause
    return None


def _make_op(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        recorder = _orm_active.get()
        if recorder is None:
            return original(self, *args, **kwargs)
        cause = _cause.get()
        cause_type = type(cause)
        if (cause_type is Relation and name == "get") or cause_type is PrefetchCause:
            # Django's own work: a descriptor's .get() of the related row, a prefetch.
            return original(self, *args, **kwargs)
        if self._result_cache is not None and name in ("count", "exists"):
            # Answered from rows fetched by len()/bool(): those rows are read again.
            use = _pending_use(recorder, self)
            if use is not None:
                use.reads += 1
        try:
            keys = tuple(kwargs) if name == "get" else ()
            op = Op(name, self.model._meta.label, _relation_in_effect(self), self.query, keys)
            if name == "get":
                op.inputs = _get_inputs(recorder, op, kwargs, _row_method(recorder))
            elif name in ("count", "exists") and op.relation is None:
                op.method = _row_method(recorder)
            if name == "aggregate":
                op.aggregates = {
                    **{a.default_alias: a for a in args if _has_alias(a)},
                    **kwargs,
                }
            recorder.ops.append(op)
        except Exception as exc:
            recorder.internal_error(f"recording {name}()", exc)
            return original(self, *args, **kwargs)
        token = _cause.set(op)
        try:
            result = original(self, *args, **kwargs)
        finally:
            _cause.reset(token)
        if name in SINGLE_OBJECT_OPS:
            op.result_pk = getattr(result, "pk", None)
        return result

    wrapper.__name__ = name
    return wrapper


def _get_inputs(
    recorder: Recorder,
    op: Op,
    kwargs: dict[str, Any],
    method: tuple[Load, int, str, str, int] | None,
) -> tuple[frozenset[int], frozenset[int | str]]:
    """The loads of the rows a get() starts from (its arguments, the related
    manager's row, the row whose method runs it), and its plain values."""
    from django.db.models import Model

    loads, values = set(), set()
    if op.relation is not None and op.relation.owner is not None:
        loads.add(op.relation.owner.id)
    if method is not None:
        loads.add(method[0].id)
    for value in kwargs.values():
        if isinstance(value, Model):
            owner = _owner(recorder, value)
            if owner is not None:
                loads.add(owner.id)
        elif isinstance(value, (int, str)):
            values.add(value)
    return frozenset(loads), frozenset(values)


_METHOD_DEPTH = 8


def _row_method(recorder: Recorder) -> tuple[Load, int, str, str, int] | None:
    """The method of a row loaded in this capture that runs this query
    (``page.is_locked()`` running an ``.exists()``), when one does."""
    from django.db.models import Model

    frame: FrameType | None = sys._getframe(2)
    for _ in range(_METHOD_DEPTH):
        if frame is None:
            return None
        code = frame.f_code
        if code.co_argcount and code.co_varnames[0] == "self":
            filename = code.co_filename
            if is_app_file(filename) or is_library_file(filename):
                row = frame.f_locals.get("self")
                if isinstance(row, Model):
                    owner = recorder.tags.get(id(row))
                    if owner is None:
                        return None
                    qualname = getattr(code, "co_qualname", code.co_name)
                    return (owner, id(row), qualname, filename, code.co_firstlineno)
        frame = frame.f_back
    return None


def _eager_owner(frame: FrameType | None) -> tuple[str, tuple[str, str] | None]:
    """Who added the lookup, and in which function: the first frame of code with
    a site of its own (Django's manager proxies are skipped). "shared": a
    manager's or queryset's method; "method": another object's (a view's);
    "app": a function of the application; "library": anyone else's."""

    while frame is not None:
        code = frame.f_code
        filename = code.co_filename
        app = is_app_file(filename)
        if app or is_library_file(filename):
            if not app:
                return "library", None
            if code.co_argcount and code.co_varnames[0] == "self":
                if isinstance(frame.f_locals.get("self"), (BaseManager, QuerySet)):
                    return "shared", None
                return "method", None
            return "app", (filename, code.co_name)
        frame = frame.f_back
    return "library", None


def _make_eager(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    """select_related / prefetch_related: remember where each lookup was added,
    so that advice to remove one names that line, and only when it is the
    application's own (not a manager every caller shares, not a package's)."""

    def wrapper(self: Any, *lookups: Any) -> Any:
        qs = original(self, *lookups)
        recorder = _orm_active.get()
        if recorder is None or not lookups or lookups == (None,):
            return qs
        try:
            library: list[Frame] = []
            frames, _template = capture_stack(1, skip=1, library=library)
            site = format_site(frames, None, library)
            owner, function = _eager_owner(sys._getframe(1))
            names = [
                lookup if isinstance(lookup, str) else lookup.prefetch_through for lookup in lookups
            ]
            sites = dict(qs._hints.get(EAGER_HINT) or {})
            sites.update(dict.fromkeys(names, (site, owner, function)))
            qs._hints = {**qs._hints, EAGER_HINT: sites}
        except Exception as exc:
            recorder.internal_error(f"recording {name}()", exc)
        return qs

    wrapper.__name__ = name
    return wrapper


def _has_alias(expression: Any) -> bool:
    try:
        return bool(expression.default_alias)
    except (AttributeError, TypeError):
        return False


class AnnotateSite(list[Frame]):
    """The frames of an annotate() call, riding in the queryset's hints; like a
    Relation, never pickled with the queryset (a cached queryset stays clean)."""

    def __reduce__(self) -> tuple[type[None], tuple[()]]:
        return (type(None), ())


def _annotate(self: Any, *args: Any, **kwargs: Any) -> Any:
    """Remember where the code called annotate(): a finding about the
    annotation points there, not at the line that evaluated the queryset."""
    qs = _orig_annotate(self, *args, **kwargs)
    recorder = _orm_active.get()
    if recorder is None or (self._hints and ANNOTATE_HINT in self._hints):
        return qs
    try:
        frames, _template = capture_stack(recorder.stack_depth)
        if frames:
            qs._hints = {**qs._hints, ANNOTATE_HINT: AnnotateSite(frames)}
    except Exception as exc:
        recorder.internal_error("recording annotate()", exc)
    return qs


def _make_async(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    """aget(), afirst()...: Django runs the query in a worker thread, whose stack
    has no frame of the application; keep the awaiting code's frames for it."""
    original_name = name

    async def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        recorder = _orm_active.get()
        if recorder is None:
            return await original(self, *args, **kwargs)
        try:
            frames, _template = capture_stack(recorder.stack_depth)
        except Exception as exc:
            recorder.internal_error(f"recording {original_name}()", exc)
            frames = []
        token = _async_frames.set((name, frames))
        try:
            return await original(self, *args, **kwargs)
        finally:
            _async_frames.reset(token)

    wrapper.__name__ = name
    return wrapper


def _manager_queryset(self: BaseManager[Any]) -> Any:
    """``Manager.get_queryset()``: a queryset a package's code builds carries
    the package's frames (a few, innermost first)."""
    qs = _orig_manager_queryset(self)
    recorder = _orm_active.get()
    # The cause first: hasattr() of a missing attribute raises and catches inside.
    if recorder is None or type(_cause.get()) is Relation or hasattr(self, "instance"):
        # A related manager (author.books): the relation says whose it is, and
        # a template reads one per row, prefetched or not. A descriptor's own
        # queryset (book.author): its first query's library frames say it, from
        # the same place (db._record), with no walk of the stack here.
        return qs
    try:
        library: list[Frame] = []
        frames, _template = capture_stack(1, skip=1, library=library)
        if library and not frames:
            qs._hints = {**qs._hints, BUILT_HINT: tuple(library)}
    except Exception as exc:
        recorder.internal_error("recording where a queryset was built", exc)
    return qs


# -- relation descriptors --------------------------------------------------------------


def _owner(recorder: Recorder, instance: Model) -> Load | None:
    return recorder.tags.get(id(instance))


def _lazy(
    recorder: Recorder,
    instance: Model,
    accessor: str,
    kind: str,
    call: Callable[..., Any],
    *args: Any,
) -> Any:
    relation = Relation(
        _owner(recorder, instance), id(instance), accessor, kind, owner_name=type(instance).__name__
    )
    relation.frame = sys._getframe(2)  # who read the attribute
    token = _cause.set(relation)
    try:
        return call(*args)
    finally:
        _cause.reset(token)
        relation.frame = None


def _forward_get(self: Any, instance: Model | None, cls: type[Model] | None = None) -> Any:
    original = _orig_forward_get
    recorder = _orm_active.get()
    if recorder is None or instance is None:
        return original(self, instance, cls)
    field = self.field
    if field.cache_name in instance._state.fields_cache:  # field.is_cached(), inlined
        value = original(self, instance, cls)
        if value is not None:
            recorder.note_read(value)
        return value
    # The hottest hook (every lazy foreign key): _lazy() inlined.
    relation = Relation(
        recorder.tags.get(id(instance)),
        id(instance),
        field.name,
        "o2o" if field.one_to_one else "fk",
        owner_name=type(instance).__name__,
    )
    relation.frame = sys._getframe(1)  # who read the attribute
    token = _cause.set(relation)
    try:
        return original(self, instance, cls)
    finally:
        _cause.reset(token)
        relation.frame = None


def _reverse_one_get(self: Any, instance: Model | None, cls: type[Model] | None = None) -> Any:
    original = _orig_reverse_one_get
    recorder = _orm_active.get()
    if recorder is None or instance is None:
        return original(self, instance, cls)
    if self.related.is_cached(instance):
        value = self.related.get_cached_value(instance)
        if value is not None:
            recorder.note_read(value)
        else:
            # No row: the read raises DoesNotExist from the cached empty
            # result, and the join is what answered it.
            recorder.note_prefetched_read(
                _owner(recorder, instance), self.related.get_accessor_name()
            )
        return original(self, instance, cls)
    accessor = self.related.get_accessor_name()
    return _lazy(recorder, instance, accessor, "reverse_o2o", original, self, instance, cls)


def _deferred_get(self: Any, instance: Model | None, cls: type[Model] | None = None) -> Any:
    original = _orig_deferred_get
    if instance is None:
        return original(self, instance, cls)
    data = instance.__dict__
    attname = self.field.attname
    if attname in data:
        # Loaded: Django's own first step, without calling it. A foreign key's
        # attname (book.author_id) comes here on every read, capturing or not:
        # its descriptor has a __set__, so the instance's dict does not shadow it.
        return data[attname]
    recorder = _orm_active.get()
    if recorder is None:
        return original(self, instance, cls)
    return _lazy(recorder, instance, attname, "deferred", original, self, instance, cls)


def _manager_accessor(descriptor: rd.ReverseManyToOneDescriptor[Any]) -> tuple[str, str]:
    from django.contrib.contenttypes.fields import ReverseGenericManyToOneDescriptor

    if isinstance(descriptor, ReverseGenericManyToOneDescriptor):
        return descriptor.field.name, "generic_relation"
    if isinstance(descriptor, rd.ManyToManyDescriptor):
        if descriptor.reverse:
            # None only for a hidden relation ("+"), which has no descriptor.
            return descriptor.rel.get_accessor_name(), "reverse_m2m"  # type: ignore[return-value]
        return descriptor.field.name, "m2m"
    return descriptor.rel.get_accessor_name(), "reverse_fk"


def _manager_get(self: Any, instance: Model | None, cls: type[Model] | None = None) -> Any:
    original = _orig_manager_get
    manager = original(self, instance, cls)
    recorder = _orm_active.get()
    if recorder is None or instance is None:
        return manager
    try:
        accessor, kind = _manager_accessor(self)
        owner = _owner(recorder, instance)
        relation = Relation(owner, id(instance), accessor, kind, owner_name=type(instance).__name__)
        _bind_manager(manager, relation)
    except Exception as exc:
        recorder.internal_error("following a related manager", exc)
    return manager


def _bind_manager(manager: Manager[Any], relation: Relation) -> None:
    """Instance-level overrides on one related manager, so that whatever the
    code does with it later (``.all()`` in a template, ``.filter()``,
    ``.count()``) knows which relation of which instance it follows."""
    manager_cls = type(manager)

    # Type comments, not annotations: these closures are made on every call, and
    # annotations would be built with them.
    def get_queryset():  # type: () -> QuerySet[Any]
        qs = manager_cls.get_queryset(manager)
        recorder = _orm_active.get()
        if recorder is None:
            return qs
        prefetched = qs._result_cache is not None
        if prefetched:
            recorder.note_prefetched_read(relation.owner, relation.accessor)
        tagged = relation
        if prefetched:
            tagged = Relation(
                relation.owner,
                relation.owner_key,
                relation.accessor,
                relation.kind,
                True,
                owner_name=relation.owner_name,
            )
        qs._hints = {**qs._hints, HINT: tagged}  # type: ignore[attr-defined]  # private, not in the stubs
        return qs

    def filtering(method):  # type: (str) -> Callable[..., Any]
        def call(*args, **kwargs):  # type: (*Any, **Any) -> Any
            qs = getattr(manager_cls, method)(manager, *args, **kwargs)
            current = qs._hints.get(HINT)
            if current is not None and _orm_active.get() is not None:
                qs._hints = {**qs._hints, HINT: current.with_filter(method, args, kwargs)}
            return qs

        return call

    def with_relation(method):  # type: (str) -> Callable[..., Any]
        def call(*args, **kwargs):  # type: (*Any, **Any) -> Any
            token = _cause.set(relation)
            try:
                return getattr(manager_cls, method)(manager, *args, **kwargs)
            finally:
                _cause.reset(token)

        return call

    # Instance attributes over the manager's methods, on this one manager.
    manager.get_queryset = get_queryset  # type: ignore[method-assign]
    manager.filter = filtering("filter")  # type: ignore[method-assign]
    manager.exclude = filtering("exclude")  # type: ignore[method-assign]
    # ManyRelatedManager.count()/exists() query the through table directly,
    # bypassing get_queryset(): keep the relation in effect for them.
    manager.count = with_relation("count")  # type: ignore[method-assign]
    manager.exists = with_relation("exists")  # type: ignore[method-assign]


def _gfk_owner() -> type[Any]:
    from django.contrib.contenttypes import fields as ct_fields

    # Django 6.1 moved GenericForeignKey.__get__ to a descriptor class.
    return getattr(ct_fields, "GenericForeignKeyDescriptor", None) or ct_fields.GenericForeignKey


def _gfk_get(self: Any, instance: Model | None, cls: type[Model] | None = None) -> Any:
    original = _orig_gfk_get
    recorder = _orm_active.get()
    if recorder is None or instance is None:
        return original(self, instance, cls)
    field = getattr(self, "field", self)
    if field.is_cached(instance):
        value = original(self, instance, cls)
        if value is not None:
            recorder.note_read(value)
        return value
    return _lazy(recorder, instance, field.name, "gfk", original, self, instance, cls)


def _prefetcher_kind(prefetcher: Any) -> str:
    if isinstance(prefetcher, (rd.ForwardManyToOneDescriptor, rd.ReverseOneToOneDescriptor)):
        return "fk"
    name = type(prefetcher).__name__
    if "GenericForeignKey" in name:
        return "gfk"
    return "multi"


def _prefetch_one_level(
    instances: Sequence[Model], prefetcher: Any, lookup: Prefetch[Any], level: int
) -> Any:
    original = _orig_prefetch_one_level
    recorder = _orm_active.get()
    if recorder is None or not instances:
        return original(instances, prefetcher, lookup, level)
    try:
        through = lookup.prefetch_through.split("__")[level]
        to_attr = lookup.get_current_to_attr(level)[0]
        owner = _owner(recorder, instances[0])
        if len(instances) == 1:
            single = id(instances[0])
        else:  # a deeper level of a prefetch for one instance belongs to that one
            single = owner.owner_key if owner is not None and owner.via == "prefetch" else 0
        cause = PrefetchCause(owner, through, _prefetcher_kind(prefetcher), to_attr, single)
    except Exception as exc:
        recorder.internal_error("following a prefetch", exc)
        return original(instances, prefetcher, lookup, level)
    token = _cause.set(cause)
    try:
        return original(instances, prefetcher, lookup, level)
    finally:
        _cause.reset(token)


# -- querysets fetched by len() or bool() (the counts panel) -------------------------
# ``len(qs)`` / ``{{ qs|length }}`` fetch every row. Whether the rows were then
# used (iterated, indexed) tells a count that should have been ``.count()``.


class FetchUse:
    """One queryset fetched by ``len()`` or ``bool()``, and what happened next."""

    __slots__ = ("load", "len_calls", "reads", "used")

    def __init__(self, load: Load, len_calls: int):
        self.load = load
        self.len_calls = len_calls
        # len()/bool()/count()/exists() answered from the fetched rows: each one
        # would be a query of its own if the rows were not fetched.
        self.reads = 1
        self.used = False


class FetchUses:
    """Kept in ``recorder.extras["fetch_uses"]``."""

    def __init__(self) -> None:
        # id(queryset) -> (weakref to it, use): never keeps the rows alive, and a
        # reused id is told apart by the dead reference.
        self.pending: dict[int, tuple[Any, FetchUse]] = {}
        self.entries: list[FetchUse] = []

    @classmethod
    def of(cls, recorder: Recorder) -> FetchUses:
        uses: FetchUses | None = recorder.extras.get("fetch_uses")
        if uses is None:
            uses = recorder.extras["fetch_uses"] = cls()
        return uses

    def absorb(self, other: FetchUses) -> None:
        self.entries.extend(other.entries)
        self.pending.update(other.pending)

    def finish(self) -> None:
        self.pending = {k: v for k, v in self.pending.items() if v[0]() is not None}

    def pop(self, qs: QuerySet[Any]) -> FetchUse | None:
        entry = self.pending.get(id(qs))
        if entry is None or entry[0]() is not qs:
            return None
        del self.pending[id(qs)]
        return entry[1]


def _fetched_by(recorder: Recorder, qs: QuerySet[Any], before: int, len_calls: int) -> None:
    loads = recorder.loads
    for index in range(before, len(loads)):
        load = loads[index]
        if load.qs_id == id(qs):
            use = FetchUse(load, len_calls)
            uses = FetchUses.of(recorder)
            uses.pending[id(qs)] = (weakref.ref(qs), use)
            uses.entries.append(use)
            return


def _make_fetching(name: str, len_calls: int, original: Callable[..., Any]) -> Callable[..., Any]:
    then = _fetch_then(name, original)

    def wrapper(self: Any) -> Any:
        recorder = _orm_active.get()
        if recorder is None:
            return original(self)
        # Inside an Op or a descriptor's load, Django itself takes the len():
        # QuerySet.get() does.
        if not isinstance(_cause.get(), (Op, Relation, PrefetchCause)):
            fetching = self._result_cache is None
            if fetching:
                before = len(recorder.loads)
                if then is None:
                    result = original(self)
                else:
                    self._fetch_all()
                    result = then(self._result_cache)
                try:
                    _fetched_by(recorder, self, before, len_calls)
                except Exception as exc:
                    recorder.internal_error(f"recording {name}", exc)
                return result
            use = _pending_use(recorder, self)
            if use is not None:
                use.len_calls += len_calls
                use.reads += 1
        if then is None:
            return original(self)
        self._fetch_all()
        return then(self._result_cache)

    wrapper.__name__ = name
    return wrapper


def _pending_use(recorder: Recorder, qs: QuerySet[Any]) -> FetchUse | None:
    uses: FetchUses | None = recorder.extras.get("fetch_uses")
    entry = uses.pending.get(id(qs)) if uses is not None else None
    return entry[1] if entry is not None and entry[0]() is qs else None


def _make_using(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    """__iter__, __getitem__, __aiter__: the rows are used."""
    then = _fetch_then(name, original)

    def wrapper(self: Any, *args: Any) -> Any:
        recorder = _orm_active.get()
        if recorder is not None:
            uses: FetchUses | None = recorder.extras.get("fetch_uses")
            if uses is not None and uses.pending:
                use = uses.pop(self)
                if use is not None:
                    use.used = True
            if then is not None:
                self._fetch_all()
                return then(self._result_cache)
        return original(self, *args)

    wrapper.__name__ = name
    return wrapper


# QuerySet methods whose whole body in Django is ``self._fetch_all()`` and
# then this builtin of ``self._result_cache`` (5.2 and 6.x alike: see
# tests/test_recording.py). While capturing, their hooks run those two
# lines themselves rather than call Django's method: the stack of each query
# the rows cost is one frame shorter, and django-debug-toolbar reads every
# frame of every query's stack.
_FETCH_THEN: dict[str, Callable[[list[Any]], Any]] = {
    "__len__": len,
    "__bool__": bool,
    "__iter__": iter,
}


def _is_djangos(function: Any, qualname: str) -> bool:
    """Django's own method, not another package's wrapper of it."""
    return (
        getattr(function, "__module__", None) == query_module.__name__
        and getattr(function, "__qualname__", None) == qualname
    )


def _fetch_then(name: str, original: Any) -> Callable[[list[Any]], Any] | None:
    then = _FETCH_THEN.get(name)
    return then if then is not None and _is_djangos(original, f"QuerySet.{name}") else None


# -- install -----------------------------------------------------------------------------

# The originals the module-level hooks call, set once by install(): a global
# read is cheaper than a lookup by (class, name) on the per-query path.
_orig_fetch_all: Any = None
_orig_iterator: Any = None
_orig_model_iter: Any = None
_orig_forward_get: Any = None
_orig_reverse_one_get: Any = None
_orig_manager_get: Any = None
_orig_deferred_get: Any = None
_orig_gfk_get: Any = None
_orig_prefetch_one_level: Any = None
_orig_manager_queryset: Any = None
_orig_annotate: Any = None


def _targets() -> list[tuple[Any, str, Any]]:
    """(owner, name, make): ``make(original)`` returns the hook."""

    def plain(hook: Any, original_global: str) -> Any:
        def make(original: Any) -> Any:
            globals()[original_global] = original
            return hook

        return make

    targets = [
        (QuerySet, "_fetch_all", plain(_fetch_all, "_orig_fetch_all")),
        (QuerySet, "_iterator", plain(_iterator, "_orig_iterator")),
        (ModelIterable, "__iter__", plain(_model_iterable_iter, "_orig_model_iter")),
        (rd.ForwardManyToOneDescriptor, "__get__", plain(_forward_get, "_orig_forward_get")),
        (
            rd.ReverseOneToOneDescriptor,
            "__get__",
            plain(_reverse_one_get, "_orig_reverse_one_get"),
        ),
        (rd.ReverseManyToOneDescriptor, "__get__", plain(_manager_get, "_orig_manager_get")),
        (DeferredAttribute, "__get__", plain(_deferred_get, "_orig_deferred_get")),
        (_gfk_owner(), "__get__", plain(_gfk_get, "_orig_gfk_get")),
        (
            query_module,
            "prefetch_one_level",
            plain(_prefetch_one_level, "_orig_prefetch_one_level"),
        ),
        (BaseManager, "get_queryset", plain(_manager_queryset, "_orig_manager_queryset")),
        (QuerySet, "annotate", plain(_annotate, "_orig_annotate")),
    ]
    ops = ("count", "exists", "aggregate", "get", "first", "last", "in_bulk", "update", "delete")
    for name in ops:
        targets.append((QuerySet, name, partial(_make_op, name)))
    for name in ("select_related", "prefetch_related"):
        targets.append((QuerySet, name, partial(_make_eager, name)))
    for name in ("aget", "afirst", "alast", "acount", "aexists", "aaggregate", "ain_bulk"):
        targets.append((QuerySet, name, partial(_make_async, name)))
    # Querysets fetched by len()/bool() and whether their rows were used (counts panel).
    targets.append((QuerySet, "__len__", partial(_make_fetching, "__len__", 1)))
    targets.append((QuerySet, "__bool__", partial(_make_fetching, "__bool__", 0)))
    for name in ("__iter__", "__getitem__", "__aiter__"):
        targets.append((QuerySet, name, partial(_make_using, name)))
    return targets


def install() -> None:
    """Once (recording.hooks): each hook passes through outside a full capture."""
    for owner, name, make in _targets():
        if (owner, name) not in _originals:
            source = owner.__dict__ if isinstance(owner, type) else vars(owner)
            _originals[owner, name] = source[name]
        setattr(owner, name, make(_originals[owner, name]))
    global _django_fetch_all
    _django_fetch_all = _is_djangos(_originals[QuerySet, "_fetch_all"], "QuerySet._fetch_all")
