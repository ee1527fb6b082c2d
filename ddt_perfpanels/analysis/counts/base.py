"""What every count detector shares: the finding, the kinds, the annotations
the rows already carry, the context of one analysis and the naming helpers."""

from __future__ import annotations

import dataclasses
import keyword
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from django.core.exceptions import FieldDoesNotExist
from django.db.models import Count, Exists, Q
from django.db.models.expressions import Col
from django.db.models.lookups import Lookup
from django.db.models.sql.query import Query
from django.db.models.sql.where import WhereNode
from django.utils.translation import gettext_lazy

from ddt_perfpanels.analysis.decompile import (
    _join_names,
    _path_steps,
    _plain_kwargs,
    _q_text,
    _relation_path,
    _Unreadable,
    where_to_q,
)
from ddt_perfpanels.analysis.models import (
    _model,
    _model_named,
    _relation_info,
    _RelInfo,
)
from ddt_perfpanels.conf import get_config
from ddt_perfpanels.finding import NOT_SERIALIZED, Finding, Severity, StrOrPromise
from ddt_perfpanels.recording.context import Load, Op, QueryRecord

if TYPE_CHECKING:
    from django.db.models import Model

    from ddt_perfpanels.recording.context import Recorder

# repeated_count: COUNTs that differ only in the value of one field are
# written as one GROUP BY from this many distinct values on.
_GROUP_BY_MIN_VALUES = 3
# The key under which recording/orm.py keeps the querysets fetched by len()/bool().
FETCH_USES = "fetch_uses"


@dataclass(kw_only=True)
class CountFinding(Finding):
    source: ClassVar[str] = "counts"
    HEADINGS: ClassVar[Mapping[str, StrOrPromise]] = {
        "count_in_loop": gettext_lazy("count() in a loop"),
        "exists_in_loop": gettext_lazy("exists() in a loop"),
        "aggregate_in_loop": gettext_lazy("aggregate() in a loop"),
        "annotation_ignored": gettext_lazy("Annotation ignored"),
        "repeated_count": gettext_lazy("Repeated COUNT on one table"),
        "distinct_join_count": gettext_lazy("Counts over fanned-out joins"),
        "len_for_count": gettext_lazy("Rows fetched only to count them"),
        "count_then_fetch": gettext_lazy("count() then the same rows fetched"),
        "bool_for_exists": gettext_lazy("Rows fetched only to test for any"),
        "exists_then_fetch": gettext_lazy("exists() then the same rows fetched"),
    }
    SEVERITIES: ClassVar[Mapping[str, Severity]] = {
        "repeated_count": "warn",
        "distinct_join_count": "warn",
        "len_for_count": "warn",
        "count_then_fetch": "info",
        "bool_for_exists": "warn",
        "exists_then_fetch": "info",
    }

    kind: str  # one of KINDS
    model: str  # "app_label.Model" of the queryset to change
    field: str  # the relation counted ("books", "author__books"), "" when none
    count: int  # queries involved
    duration_ms: float
    origin: str  # file:line (or template:line) to change
    suggestion: str  # ready-to-paste code
    message: str
    attribute: str = ""  # the attribute to read instead (annotation name)
    rows: int = 0  # distinct rows counted one by one / rows fetched for len()
    # The variable the suggestion names, guessed from the model ("books"); the
    # panel puts the real one in when it can read the line of code.
    variable: str = ""
    template: list[Any] | None = None  # [name, line] when a template ran the query
    sql: str = ""  # one example query
    stack: list[str] = dataclasses.field(default_factory=list)
    frames: list[list[Any]] = dataclasses.field(default_factory=list)  # [file, line, function]
    # distinct_join_count: {"relations": [...], "rows": n, "joined_rows": N or None,
    # "source": "estimate"|"counted"|"", "capped": bool}; filled in by the panel.
    fanout: dict[str, Any] | None = None
    # distinct_join_count: (alias, vendor, sql, params) of one query, so that the
    # join can be measured on demand. Never serialized.
    measure: tuple[Any, ...] | None = dataclasses.field(
        default=None, repr=False, compare=False, metadata=NOT_SERIALIZED
    )


# The kinds, in the order their findings are listed.
KINDS = tuple(CountFinding.HEADINGS)


