"""Count findings, from the ops, loads and queries a capture saw.

- ``count_in_loop`` / ``exists_in_loop`` / ``aggregate_in_loop``: ``.count()``,
  ``.exists()`` or ``.aggregate()`` on a related manager, once per row (also when
  hidden in a model property);
- ``annotation_ignored``: the rows already carry an annotation counting that
  relation, and the code runs a COUNT anyway;
- ``repeated_count``: several COUNTs on one table that differ only in WHERE;
- ``distinct_join_count``: ``Count()`` annotations over joins of more than one
  multi-valued relation (the rows fan out before they are counted);
- ``len_for_count``: a queryset fetched only to take its ``len()``;
- ``count_then_fetch`` / ``exists_then_fetch``: ``.count()`` or ``.exists()``,
  then the same queryset fetched;
- ``bool_for_exists``: ``if qs:`` fetching every row only to test for any.

Pure functions: no database access. The suggested code is written from the
``sql.Query`` objects the recorder kept (their WHERE trees, joins and
annotations), so it repeats the user's actual filters.
"""

from __future__ import annotations

import keyword
import re
from collections import defaultdict
from dataclasses import dataclass, field, fields
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db.models import Count, Exists, F, Q
from django.db.models.expressions import Col
from django.db.models.fields.reverse_related import ForeignObjectRel
from django.db.models.lookups import Lookup
from django.db.models.sql.query import Query
from django.db.models.sql.where import WhereNode

from ddt_perfpanels.analysis.code import render_value
from ddt_perfpanels.analysis.decompile import (
    _filter_call,
    _join_names,
    _path_steps,
    _plain_kwargs,
    _q_text,
    _relation_path,
    _Unreadable,
    _without_keys,
    prefix_q,
    q_expr,
    where_to_q,
)
from ddt_perfpanels.analysis.models import (
    _is_generic,
    _model,
    _model_named,
    _relation_info,
    _RelInfo,
)
from ddt_perfpanels.analysis.sql import preview
from ddt_perfpanels.analysis.thirdparty import method_label, third_party_label
from ddt_perfpanels.analysis.where import claim, owner_annotate_rewrite, owner_fix_from_suggestion
from ddt_perfpanels.conf import get_config
from ddt_perfpanels.recording.context import SINGLE_KINDS, Load, Op, QueryRecord
from ddt_perfpanels.recording.stack import format_site

KINDS = (
    "count_in_loop",
    "exists_in_loop",
    "aggregate_in_loop",
    "annotation_ignored",
    "repeated_count",
    "distinct_join_count",
    "len_for_count",
    "count_then_fetch",
    "bool_for_exists",
    "exists_then_fetch",
)

# repeated_count: COUNTs that differ only in the value of one field are
# written as one GROUP BY from this many distinct values on.
_GROUP_BY_MIN_VALUES = 3
# The key under which recording/orm.py keeps the querysets fetched by len()/bool().
FETCH_USES = "fetch_uses"


@dataclass
class CountFinding:
    kind: str  # one of KINDS
    model: str  # "app_label.Model" of the queryset to change
    field: str  # the relation counted ("books", "author__books"), "" when none
    count: int  # queries involved
    duration_ms: float
    origin: str  # file:line (or template:line) to change
    suggestion: str  # ready-to-paste code
    message: str
    access_site: str = ""  # where the counts ran, when not the origin
    attribute: str = ""  # the attribute to read instead (annotation name)
    rows: int = 0  # distinct rows counted one by one / rows fetched for len()
    imports: str = ""  # the imports the suggestion needs
    # The variable the suggestion names, guessed from the model ("books"); the
    # panel puts the real one in when it can read the line of code.
    variable: str = ""
    template: list[Any] | None = None  # [name, line] when a template ran the query
    sql: str = ""  # one example query
    stack: list[str] = field(default_factory=list)
    frames: list[list[Any]] = field(default_factory=list)  # [file, line, function]
    # distinct_join_count: {"relations": [...], "rows": n, "joined_rows": N or None,
    # "source": "estimate"|"counted"|"", "capped": bool}; filled in by the panel.
    fanout: dict[str, Any] | None = None
    # When a package's code is involved: analysis.thirdparty.third_party_label().
    third_party: dict[str, Any] | None = None
    # distinct_join_count: (alias, vendor, sql, params) of one query, so that the
    # join can be measured on demand. Never serialized.
    measure: tuple | None = field(default=None, repr=False, compare=False)
    # Where the fix goes when a framework object owns the queryset (analysis/where.py).
    where: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "measure"}
        data["stack"] = list(self.stack)
        data["frames"] = [list(f) for f in self.frames]
        data["fanout"] = dict(self.fanout) if self.fanout is not None else None
        return data


# -- models and relations ------------------------------------------------------------


# -- annotations already on the rows ---------------------------------------------------


class _Annotated:
    __slots__ = ("name", "kind", "path", "filter", "distinct")

    def __init__(self, name, kind, path, filter_text, distinct):
        self.name = name
        self.kind = kind  # "count" | "exists"
        self.path = path  # tuple of relation names from the annotated model
        self.filter = filter_text  # rendered Q, "" when none, None when unreadable
        self.distinct = distinct


def _inner_query(expr):
    if isinstance(expr, Query):
        return expr
    inner = getattr(expr, "query", None)
    return inner if isinstance(inner, Query) else None


def _is_outer(inner: Query, value) -> bool:
    if type(value).__name__ in ("ResolvedOuterRef", "OuterRef"):
        return True
    return isinstance(value, Col) and value.alias not in inner.alias_map


def _outer_prefix(outer: Query, value) -> tuple[str, ...]:
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
        steps = _path_steps(inner.model, names)
        back = [s.back for s in reversed(steps)]
        if not all(back):
            continue
        return (*_outer_prefix(outer, child.rhs), *back)
    raise _Unreadable("not correlated")


def _aggregate_filter(expr):
    """Count(filter=...) as a WhereNode (Django 6.1 wraps it in AggregateFilter)."""
    condition = expr.filter
    if condition is not None and not isinstance(condition, WhereNode):
        condition = getattr(condition, "condition", condition)
    return condition


def _annotation_fact(query: Query, name: str, expr, depth: int = 0) -> _Annotated | None:
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
        return _Annotated(name, "count", path, filter_text, bool(expr.distinct))
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
    def __init__(self, recorder):
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
        self._rels: dict[tuple, _RelInfo | None] = {}

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


def _site_key(query: QueryRecord):
    return query.site_key


def _duration(queries: list[QueryRecord]) -> float:
    return round(sum(q.duration_ms for q in queries), 3)


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


def _free_name(model_cls, name: str) -> str:
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


