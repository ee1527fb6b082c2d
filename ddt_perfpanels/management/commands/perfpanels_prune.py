"""Delete budget violations older than the retention period, in batches."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS

from ddt_perfpanels.budgets.prune import count_expired, prune, retention_cutoff


class Command(BaseCommand):
    help = (
        "Delete BudgetViolation rows older than DDT_PERFPANELS['BUDGET_RETENTION_DAYS'] "
        "(or --days), oldest first, in batches of short transactions."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--days",
            type=int,
            help="Keep this many days instead of BUDGET_RETENTION_DAYS.",
        )
        parser.add_argument(
            "--batch-size", type=int, default=1000, help="Rows per DELETE (default 1000)."
        )
        parser.add_argument(
            "--pause",
            type=float,
            default=0.0,
            help="Seconds to sleep between batches, to spare a busy database.",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Only count what would be deleted."
        )
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS)

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["days"]
        if days is not None and days < 0:
            raise CommandError("--days must be 0 or more.")
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        cutoff = retention_cutoff(days)
        if cutoff is None:
            raise CommandError(
                "BUDGET_RETENTION_DAYS is None (keep everything): pass --days to prune anyway."
            )
        using = options["database"]
        if options["dry_run"]:
            n = count_expired(cutoff, using=using)
            self.stdout.write(
                f"{n} budget violations older than {cutoff:%Y-%m-%d %H:%M} would be deleted."
            )
            return
        verbose = options["verbosity"] > 1

        def progress(done: int) -> None:
            if verbose:
                self.stdout.write(f"  {done} deleted…")

        deleted = prune(
            cutoff,
            batch_size=options["batch_size"],
            using=using,
            pause=options["pause"],
            progress=progress,
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"Deleted {deleted} budget violations older than {cutoff:%Y-%m-%d %H:%M}."
            )
        )
