"""Budget violations in the admin: a list, a detail page with the recorded
clusters and their fixes, and a dashboard of the trend (``…/dashboard/``).

Everything needs staff status and the ``view_budgetviolation`` permission.
"""

from __future__ import annotations

import csv
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlencode

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Exists, Max, Min, OuterRef, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from ddt_perfpanels.budgets import dashboard, rollup
from ddt_perfpanels.budgets.metrics import METRICS, format_ratio, format_value
from ddt_perfpanels.budgets.svg import colour, sparkline, stacked_bars
from ddt_perfpanels.findings import finding_title
from ddt_perfpanels.html import wrappable
from ddt_perfpanels.models import BudgetViolation, ViolationMetric

if TYPE_CHECKING:
    from django.urls import URLPattern
    from django.utils.functional import _StrOrPromise

    # Generic for django-stubs only: not subscriptable at run time.
    _Paginator = Paginator[BudgetViolation]
    _ModelAdmin = admin.ModelAdmin[BudgetViolation]
else:
    _Paginator = Paginator
    _ModelAdmin = admin.ModelAdmin

LIST_COUNT_CAP = 10_000


class CappedPaginator(_Paginator):
    """Counts at most LIST_COUNT_CAP rows: the list never counts a whole table."""

    @cached_property
    def count(self) -> int:
        rows = cast("QuerySet[BudgetViolation]", self.object_list)  # the changelist's
        return rows[:LIST_COUNT_CAP].count()


class RouteFilter(admin.SimpleListFilter):
    """``?route=`` from the dashboard's drill-down links (shown while set)."""

    title = _("route")
    parameter_name = "route"

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]
    ) -> list[tuple[str, _StrOrPromise]]:
        value = self.value()
        return [(value, value or _("(no URL matched)"))] if value is not None else []

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset.filter(route=value) if value is not None else queryset


class MetricFilter(admin.SimpleListFilter):
    title = _("metric over budget")
    parameter_name = "metric"

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]
    ) -> list[tuple[str, _StrOrPromise]]:
        return [(m.name, m.label) for m in METRICS.values()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if not value:
            return queryset
        return queryset.filter(
            Exists(ViolationMetric.objects.filter(violation=OuterRef("pk"), metric=value))
        )


class MethodFilter(admin.SimpleListFilter):
    title = _("method")
    parameter_name = "method"

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]
    ) -> list[tuple[str, _StrOrPromise]]:
        return [(m, m) for m in dashboard.METHODS]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(method=self.value()) if self.value() else queryset


