"""The one namespaced settings dict, ``DDT_PERFPANELS``, with documented defaults."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

DEFAULTS: dict[str, Any] = {
    # N+1: a relation loaded lazily this many times from one queryset is a cluster.
    "NPLUSONE_MIN_QUERIES": 2,
    # Application frames kept per recorded query (innermost first).
    "STACK_DEPTH": 12,
    # Extra module prefixes whose frames are hidden from stacks, like the
    # toolbar's HIDE_IN_STACKTRACES (Django, the toolbar, this package, the
    # standard library and site-packages are always hidden).
    "HIDE_IN_STACKS": (),
    # Queries recorded per capture; past it queries are counted, not kept.
    "MAX_QUERIES": 50_000,
    # Characters of SQL kept for an example query in a finding.
    "SQL_PREVIEW_CHARS": 2_000,
    # Deprecated, no effect: the hooks are installed once, at start-up, and pass
    # straight through outside a capture (W002 says so). Still range-checked.
    "HOOKS_LINGER_SECONDS": 10,
    # Cache panel: a value read or written above this many bytes (serialized,
    # as the backend stores it) is a large_value finding.
    "CACHE_LARGE_VALUE_BYTES": 100 * 1024,
    # Cache panel: a key read this many times in one request is a repeated_get.
    "CACHE_REPEATED_GET_MIN": 2,
    # Cache panel: this many single-key gets of one key pattern from one line
    # of code is a get_in_loop (use get_many).
    "CACHE_LOOP_MIN_GETS": 3,
    # Cache panel: cache calls recorded per capture; past it they are counted.
    "CACHE_MAX_CALLS": 10_000,
    # Cache panel: read each Redis server's keyspace_hits/keyspace_misses
    # (INFO stats, on a connection of its own) before and after the request.
    "CACHE_SERVER_STATS": True,
    # Counts panel: .count()/.exists() on a related manager this many times from
    # one line, for different rows, is a count_in_loop / exists_in_loop.
    "COUNTS_MIN_QUERIES": 2,
    # Counts panel: this many COUNT queries on one table in one request, differing
    # only in their WHERE, is a repeated_count (one .aggregate() would do).
    "COUNTS_REPEATED_MIN": 3,
    # Counts panel: measure the join fan-out of a distinct_join_count when the
    # panel's stats are built (EXPLAIN row estimate on PostgreSQL, a bounded
    # COUNT(*) on SQLite), never while the request runs.
    "COUNTS_MEASURE_FANOUT": True,
    # Counts panel: on SQLite, stop counting joined rows past this many.
    "COUNTS_FANOUT_MAX_ROWS": 100_000,
    # Budgets: {"default": {metric: limit}, "routes": {url name or path glob:
    # {metric: limit}}}; see ddt_perfpanels.budgets.metrics for the metrics.
    "BUDGETS": {},
    # Budgets: the share of requests BudgetMiddleware checks (1.0 all, 0 none).
    "BUDGET_SAMPLE_RATE": 1.0,
    # Budgets: how BudgetMiddleware records a request. "auto": a light capture
    # (queries without stacks, cache calls, no ORM provenance) unless the
    # budget limits nplusone or count_findings, or the route went over its
    # budget in the last BUDGET_FULL_CAPTURE_SECONDS (so its next violations
    # come with their N+1 and counts fixes); "full": always everything.
    "BUDGET_CAPTURE": "auto",
    "BUDGET_FULL_CAPTURE_SECONDS": 600,
    # Budgets: days a BudgetViolation is kept (None: until deleted by hand).
    "BUDGET_RETENTION_DAYS": 30,
    # Budgets: count findings whose queryset a package builds (site-packages, or
    # outside settings.BASE_DIR) in the nplusone and count_findings metrics. They
    # are shown apart in the panels, folded, either way.
    "BUDGET_INCLUDE_THIRD_PARTY": False,
    # Budgets: N+1 clusters and other findings stored with a violation.
    "BUDGET_MAX_FINDINGS": 5,
    # Accepted findings: a list of dicts of glob patterns (model, field, kind, key,
    # file, url_name), all of which must match; see ddt_perfpanels.ignoring.
    "IGNORE": [],
    # manage.py perfpanels_audit: URLs requested besides the admin pages and the
    # URL patterns that take no arguments.
    "AUDIT_URLS": [],
    # Budgets: every this many recorded violations, delete one batch of expired
    # ones (0: only manage.py perfpanels_prune does). Each process also looks
    # at the oldest row at most once an hour, so retention holds on quiet sites.
    "BUDGET_PRUNE_EVERY": 1000,
    # Budgets: store the request's own path in BudgetViolation.path. Off by
    # default: the matched URL pattern is stored ("/reset/<uidb64>/<token>/"),
    # as paths carry tokens and ids. Never the query string.
    "BUDGET_STORE_RAW_PATH": False,
    # Full captures: model instances and ORM operations tracked per capture for
    # N+1 and counts provenance; past it queries are still counted and timed,
    # but no longer traced to the ORM (the panels say so). Bounds memory.
    "MAX_PROVENANCE": 20_000,
}


@dataclass(frozen=True)
class Bounds:
    """What a setting accepts: checked by the system checks, and at run time an
    invalid value falls back to its default instead of failing a request."""

    kind: str  # "int", "number", "bool", "choice", "modules"
    low: float = 0
    high: float = 0
    none: bool = False  # None allowed
    choices: tuple[str, ...] = ()

    def problem(self, value: Any) -> str | None:
        """What is wrong with a value, as "must be ...", or None."""
        if value is None and self.none:
            return None
        if self.kind == "bool":
            return None if isinstance(value, bool) else "must be True or False"
        if self.kind == "choice":
            return None if value in self.choices else "must be " + " or ".join(
                repr(c) for c in self.choices
            )
        if self.kind == "modules":
            ok = isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
            return None if ok else "must be a list of module names"
        ok = isinstance(value, int) if self.kind == "int" else isinstance(value, (int, float))
        what = "an integer" if self.kind == "int" else "a number"
        expected = f"must be {what} from {self.low:,} to {self.high:,}"
        if self.none:
            expected += " (or None)"
        if not ok or isinstance(value, bool):
            return expected
        # Compared exactly: 10**400 is an int no float can hold; nan is never in.
        if not (self.low <= value <= self.high):
            return expected
        return None


_COUNT = Bounds("int", 1, 1_000_000)
SETTINGS: dict[str, Bounds] = {
    "NPLUSONE_MIN_QUERIES": _COUNT,
    "STACK_DEPTH": Bounds("int", 1, 200),
    "HIDE_IN_STACKS": Bounds("modules"),
    "MAX_QUERIES": Bounds("int", 1, 10_000_000),
    "SQL_PREVIEW_CHARS": Bounds("int", 1, 1_000_000),
    "HOOKS_LINGER_SECONDS": Bounds("number", 0, 86_400),
    "CACHE_LARGE_VALUE_BYTES": Bounds("int", 1, 10**12),
    "CACHE_REPEATED_GET_MIN": _COUNT,
    "CACHE_LOOP_MIN_GETS": _COUNT,
    "CACHE_MAX_CALLS": Bounds("int", 1, 10_000_000),
    "CACHE_SERVER_STATS": Bounds("bool"),
    "COUNTS_MIN_QUERIES": _COUNT,
    "COUNTS_REPEATED_MIN": _COUNT,
    "COUNTS_MEASURE_FANOUT": Bounds("bool"),
    "COUNTS_FANOUT_MAX_ROWS": Bounds("int", 1, 10**9),
    "BUDGET_SAMPLE_RATE": Bounds("number", 0, 1),
    "BUDGET_CAPTURE": Bounds("choice", choices=("auto", "full")),
    "BUDGET_FULL_CAPTURE_SECONDS": Bounds("int", 0, 7 * 86_400),
    "BUDGET_RETENTION_DAYS": Bounds("int", 1, 36_500, none=True),
    "BUDGET_MAX_FINDINGS": Bounds("int", 0, 100),
    "BUDGET_PRUNE_EVERY": Bounds("int", 0, 10**9),
    "BUDGET_STORE_RAW_PATH": Bounds("bool"),
    "BUDGET_INCLUDE_THIRD_PARTY": Bounds("bool"),
    "MAX_PROVENANCE": Bounds("int", 1, 10_000_000),
}


def setting_problem(key: str, value: Any) -> str | None:
    """``"DDT_PERFPANELS['X'] must be ..., got ..."`` for a bad value, else None."""
    bounds = SETTINGS.get(key)
    try:
        problem = bounds.problem(value) if bounds is not None else None
    except Exception:  # a value whose comparisons raise
        problem = "must be a plain value"
    if problem is None:
        return None
    return f"DDT_PERFPANELS[{key!r}] {problem}, got {_short_repr(value)}."


def _short_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:  # an object whose repr fails: say what it is
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 60 else text[:57] + "..."


@cache
def get_config() -> dict[str, Any]:
    user = getattr(settings, "DDT_PERFPANELS", None) or {}
    config = dict(DEFAULTS)
    if isinstance(user, dict):
        config.update(user)
    for key, value in config.items():
        problem = setting_problem(key, value)
        if problem is not None:
            # The system checks report it; a request must never fail on it.
            logging.getLogger("ddt_perfpanels").warning(
                "ddt_perfpanels: %s Using the default, %r.", problem, DEFAULTS[key]
            )
            config[key] = DEFAULTS[key]
    return config


@receiver(setting_changed)
def _reset_config(*, setting: str, **kwargs: Any) -> None:
    if setting in ("DDT_PERFPANELS", "BASE_DIR"):
        get_config.cache_clear()
