"""The site-wide audit behind ``manage.py perfpanels_audit``: which pages to
request, each one measured under ``capture()`` and against its budget, inside
one transaction per database that is rolled back."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from django.core.checks import Error, register

FAIL_ON = ("any", "budget", "findings", "never")


@dataclass
class Page:
    url: str
    kind: str  # "admin changelist", "admin change form", "url pattern", "settings"
    name: str = ""
    status: int = 0
    numbers: dict[str, Any] = field(default_factory=dict)
    budget: dict[str, Any] = field(default_factory=dict)
    findings: list[dict[str, Any]] = field(default_factory=list)
    ignored: int = 0
    error: str = ""

    @property
    def over_budget(self) -> bool:
        return bool(self.budget.get("over"))

    def fails(self, fail_on: str) -> bool:
        if fail_on == "never":
            return False
        broken = self.status >= 500 or bool(self.error)
        if fail_on in ("any", "budget") and (self.over_budget or broken):
            return True
        return fail_on in ("any", "findings") and (bool(self.findings) or broken)

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "kind": self.kind,
            "name": self.name,
            "status": self.status,
            **self.numbers,
            "ignored": self.ignored,
            "budget": self.budget,
            "findings": self.findings,
            "error": self.error,
        }


# -- which pages -----------------------------------------------------------------------


def admin_pages() -> list[Page]:
    """Every registered model's changelist, and the change form of its first object."""
    from django.contrib.admin.sites import all_sites
    from django.contrib.admin.utils import quote
    from django.urls import NoReverseMatch, reverse

    pages = []
    for site in sorted(all_sites, key=lambda s: s.name):
        try:
            pages.append(Page(reverse(f"{site.name}:index"), "admin index", f"{site.name}:index"))
        except NoReverseMatch:
            continue
        for model in sorted(site._registry, key=lambda m: m._meta.label):
            opts = model._meta
            prefix = f"{site.name}:{opts.app_label}_{opts.model_name}"
            try:
                url = reverse(f"{prefix}_changelist")
                pages.append(Page(url, "admin changelist", f"{prefix}_changelist"))
            except NoReverseMatch:
                continue
            first = model._default_manager.order_by("pk").only("pk").first()
            if first is not None:
                try:
                    url = reverse(f"{prefix}_change", args=[quote(first.pk)])
                except NoReverseMatch:
                    continue
                pages.append(Page(url, "admin change form", f"{prefix}_change"))
    return pages


def pattern_pages(urlconf: str | None = None) -> list[Page]:
    """The named URL patterns that take no arguments (not the toolbar's, nor the
    admin's: its logout, autocomplete and add forms say nothing of the site)."""
    from django.contrib.admin.sites import all_sites
    from django.urls import NoReverseMatch, URLPattern, URLResolver, get_resolver, reverse

    pages = []
    skipped = {"djdt", *(site.name for site in all_sites)}

    def walk(patterns: list[Any], namespace: str) -> None:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                ns = entry.namespace
                if ns in skipped:
                    continue
                if _takes_arguments(entry.pattern):
                    continue
                walk(entry.url_patterns, f"{namespace}{ns}:" if ns else namespace)
            elif isinstance(entry, URLPattern) and entry.name:
                if _takes_arguments(entry.pattern):
                    continue
                name = f"{namespace}{entry.name}"
                try:
                    pages.append(Page(reverse(name, urlconf=urlconf), "url pattern", name))
                except NoReverseMatch:
                    pass

    walk(get_resolver(urlconf).url_patterns, "")
    return pages


def _takes_arguments(pattern: Any) -> bool:
    converters = getattr(pattern, "converters", None)
    if converters:
        return True
    regex = getattr(pattern, "regex", None)
    return bool(regex is not None and regex.groups)


def pages_to_audit(extra_urls: Sequence[str] = (), admin: bool = True) -> list[Page]:
    from ddt_perfpanels.conf import get_config

    pages = admin_pages() if admin else []
    pages += pattern_pages()
    pages += [Page(url, "settings") for url in get_config()["AUDIT_URLS"]]
    pages += [Page(url, "command line") for url in extra_urls]
    seen: set[str] = set()
    unique = []
    for page in pages:
        if page.url not in seen:
            seen.add(page.url)
            unique.append(page)
    return unique


# -- measuring -------------------------------------------------------------------------


