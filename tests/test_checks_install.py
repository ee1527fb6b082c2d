"""Our panels configured without the app: a system check, not a 500 when a panel opens."""

from __future__ import annotations

from debug_toolbar.apps import check_panel_configs
from django.conf import settings
from django.test import override_settings


def app_errors():
    return [e for e in check_panel_configs(None) if e.id == "ddt_perfpanels.E020"]


def test_panels_without_the_app_are_one_check_error():
    without = [app for app in settings.INSTALLED_APPS if app != "ddt_perfpanels"]
    with override_settings(INSTALLED_APPS=without):
        errors = app_errors()
    # Four of our panels are configured; one error names the first of them.
    assert len(errors) == 1
    assert errors[0].msg.startswith("ddt_perfpanels.panels.nplusone.NPlusOnePanel is in")
    assert "'ddt_perfpanels' is not in INSTALLED_APPS" in errors[0].msg
    assert errors[0].hint == "Add 'ddt_perfpanels' to INSTALLED_APPS (after 'debug_toolbar')."


def test_no_error_with_the_app_installed():
    assert app_errors() == []
