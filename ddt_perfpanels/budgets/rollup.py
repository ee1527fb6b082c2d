"""Closed days summed once, so the dashboard does not re-read a million rows.

A ``RollupDay`` is a local day (midnight to midnight in the current time zone)
that ended more than ``MARGIN`` ago; its ``ViolationRollup`` rows hold, per
route and method, the count, first and last time and worst ratio of its
violations (``metric`` "") and of its rows over each metric. The dashboard
builds the days its range needs the first time it shows them (one GROUP BY
over the missing days), then reads them instead of the violation tables; the
edges of the range (part of a day, today) are read from the violation tables.

A day is forgotten, to be built again, when violations of it are added or
deleted after the fact: a back-dated save (a signal), ``history.generate``,
``prune``, deletions in the admin. A bulk change made elsewhere should be
followed by ``manage.py perfpanels_rollup --clear``.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import DatabaseError, connections, router, transaction
from django.db.models import Count, F, Func, IntegerField, Max, Min, Q, QuerySet
from django.db.models.functions import TruncDay, TruncHour
from django.utils import timezone

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.models.sql.compiler import SQLCompiler

logger = logging.getLogger("ddt_perfpanels")

# A day is rolled up only once it ended this long ago: time for requests that
# started before midnight to commit their violations.
MARGIN = timedelta(hours=1)


@dataclass(frozen=True)
class Day:
    day: date
    starts_at: datetime
    ends_at: datetime


@dataclass
class Plan:
    """How to read ``[start, end)``: rolled-up days, and the rest from the
    violation tables."""

    days: dict[int, date]  # RollupDay id -> its local date
    ranges: list[tuple[datetime, datetime]]  # [start, end) read row by row

    def raw(self, field: str = "created_at") -> Q | None:
        """A filter for the rows read one by one; None when there are none."""
        query = None
        for start, end in self.ranges:
            part = Q(**{f"{field}__gte": start, f"{field}__lt": end})
            query = part if query is None else query | part
        return query


def local_tz() -> Any:
    """The time zone days are local to (None without USE_TZ)."""
    return timezone.get_current_timezone() if settings.USE_TZ else None


def tz_name() -> str:
    return timezone.get_current_timezone_name() if settings.USE_TZ else ""


# -- time buckets (the dashboard's, and the days built here) --------------------


def truncate(hourly: bool) -> Any:
    trunc = TruncHour if hourly else TruncDay
    return trunc("created_at", tzinfo=local_tz())


class WidthBucket(Func):
    """PostgreSQL's ``width_bucket(created_at, ARRAY[bucket starts])``: the number
    of the bucket a row falls in, by binary search over the starts (computed in
    Python, in local time). Half the cost of truncating every row's timestamp in
    a time zone, which dominates a GROUP BY over a million rows."""

    output_field = IntegerField()

    def __init__(self, starts: list[datetime]):
        super().__init__(F("created_at"))
        self.starts = starts

    def as_sql(
        self,
        compiler: SQLCompiler,
        connection: BaseDatabaseWrapper,
        function: str | None = None,
        template: str | None = None,
        arg_joiner: str | None = None,
        **extra_context: Any,
    ) -> tuple[str, tuple[Any, ...]]:
        sql, params = compiler.compile(self.source_expressions[0])
        return f"width_bucket({sql}, %s::timestamptz[])", (*params, list(self.starts))


def bucketing(hourly: bool, qs: QuerySet[Any], starts: list[datetime]) -> tuple[Any, Any]:
    """An expression giving each row's bucket, and a function from its value to
    the bucket's position in ``starts`` (None: outside)."""
    if connections[qs.db].vendor == "postgresql" and settings.USE_TZ:
        count = len(starts)
        return WidthBucket(starts), lambda value: value - 1 if 1 <= value <= count else None
    index = {_key(b): i for i, b in enumerate(starts)}
    return truncate(hourly), lambda value: index.get(_key(value))


def _key(value: datetime) -> datetime:
    tz = local_tz()
    if tz is None or value is None:
        return value
    if timezone.is_naive(value):
        value = timezone.make_aware(value, tz)
    return value.astimezone(UTC)


def now() -> datetime:
    return timezone.now() if settings.USE_TZ else datetime.now()


def midnights(start: datetime, end: datetime) -> Iterator[tuple[date, datetime]]:
    """Each local day from ``start``'s to the first starting at or after
    ``end``, with its start: midnight to midnight in local time, whatever DST
    does in between."""
    tz = local_tz()
    local = timezone.localtime(start, tz) if tz else start
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    while True:
        value = timezone.make_aware(midnight, tz) if tz else midnight
        yield midnight.date(), value
        if value >= end:
            return
        midnight += timedelta(days=1)


def full_days(start: datetime, end: datetime) -> list[Day]:
    """The local days wholly inside ``[start, end)``."""
    bounds = list(midnights(start, end))
    return [
        Day(day, starts_at, ends_at)
        for (day, starts_at), (_, ends_at) in itertools.pairwise(bounds)
        if starts_at >= start and ends_at <= end
    ]


def closed_days(start: datetime, end: datetime) -> list[Day]:
    """The days wholly inside ``[start, end)`` that ended ``MARGIN`` ago or more."""
    horizon = now() - MARGIN
    return [d for d in full_days(start, end) if d.ends_at <= horizon]


