"""Fill the budget violation table with realistic, deterministic fake history:
for the demo and to see how the admin dashboard copes with many rows."""

from __future__ import annotations

from time import perf_counter
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS

from ddt_perfpanels.budgets.history import generate


class Command(BaseCommand):
    help = (
        "Insert fake BudgetViolation rows spread over the last --days days "
        "(deterministic for a given --seed). Refuses to run with DEBUG=False "
        "unless --force."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--days", type=int, default=28)
        parser.add_argument("--rows", type=int, default=10_000)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--batch-size", type=int, default=5_000)
        parser.add_argument("--clear", action="store_true", help="Delete every violation first.")
        parser.add_argument("--force", action="store_true", help="Run even with DEBUG=False.")
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS)

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "DEBUG is False: this writes fake violations. Pass --force if you mean it."
            )
        if options["days"] < 1 or options["rows"] < 0 or options["batch_size"] < 1:
            raise CommandError("--days and --batch-size must be at least 1, --rows 0 or more.")
        using = options["database"]
        if options["clear"]:
            from datetime import timedelta

            from django.utils import timezone

            from ddt_perfpanels.budgets.prune import prune

            prune(timezone.now() + timedelta(days=3650), batch_size=10_000, using=using)
        started = perf_counter()
        verbose = options["verbosity"] > 1

        def progress(done: int) -> None:
            if verbose:
                self.stdout.write(f"  {done} rows…")

        result = generate(
            days=options["days"],
            rows=options["rows"],
            seed=options["seed"],
            batch_size=options["batch_size"],
            using=using,
            progress=progress,
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"Inserted {result.violations} violations ({result.metrics} metric rows) "
                f"from {result.start:%Y-%m-%d} to {result.end:%Y-%m-%d} "
                f"in {perf_counter() - started:.1f} s."
            )
        )
