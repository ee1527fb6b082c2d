"""django-debug-toolbar panels. Add the ones you want to DEBUG_TOOLBAR_PANELS."""

from ddt_perfpanels.panels.budget import BudgetPanel
from ddt_perfpanels.panels.cache import CacheBreakdownPanel
from ddt_perfpanels.panels.counts import CountsPanel
from ddt_perfpanels.panels.nplusone import NPlusOnePanel

__all__ = ["BudgetPanel", "CacheBreakdownPanel", "CountsPanel", "NPlusOnePanel"]