# -- annotations already on the rows ---------------------------------------------------


class _Annotated:
    __slots__ = ("name", "kind", "path", "filter", "distinct")

    def __init__(
        self, name: str, kind: str, path: tuple[str, ...], filter_text: str | None, distinct: bool
    ) -> None:
        self.name = name
        self.kind = kind  # "count" | "exists"
        self.path = path  # tuple of relation names from the annotated model
        self.filter = filter_text  # rendered Q, "" when none, None when unreadable
        self.distinct = distinct


def _inner_query(expr: object) -> Query | None:
    if isinstance(expr, Query):
        return expr
    inner = getattr(expr, "query", None)
    return inner if isinstance(inner, Query) else None


def _is_outer(inner: Query, value: object) -> bool:
    if type(value).__name__ in ("ResolvedOuterRef", "OuterRef"):
        return True
    return isinstance(value, Col) and value.alias not in inner.alias_map


def _outer_prefix(outer: Query, value: object) -> tuple[str, ...]:
    if isinstance(value, Col):
        names, _ = _join_names(outer, value.alias)
        if value.target.is_relation:
            names.append(value.target.name)
        return tuple(names)
    parts = str(getattr(value, "name", "pk")).split("__")
    pk_names = {"pk", outer.model._meta.pk.name} if outer.model is not None else {"pk"}
    return tuple(parts[:-1] if parts[-1] in pk_names else parts)


def _correlated_path(outer: Query, inner: Query) -> tuple[str, ...]:
    """The relation path from the outer model to a correlated subquery's model."""
    for child in inner.where.children:
        if not isinstance(child, Lookup) or not _is_outer(inner, child.rhs):
            continue
        if not isinstance(child.lhs, Col):
            continue
        names, on_through = _join_names(inner, child.lhs.alias)
        if not on_through and child.lhs.target.is_relation:
            names.append(child.lhs.target.name)
        if not names:
            continue
        assert inner.model is not None  # a subquery of a queryset: it has a model
        steps = _path_steps(inner.model, names)
        back = [s.back for s in reversed(steps)]
        if not all(back):
            continue
        return (*_outer_prefix(outer, child.rhs), *back)
    raise _Unreadable("not correlated")


def _aggregate_filter(expr: Any) -> Any:
    """Count(filter=...) as a WhereNode (Django 6.1 wraps it in AggregateFilter)."""
    condition = expr.filter
    if condition is not None and not isinstance(condition, WhereNode):
        condition = getattr(condition, "condition", condition)
    return condition


def _annotation_fact(query: Query, name: str, expr: Any, depth: int = 0) -> _Annotated | None:
    if depth > 4 or expr is None:
        return None
    if isinstance(expr, Count):
        source = expr.get_source_expressions()[0]
        if not isinstance(source, Col):
            return None
        path = _relation_path(query, source)
        if not path:
            return None
        filter_text: str | None = ""
        if _aggregate_filter(expr) is not None:
            try:
                filter_text = _q_text(where_to_q(query, _aggregate_filter(expr)))
            except _Unreadable:
                filter_text = None
        distinct = bool(expr.distinct)  # type: ignore[attr-defined]  # not in django-stubs
        return _Annotated(name, "count", path, filter_text, distinct)
    inner = _inner_query(expr)
    if inner is not None:
        if isinstance(expr, Exists):
            kind = "exists"
        elif any(isinstance(a, Count) for a in inner.annotations.values()):
            kind = "count"
        else:
            return None
        try:
            path = _correlated_path(query, inner)
        except (_Unreadable, FieldDoesNotExist):
            return None
        return _Annotated(name, kind, path, "", False)
    for source in expr.get_source_expressions() if hasattr(expr, "get_source_expressions") else ():
        fact = _annotation_fact(query, name, source, depth + 1)
        if fact is not None:
            return fact
    return None


# -- shared bookkeeping --------------------------------------------------------------


