"""pytest plugin: the ``django_assert_budget`` fixture.

Loaded automatically when ddt_perfpanels is installed (the ``pytest11`` entry
point); otherwise add ``pytest_plugins = ["ddt_perfpanels.budgets.pytest_plugin"]``
to your root ``conftest.py``. Nothing is imported from Django until the fixture
is used.
"""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def django_assert_budget() -> Any:
    """``assert_budget`` as a fixture, like pytest-django's ``django_assert_num_queries``::

    def test_projects(client, django_assert_budget):
        with django_assert_budget(url="/projects/"):
            client.get("/projects/")
    """
    from ddt_perfpanels.budgets.testing import assert_budget

    return assert_budget
