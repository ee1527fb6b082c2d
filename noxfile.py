"""The test matrix: ``./scripts/test`` runs it (``nox -l`` lists the sessions).

- ``tests``: the library's tests, Python x Django x database, in parallel
  (pytest-xdist); the browser tests are left to the ``browser`` session.
- ``quick`` (not in the default run): the first environment on SQLite without
  the tests that run whole projects in subprocesses.
- ``browser``: the demo in headless Chromium and ``scripts/demo`` end to end,
  once, on the first environment (the demo runs on SQLite of its own whatever
  the database of the matrix).
- ``lint``: import-linter checks the layers and that no modules import each
  other in a cycle (the contracts are in pyproject.toml).

Environments are created by uv and reused; nothing is downloaded but packages.
"""

from __future__ import annotations

import os
import re

import nox

nox.options.default_venv_backend = "uv"
nox.options.reuse_venv = "yes"
nox.options.error_on_missing_interpreters = True

# (Python, Django): what CI tests. The first one is the quick one.
ENVIRONMENTS = [("3.11", "5.2"), ("3.12", "6.1")]
DATABASES = ["sqlite", "postgres"]


def _install(session: nox.Session, django: str, extras: str = "redis,test") -> None:
    major, minor = django.split(".")
    session.install("-e", f".[{extras}]", f"Django>={django},<{major}.{int(minor) + 1}")


def _pytest(session: nox.Session, *args: str, db: str = "sqlite") -> None:
    results = os.environ.get("DDT_TEST_RESULTS")  # scripts/test sums these up
    if results:
        name = re.sub(r"[^\w.-]+", "-", session.name).strip("-")
        args += (f"--junitxml={results}/{name}.xml",)
    session.run("python", "-m", "pytest", *args, *session.posargs, env={"DDT_TEST_DB": db})


@nox.session(python=[python for python, _ in ENVIRONMENTS])
@nox.parametrize("db", DATABASES)
def tests(session: nox.Session, db: str) -> None:
    django = dict(ENVIRONMENTS)[session.python]
    _install(session, django)
    workers = os.environ.get("DDT_TEST_WORKERS", "auto")
    # Tests that run a project on a SQLite database of its own gain nothing from
    # PostgreSQL: they run in the SQLite sessions.
    only = ("-m", "not own_database") if db == "postgres" else ()
    _pytest(session, "-n", workers, "--dist", "worksteal", "--ignore=tests/browser", *only, db=db)


@nox.session(python=ENVIRONMENTS[0][0], default=False)
def quick(session: nox.Session) -> None:
    """The fast path for daily work (./scripts/test --quick): the first
    environment on SQLite, without the projects run in subprocesses."""
    _install(session, ENVIRONMENTS[0][1])
    workers = os.environ.get("DDT_TEST_WORKERS", "auto")
    only = ("-m", "not own_database")
    _pytest(session, "-n", workers, "--dist", "worksteal", "--ignore=tests/browser", *only)


@nox.session(python=ENVIRONMENTS[0][0])
def browser(session: nox.Session) -> None:
    _install(session, ENVIRONMENTS[0][1])
    # A file a worker: each file's demo server and Chromium are started once.
    workers = os.environ.get("DDT_TEST_WORKERS", "auto")
    _pytest(session, "-n", workers, "--dist", "loadfile", "tests/browser")


@nox.session(python=ENVIRONMENTS[0][0])
def lint(session: nox.Session) -> None:
    session.install("-e", ".", "import-linter>=2.17")  # tested with 2.17 (acyclic_siblings)
    session.run("lint-imports", "--no-cache")


@nox.session(python=ENVIRONMENTS[0][0], default=False)
def bench(session: nox.Session) -> None:
    """benchmarks/: ``./scripts/test -s bench -- --quick`` (not part of the suite)."""
    _install(session, ENVIRONMENTS[0][1], extras="redis,test,bench")
    session.run("python", "-m", "benchmarks.run", *session.posargs)
