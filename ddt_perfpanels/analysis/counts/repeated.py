"""repeated_count: several COUNTs on one table that differ only in WHERE (one
``aggregate()`` would do)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db.models import Q
from django.db.models.fields.reverse_related import ForeignObjectRel
from django.db.models.sql.query import Query

from ddt_perfpanels.analysis.code import render_value
from ddt_perfpanels.analysis.counts.base import (
    _GROUP_BY_MIN_VALUES,
    CountFinding,
    _free_name,
    _identifier,
    _plural,
    _word_for,
)
from ddt_perfpanels.analysis.counts.per_row import _from_queries, _imports
from ddt_perfpanels.analysis.decompile import (
    _filter_call,
    _plain_kwargs,
    _q_text,
    _Unreadable,
    q_expr,
    where_to_q,
)
from ddt_perfpanels.analysis.models import (
    _is_generic,
    _model,
)
from ddt_perfpanels.recording.context import Op, QueryRecord

if TYPE_CHECKING:
    from django.db.models import Model

    from ddt_perfpanels.analysis.counts.base import _Context

# -- repeated_count --------------------------------------------------------------------------


def _single_valued_query(query: Query) -> bool:
    """A plain filter on one table, joins through single-valued relations only."""
    if query.is_sliced or query.distinct or query.combinator or query.group_by is not None:
        return False
    if query.extra or query.annotation_select:
        return False
    join: Any  # a Join, or a package's join class: it has a parent_alias
    for alias, join in query.alias_map.items():
        if getattr(join, "parent_alias", None) is None or not query.alias_refcount.get(alias):
            continue
        f = join.join_field
        if f.many_to_many or f.one_to_many or _is_generic(f):
            return False
        if isinstance(f, ForeignObjectRel) and not f.one_to_one:
            return False
    return True


def _repeated_counts(ctx: _Context, exclude: set[int]) -> list[CountFinding]:
    groups: dict[tuple[str, str], list[tuple[Op, list[QueryRecord], Q]]] = {}
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


def _group_by_field(model_cls: type[Model], filters: list[Q]) -> str | None:
    """The one field whose value alone tells the COUNTs apart, if there is one."""
    found = [_plain_kwargs(q) for q in filters]
    all_kwargs = [k for k in found if k]
    if len(all_kwargs) != len(found):
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
    model: type[Model] | None = model_cls
    for part in key.split("__"):
        if model is None:
            return None  # (not reached: a relation has a model)
        try:
            f = model._meta.get_field(part)
        except Exception:
            return None  # a lookup (pages__gt): no GROUP BY spelling
        model = f.related_model if f.is_relation else None
        if model is None and part != key.split("__")[-1]:
            return None
    return key


def _repeated_finding(
    ctx: _Context,
    label: str,
    entries: list[tuple[Op, list[QueryRecord], Q]],
    queries: list[QueryRecord],
) -> CountFinding:
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


