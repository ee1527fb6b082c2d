"""count_then_fetch and exists_then_fetch: ``.count()`` or ``.exists()``, then
the same queryset fetched."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from ddt_perfpanels.analysis.counts.base import CountFinding, _plural, _site_key
from ddt_perfpanels.analysis.counts.per_row import _from_queries
from ddt_perfpanels.recording.context import Load, Op, QueryRecord

if TYPE_CHECKING:
    from ddt_perfpanels.analysis.counts.base import _Context

# -- count_then_fetch ----------------------------------------------------------------------


# (ran, fix, what the fix does) for Python code and for a template.
_THEN_FETCH_TEXT = {
    ("count", False): ("{var}.count()", "len({var})", "count the rows"),
    ("count", True): ("{{{{ {var}.count }}}}", "{{{{ {var}|length }}}}", "count the rows"),
    ("exists", False): ("{var}.exists()", "if {var}:", "test the rows"),
    ("exists", True): ("{{% if {var}.exists %}}", "{{% if {var} %}}", "test the rows"),
}


def _count_then_fetch(ctx: _Context, kind: str = "count") -> tuple[list[CountFinding], set[int]]:
    loads_by_query: dict[int, list[Load]] = defaultdict(list)
    for load in ctx.recorder.loads:
        if load.query is not None and load.via == "root":
            loads_by_query[id(load.query)].append(load)
    # Each op with its first query, the load that fetched its queryset and that load's query.
    groups: dict[tuple[Any, ...], list[tuple[Op, QueryRecord, Load, QueryRecord]]] = {}
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
        if fetch is None or fetch.first_query is None:  # (it has one: see above)
            continue
        key = (op.model, _site_key(queries[0]), _site_key(fetch.first_query))
        groups.setdefault(key, []).append((op, queries[0], fetch, fetch.first_query))
    findings = []
    used: set[int] = set()
    for entries in groups.values():
        op, count_query, fetch, fetch_query = entries[0]
        used.update(o.id for o, _, _, _ in entries)
        queries = [q for _, q, _, _ in entries]
        var = _plural(fetch.model_name)
        ran, fix, does = _THEN_FETCH_TEXT[kind, count_query.template is not None]
        instead, suggestion = ran.format(var=var), fix.format(var=var)
        message = (
            f"{instead} ran {'a COUNT' if kind == 'count' else 'an EXISTS'} query at "
            f"{count_query.site}, "
            f"then the same {fetch.model_name} queryset was fetched at "
            f"{fetch_query.site}. Fetch once and {does} in memory: {suggestion} "
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
                access_site=fetch_query.site,
                variable=var,
                template=list(count_query.template) if count_query.template else None,
                rows=fetch.rows,
            )
        )
    return findings, used