def _property_name(owner_cls, query: QueryRecord | None) -> str:
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


# -- per-row counts: count_in_loop, exists_in_loop, annotation_ignored -----------------


def _op_filter(op: Op, info: _RelInfo) -> Q | None:
    """The filter the code added on the related manager (``.filter(published=True)``)."""
    if op.query is None or op.query.model is not info.related:
        return None  # a many-to-many count on the through table: no filter possible
    try:
        return _without_keys(where_to_q(op.query, op.query.where), info.core)
    except _Unreadable:
        pass
    relation = op.relation
    q = Q()
    for method, args, kwargs in relation.filters if relation is not None else ():
        part = Q(*args, **kwargs)
        q &= ~part if method == "exclude" else part
    return q


class _Anchor:
    """Where the annotation goes: which queryset, which lookup, which variable."""

    __slots__ = ("load", "model_name", "manager", "prefix", "var", "prefetch", "to_attr")

    def __init__(self, load, model_name, manager, prefix, var, prefetch="", to_attr=None):
        self.load = load
        self.model_name = model_name
        self.manager = manager
        self.prefix = prefix  # lookup path from the anchor's model to the owner
        self.var = var  # the loop variable the value is read on
        self.prefetch = prefetch  # Prefetch("<path>") that loads the owner rows
        self.to_attr = to_attr


def _anchor(owner: Load | None, owner_cls) -> _Anchor:
    name = owner_cls.__name__ if owner_cls is not None else "Model"
    manager = owner.manager if owner is not None else "objects"
    if owner is None or owner.parent is None:
        return _Anchor(owner, name, manager, "", _var(name))
    chain = owner.segments()
    root = owner.root
    if all(s.kind in SINGLE_KINDS and s.via in ("select_related", "lazy") for s in chain):
        return _Anchor(root, root.model_name, root.manager, owner.path, _var(root.model_name))
    if owner.via == "prefetch":
        to_attr = next((t for p, t in root.prefetch if p == owner.path), None)
        return _Anchor(root, name, manager, "", _var(name), owner.path, to_attr)
    return _Anchor(owner, name, manager, "", _var(name))


def _prefetched_rows(owner: Load | None, accessor: str) -> tuple[bool, str | None]:
    """Whether the owner's queryset prefetched this relation, and into which to_attr."""
    if owner is None:
        return False, None
    path = f"{owner.path}__{accessor}" if owner.path else accessor
    for through, to_attr in owner.root.prefetch:
        if through == path:
            return True, to_attr
    for through, to_attr in owner.prefetch:
        if through == accessor:
            return True, to_attr
    return False, None


def _count_expr(lookup: str, q: Q | None) -> str:
    if q is None or not q.children:
        return f'Count("{lookup}")'
    return f'Count("{lookup}", filter={q_expr(prefix_q(q, lookup))})'


def _exists_expr(info: _RelInfo, outer: str, q: Q | None) -> str:
    related = info.related.__name__
    if info.generic:
        ct_field, id_field = info.generic
        owner = info.owner.__name__
        base = (
            f"{related}.objects.filter({ct_field}=ContentType.objects.get_for_model({owner}), "
            f'{id_field}=OuterRef("{outer}")'
        )
    else:
        base = f'{related}.objects.filter({info.back}=OuterRef("{outer}")'
    kwargs = _plain_kwargs(q) if q is not None and q.children else []
    if kwargs:
        base += ", " + ", ".join(f"{k}={render_value(v)}" for k, v in kwargs)
        base += ")"
    elif q is not None and q.children:
        base += f"){_filter_call(q)}"
    else:
        base += ")"
    return f"Exists({base})"


def _imports(*names: str) -> str:
    models = sorted({n for n in names if n != "ContentType"})
    lines = [f"from django.db.models import {', '.join(models)}"] if models else []
    if "ContentType" in names:
        lines.append("from django.contrib.contenttypes.models import ContentType")
    return "\n".join(lines)


class _RowGroup:
    __slots__ = ("kind", "ops", "queries", "owners", "owner", "info", "filter", "annotation")

    def __init__(self, kind, owner, info, q, annotation):
        self.kind = kind
        self.owner = owner
        self.info = info
        self.filter = q
        self.annotation = annotation  # (var, attribute, kind) already on the rows
        self.ops: list[Op] = []
        self.queries: list[QueryRecord] = []
        self.owners: set[int] = set()


def _existing_annotation(ctx, owner: Load | None, info: _RelInfo, q: Q | None, kind: str):
    """(variable, attribute, annotation kind) when the rows already carry one."""
    if owner is None:
        return None
    wanted_filter = _q_text(q)
    candidates = [(owner, (info.query_name,), _var(owner.model_name))]
    chain = owner.segments()
    if chain and all(s.kind in SINGLE_KINDS and s.via in ("select_related", "lazy") for s in chain):
        root = owner.root
        path = (*owner.path.split("__"), info.query_name)
        candidates.append((root, path, _var(root.model_name)))
    for load, path, var in candidates:
        for fact in ctx.facts(load):
            if fact.path != path:
                continue
            if fact.filter != (_q_text(prefix_q(q, "__".join(path))) if wanted_filter else ""):
                continue
            if kind == "count" and fact.kind != "count":
                continue
            return var, fact.name, fact.kind
    return None


def _per_row_groups(ctx) -> list[_RowGroup]:
    groups: dict[tuple, _RowGroup] = {}
    for op in ctx.recorder.ops:
        if op.relation is None or op.kind not in ("count", "exists", "aggregate"):
            continue
        queries = ctx.op_queries.get(op.id)
        if not queries:
            continue  # served from a prefetch cache: free
        owner_cls, info = ctx.relation(op)
        if info is None:
            continue
        owner = op.relation.owner
        q = _op_filter(op, info)
        if op.kind == "aggregate":
            if _aggregate_exprs(op, info.query_name, q) is None:
                continue  # an aggregate with no plain spelling: nothing sure to say
            annotation = None
        else:
            annotation = _existing_annotation(ctx, owner, info, q, op.kind)
        key = (
            op.kind,
            _aggregate_call(op),
            owner.root.id if owner is not None else op.relation.owner_name,
            owner.path if owner is not None else "",
            op.relation.accessor,
            _q_text(q),
            _site_key(queries[0]),
            annotation,
        )
        group = groups.get(key)
        if group is None:
            group = groups[key] = _RowGroup(op.kind, owner, info, q, annotation)
        group.ops.append(op)
        group.queries.extend(queries)
        group.owners.add(op.relation.owner_key)
    return list(groups.values())


