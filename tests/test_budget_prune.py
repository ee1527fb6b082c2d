"""Retention: manage.py perfpanels_prune, and the fake history generator."""

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ddt_perfpanels.models import BudgetViolation, ViolationMetric
from tests.test_admin_dashboard import make_violation

pytestmark = pytest.mark.django_db


@pytest.fixture
def aged():
    """Violations 1, 5, 29, 31, 40 and 90 days old, two metrics each."""
    now = timezone.now()
    for days in (1, 5, 29, 31, 40, 90):
        make_violation(now - timedelta(days=days), f"r{days}", queries=(1, 2), nplusone=(0, 1))
    return now


def ages():
    return sorted(
        int(route[1:]) for route in BudgetViolation.objects.values_list("route", flat=True)
    )


def test_prune_keeps_the_retention_period(aged, capsys):
    call_command("perfpanels_prune")
    assert ages() == [1, 5, 29]
    assert ViolationMetric.objects.count() == 6  # the metric rows went with them
    assert "Deleted 3 budget violations older than" in capsys.readouterr().out


def test_prune_in_batches_oldest_first(aged, capsys):
    with CaptureQueriesContext(connection) as queries:
        call_command("perfpanels_prune", days=4, batch_size=2, verbosity=2)
    assert ages() == [1]
    out = capsys.readouterr().out
    assert "  2 deleted…\n  4 deleted…\n  5 deleted…\n" in out
    deletes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("DELETE")]
    # Per batch: the metric rows, then the violations; never the whole table at once.
    assert len(deletes) == 6
    assert all(" IN (" in sql for sql in deletes)
    selects = [
        q["sql"]
        for q in queries.captured_queries
        if "ddt_perfpanels_budgetviolation" in q["sql"] and q["sql"].startswith("SELECT")
    ]
    assert all("LIMIT 2" in sql for sql in selects if "ORDER BY" in sql)


def test_dry_run_only_counts(aged, capsys):
    call_command("perfpanels_prune", days=30, dry_run=True)
    assert "3 budget violations older than" in capsys.readouterr().out
    assert len(ages()) == 6


def test_days_option_and_retention_setting(aged, settings):
    settings.DDT_PERFPANELS = {"BUDGET_RETENTION_DAYS": 7}
    call_command("perfpanels_prune")
    assert ages() == [1, 5]
    settings.DDT_PERFPANELS = {"BUDGET_RETENTION_DAYS": None}
    with pytest.raises(CommandError, match="pass --days to prune anyway"):
        call_command("perfpanels_prune")
    call_command("perfpanels_prune", days=2)
    assert ages() == [1]


def test_bad_options(aged):
    with pytest.raises(CommandError, match="--batch-size must be at least 1"):
        call_command("perfpanels_prune", batch_size=0)
    with pytest.raises(CommandError, match="--days must be 0 or more"):
        call_command("perfpanels_prune", days=-1)


def test_prune_is_not_recorded_by_a_capture(aged):
    from ddt_perfpanels import capture

    with capture() as report:
        call_command("perfpanels_prune")
    assert report.query_count == 0


# -- fake history ----------------------------------------------------------------------


def test_fake_history_is_deterministic(settings, capsys):
    settings.DEBUG = True
    call_command("perfpanels_fake_history", rows=300, days=7, seed=3, batch_size=128)
    assert "Inserted 300 violations" in capsys.readouterr().out
    first = list(
        BudgetViolation.objects.order_by("id").values_list(
            "route", "method", "worst_metric", "worst_ratio"
        )
    )
    metric_rows = ViolationMetric.objects.count()
    assert metric_rows >= 300
    # Every violation has one metric row per metric over, matching its over_count.
    from django.db.models import Count, F

    mismatched = BudgetViolation.objects.annotate(n=Count("metrics")).exclude(n=F("over_count"))
    assert not mismatched.exists()
    call_command("perfpanels_fake_history", rows=300, days=7, seed=3, clear=True)
    again = list(
        BudgetViolation.objects.order_by("id").values_list(
            "route", "method", "worst_metric", "worst_ratio"
        )
    )
    assert again == first
    assert ViolationMetric.objects.count() == metric_rows


def test_fake_history_refuses_without_debug(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="Pass --force if you mean it"):
        call_command("perfpanels_fake_history", rows=1)
