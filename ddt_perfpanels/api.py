"""The public ``capture()``: a recording with its Report (``ddt_perfpanels.capture``)."""

from __future__ import annotations

from typing import Any

from ddt_perfpanels.recording import hooks
from ddt_perfpanels.recording.context import Recording
from ddt_perfpanels.report import Report
from ddt_perfpanels.signals import send_findings


class capture:
    """Record the queries, ORM activity and cache calls of the enclosed code.

    ``with capture() as report:`` — the report fills in as the block runs and
    its findings are computed on first access after the block.  Only the current
    thread or async task is recorded. Code that can't use ``with`` calls
    ``report = cap.start()`` and later ``cap.stop()``.

    ``capture(light=True)`` records only what the numbers need: queries without
    their stack and no ORM provenance (so no N+1 or counts findings), cache
    calls as usual, at a fraction of the cost. Inside a full capture (the toolbar's)
    a light one is full: the outer one pays for the provenance anyway.
    """

    def __init__(self, light: bool = False) -> None:
        self.report: Report | None = None
        self._recording = Recording(light)

    @property
    def absorbed(self) -> bool:
        """Whether an outer capture took this one's records over."""
        return self._recording.absorbed

    def start(self) -> Report:
        """Start recording; returns the report that fills in until ``stop()``."""
        self.report = Report(self._recording.new_recorder())
        try:
            hooks.install()  # once: at ready(), or here without the app
            hooks.capture_started()
        except Exception as exc:  # pragma: no cover - defensive
            self.report.recorder.internal_error("installing hooks", exc)
        self._recording.start()
        return self.report

    def stop(self) -> None:
        """Stop recording (the outermost capture then sends ``findings_recorded``)."""
        if self._recording.stop() and self.report is not None:
            send_findings(self.report)

    def release(self) -> None:
        """Free what this finished capture recorded (its report is then empty),
        unless an outer capture took its records over. What the report computed
        from them goes too: its findings and contexts hold the records."""
        self._recording.release()
        if self.report is not None and not self.absorbed:
            self.report.forget()

    def __enter__(self) -> Report:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    async def __aenter__(self) -> Report:
        return self.start()

    async def __aexit__(self, *exc_info: Any) -> None:
        self.stop()