def _manager_call(info: _RelInfo, q: Q | None, kind: str, op: Op | None = None) -> str:
    if kind == "aggregate" and op is not None:
        return f"{info.accessor}{_filter_call(q)}.aggregate({_aggregate_call(op)})"
    return f"{info.accessor}{_filter_call(q)}.{kind}()"


_AGGREGATES = ("Count", "Sum", "Avg", "Max", "Min", "StdDev", "Variance")


def _aggregate_text(expr, path: str, q: Q | None) -> tuple[str, str] | None:
    """(``Sum("enrollments__paid", filter=...)``, "Sum") for one aggregate of a
    related manager, seen from the owner (``path`` is the relation); None when
    it is not a plain aggregate over a field."""
    name = type(expr).__name__
    if name not in _AGGREGATES or type(expr).__module__ != "django.db.models.aggregates":
        return None
    sources = list(getattr(expr, "source_expressions", ()))  # the filter= comes apart
    if len(sources) != 1:
        return None
    source = sources[0]
    if type(source).__name__ == "Star":
        field = "pk"
    elif isinstance(source, F):
        field = source.name
    else:
        return None
    lookup = path if name == "Count" and field in ("pk", "id") else f"{path}__{field}"
    args = [f'"{lookup}"']
    own = getattr(expr, "filter", None)
    if own is not None and not isinstance(own, Q):
        return None
    combined = (q or Q()) & own if own is not None else q
    if combined is not None and combined.children:
        args.append(f"filter={q_expr(prefix_q(combined, path))}")
    if getattr(expr, "distinct", False):
        args.append("distinct=True")
    default = getattr(expr, "default", None)
    if default is not None:
        if hasattr(default, "resolve_expression"):
            return None
        args.append(f"default={render_value(default)}")
    return f"{name}({', '.join(args)})", name


def _aggregate_exprs(op: Op, path: str, q: Q | None) -> list[tuple[str, str, str]] | None:
    """[(alias, code, class name)] for each aggregate of the call, or None."""
    items = []
    for alias, expr in op.aggregates.items():
        text = _aggregate_text(expr, path, q)
        if text is None:
            return None
        items.append((alias, *text))
    return items or None


def _aggregate_call(op: Op) -> str:
    """The aggregate() call as the code wrote it: ``total=Sum("paid")``."""
    if op.kind != "aggregate":
        return ""
    parts = []
    for alias, expr in op.aggregates.items():
        sources = list(getattr(expr, "source_expressions", ()))
        source = sources[0] if len(sources) == 1 else None
        if isinstance(source, F):
            args = [f'"{source.name}"']
        else:
            args = ['"*"' if type(source).__name__ == "Star" else "..."]
        own = getattr(expr, "filter", None)
        if isinstance(own, Q):
            args.append(f"filter={q_expr(own)}")
        if getattr(expr, "distinct", False):
            args.append("distinct=True")
        parts.append(f"{alias}={type(expr).__name__}({', '.join(args)})")
    return ", ".join(parts)


def _annotation_ignored(ctx, group: _RowGroup) -> CountFinding:
    var, attribute, fact_kind = group.annotation
    info = group.info
    owner_var = _var(info.owner.__name__)
    read = f"{var}.{attribute}"
    if group.kind == "exists" and fact_kind == "count":
        read = f"{var}.{attribute} > 0"
    call = f"{owner_var}.{_manager_call(info, group.filter, group.kind)}"
    first = group.queries[0]
    n = len(group.queries)
    queries_text = "1 query" if n == 1 else f"{n} queries"
    message = (
        f"{info.owner.__name__} rows already carry {attribute} (annotated in SQL), "
        f"but {call} ran {queries_text} anyway. Read {read} instead."
    )
    prop = _property_name(info.owner, first)
    if prop:
        message += (
            f" The count runs in the property {info.owner.__name__}.{prop}: let it return "
            f"the annotation when the row has one."
        )
    return _finding(
        ctx,
        "annotation_ignored",
        group,
        model=group.owner.model if group.owner is not None else info.owner._meta.label,
        suggestion=read,
        message=message,
        attribute=attribute,
        origin=first.site,
    )


def _per_row_fix(group: _RowGroup) -> tuple[str, str, str, str]:
    """(suggestion, attribute, what to read instead, imports)."""
    info = group.info
    anchor = _anchor(group.owner, info.owner)
    lookup = f"{anchor.prefix}__{info.query_name}" if anchor.prefix else info.query_name
    word = _word_for(group.filter)
    stem = "_".join(p for p in (anchor.prefix.replace("__", "_"), word, info.query_name) if p)
    if group.kind == "exists":
        outer = anchor.prefix or "pk"
        expr = _exists_expr(info, outer, group.filter)
        pairs = [(f"has_{stem}", expr)]
        names = ["Exists", "OuterRef"] + (["Q"] if "Q(" in expr else [])
        if info.generic:
            names.append("ContentType")
    elif group.kind == "aggregate":
        items = _aggregate_exprs(group.ops[0], lookup, group.filter) or []
        pairs = [(f"{stem}_{alias.replace('__', '_')}", code) for alias, code, _name in items]
        names = [name for _alias, _code, name in items]
        names += ["Q"] if any("Q(" in code for _alias, code, _name in items) else []
    else:
        pairs = [(f"{stem}_count", _count_expr(lookup, group.filter))]
        names = ["Count"] + (["Q"] if group.filter is not None and group.filter.children else [])
    anchor_cls = info.owner if not anchor.prefix else _model(anchor.load.model)
    attributes = []
    for name, _expr in pairs:
        attribute = _free_name(anchor_cls, _identifier(name))
        while attribute in attributes:
            attribute += "_n"
        attributes.append(attribute)
    attribute = attributes[0]
    annotate = ".annotate(" + ", ".join(
        f"{name}={expr}" for name, (_n, expr) in zip(attributes, pairs, strict=False)
    ) + ")"
    if anchor.prefetch:
        root = anchor.load
        to_attr = f', to_attr="{anchor.to_attr}"' if anchor.to_attr else ""
        inner = f"{anchor.model_name}.{anchor.manager}{annotate}"
        added = f'Prefetch("{anchor.prefetch}", queryset={inner}{to_attr})'
        suggestion = _root_with(root, added) or (
            f"{root.model_name}.{root.manager}.prefetch_related({added})"
        )
        names.append("Prefetch")
    else:
        suggestion = f"{anchor.model_name}.{anchor.manager}{annotate}"
        if anchor.load is not None:
            from ddt_perfpanels.analysis.written import written_queryset

            # The queryset as the code wrote it (filters, select_related...), annotated.
            code, complete = written_queryset(anchor.load)
            if complete:
                suggestion = code.removesuffix(".all()") + annotate
    read = ", ".join(f"{anchor.var}.{name}" for name in attributes)
    return suggestion, attribute, read, _imports(*names)


