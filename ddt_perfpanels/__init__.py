"""ddt_perfpanels: django-debug-toolbar panels that find N+1 queries, per-row
counts and cache misses, say how to fix them, and enforce performance budgets."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from ddt_perfpanels.api import capture
    from ddt_perfpanels.ignoring import ignore
    from ddt_perfpanels.report import Report

__all__ = ["Report", "capture", "ignore"]


def __getattr__(name: str) -> Any:
    # Lazy, so that "ddt_perfpanels" in INSTALLED_APPS imports nothing of the ORM.
    if name == "capture":
        from ddt_perfpanels.api import capture

        return capture
    if name == "ignore":
        from ddt_perfpanels.ignoring import ignore

        return ignore
    if name == "Report":
        from ddt_perfpanels.report import Report

        return Report
    raise AttributeError(f"module 'ddt_perfpanels' has no attribute {name!r}")