def plan(start: datetime, end: datetime, *, using: str | None = None) -> Plan:
    """The closed days of the range, built if they were not, and the ranges
    left to read row by row."""
    days = closed_days(start, end)
    if not days:
        return Plan({}, [(start, end)] if start < end else [])
    try:
        # In a savepoint: a failure (the rollup's migration not applied, say)
        # leaves the page's transaction usable for reading the rows instead.
        with transaction.atomic(using=_alias(using, write=True)):
            ids = ensure(days, using=using)
    except DatabaseError:
        logger.exception("ddt_perfpanels: could not roll up violations; reading every row")
        return Plan({}, [(start, end)])
    ranges = []
    if start < days[0].starts_at:
        ranges.append((start, days[0].starts_at))
    if days[-1].ends_at < end:
        ranges.append((days[-1].ends_at, end))
    return Plan(ids, ranges)


def _alias(using: str | None, write: bool = False) -> str:
    from ddt_perfpanels.models import RollupDay

    if using:
        return using
    return router.db_for_write(RollupDay) if write else router.db_for_read(RollupDay)


def ensure(days: list[Day], *, using: str | None = None) -> dict[int, date]:
    """The ids of these (consecutive) days' rollups, building the missing ones."""
    from ddt_perfpanels.models import RollupDay

    alias = _alias(using)
    name = tz_name()

    def built() -> dict[date, int]:
        return dict(
            RollupDay.objects.using(alias)
            .filter(tz=name, day__gte=days[0].day, day__lte=days[-1].day)
            .values_list("day", "id")
        )

    ids = built()
    missing = [d for d in days if d.day not in ids]
    if missing:
        ids.update(build(missing, using=using))
    return {pk: day for day, pk in ids.items()}


def build(days: list[Day], *, using: str | None = None) -> dict[date, int]:
    """Sum the violations of these days (one GROUP BY per table over the span
    from the first to the last) and store them. Returns their ids."""
    from ddt_perfpanels.models import BudgetViolation, RollupDay, ViolationMetric, ViolationRollup
    from ddt_perfpanels.recording.context import paused

    alias = _alias(using, write=True)
    name = tz_name()
    span = (days[0].starts_at, days[-1].ends_at)
    starts = [d.starts_at for d in days]
    sums: dict[tuple[date, str, str, str], dict[str, Any]] = {}

    def collect(qs: QuerySet[Any], fields: list[str], ratio: str) -> None:
        if using:
            qs = qs.using(using)
        qs = qs.filter(created_at__gte=span[0], created_at__lt=span[1]).order_by()
        bucket, position = bucketing(False, qs, starts)
        rows = (
            qs.annotate(bucket=bucket)
            .values("bucket", *fields)
            .annotate(
                n=Count("*"), first=Min("created_at"), last=Max("created_at"), worst=Max(ratio)
            )
        )
        for row in rows:
            i = position(row["bucket"])
            if i is None:
                continue
            key = (days[i].day, row["route"], row["method"], row.get("metric", ""))
            sums[key] = row

    with paused():
        collect(BudgetViolation.objects.all(), ["route", "method"], "worst_ratio")
        collect(ViolationMetric.objects.all(), ["route", "method", "metric"], "ratio")
        with transaction.atomic(using=alias):
            RollupDay.objects.using(alias).bulk_create(
                [
                    RollupDay(tz=name, day=d.day, starts_at=d.starts_at, ends_at=d.ends_at)
                    for d in days
                ],
                ignore_conflicts=True,
            )
            ids = dict(
                RollupDay.objects.using(alias)
                .filter(tz=name, day__in=[d.day for d in days])
                .values_list("day", "id")
            )
            ViolationRollup.objects.using(alias).bulk_create(
                [
                    ViolationRollup(
                        day_id=ids[day],
                        route=route,
                        method=method,
                        metric=metric,
                        count=row["n"],
                        first=row["first"],
                        last=row["last"],
                        worst=row["worst"],
                    )
                    for (day, route, method, metric), row in sums.items()
                ],
                batch_size=1000,
                # Another request building the same day at the same time wrote the same sums.
                ignore_conflicts=True,
            )
    return ids


def forget(start: datetime | None, end: datetime | None = None, *, using: str | None = None) -> int:
    """Forget the rolled-up days (in every time zone) holding any time in
    ``[start, end]`` (``start`` alone: that one time; None: since always).
    Returns how many."""
    from ddt_perfpanels.models import RollupDay
    from ddt_perfpanels.recording.context import paused

    qs = RollupDay.objects.using(_alias(using, write=True))
    end = end if end is not None else start
    if end is not None:
        qs = qs.filter(starts_at__lte=end)
    if start is not None:
        qs = qs.filter(ends_at__gt=start)
    with paused():
        deleted, per_model = qs.delete()
    return per_model.get(RollupDay._meta.label, 0)


def forget_saved(
    sender: Any, instance: Any, raw: bool = False, using: str | None = None, **kwargs: Any
) -> None:
    """``post_save``: a violation saved in a day that may be rolled up already
    (not the usual one, saved as it happens) makes the day be built again."""
    created_at = instance.created_at
    if created_at is None:
        return
    if settings.USE_TZ and timezone.is_naive(created_at):
        created_at = timezone.make_aware(created_at)
    if created_at < now() - MARGIN:
        forget(created_at, using=using)
