"""Every test a performance check: one test measured under ``capture()``, its
numbers, its verdict, and the baseline file. Shared by the pytest plugin
(``pytest --perfpanels``) and ``PerfPanelsRunner`` (``manage.py test``).

Requests a ``live_server`` serves run in the server's threads, outside the
test's capture: while a test runs, each one is captured on its own (from the
``request_started`` to the ``request_finished`` signal) and counted with it.
"""

from __future__ import annotations

import json
import re
import threading
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from ddt_perfpanels.findings import finding_list, format_findings, ignored_count

# The numbers a baseline keeps, in its order.
BASELINE_NUMBERS = ("queries", "nplusone", "count_findings", "cache_calls")
# Findings that fail a test: N+1 clusters and counts findings (cache findings
# are listed and counted, not failed).
FAILING_SOURCES = ("nplusone", "counts")

_current: TestMeasure | None = None
_live: ContextVar[Any] = ContextVar("ddt_perfpanels_live_request", default=None)
_connected = False


class TestMeasure:
    """One test under ``capture()``, plus the live-server requests it made."""

    __test__ = False  # not a test class, whatever pytest thinks of the name

    def __init__(self, ignores: list[dict[str, Any]] | None = None) -> None:
        self.ignores = [dict(i) for i in ignores or ()]
        self.reports: list[Any] = []
        self._capture: Any = None
        self._ignore_blocks: list[Any] = []
        self._pending = 0
        self._done = threading.Condition()

    def start(self) -> None:
        global _current
        from ddt_perfpanels.api import capture
        from ddt_perfpanels.ignoring import ignore

        _connect_request_signals()
        for patterns in self.ignores:
            block = ignore(**patterns)
            block.__enter__()
            self._ignore_blocks.append(block)
        self._capture = capture()
        self.reports.append(self._capture.start())
        _current = self

    def stop(self, timeout: float = 5.0) -> None:
        global _current
        _current = None
        try:
            self._capture.stop()
        finally:
            for block in reversed(self._ignore_blocks):
                block.__exit__(None, None, None)
            self._ignore_blocks = []
        # A live server answers before request_finished: wait for its captures.
        with self._done:
            self._done.wait_for(lambda: self._pending == 0, timeout=timeout)

    # -- live-server requests --------------------------------------------------------

    def _live_started(self, path: str) -> None:
        from ddt_perfpanels.api import capture
        from ddt_perfpanels.ignoring import log_of, settings_rules

        cap = capture()
        report = cap.start()
        if any(rule.url_name is not None for rule in settings_rules()):
            log_of(report.recorder).url = (path, None)
        with self._done:
            self._pending += 1
        _live.set((self, cap))

    def _live_finished(self, cap: Any) -> None:
        try:
            cap.stop()
        finally:
            with self._done:
                self.reports.append(cap.report)
                self._pending -= 1
                self._done.notify_all()

    # -- results -----------------------------------------------------------------------

    def findings(self) -> list[dict[str, Any]]:
        return [f for report in self.reports for f in finding_list(report)]

    def numbers(self) -> dict[str, int]:
        from ddt_perfpanels.report import budgeted

        totals = dict.fromkeys(BASELINE_NUMBERS, 0)
        totals["cache_findings"] = totals["ignored"] = 0
        for report in self.reports:
            totals["queries"] += report.query_count
            totals["nplusone"] += len(budgeted(report.nplusone))
            totals["count_findings"] += len(budgeted(report.counts))
            cache = report.cache
            if cache is not None:
                totals["cache_calls"] += int(cache.metrics().get("cache_calls", 0))
                totals["cache_findings"] += len(cache.findings)
            totals["ignored"] += ignored_count(report)
        return totals

    def errors(self) -> list[str]:
        return [e for report in self.reports for e in report.errors]

    def result(self, nodeid: str) -> dict[str, Any]:
        """JSON: what the summary, the report file and the baseline read."""
        return {
            "test": nodeid,
            **self.numbers(),
            "findings": self.findings(),
            "errors": self.errors(),
        }


def _path_of(environ: dict[str, Any] | None, scope: dict[str, Any] | None) -> str:
    path: str = ""
    if environ:
        path = environ.get("PATH_INFO", "")
    elif scope:
        path = scope.get("path", "")
    return path


def _request_started(sender: Any, environ: Any = None, scope: Any = None, **kwargs: Any) -> None:
    from ddt_perfpanels.ignoring import request_span
    from ddt_perfpanels.recording.context import current_recorder

    try:
        recorder = current_recorder()
        if recorder is not None:  # the test client: inside the test's capture
            request_span(recorder, _path_of(environ, scope))
        elif _current is not None and _live.get() is None:  # a live server's thread
            _current._live_started(_path_of(environ, scope))
    except Exception:  # pragma: no cover - never break a request
        import logging

        logging.getLogger("ddt_perfpanels").exception("ddt_perfpanels: request_started")


def _request_finished(sender: Any, **kwargs: Any) -> None:
    live = _live.get()
    if live is not None:
        _live.set(None)
        live[0]._live_finished(live[1])