def _root_with(root: Load, added: str) -> str:
    """The root queryset as written, its Prefetch of the same lookup replaced by
    ``added`` ("" when the root cannot be written back)."""
    from ddt_perfpanels.analysis import written

    base, complete = written._base(root)
    select, prefetch, eager_complete = written._existing_eager(root)
    if not (complete and eager_complete):
        return ""
    through = added.split('"')[1]
    kept = [text for text, (t, _a) in zip(prefetch, root.prefetch, strict=False) if t != through]
    return written._render_eager(base, select, [*kept, added], root.select_related is True)


def _per_row_finding(ctx, group: _RowGroup) -> CountFinding:
    info = group.info
    owner_name = info.owner.__name__
    owner_var = _var(owner_name)
    call = f"{owner_var}.{_manager_call(info, group.filter, group.kind, group.ops[0])}"
    kind = f"{group.kind}_in_loop"
    n = len(group.queries)
    first = group.queries[0]
    rows = len(group.owners)
    prefetched, to_attr = _prefetched_rows(group.owner, info.accessor)
    prefetched = prefetched or any(op.relation.prefetched for op in group.ops)
    suggestion, attribute, read, imports = _per_row_fix(group)
    verb = {"count": "counted", "exists": "checked for", "aggregate": "aggregated"}[group.kind]
    message = (
        f"{n} queries {verb} {owner_name}.{info.accessor} one row at a time "
        f"({rows} rows): {call} runs a query per row. "
    )
    # len()/bool() of prefetched rows answer a count or an exists, not an aggregate.
    unfiltered = group.kind != "aggregate" and (
        group.filter is None or not group.filter.children
    )
    if prefetched and to_attr and unfiltered:
        fn = "len" if group.kind == "count" else "bool"
        suggestion, attribute, imports = f"{fn}({owner_var}.{to_attr})", to_attr, ""
        message += (
            f"The rows are already prefetched into {owner_var}.{to_attr}: "
            f"{suggestion} costs nothing."
        )
    elif prefetched and unfiltered:
        fn = "len" if group.kind == "count" else "bool"
        suggestion, attribute, imports = f"{fn}({owner_var}.{info.accessor}.all())", "", ""
        message += f"The rows are already prefetched: {suggestion} costs nothing."
    else:
        what = {"count": "count", "exists": "check", "aggregate": "compute"}[group.kind]
        message += f"Let the database {what} them all in one query: {suggestion}, then read {read}."
        if prefetched and group.kind == "aggregate":
            message += " (The rows are prefetched, but .aggregate() always runs a query.)"
        elif prefetched:
            message += (
                f" (The rows are prefetched, but {info.accessor}{_filter_call(group.filter)} "
                "runs a new query: a .filter() on a prefetched manager does.)"
            )
    prop = _property_name(info.owner, first)
    if prop:
        message += (
            f" The query runs in the property {owner_name}.{prop}: have it return "
            f"the annotation when the row carries it, and fall back to the query."
        )
    anchor_load = group.owner.root if group.owner is not None else None
    origin = anchor_load.first_query.site if anchor_load and anchor_load.first_query else ""
    finding = _finding(
        ctx,
        kind,
        group,
        model=(anchor_load.model if anchor_load is not None else info.owner._meta.label),
        suggestion=suggestion,
        message=message,
        attribute=attribute,
        origin=origin or first.site,
        imports=imports,
    )
    fixed = _anchor(group.owner, info.owner).load
    finding.where = owner_fix_from_suggestion(ctx.recorder, fixed, suggestion)
    claim(finding)
    return finding


def _from_queries(ctx, kind: str, queries: list[QueryRecord], example=None, **values):
    """A finding about these queries, shown with the first one (or ``example``)."""
    example = example or queries[0]
    values.setdefault("third_party", third_party_label(None, example))
    return CountFinding(
        kind=kind,
        count=len(queries),
        duration_ms=_duration(queries),
        sql=preview(example.sql, ctx.sql_chars),
        stack=example.stack,
        frames=[list(f) for f in example.frames],
        **values,
    )


def _finding(ctx, kind, group, **values) -> CountFinding:
    info = group.info
    path = info.query_name
    if group.owner is not None and group.owner.path:
        path = f"{group.owner.path}__{info.query_name}"
    values.setdefault("access_site", group.queries[0].site)
    root = group.owner.root if group.owner is not None else None
    values.setdefault(
        "third_party",
        third_party_label(root, root.first_query if root else None, group.queries[0]),
    )
    return _from_queries(ctx, kind, group.queries, field=path, rows=len(group.owners), **values)


def _per_row_findings(ctx) -> list[CountFinding]:
    findings = []
    for group in _per_row_groups(ctx):
        if group.annotation is not None:
            findings.append(_annotation_ignored(ctx, group))
        elif len(group.queries) >= ctx.min_queries and len(group.owners) >= 2:
            findings.append(_per_row_finding(ctx, group))
    return findings


# -- a row's method that queries ----------------------------------------------------------


def _row_method_findings(ctx) -> tuple[list[CountFinding], set[int]]:
    """``page.is_locked()`` running an ``.exists()`` (not on a related manager)
    for each row of one queryset: one finding at the method (and its ops)."""
    from ddt_perfpanels.analysis.sql import FINGERPRINTS
    from ddt_perfpanels.recording.stack import short_path

    groups: dict[tuple, list[tuple[Op, list[QueryRecord]]]] = {}
    for op in ctx.recorder.ops:
        queries = ctx.op_queries.get(op.id)
        if op.method is None or not queries:
            continue
        owner, _row, qualname, filename, line = op.method
        key = (op.kind, owner.root.id, owner.path, qualname, filename, line)
        groups.setdefault(key, []).append((op, queries))
    findings = []
    reported: set[int] = set()
    for (kind, _root, _path, qualname, filename, line), entries in groups.items():
        queries = [q for _op, qs in entries for q in qs]
        rows = {op.method[1] for op, _qs in entries}
        shapes = {FINGERPRINTS[q.sql] for q in queries}
        if len(queries) < ctx.min_queries or len(rows) < 2 or len(shapes) != 1:
            continue
        reported.update(op.id for op, _qs in entries)
        owner = entries[0][0].method[0]
        root = owner.root
        per_row = len(queries) / len(rows)
        times = ""
        if per_row > 1:
            times = f" ({per_row:g} per row: it is called more than once for each)"
        where = root.first_query.site if root.first_query is not None else ""
        message = (
            f"{qualname}() runs a .{kind}() query for each {owner.model_name} row: "
            f"{len(queries)} queries for {len(rows)} rows{times}. Compute it for all the rows "
            f"in one query, as an {'Exists' if kind == 'exists' else 'Count'}() annotation "
            f"on the queryset{f' evaluated at {where}' if where else ''}, and have the method "
            "read it when the row has it."
        )
        findings.append(
            _from_queries(
                ctx,
                "exists_in_loop" if kind == "exists" else "count_in_loop",
                queries,
                model=root.model,
                field=f"{qualname}()",
                origin=f"{short_path(filename)}:{line}",
                access_site=queries[0].site,
                suggestion="",
                message=message,
                rows=len(rows),
                third_party=method_label(filename, line, qualname),
            )
        )
    return findings, reported


