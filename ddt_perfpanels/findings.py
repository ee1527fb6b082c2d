"""A report's findings as one flat list of small JSON dicts, each with its title
and fix: what test failures, the test summary, the audit and the signals show."""

from __future__ import annotations

from typing import Any

from ddt_perfpanels.budgets.evaluate import compact_finding, finding_title


def finding_list(report: Any, redacted: bool = False) -> list[dict[str, Any]]:
    """Every finding a budget counts (not ignored; not a package's, unless
    BUDGET_INCLUDE_THIRD_PARTY): N+1 clusters, counts findings, cache findings.
    ``redacted``: without the request's values, as a stored violation keeps them."""
    from ddt_perfpanels.report import budgeted

    cache = report.cache
    sources = [
        ("nplusone", budgeted(report.nplusone)),
        ("counts", budgeted(report.counts or [])),
        ("cache", getattr(cache, "findings", None) or ()),
    ]
    found = [
        compact_finding(f.to_dict(), source, redacted) for source, items in sources for f in items
    ]
    for finding in found:
        finding["title"] = finding_title(finding)
        finding["key"] = finding_key(finding)
    return found


def ignored_count(report: Any) -> int:
    return sum(len(v) for k, v in report.ignored.items() if k != "unused_eager")


def finding_key(finding: dict[str, Any]) -> str:
    """What stays the same when the data or the line numbers change:
    "nplusone testapp.Book.author", "counts count_in_loop testapp.Author.books"."""
    source = finding.get("source", "")
    if source == "nplusone":
        return f"nplusone {finding.get('model', '?')}.{finding.get('path') or finding.get('field')}"
    subject = finding.get("pattern") if source == "cache" else finding.get("model")
    if source != "cache" and finding.get("field"):
        subject = f"{subject}.{finding['field']}"
    return f"{source} {finding.get('kind', '?')} {subject or ''}".rstrip()


def format_findings(findings: list[dict[str, Any]]) -> list[str]:
    """Lines naming each finding, where it is, and its fix."""
    lines: list[str] = []
    for finding in findings:
        title = finding.get("title") or finding_title(finding)
        site = finding.get("access_site") or finding.get("origin")
        lines.append(f"  - {title}" + (f" at {site}" if site else ""))
        if finding.get("message"):
            lines.append(f"    {finding['message']}")
        fix = finding.get("code") or finding.get("suggestion")
        if fix:
            fix_lines = str(fix).splitlines() or [""]
            lines.append(f"    fix: {fix_lines[0]}")
            lines.extend(f"         {line}" for line in fix_lines[1:])
            if finding.get("code") and finding.get("suggestion"):
                lines.append(f"    ({finding['suggestion']})")
    return lines
