"""Budget violations recorded by ``BudgetMiddleware``.

One ``BudgetViolation`` per request over its budget, and one ``ViolationMetric``
per metric that was over. The metric rows repeat the violation's time, route and
method so that the admin dashboard filters and groups each table on its own
indexes, without joins.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class BudgetViolation(models.Model):
    created_at = models.DateTimeField(_("time"), default=timezone.now, editable=False)
    # The URL name with its namespaces ("projects:list"), else the URL pattern
    # ("/books/<int:pk>/"), else "" when no URL matched.
    route = models.CharField(_("route"), max_length=200, blank=True)
    path = models.CharField(_("path"), max_length=500, help_text=_("Without the query string."))
    method = models.CharField(_("method"), max_length=10)
    status = models.PositiveSmallIntegerField(_("status"))
    # The metric furthest over its limit, and by how much (actual / limit).
    worst_metric = models.CharField(_("worst metric"), max_length=40)
    worst_ratio = models.FloatField(_("worst actual/limit"))
    over_count = models.PositiveSmallIntegerField(_("metrics over"))
    limits = models.JSONField(_("budget"), default=dict, help_text=_("metric: limit"))
    actuals = models.JSONField(_("measured"), default=dict, help_text=_("metric: value"))
    sources = models.JSONField(_("budget from"), default=list)
    nplusone = models.JSONField(_("N+1 clusters"), default=list)
    findings = models.JSONField(_("findings"), default=list)

    class Meta:
        verbose_name = _("budget violation")
        verbose_name_plural = _("budget violations")
        # The dashboard aggregates ranges of rows by route and time: the trailing
        # columns let PostgreSQL answer from the index alone (index-only scans),
        # never reading the wide rows with their JSON.
        indexes = [
            # Date ranges; newest first with the id for the admin's total ordering;
            # pruning oldest first.
            models.Index(
                fields=["created_at", "id", "route", "method", "worst_ratio"],
                name="ddtpp_violation_time",
            ),
            # One route over time: filters, drill-downs, the 7-day comparison.
            models.Index(
                fields=["route", "created_at", "method", "worst_ratio"],
                name="ddtpp_violation_route",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.route or self.path} over budget ({self.worst_metric})"


class ViolationMetric(models.Model):
    """One metric over its limit in one violation."""

    violation = models.ForeignKey(BudgetViolation, on_delete=models.CASCADE, related_name="metrics")
    created_at = models.DateTimeField(_("time"))
    route = models.CharField(_("route"), max_length=200, blank=True)
    method = models.CharField(_("method"), max_length=10)
    metric = models.CharField(_("metric"), max_length=40)
    limit = models.FloatField(_("limit"))
    actual = models.FloatField(_("actual"))
    ratio = models.FloatField(_("actual/limit"))

    class Meta:
        verbose_name = _("metric over budget")
        verbose_name_plural = _("metrics over budget")
        indexes = [
            # Date ranges (the chart without a metric filter).
            models.Index(fields=["created_at"], name="ddtpp_vmetric_time"),
            # One metric over time, by route and method (the metric filter).
            models.Index(
                fields=["metric", "created_at", "route", "method", "ratio"],
                name="ddtpp_vmetric_metric",
            ),
            # One route's metrics over time (the route filter, metrics per route).
            models.Index(
                fields=["route", "metric", "created_at", "method", "ratio"],
                name="ddtpp_vmetric_route",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.metric}: {self.actual:g} > {self.limit:g}"


class RollupDay(models.Model):
    """A closed local day whose violations are summed in ``ViolationRollup`` rows.

    Built by the admin dashboard the first time it needs the day (or by
    ``perfpanels_rollup``), and forgotten whenever violations of the day are
    added or deleted after the fact; the dashboard reads only the days of its
    range that are not here, or not closed yet, from the violation tables.
    """

    # The time zone the day is local to ("" without USE_TZ).
    tz = models.CharField(_("time zone"), max_length=64, blank=True)
    day = models.DateField(_("day"))
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    built_at = models.DateTimeField(_("built at"), default=timezone.now)

    class Meta:
        verbose_name = _("rolled-up day")
        verbose_name_plural = _("rolled-up days")
        constraints = [models.UniqueConstraint(fields=["tz", "day"], name="ddtpp_rollupday_unique")]
        indexes = [models.Index(fields=["starts_at", "ends_at"], name="ddtpp_rollupday_time")]

    def __str__(self) -> str:
        return f"{self.day} ({self.tz or 'local'})"


class ViolationRollup(models.Model):
    """The violations of one day, route and method: all of them (``metric`` "")
    or those over one metric."""

    day = models.ForeignKey(RollupDay, on_delete=models.CASCADE, related_name="rows")
    route = models.CharField(_("route"), max_length=200, blank=True)
    method = models.CharField(_("method"), max_length=10)
    metric = models.CharField(_("metric"), max_length=40, blank=True)
    count = models.PositiveIntegerField(_("count"))
    first = models.DateTimeField(_("first"))
    last = models.DateTimeField(_("last"))
    worst = models.FloatField(_("worst actual/limit"))

    class Meta:
        verbose_name = _("violation rollup")
        verbose_name_plural = _("violation rollups")
        constraints = [
            models.UniqueConstraint(
                fields=["day", "metric", "route", "method"], name="ddtpp_rollup_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.day_id} {self.method} {self.route} {self.metric or '*'}: {self.count}"
