"""Weeks of budget violations for the admin dashboard, made from real ones.

Each slow page is requested once through the whole middleware stack, so that
``BudgetMiddleware`` records its violations with the real numbers and the real
suggested fixes; those are then copied back over the past weeks, a few a day,
each route with a trend of its own, so the dashboard's chart, trends and
drill-downs show something on the first visit.
"""

import math
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


def _rising(day, days):
    return 2 + 9 * day / days


def _steady(day, days):
    return 5.0


def _improving(day, days):
    return max(0.5, 11 - 12 * day / days)


def _new_last_ten_days(day, days):
    return 4.0 if day >= days - 10 else 0.0


# (URL name, violations a day on weekdays as a function of (day, days), admin login)
ROUTES = [
    ("projects:list", _rising, False),
    ("badges:progress", _steady, False),
    ("courses:dashboard", _improving, False),
    ("admin:courses_enrollment_changelist", _new_last_ten_days, True),
]
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
    for name, rate, login in ROUTES:
        samples = _record_real(name, login, BudgetViolation)
        if not samples:
            continue
        violations, children = [], []
        for day in range(days):
            date = (now - timedelta(days=days - day)).replace(hour=0, minute=0, second=0)
            mean = rate(day, days) * (0.4 if date.weekday() >= 5 else 1.0)
            for _ in range(_poisson(rng, mean)):
                when = date + timedelta(seconds=rng.uniform(8 * 3600, 20 * 3600))
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


def _poisson(rng, mean):
    # Knuth's method; the means here are small.
    if mean <= 0:
        return 0
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1