# -- count_then_fetch ----------------------------------------------------------------------


# (ran, fix, what the fix does) for Python code and for a template.
_THEN_FETCH_TEXT = {
    ("count", False): ("{var}.count()", "len({var})", "count the rows"),
    ("count", True): ("{{{{ {var}.count }}}}", "{{{{ {var}|length }}}}", "count the rows"),
    ("exists", False): ("{var}.exists()", "if {var}:", "test the rows"),
    ("exists", True): ("{{% if {var}.exists %}}", "{{% if {var} %}}", "test the rows"),
}


def _count_then_fetch(ctx, kind: str = "count") -> tuple[list[CountFinding], set[int]]:
    loads_by_query: dict[int, list[Load]] = defaultdict(list)
    for load in ctx.recorder.loads:
        if load.query is not None and load.via == "root":
            loads_by_query[id(load.query)].append(load)
    groups: dict[tuple, list[tuple[Op, QueryRecord, Load]]] = {}
    for op in ctx.recorder.ops:
        if op.kind != kind or op.relation is not None or op.query is None:
            continue
        queries = ctx.op_queries.get(op.id)
        if not queries:
            continue
        fetch = next(
            (
                load
                for load in loads_by_query.get(id(op.query), ())
                if load.query is op.query and load.id > op.id and load.first_query is not None
            ),
            None,
        )
        if fetch is None:
            continue
        key = (op.model, _site_key(queries[0]), _site_key(fetch.first_query))
        groups.setdefault(key, []).append((op, queries[0], fetch))
    findings = []
    used: set[int] = set()
    for entries in groups.values():
        op, count_query, fetch = entries[0]
        used.update(o.id for o, _, _ in entries)
        queries = [q for _, q, _ in entries]
        var = _plural(fetch.model_name)
        ran, fix, does = _THEN_FETCH_TEXT[kind, count_query.template is not None]
        instead, suggestion = ran.format(var=var), fix.format(var=var)
        message = (
            f"{instead} ran {'a COUNT' if kind == 'count' else 'an EXISTS'} query at "
            f"{count_query.site}, "
            f"then the same {fetch.model_name} queryset was fetched at "
            f"{fetch.first_query.site}. Fetch once and {does} in memory: {suggestion} "
            "(it fetches the rows, and the loop reuses them)."
        )
        findings.append(
            _from_queries(
                ctx,
                f"{kind}_then_fetch",
                queries,
                model=op.model,
                field="",
                origin=count_query.site,
                suggestion=suggestion,
                message=message,
                access_site=fetch.first_query.site,
                variable=var,
                template=list(count_query.template) if count_query.template else None,
                rows=fetch.rows,
            )
        )
    return findings, used


# -- repeated_count --------------------------------------------------------------------------


def _single_valued_query(query: Query) -> bool:
    """A plain filter on one table, joins through single-valued relations only."""
    if query.is_sliced or query.distinct or query.combinator or query.group_by is not None:
        return False
    if query.extra or query.annotation_select:
        return False
    for alias, join in query.alias_map.items():
        if getattr(join, "parent_alias", None) is None or not query.alias_refcount.get(alias):
            continue
        f = join.join_field
        if f.many_to_many or f.one_to_many or _is_generic(f):
            return False
        if isinstance(f, ForeignObjectRel) and not f.one_to_one:
            return False
    return True


def _repeated_counts(ctx, exclude: set[int]) -> list[CountFinding]:
    groups: dict[tuple, list[tuple[Op, list[QueryRecord], Q]]] = {}
    for op in ctx.recorder.ops:
        if op.kind != "count" or op.relation is not None or op.id in exclude:
            continue
        queries = ctx.op_queries.get(op.id)
        if not queries or op.query is None or not _single_valued_query(op.query):
            continue
        try:
            q = where_to_q(op.query, op.query.where)
        except _Unreadable:
            continue
        groups.setdefault((queries[0].alias, op.model), []).append((op, queries, q))
    findings = []
    for (_alias, label), entries in groups.items():
        queries = [query for _, qs, _ in entries for query in qs]
        if len(queries) < ctx.repeated_min:
            continue
        findings.append(_repeated_finding(ctx, label, entries, queries))
    return findings


def _common_lookups(filters: list[Q]) -> list[tuple[str, Any]]:
    """Top-level AND lookups that every filter has (they go into .filter())."""
    if any(q.negated or (q.connector != "AND" and len(q.children) > 1) for q in filters):
        return []
    first = [c for c in filters[0].children if isinstance(c, tuple)]
    common = []
    for child in first:
        text = f"{child[0]}={render_value(child[1])}"
        if all(
            any(isinstance(c, tuple) and f"{c[0]}={render_value(c[1])}" == text for c in q.children)
            for q in filters[1:]
        ):
            common.append(child)
    return common


def _and_q(lookups: list[tuple[str, Any]]) -> Q:
    q = Q()
    q.children = list(lookups)
    return q


def _group_by_field(model_cls, filters: list[Q]) -> str | None:
    """The one field whose value alone tells the COUNTs apart, if there is one."""
    all_kwargs = [_plain_kwargs(q) for q in filters]
    if any(k is None or not k for k in all_kwargs):
        return None
    keys = {tuple(sorted(k for k, _ in kwargs)) for kwargs in all_kwargs}
    if len(keys) != 1:
        return None
    varying = [
        key
        for key in next(iter(keys))
        if len({render_value(dict(kwargs)[key]) for kwargs in all_kwargs}) > 1
    ]
    if len(varying) != 1 or len(filters) < _GROUP_BY_MIN_VALUES:
        return None
    key = varying[0]
    model = model_cls
    for part in key.split("__"):
        try:
            f = model._meta.get_field(part)
        except Exception:
            return None  # a lookup (pages__gt): no GROUP BY spelling
        model = f.related_model if f.is_relation else None
        if model is None and part != key.split("__")[-1]:
            return None
    return key


