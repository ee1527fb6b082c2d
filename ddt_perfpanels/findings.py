"""A report's findings as one flat list of small JSON dicts, each with its title
and fix: what test failures, the test summary, the audit and the signals show."""

from __future__ import annotations

import functools
from typing import Any

from ddt_perfpanels.finding import Finding
from ddt_perfpanels.redact import redact_finding

# Keys of a finding's to_dict() worth keeping with a violation; stacks, frames and
# call lists stay in the panels.
_FINDING_KEYS = (
    "kind",
    "model",
    "field",
    "path",
    "pattern",
    "fix",
    "lookup",
    "count",
    "rows",
    "duration_ms",
    "origin",
    "access_site",
    "message",
    "suggestion",
    "code",
    "imports",
    "sql",
)
_MAX_TEXT = 2000


def finding_list(report: Any, redacted: bool = False) -> list[dict[str, Any]]:
    """Every finding a budget counts (not ignored; not a package's, unless
    BUDGET_INCLUDE_THIRD_PARTY): N+1 clusters, counts findings, cache findings.
    ``redacted``: without the request's values, as a stored violation keeps them."""
    from ddt_perfpanels.report import budgeted

    cache = report.cache
    findings: list[Finding] = [
        *budgeted(report.nplusone),
        *budgeted(report.counts or []),
        *(getattr(cache, "findings", None) or ()),
    ]
    found = []
    for finding in findings:
        data = compact(finding, redacted)
        data["title"] = finding.title_of(data)
        data["key"] = finding.key_of(data)
        found.append(data)
    return found


def ignored_count(report: Any) -> int:
    return sum(len(v) for k, v in report.ignored.items() if k != "unused_eager")


@functools.cache
def _classes() -> dict[str, type[Finding]]:
    from ddt_perfpanels.analysis.cache import CacheFinding
    from ddt_perfpanels.analysis.counts.base import CountFinding
    from ddt_perfpanels.analysis.nplusone import (
        DuplicateLoadFinding,
        NPlusOneFinding,
        UnusedEagerFinding,
    )

    classes: list[type[Finding]] = [
        NPlusOneFinding,
        UnusedEagerFinding,
        DuplicateLoadFinding,
        CountFinding,
        CacheFinding,
    ]
    return {cls.source: cls for cls in classes}


def finding_class(source: Any) -> type[Finding]:
    """The class of a compact finding's ``source`` (Finding for one it does not know)."""
    return _classes().get(source, Finding) if isinstance(source, str) else Finding


def finding_key(finding: dict[str, Any]) -> str:
    """What stays the same when the data or the line numbers change:
    "nplusone testapp.Book.author", "counts count_in_loop testapp.Author.books"."""
    return finding_class(finding.get("source")).key_of(finding)


def _code_lines(label: str, code: str) -> list[str]:
    """``code`` under ``label``, its following lines aligned with the first."""
    first, *rest = str(code).splitlines() or [""]
    return [label + first, *((" " * len(label) + line).rstrip() for line in rest)]


def format_findings(findings: list[dict[str, Any]]) -> list[str]:
    """Lines naming each finding, where it is, and its fix."""
    lines: list[str] = []
    for finding in findings:
        title = finding.get("title") or finding_title(finding)
        site = finding.get("access_site") or finding.get("origin")
        lines.append(f"  - {title}" + (f" at {site}" if site else ""))
        if finding.get("message"):
            lines.append(f"    {finding['message']}")
        if finding.get("where_fix"):
            lines.append(f"    where the fix goes: {finding['where']}")
            if finding.get("where_note"):
                lines.append(f"    {finding['where_note']}")
            lines += _code_lines("    fix there: ", finding["where_fix"])
            if finding.get("where_combined"):
                lines += _code_lines("    with the others: ", finding["where_combined"])
        fix = finding.get("code") or finding.get("suggestion")
        if fix:
            lines += _code_lines("    fix: ", fix)
            if finding.get("code") and finding.get("suggestion"):
                lines.append(f"    ({finding['suggestion']})")
    return lines


def compact(finding: Finding, redacted: bool = False) -> dict[str, Any]:
    """A finding cut down to what a violation, a test failure or the audit keeps."""
    return compact_finding(finding.to_dict(), finding.source, redacted)


def compact_finding(data: dict[str, Any], source: str, redacted: bool = False) -> dict[str, Any]:
    """A finding's to_dict() cut down to what a violation, a test failure or the
    audit keeps: what, where, and the fix."""
    kept: dict[str, Any] = {"source": source}
    for key in _FINDING_KEYS:
        value = data.get(key)
        if value in (None, "", [], {}):
            continue
        if isinstance(value, (str, int, float, bool)):
            kept[key] = value
    kept.update(owner_fix(data.get("where")))
    if redacted:
        kept = redact_finding(kept, data.get("keys") or ())
    for key, value in kept.items():
        if isinstance(value, str) and len(value) > _MAX_TEXT:
            kept[key] = value[:_MAX_TEXT] + "…"
    return kept


def where_words(where: dict[str, Any]) -> str:
    """Where an owner-form fix goes, in words: "the admin changelist BookAdmin,
    its list_select_related at app/admin.py:17"."""
    owner = where.get("owner") or ""
    if where.get("parent"):
        owner += f" (in {where['parent']})"
    text = f"the {where.get('kind_words') or where.get('kind', '')} {owner}".replace("  ", " ")
    if where.get("attribute"):
        text += f", its {where['attribute']}"
    if where.get("site"):
        text += f" at {where['site']}"
    return text


def owner_fix(where: Any) -> dict[str, str]:
    """The fix in the form of the class that owns the root queryset (a
    ModelAdmin, a view), as plain values: ``where`` (the owner, its attribute,
    file:line: names only), ``where_fix`` (the code) and ``where_combined``
    (the fix of every cluster of the request at once, when there are more)."""
    if not isinstance(where, dict) or not isinstance(where.get("fix"), str) or not where["fix"]:
        return {}
    kept = {"where": where_words(where), "where_fix": where["fix"]}
    combined = where.get("combined")
    if isinstance(combined, dict) and combined.get("fix") not in (None, "", where["fix"]):
        # Each cluster's list_select_related alone would undo the others'.
        kept["where_combined"] = combined["fix"]
    if isinstance(where.get("note"), str) and where["note"]:
        kept["where_note"] = where["note"]
    return kept


def finding_title(finding: dict[str, Any]) -> str:
    """One line naming a compact (stored) finding: "N+1: testapp.Book → author (4 queries)"."""
    return finding_class(finding.get("source")).title_of(finding)
