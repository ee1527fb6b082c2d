"""Budgets: parsed from ``DDT_PERFPANELS["BUDGETS"]`` and ``@perf_budget``, and
matched to a request.

The budget of a request is built in layers, each overriding the one before
metric by metric (``None`` removes a limit):

1. ``BUDGETS["default"]``;
2. the most specific entry of ``BUDGETS["routes"]`` that matches: a URL name
   (``"projects:list"``) beats an exact path (``"/health/"``), which beats a glob
   (``"/api/*"``, ``"api:*"``); among globs, the one with more literal characters
   wins, then the one written first;
3. ``@perf_budget(...)`` on the view.

The same parser serves the system checks and the requests: a budget the checks
reject is skipped at runtime (with a warning in the log), never raised.
"""

from __future__ import annotations

import difflib
import logging
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from functools import cache
from typing import TYPE_CHECKING, Any

from django.core.signals import setting_changed
from django.dispatch import receiver

from ddt_perfpanels.budgets.metrics import METRICS, ratio
from ddt_perfpanels.conf import get_config

if TYPE_CHECKING:
    from django.urls import ResolverMatch

logger = logging.getLogger("ddt_perfpanels")

BUDGET_ATTR = "_ddt_perfpanels_budget"
_GLOB_CHARS = frozenset("*?[")

Limits = dict[str, float | None]


@dataclass(frozen=True)
class Problem:
    """Something wrong in a budget: a system check error at startup."""

    id: str
    message: str
    hint: str | None = None


def validate_limits(limits: Any, where: str) -> tuple[Limits, list[Problem]]:
    """The valid limits of a mapping, and what is wrong with the others."""
    if not isinstance(limits, dict):
        return {}, [
            Problem(
                "ddt_perfpanels.E011",
                f"{where} must be a dict of metric: limit, got {type(limits).__name__}.",
                hint=f"For example {{'queries': 20, 'db_time_ms': 200}}. "
                f"Metrics: {_metric_list()}.",
            )
        ]
    clean: Limits = {}
    problems: list[Problem] = []
    for name, value in limits.items():
        if name not in METRICS:
            close = difflib.get_close_matches(str(name), METRICS, n=1)
            hint = f"Did you mean {close[0]!r}? " if close else ""
            problems.append(
                Problem(
                    "ddt_perfpanels.E012",
                    f"{where} has an unknown metric {name!r}.",
                    hint=f"{hint}Metrics: {_metric_list()}.",
                )
            )
            continue
        if value is None:
            clean[name] = None
            continue
        if not _valid_limit(value):
            shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
            problems.append(
                Problem(
                    "ddt_perfpanels.E013",
                    f"{where}[{name!r}] must be a number >= 0 (or None for no limit), "
                    f"got {shown}.",
                    hint=f"A limit is 0, or from {MIN_LIMIT:g} to {MAX_LIMIT:,.0f}.",
                )
            )
            continue
        clean[name] = value
    return clean, problems


# Limits a float holds exactly enough to divide by: 1e-320 would make every
# ratio infinite, 10**400 is no float at all.
MIN_LIMIT = 1e-6
MAX_LIMIT = 1e15


