"""Weeks of budget violations for the admin dashboard, made from real ones.

Each slow page is requested once through the whole middleware stack, so that
``BudgetMiddleware`` records its violations with the real numbers and the real
suggested fixes; those are then copied back over the past weeks, a few a day,
each route with the trend of its own that ``trends.ROUTES`` gives, so the
dashboard's chart, trends and drill-downs show something on the first visit.
"""

import random
from dataclasses import dataclass
from datetime import timedelta

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from demo_site.seed import ADMIN_USERNAME
from demo_site.trends import ROUTES, daily_counts

# Response times vary from request to request; counts do not.
_TIMINGS = ("db_time_ms", "response_time_ms", "cache_time_ms")


@dataclass
class History:
    violations: int
    days: int


def available() -> bool:
    return apps.is_installed("ddt_perfpanels") and _models() is not None


def _models():
    try:
        from ddt_perfpanels.models import BudgetViolation, ViolationMetric
    except ImportError:  # a ddt_perfpanels without budgets
        return None
    return BudgetViolation, ViolationMetric


def has_history() -> bool:
    models = _models()
    return models is not None and models[0].objects.exists()


def is_stale(hours: int = 24) -> bool:
    """Whether the newest violation is older than ``hours``: the trends compare
    the last 7 days with the 7 before, so a history seeded days ago tells
    another story."""
    newest = _models()[0].objects.order_by("-created_at").values_list("created_at", flat=True)
    newest = newest.first()
    return newest is None or newest < timezone.now() - timedelta(hours=hours)


def _forget(start=None, end=None) -> None:
    """Make the dashboard roll up these days again (their rows changed)."""
    try:
        from ddt_perfpanels.budgets.rollup import forget
    except ImportError:  # a ddt_perfpanels without the rollup
        return
    forget(start, end)


def clear() -> None:
    models = _models()
    if models is not None:
        models[0].objects.all().delete()
        _forget()


def generate(days: int = 28, seed: int = 0) -> History:
    BudgetViolation, ViolationMetric = _models()
    rng = random.Random(seed)
    now = timezone.now()
    made = 0
    # Day ``day`` is the 24 hours that end ``days - 1 - day`` days before now: the
    # dashboard's "last 7 days" are exactly the last 7 of them, whatever the time.
    ends = [now - timedelta(days=days - 1 - day) for day in range(days)]
    weekends = [end.weekday() >= 5 for end in ends]
    for name, rate, login, _trend in ROUTES:
        samples = _record_real(name, login, BudgetViolation)
        if not samples:
            continue
        violations, children = [], []
        for end, count in zip(ends, daily_counts(rate, weekends), strict=True):
            for _ in range(count):
                when = end - timedelta(seconds=rng.uniform(60, 24 * 3600 - 60))
                sample, metrics = rng.choice(samples)
                over = {m.metric for m in metrics}
                actuals = {
                    key: round(value * rng.uniform(0.7, 1.6), 2)
                    if key in _TIMINGS and key not in over
                    else value
                    for key, value in sample.actuals.items()
                }
                violations.append(_copy(sample, created_at=when, actuals=actuals))
                children.append([_copy(m, created_at=when) for m in metrics])
        with transaction.atomic():
            for violation, metrics in zip(
                BudgetViolation.objects.bulk_create(violations), children, strict=True
            ):
                for metric in metrics:
                    metric.violation_id = violation.pk
            ViolationMetric.objects.bulk_create(m for ms in children for m in ms)
            # The originals, recorded now, would add to the last 7 days' count.
            BudgetViolation.objects.filter(pk__in=[v.pk for v, _ in samples]).delete()
        made += len(violations)
    _forget(now - timedelta(days=days + 1), now)
    return History(made, days)


def _record_real(name, login, BudgetViolation):
    """Request the page twice (a cold and a warm cache) and return the
    violations BudgetMiddleware recorded, with their metric rows."""
    # From an address outside INTERNAL_IPS: no toolbar, only BudgetMiddleware.
    client = Client(HTTP_HOST="127.0.0.1", REMOTE_ADDR="192.0.2.1")
    if login:
        client.force_login(get_user_model().objects.get(username=ADMIN_USERNAME))
    last = BudgetViolation.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    url = reverse(name)
    for _ in range(2):
        client.get(url)
    return [
        (violation, list(violation.metrics.all()))
        for violation in BudgetViolation.objects.filter(pk__gt=last).order_by("pk")
    ]


def _copy(obj, **changes):
    data = {
        field.attname: getattr(obj, field.attname)
        for field in obj._meta.concrete_fields
        if not field.primary_key
    }
    data.update(changes)
    return type(obj)(**data)
