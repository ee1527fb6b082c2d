"""Realistic, deterministic violation history: for the demo, the dashboard's
tests and its benchmark (``manage.py perfpanels_fake_history``).

Routes follow a long-tailed popularity; some get worse over the period, some
better; each route goes over the metrics its code is bad at.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import router, transaction
from django.utils import timezone

from ddt_perfpanels.budgets.rollup import forget

# (route, method, metrics it goes over, tendency: -1 improving .. +1 worsening)
_ROUTES: list[tuple[str, str, tuple[str, ...], float]] = [
    ("projects:list", "GET", ("queries", "nplusone", "db_time_ms"), 0.8),
    ("projects:detail", "GET", ("queries", "duplicate_queries"), 0.0),
    ("projects:board", "GET", ("nplusone", "queries", "response_time_ms"), 0.5),
    ("api:orders-list", "GET", ("db_time_ms", "similar_queries"), -0.7),
    ("api:orders-detail", "GET", ("queries",), 0.1),
    ("api:orders-create", "POST", ("db_time_ms", "response_time_ms"), 0.0),
    ("api:search", "GET", ("db_time_ms", "response_time_ms", "cache_misses"), 0.6),
    ("api:users-me", "GET", ("cache_calls", "cache_misses"), -0.5),
    ("accounts:dashboard", "GET", ("count_findings", "queries"), 0.3),
    ("accounts:settings", "POST", ("duplicate_queries",), -0.2),
    ("reports:export", "GET", ("response_time_ms", "db_time_ms"), 0.2),
    ("reports:monthly", "GET", ("queries", "count_findings", "nplusone"), -0.9),
    ("shop:cart", "GET", ("cache_misses", "queries"), 0.0),
    ("shop:checkout", "POST", ("db_time_ms", "queries"), 0.4),
    ("shop:product", "GET", ("nplusone", "similar_queries"), -0.3),
    ("blog:index", "GET", ("nplusone",), 0.0),
    ("blog:post", "GET", ("queries", "cache_calls"), 0.1),
    ("/api/v2/items/<int:pk>/", "GET", ("queries",), 0.9),
    ("/webhooks/<str:provider>/", "POST", ("response_time_ms",), -0.4),
    ("admin:index", "GET", ("queries",), 0.0),
]
_LIMITS = {
    "queries": 50,
    "duplicate_queries": 10,
    "similar_queries": 20,
    "db_time_ms": 300,
    "nplusone": 0,
    "count_findings": 0,
    "cache_calls": 40,
    "cache_misses": 50,
    "response_time_ms": 1000,
}
_FIXES = [
    ("myapp.Project", "owner", 'Project.objects.select_related("owner")'),
    ("myapp.Project", "tasks", 'Project.objects.prefetch_related("tasks")'),
    ("shop.Product", "images", 'Product.objects.prefetch_related("images")'),
    ("blog.Post", "author", 'Post.objects.select_related("author")'),
    ("myapp.Task", "assignee__profile", 'Task.objects.select_related("assignee__profile")'),
]


@dataclass
class FakeHistory:
    violations: int
    metrics: int
    start: datetime
    end: datetime


def _path(route: str, rng: random.Random) -> str:
    if route.startswith("/"):
        return route.replace("<int:pk>", str(rng.randint(1, 5000))).replace(
            "<str:provider>", rng.choice(["stripe", "github"])
        )
    namespace, _, name = route.partition(":")
    suffix = (
        f"{rng.randint(1, 900)}/" if name.endswith("detail") or name in ("post", "product") else ""
    )
    return f"/{namespace}/{name.replace('-', '/')}/{suffix}"


def _profile(metric: str, over: bool, rng: random.Random) -> float:
    limit = _LIMITS[metric]
    if over:
        if limit == 0:
            return rng.randint(1, 6)
        value = limit * (1 + rng.expovariate(1.6))
    else:
        value = limit * rng.uniform(0.2, 0.95) if limit else 0
    return round(value, 1) if metric.endswith("_ms") else round(value)


def generate(
    *,
    days: int = 28,
    rows: int = 10_000,
    seed: int = 0,
    end: datetime | None = None,
    batch_size: int = 5_000,
    using: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> FakeHistory:
    """Insert ``rows`` violations spread over the ``days`` before ``end``, oldest
    first. The same seed and end give the same rows."""
    from ddt_perfpanels.models import BudgetViolation, ViolationMetric
    from ddt_perfpanels.recording.context import paused

    rng = random.Random(seed)
    end = end or timezone.now()
    start = end - timedelta(days=days)
    span = (end - start).total_seconds()
    alias = using or router.db_for_write(BudgetViolation)
    # Zipf-like popularity.
    base = [1 / (rank + 1) ** 0.9 for rank in range(len(_ROUTES))]
    written = metric_rows = 0
    with paused():
        while written < rows:
            count = min(batch_size, rows - written)
            violations: list[Any] = []
            planned: list[list[tuple[str, float, float]]] = []
            for i in range(count):
                position = (written + i + rng.random()) / rows  # 0..1, sorted
                created = start + timedelta(seconds=position * span)
                weights = [
                    w * max(0.05, 1 + tendency * (position - 0.5) * 2)
                    for w, (_, _, _, tendency) in zip(base, _ROUTES, strict=True)
                ]
                route, method, bad_at, _ = rng.choices(_ROUTES, weights)[0]
                over = [m for m in bad_at if rng.random() < 0.6] or [bad_at[0]]
                actuals = {m: _profile(m, m in over, rng) for m in _LIMITS}
                overs: list[tuple[str, float, float]] = []
                for metric in over:
                    limit = _LIMITS[metric]
                    actual = actuals[metric]
                    overs.append((metric, limit, actual))
                worst = max(overs, key=lambda o: o[2] / (o[1] or 1))
                nplusone = []
                if "nplusone" in over:
                    model, field, fix = rng.choice(_FIXES)
                    nplusone.append(
                        {
                            "source": "nplusone",
                            "model": model,
                            "field": field.split("__")[-1],
                            "path": field,
                            "fix": fix.split(".")[2].split("(")[0],
                            "count": rng.randint(3, 120),
                            "suggestion": fix,
                            "message": f"N+1: queries followed {model}.{field} one row at a time.",
                        }
                    )
                violations.append(
                    BudgetViolation(
                        created_at=created,
                        route=route,
                        path=_path(route, rng),
                        method=method,
                        status=rng.choices([200, 201, 302, 404, 500], [85, 5, 5, 3, 2])[0],
                        worst_metric=worst[0],
                        worst_ratio=round(worst[2] / (worst[1] or 1), 4),
                        over_count=len(overs),
                        limits=dict(_LIMITS),
                        actuals=actuals,
                        sources=["default"],
                        nplusone=nplusone,
                        findings=[],
                    )
                )
                planned.append(overs)
            with transaction.atomic(using=alias):
                created_rows = BudgetViolation.objects.using(alias).bulk_create(violations)
                children = [
                    ViolationMetric(
                        violation_id=v.pk,
                        created_at=v.created_at,
                        route=v.route,
                        method=v.method,
                        metric=metric,
                        limit=limit,
                        actual=actual,
                        ratio=round(actual / (limit or 1), 4),
                    )
                    for v, overs in zip(created_rows, planned, strict=True)
                    for metric, limit, actual in overs
                ]
                ViolationMetric.objects.using(alias).bulk_create(children, batch_size=batch_size)
            written += count
            metric_rows += len(children)
            if progress is not None:
                progress(written)
        forget(start, end, using=alias)
    return FakeHistory(written, metric_rows, start, end)