class StatusFilter(admin.SimpleListFilter):
    title = _("status")
    parameter_name = "status_class"

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]
    ) -> list[tuple[str, _StrOrPromise]]:
        return [("2", "2xx"), ("3", "3xx"), ("4", "4xx"), ("5", "5xx")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value not in ("2", "3", "4", "5"):
            return queryset
        low = int(value) * 100
        return queryset.filter(status__gte=low, status__lt=low + 100)


@admin.register(BudgetViolation)
class BudgetViolationAdmin(_ModelAdmin):
    list_display = (
        "created_at",
        "route_display",
        "method",
        "status",
        "worst_display",
        "ratio_display",
        "path",
    )
    list_display_links = ("created_at",)
    list_filter = (
        ("created_at", admin.DateFieldListFilter),
        MetricFilter,
        MethodFilter,
        StatusFilter,
        RouteFilter,
    )
    ordering = ("-created_at", "-id")
    paginator = CappedPaginator
    show_full_result_count = False
    list_per_page = 50
    fieldsets = (
        (None, {"fields": ("created_at", "method", "path", "route", "status", "sources_display")}),
    )
    readonly_fields = ("created_at", "method", "path", "route", "status", "sources_display")
    change_list_template = "ddt_perfpanels/admin/violation_change_list.html"
    change_form_template = "ddt_perfpanels/admin/violation_change_form.html"
    if hasattr(admin, "ShowFacets"):  # Django >= 5.0: never count each filter's choices
        show_facets = admin.ShowFacets.NEVER

    # -- permissions: recorded by the middleware, read-only here ------------------

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    # -- deleting: the dashboard's rolled-up days of the deleted rows go too -------

    def delete_model(self, request: HttpRequest, obj: BudgetViolation) -> None:
        super().delete_model(request, obj)
        rollup.forget(obj.created_at, using=obj._state.db)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[BudgetViolation]) -> None:
        span = queryset.order_by().aggregate(first=Min("created_at"), last=Max("created_at"))
        super().delete_queryset(request, queryset)
        if span["first"] is not None:
            rollup.forget(span["first"], span["last"], using=queryset.db)

    # -- list columns ------------------------------------------------------------------

    @admin.display(description=_("route"), ordering="route")
    def route_display(self, obj: BudgetViolation) -> str:
        return obj.route or "—"

    @admin.display(description=_("worst metric"))
    def worst_display(self, obj: BudgetViolation) -> str:
        metric = obj.worst_metric
        return (
            f"{_label(metric)}: {format_value(metric, obj.actuals.get(metric))} > "
            f"{format_value(metric, obj.limits.get(metric))}"
        )

    @admin.display(description=_("actual/limit"), ordering="worst_ratio")
    def ratio_display(self, obj: BudgetViolation) -> str:
        metric = obj.worst_metric
        return format_ratio(
            metric, obj.actuals.get(metric), obj.limits.get(metric), obj.worst_ratio
        )

    @admin.display(description=_("budget from"))
    def sources_display(self, obj: BudgetViolation) -> str:
        return ", ".join(obj.sources) or "—"

    # -- the detail page -------------------------------------------------------------

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        extra_context = dict(extra_context or {})
        obj = self.get_object(request, unquote(object_id))
        if obj is not None:
            extra_context["budget_rows"] = _metric_rows(obj)
            extra_context["budget_fixes"] = [
                {**finding, "title": finding_title(finding)}
                for finding in [*obj.nplusone, *obj.findings]
            ]
            # Recorded by a light capture: N+1 and counts were not measured.
            extra_context["budget_light"] = "nplusone" not in obj.actuals
            extra_context["route_url"] = self._changelist_url({"route": obj.route})
            extra_context["dashboard_url"] = self._dashboard_url({"route": obj.route})
        return super().change_view(request, object_id, form_url, extra_context)

    # -- the dashboard -----------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "dashboard/",
                self.admin_site.admin_view(self.dashboard_view),
                name="{}_{}_dashboard".format(*info),
            ),
            *super().get_urls(),
        ]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra_context = {
            "dashboard_url": self._dashboard_url({}),
            "count_cap": LIST_COUNT_CAP,
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context)

    def _changelist_url(self, params: dict[str, str]) -> str:
        url = reverse(
            f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist",
            current_app=self.admin_site.name,
        )
        return f"{url}?{urlencode(params)}" if params else url

    def _dashboard_url(self, params: dict[str, str]) -> str:
        url = reverse(
            f"admin:{self.opts.app_label}_{self.opts.model_name}_dashboard",
            current_app=self.admin_site.name,
        )
        return f"{url}?{urlencode(params)}" if params else url

    def dashboard_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = dashboard.DashboardFilterForm.from_query(request.GET)
        filters = form.filters()
        export = request.GET.get("export")
        if export == "routes":
            return _routes_csv(dashboard.worst_routes(filters), filters)
        if export == "series":
            return _series_csv(dashboard.series(filters), filters)
        series = dashboard.series(filters)
        labels = {name: str(m.label) for name, m in METRICS.items()}
        chart = stacked_bars(series.buckets, series.counts, labels, hourly=filters.hourly)
        table = dashboard.route_table(filters, chart=series)
        routes = table.routes
        query = {k: v for k, v in request.GET.items() if k not in ("export", "sort")}
        route_rows = [
            {
                "row": row,
                "spark": sparkline(row.trend),
                "route_html": wrappable(row.route),
                "list_url": self._changelist_url(filters.changelist_params(route=row.route)),
                "filter_url": "?" + urlencode({**query, "route": row.route}),
                "metrics": [
                    {
                        "metric": metric,
                        "label": labels.get(metric, metric),
                        "count": n,
                        "colour": colour(metric),
                        "url": self._changelist_url(
                            filters.changelist_params(route=row.route, metric=metric)
                        ),
                    }
                    for metric, n in row.metrics
                ],
            }
            for row in routes
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": _("Performance budget violations"),
            "subtitle": None,
            # The page needs its width (800 px windows); the app list is a click away.
            "is_nav_sidebar_enabled": False,
            "opts": self.opts,
            "app_label": self.opts.app_label,
            "form": form,
            "filters": filters,
            "total": table.total,
            "chart": chart,
            "series_total": sum(series.totals),
            "routes": route_rows,
            "top_routes": dashboard.TOP_ROUTES,
            "metric_label": labels.get(filters.metric, ""),
            "changelist_url": self._changelist_url(filters.changelist_params()),
            "csv_routes_url": "?" + urlencode({**request.GET.dict(), "export": "routes"}),
            "csv_series_url": "?" + urlencode({**request.GET.dict(), "export": "series"}),
            "sort_urls": {key: "?" + urlencode({**query, "sort": key}) for key in dashboard.SORTS},
            "bucket_name": _("hour") if filters.hourly else _("day"),
            "has_filters": bool(filters.route or filters.metric or filters.method),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "ddt_perfpanels/admin/dashboard.html", context)


