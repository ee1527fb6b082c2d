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

One module per detector (``per_row``, ``row_methods``, ``count_then_fetch``,
``repeated``, ``distinct_join``, ``unused_rows``) over what they share
(``base``); the entry points are here. Pure functions: no database access. The
suggested code is written from the ``sql.Query`` objects the recorder kept
(their WHERE trees, joins and annotations), so it repeats the user's actual
filters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Never, TypeVar

from ddt_perfpanels.analysis.counts.base import KINDS, CountFinding, _Context, _duration
from ddt_perfpanels.analysis.counts.count_then_fetch import _count_then_fetch
from ddt_perfpanels.analysis.counts.distinct_join import _distinct_join_findings
from ddt_perfpanels.analysis.counts.per_row import (
    _existing_annotation,
    _op_filter,
    _per_row_findings,
)
from ddt_perfpanels.analysis.counts.repeated import _repeated_counts
from ddt_perfpanels.analysis.counts.row_methods import _row_method_findings
from ddt_perfpanels.analysis.counts.unused_rows import _bool_for_exists, _len_for_count

if TYPE_CHECKING:
    from ddt_perfpanels.recording.context import Recorder

__all__ = ["KINDS", "CountFinding", "count_table", "counts_context", "find_count_findings"]

_T = TypeVar("_T")

# -- entry points ----------------------------------------------------------------------------


def counts_context(recorder: Recorder) -> _Context:
    """What the counts analyses share (queries by cause, annotation facts): built
    once per report for its findings and its table (``Report.count_table``)."""
    return _Context(recorder)


def find_count_findings(recorder: Recorder, ctx: _Context | None = None) -> list[CountFinding]:
    ctx = ctx if ctx is not None else _Context(recorder)
    findings: list[CountFinding] = []
    counted_then_fetched: set[int] = set()

    def detect(name: str, detector: Callable[..., _T], *args: Any) -> _T | list[Never]:
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


def count_table(recorder: Recorder, ctx: _Context | None = None) -> list[dict[str, Any]]:
    """Per (model, relation) counted: where the values came from.

    ``annotated``: values computed in SQL by an annotation (one per row loaded);
    ``queries``: values that took a query each (a related manager's count/exists);
    ``ignored``: of those, values an annotation on the row already held;
    ``prefetched``: values served from prefetched rows, with no query.
    """
    ctx = ctx if ctx is not None else _Context(recorder)
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
