"""The test matrix: ``./scripts/test`` runs it (``nox -l`` lists the sessions).

- ``tests``: the library's tests, Python x Django x database, in parallel
  (pytest-xdist).
- ``e2e``: the tests that run whole projects in subprocesses, on SQLite of
  their own whatever the matrix's database (marked ``own_database``): the demo
  in headless Chromium, ``scripts/demo``, the audit of the demo, the install
  steps in a new project, the pytest plugin's projects, the benchmarks' quick
  run. Once, on the first environment.
- ``quick`` (not in the default run): the first environment on SQLite, the
  library's tests alone (what ``tests-3.11(db='sqlite')`` runs).
- ``lint``: import-linter checks the layers and that no modules import each
  other in a cycle (the contracts are in pyproject.toml); ruff checks the code.
- ``mypy``: mypy, strict, with django-stubs (``[tool.mypy]`` in pyproject.toml).

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
    """pytest in xdist workers (DDT_TEST_WORKERS, default one per core)."""
    workers = os.environ.get("DDT_TEST_WORKERS", "auto")
    args = ("-n", workers, "--dist", "worksteal", *args)
    results = os.environ.get("DDT_TEST_RESULTS")  # scripts/test sums these up
    if results:
        name = re.sub(r"[^\w.-]+", "-", session.name).strip("-")
        args += (f"--junitxml={results}/{name}.xml",)
    session.run("python", "-m", "pytest", *args, *session.posargs, env={"DDT_TEST_DB": db})


LIBRARY = ("--ignore=tests/browser", "-m", "not own_database")


@nox.session(python=[python for python, _ in ENVIRONMENTS])
@nox.parametrize("db", DATABASES)
def tests(session: nox.Session, db: str) -> None:
    django = dict(ENVIRONMENTS)[session.python]
    _install(session, django)
    _pytest(session, *LIBRARY, db=db)


@nox.session(python=ENVIRONMENTS[0][0], default=False)
def quick(session: nox.Session) -> None:
    """The fast path for daily work (./scripts/test --quick)."""
    _install(session, ENVIRONMENTS[0][1])
    _pytest(session, *LIBRARY)


@nox.session(python=ENVIRONMENTS[0][0])
def e2e(session: nox.Session) -> None:
    """Whole projects in subprocesses, once. Each worker serves the demo once,
    on a copy of one database seeded for the whole run."""
    _install(session, ENVIRONMENTS[0][1])
    _pytest(session, "-m", "own_database")


@nox.session(python=ENVIRONMENTS[0][0])
def lint(session: nox.Session) -> None:
    # import-linter: tested with 2.17 (acyclic_siblings); ruff: the rules in pyproject.toml.
    session.install("-e", ".", "import-linter>=2.17", "ruff>=0.8")
    session.run("lint-imports", "--no-cache")
    session.run("ruff", "check", "--no-cache", ".")


@nox.session(python=ENVIRONMENTS[0][0])
def mypy(session: nox.Session) -> None:
    """mypy, strict, with django-stubs (``[tool.mypy]`` in pyproject.toml): the
    whole package, no error allowed."""
    _install(session, ENVIRONMENTS[0][1])
    session.install("mypy>=1.10", "django-stubs[compatible-mypy]>=5.1")
    session.run("mypy", *session.posargs)


@nox.session(python=ENVIRONMENTS[0][0], default=False)
def bench(session: nox.Session) -> None:
    """benchmarks/: ``./scripts/test -s bench -- --quick`` (not part of the suite)."""
    _install(session, ENVIRONMENTS[0][1], extras="redis,test,bench")
    session.run("python", "-m", "benchmarks.run", *session.posargs)
