"""The admin dashboard's numbers, each one aggregate query.

Nothing here loads violation rows into Python: every number is a COUNT, MIN or
MAX grouped in SQL, on the indexes of ``ddt_perfpanels.models``. Without a
metric filter the route numbers come from ``BudgetViolation`` (one row per
request); with one, from ``ViolationMetric`` (one row per request over that
metric), so each table is read on its own indexes, without joins.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.db.models import Count, Max, Min, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ddt_perfpanels.budgets import rollup
from ddt_perfpanels.budgets.metrics import METRICS
from ddt_perfpanels.budgets.rollup import bucketing

PERIODS = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "28d": timedelta(days=28),
    "90d": timedelta(days=90),
}
DEFAULT_PERIOD = "28d"
MAX_SPAN = timedelta(days=366)
HOURLY_UP_TO = timedelta(days=2)
TOP_ROUTES = 50
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
SORTS = ("count", "worst", "last", "route")
# A route is "worse" or "better" only when the last 7 days differ from the 7
# before by more than this share; otherwise "steady".
TREND_DEAD_BAND = 0.10


class DashboardFilterForm(forms.Form):
    period = forms.ChoiceField(
        label=_("Period"),
        required=False,
        choices=[
            ("24h", _("Last 24 hours")),
            ("7d", _("Last 7 days")),
            ("28d", _("Last 28 days")),
            ("90d", _("Last 90 days")),
            ("custom", _("From … to …")),
        ],
    )
    start = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    route = forms.CharField(
        label=_("Route"),
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"list": "ddtpp-routes", "size": 24}),
    )
    metric = forms.ChoiceField(
        label=_("Metric"),
        required=False,
        choices=[("", _("All metrics"))] + [(m.name, m.label) for m in METRICS.values()],
    )
    method = forms.ChoiceField(
        label=_("Method"),
        required=False,
        choices=[("", _("All methods"))] + [(m, m) for m in METHODS],
    )
    sort = forms.ChoiceField(
        required=False,
        choices=[("count", "count"), ("worst", "worst"), ("last", "last"), ("route", "route")],
    )

    @classmethod
    def from_query(cls, query: Any) -> DashboardFilterForm:
        """A bound form whose widgets show the period actually applied."""
        data = query.copy()
        if data.get("start") or data.get("end"):
            data["period"] = "custom"
        elif not data.get("period") or data.get("period") == "custom":
            data["period"] = DEFAULT_PERIOD
        return cls(data)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        assert data is not None  # Form.clean() returns cleaned_data
        start, end = data.get("start"), data.get("end")
        if start or end or data.get("period") == "custom":
            today = timezone.localdate() if settings.USE_TZ else datetime.now().date()
            start = start or (end or today) - timedelta(days=27)
            end = end or today
            if start > end:
                raise forms.ValidationError(_("The start date is after the end date."))
            if end - start >= MAX_SPAN:
                raise forms.ValidationError(
                    _("Choose at most %(days)d days.") % {"days": MAX_SPAN.days}
                )
            data["start"], data["end"], data["period"] = start, end, "custom"
        else:
            data["period"] = data.get("period") or DEFAULT_PERIOD
        return data

    def filters(self, now: datetime | None = None) -> Filters:
        """The filters of a valid form; the defaults for an invalid one."""
        data: dict[str, Any] = self.cleaned_data if self.is_valid() else {"period": DEFAULT_PERIOD}
        now = now or rollup.now()
        if data.get("period") == "custom":
            start = _midnight(data["start"])
            end = _midnight(data["end"] + timedelta(days=1))
        else:
            start, end = now - PERIODS[data["period"]], now
        return Filters(
            start=start,
            end=end,
            period=data["period"],
            route=data.get("route") or "",
            metric=data.get("metric") or "",
            method=data.get("method") or "",
            sort=data.get("sort") or "count",
        )


def _midnight(day: Any) -> datetime:
    value = datetime(day.year, day.month, day.day)
    if settings.USE_TZ:
        return timezone.make_aware(value, timezone.get_current_timezone())
    return value


@dataclass
class Filters:
    start: datetime
    end: datetime  # exclusive
    period: str = DEFAULT_PERIOD
    route: str = ""
    metric: str = ""
    method: str = ""
    sort: str = "count"
    _plan: rollup.Plan | None = field(default=None, repr=False, compare=False)

    @property
    def hourly(self) -> bool:
        return self.end - self.start <= HOURLY_UP_TO

    def rows(self, within: Q | None = None, *, per_metric: bool = False) -> QuerySet[Any]:
        """The violations (or, with a metric or ``per_metric``, the metric rows)
        these filters select, in the filters' range or ``within`` another."""
        from ddt_perfpanels.models import BudgetViolation, ViolationMetric

        qs: QuerySet[Any]  # of violations, or of the metric rows of violations
        if self.metric:
            qs = ViolationMetric.objects.filter(metric=self.metric)
        elif per_metric:
            qs = ViolationMetric.objects.all()
        else:
            qs = BudgetViolation.objects.all()
        if within is None:
            qs = qs.filter(created_at__gte=self.start, created_at__lt=self.end)
        else:
            qs = qs.filter(within)
        if self.route:
            qs = qs.filter(route=self.route)
        if self.method:
            qs = qs.filter(method=self.method)
        return qs.order_by()

    def rolled_up(self, days: Any, *, per_metric: bool = False) -> QuerySet[Any]:
        """The rollup rows of these days these filters select: the requests
        (or, with a metric or ``per_metric``, the rows over a metric)."""
        from ddt_perfpanels.models import ViolationRollup

        qs = ViolationRollup.objects.filter(day_id__in=list(days))
        if self.metric:
            qs = qs.filter(metric=self.metric)
        elif per_metric:
            qs = qs.exclude(metric="")
        else:
            qs = qs.filter(metric="")
        if self.route:
            qs = qs.filter(route=self.route)
        if self.method:
            qs = qs.filter(method=self.method)
        return qs.order_by()

    def plan(self) -> rollup.Plan:
        """Which days of the range to read rolled up (not hourly ones); worked
        out once for the chart and the table."""
        if self._plan is None:
            if self.hourly:
                self._plan = rollup.Plan({}, [(self.start, self.end)])
            else:
                self._plan = rollup.plan(self.start, self.end)
        return self._plan

    @property
    def ratio_field(self) -> str:
        return "ratio" if self.metric else "worst_ratio"

    def changelist_params(self, **extra: str) -> dict[str, str]:
        """Query parameters for the admin list of the same violations."""
        params = {
            "created_at__gte": str(
                timezone.localtime(self.start) if settings.USE_TZ else self.start
            ),
            "created_at__lt": str(timezone.localtime(self.end) if settings.USE_TZ else self.end),
        }
        for key in ("route", "metric", "method"):
            if getattr(self, key):
                params[key] = getattr(self, key)
        params.update(extra)
        return params