def _connect_request_signals() -> None:
    global _connected
    if not _connected:
        from django.core.signals import request_finished, request_started

        request_started.connect(_request_started, dispatch_uid="ddt_perfpanels.testrun")
        request_finished.connect(_request_finished, dispatch_uid="ddt_perfpanels.testrun")
        _connected = True


# -- verdicts ------------------------------------------------------------------------


def check(
    result: dict[str, Any], baseline: dict[str, Any] | None, tolerance: str, findings_fail: bool
) -> str | None:
    """The failure message for a test's result, or None when it passes.

    With a baseline entry, its known findings are accepted and the numbers may
    grow by ``tolerance`` ("0", "2" more, or "10%"); without one every failing
    finding counts.
    """
    known = set(baseline.get("findings", ())) if baseline else set()
    failing = [
        f for f in result["findings"] if f["source"] in FAILING_SOURCES and f["key"] not in known
    ]
    lines: list[str] = []
    if baseline is not None:
        for name in BASELINE_NUMBERS:
            before, now = int(baseline.get(name, 0)), int(result.get(name, 0))
            allowed = before
            if name in ("queries", "cache_calls"):  # findings may never grow
                allowed += _allowance(before, tolerance)
            if now > allowed:
                lines.append(f"  {name}: {before} -> {now} (allowed {allowed})")
        if lines:
            lines.insert(0, "ddt_perfpanels: this test grew past its baseline:")
        new = [f for f in result["findings"] if f["key"] not in known]
        if lines and new:
            lines += ["", "New findings and their fixes:", *format_findings(new)]
            failing = []
    if failing and findings_fail:
        if lines:
            lines.append("")
        count = len(failing)
        lines.append(
            f"ddt_perfpanels: {count} N+1 or counts finding{'s' if count != 1 else ''} "
            "in this test. Findings and their fixes:"
        )
        lines += format_findings(failing)
    if not lines:
        return None
    lines += [
        "",
        "Accept a finding with @pytest.mark.perfpanels_ignore(model=..., field=...), "
        "ddt_perfpanels.ignore(...) or DDT_PERFPANELS['IGNORE'].",
    ]
    if baseline is not None:
        lines.append("Accept the new numbers with --perfpanels-update-baseline.")
    return "\n".join(lines)


def _allowance(before: int, tolerance: str) -> int:
    text = str(tolerance or "0").strip()
    if text.endswith("%"):
        return int(before * float(text[:-1]) / 100)
    return int(float(text))


def parse_tolerance(text: str) -> str:
    if not re.fullmatch(r"\d+(\.\d+)?%?", str(text).strip()):
        raise ValueError(
            f"a tolerance is a number of queries (2) or a percentage (10%), not {text!r}"
        )
    return str(text).strip()


# -- the baseline file -----------------------------------------------------------------


def baseline_entry(result: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {name: result[name] for name in BASELINE_NUMBERS}
    entry["findings"] = sorted({f["key"] for f in result["findings"]})
    return entry


def read_baseline(path: str | Path) -> dict[str, dict[str, Any]]:
    file = Path(path)
    if not file.exists():
        return {}
    data = json.loads(file.read_text(encoding="utf-8") or "{}")
    return dict(data.get("tests", {}))


def write_baseline(path: str | Path, entries: dict[str, dict[str, Any]]) -> None:
    """Sorted by test, one number per line: a diff shows what changed."""
    data = {"version": 1, "tests": {k: entries[k] for k in sorted(entries)}}
    Path(path).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


# -- the summary -----------------------------------------------------------------------


def summary_lines(results: list[dict[str, Any]], limit: int = 30) -> list[str]:
    """The summary table: the tests with findings first, then the most queries."""
    if not results:
        return []
    rows = sorted(
        results,
        key=lambda r: (
            -(r["nplusone"] + r["count_findings"] + r["cache_findings"]),
            -r["queries"],
            r["test"],
        ),
    )
    width = min(max(len(r["test"]) for r in rows[:limit]), 80)
    head = (
        f"{'test':<{width}}  {'queries':>7}  {'N+1':>4}  {'counts':>6}  {'cache':>5}"
        f"  {'ignored':>7}"
    )
    lines = [head, "-" * len(head)]
    for r in rows[:limit]:
        name = r["test"] if len(r["test"]) <= width else "…" + r["test"][-(width - 1):]
        lines.append(
            f"{name:<{width}}  {r['queries']:>7}  {r['nplusone']:>4}  {r['count_findings']:>6}"
            f"  {r['cache_findings']:>5}  {r['ignored']:>7}"
        )
    if len(rows) > limit:
        lines.append(f"… {len(rows) - limit} more tests (all of them: --perfpanels-report=FILE)")
    with_findings = sum(1 for r in results if r["nplusone"] or r["count_findings"])
    lines.append(
        f"{len(results)} tests measured, {sum(r['queries'] for r in results)} queries, "
        f"{with_findings} with N+1 or counts findings."
    )
    return lines


def write_report(path: str | Path, results: list[dict[str, Any]]) -> None:
    data = {"version": 1, "tests": sorted(results, key=lambda r: r["test"])}
    Path(path).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