def _valid_limit(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    # Compared before any float conversion: a huge int would overflow it.
    if not (0 <= value <= MAX_LIMIT):  # nan fails too
        return False
    return value == 0 or value >= MIN_LIMIT


def _metric_list() -> str:
    return ", ".join(METRICS)


def is_glob(pattern: str) -> bool:
    return any(c in _GLOB_CHARS for c in pattern)


@dataclass(frozen=True)
class RouteRule:
    """One entry of ``BUDGETS["routes"]``."""

    key: str
    limits: Limits
    order: int

    @property
    def is_path(self) -> bool:
        return self.key.startswith("/")

    @property
    def rank(self) -> tuple[int, int, int]:
        """Higher is more specific."""
        if is_glob(self.key):
            literal = sum(1 for c in self.key if c not in _GLOB_CHARS)
            return (1, literal, -self.order)
        return (3 if not self.is_path else 2, len(self.key), -self.order)

    def matches(self, view_name: str | None, path: str | None) -> bool:
        subject = path if self.is_path else view_name
        if not subject:
            return False
        if is_glob(self.key):
            return fnmatchcase(subject, self.key)
        return subject == self.key


@dataclass(frozen=True)
class BudgetConfig:
    default: Limits
    routes: tuple[RouteRule, ...]
    problems: tuple[Problem, ...]

    def route_for(self, view_name: str | None, path: str | None) -> RouteRule | None:
        best: RouteRule | None = None
        for rule in self.routes:
            if rule.matches(view_name, path) and (best is None or rule.rank > best.rank):
                best = rule
        return best


def parse_budgets(value: Any) -> BudgetConfig:
    """``DDT_PERFPANELS["BUDGETS"]`` as rules, keeping what is valid."""
    where = "DDT_PERFPANELS['BUDGETS']"
    if value is None:
        return BudgetConfig({}, (), ())
    if not isinstance(value, dict):
        return BudgetConfig(
            {},
            (),
            (
                Problem(
                    "ddt_perfpanels.E010",
                    f"{where} must be a dict with the keys 'default' and 'routes', "
                    f"got {type(value).__name__}.",
                ),
            ),
        )
    problems: list[Problem] = []
    unknown = sorted(str(k) for k in value if k not in ("default", "routes"))
    if unknown:
        problems.append(
            Problem(
                "ddt_perfpanels.E010",
                f"{where} has unknown keys: {', '.join(unknown)}.",
                hint="It takes 'default' (limits for every request) and 'routes' "
                "(limits per URL name or path glob).",
            )
        )
    default, found = validate_limits(value.get("default") or {}, f"{where}['default']")
    problems.extend(found)
    routes_value = value.get("routes") or {}
    rules: list[RouteRule] = []
    if not isinstance(routes_value, dict):
        problems.append(
            Problem(
                "ddt_perfpanels.E010",
                f"{where}['routes'] must be a dict of route: limits, "
                f"got {type(routes_value).__name__}.",
                hint="For example "
                "{'projects:list': {'queries': 8}, '/api/*': {'db_time_ms': 100}}.",
            )
        )
        routes_value = {}
    for order, (key, limits) in enumerate(routes_value.items()):
        route_where = f"{where}['routes'][{key!r}]"
        if not isinstance(key, str) or not key.strip() or key != key.strip():
            problems.append(
                Problem(
                    "ddt_perfpanels.E014",
                    f"{where}['routes'] has an invalid route {key!r}.",
                    hint="A route is a URL name ('projects:list'), a URL name glob "
                    "('api:*'), or a path glob starting with '/' ('/api/*').",
                )
            )
            continue
        clean, found = validate_limits(limits, route_where)
        problems.extend(found)
        rules.append(RouteRule(key, clean, order))
    return BudgetConfig(default, tuple(rules), tuple(problems))


@cache
def budget_config() -> BudgetConfig:
    config = parse_budgets(get_config().get("BUDGETS"))
    for problem in config.problems:
        logger.warning("ddt_perfpanels: ignoring a bad budget: %s", problem.message)
    return config


@receiver(setting_changed)
def _reset(*, setting: str, **kwargs: Any) -> None:
    if setting in ("DDT_PERFPANELS", "ROOT_URLCONF"):
        budget_config.cache_clear()


# -- @perf_budget ------------------------------------------------------------------


@dataclass(frozen=True)
class ViewBudget:
    """What ``@perf_budget`` attached to a view."""

    view: str  # dotted name, for messages
    limits: Limits
    problems: tuple[Problem, ...] = ()


def view_budget(view: Any) -> ViewBudget | None:
    """The ``@perf_budget`` of a view function or class-based view, if any."""
    if view is None:
        return None
    found = getattr(view, BUDGET_ATTR, None)
    if found is None:
        view_class = getattr(view, "view_class", None)
        found = getattr(view_class, BUDGET_ATTR, None) if view_class is not None else None
    return found if isinstance(found, ViewBudget) else None


# -- the budget of one request -----------------------------------------------------


@dataclass(frozen=True)
class Overage:
    metric: str
    limit: float
    actual: float

    @property
    def ratio(self) -> float:
        return ratio(self.actual, self.limit)


@dataclass(frozen=True)
class Budget:
    """The limits that apply to one request, and where each layer came from."""

    limits: dict[str, float]
    sources: tuple[str, ...] = ()
    route: str = ""
    _layers: tuple[tuple[str, Limits], ...] = field(default=(), repr=False, compare=False)

    def __bool__(self) -> bool:
        return bool(self.limits)

    def source_of(self, metric: str) -> str:
        """Which layer set this metric's limit."""
        for source, limits in reversed(self._layers):
            if metric in limits:
                return source
        return ""

    def check(self, metrics: dict[str, float]) -> list[Overage]:
        """The metrics over their limit, in display order."""
        over = []
        for name in METRICS:
            limit = self.limits.get(name)
            if limit is None:
                continue
            actual = metrics.get(name, 0) or 0
            if actual > limit:
                over.append(Overage(name, limit, actual))
        return over

    def override(self, limits: Limits, source: str) -> Budget:
        return _build((*self._layers, (source, limits)), self.route)


def _build(layers: tuple[tuple[str, Limits], ...], route: str) -> Budget:
    merged: dict[str, float | None] = {}
    sources = []
    for source, limits in layers:
        if limits:
            merged.update(limits)
            sources.append(source)
    clean = {name: value for name, value in merged.items() if value is not None}
    return Budget(clean, tuple(sources), route, layers)


def route_of(match: ResolverMatch | None) -> str:
    """The name a request is recorded under: its URL name (with namespaces), else
    its URL pattern ("/books/<int:pk>/"), else "" when nothing matched."""
    if match is None:
        return ""
    if getattr(match, "url_name", None):
        return match.view_name
    route = getattr(match, "route", "") or ""
    return "/" + route.lstrip("/^") if route else ""


def budget_for(match: ResolverMatch | None, path: str | None) -> Budget:
    """The budget for a resolved URL (``ResolverMatch`` or None) and a path."""
    config = budget_config()
    view_name = match.view_name if match is not None and match.url_name else None
    layers: list[tuple[str, Limits]] = [("default", config.default)]
    rule = config.route_for(view_name, path)
    if rule is not None:
        layers.append((f"route {rule.key!r}", rule.limits))
    declared = view_budget(match.func if match is not None else None)
    if declared is not None:
        layers.append((f"@perf_budget on {declared.view}", declared.limits))
    return _build(tuple(layers), route_of(match))


def budget_for_request(request: Any) -> Budget:
    return budget_for(getattr(request, "resolver_match", None), request.path_info)


def budget_for_url(url: str, urlconf: str | None = None) -> Budget:
    """The budget that a request to ``url`` (a path, with or without query) gets."""
    from urllib.parse import urlsplit

    from django.urls import Resolver404, resolve

    path = urlsplit(url).path or "/"
    try:
        match = resolve(path, urlconf)
    except Resolver404:
        match = None
    return budget_for(match, path)
