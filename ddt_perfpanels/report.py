"""The Report a capture returns: the public API of ddt_perfpanels.

Everything the panels, the budget middleware and the test helpers show comes
from here; ``to_dict()`` is what a panel stores.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from ddt_perfpanels.conf import get_config
from ddt_perfpanels.metrics import CACHE_METRICS

if TYPE_CHECKING:
    from ddt_perfpanels.analysis.cache import CacheReport
    from ddt_perfpanels.analysis.counts.base import CountFinding
    from ddt_perfpanels.analysis.nplusone import (
        DuplicateLoadFinding,
        NPlusOneFinding,
        UnusedEagerFinding,
    )
    from ddt_perfpanels.finding import Finding
    from ddt_perfpanels.recording.context import QueryRecord, Recorder

F = TypeVar("F", bound="Finding")
T = TypeVar("T")

_MAX_PARAMS = 50
_SOURCES = ("nplusone", "unused_eager", "counts", "cache")


def jsonable_param(value: Any) -> Any:
    """A parameter as JSON: never the raw bytes of a binary value."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return value if len(value) <= 200 else value[:200] + "…"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<{len(value)} bytes>"
    if isinstance(value, (list, tuple)):
        return [jsonable_param(v) for v in value[:_MAX_PARAMS]]
    text = str(value)
    return text if len(text) <= 200 else text[:200] + "…"


def jsonable_params(params: Any) -> Any:
    if params is None:
        return None
    if isinstance(params, dict):
        return {str(k): jsonable_param(v) for k, v in list(params.items())[:_MAX_PARAMS]}
    try:
        items = list(params)
    except TypeError:
        return jsonable_param(params)
    values = [jsonable_param(v) for v in items[:_MAX_PARAMS]]
    if len(items) > _MAX_PARAMS:
        values.append(f"… {len(items) - _MAX_PARAMS} more")
    return values


