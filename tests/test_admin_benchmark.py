"""How the admin pages cope with a large violation table on PostgreSQL.

Opt-in, as it loads the table first (about a minute per million rows):

    DDT_TEST_DB=postgres DDT_BENCH_ROWS=1000000 python -m pytest tests/test_admin_benchmark.py -s

It prints each page's time (best of 3, and the first view's, which rolls up the
closed days it shows for the first time) and every query's time and plan; with
DDT_BENCH_OUT=path it also writes them there.
"""

import os
import time
from urllib.parse import urlencode

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import path

ROWS = int(os.environ.get("DDT_BENCH_ROWS", "0") or 0)
# A page slower than this fails the benchmark.
MAX_SECONDS = float(os.environ.get("DDT_BENCH_MAX_SECONDS", "3.0"))

pytestmark = [
    pytest.mark.postgres,
    # An opt-in benchmark, not a test of the suite.
    pytest.mark.applies_if(bool(ROWS), reason="set DDT_BENCH_ROWS (and DDT_TEST_DB=postgres)"),
]

urlpatterns = [path("admin/", admin.site.urls)]
DASHBOARD = "/admin/ddt_perfpanels/budgetviolation/dashboard/"
LIST = "/admin/ddt_perfpanels/budgetviolation/"


def pages(violation_id):
    return [
        ("dashboard, last 28 days (all rows)", DASHBOARD, {}),
        ("dashboard, last 7 days", DASHBOARD, {"period": "7d"}),
        ("dashboard, last 24 hours (hourly)", DASHBOARD, {"period": "24h"}),
        ("dashboard, metric=nplusone", DASHBOARD, {"metric": "nplusone"}),
        ("dashboard, route=projects:list", DASHBOARD, {"route": "projects:list"}),
        ("dashboard, method=POST", DASHBOARD, {"method": "POST"}),
        ("dashboard, 90 days by worst ratio", DASHBOARD, {"period": "90d", "sort": "worst"}),
        ("routes CSV", DASHBOARD, {"export": "routes"}),
        ("chart CSV", DASHBOARD, {"export": "series"}),
        ("list, newest first", LIST, {}),
        ("list, page 150", LIST, {"p": "150"}),
        ("list, route=api:search", LIST, {"route": "api:search"}),
        ("list, metric=cache_misses", LIST, {"metric": "cache_misses"}),
        ("list, past 7 days", LIST, {"created_at__gte": "WEEK_AGO"}),
        ("violation detail", f"{LIST}{violation_id}/change/", {}),
    ]


def load(rows):
    from ddt_perfpanels.budgets.history import generate

    started = time.perf_counter()
    result = generate(rows=rows, days=28, seed=0, batch_size=10_000)
    loaded = time.perf_counter() - started
    with connection.cursor() as cursor:
        # What autovacuum does soon after a bulk load: statistics for the planner
        # and a visibility map for index-only scans.
        cursor.execute("VACUUM ANALYZE ddt_perfpanels_budgetviolation")
        cursor.execute("VACUUM ANALYZE ddt_perfpanels_violationmetric")
    return result, loaded


@pytest.mark.django_db(transaction=True)
def test_admin_pages_on_a_large_table(settings):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only (DDT_TEST_DB=postgres)")
    from datetime import timedelta

    from django.utils import timezone

    from ddt_perfpanels.models import BudgetViolation

    result, loaded = load(ROWS)
    settings.ROOT_URLCONF = "tests.test_admin_benchmark"
    lines = [
        f"{result.violations:,} violations, {result.metrics:,} metric rows "
        f"(loaded in {loaded:.0f} s), PostgreSQL {connection.pg_version // 10000}",
        "",
    ]
    user = User.objects.create_user("bench", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(user)
    violation_id = BudgetViolation.objects.order_by("-id").values_list("id", flat=True)[0]
    week_ago = str(timezone.now() - timedelta(days=7))
    slow = []
    for name, url, params in pages(violation_id):
        params = {k: week_ago if v == "WEEK_AGO" else v for k, v in params.items()}
        full = f"{url}?{urlencode(params)}" if params else url
        timings = []
        for _ in range(3):
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                response = client.get(full)
                timings.append(time.perf_counter() - started)
            assert response.status_code == 200, (full, response.status_code)
        best = min(timings)
        if best > MAX_SECONDS:
            slow.append((name, round(best, 2)))
        # The first view of a range also rolls up its closed days (once).
        lines.append(
            f"## {name}: {best * 1000:.0f} ms, first view {timings[0] * 1000:.0f} ms  ({full})"
        )
        for query in queries.captured_queries:
            sql = query["sql"]
            if "ddt_perfpanels_" not in sql:
                continue
            lines.append(f"  {float(query['time']) * 1000:7.1f} ms  {sql[:160]}")
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql)
                plan = [row[0] for row in cursor.fetchall()]
            lines.extend("             | " + row for row in plan)
        lines.append("")
    report = "\n".join(lines)
    print(report)
    if os.environ.get("DDT_BENCH_OUT"):
        with open(os.environ["DDT_BENCH_OUT"], "w") as out:
            out.write(report)
    assert not slow, f"slower than {MAX_SECONDS} s: {slow}"
