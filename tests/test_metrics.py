"""The one registry of metrics (ddt_perfpanels.metrics) and what reports give."""

import pytest
from django.core.cache import cache

from ddt_perfpanels import capture
from ddt_perfpanels.budgets.metrics import METRICS as BUDGET_METRICS
from ddt_perfpanels.metrics import ALL, CACHE_METRICS, LIGHT_UNMEASURED, METRICS
from tests.factories import make_library
from tests.testapp.models import Book

pytestmark = pytest.mark.django_db


def _work():
    for book in Book.objects.all():
        book.author.name
    cache.set("k", 1)
    cache.get("k")


def test_a_full_report_gives_every_metric_but_the_response_time():
    make_library(authors=2, books_per_author=2)
    with capture() as report:
        _work()
    given = report.metrics()
    measured_elsewhere = {m.name for m in ALL if m.source == "response"}
    assert list(given) == [m.name for m in ALL if m.name not in measured_elsewhere]
    assert given["nplusone"] == 1 and given["cache_calls"] == 2


def test_a_light_report_leaves_out_what_needs_the_orm():
    make_library(authors=2, books_per_author=2)
    with capture(light=True) as report:
        _work()
    given = report.metrics()
    assert set(LIGHT_UNMEASURED) == {"nplusone", "count_findings"}
    assert not set(given) & set(LIGHT_UNMEASURED)
    assert set(CACHE_METRICS) <= set(given)


def test_budgets_limit_the_registry_s_metrics_but_the_hits():
    assert BUDGET_METRICS is METRICS
    assert list(METRICS) == [m.name for m in ALL if m.name != "cache_hits"]


def test_labels_are_translated_once_per_language(monkeypatch, settings):
    from django.utils import translation
    from django.utils.functional import lazy

    from ddt_perfpanels import metrics

    made = []

    def label():
        made.append(translation.get_language())
        return f"queries in {translation.get_language()}"

    monkeypatch.setattr(metrics, "ALL", (metrics.Metric("queries", lazy(label, str)()),))
    monkeypatch.setattr(metrics, "_labels", {})
    with translation.override("fr"):
        assert metrics.labels() == {"queries": "queries in fr"}
        assert metrics.labels() == {"queries": "queries in fr"}
    with translation.override("de"):
        assert metrics.labels() == {"queries": "queries in de"}
    assert made == ["fr", "de"]  # once per language, not once per call
    settings.LOCALE_PATHS = ["/nowhere"]  # a catalog may say otherwise now
    with translation.override("fr"):
        metrics.labels()
    assert made == ["fr", "de", "fr"]


def test_the_budget_panel_s_rows_carry_the_registry_s_labels():
    from ddt_perfpanels.budgets.config import Budget
    from ddt_perfpanels.budgets.evaluate import BudgetResult

    rows = BudgetResult(Budget({"queries": 10}), {"queries": 3}, []).rows()
    assert {row["metric"]: row["label"] for row in rows} == {
        name: str(metric.label) for name, metric in METRICS.items()
    }
