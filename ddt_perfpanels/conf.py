"""The one namespaced settings dict, ``DDT_PERFPANELS``, with documented defaults."""

from __future__ import annotations

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
}


@cache
def get_config() -> dict[str, Any]:
    user = getattr(settings, "DDT_PERFPANELS", None) or {}
    config = dict(DEFAULTS)
    if isinstance(user, dict):
        config.update(user)
    return config


@receiver(setting_changed)
def _reset_config(*, setting: str, **kwargs: Any) -> None:
    if setting == "DDT_PERFPANELS":
        get_config.cache_clear()
        from ddt_perfpanels.recording import stack

        stack.reset_classification()