def audit(pages: list[Page]) -> list[Page]:
    """Request each page as a temporary superuser; nothing is kept."""
    from django.conf import settings
    from django.db import connections, transaction
    from django.test import Client
    from django.test.utils import override_settings

    with ExitStack() as stack:
        # 403 and 405 answers are part of the table, not log noise.
        stack.enter_context(_quiet("django.request"))
        # Sessions in a signed cookie, so that logging in writes nothing anywhere.
        stack.enter_context(
            override_settings(
                SESSION_ENGINE="django.contrib.sessions.backends.signed_cookies",
                ALLOWED_HOSTS=[*settings.ALLOWED_HOSTS, "testserver"],
            )
        )
        for alias in connections:
            stack.enter_context(transaction.atomic(using=alias))
        try:
            # Not an INTERNAL_IPS address: the toolbar stays out of the numbers.
            client = Client(raise_request_exception=False, REMOTE_ADDR="192.0.2.1")
            user = _superuser()
            if user is not None:
                client.force_login(user)
            for page in pages:
                _measure(client, page)
        finally:
            for alias in connections:
                transaction.set_rollback(True, using=alias)
    return pages


class _quiet:
    def __init__(self, name: str):
        import logging

        self.logger = logging.getLogger(name)

    def __enter__(self) -> None:
        self.disabled = self.logger.disabled
        self.logger.disabled = True

    def __exit__(self, *exc_info: Any) -> None:
        self.logger.disabled = self.disabled


def _superuser() -> Any:
    from django.apps import apps

    if not apps.is_installed("django.contrib.auth"):
        return None
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    username = f"perfpanels-audit-{secrets.token_hex(4)}"
    fields = {user_model.USERNAME_FIELD: username}
    if user_model.EMAIL_FIELD != user_model.USERNAME_FIELD:
        fields[user_model.EMAIL_FIELD] = f"{username}@example.invalid"
    return user_model._default_manager.create_superuser(password=None, **fields)


def _measure(client: Any, page: Page) -> None:
    from ddt_perfpanels.api import capture
    from ddt_perfpanels.budgets.config import budget_for_url
    from ddt_perfpanels.budgets.evaluate import evaluate
    from ddt_perfpanels.findings import finding_list, ignored_count
    from ddt_perfpanels.report import budgeted

    try:
        with capture() as report:
            response = client.get(page.url)
        page.status = response.status_code
        page.findings = finding_list(report)
        page.ignored = ignored_count(report)
        cache = report.cache
        page.numbers = {
            "queries": report.query_count,
            "db_time_ms": round(report.db_time_ms, 2),
            "nplusone": len(budgeted(report.nplusone)),
            "count_findings": len(budgeted(report.counts)),
            "cache_calls": int(cache.metrics()["cache_calls"]) if cache is not None else 0,
            "cache_findings": len(cache.findings) if cache is not None else 0,
        }
        budget = budget_for_url(page.url)
        result = evaluate(report, budget)
        page.budget = {
            "route": budget.route,
            "limits": dict(budget.limits),
            "over": [
                {"metric": o.metric, "actual": o.actual, "limit": o.limit} for o in result.over
            ],
        }
        if report.errors:
            page.error = "; ".join(report.errors)
    except Exception as exc:
        page.error = f"{type(exc).__name__}: {exc}"


# -- the table -------------------------------------------------------------------------


def budget_cell(page: Page) -> str:
    if not page.budget.get("limits"):
        return "-"
    over = page.budget.get("over") or []
    if not over:
        return "ok"
    return "over: " + ", ".join(f"{o['metric']} {o['actual']:g}>{o['limit']:g}" for o in over)


def table(pages: list[Page]) -> list[str]:
    from ddt_perfpanels.findings import format_findings

    width = min(max([len(p.url) for p in pages] + [4]), 60)
    head = (
        f"{'page':<{width}}  {'status':>6}  {'queries':>7}  {'N+1':>3}  {'counts':>6}  "
        f"{'cache':>5}  budget"
    )
    lines = [head, "-" * len(head)]
    for page in pages:
        n = page.numbers
        url = page.url if len(page.url) <= width else page.url[: width - 1] + "…"
        lines.append(
            f"{url:<{width}}  {page.status or '-':>6}  {n.get('queries', '-'):>7}  "
            f"{n.get('nplusone', '-'):>3}  {n.get('count_findings', '-'):>6}  "
            f"{n.get('cache_findings', '-'):>5}  {budget_cell(page)}"
        )
    for page in pages:
        if page.findings or page.error:
            lines += ["", f"{page.url} ({page.kind}{': ' + page.name if page.name else ''})"]
            if page.error:
                lines.append(f"  could not measure everything: {page.error}")
            lines += format_findings(page.findings)
    return lines


@register()
def check_audit_urls(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    from django.conf import settings

    user = getattr(settings, "DDT_PERFPANELS", None)
    if not isinstance(user, dict) or "AUDIT_URLS" not in user:
        return []
    urls = user["AUDIT_URLS"]
    if isinstance(urls, (list, tuple)) and all(
        isinstance(u, str) and u.startswith("/") for u in urls
    ):
        return []
    return [
        Error(
            "DDT_PERFPANELS['AUDIT_URLS'] must be a list of paths starting with '/', "
            f"got {urls!r}.",
            id="ddt_perfpanels.E031",
        )
    ]
