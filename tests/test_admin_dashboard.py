"""The admin dashboard's numbers against aggregates computed by hand on a seeded
table, its CSV, drill-downs and permissions."""

import csv
import io
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import path

from ddt_perfpanels.budgets import dashboard
from ddt_perfpanels.models import BudgetViolation, ViolationMetric

pytestmark = pytest.mark.django_db

urlpatterns = [path("admin/", admin.site.urls)]


@pytest.fixture(autouse=True)
def urlconf(settings):
    settings.ROOT_URLCONF = "tests.test_admin_dashboard"


UTC = ZoneInfo("UTC")
URL = "/admin/ddt_perfpanels/budgetviolation/dashboard/"
LIST_URL = "/admin/ddt_perfpanels/budgetviolation/"
RANGE = {"start": "2024-03-01", "end": "2024-03-14"}  # 14 days, end inclusive


def make_violation(when, route, method="GET", path=None, status=200, clusters=(), **metrics):
    """One violation; metrics are name=(limit, actual), all of them over."""
    ratios = {name: actual / (limit or 1) for name, (limit, actual) in metrics.items()}
    worst = max(ratios, key=ratios.get)
    violation = BudgetViolation.objects.create(
        created_at=when,
        route=route,
        path=path or f"/{route}/",
        method=method,
        status=status,
        worst_metric=worst,
        worst_ratio=round(ratios[worst], 4),
        over_count=len(metrics),
        limits={name: limit for name, (limit, _) in metrics.items()},
        actuals={name: actual for name, (_, actual) in metrics.items()},
        sources=["default"],
        nplusone=list(clusters),
    )
    for name, (limit, actual) in metrics.items():
        ViolationMetric.objects.create(
            violation=violation,
            created_at=when,
            route=route,
            method=method,
            metric=name,
            limit=limit,
            actual=actual,
            ratio=round(ratios[name], 4),
        )
    return violation


def at(day, hour=0, tz=UTC):
    return (
        datetime(2024, 3, day, hour, tzinfo=tz)
        if day > 0
        else datetime(2024, 2, 28, hour, tzinfo=tz)
    )


CLUSTER = {
    "source": "nplusone",
    "model": "myapp.Project",
    "field": "owner",
    "path": "owner",
    "count": 12,
    "message": "N+1: 12 queries followed Project.owner one row at a time.",
    "suggestion": 'Project.objects.select_related("owner")',
    "origin": "myapp/views.py:10",
    "access_site": "myapp/templates/list.html:4",
}


@pytest.fixture
def seeded(settings):
    settings.TIME_ZONE = "UTC"
    rows = [
        make_violation(at(1, 10), "projects:list", queries=(10, 30), nplusone=(0, 2)),
        make_violation(at(1, 11), "projects:list", queries=(10, 15)),
        make_violation(at(3, 9), "api:orders", method="POST", db_time_ms=(100, 450.0)),
        make_violation(at(9, 8), "projects:list", nplusone=(0, 5)),
        make_violation(at(10, 12), "projects:list", queries=(10, 12)),
        make_violation(at(12, 12), "projects:list", queries=(10, 20)),
        make_violation(at(14, 23), "api:orders", queries=(10, 11)),
        # Outside the range: the day before, and the end (exclusive).
        make_violation(at(0, 23), "projects:list", queries=(10, 100)),
        make_violation(at(15, 0), "api:orders", queries=(10, 11)),
    ]
    BudgetViolation.objects.filter(pk=rows[0].pk).update(nplusone=[CLUSTER])
    return rows


def filters(**kwargs):
    form = dashboard.DashboardFilterForm.from_query(_query({**RANGE, **kwargs}))
    assert form.is_valid(), form.errors
    return form.filters()


def _query(data):
    from django.http import QueryDict

    query = QueryDict(mutable=True)
    query.update(data)
    return query


# -- the numbers --------------------------------------------------------------------


def test_total_and_range(seeded):
    f = filters()
    assert (f.start, f.end) == (at(1), at(15))
    assert not f.hourly
    assert dashboard.route_table(f).total == 7


def test_series_per_day_by_metric(seeded):
    series = dashboard.series(filters())
    assert series.buckets == [at(d) for d in range(1, 15)]
    assert series.metrics == ["queries", "db_time_ms", "nplusone"]
    zero = [0] * 14

    def day(values):
        result = list(zero)
        for d, n in values.items():
            result[d - 1] = n
        return result

    assert series.counts == {
        "queries": day({1: 2, 10: 1, 12: 1, 14: 1}),
        "db_time_ms": day({3: 1}),
        "nplusone": day({1: 1, 9: 1}),
    }
    assert sum(series.totals) == 8  # 7 requests, one of them over two metrics


