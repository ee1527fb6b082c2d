"""Small test projects for the --perfpanels plugin, run with pytester in a
subprocess (pytest-django configures Django once per process)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def pytest_collection_modifyitems(items):
    # Each project runs in a subprocess on SQLite (DDT_TEST_DB is removed below):
    # the PostgreSQL sessions leave these tests out (noxfile.py).
    for item in items:
        if item.path.is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.own_database)


def pytest_configure(config: pytest.Config) -> None:
    # pytester for these tests only (pytest_plugins is for the top-level conftest).
    if not config.pluginmanager.has_plugin("pytester"):
        config.pluginmanager.import_plugin("pytester")


ROOT = Path(__file__).resolve().parents[2]

# The project's tests use the suite's app and settings; the library is made in a
# fixture so that every test starts from the same rows.
PROJECT_CONFTEST = '''
import pytest

@pytest.fixture
def library(db):
    from tests.factories import make_library
    make_library(authors=3, books_per_author=2)
'''


class Project:
    def __init__(self, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
        self.pytester = pytester
        monkeypatch.setenv("PYTHONPATH", str(ROOT))
        monkeypatch.delenv("DDT_TEST_DB", raising=False)
        pytester.makeconftest(PROJECT_CONFTEST)
        pytester.makeini(
            "[pytest]\n"
            "DJANGO_SETTINGS_MODULE = tests.settings\n"
            "asyncio_mode = auto\n"
            "asyncio_default_fixture_loop_scope = function\n"
        )

    def run(self, *args: str) -> pytest.RunResult:
        return self.pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)

    def json(self, name: str) -> dict:
        return json.loads((self.pytester.path / name).read_text())


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Project:
    return Project(pytester, monkeypatch)
