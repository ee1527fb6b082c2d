"""Deleting old violations in batches, so the table stays bounded without one
long transaction or lock."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta

from django.db import router, transaction
from django.utils import timezone

from ddt_perfpanels.budgets.rollup import forget
from ddt_perfpanels.conf import get_config


def retention_cutoff(days: int | None = None) -> datetime | None:
    """Violations older than this are expired (None: keep everything)."""
    if days is None:
        days = get_config()["BUDGET_RETENTION_DAYS"]
    if days is None:
        return None
    now = timezone.now()
    try:
        return now - timedelta(days=days)
    except OverflowError:  # before year 1: nothing is that old
        return now.replace(year=1, month=1, day=2)


def prune(
    before: datetime,
    *,
    batch_size: int = 1000,
    max_batches: int | None = None,
    using: str | None = None,
    pause: float = 0.0,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Delete violations older than ``before``, oldest first, ``batch_size`` rows
    per transaction. Returns how many were deleted."""
    from ddt_perfpanels.models import BudgetViolation
    from ddt_perfpanels.recording.context import paused

    alias = using or router.db_for_write(BudgetViolation)
    deleted = 0
    batches = 0
    with paused():
        while max_batches is None or batches < max_batches:
            with transaction.atomic(using=alias):
                ids = list(
                    BudgetViolation.objects.using(alias)
                    .filter(created_at__lt=before)
                    .order_by("created_at", "id")
                    .values_list("id", flat=True)[:batch_size]
                )
                if not ids:
                    break
                # Only the ids are loaded (for the cascade); without delete signal
                # receivers the metric rows go in one plain DELETE.
                BudgetViolation.objects.using(alias).filter(id__in=ids).only("id").delete()
            deleted += len(ids)
            batches += 1
            if progress is not None:
                progress(deleted)
            if len(ids) < batch_size:
                break
            if pause:
                time.sleep(pause)
        if deleted:
            # The rolled-up days before the cutoff lost their rows.
            forget(None, before, using=alias)
    return deleted


def count_expired(before: datetime, using: str | None = None) -> int:
    from ddt_perfpanels.models import BudgetViolation
    from ddt_perfpanels.recording.context import paused

    alias = using or router.db_for_read(BudgetViolation)
    with paused():
        return BudgetViolation.objects.using(alias).filter(created_at__lt=before).count()