def _repeated_finding(ctx, label, entries, queries) -> CountFinding:
    model_cls = _model(label)
    model_name = model_cls.__name__ if model_cls is not None else label.split(".")[-1]
    manager = "objects"
    if model_cls is not None:
        manager = getattr(model_cls._default_manager, "name", None) or "objects"
    pk = model_cls._meta.pk.name if model_cls is not None else "pk"
    base = f"{model_name}.{manager}"
    distinct: dict[str, Q] = {}
    for _, _, q in entries:
        distinct.setdefault(_q_text(q), q)
    filters = list(distinct.values())
    sites = []
    for query in queries:
        if query.site not in sites:
            sites.append(query.site)
    where = f"at {sites[0]}" if len(sites) == 1 else f"from {len(sites)} places"
    first = queries[0]
    imports = _imports("Count")
    group_field = _group_by_field(model_cls, filters) if model_cls is not None else None
    if len(filters) == 1:
        q = filters[0]
        suggestion = (
            f"{_identifier(_plural(model_name)[:30])}_count = {base}{_filter_call(q)}.count()"
        )
        message = (
            f"The same COUNT on {model_name} ran {len(queries)} times {where}. "
            f"Count once and reuse the value: {suggestion}"
        )
        imports = ""
    elif group_field is not None:
        common = _common_lookups(filters)
        common_q = _and_q([(k, v) for k, v in common if k != group_field])
        values = [dict(_plain_kwargs(q) or [])[group_field] for q in filters]
        shown = ", ".join(render_value(v) for v in values[:5]) + (
            ", ..." if len(values) > 5 else ""
        )
        suggestion = (
            f"counts = dict({base}{_filter_call(common_q)}.order_by()"
            f'.values_list("{group_field}").annotate(n=Count("{pk}")))'
        )
        message = (
            f"{len(queries)} COUNT queries on {model_name} {where}, one per {group_field} "
            f"({shown}). "
            f"One GROUP BY counts them all: {suggestion}, then counts.get(value, 0)."
        )
    else:
        common = _common_lookups(filters)
        common_texts = {f"{k}={render_value(v)}" for k, v in common}
        items = []
        names: set[str] = set()
        for q in filters:
            rest = Q()
            rest.connector, rest.negated = q.connector, q.negated
            rest.children = [
                c
                for c in q.children
                if not (isinstance(c, tuple) and f"{c[0]}={render_value(c[1])}" in common_texts)
            ]
            # Never a field's name: a later filter=Q(published=...) would
            # resolve "published" to the aggregate instead of the column.
            name = _free_name(model_cls, f"{_word_for(rest)}_count" if rest.children else "total")
            candidate, n = name, 2
            while candidate in names:
                candidate, n = f"{name}_{n}", n + 1
            names.add(candidate)
            if rest.children:
                items.append(f'{candidate}=Count("{pk}", filter={q_expr(rest)})')
            else:
                items.append(f'{candidate}=Count("{pk}")')
        common_q = _and_q(common)
        head = f"{base}{_filter_call(common_q)}.aggregate("
        one_line = head + ", ".join(items) + ")"
        if len(one_line) <= 100:
            suggestion = one_line
        else:
            suggestion = head + "\n" + "".join(f"    {item},\n" for item in items) + ")"
        imports = _imports("Count", *(["Q"] if "Q(" in suggestion else []))
        message = (
            f"{len(queries)} COUNT queries on {model_name} {where} differ only in their "
            "WHERE. One .aggregate() with a filtered Count() for each returns them all "
            "in one query."
        )
    return _from_queries(
        ctx,
        "repeated_count",
        queries,
        model=label,
        field=group_field or "",
        origin=first.site,
        suggestion=suggestion,
        message=message,
        access_site=", ".join(sites[:5]),
        rows=len(filters),
        imports=imports,
    )


# -- distinct_join_count -----------------------------------------------------------------------


def _multi_valued_paths(query: Query) -> list[str]:
    """Each multi-valued relation the query joins, as a lookup path."""
    paths: list[str] = []
    for alias, join in query.alias_map.items():
        if getattr(join, "parent_alias", None) is None or not query.alias_refcount.get(alias):
            continue
        f = join.join_field
        if not (f.many_to_many or f.one_to_many or _is_generic(f)):
            continue
        try:
            names, _ = _join_names(query, alias)
        except _Unreadable:
            continue
        path = "__".join(names)
        if path and path not in paths:
            paths.append(path)
    return paths


def _subquery_count(model_cls, fact: _Annotated, q: Q | None) -> str | None:
    """Count(path) as a correlated Subquery: no join in the outer query."""
    steps = _path_steps(model_cls, fact.path)
    if any(s.generic for s in steps[1:]):
        return None
    target = steps[-1].target
    count = 'Count("pk", distinct=True)' if fact.distinct and len(steps) > 1 else 'Count("pk")'
    if steps[0].generic:
        field = model_cls._meta.get_field(fact.path[0])
        ct, oid = field.content_type_field_name, field.object_id_field_name
        where = (
            f'{ct}=ContentType.objects.get_for_model({model_cls.__name__}), {oid}=OuterRef("pk")'
        )
        group = oid
    else:
        back = "__".join(s.back for s in reversed(steps))
        if not all(s.back for s in steps):
            return None
        where = f'{back}=OuterRef("pk")'
        group = back
    if q is not None and q.children:
        kwargs = _plain_kwargs(q)
        if kwargs:
            where += ", " + ", ".join(f"{k}={render_value(v)}" for k, v in kwargs)
            extra = ""
        else:
            extra = _filter_call(q)
    else:
        extra = ""
    inner = (
        f"{target.__name__}.objects.filter({where}){extra}.order_by()"
        f'.values("{group}").annotate(c={count}).values("c")'
    )
    return f"Coalesce(Subquery({inner}), 0)"


def _strip_prefix(q: Q, prefix: str) -> Q | None:
    """The filter of Count("books", filter=Q(books__x=1)) seen from Book (x=1)."""
    out = Q()
    out.connector, out.negated = q.connector, q.negated
    for child in q.children:
        if isinstance(child, Q):
            sub = _strip_prefix(child, prefix)
            if sub is None:
                return None
            out.children.append(sub)
            continue
        key, value = child
        if not key.startswith(prefix + "__"):
            return None
        if isinstance(value, F):
            if not value.name.startswith(prefix + "__"):
                return None
            value = F(value.name[len(prefix) + 2 :])
        out.children.append((key[len(prefix) + 2 :], value))
    return out


