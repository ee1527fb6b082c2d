"""The demo, served on a free loopback port for the whole session, and a headless
Chromium to drive it (Debian's /usr/bin/chromium through Playwright's Python API).

Without the browser (or the playwright package) these tests are skipped with
the reason, except in CI (CI=true), where that is a failure.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load_demo_browser():
    # demo/ is not a package of this repository's tests: load the one module.
    path = ROOT / "demo" / "demo_site" / "browser.py"
    spec = importlib.util.spec_from_file_location("ddt_demo_browser", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


demo = _load_demo_browser()


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture(scope="session")
def browser_available():
    reason = demo.chromium_missing_reason()
    if reason:
        if _in_ci():
            pytest.fail(f"browser tests cannot run (CI=true): {reason}", pytrace=False)
        pytest.skip(f"browser tests skipped: {reason}")


@pytest.fixture(scope="module")
def chromium(browser_available):
    # Module-scoped: Playwright's sync API keeps an event loop running in this
    # thread until it stops, and the async tests that run later need theirs.
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = demo.launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def demo_server(browser_available):
    """One demo server for the session: migrated, seeded (with budget history),
    on the local-memory cache."""
    with demo.DemoServer() as server:
        yield server


def _new_page(chromium, **options):
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, **options)
    context.set_default_timeout(15_000)
    return context, context.new_page()


@pytest.fixture
def page(chromium, demo_server):
    context, page = _new_page(chromium)
    yield page
    context.close()


@pytest.fixture(scope="module")
def admin_session(chromium, demo_server):
    """The cookies of one admin login (password hashing is slow on purpose)."""
    context, page = _new_page(chromium)
    demo.log_in(page, demo_server)
    state = context.storage_state()
    context.close()
    return state


@pytest.fixture
def admin_page(chromium, admin_session):
    context, page = _new_page(chromium, storage_state=admin_session)
    yield page
    context.close()