def _label(metric: str) -> str:
    return str(METRICS[metric].label) if metric in METRICS else metric


def _metric_rows(obj: BudgetViolation) -> list[dict[str, Any]]:
    rows = []
    names = [m for m in METRICS if m in obj.limits or m in obj.actuals]
    names += sorted(set(obj.limits) - set(names))
    for name in names:
        limit = obj.limits.get(name)
        actual = obj.actuals.get(name)  # None: not measured (a light capture)
        over = limit is not None and actual is not None and actual > limit
        rows.append(
            {
                "metric": name,
                "label": _label(name),
                "actual": format_value(name, actual) if name in METRICS else actual,
                "limit": format_value(name, limit) if name in METRICS else limit,
                "over": over,
                "limited": limit is not None,
            }
        )
    rows.sort(key=lambda r: (not r["over"], not r["limited"]))
    return rows


# -- CSV --------------------------------------------------------------------------


# What makes a spreadsheet read a cell as a formula, full-width forms included
# (＝＋－＠, which some spreadsheets fold to their ASCII forms).
_FORMULA_START = frozenset("=+-@\uff1d\uff0b\uff0d\uff20\ufe62\ufe63\u2212")


def _cell(value: Any) -> Any:
    """Paths and routes come from requests: never let a spreadsheet run them,
    even after leading spaces, tabs or newlines."""
    if not isinstance(value, str):
        return value
    if value.lstrip()[:1] in _FORMULA_START or value[:1] in ("\t", "\r"):
        return "'" + value
    return value


def _csv_response(name: str, filters: dashboard.Filters) -> tuple[HttpResponse, Any]:
    stamp = (
        timezone.localtime(filters.end).strftime("%Y%m%d-%H%M")
        if timezone.is_aware(filters.end)
        else filters.end.strftime("%Y%m%d-%H%M")
    )
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="budget-{name}-{stamp}.csv"'
    return response, csv.writer(response)


def _iso(value: Any) -> str:
    if value is None:
        return ""
    return (timezone.localtime(value) if timezone.is_aware(value) else value).isoformat()


def _routes_csv(routes: list[dashboard.RouteRow], filters: dashboard.Filters) -> HttpResponse:
    response, writer = _csv_response("routes", filters)
    writer.writerow(
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
            "per_" + ("hour" if filters.hourly else "day"),
        ]
    )
    for row in routes:
        writer.writerow(
            [
                _cell(row.route),
                row.count,
                _iso(row.first),
                _iso(row.last),
                round(row.worst, 4),
                row.last_7,
                row.previous_7,
                row.direction,
                " ".join(f"{metric}={n}" for metric, n in row.metrics),
                " ".join(str(n) for n in row.trend),
            ]
        )
    return response


def _series_csv(series: dashboard.Series, filters: dashboard.Filters) -> HttpResponse:
    response, writer = _csv_response("series", filters)
    writer.writerow(["hour" if filters.hourly else "day", *series.metrics, "total"])
    totals = series.totals
    for i, start in enumerate(series.buckets):
        writer.writerow([_iso(start), *(series.counts[m][i] for m in series.metrics), totals[i]])
    return response
