"""System checks: bad configuration is reported at startup, never mid-request."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.apps import apps
from django.core.checks import Error, register

from ddt_perfpanels.conf import DEFAULTS


@register()
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    errors: list[Error] = []
    user = getattr(settings, "DDT_PERFPANELS", None)
    if user is None:
        return errors
    if not isinstance(user, dict):
        return [
            Error(
                "DDT_PERFPANELS must be a dict.",
                hint=f"Got {type(user).__name__}.",
                id="ddt_perfpanels.E001",
            )
        ]
    for key in (
        "NPLUSONE_MIN_QUERIES",
        "STACK_DEPTH",
        "MAX_QUERIES",
        "SQL_PREVIEW_CHARS",
        "CACHE_LARGE_VALUE_BYTES",
        "CACHE_REPEATED_GET_MIN",
        "CACHE_LOOP_MIN_GETS",
        "CACHE_MAX_CALLS",
        "COUNTS_MIN_QUERIES",
        "COUNTS_REPEATED_MIN",
        "COUNTS_FANOUT_MAX_ROWS",
    ):
        value = user.get(key, DEFAULTS[key])
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            errors.append(
                Error(
                    f"DDT_PERFPANELS[{key!r}] must be a positive integer, got {value!r}.",
                    id="ddt_perfpanels.E002",
                )
            )
    for key in ("COUNTS_MEASURE_FANOUT", "CACHE_SERVER_STATS", "BUDGET_INCLUDE_THIRD_PARTY"):
        if not isinstance(user.get(key, DEFAULTS[key]), bool):
            errors.append(
                Error(
                    f"DDT_PERFPANELS[{key!r}] must be True or False.",
                    id="ddt_perfpanels.E002",
                )
            )
    hide = user.get("HIDE_IN_STACKS", ())
    if not isinstance(hide, (list, tuple)) or not all(isinstance(h, str) for h in hide):
        errors.append(
            Error(
                "DDT_PERFPANELS['HIDE_IN_STACKS'] must be a list of module names.",
                id="ddt_perfpanels.E002",
            )
        )
    linger = user.get("HOOKS_LINGER_SECONDS", DEFAULTS["HOOKS_LINGER_SECONDS"])
    if not isinstance(linger, (int, float)) or isinstance(linger, bool) or linger < 0:
        errors.append(
            Error(
                "DDT_PERFPANELS['HOOKS_LINGER_SECONDS'] must be a number of seconds >= 0, "
                f"got {linger!r}.",
                id="ddt_perfpanels.E002",
            )
        )
    return errors


# The budget checks (E010-E016) live with the budgets; importing them registers them.
from ddt_perfpanels.budgets import checks as _budget_checks  # noqa: E402, F401


def check_app_installed(panel_class: type) -> list[Error]:
    """ddt_perfpanels.E020: our panels configured without the app in INSTALLED_APPS.

    Run by the toolbar's own check of its panels, as this module's checks are
    registered by the app that is missing. Reported once, by the first of our panels.
    """
    from debug_toolbar.toolbar import DebugToolbar

    from ddt_perfpanels.panels.base import PerfPanel

    if apps.is_installed("ddt_perfpanels"):
        return []
    ours = [c for c in DebugToolbar.get_panel_classes() if issubclass(c, PerfPanel)]
    if ours and panel_class is not ours[0]:
        return []
    return [
        Error(
            f"{panel_class.__module__}.{panel_class.__name__} is in "
            "DEBUG_TOOLBAR_PANELS but 'ddt_perfpanels' is not in INSTALLED_APPS: "
            "its templates, static files and models would not be found.",
            hint="Add 'ddt_perfpanels' to INSTALLED_APPS (after 'debug_toolbar').",
            id="ddt_perfpanels.E020",
        )
    ]