# -- time buckets ------------------------------------------------------------------


_tz = rollup.local_tz


def day_positions(starts: list[datetime]) -> dict[date, int]:
    """Each daily bucket's local date, to place rolled-up days."""
    tz = _tz()
    return {(timezone.localtime(s, tz) if tz else s).date(): i for i, s in enumerate(starts)}


def buckets(filters: Filters) -> list[datetime]:
    """Every bucket start from the range's start to its end, empty ones included."""
    if not filters.hourly:
        return [start for _, start in rollup.midnights(filters.start, filters.end)][:-1]
    tz = _tz()
    current = timezone.localtime(filters.start, tz) if tz else filters.start
    current = current.replace(minute=0, second=0, microsecond=0)
    step = timedelta(hours=1)
    result = []
    while current < filters.end:
        result.append(current)
        current = (current.astimezone(UTC) + step).astimezone(tz) if tz else current + step
    return result


# -- the aggregates ----------------------------------------------------------------


@dataclass
class Series:
    buckets: list[datetime]
    metrics: list[str]
    counts: dict[str, list[int]]  # metric -> one count per bucket
    # route -> metric -> count over the range (the same GROUP BY, summed).
    by_route: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def totals(self) -> list[int]:
        return [sum(values[i] for values in self.counts.values()) for i in range(len(self.buckets))]


def series(filters: Filters) -> Series:
    """Requests over budget per bucket, by metric (a request over two metrics
    counts once under each); grouped by route too, for the metrics each route
    goes over (one scan of the metric rows, not two). Closed days come from
    the rollup, the rest of the range from the metric rows."""
    starts = buckets(filters)
    plan = filters.plan()
    counts: dict[str, list[int]] = {}
    by_route: dict[str, dict[str, int]] = {}

    def add(i: int | None, metric: str, route: str, n: int) -> None:
        if i is None:
            return
        counts.setdefault(metric, [0] * len(starts))[i] += n
        per_route = by_route.setdefault(route, {})
        per_route[metric] = per_route.get(metric, 0) + n

    if plan.days:
        days = day_positions(starts)
        rows = (
            filters.rolled_up(plan.days, per_metric=True)
            .values("day_id", "metric", "route")
            .annotate(n=Sum("count"))
        )
        for row in rows:
            add(days.get(plan.days[row["day_id"]]), row["metric"], row["route"], row["n"])
    within = plan.raw()
    if within is not None:
        qs = filters.rows(within, per_metric=True)
        bucket, position = bucketing(filters.hourly, qs, starts)
        rows = (
            qs.annotate(bucket=bucket)
            .values("bucket", "metric", "route")
            .annotate(n=Count("*"))
        )
        for row in rows:
            add(position(row["bucket"]), row["metric"], row["route"], row["n"])
    order = [m for m in METRICS if m in counts] + sorted(m for m in counts if m not in METRICS)
    return Series(starts, order, {m: counts[m] for m in order}, by_route)