def _distinct_join_findings(ctx) -> list[CountFinding]:
    groups: dict[tuple, list[Load]] = {}
    for load in ctx.recorder.loads:
        query = load.query
        if query is None or load.first_query is None or not query.annotation_select:
            continue
        counts = [
            (name, expr)
            for name, expr in query.annotation_select.items()
            if isinstance(expr, Count)
        ]
        if not counts:
            continue
        multi = _multi_valued_paths(query)
        if len(multi) < 2:
            continue
        key = (load.model, tuple(multi), tuple(n for n, _ in counts), _site_key(load.first_query))
        groups.setdefault(key, []).append(load)
    findings = []
    for (label, multi, _names, _site), loads in groups.items():
        finding = _distinct_join_finding(ctx, label, list(multi), loads)
        if finding is not None:
            findings.append(finding)
    return findings


def _as_subquery(model_cls, query: Query, expr, fact: _Annotated) -> str | None:
    """One Count() annotation rewritten as a correlated Subquery, or None."""
    q = None
    if fact.filter:
        try:
            q = _strip_prefix(where_to_q(query, _aggregate_filter(expr)), "__".join(fact.path))
        except _Unreadable:
            return None
        if q is None:
            return None  # the filter reaches outside the counted relation
    try:
        return _subquery_count(model_cls, fact, q)
    except (_Unreadable, FieldDoesNotExist):
        return None


def _distinct_join_finding(ctx, label, multi, loads) -> CountFinding | None:
    load = loads[0]
    query = load.query
    model_cls = _model(label)
    if model_cls is None:
        return None
    queries = [q for item in loads for q in ctx.load_queries.get(item.id, [])[:1]]
    rewritten: dict[str, str] = {}
    kept: list[str] = []
    wrong: list[str] = []
    paths: list[str] = []
    # .values("x").annotate(...) groups by x, not by row: no per-row subquery.
    per_row = not query.values_select
    for name, expr in query.annotation_select.items():
        if not isinstance(expr, Count):
            if getattr(expr, "contains_aggregate", False):
                kept.append(name)
            continue
        fact = _annotation_fact(query, name, expr)
        if fact is None:
            kept.append(name)
            continue
        paths.append("__".join(fact.path))
        if not fact.distinct:
            wrong.append(name)
        text = _as_subquery(model_cls, query, expr, fact) if per_row else None
        if text is None:
            kept.append(name)
        else:
            rewritten[name] = text
    if not paths:
        return None
    base = f"{model_cls.__name__}.{load.manager}.annotate("
    suggestion = base + "\n" + "".join(f"    {n}={t},\n" for n, t in rewritten.items()) + ")"
    if not rewritten:
        suggestion = ""
    names = ["Count", "OuterRef", "Subquery"]
    if "ContentType" in suggestion:
        names.append("ContentType")
    imports = _imports(*names) + "\nfrom django.db.models.functions import Coalesce"
    joined = " × ".join(multi)
    if wrong:
        problem = (
            f"The counts {', '.join(wrong)} are wrong: the joins of {joined} multiply the "
            "rows before they are counted."
        )
    else:
        problem = (
            f"Correct but costly: the joins of {joined} multiply the rows, then "
            "COUNT(DISTINCT ...) throws the copies away."
        )
    message = (
        f"{model_cls.__name__} annotations count {', '.join(paths)} over joins of "
        f"{len(multi)} multi-valued relations. {problem} "
        + (
            "Count each relation in its own subquery: no join, no DISTINCT."
            if rewritten
            else "Count each relation in its own subquery."
        )
    )
    if kept:
        message += f" (Left as they are: {', '.join(kept)}.)"
    first = load.first_query
    # The fix goes where the code called annotate(), not where a template or a
    # loop evaluated the queryset.
    origin = format_site(load.annotate_frames, None) if load.annotate_frames else first.site
    finding = _from_queries(
        ctx,
        "distinct_join_count",
        queries,
        first,
        model=label,
        field=", ".join(paths),
        origin=origin,
        access_site=first.site if origin != first.site else "",
        suggestion=suggestion,
        message=message,
        rows=sum(item.rows for item in loads),
        imports=imports if rewritten else "",
        fanout={
            "relations": list(multi),
            "rows": load.rows,
            "joined_rows": None,
            "source": "",
            "capped": False,
        },
        measure=(first.alias, first.vendor, first.sql, first.params),
    )
    # The owner's class wrote the annotate(): the same call, its counts rewritten.
    finding.where = owner_annotate_rewrite(ctx.recorder, load, rewritten)
    claim(finding)
    return finding


# -- len_for_count -----------------------------------------------------------------------------


def _unread_fetches(ctx, by_len: bool):
    """Querysets fetched by len() (``by_len``) or by bool() alone, whose rows
    nothing read."""
    uses = ctx.recorder.extras.get(FETCH_USES)
    for use in uses.entries if uses is not None else ():
        load = use.load
        # One len() (or one bool()) and nothing else: a second len(), a bool() or
        # a count() on the same fetched rows would each be a query after the change.
        if use.used or use.reads != 1 or use.len_calls != (1 if by_len else 0):
            continue
        if load.rows < 1:
            continue
        if load.first_query is not None:
            yield load


def _len_for_count(ctx) -> list[CountFinding]:
    groups: dict[tuple, list[Load]] = {}
    for load in _unread_fetches(ctx, by_len=True):
        if load.op == "get":
            continue
        relation = load.relation if load.via == "lazy" else None
        owner = relation.owner if relation is not None else None
        key = (
            load.model,
            relation.accessor if relation is not None else "",
            owner.root.id if owner is not None else 0,
            owner.path if owner is not None else "",
            _site_key(load.first_query),
        )
        groups.setdefault(key, []).append(load)
    findings = []
    for loads in groups.values():
        finding = _len_finding(ctx, loads)
        if finding is not None:
            findings.append(finding)
    return findings


def _load_queries(ctx, loads: list[Load]) -> list[QueryRecord]:
    """The queries of these loads and of the prefetches they ran."""
    ids = {load.id for load in loads}
    queries = [q for load in loads for q in ctx.load_queries.get(load.id, ())]
    for load in ctx.recorder.loads:
        if load.via == "prefetch" and load.parent is not None and load.parent.id in ids:
            queries.extend(ctx.load_queries.get(load.id, ()))
    return queries


