"""len_for_count and bool_for_exists: a queryset fetched only for its
``len()``, or only to test whether it has any row."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ddt_perfpanels.analysis.counts.base import FETCH_USES, CountFinding, _plural, _site_key, _var
from ddt_perfpanels.analysis.counts.per_row import _finding, _from_queries, _per_row_fix, _RowGroup
from ddt_perfpanels.analysis.decompile import (
    _filter_call,
    _Unreadable,
    where_to_q,
)
from ddt_perfpanels.analysis.models import (
    _model,
    _model_named,
    _relation_info,
)
from ddt_perfpanels.recording.context import SINGLE_KINDS, Load, QueryRecord

if TYPE_CHECKING:
    from ddt_perfpanels.analysis.counts.base import _Context

# -- len_for_count -----------------------------------------------------------------------------


def _unread_fetches(ctx: _Context, by_len: bool) -> Iterator[Load]:
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


def _len_for_count(ctx: _Context) -> list[CountFinding]:
    groups: dict[tuple[Any, ...], list[Load]] = {}
    for load in _unread_fetches(ctx, by_len=True):
        if load.op == "get":
            continue
        assert load.first_query is not None  # _unread_fetches yields those that have one
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


def _load_queries(ctx: _Context, loads: list[Load]) -> list[QueryRecord]:
    """The queries of these loads and of the prefetches they ran."""
    ids = {load.id for load in loads}
    queries = [q for load in loads for q in ctx.load_queries.get(load.id, ())]
    for load in ctx.recorder.loads:
        if load.via == "prefetch" and load.parent is not None and load.parent.id in ids:
            queries.extend(ctx.load_queries.get(load.id, ()))
    return queries


def _len_finding(ctx: _Context, loads: list[Load]) -> CountFinding | None:
    load = loads[0]
    first = load.first_query
    assert first is not None
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


def _rows_finding(
    ctx: _Context,
    kind: str,
    queries: list[QueryRecord],
    load: Load,
    suggestion: str,
    message: str,
    rows: int,
    var: str,
) -> CountFinding:
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


def _bool_for_exists(ctx: _Context) -> list[CountFinding]:
    """``if books:`` (or ``{% if books %}``) fetched the rows, and nothing read them."""
    groups: dict[tuple[str, tuple[Any, ...]], list[Load]] = {}
    for load in _unread_fetches(ctx, by_len=False):
        if load.via != "root" or load.op != "iterate" or load.query is None:
            continue
        assert load.first_query is not None  # _unread_fetches yields those that have one
        groups.setdefault((load.model, _site_key(load.first_query)), []).append(load)
    findings = []
    for loads in groups.values():
        load = loads[0]
        first, query = load.first_query, load.query
        assert first is not None and query is not None  # (the loop above)
        var = _plural(load.model_name)
        rows = sum(item.rows for item in loads)
        if first.template is not None:
            suggestion = f"{{% if {var}.exists %}}"
            instead = f"{{% if {var} %}}"
        else:
            try:
                q = where_to_q(query, query.where)
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


