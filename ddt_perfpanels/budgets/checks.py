"""System checks for budgets (``ddt_perfpanels.E010``–``E017``).

- E010 ``BUDGETS`` is not shaped ``{"default": {...}, "routes": {...}}``
- E011 a budget is not a dict of metric: limit
- E012 unknown metric (with the closest known one)
- E013 a limit that is not a number >= 0 (or None)
- E014 a route that is no URL name of the URLconf, or an invalid route
- E015 ``BUDGET_SAMPLE_RATE`` not between 0 and 1
- E016 ``BUDGET_RETENTION_DAYS``/``BUDGET_MAX_FINDINGS``/``BUDGET_PRUNE_EVERY``/
  ``BUDGET_FULL_CAPTURE_SECONDS``/``BUDGET_STORE_RAW_PATH`` invalid or out of range
- E017 ``BUDGET_CAPTURE`` neither "auto" nor "full"
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, register

from ddt_perfpanels.budgets.config import Problem, is_glob, parse_budgets
from ddt_perfpanels.conf import setting_problem

# Each budget option's check id, and a hint; their ranges are in conf.SETTINGS.
OPTION_IDS: dict[str, tuple[str, str | None]] = {
    "BUDGET_SAMPLE_RATE": (
        "ddt_perfpanels.E015",
        "1.0 checks every request, 0.1 one request in ten, 0 none.",
    ),
    "BUDGET_RETENTION_DAYS": ("ddt_perfpanels.E016", "None keeps every violation."),
    "BUDGET_MAX_FINDINGS": ("ddt_perfpanels.E016", None),
    "BUDGET_PRUNE_EVERY": ("ddt_perfpanels.E016", None),
    "BUDGET_FULL_CAPTURE_SECONDS": ("ddt_perfpanels.E016", None),
    "BUDGET_STORE_RAW_PATH": ("ddt_perfpanels.E016", None),
    "BUDGET_CAPTURE": (
        "ddt_perfpanels.E017",
        "'auto' records most requests light (numbers only); 'full' records "
        "N+1 and counts provenance on every checked request.",
    ),
}


def _errors(problems: list[Problem] | tuple[Problem, ...]) -> list[Error]:
    return [Error(p.message, hint=p.hint, id=p.id) for p in problems]


def _user_config() -> dict[str, Any] | None:
    user = getattr(settings, "DDT_PERFPANELS", None)
    return user if isinstance(user, dict) else None


@register()
def check_budget_settings(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    user = _user_config()
    if user is None:
        return []
    errors = _errors(parse_budgets(user.get("BUDGETS")).problems)
    for key, (error_id, hint) in OPTION_IDS.items():
        if key not in user:
            continue
        problem = setting_problem(key, user[key])
        if problem is not None:
            errors.append(Error(problem, hint=hint, id=error_id))
    return errors


@register(Tags.urls)
def check_budget_routes(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """Route names must exist; @perf_budget limits must be valid.

    Loading the URLconf imports the views, which registers their @perf_budget.
    """
    from django.urls import get_resolver

    from ddt_perfpanels.budgets.decorators import declared

    errors: list[Error] = []
    try:
        names = url_names(get_resolver().url_patterns)
    except Exception:
        # A broken URLconf is reported by Django's own checks (urls.E...).
        names = None
    user = _user_config()
    budgets = parse_budgets(user.get("BUDGETS")) if user is not None else None
    if budgets is not None and names is not None:
        for rule in budgets.routes:
            if rule.is_path:
                continue
            if is_glob(rule.key):
                from fnmatch import fnmatchcase

                if not any(fnmatchcase(name, rule.key) for name in names):
                    errors.append(
                        Error(
                            f"DDT_PERFPANELS['BUDGETS']['routes'] has {rule.key!r}, "
                            "which matches no URL name.",
                            hint="Path globs start with '/': '/api/*'.",
                            id="ddt_perfpanels.E014",
                        )
                    )
                continue
            if rule.key not in names:
                import difflib

                close = difflib.get_close_matches(rule.key, names, n=1)
                hint = f"Did you mean {close[0]!r}? " if close else ""
                errors.append(
                    Error(
                        f"DDT_PERFPANELS['BUDGETS']['routes'] has {rule.key!r}, "
                        "which is not a URL name.",
                        hint=hint + "A route is a URL name as reverse() takes it "
                        "('namespace:name'), or a path glob starting with '/'.",
                        id="ddt_perfpanels.E014",
                    )
                )
    seen: set[int] = set()
    for budget in declared:
        if id(budget) in seen:
            continue
        seen.add(id(budget))
        errors.extend(_errors(budget.problems))
    return errors


def url_names(patterns: Any, prefix: str = "") -> set[str]:
    """Every name reverse() accepts, with its namespaces: {"admin:index", ...}."""
    from django.urls import URLPattern, URLResolver

    names: set[str] = set()
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = prefix + f"{pattern.namespace}:" if pattern.namespace else prefix
            names |= url_names(pattern.url_patterns, inner)
        elif isinstance(pattern, URLPattern) and pattern.name:
            names.add(prefix + pattern.name)
    return names
