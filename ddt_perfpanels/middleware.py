"""``BudgetMiddleware``: checks requests against their budget and records a
``BudgetViolation`` for each one over it, with or without the toolbar shown.

It never changes a response: a failure while measuring or recording (the
database is down, a bad budget) is logged on the ``ddt_perfpanels`` logger and
the response goes out as the view made it.
"""

from __future__ import annotations

import logging
import random
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from time import monotonic
from typing import TYPE_CHECKING, Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async

from ddt_perfpanels.conf import get_config
from ddt_perfpanels.redact import redact_words, storable, storable_json

if TYPE_CHECKING:
    from django.http import HttpRequest

    from ddt_perfpanels.api import capture
    from ddt_perfpanels.budgets.config import Budget

logger = logging.getLogger("ddt_perfpanels")

_MAX_ROUTE = 200
_MAX_PATH = 500


class BudgetMiddleware:
    """Sample requests, measure them with ``capture()``, record those over budget.

    Put it near the top of ``MIDDLEWARE`` (after the toolbar's middleware when
    both are used): what runs inside it is what it measures.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Any):
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request: Any) -> Any:
        if self.async_mode:
            return self.__acall__(request)
        started = self._start(request)
        if started is None:
            return self.get_response(request)
        cap, budget = started
        try:
            response = self.get_response(request)
        finally:
            self._stop(cap)
        self._record(request, response, cap, budget)
        return response

    async def __acall__(self, request: Any) -> Any:
        started = self._start(request)
        if started is None:
            return await self.get_response(request)
        cap, budget = started
        try:
            response = await self.get_response(request)
        finally:
            self._stop(cap)
        try:
            await sync_to_async(self._record)(request, response, cap, budget)
        except Exception:  # pragma: no cover - _record catches everything itself
            logger.exception(
                "ddt_perfpanels could not check the budget of %s", _loggable(request.path)
            )
        return response

    # -- measuring -----------------------------------------------------------------

    def _start(self, request: Any) -> tuple[capture, Budget] | None:
        """A started capture and the request's budget when this request is to be
        checked, else None."""
        try:
            budget = self._wants(request)
            if not budget:
                return None
            from ddt_perfpanels.api import capture
            from ddt_perfpanels.ignoring import note_request

            cap = capture(light=_light_enough(budget))
            cap.start()
            note_request(cap.report, request)
            return cap, budget
        except Exception:
            logger.exception(
                "ddt_perfpanels could not start measuring %s", _loggable(request.path)
            )
            return None

    def _wants(self, request: Any) -> Budget | None:
        """The budget of this request when it is sampled, not the toolbar's own,
        and some budget applies to it; else None."""
        rate = get_config()["BUDGET_SAMPLE_RATE"]
        if rate <= 0 or (rate < 1 and random.random() >= rate):
            return None
        if not _any_budget():
            return None
        from django.urls import Resolver404, resolve

        from ddt_perfpanels.budgets.config import budget_for

        try:
            match = resolve(request.path_info, getattr(request, "urlconf", None))
        except Resolver404:
            match = None
        if match is not None and _is_toolbar_view(match):
            return None
        budget = budget_for(match, request.path_info) or None
        if budget is not None:
            request._ddt_perfpanels_match = match
        return budget

    def _stop(self, cap: capture) -> None:
        try:
            cap.stop()
        except Exception:  # pragma: no cover - capture() handles its own failures
            logger.exception("ddt_perfpanels could not stop measuring")

    # -- recording -----------------------------------------------------------------

    def _record(self, request: Any, response: Any, cap: capture, budget: Budget) -> None:
        """``budget``: the one found when the request came in (its URL resolved then)."""
        try:
            from ddt_perfpanels.budgets.evaluate import evaluate, within_as_read

            report = cap.report
            assert report is not None  # started
            if within_as_read(report, budget):
                return  # the common case: nothing to record, nothing more to measure
            result = evaluate(report, budget)
            if result.over:
                try:
                    record_violation(request, response, result, report)
                finally:
                    if report.light:
                        _watch(budget.route)
        except Exception:
            logger.exception(
                "ddt_perfpanels could not record the budget violation of %s %s",
                request.method,
                _loggable(request.path),
            )
        finally:
            # The records of a big request go now, not when the response is
            # garbage collected.
            _release(cap)
        try:
            _prune_when_due()
        except Exception:
            logger.exception("ddt_perfpanels could not prune expired budget violations")


# A capture of this many queries frees enough memory to hand back to the system.
_TRIM_AFTER_QUERIES = 5_000


def _release(cap: capture) -> None:
    """Free the capture's records now; after a big one, let the C allocator give
    the freed memory back, so a worker's RSS returns near where it was."""
    try:
        report = cap.report
        big = report is not None and report.query_count >= _TRIM_AFTER_QUERIES
        cap.release()
        if big:
            _trim_memory()
    except Exception:  # pragma: no cover - defensive
        logger.exception("ddt_perfpanels could not release a capture")
    cap.report = None


