"""``manage.py test`` with every test a performance check::

    TEST_RUNNER = "ddt_perfpanels.runner.PerfPanelsRunner"

A test with N+1 clusters or counts findings fails with them and their fixes
(``--perfpanels=warn``: it only prints them); at the end a table sums up the
run, and ``--perfpanels-report=PATH`` writes it as JSON. Findings accepted by
``DDT_PERFPANELS["IGNORE"]`` or ``ddt_perfpanels.ignore()`` pass. Tests run in
parallel processes (``--parallel``) are not measured.
"""

from __future__ import annotations

import unittest
from typing import Any

from django.test.runner import DiscoverRunner


class PerfPanelsResult(unittest.TextTestResult):
    mode = "fail"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.perfpanels: list[dict[str, Any]] = []
        self._measure: Any = None

    def startTest(self, test: Any) -> None:
        from ddt_perfpanels.testrun import TestMeasure

        self._measure = TestMeasure()
        self._measure.start()
        super().startTest(test)

    def _finish(self, test: Any) -> str | None:
        from ddt_perfpanels.testrun import check

        measure, self._measure = self._measure, None
        if measure is None:
            return None
        measure.stop()
        result = measure.result(test.id())
        self.perfpanels.append(result)
        return check(result, None, "0", True)

    def addSuccess(self, test: Any) -> None:
        message = self._finish(test)
        if message is None:
            return super().addSuccess(test)
        if self.mode == "warn":
            self.stream.writeln(f"\n{test.id()}\n{message}")
            return super().addSuccess(test)
        # No traceback: the message is the failure (typeshed wants one; unittest does not).
        self.addFailure(test, (AssertionError, AssertionError(message), None))  # type: ignore[arg-type]

    def stopTest(self, test: Any) -> None:
        if self._measure is not None:
            self._finish(test)  # failed or errored: measured all the same, not judged
        super().stopTest(test)


class PerfPanelsRunner(DiscoverRunner):
    """``DiscoverRunner`` that fails a test with N+1 or counts findings."""

    def __init__(
        self, perfpanels: str = "fail", perfpanels_report: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.perfpanels = perfpanels
        self.perfpanels_report = perfpanels_report

    @classmethod
    def add_arguments(cls, parser: Any) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--perfpanels",
            choices=("fail", "warn"),
            default="fail",
            help="fail (the default) or only warn on a test with N+1 or counts findings.",
        )
        parser.add_argument(
            "--perfpanels-report", metavar="PATH", help="Write each test's numbers as JSON."
        )

    def get_resultclass(self) -> Any:
        base = super().get_resultclass() or unittest.TextTestResult
        return type("PerfPanelsResult", (PerfPanelsResult, base), {"mode": self.perfpanels})

    def suite_result(self, suite: Any, result: Any, **kwargs: Any) -> int:
        from ddt_perfpanels.testrun import summary_lines, write_report

        results = getattr(result, "perfpanels", None)
        if results:
            stream = getattr(result, "stream", None)
            if stream is not None:
                stream.writeln("\nddt_perfpanels")
                for line in summary_lines(results):
                    stream.writeln(line)
            if self.perfpanels_report:
                write_report(self.perfpanels_report, results)
        return super().suite_result(suite, result, **kwargs)
