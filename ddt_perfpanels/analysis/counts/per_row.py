"""count_in_loop, exists_in_loop, aggregate_in_loop and annotation_ignored: a
related manager counted, tested or aggregated once per row."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db.models import F, Q

from ddt_perfpanels.analysis.code import render_value
from ddt_perfpanels.analysis.counts.base import (
    CountFinding,
    _duration,
    _free_name,
    _identifier,
    _property_name,
    _site_key,
    _var,
    _word_for,
)
from ddt_perfpanels.analysis.decompile import (
    _filter_call,
    _plain_kwargs,
    _q_text,
    _Unreadable,
    _without_keys,
    prefix_q,
    q_expr,
    where_to_q,
)
from ddt_perfpanels.analysis.models import (
    _model,
    _RelInfo,
)
from ddt_perfpanels.analysis.sql import preview
from ddt_perfpanels.analysis.thirdparty import third_party_label
from ddt_perfpanels.analysis.where import claim, owner_fix_from_suggestion
from ddt_perfpanels.recording.context import SINGLE_KINDS, Load, Op, QueryRecord

if TYPE_CHECKING:
    from django.db.models import Model

    from ddt_perfpanels.analysis.counts.base import _Context

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

    def __init__(
        self,
        load: Load | None,
        model_name: str,
        manager: str,
        prefix: str,
        var: str,
        prefetch: str = "",
        to_attr: str | None = None,
    ) -> None:
        self.load = load
        self.model_name = model_name
        self.manager = manager
        self.prefix = prefix  # lookup path from the anchor's model to the owner
        self.var = var  # the loop variable the value is read on
        self.prefetch = prefetch  # Prefetch("<path>") that loads the owner rows
        self.to_attr = to_attr


def _anchor(owner: Load | None, owner_cls: type[Model] | None) -> _Anchor:
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

    def __init__(
        self,
        kind: str,
        owner: Load | None,
        info: _RelInfo,
        q: Q | None,
        annotation: tuple[str, str, str] | None,
    ) -> None:
        self.kind = kind
        self.owner = owner
        self.info = info
        self.filter = q
        self.annotation = annotation  # (var, attribute, kind) already on the rows
        self.ops: list[Op] = []
        self.queries: list[QueryRecord] = []
        self.owners: set[int] = set()


def _existing_annotation(
    ctx: _Context, owner: Load | None, info: _RelInfo, q: Q | None, kind: str
) -> tuple[str, str, str] | None:
    """(variable, attribute, annotation kind) when the rows already carry one."""
    if owner is None:
        return None
    wanted_filter = _q_text(q)
    candidates: list[tuple[Load, tuple[str, ...], str]] = [
        (owner, (info.query_name,), _var(owner.model_name))
    ]
    chain = owner.segments()
    if chain and all(s.kind in SINGLE_KINDS and s.via in ("select_related", "lazy") for s in chain):
        root = owner.root
        path = (*owner.path.split("__"), info.query_name)
        candidates.append((root, path, _var(root.model_name)))
    for load, path, var in candidates:
        for fact in ctx.facts(load):
            if fact.path != path:
                continue
            expected = ""
            if wanted_filter and q is not None:
                expected = _q_text(prefix_q(q, "__".join(path)))
            if fact.filter != expected:
                continue
            if kind == "count" and fact.kind != "count":
                continue
            return var, fact.name, fact.kind
    return None


def _per_row_groups(ctx: _Context) -> list[_RowGroup]:
    groups: dict[tuple[Any, ...], _RowGroup] = {}
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


def _aggregate_text(expr: Any, path: str, q: Q | None) -> tuple[str, str] | None:
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
        field = source.name  # type: ignore[attr-defined]  # not in django-stubs
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
            args = [f'"{source.name}"']  # type: ignore[attr-defined]  # not in django-stubs
        else:
            args = ['"*"' if type(source).__name__ == "Star" else "..."]
        own = getattr(expr, "filter", None)
        if isinstance(own, Q):
            args.append(f"filter={q_expr(own)}")
        if getattr(expr, "distinct", False):
            args.append("distinct=True")
        parts.append(f"{alias}={type(expr).__name__}({', '.join(args)})")
    return ", ".join(parts)


def _annotation_ignored(ctx: _Context, group: _RowGroup) -> CountFinding:
    assert group.annotation is not None  # a group of rows that carry the annotation
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
    if anchor.prefix:
        assert anchor.load is not None  # a path from the root queryset's rows
        anchor_cls = _model(anchor.load.model)
    else:
        anchor_cls = info.owner
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
        assert root is not None  # the root queryset, which prefetches the owners
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


def _per_row_finding(ctx: _Context, group: _RowGroup) -> CountFinding:
    info = group.info
    owner_name = info.owner.__name__
    owner_var = _var(owner_name)
    call = f"{owner_var}.{_manager_call(info, group.filter, group.kind, group.ops[0])}"
    kind = f"{group.kind}_in_loop"
    n = len(group.queries)
    first = group.queries[0]
    rows = len(group.owners)
    prefetched, to_attr = _prefetched_rows(group.owner, info.accessor)
    prefetched = prefetched or any(
        op.relation is not None and op.relation.prefetched for op in group.ops
    )
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


def _from_queries(
    ctx: _Context,
    kind: str,
    queries: list[QueryRecord],
    example: QueryRecord | None = None,
    **values: Any,
) -> CountFinding:
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


def _finding(ctx: _Context, kind: str, group: _RowGroup, **values: Any) -> CountFinding:
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


def _per_row_findings(ctx: _Context) -> list[CountFinding]:
    findings = []
    for group in _per_row_groups(ctx):
        if group.annotation is not None:
            findings.append(_annotation_ignored(ctx, group))
        elif len(group.queries) >= ctx.min_queries and len(group.owners) >= 2:
            findings.append(_per_row_finding(ctx, group))
    return findings