_malloc_trim: Any = None


def _trim_memory() -> None:
    global _malloc_trim
    if _malloc_trim is None:
        _malloc_trim = False
        try:
            import ctypes
            import ctypes.util
            import sys

            if sys.platform.startswith("linux"):
                _malloc_trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
        except (OSError, AttributeError):  # not glibc
            _malloc_trim = False
    if _malloc_trim:
        _malloc_trim(0)


# route -> monotonic() until which its requests are recorded in full: a route
# that went over budget in a light capture gets its next violations with their
# N+1 and counts findings. Bounded: old entries go when it grows.
_watched: dict[str, float] = {}
_MAX_WATCHED = 1000


def _light_enough(budget: Any) -> bool:
    """Whether a light capture measures everything this budget limits."""
    from ddt_perfpanels.metrics import LIGHT_UNMEASURED

    config = get_config()
    if config["BUDGET_CAPTURE"] == "full":
        return False
    if any(budget.limits.get(name) is not None for name in LIGHT_UNMEASURED):
        return False
    until = _watched.get(budget.route)
    if until is not None:
        if monotonic() < until:
            return False
        _watched.pop(budget.route, None)
    return True


def _watch(route: str) -> None:
    now = monotonic()
    if len(_watched) >= _MAX_WATCHED:
        entries = list(_watched.items())  # one step: other threads may be writing
        for key in [k for k, until in entries if until <= now] or [k for k, _ in entries[:100]]:
            _watched.pop(key, None)
    seconds = get_config()["BUDGET_FULL_CAPTURE_SECONDS"]
    if seconds:
        _watched[route] = now + seconds


def _any_budget() -> bool:
    from ddt_perfpanels.budgets.config import budget_config
    from ddt_perfpanels.budgets.decorators import declared

    config = budget_config()
    if config.default or config.routes:
        return True
    if not declared:
        # Only @perf_budget budgets: they register when the views are imported.
        from django.urls import get_resolver

        get_resolver().url_patterns  # noqa: B018
    return bool(declared)


def _is_toolbar_view(match: Any) -> bool:
    """What ``DebugToolbar.is_toolbar_request()`` tells (its URL namespace is
    ``debug_toolbar.APP_NAME``), from the match we already have."""
    return bool(match.namespaces) and match.namespaces[-1] == "djdt"


def _truncate(text: str, length: int) -> str:
    text = storable(text)
    return text if len(text) <= length else text[: length - 1] + "…"


def _loggable(path: str) -> str:
    """A path for the log: its URL pattern's shape, as stored."""
    return redact_words(storable(path))[:_MAX_PATH]


def stored_path(request: HttpRequest, match: Any) -> str:
    """What ``BudgetViolation.path`` keeps: the matched URL pattern with its
    placeholders (``/accounts/reset/<uidb64>/<token>/``); for a path no URL
    matched, the path with its variable parts replaced as in cache keys. The
    request's own path only with ``BUDGET_STORE_RAW_PATH``. Never the query."""
    if get_config()["BUDGET_STORE_RAW_PATH"]:
        return request.path
    template = url_template(getattr(match, "route", None) or "") if match is not None else None
    if template is not None:
        # The script prefix (a site under /app/) is configuration, not a value.
        prefix = request.path[: len(request.path) - len(request.path_info)]
        return prefix.rstrip("/") + "/" + template.lstrip("/")
    return redact_words(request.path_info)


def url_template(route: str) -> str | None:
    """A resolver's route as a path with placeholders: ``path()`` routes as they
    are, ``re_path()`` ones with ``(?P<name>...)`` as ``<name>``; None for a
    regex that reads as no plain path."""
    out: list[str] = []
    i, n = 0, len(route)
    while i < n:
        c = route[i]
        if c == "\\" and i + 1 < n:
            escaped = route[i + 1]
            if escaped in "AZ":
                i += 2
                continue
            if escaped.isalnum():  # \d, \w... outside a group
                return None
            out.append(escaped)
            i += 2
        elif c == "(":
            depth, j = 0, i
            while j < n:
                if route[j] == "\\":
                    j += 2
                    continue
                depth += {"(": 1, ")": -1}.get(route[j], 0)
                if depth == 0:
                    break
                j += 1
            group = route[i : j + 1]
            if j + 1 < n and route[j + 1] in "?*+{":
                return None
            named = re.match(r"\(\?P<(\w+)>", group)
            if named:
                out.append(f"<{named.group(1)}>")
            elif group.startswith("(?"):
                return None
            else:
                out.append("<arg>")
            i = j + 1
        elif c in "^$":
            i += 1
        elif c in ".*+?[]{}|)":
            return None
        else:
            out.append(c)
            i += 1
    return "".join(out)


