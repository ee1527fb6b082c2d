"""``manage.py perfpanels_audit``: request every admin page and every URL that
takes no arguments, and say which pages break their budget or have findings,
with the fixes. Everything happens in a transaction that is rolled back."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ddt_perfpanels.audit import FAIL_ON, audit, pages_to_audit, table


class Command(BaseCommand):
    help = (
        "Request every admin changelist and change form, every URL pattern without "
        "arguments and DDT_PERFPANELS['AUDIT_URLS'] as a temporary superuser, in a "
        "transaction that is rolled back; print each page's queries, findings, fixes "
        "and budget."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--json", action="store_true", help="Print JSON instead of a table.")
        parser.add_argument(
            "--url", action="append", default=[], dest="urls", help="Also request this path."
        )
        parser.add_argument(
            "--no-admin", action="store_true", help="Leave out the admin's changelists and forms."
        )
        parser.add_argument(
            "--fail-on",
            choices=FAIL_ON,
            default="any",
            help="Exit with 1 when a page breaks its budget, has findings, either (any, "
            "the default) or never. A page that answers 500 fails unless never.",
        )
        parser.add_argument(
            "--force", action="store_true", help="Run even with DEBUG=False (not in production!)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "perfpanels_audit requests every page as a superuser: it runs with DEBUG=True "
                "(a development or CI settings module). Use --force to run it anyway."
            )
        pages = audit(pages_to_audit(options["urls"], admin=not options["no_admin"]))
        failing = [p for p in pages if p.fails(options["fail_on"])]
        if options["json"]:
            data = {
                "pages": [p.to_dict() for p in pages],
                "failing": [p.url for p in failing],
                "fail_on": options["fail_on"],
            }
            self.stdout.write(json.dumps(data, indent=2))
        else:
            for line in table(pages):
                self.stdout.write(line)
            self.stdout.write("")
            self.stdout.write(
                f"{len(pages)} pages, {len(failing)} failing (--fail-on={options['fail_on']})."
            )
        if failing:
            raise CommandError(
                f"{len(failing)} of {len(pages)} pages broke their budget or have findings.",
                returncode=1,
            )