def _len_finding(ctx, loads: list[Load]) -> CountFinding | None:
    load = loads[0]
    first = load.first_query
    queries = _load_queries(ctx, loads) or [first]
    rows = sum(item.rows for item in loads)
    relation = load.relation if load.via == "lazy" else None
    if relation is not None and relation.kind not in SINGLE_KINDS:
        owner = relation.owner
        if owner is not None:
            owner_cls = _model(owner.model)
        else:
            owner_cls = _model_named(relation.owner_name, load.model)
        info = _relation_info(owner_cls, relation.accessor)
        if info is None:
            return None
        owner_var = _var(info.owner.__name__)
        instead = f"len({owner_var}.{relation.accessor}.all())"
        group = _RowGroup("count", owner, info, None, None)
        group.queries = queries
        group.owners = {item.owner_key for item in loads}
        if len(loads) >= ctx.min_queries and len(group.owners) >= 2:
            suggestion, attribute, read, imports = _per_row_fix(group)
            message = (
                f"{instead} fetched {rows} {load.model_name} rows over {len(loads)} queries, "
                f"one per {info.owner.__name__}, only to count them. Let the database count: "
                f"{suggestion}, then read {read}."
            )
        else:
            suggestion = f"{owner_var}.{relation.accessor}.count()"
            attribute, imports = "", ""
            message = (
                f"{instead} fetched {rows} {load.model_name} rows only to count them: "
                f"{suggestion} asks the database for the number."
            )
        return _finding(
            ctx,
            "len_for_count",
            group,
            model=(owner.root.model if owner is not None else info.owner._meta.label),
            suggestion=suggestion,
            message=message,
            attribute=attribute,
            origin=first.site,
            imports=imports,
        )
    var = _plural(load.model_name)
    if first.template is not None:
        suggestion = f"{{{{ {var}.count }}}}"
        message = (
            f"{{{{ {var}|length }}}} fetched {rows} {load.model_name} rows only to count them. "
            f"{suggestion} asks the database for the number instead."
        )
    else:
        # Written from the code: the panel puts in the expression that the line
        # passes to len(), never a rendering of the runtime queryset.
        suggestion = f"{var}.count()"
        message = (
            f"len({var}) fetched {rows} {load.model_name} rows only to count them. "
            f"{suggestion} asks the database for the number instead."
        )
    return _rows_finding(ctx, "len_for_count", queries, load, suggestion, message, rows, var)


def _rows_finding(ctx, kind, queries, load: Load, suggestion, message, rows, var) -> CountFinding:
    """A finding about rows one queryset fetched (the fix is written there)."""
    first = load.first_query
    assert first is not None
    return _from_queries(
        ctx,
        kind,
        queries,
        first,
        model=load.model,
        field="",
        origin=first.site,
        suggestion=suggestion,
        message=message,
        rows=rows,
        variable=var,
        template=list(first.template) if first.template else None,
    )


# -- bool_for_exists -----------------------------------------------------------------------


def _bool_for_exists(ctx) -> list[CountFinding]:
    """``if books:`` (or ``{% if books %}``) fetched the rows, and nothing read them."""
    groups: dict[tuple, list[Load]] = {}
    for load in _unread_fetches(ctx, by_len=False):
        if load.via != "root" or load.op != "iterate" or load.query is None:
            continue
        groups.setdefault((load.model, _site_key(load.first_query)), []).append(load)
    findings = []
    for loads in groups.values():
        load = loads[0]
        first = load.first_query
        var = _plural(load.model_name)
        rows = sum(item.rows for item in loads)
        if first.template is not None:
            suggestion = f"{{% if {var}.exists %}}"
            instead = f"{{% if {var} %}}"
        else:
            try:
                q = where_to_q(load.query, load.query.where)
                suggestion = f"{load.model_name}.{load.manager}{_filter_call(q)}.exists()"
            except _Unreadable:
                suggestion = f"{var}.exists()"
            instead = f"if {var}:"
        message = (
            f"{instead} fetched {rows} {load.model_name} rows only to test whether there "
            f"is one, and nothing read them. {suggestion} asks the database for one row."
        )
        queries = _load_queries(ctx, loads) or [first]
        findings.append(
            _rows_finding(ctx, "bool_for_exists", queries, load, suggestion, message, rows, var)
        )
    return findings


# -- entry points ----------------------------------------------------------------------------


def find_count_findings(recorder) -> list[CountFinding]:
    ctx = _Context(recorder)
    findings: list[CountFinding] = []
    counted_then_fetched: set[int] = set()

    def detect(name, detector, *args):
        # One detector failing never hides the others' findings.
        try:
            return detector(ctx, *args)
        except Exception as exc:
            recorder.internal_error(f"counts: {name}", exc)
            return []

    findings.extend(detect("count_in_loop", _per_row_findings))
    fetched = detect("count_then_fetch", _count_then_fetch)
    if fetched:
        findings.extend(fetched[0])
        counted_then_fetched = fetched[1]
    in_methods = detect("row_method", _row_method_findings)
    if in_methods:
        findings.extend(in_methods[0])
        counted_then_fetched = counted_then_fetched | in_methods[1]
    findings.extend(detect("repeated_count", _repeated_counts, counted_then_fetched))
    findings.extend(detect("distinct_join_count", _distinct_join_findings))
    findings.extend(detect("len_for_count", _len_for_count))
    findings.extend(detect("bool_for_exists", _bool_for_exists))
    exists_fetched = detect("exists_then_fetch", _count_then_fetch, "exists")
    if exists_fetched:
        findings.extend(exists_fetched[0])
    findings.sort(key=lambda f: (-f.count, KINDS.index(f.kind), f.model, f.field))
    return findings


def count_table(recorder) -> list[dict[str, Any]]:
    """Per (model, relation) counted: where the values came from.

    ``annotated``: values computed in SQL by an annotation (one per row loaded);
    ``queries``: values that took a query each (a related manager's count/exists);
    ``ignored``: of those, values an annotation on the row already held;
    ``prefetched``: values served from prefetched rows, with no query.
    """
    ctx = _Context(recorder)
    rows: dict[tuple[str, str], dict[str, Any]] = {}

    def row(model: str, relation: str) -> dict[str, Any]:
        entry = rows.get((model, relation))
        if entry is None:
            entry = rows[model, relation] = {
                "model": model,
                "relation": relation,
                "annotated": 0,
                "queries": 0,
                "ignored": 0,
                "prefetched": 0,
                "duration_ms": 0.0,
            }
        return entry

    for load in recorder.loads:
        if load.rows < 1:
            continue
        for fact in ctx.facts(load):
            row(load.model, "__".join(fact.path))["annotated"] += load.rows
    for op in recorder.ops:
        if op.relation is None or op.kind not in ("count", "exists"):
            continue
        owner_cls, info = ctx.relation(op)
        if info is None:
            continue
        owner = op.relation.owner
        entry = row(owner.model if owner is not None else owner_cls._meta.label, info.query_name)
        queries = ctx.op_queries.get(op.id)
        if not queries:
            entry["prefetched"] += 1
            continue
        entry["queries"] += 1
        entry["duration_ms"] = round(entry["duration_ms"] + _duration(queries), 3)
        if _existing_annotation(ctx, owner, info, _op_filter(op, info), op.kind):
            entry["ignored"] += 1
    return sorted(rows.values(), key=lambda r: (-r["queries"], -r["annotated"], r["model"]))
