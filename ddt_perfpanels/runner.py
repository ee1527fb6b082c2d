"""``manage.py test`` with every test a performance check::

    TEST_RUNNER = "ddt_perfpanels.runner.PerfPanelsRunner"

A test with N+1 clusters or counts findings fails with them and their fixes
(``PERFPANELS_MODE = "warn"`` on a subclass: it only prints them). Findings
accepted by ``DDT_PERFPANELS["IGNORE"]`` or ``ddt_perfpanels.ignore()`` pass.
Tests run in parallel processes (``--parallel``) are not measured.
"""

from __future__ import annotations

import unittest
from typing import Any

from django.test.runner import DiscoverRunner


class PerfPanelsResult(unittest.TextTestResult):
    mode = "fail"

    def startTest(self, test: Any) -> None:
        from ddt_perfpanels.testrun import TestMeasure

        self._perfpanels = TestMeasure()
        self._perfpanels.start()
        super().startTest(test)

    def _finish(self, test: Any) -> str | None:
        from ddt_perfpanels.testrun import check

        measure, self._perfpanels = self._perfpanels, None
        if measure is None:
            return None
        measure.stop()
        return check(measure.result(test.id()), None, "0", True)

    def addSuccess(self, test: Any) -> None:
        message = self._finish(test)
        if message is None:
            return super().addSuccess(test)
        if self.mode == "warn":
            self.stream.writeln(f"\n{test.id()}\n{message}")
            return super().addSuccess(test)
        self.addFailure(test, (AssertionError, AssertionError(message), None))

    def stopTest(self, test: Any) -> None:
        if getattr(self, "_perfpanels", None) is not None:
            self._finish(test)  # failed or errored: measured all the same, not judged
        super().stopTest(test)


class PerfPanelsRunner(DiscoverRunner):
    """``DiscoverRunner`` that fails a test with N+1 or counts findings."""

    PERFPANELS_MODE = "fail"

    def get_resultclass(self) -> Any:
        base = super().get_resultclass() or unittest.TextTestResult
        return type(
            "PerfPanelsResult", (PerfPanelsResult, base), {"mode": self.PERFPANELS_MODE}
        )