class Report:
    """What one ``capture()`` recorded, and the findings computed from it.

    Findings are computed on first access once the capture has ended, then kept.
    """

    def __init__(self, recorder: Recorder):
        from ddt_perfpanels.ignoring import capture_started

        self._recorder = recorder
        self._computed: dict[str, Any] = {}
        # Findings accepted by IGNORE or ignore(), by source: kept out of the others.
        self._ignored: dict[str, list[Any]] = {}
        capture_started(recorder)

    def _get(self, name: str, compute: Callable[[], T]) -> T:
        if name in self._computed:
            computed: T = self._computed[name]
            return computed
        value = compute()
        if self._recorder.finished is not None:
            self._computed[name] = value
        return value

    def forget(self) -> None:
        """Drop what was computed (the capture's records were released)."""
        self._computed = {}
        self._ignored = {}

    # -- raw records ---------------------------------------------------------------

    @property
    def queries(self) -> list[QueryRecord]:
        return self._recorder.queries

    @property
    def errors(self) -> list[str]:
        """Failures inside ddt_perfpanels while recording (never raised to you)."""
        return self._recorder.errors

    @property
    def notices(self) -> list[str]:
        """What a capture left out on purpose, to bound its memory."""
        recorder = self._recorder
        notices = []
        stopped = recorder.provenance_stopped_at
        if stopped is not None:
            notices.append(
                f"ORM provenance stopped after {stopped:,} queries, at MAX_PROVENANCE "
                f"({recorder.max_provenance:,} model instances, loads and operations "
                "tracked): N+1 and counts findings cover those queries only; the later "
                "ones are counted and timed, without their stack."
            )
        if recorder.dropped_queries:
            notices.append(
                f"{recorder.dropped_queries:,} queries past MAX_QUERIES "
                f"({recorder.max_queries:,}) were counted and timed, not kept."
            )
        return notices

    @property
    def recorder(self) -> Recorder:
        return self._recorder

    @property
    def duration_ms(self) -> float:
        end = self._recorder.finished
        if end is None:
            from time import perf_counter

            end = perf_counter()
        return (end - self._recorder.started) * 1000

    @property
    def query_count(self) -> int:
        return self._recorder.query_count()

    @property
    def db_time_ms(self) -> float:
        return self._recorder.query_time_ms()

    # -- findings ------------------------------------------------------------------

    @property
    def nplusone(self) -> list[NPlusOneFinding]:
        def compute() -> list[NPlusOneFinding]:
            from ddt_perfpanels.analysis.nplusone import drop_ignored_fixes, find_nplusone

            config = get_config()
            found = find_nplusone(
                self._recorder, config["NPLUSONE_MIN_QUERIES"], config["SQL_PREVIEW_CHARS"]
            )
            kept = self._accepted("nplusone", found)
            drop_ignored_fixes(kept, self._ignored["nplusone"])
            return kept

        return self._safe("nplusone", compute, [])

    @property
    def duplicate_loads(self) -> list[DuplicateLoadFinding]:
        """The same row loaded more than once (not an N+1)."""

        def compute() -> list[DuplicateLoadFinding]:
            from ddt_perfpanels.analysis.nplusone import find_duplicate_loads

            config = get_config()
            return find_duplicate_loads(
                self._recorder, config["NPLUSONE_MIN_QUERIES"], config["SQL_PREVIEW_CHARS"]
            )

        return self._safe("duplicate_loads", compute, [])

    @property
    def unused_eager(self) -> list[UnusedEagerFinding]:
        def compute() -> list[UnusedEagerFinding]:
            from ddt_perfpanels.analysis.nplusone import find_unused_eager

            return self._accepted("unused_eager", find_unused_eager(self._recorder))

        return self._safe("unused_eager", compute, [])

    @property
    def counts(self) -> list[CountFinding]:
        def compute() -> list[CountFinding]:
            from ddt_perfpanels.analysis.counts import find_count_findings

            findings = find_count_findings(self._recorder, self._counts_context())
            return self._accepted("counts", findings)

        return self._safe("counts", compute, [])

    @property
    def count_table(self) -> list[dict[str, Any]]:
        """Per (model, relation) counted, where the values came from: annotated,
        one query each, ignored, prefetched (the counts panel's table). Raises
        what the analysis raised."""
        from ddt_perfpanels.analysis.counts import count_table

        return self._get("count_table", lambda: count_table(self._recorder, self._counts_context()))

    def _counts_context(self) -> Any:
        """What the counts analyses share: one for the findings and the table,
        kept like them once the capture has ended."""
        from ddt_perfpanels.analysis.counts import counts_context

        return self._get("counts_context", lambda: counts_context(self._recorder))

    @property
    def cache(self) -> CacheReport | None:
        def compute() -> CacheReport | None:
            from ddt_perfpanels.analysis.cache import build_cache_report

            cache = build_cache_report(self._recorder)
            if cache is not None and getattr(cache, "findings", None):
                cache.findings = self._accepted("cache", cache.findings)
            return cache

        return self._safe("cache", compute, None)

    def _accepted(self, source: str, findings: list[F]) -> list[F]:
        from ddt_perfpanels.ignoring import split

        kept, self._ignored[source] = split(findings, source, self._recorder)
        return kept

    @property
    def ignored(self) -> dict[str, list[Finding]]:
        """The findings IGNORE or ``ignore()`` accepted, by source ("nplusone",
        "unused_eager", "counts", "cache"): shown apart, never counted."""
        self.nplusone, self.unused_eager, self.counts, self.cache  # noqa: B018
        return {name: list(self._ignored.get(name, ())) for name in _SOURCES}

    def _safe(self, name: str, compute: Callable[[], T], fallback: T) -> T:
        try:
            return self._get(name, compute)
        except Exception as exc:
            self._recorder.internal_error(f"analysing {name}", exc)
            self._computed[name] = fallback
            return fallback

    @property
    def duplicates(self) -> tuple[int, int]:
        def compute() -> tuple[int, int]:
            from ddt_perfpanels.analysis.sql import duplicate_and_similar

            return duplicate_and_similar(self._recorder.queries)

        return self._safe("duplicates", compute, (0, 0))

    @property
    def light(self) -> bool:
        """Recorded by ``capture(light=True)``: no N+1 or counts findings."""
        return self._recorder.light

    def plain_metrics(self) -> dict[str, float]:
        """The metrics read as they are, with no analysis of the records: the
        query count and the database time (as ``metrics()`` gives them)."""
        return {"queries": self.query_count, "db_time_ms": round(self.db_time_ms, 3)}

    def metrics(self) -> dict[str, float]:
        """The registry's numbers (``ddt_perfpanels.metrics``) this report
        measures: a light report has none of the "orm" ones, and the response time
        is measured by whoever runs the code."""
        duplicates, similar = self.duplicates
        plain = self.plain_metrics()
        values: dict[str, float] = {
            "queries": plain["queries"],
            "duplicate_queries": duplicates,
            "similar_queries": similar,
            "db_time_ms": plain["db_time_ms"],
        }
        if not self.light:  # metrics.LIGHT_UNMEASURED: these need the ORM provenance
            values["nplusone"] = len(budgeted(self.nplusone))
            values["count_findings"] = len(budgeted(self.counts))
        if self._recorder.extras.get("cache") is None:
            # No cache call at all: no report to build for it.
            values.update(dict.fromkeys(CACHE_METRICS, 0))
            return values
        cache = self.cache
        if cache is not None and hasattr(cache, "metrics"):
            values.update(cache.metrics())
        return values

    def to_dict(self, queries: bool = False) -> dict[str, Any]:
        """JSON-serializable: what a panel stores."""
        cache = self.cache
        data: dict[str, Any] = {
            "query_count": self.query_count,
            "db_time_ms": round(self.db_time_ms, 3),
            "metrics": self.metrics(),
            "nplusone": [f.to_dict() for f in self.nplusone],
            "unused_eager": [f.to_dict() for f in self.unused_eager],
            "duplicate_loads": [f.to_dict() for f in self.duplicate_loads],
            "counts": [f.to_dict() for f in self.counts],
            "cache": cache.to_dict() if cache is not None else None,
            "errors": list(self.errors),
            "notices": self.notices,
        }
        ignored = {k: [f.to_dict() for f in v] for k, v in self.ignored.items() if v}
        if ignored:
            data["ignored"] = ignored
        if queries:
            data["queries"] = [query_to_dict(q) for q in self.queries]
        return data


def budgeted(findings: Iterable[F]) -> list[F]:
    """The findings a budget counts: not those whose queryset a package builds,
    unless BUDGET_INCLUDE_THIRD_PARTY says so."""
    if get_config()["BUDGET_INCLUDE_THIRD_PARTY"]:
        return list(findings)
    from ddt_perfpanels.analysis.thirdparty import is_third_party

    return [f for f in findings if not is_third_party(f)]


def query_to_dict(query: QueryRecord) -> dict[str, Any]:
    return {
        "sql": query.sql,
        "params": jsonable_params(query.params),
        "duration_ms": round(query.duration_ms, 3),
        "alias": query.alias,
        "stack": query.stack,
        "site": query.site,
        "error": query.error,
    }
