"""Drive the demo in a real headless Chromium: for ``scripts/screenshots`` and
the browser tests (``tests/browser/``).

- ``DemoServer``: the demo on a free loopback port, in a subprocess of its own,
  on a throwaway SQLite database that is migrated and seeded first. It is stopped
  with its owner, even if the owner is killed (Linux: ``PR_SET_PDEATHSIG``).
- ``launch_chromium()``: Debian's ``/usr/bin/chromium`` through Playwright's
  Python API (``executable_path``): Playwright never downloads a browser.
- ``open_panel()``, ``log_in()``: the steps a developer takes in the toolbar and
  the admin.

Nothing here imports Django: the demo runs in its own process.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

DEMO_DIR = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("DDT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
ADMIN = ("admin", "admin")

# Our panels, by the toolbar's panel id (the class name).
PANELS = ("NPlusOnePanel", "CountsPanel", "CacheBreakdownPanel", "BudgetPanel")


class DemoServerError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """Linux: SIGTERM this process when the process that started it dies."""
    os.setsid()
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class DemoServer:
    """``with DemoServer() as server: server.url("/projects/")``.

    ``redis_url``: run the demo with django-redis on that server (default: the
    local-memory cache, whatever REDIS_URL says in the environment).
    ``database``: a copy of that seeded database (``seed_database()``) instead
    of migrating and seeding one.
    """

    def __init__(
        self,
        *,
        python: str | None = None,
        redis_url: str = "",
        history: bool = True,
        database: str | os.PathLike | None = None,
        startup_timeout: float = 60.0,
    ):
        self.python = python or sys.executable
        self.database = database
        self.redis_url = redis_url
        self.history = history
        self.startup_timeout = startup_timeout
        self.port = 0
        self.process: subprocess.Popen | None = None
        self._dir: str | None = None
        self._log = None

    # -- life cycle ---------------------------------------------------------------

    def __enter__(self) -> DemoServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def env(self) -> dict[str, str]:
        return _demo_environ(
            DEMO_DATABASE=str(Path(self._dir) / "db.sqlite3"),
            REDIS_URL=self.redis_url,
            PYTHONUNBUFFERED="1",
        )

    def manage(self, *args: str, timeout: float = 120, **env: str) -> str:
        return _manage(self.python, args, {**self.env(), **env}, timeout)

    def start(self) -> None:
        self._dir = tempfile.mkdtemp(prefix="ddt-demo-")
        try:
            if self.database:
                shutil.copyfile(self.database, self.env()["DEMO_DATABASE"])
            else:
                seed_database(self.env()["DEMO_DATABASE"], python=self.python, history=self.history)
            self._serve()
        except BaseException:
            self.stop()
            raise

    def _serve(self, attempts: int = 3) -> None:
        self._log = open(Path(self._dir) / "server.log", "w+")  # noqa: SIM115
        for _ in range(attempts):
            self.port = free_port()
            self.process = subprocess.Popen(
                [
                    self.python,
                    "manage.py",
                    "runserver",
                    "--noreload",
                    f"127.0.0.1:{self.port}",
                ],
                cwd=DEMO_DIR,
                env=self.env(),
                stdout=self._log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
                start_new_session=sys.platform != "linux",
            )
            deadline = time.monotonic() + self.startup_timeout
            while time.monotonic() < deadline and self.process.poll() is None:
                if self._answers():
                    return
                time.sleep(0.1)
            self._terminate()
            if "already in use" not in self.log():
                break
        raise DemoServerError(f"the demo server did not start:\n{self.log()}")

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.url("/"), timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def log(self) -> str:
        if self._log is None:
            return ""
        self._log.flush()
        return Path(self._log.name).read_text(errors="replace")

    def _terminate(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def stop(self) -> None:
        self._terminate()
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


# -- Redis ------------------------------------------------------------------------
# The one throwaway redis-server of the tests, the demo and the screenshots.

if str(DEMO_DIR.parent) not in sys.path:
    sys.path.append(str(DEMO_DIR.parent))
from tests.servers import RedisServer, ServerUnavailable  # noqa: E402, F401

# -- Chromium ---------------------------------------------------------------------


def _demo_environ(**settings: str) -> dict[str, str]:
    """This process's environment with ``settings``, for the demo's: the demo is
    not under test (the toolbar must not think it is)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTEST_VERSION", "PYTEST_CURRENT_TEST", "DJANGO_SETTINGS_MODULE")
    }
    return {**env, **settings}


def _manage(python: str, args, env: dict[str, str], timeout: float) -> str:
    result = subprocess.run(
        [python, "manage.py", *args],
        cwd=DEMO_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode:
        raise DemoServerError(
            f"manage.py {' '.join(args)} failed ({result.returncode}):\n"
            f"{result.stdout}\n{result.stderr}"
        )
    return result.stdout


def seed_database(
    path: str | os.PathLike, *, python: str | None = None, history: bool = True
) -> str:
    """Migrate and seed the demo's SQLite database at ``path``; returns what
    ``seed_demo`` printed. Seeded on the local-memory cache of its own process:
    the history replays the slow pages, which would leave a server's Redis warm."""
    env = _demo_environ(DEMO_DATABASE=str(path), REDIS_URL="")
    python = python or sys.executable
    _manage(python, ("migrate", "--noinput", "-v", "0"), env, 120)
    return _manage(python, ("seed_demo", *(() if history else ("--no-history",))), env, 120)


def chromium_missing_reason() -> str | None:
    """Why the browser cannot run here, or None when it can."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return f"{CHROMIUM} is not installed (Debian: apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed (pip install -e '.[test]')"
    return None


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


# -- the toolbar and the admin ----------------------------------------------------


def open_panel(page, panel_id: str, timeout: float = 15_000):
    """Click a panel's button in the toolbar and wait until its content is
    rendered; returns the locator of the content. Playwright's CSS selectors go
    through the toolbar's open shadow root."""
    toolbar = page.locator("#djDebugToolbar")
    if not toolbar.is_visible():
        page.locator("#djShowToolBarButton").click()
    button = page.locator(f"#djDebugPanelList a.{panel_id}")
    button.click()
    # The toolbar fetches the content, then removes its loader.
    page.locator(f"#{panel_id} .djdt-loader").wait_for(state="detached", timeout=timeout)
    content = page.locator(f"#{panel_id} .djDebugPanelContent .djdt-scroll")
    content.wait_for(timeout=timeout)
    return content


def nav_subtitle(page, panel_id: str) -> str:
    return page.locator(f"#djdt-{panel_id} small").inner_text()


def close_panels(page) -> None:
    page.keyboard.press("Escape")


def log_in(page, server: DemoServer, next_path: str = "/admin/") -> None:
    page.goto(server.url(f"/admin/login/?next={next_path}"))
    page.fill("#id_username", ADMIN[0])
    page.fill("#id_password", ADMIN[1])
    with page.expect_navigation():
        page.click("input[type=submit]")
