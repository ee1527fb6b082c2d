"""A row's own method (a model property) that runs a count query per row."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ddt_perfpanels.analysis.counts.base import CountFinding
from ddt_perfpanels.analysis.counts.per_row import _from_queries
from ddt_perfpanels.analysis.thirdparty import method_label
from ddt_perfpanels.recording.context import Op, QueryRecord

if TYPE_CHECKING:
    from ddt_perfpanels.analysis.counts.base import _Context

# -- a row's method that queries ----------------------------------------------------------


def _row_method_findings(ctx: _Context) -> tuple[list[CountFinding], set[int]]:
    """``page.is_locked()`` running an ``.exists()`` (not on a related manager)
    for each row of one queryset: one finding at the method (and its ops)."""
    from ddt_perfpanels.analysis.sql import FINGERPRINTS
    from ddt_perfpanels.recording.stack import short_path

    # Each op with its queries and its method (not None).
    groups: dict[tuple[Any, ...], list[tuple[Op, list[QueryRecord], tuple[Any, ...]]]] = {}
    for op in ctx.recorder.ops:
        queries = ctx.op_queries.get(op.id)
        if op.method is None or not queries:
            continue
        owner, _row, qualname, filename, line = op.method
        key = (op.kind, owner.root.id, owner.path, qualname, filename, line)
        groups.setdefault(key, []).append((op, queries, op.method))
    findings = []
    reported: set[int] = set()
    for (kind, _root, _path, qualname, filename, line), entries in groups.items():
        queries = [q for _op, qs, _method in entries for q in qs]
        rows = {method[1] for _op, _qs, method in entries}
        shapes = {FINGERPRINTS[q.sql] for q in queries}
        if len(queries) < ctx.min_queries or len(rows) < 2 or len(shapes) != 1:
            continue
        reported.update(op.id for op, _qs, _method in entries)
        owner = entries[0][2][0]
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


