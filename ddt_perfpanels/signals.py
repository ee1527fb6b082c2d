"""Signals, to send what ddt_perfpanels finds to logging, Sentry or a chat room.

``budget_violation``: sent once for each ``BudgetViolation`` that
``BudgetMiddleware`` records, after it is saved. Arguments: ``violation`` (the
model instance), ``request``, ``result`` (the ``BudgetResult``: ``.over``,
``.metrics``, ``.budget``) and ``report``.

``findings_recorded``: sent when a capture ends (the outermost one: a request
under the toolbar or the middleware, a test under the pytest plugin, a page of the
audit) that has findings not ignored. Arguments: ``report`` and ``findings``, a
list of small dicts (``source``, ``kind``, ``model``, ``title``, ``origin``,
``suggestion``/``code``: the fix), without the request's values (as a stored
violation keeps them). Nothing is computed when nothing is connected.

A receiver that raises is logged on the ``ddt_perfpanels`` logger; the request
goes on.
"""

from __future__ import annotations

import logging
from typing import Any

from django.dispatch import Signal

logger = logging.getLogger("ddt_perfpanels")

budget_violation = Signal()
findings_recorded = Signal()


def _log_failures(signal: str, responses: list[tuple[Any, Any]]) -> None:
    for receiver, response in responses:
        if isinstance(response, Exception):
            logger.error(
                "ddt_perfpanels: a %s receiver (%r) raised", signal, receiver, exc_info=response
            )


def send_findings(report: Any) -> None:
    """Called when an outermost capture ends; cheap when no receiver is connected."""
    if not findings_recorded.receivers:
        return
    try:
        from ddt_perfpanels.findings import finding_list

        findings = finding_list(report, redacted=True)
    except Exception:
        logger.exception("ddt_perfpanels could not list the findings for findings_recorded")
        return
    if findings:
        responses = findings_recorded.send_robust(
            sender=type(report), report=report, findings=findings
        )
        _log_failures("findings_recorded", responses)


def send_violation(violation: Any, request: Any, result: Any, report: Any) -> None:
    if not budget_violation.receivers:
        return
    responses = budget_violation.send_robust(
        sender=type(violation), violation=violation, request=request, result=result, report=report
    )
    _log_failures("budget_violation", responses)
