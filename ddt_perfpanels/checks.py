"""System checks: bad configuration is reported at startup, never mid-request.

- E001 ``DDT_PERFPANELS`` is not a dict
- E002 a setting out of its range or of the wrong type (``conf.SETTINGS``)
- W001 an unknown key (with the closest known one)
- W002 a setting that no longer has an effect (``DEPRECATED``)
"""

from __future__ import annotations

import difflib
from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning, register

from ddt_perfpanels.conf import DEFAULTS, setting_problem

# Settings still accepted (and range-checked) that no longer do anything: why.
DEPRECATED = {
    "HOOKS_LINGER_SECONDS": (
        "the hooks are installed once, at start-up, and pass straight through "
        "outside a capture: there is nothing to remove after one"
    ),
}


@register()
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[Error | Warning]:
    user = getattr(settings, "DDT_PERFPANELS", None)
    if user is None:
        return []
    if not isinstance(user, dict):
        return [
            Error(
                "DDT_PERFPANELS must be a dict.",
                hint=f"Got {type(user).__name__}.",
                id="ddt_perfpanels.E001",
            )
        ]
    errors: list[Error | Warning] = []
    for key, value in user.items():
        if key not in DEFAULTS:
            close = difflib.get_close_matches(str(key), list(DEFAULTS), n=1)
            errors.append(
                Warning(
                    f"DDT_PERFPANELS has an unknown key {key!r}: it is ignored.",
                    hint=f"Did you mean {close[0]!r}?" if close else None,
                    id="ddt_perfpanels.W001",
                )
            )
            continue
        # The budget options have their own ids (budgets/checks.py).
        problem = None if key in _budget_checks.OPTION_IDS else setting_problem(key, value)
        if problem is None and key in DEPRECATED:  # one message a key
            errors.append(
                Warning(
                    f"DDT_PERFPANELS[{key!r}] has no effect any more: {DEPRECATED[key]}.",
                    hint=f"Remove {key!r} from DDT_PERFPANELS.",
                    id="ddt_perfpanels.W002",
                )
            )
        if problem is not None:
            errors.append(
                Error(
                    problem,
                    hint="Until fixed, the default is used: " + repr(DEFAULTS[key]) + ".",
                    id="ddt_perfpanels.E002",
                )
            )
    return errors


# Checks that live with what they configure; importing them registers them: the
# budgets' (E010-E017), IGNORE's (E030) and AUDIT_URLS' (E031). E020 (the app
# missing from INSTALLED_APPS) is the panels' own: panels.base.
from ddt_perfpanels import audit as _audit  # noqa: E402, F401
from ddt_perfpanels import ignoring as _ignoring  # noqa: E402, F401
from ddt_perfpanels.budgets import checks as _budget_checks  # noqa: E402, F401