@dataclass
class RouteRow:
    route: str
    count: int
    first: datetime
    last: datetime
    worst: float
    trend: list[int] = field(default_factory=list)
    last_7: int = 0
    previous_7: int = 0
    metrics: list[tuple[str, int]] = field(default_factory=list)

    @property
    def direction(self) -> str:
        """ "worse", "better", "steady", "new" (nothing the 7 days before) or ""."""
        if not self.last_7 and not self.previous_7:
            return ""
        if not self.previous_7:
            return "new"
        change = (self.last_7 - self.previous_7) / self.previous_7
        if change > TREND_DEAD_BAND:
            return "worse"
        if change < -TREND_DEAD_BAND:
            return "better"
        return "steady"

    @property
    def change_percent(self) -> int | None:
        if not self.previous_7:
            return None
        return round((self.last_7 - self.previous_7) * 100 / self.previous_7)


@dataclass
class RouteTable:
    total: int  # requests over budget (with a metric filter: over that metric)
    routes: list[RouteRow]  # the worst ones, sorted as asked


_SORT_KEYS: dict[str, Any] = {
    "count": lambda r: (-r.count, r.route),
    "worst": lambda r: (-r.worst, r.route),
    "last": lambda r: (-r.last.timestamp(), r.route),
    "route": lambda r: r.route,
}


def route_table(
    filters: Filters, limit: int = TOP_ROUTES, chart: Series | None = None
) -> RouteTable:
    """Each route's count, first and last time, worst ratio and trend line, from
    one GROUP BY route, day over the rollup of the closed days and one GROUP BY
    route, bucket over the rest of the range (a row per route and bucket comes
    back, never a violation); then, for the routes shown, the last 7 days
    against the 7 before, and the metrics they went over (from the series,
    computed here unless given)."""
    starts = buckets(filters)
    plan = filters.plan()
    by_name: dict[str, RouteRow] = {}
    total = 0

    def add(row: dict[str, Any], i: int | None) -> None:
        nonlocal total
        total += row["n"]
        route = by_name.get(row["route"])
        if route is None:
            route = by_name[row["route"]] = RouteRow(
                row["route"], 0, row["first"], row["last"], row["worst"], [0] * len(starts)
            )
        route.count += row["n"]
        route.first = min(route.first, row["first"])
        route.last = max(route.last, row["last"])
        route.worst = max(route.worst, row["worst"])
        if i is not None:
            route.trend[i] += row["n"]

    if plan.days:
        days = day_positions(starts)
        rows = (
            filters.rolled_up(plan.days)
            .values("route", "day_id")
            .annotate(n=Sum("count"), first=Min("first"), last=Max("last"), worst=Max("worst"))
        )
        for row in rows:
            add(row, days.get(plan.days[row["day_id"]]))
    within = plan.raw()
    if within is not None:
        qs = filters.rows(within)
        bucket, position = bucketing(filters.hourly, qs, starts)
        rows = (
            qs.annotate(bucket=bucket)
            .values("route", "bucket")
            .annotate(
                n=Count("*"),
                first=Min("created_at"),
                last=Max("created_at"),
                worst=Max(filters.ratio_field),
            )
        )
        for row in rows:
            add(row, position(row["bucket"]))
    key = _SORT_KEYS.get(filters.sort, _SORT_KEYS["count"])
    routes = sorted(by_name.values(), key=key)[:limit]
    if routes:
        shown = {row.route: row for row in routes}
        _add_weeks(filters, shown, list(shown))
        by_route = (chart or series(filters)).by_route
        order = {name: i for i, name in enumerate(METRICS)}
        for row in routes:
            row.metrics = sorted(
                by_route.get(row.route, {}).items(),
                key=lambda item: (-item[1], order.get(item[0], 99)),
            )
    return RouteTable(total, routes)


def worst_routes(filters: Filters, limit: int = TOP_ROUTES) -> list[RouteRow]:
    return route_table(filters, limit).routes


def _add_weeks(filters: Filters, by_name: dict[str, RouteRow], names: list[str]) -> None:
    """The last 7 days before the range's end against the 7 before them: the
    closed days of each week from the rollup, their edges row by row."""
    anchor = filters.end
    week_ago = anchor - timedelta(days=7)
    last = rollup.plan(week_ago, anchor)
    previous = rollup.plan(anchor - timedelta(days=14), week_ago)
    counts: dict[str, list[int]] = {}

    def add(route: str, week: int, n: int) -> None:
        counts.setdefault(route, [0, 0])[week] += n

    days = {**last.days, **previous.days}
    if days:
        rows = (
            filters.rolled_up(days)
            .filter(route__in=names)
            .values("route", "day_id")
            .annotate(n=Sum("count"))
        )
        for row in rows:
            add(row["route"], 0 if row["day_id"] in last.days else 1, row["n"])
    for week, plan in enumerate((last, previous)):
        within = plan.raw()
        if within is not None:
            rows = filters.rows(within).filter(route__in=names).values("route")
            for row in rows.annotate(n=Count("*")):
                add(row["route"], week, row["n"])
    for route, (last_7, previous_7) in counts.items():
        target = by_name[route]
        target.last_7 = last_7
        target.previous_7 = previous_7