class _Context:
    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        config = get_config()
        self.min_queries: int = config.get("COUNTS_MIN_QUERIES", 2)
        self.repeated_min: int = config.get("COUNTS_REPEATED_MIN", 3)
        self.sql_chars: int = config.get("SQL_PREVIEW_CHARS", 2000)
        self.op_queries: dict[int, list[QueryRecord]] = defaultdict(list)
        self.load_queries: dict[int, list[QueryRecord]] = defaultdict(list)
        for query in recorder.queries:
            cause = query.cause
            if isinstance(cause, Op):
                self.op_queries[cause.id].append(query)
            elif isinstance(cause, Load):
                self.load_queries[cause.id].append(query)
        self._facts: dict[int, list[_Annotated]] = {}
        self._rels: dict[tuple[str, str], _RelInfo | None] = {}

    def facts(self, load: Load | None) -> list[_Annotated]:
        if load is None or load.query is None:
            return []
        cached = self._facts.get(load.id)
        if cached is None:
            cached = []
            query = load.query
            try:
                selected = query.annotation_select
            except Exception:
                selected = {}
            for name, expr in selected.items():
                try:
                    fact = _annotation_fact(query, name, expr)
                except Exception:
                    fact = None
                if fact is not None:
                    cached.append(fact)
            self._facts[load.id] = cached
        return cached

    def relation(self, op: Op) -> tuple[Any, _RelInfo | None]:
        relation = op.relation
        assert relation is not None
        owner = relation.owner
        key = (owner.model if owner else relation.owner_name, relation.accessor)
        if key not in self._rels:
            if owner is not None:
                owner_cls = _model(owner.model)
            else:
                owner_cls = _model_named(relation.owner_name, op.model)
            self._rels[key] = _relation_info(owner_cls, relation.accessor)
        info = self._rels[key]
        return (info.owner if info else None), info


def _site_key(query: QueryRecord) -> tuple[Any, ...]:
    return query.site_key


def _duration(queries: list[QueryRecord]) -> float:
    total: float = sum(q.duration_ms for q in queries)
    return round(total, 3)


def _var(model_name: str) -> str:
    return model_name.lower() if model_name else "obj"


def _plural(model_name: str) -> str:
    name = _var(model_name)
    if name.endswith(("s", "x", "ch", "sh")):
        return name + "es"
    if name.endswith("y") and name[-2:-1] not in "aeiou":
        return name[:-1] + "ies"
    return name + "s"


def _identifier(text: str) -> str:
    name = re.sub(r"\W+", "_", text).strip("_").lower()[:40].strip("_") or "n"
    if name[0].isdigit():
        name = "n_" + name
    return name + "_" if keyword.iskeyword(name) else name


def _free_name(model_cls: type[Model] | None, name: str) -> str:
    """An annotation name that clashes with nothing on the model."""
    if model_cls is None:
        return name
    taken = {f.name for f in model_cls._meta.get_fields()}
    taken |= {getattr(f, "attname", "") for f in model_cls._meta.concrete_fields}
    candidate = name
    while candidate in taken or hasattr(model_cls, candidate):
        candidate += "_n"
    return candidate


def _word_for(q: Q | None) -> str:
    """A short name for a filter: published=True -> "published"."""
    if q is None or not q.children:
        return ""
    if len(q.children) == 1 and isinstance(q.children[0], Q) and not q.negated:
        return _word_for(q.children[0])  # .exclude(x=1) alone: Q(~Q(x=1))
    kwargs = _plain_kwargs(q)
    if kwargs and len(kwargs) == 1:
        key, value = kwargs[0]
        key = key.replace("__", "_")
        if value is True:
            return _identifier(key)
        if value is False:
            return _identifier(f"not_{key}")
        if isinstance(value, (str, int)) and len(str(value)) <= 20:
            return _identifier(f"{key}_{value}")
        return _identifier(key)
    if len(q.children) == 1 and isinstance(q.children[0], tuple) and q.negated:
        inner = Q()
        inner.children = list(q.children)
        return _identifier("not_" + _word_for(inner))
    return "filtered"


def _property_name(owner_cls: type | None, query: QueryRecord | None) -> str:
    """The model property the count ran in (``Author.book_total``), if any."""
    if owner_cls is None or query is None or not query.frames:
        return ""
    function = query.frames[0][2]
    attr = owner_cls.__dict__.get(function)
    if attr is None:
        for klass in owner_cls.__mro__[1:]:
            attr = klass.__dict__.get(function)
            if attr is not None:
                break
    if isinstance(attr, property) or type(attr).__name__ == "cached_property":
        return function
    return ""


