"""Roll up (or forget) the closed days the admin dashboard reads."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS

from ddt_perfpanels.budgets import rollup


class Command(BaseCommand):
    help = (
        "Sum the budget violations of each closed day of the last --days (in the "
        "current time zone) for the admin dashboard, which otherwise does it the "
        "first time it shows a day. --clear forgets every rolled-up day first: run "
        "it after deleting or adding violations outside the admin."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--days", type=int, default=90, help="Roll up this many days back (default 90)."
        )
        parser.add_argument(
            "--clear", action="store_true", help="Forget every rolled-up day first."
        )
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS)

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["days"]
        if days < 0:
            raise CommandError("--days must be 0 or more.")
        using = options["database"]
        if options["clear"]:
            forgotten = rollup.forget(None, using=using)
            self.stdout.write(f"Forgot {forgotten} rolled-up days.")
        end = rollup.now()
        closed = rollup.closed_days(end - timedelta(days=days), end)
        if closed:
            rollup.ensure(closed, using=using)
        self.stdout.write(f"{len(closed)} closed days are rolled up.")
