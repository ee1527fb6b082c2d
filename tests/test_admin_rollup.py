"""The dashboard's rolled-up days give the very numbers of the violation rows,
in any time zone, and are forgotten whenever their rows change."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import path
from django.utils import timezone

from ddt_perfpanels.budgets import dashboard, rollup
from ddt_perfpanels.budgets.history import generate
from ddt_perfpanels.budgets.prune import prune
from ddt_perfpanels.models import BudgetViolation, RollupDay, ViolationRollup
from tests.test_admin_dashboard import make_violation

pytestmark = pytest.mark.django_db

urlpatterns = [path("admin/", admin.site.urls)]
URL = "/admin/ddt_perfpanels/budgetviolation/dashboard/"
# Around the 2024 spring DST change in New York (10 March) and in Europe (31
# March); mid-afternoon, so that the ranges end part-way through a day.
END = datetime(2024, 3, 31, 15, 40, tzinfo=UTC)


def read_raw(monkeypatch):
    """Make the dashboard read every row, as it did before the rollup."""
    monkeypatch.setattr(rollup, "plan", lambda start, end, **kw: rollup.Plan({}, [(start, end)]))


def numbers(f):
    series = dashboard.series(dashboard.Filters(**f))
    table = dashboard.route_table(dashboard.Filters(**f), limit=100)
    routes = [
        (
            r.route,
            r.count,
            r.first,
            r.last,
            r.worst,
            r.trend,
            r.last_7,
            r.previous_7,
            r.metrics,
        )
        for r in table.routes
    ]
    return series.buckets, series.counts, series.by_route, table.total, routes


def both(monkeypatch, **f):
    rolled = numbers(f)
    with monkeypatch.context() as m:
        read_raw(m)
        raw = numbers(f)
    return rolled, raw


CASES = [
    {},
    {"metric": "nplusone"},
    {"route": "projects:list"},
    {"method": "POST"},
    {"metric": "db_time_ms", "method": "GET", "sort": "worst"},
]


@pytest.mark.parametrize("tz", ["UTC", "America/New_York", "Asia/Kolkata", "Europe/Paris"])
def test_rolled_up_days_give_the_numbers_of_the_rows(settings, monkeypatch, tz):
    settings.TIME_ZONE = tz
    generate(rows=3000, days=30, seed=3, end=END)
    windows = [
        (END - timedelta(days=28), END),  # part days at both ends
        (END - timedelta(days=9, hours=5), END - timedelta(days=2)),
        (datetime(2024, 3, 5, tzinfo=UTC), datetime(2024, 3, 20, tzinfo=UTC)),
    ]
    for start, end in windows:
        for case in CASES:
            rolled, raw = both(monkeypatch, start=start, end=end, **case)
            assert rolled == raw, (tz, start, end, case)
            assert rolled[3] > 0
    # The days were built once, in this time zone, and read from then on.
    days = RollupDay.objects.filter(tz=tz)
    assert days.count() >= 20
    assert not RollupDay.objects.exclude(tz=tz).exists()
    assert ViolationRollup.objects.filter(metric="").count() > 0


def test_each_time_zone_has_its_own_days(settings, monkeypatch):
    generate(rows=600, days=10, seed=4, end=END)
    f = {"start": END - timedelta(days=9), "end": END}
    for tz in ("UTC", "Asia/Tokyo", "UTC"):
        settings.TIME_ZONE = tz
        with timezone.override(tz):
            rolled, raw = both(monkeypatch, **f)
        assert rolled == raw, tz
    assert set(RollupDay.objects.values_list("tz", flat=True)) == {"UTC", "Asia/Tokyo"}


def test_without_use_tz(settings, monkeypatch):
    settings.USE_TZ = False
    end = datetime(2024, 3, 31, 15, 40)
    generate(rows=800, days=12, seed=5, end=end)
    rolled, raw = both(monkeypatch, start=end - timedelta(days=10), end=end)
    assert rolled == raw
    # 22 to 30 March for the range, from the 18th for the two weeks before its end.
    days = RollupDay.objects.filter(tz="").order_by("day").values_list("day", flat=True)
    assert [d.day for d in days] == list(range(18, 31))


def test_today_and_part_days_are_read_from_the_rows(settings):
    settings.TIME_ZONE = "UTC"
    now = timezone.now()
    generate(rows=400, days=5, seed=6, end=now)
    f = dashboard.Filters(start=now - timedelta(days=4, hours=3), end=now)
    plan = f.plan()
    days = sorted(plan.days.values())
    today = now.date()
    # The closed days only: not today, nor one that ended under MARGIN ago.
    assert today not in days
    assert all(d < today for d in days) and len(days) in (3, 4)
    assert plan.ranges[0] == (f.start, rollup.full_days(f.start, f.end)[0].starts_at)
    assert plan.ranges[-1][1] == now
    assert dashboard.route_table(f).total == BudgetViolation.objects.filter(
        created_at__gte=f.start, created_at__lt=now
    ).count()


def test_hourly_ranges_never_use_the_rollup(settings):
    settings.TIME_ZONE = "UTC"
    f = dashboard.Filters(start=END - timedelta(days=2), end=END)
    assert f.hourly
    assert f.plan().days == {}
    assert not RollupDay.objects.exists()


def total(start, end):
    return dashboard.route_table(dashboard.Filters(start=start, end=end)).total


def test_a_back_dated_violation_is_counted(settings):
    settings.TIME_ZONE = "UTC"
    start, end = END - timedelta(days=10), END
    generate(rows=200, days=10, seed=7, end=END)
    assert total(start, end) == 200
    built = RollupDay.objects.count()
    make_violation(END - timedelta(days=5), "late:one", queries=(1, 3))
    # Its day was forgotten (and no other), then built again.
    assert RollupDay.objects.count() == built - 1
    assert total(start, end) == 201
    assert RollupDay.objects.count() == built


def test_recording_now_costs_no_rollup_query(settings):
    settings.TIME_ZONE = "UTC"
    with CaptureQueriesContext(connection) as ctx:
        make_violation(timezone.now(), "now:one", queries=(1, 3))
    assert not any("rollup" in q["sql"] for q in ctx.captured_queries)


def test_prune_forgets_the_days_it_emptied(settings):
    settings.TIME_ZONE = "UTC"
    start, end = END - timedelta(days=10), END
    generate(rows=300, days=10, seed=8, end=END)
    assert total(start, end) == 300
    cutoff = END - timedelta(days=6, hours=12)
    kept = BudgetViolation.objects.filter(created_at__gte=cutoff).count()
    prune(cutoff, batch_size=50)
    assert not RollupDay.objects.filter(starts_at__lt=cutoff).exists()
    assert RollupDay.objects.exists()  # the days after the cutoff stay
    assert total(start, end) == kept


def test_generate_forgets_its_days(settings):
    settings.TIME_ZONE = "UTC"
    start, end = END - timedelta(days=10), END
    generate(rows=100, days=10, seed=9, end=END)
    assert total(start, end) == 100
    generate(rows=50, days=3, seed=10, end=END)
    assert total(start, end) == 150


@pytest.fixture
def staff_client(settings):
    settings.ROOT_URLCONF = "tests.test_admin_rollup"
    user = User.objects.create_superuser("root", "root@example.com", "pw")
    client = Client()
    client.force_login(user)
    return client


def test_deleting_in_the_admin_forgets_the_days(settings, staff_client):
    settings.TIME_ZONE = "UTC"
    start, end = END - timedelta(days=10), END
    generate(rows=120, days=10, seed=11, end=END)
    assert total(start, end) == 120
    doomed = list(
        BudgetViolation.objects.filter(created_at__lt=END - timedelta(days=7)).values_list(
            "pk", flat=True
        )[:5]
    )
    response = staff_client.post(
        "/admin/ddt_perfpanels/budgetviolation/",
        {"action": "delete_selected", "_selected_action": doomed, "post": "yes"},
    )
    assert response.status_code == 302
    assert total(start, end) == 115
    one = BudgetViolation.objects.filter(created_at__lt=END - timedelta(days=1)).first()
    response = staff_client.post(
        f"/admin/ddt_perfpanels/budgetviolation/{one.pk}/delete/", {"post": "yes"}
    )
    assert response.status_code == 302
    assert total(start, end) == 114


def test_dashboard_page_matches_the_rows(settings, staff_client, monkeypatch):
    settings.TIME_ZONE = "Europe/Paris"
    generate(rows=500, days=20, seed=12, end=END)
    query = {"start": "2024-03-15", "end": "2024-03-30"}
    rolled = staff_client.get(URL, query)
    with monkeypatch.context() as m:
        read_raw(m)
        raw = staff_client.get(URL, query)
    assert rolled.status_code == raw.status_code == 200
    assert rolled.context["total"] == raw.context["total"] > 0
    assert rolled.context["chart"] == raw.context["chart"]
    assert [r["row"] for r in rolled.context["routes"]] == [r["row"] for r in raw.context["routes"]]


def test_rollup_command(settings, monkeypatch):
    from io import StringIO

    settings.TIME_ZONE = "UTC"
    # A fixed clock: in the hour after midnight, yesterday has not closed yet
    # (rollup.MARGIN) and the past 7 days hold 5 closed days, not 6.
    monkeypatch.setattr(rollup, "now", lambda: END)
    generate(rows=100, days=5, seed=13, end=END)
    now = rollup.now()
    closed = len(rollup.closed_days(now - timedelta(days=7), now))
    out = StringIO()
    call_command("perfpanels_rollup", "--days", "7", stdout=out)
    assert RollupDay.objects.count() == closed >= 6
    assert f"{closed} closed days are rolled up." in out.getvalue()
    out = StringIO()
    call_command("perfpanels_rollup", "--clear", "--days", "0", stdout=out)
    assert f"Forgot {closed} rolled-up days." in out.getvalue()
    assert not RollupDay.objects.exists()


def test_a_failing_rollup_falls_back_to_the_rows(settings, monkeypatch, caplog):
    from django.db import DatabaseError

    settings.TIME_ZONE = "UTC"
    generate(rows=150, days=8, seed=14, end=END)

    def broken(days, **kwargs):
        from ddt_perfpanels.models import RollupDay

        RollupDay.objects.create(tz="UTC", day=days[0].day, starts_at=END, ends_at=END)
        raise DatabaseError("relation ddt_perfpanels_rollupday does not exist")

    monkeypatch.setattr(rollup, "build", broken)
    assert total(END - timedelta(days=7), END) == BudgetViolation.objects.filter(
        created_at__gte=END - timedelta(days=7)
    ).count()
    assert "could not roll up violations" in caplog.text
    # What the failed build wrote was rolled back with it.
    assert not RollupDay.objects.exists()
