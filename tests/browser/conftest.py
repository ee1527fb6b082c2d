"""The demo, served on a free loopback port for the whole session, and a headless
Chromium to drive it (Debian's /usr/bin/chromium through Playwright's Python API).

Without the browser (or the playwright package) these tests are skipped with
the reason, except in CI (CI=true), where that is a failure.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import os
import re
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


@contextlib.contextmanager
def _locked(path: Path):
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@pytest.fixture(scope="session")
def seeded_demo(tmp_path_factory):
    """(database, what seed_demo printed): the demo's database migrated and
    seeded (with budget history) once for the whole run; the first xdist worker
    to need it builds it, the others wait for it. Copy it before writing to it."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the run's directory, above each worker's own
    database, output = shared / "demo-seeded.sqlite3", shared / "demo-seeded.txt"
    with _locked(shared / "demo-seeded.lock"):
        if not output.exists():
            database.unlink(missing_ok=True)  # what a failed attempt left
            output.write_text(demo.seed_database(database))
    return database, output.read_text()


@pytest.fixture(scope="session")
def demo_server(browser_available, seeded_demo):
    """One demo server for the session (of this worker), on a copy of the
    seeded database and the local-memory cache."""
    with demo.DemoServer(database=seeded_demo[0]) as server:
        yield server


VIEWPORT = {"width": 1280, "height": 900}


def _new_page(chromium, **options):
    context = chromium.new_context(viewport=VIEWPORT, **options)
    context.set_default_timeout(15_000)
    return context, context.new_page()


# A page is reused by the tests of a module: a new one costs Chromium a renderer
# process (about 0.9 s of CPU, three times a page load). Each test gets it as a
# new one would be: no toolbar state, viewport and colour scheme as created.


@contextlib.contextmanager
def _reused(context, page, *, keep_login: bool):
    yield page
    with contextlib.suppress(Exception):  # a test that left the page elsewhere
        page.evaluate("() => { localStorage.clear(); sessionStorage.clear(); }")
    if keep_login:
        context.clear_cookies(name=re.compile("^djdt"))  # the toolbar's, not the session
    else:
        context.clear_cookies()
    page.set_viewport_size(VIEWPORT)
    page.emulate_media(color_scheme="light")


@pytest.fixture(scope="module")
def _anonymous_tab(chromium):
    context, page = _new_page(chromium)
    yield context, page
    context.close()


@pytest.fixture
def page(_anonymous_tab, demo_server):
    with _reused(*_anonymous_tab, keep_login=False) as page:
        yield page


@pytest.fixture(scope="module")
def _admin_tab(chromium, demo_server):
    """Logged in once (password hashing is slow on purpose)."""
    context, page = _new_page(chromium)
    demo.log_in(page, demo_server)
    yield context, page
    context.close()


@pytest.fixture
def admin_page(_admin_tab):
    with _reused(*_admin_tab, keep_login=True) as page:
        yield page
