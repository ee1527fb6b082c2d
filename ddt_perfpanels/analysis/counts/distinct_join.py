"""distinct_join_count: ``Count()`` annotations over joins of more than one
multi-valued relation (the rows fan out before they are counted)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django.core.exceptions import FieldDoesNotExist
from django.db.models import Count, F, Q
from django.db.models.sql.query import Query

from ddt_perfpanels.analysis.code import render_value
from ddt_perfpanels.analysis.counts.base import (
    CountFinding,
    _aggregate_filter,
    _Annotated,
    _annotation_fact,
    _site_key,
)
from ddt_perfpanels.analysis.counts.per_row import _from_queries, _imports
from ddt_perfpanels.analysis.decompile import (
    _filter_call,
    _join_names,
    _path_steps,
    _plain_kwargs,
    _Unreadable,
    q_children,
    where_to_q,
)
from ddt_perfpanels.analysis.models import (
    _is_generic,
    _model,
)
from ddt_perfpanels.analysis.where import claim, owner_annotate_rewrite
from ddt_perfpanels.recording.context import Load
from ddt_perfpanels.recording.stack import format_site

if TYPE_CHECKING:
    from django.contrib.contenttypes.fields import GenericRelation
    from django.db.models import Model

    from ddt_perfpanels.analysis.counts.base import _Context

# -- distinct_join_count -----------------------------------------------------------------------


def _multi_valued_paths(query: Query) -> list[str]:
    """Each multi-valued relation the query joins, as a lookup path."""
    paths: list[str] = []
    join: Any  # a Join, or a package's join class: it has a parent_alias
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


def _subquery_count(model_cls: type[Model], fact: _Annotated, q: Q | None) -> str | None:
    """Count(path) as a correlated Subquery: no join in the outer query."""
    steps = _path_steps(model_cls, fact.path)
    if any(s.generic for s in steps[1:]):
        return None
    target = steps[-1].target
    count = 'Count("pk", distinct=True)' if fact.distinct and len(steps) > 1 else 'Count("pk")'
    if steps[0].generic:
        # A GenericRelation (by its class name: contenttypes may not be installed).
        field = cast("GenericRelation", model_cls._meta.get_field(fact.path[0]))
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
    for child in q_children(q):
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
            name: str = value.name  # type: ignore[attr-defined]  # not in django-stubs
            if not name.startswith(prefix + "__"):
                return None
            value = F(name[len(prefix) + 2 :])
        out.children.append((key[len(prefix) + 2 :], value))
    return out


def _distinct_join_findings(ctx: _Context) -> list[CountFinding]:
    groups: dict[tuple[str, tuple[str, ...], tuple[str, ...], tuple[Any, ...]], list[Load]] = {}
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
    for (label, relations, _names, _site), loads in groups.items():
        finding = _distinct_join_finding(ctx, label, list(relations), loads)
        if finding is not None:
            findings.append(finding)
    return findings


def _as_subquery(model_cls: type[Model], query: Query, expr: Any, fact: _Annotated) -> str | None:
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


def _distinct_join_finding(
    ctx: _Context, label: str, multi: list[str], loads: list[Load]
) -> CountFinding | None:
    load = loads[0]
    query, first = load.query, load.first_query
    assert query is not None and first is not None  # (_distinct_join_findings)
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