def test_worst_routes(seeded):
    rows = dashboard.worst_routes(filters())
    assert [(r.route, r.count, r.first, r.last, r.worst) for r in rows] == [
        ("projects:list", 5, at(1, 10), at(12, 12), 5.0),
        ("api:orders", 2, at(3, 9), at(14, 23), 4.5),
    ]
    projects, orders = rows
    assert projects.trend == [2, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 1, 0, 0]
    assert orders.trend == [0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
    # Last 7 days before the range's end (Mar 8-14) against Mar 1-7.
    assert (projects.last_7, projects.previous_7, projects.direction) == (3, 2, "worse")
    assert projects.change_percent == 50
    assert (orders.last_7, orders.previous_7, orders.direction) == (1, 1, "steady")
    assert projects.metrics == [("queries", 4), ("nplusone", 2)]
    assert orders.metrics == [("queries", 1), ("db_time_ms", 1)]


def test_sorting(seeded):
    assert [r.route for r in dashboard.worst_routes(filters(sort="worst"))] == [
        "projects:list",
        "api:orders",
    ]
    assert [r.route for r in dashboard.worst_routes(filters(sort="route"))] == [
        "api:orders",
        "projects:list",
    ]
    assert [r.route for r in dashboard.worst_routes(filters(sort="last"))] == [
        "api:orders",
        "projects:list",
    ]


def test_metric_filter(seeded):
    f = filters(metric="queries")
    assert dashboard.route_table(f).total == 5
    rows = dashboard.worst_routes(f)
    assert [(r.route, r.count, r.worst) for r in rows] == [
        ("projects:list", 4, 3.0),
        ("api:orders", 1, 1.1),
    ]
    assert rows[0].metrics == [("queries", 4)]
    assert dashboard.series(f).metrics == ["queries"]


def test_method_and_route_filters(seeded):
    f = filters(method="POST")
    assert dashboard.route_table(f).total == 1
    assert [(r.route, r.count) for r in dashboard.worst_routes(f)] == [("api:orders", 1)]
    assert dashboard.series(f).counts["db_time_ms"][2] == 1
    f = filters(route="api:orders")
    assert dashboard.route_table(f).total == 2
    assert list(dashboard.series(f).counts) == ["queries", "db_time_ms"]


def test_short_ranges_are_hourly(seeded):
    f = filters(start="2024-03-01", end="2024-03-01")
    assert f.hourly
    series = dashboard.series(f)
    assert len(series.buckets) == 24
    assert series.buckets[10] == at(1, 10)
    assert series.counts["queries"][10:12] == [1, 1]
    assert series.counts["nplusone"][10] == 1


def test_days_are_local_days(settings):
    settings.TIME_ZONE = "America/New_York"
    new_york = ZoneInfo("America/New_York")
    make_violation(datetime(2024, 3, 10, 3, tzinfo=UTC), "late", queries=(1, 2))  # Mar 9, 22:00 EST
    make_violation(
        datetime(2024, 3, 10, 12, tzinfo=UTC), "dst", queries=(1, 2)
    )  # Mar 10, 08:00 EDT
    f = filters(start="2024-03-09", end="2024-03-11")
    series = dashboard.series(f)
    # Midnight to midnight in New York, across the switch to summer time.
    assert series.buckets == [datetime(2024, 3, d, tzinfo=new_york) for d in (9, 10, 11)]
    assert series.counts["queries"] == [1, 1, 0]
    assert f.end.timestamp() - f.start.timestamp() == 71 * 3600  # the DST day has 23 hours


def test_bad_filters_fall_back_to_defaults(seeded):
    form = dashboard.DashboardFilterForm.from_query(
        _query({"start": "2024-03-10", "end": "2024-03-01"})
    )
    assert not form.is_valid()
    assert "The start date is after the end date." in form.non_field_errors()
    assert form.filters().period == "28d"
    form = dashboard.DashboardFilterForm.from_query(
        _query({"start": "2020-01-01", "end": "2024-01-01"})
    )
    assert "Choose at most 366 days." in form.non_field_errors()
    form = dashboard.DashboardFilterForm.from_query(_query({"metric": "nope", "method": "BREW"}))
    assert set(form.errors) == {"metric", "method"}


# -- the page -------------------------------------------------------------------------


@pytest.fixture
def staff_client():
    user = User.objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_budgetviolation"))
    client = Client()
    client.force_login(user)
    return client


def test_page_shows_the_numbers(seeded, staff_client):
    response = staff_client.get(URL, RANGE)
    assert response.status_code == 200
    assert response.context["total"] == 7
    content = response.content.decode()
    assert "<strong>7</strong> requests over budget from" in content
    # The chart: one <rect> per non-empty metric and day, with its numbers.
    assert content.count('data-metric="queries"') == 4
    assert 'data-metric="queries" data-count="2"' in content
    assert content.count('data-metric="nplusone"') == 2
    assert "Queries (5)" in content and "N+1 clusters (2)" in content  # the legend
    assert "<script" not in content.split('id="content-main"')[1].split("</svg>")[0]
    # The routes table, with drill-down links.
    assert 'data-route="projects:list"' in content
    assert "▲ worse (+50%)" in content
    assert "≈ steady (0%)" in content
    assert "×5.00" in content
    assert (
        "/admin/ddt_perfpanels/budgetviolation/?created_at__gte=2024-03-01+00%3A00%3A00%2B00%3A00"
        "&amp;created_at__lt=2024-03-15+00%3A00%3A00%2B00%3A00&amp;route=projects%3Alist"
    ) in content


def test_drill_down_to_the_list_and_a_violation(seeded, staff_client):
    f = filters()
    from urllib.parse import urlencode

    response = staff_client.get(
        LIST_URL + "?" + urlencode(f.changelist_params(route="projects:list"))
    )
    assert response.status_code == 200
    assert response.context["cl"].result_count == 5
    response = staff_client.get(
        LIST_URL + "?" + urlencode(f.changelist_params(route="projects:list", metric="nplusone"))
    )
    assert response.context["cl"].result_count == 2
    # The violation shows its recorded clusters and the fix.
    detail = staff_client.get(f"{LIST_URL}{seeded[0].pk}/change/")
    assert detail.status_code == 200
    content = detail.content.decode()
    assert "N+1: myapp.Project → owner (12 queries)" in content
    assert "<pre><code>Project.objects.select_related(&quot;owner&quot;)</code></pre>" in content
    assert "myapp/templates/list.html:4" in content
    assert "✗ Queries <code>queries</code>" in content
    assert 'name="_save"' not in content  # read-only


def test_routes_csv_is_what_is_shown(seeded, staff_client):
    response = staff_client.get(URL, {**RANGE, "export": "routes"})
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert (
        response["Content-Disposition"] == 'attachment; filename="budget-routes-20240315-0000.csv"'
    )
    assert list(csv.reader(io.StringIO(response.content.decode()))) == [
        [
            "route",
            "violations",
            "first_seen",
            "last_seen",
            "worst_actual_over_limit",
            "last_7_days",
            "previous_7_days",
            "trend",
            "metrics",
            "per_day",
        ],
        [
            "projects:list",
            "5",
            "2024-03-01T10:00:00+00:00",
            "2024-03-12T12:00:00+00:00",
            "5.0",
            "3",
            "2",
            "worse",
            "queries=4 nplusone=2",
            "2 0 0 0 0 0 0 0 1 1 0 1 0 0",
        ],
        [
            "api:orders",
            "2",
            "2024-03-03T09:00:00+00:00",
            "2024-03-14T23:00:00+00:00",
            "4.5",
            "1",
            "1",
            "steady",
            "queries=1 db_time_ms=1",
            "0 0 1 0 0 0 0 0 0 0 0 0 0 1",
        ],
    ]


def test_series_csv(seeded, staff_client):
    response = staff_client.get(URL, {**RANGE, "metric": "queries", "export": "series"})
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["day", "queries", "total"]
    assert rows[1] == ["2024-03-01T00:00:00+00:00", "2", "2"]
    assert len(rows) == 15
    assert sum(int(r[1]) for r in rows[1:]) == 5


def test_user_controlled_text_is_escaped(settings, staff_client):
    settings.TIME_ZONE = "UTC"
    make_violation(at(2), "<script>alert(1)</script>", queries=(1, 2))
    make_violation(at(2), '=HYPERLINK("http://evil")', queries=(1, 2))
    response = staff_client.get(URL, RANGE)
    content = response.content.decode()
    assert "<script>alert(1)</script>" not in content
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in content
    exported = staff_client.get(
        URL, {**RANGE, "export": "routes", "sort": "route"}
    ).content.decode()
    cells = [row[0] for row in csv.reader(io.StringIO(exported))][1:]
    assert cells == ["<script>alert(1)</script>", '\'=HYPERLINK("http://evil")']


def test_csv_neutralizes_formulas_after_whitespace_and_in_full_width(settings, staff_client):
    settings.TIME_ZONE = "UTC"
    hostile = [" =1+1", "\n=cmd|' /C calc'!A0", "\u3000@SUM(A1)", "\uff1dHYPERLINK(1)"]
    hostile += ["\uff0b1", "\uff20x"]
    for route in [*hostile, "plain route"]:
        make_violation(at(2), route, queries=(1, 2))
    exported = staff_client.get(
        URL, {**RANGE, "export": "routes", "sort": "route"}
    ).content.decode()
    cells = {row[0] for row in csv.reader(io.StringIO(exported))}
    assert {"'" + route for route in hostile} <= cells
    assert "plain route" in cells


def test_dashboard_queries_do_not_grow_with_routes(settings, staff_client):
    settings.TIME_ZONE = "UTC"
    for i in range(3):
        make_violation(at(2), f"route-{i}", queries=(1, 2))
    with CaptureQueriesContext(connection) as few:
        staff_client.get(URL, RANGE)
    for i in range(3, 30):
        make_violation(at(3), f"route-{i}", queries=(1, 2), nplusone=(0, 1))
    with CaptureQueriesContext(connection) as many:
        staff_client.get(URL, RANGE)
    # Both views rolled up days (the first all 14, the second the day that got
    # new violations): the same queries, whatever the number of routes.
    assert len(many) == len(few)
    built = [q["sql"] for q in many.captured_queries if "ddt_perfpanels_" in q["sql"]]
    assert any(sql.startswith("INSERT") and "violationrollup" in sql for sql in built)
    with CaptureQueriesContext(connection) as warm:
        staff_client.get(URL, RANGE)
    ours = [q["sql"] for q in warm.captured_queries if "ddt_perfpanels_" in q["sql"]]
    days = [sql for sql in ours if 'FROM "ddt_perfpanels_rollupday"' in sql]
    sums = [sql for sql in ours if 'FROM "ddt_perfpanels_violationrollup"' in sql]
    # The range's rolled-up days, then each of the two weeks'; the series (with
    # metrics per route), the routes and the two weeks: every one an aggregate,
    # none over the violation tables, as every day of the range is closed.
    assert (len(days), len(sums), len(ours)) == (3, 3, 6)
    assert all("SUM(" in sql for sql in sums)


def test_list_never_counts_the_whole_table(seeded, staff_client, monkeypatch):
    from ddt_perfpanels import admin as budget_admin

    monkeypatch.setattr(budget_admin, "LIST_COUNT_CAP", 3)
    with CaptureQueriesContext(connection) as queries:
        response = staff_client.get(LIST_URL)
    assert response.status_code == 200
    counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    assert counts and all("LIMIT 3" in sql for sql in counts)
    assert "Counting stops at 3 violations" in response.content.decode()


# -- permissions --------------------------------------------------------------------------


PAGES = [URL, URL + "?export=routes", URL + "?export=series", LIST_URL]


@pytest.mark.parametrize("page", PAGES)
def test_anonymous_is_sent_to_login(seeded, page):
    response = Client().get(page)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=")


@pytest.mark.parametrize("page", PAGES)
def test_non_staff_is_sent_to_login(seeded, page):
    user = User.objects.create_user("member", password="pw")
    user.user_permissions.add(Permission.objects.get(codename="view_budgetviolation"))
    client = Client()
    client.force_login(user)
    response = client.get(page)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=")


@pytest.mark.parametrize("page", [*PAGES, "detail"])
def test_staff_without_the_view_permission_is_refused(seeded, page):
    user = User.objects.create_user("staff", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="delete_budgetviolation"))
    client = Client()
    client.force_login(user)
    if page == "detail":
        page = f"{LIST_URL}{seeded[0].pk}/change/"
    response = client.get(page)
    assert response.status_code == 403
    assert b"projects:list" not in response.content