_recorded = 0
_recorded_lock = threading.Lock()


def record_violation(request: Any, response: Any, result: Any, report: Any) -> Any:
    """Write one BudgetViolation (and its ViolationMetric rows), unrecorded by
    any capture, in a transaction (a savepoint inside the request's own)."""
    from django.db import router, transaction
    from django.utils import timezone

    from ddt_perfpanels.budgets.evaluate import summarize_findings
    from ddt_perfpanels.models import BudgetViolation, ViolationMetric
    from ddt_perfpanels.recording.context import paused

    global _recorded
    config = get_config()
    budget = result.budget
    worst = result.worst
    route = _truncate(budget.route, _MAX_ROUTE)
    method = _truncate(request.method or "", 10)
    now = timezone.now()
    alias = router.db_for_write(BudgetViolation)
    with paused(), _unseen_by_toolbar(alias):
        nplusone, findings = summarize_findings(
            report, config["BUDGET_MAX_FINDINGS"], redacted=True
        )
        match = getattr(request, "_ddt_perfpanels_match", None)
        with transaction.atomic(using=alias):
            violation = BudgetViolation.objects.using(alias).create(
                created_at=now,
                route=route,
                path=_truncate(stored_path(request, match), _MAX_PATH),
                method=method,
                status=getattr(response, "status_code", 0) or 0,
                worst_metric=worst.metric,
                worst_ratio=worst.ratio,
                over_count=len(result.over),
                limits=dict(budget.limits),
                actuals=dict(result.metrics),
                sources=storable_json(list(budget.sources)),
                nplusone=storable_json(nplusone),
                findings=storable_json(findings),
            )
            ViolationMetric.objects.using(alias).bulk_create(
                [
                    ViolationMetric(
                        violation=violation,
                        created_at=now,
                        route=route,
                        method=method,
                        metric=over.metric,
                        limit=over.limit,
                        actual=over.actual,
                        ratio=over.ratio,
                    )
                    for over in result.over
                ]
            )
    from ddt_perfpanels.signals import send_violation

    send_violation(violation, request, result, report)
    every = config["BUDGET_PRUNE_EVERY"]
    if every:
        with _recorded_lock:
            _recorded += 1
            due = _recorded % every == 0
        if due:
            try:
                _prune_some(alias)
            except Exception:
                logger.exception("ddt_perfpanels could not prune expired budget violations")
    return violation


@contextmanager
def _unseen_by_toolbar(alias: str) -> Iterator[None]:
    """Our writes hidden from the toolbar's SQL panel too, so that it counts the
    queries our panels count. Below the toolbar's middleware they run while its
    SQL panel records: it wraps the cursors of a connection whose
    ``_djdt_logger`` is set (as it skips its own models' queries), and
    tests/test_middleware_budget.py checks that the two counts agree."""
    from django.db import connections

    connection = connections[alias]
    logger = getattr(connection, "_djdt_logger", None)
    if logger is None:
        yield
        return
    connection._djdt_logger = None  # type: ignore[attr-defined]  # the toolbar's attribute
    try:
        yield
    finally:
        connection._djdt_logger = logger  # type: ignore[attr-defined]


# monotonic() of this process's last look at the oldest row (None: not yet).
_pruned_at: float | None = None
PRUNE_INTERVAL = 3600.0


def _prune_when_due() -> None:
    """At most once an hour per process (and at its first checked request), look
    at the oldest violation and delete a batch when it is expired: retention
    holds without a scheduled ``perfpanels_prune``, however low the traffic."""
    global _pruned_at
    config = get_config()
    if not config["BUDGET_PRUNE_EVERY"] or config["BUDGET_RETENTION_DAYS"] is None:
        return
    now = monotonic()
    with _recorded_lock:
        if _pruned_at is not None and now - _pruned_at < PRUNE_INTERVAL:
            return
        _pruned_at = now
    from django.db import router

    from ddt_perfpanels.budgets.prune import retention_cutoff
    from ddt_perfpanels.models import BudgetViolation
    from ddt_perfpanels.recording.context import paused

    cutoff = retention_cutoff()
    alias = router.db_for_write(BudgetViolation)
    with paused(), _unseen_by_toolbar(alias):
        oldest = (
            BudgetViolation.objects.using(alias)
            .order_by("created_at")
            .values_list("created_at", flat=True)
            .first()
        )
    if oldest is not None and cutoff is not None and oldest < cutoff:
        _prune_some(alias)


def _prune_some(alias: str) -> None:
    """One bounded batch of expired rows, now and then, so the table stays bounded
    even without a scheduled ``perfpanels_prune``."""
    from ddt_perfpanels.budgets.prune import prune, retention_cutoff

    cutoff = retention_cutoff()
    if cutoff is not None:
        with _unseen_by_toolbar(alias):
            prune(cutoff, batch_size=1000, max_batches=1, using=alias)
