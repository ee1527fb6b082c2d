"""pytest plugin: the ``django_assert_budget`` fixture, and every test a
performance check (``pytest --perfpanels``).

Loaded automatically when ddt_perfpanels is installed (the ``pytest11`` entry
point); otherwise add ``pytest_plugins = ["ddt_perfpanels.budgets.pytest_plugin"]``
to your root ``conftest.py``. Nothing is imported from Django until the fixture
is used or a ``--perfpanels`` option is given; without one no hook of the
check is registered.
"""

from __future__ import annotations

from typing import Any

import pytest

_MODES = ("fail", "warn", "off")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("perfpanels", "ddt_perfpanels: every test a performance check")
    group.addoption(
        "--perfpanels",
        nargs="?",
        const="fail",
        default=None,
        choices=_MODES,
        help="Run each test under capture(): a test with N+1 clusters or counts findings "
        "fails (=warn: only warns). Ini: perfpanels = fail|warn|off.",
    )
    group.addoption(
        "--perfpanels-report",
        metavar="PATH",
        default=None,
        help="Write each test's numbers and findings as JSON to PATH.",
    )
    group.addoption(
        "--perfpanels-baseline",
        metavar="FILE",
        default=None,
        help="Fail a test whose numbers (queries, N+1 clusters, counts findings, cache "
        "calls) grew past those kept in FILE. Ini: perfpanels_baseline.",
    )
    group.addoption(
        "--perfpanels-update-baseline",
        action="store_true",
        default=False,
        help="Write the numbers of the tests run into the baseline file.",
    )
    group.addoption(
        "--perfpanels-tolerance",
        metavar="N",
        default=None,
        help="Queries and cache calls a test may add to its baseline: a number (2) or a "
        "percentage (10%%). Default 0. Ini: perfpanels_tolerance.",
    )
    parser.addini("perfpanels", "fail, warn or off: see --perfpanels", default="off")
    parser.addini("perfpanels_baseline", "the baseline file: see --perfpanels-baseline")
    parser.addini("perfpanels_tolerance", "see --perfpanels-tolerance", default="0")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "perfpanels_ignore(**patterns): accept the findings these patterns match "
        "(model, field, kind, key, file, url_name; none: all) under --perfpanels.",
    )
    mode = config.getoption("perfpanels") or config.getini("perfpanels") or "off"
    if mode not in _MODES:
        raise pytest.UsageError(f"perfpanels = {mode!r}: use one of {', '.join(_MODES)}.")
    baseline = config.getoption("perfpanels_baseline") or config.getini("perfpanels_baseline")
    report = config.getoption("perfpanels_report")
    if mode == "off" and not baseline and not report:
        return
    if config.getoption("perfpanels_update_baseline") and not baseline:
        raise pytest.UsageError("--perfpanels-update-baseline needs --perfpanels-baseline=FILE.")
    tolerance = config.getoption("perfpanels_tolerance") or config.getini("perfpanels_tolerance")
    from ddt_perfpanels.testrun import parse_tolerance

    try:
        tolerance = parse_tolerance(tolerance or "0")
    except ValueError as exc:
        raise pytest.UsageError(f"--perfpanels-tolerance: {exc}") from None
    config.pluginmanager.register(
        PerfPanelsCheck(config, mode, baseline or None, report, tolerance), "perfpanels-check"
    )


class PerfPanelsCheck:
    """Registered only when asked for: measures, judges and sums up each test."""

    def __init__(
        self,
        config: pytest.Config,
        mode: str,
        baseline: str | None,
        report: str | None,
        tolerance: str,
    ) -> None:
        self.config = config
        self.mode = mode
        self.baseline_path = baseline
        self.report_path = report
        self.tolerance = tolerance
        self.update = bool(config.getoption("perfpanels_update_baseline"))
        self.results: list[dict[str, Any]] = []
        self._baseline: dict[str, Any] | None = None
        self._verdicts: dict[str, str] = {}

    @property
    def baseline(self) -> dict[str, Any]:
        if self._baseline is None:
            from ddt_perfpanels.testrun import read_baseline

            self._baseline = read_baseline(self.baseline_path) if self.baseline_path else {}
        return self._baseline

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Any:
        from ddt_perfpanels.testrun import TestMeasure

        ignores = [dict(mark.kwargs) for mark in item.iter_markers("perfpanels_ignore")]
        measure = TestMeasure(ignores)
        measure.start()
        try:
            return (yield)
        finally:
            measure.stop()
            item.stash[_measure_key] = measure

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        report = yield
        if call.when != "call" or _measure_key not in item.stash:
            return report
        from ddt_perfpanels.testrun import check

        measure = item.stash[_measure_key]
        result = measure.result(item.nodeid)
        result["outcome"] = report.outcome
        report.perfpanels = result
        if not report.passed or self.update:
            return report
        entry = self.baseline.get(item.nodeid) if self.baseline_path else None
        message = check(result, entry, self.tolerance, self.mode != "off")
        if message is None:
            return report
        grew = entry is not None and "grew past its baseline" in message
        if self.mode == "warn" and not grew:
            item.warn(PerfPanelsWarning(f"{item.nodeid}\n{message}"))
        else:
            report.outcome = "failed"
            report.longrepr = message
            result["outcome"] = "failed"
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        result = getattr(report, "perfpanels", None)
        if result is not None and report.when == "call":
            self.results.append(result)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        from ddt_perfpanels.testrun import summary_lines

        lines = summary_lines(self.results)
        if not lines:
            return
        terminalreporter.section("ddt_perfpanels")
        for line in lines:
            terminalreporter.write_line(line)
        if self.baseline_path and not self.update:
            shrunk = self._shrunk()
            if shrunk:
                terminalreporter.write_line(
                    f"{len(shrunk)} tests went below their baseline ({', '.join(shrunk[:5])}"
                    f"{', …' if len(shrunk) > 5 else ''}): "
                    "record it with --perfpanels-update-baseline."
                )
        if self.update:
            terminalreporter.write_line(f"Baseline written: {self.baseline_path}")
        if self.report_path:
            terminalreporter.write_line(f"Report written: {self.report_path}")

    def _shrunk(self) -> list[str]:
        from ddt_perfpanels.testrun import BASELINE_NUMBERS

        names = []
        for result in self.results:
            entry = self.baseline.get(result["test"])
            if entry and any(result[n] < entry.get(n, 0) for n in BASELINE_NUMBERS):
                names.append(result["test"])
        return names

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if hasattr(self.config, "workerinput"):
            return  # an xdist worker: the controller writes the files
        from ddt_perfpanels.testrun import baseline_entry, write_baseline, write_report

        if self.report_path:
            write_report(self.report_path, self.results)
        if self.update and self.baseline_path:
            entries = dict(self.baseline)
            for result in self.results:
                entries[result["test"]] = baseline_entry(result)
            write_baseline(self.baseline_path, entries)


class PerfPanelsWarning(pytest.PytestWarning):
    """A test with findings, under ``--perfpanels=warn``."""


_measure_key = pytest.StashKey[Any]()


@pytest.fixture
def django_assert_budget() -> Any:
    """``assert_budget`` as a fixture, like pytest-django's ``django_assert_num_queries``::

    def test_projects(client, django_assert_budget):
        with django_assert_budget(url="/projects/"):
            client.get("/projects/")
    """
    from ddt_perfpanels.budgets.testing import assert_budget

    return assert_budget