@pytest.mark.parametrize("page", [*PAGES, "detail"])
def test_staff_with_the_view_permission_sees_it(seeded, staff_client, page):
    if page == "detail":
        page = f"{LIST_URL}{seeded[0].pk}/change/"
    assert staff_client.get(page).status_code == 200


def test_nobody_adds_or_edits_violations(seeded, admin_client):
    assert admin_client.get(LIST_URL + "add/").status_code == 403
    response = admin_client.post(f"{LIST_URL}{seeded[0].pk}/change/", {"route": "x"})
    assert response.status_code == 403
    assert admin_client.get(URL).status_code == 200


def test_a_limit_of_zero_reads_as_over_it_not_as_a_ratio(seeded, staff_client):
    # nplusone 1 > 0 has the ratio 1 (the limit counted as 1): "×1.00" would read
    # "at the limit".
    make_violation(at(2, 9), "projects:zero", nplusone=(0, 1))
    content = staff_client.get(LIST_URL, {"route": "projects:zero"}).content.decode()
    assert '<td class="field-ratio_display">1 over a limit of 0</td>' in content
    assert "×1.00" not in content
    content = staff_client.get(LIST_URL, {"route": "projects:list"}).content.decode()
    assert '<td class="field-ratio_display">×1.50</td>' in content  # queries 15 > 10
    assert '<td class="field-ratio_display">5 over a limit of 0</td>' in content


def test_route_names_wrap_between_words(settings, staff_client):
    settings.TIME_ZONE = "UTC"
    make_violation(at(3, 9), "admin:courses_enrollment_changelist", queries=(10, 30))
    content = staff_client.get(URL, RANGE).content.decode()
    assert "<code>admin:<wbr>courses_<wbr>enrollment_<wbr>changelist</code>" in content
