"""The annotation-versus-count panel: where each count came from, and the count
findings with their fix.

The only database access here is measuring the join fan-out of a
``distinct_join_count`` (an EXPLAIN row estimate on PostgreSQL, a bounded
``COUNT(*)`` on SQLite): when the stats are built after the response (for an
async request, in a thread before that: ``measure()``), never while the request
runs, never when the panel is opened; never recorded, never raised.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from ddt_perfpanels.conf import get_config
from ddt_perfpanels.panels.base import (
    PerfPanel,
    card_css,
    ignored_suffix,
    in_package,
    with_source,
)

if TYPE_CHECKING:
    from ddt_perfpanels.report import Report

logger = logging.getLogger("ddt_perfpanels")

_ACCESS_LABELS = {
    "count_then_fetch": _("rows fetched at"),
    "repeated_count": _("COUNTs ran at"),
    "len_for_count": _("rows fetched at"),
    "exists_then_fetch": _("rows fetched at"),
    "distinct_join_count": _("queryset evaluated at"),
}
_MEASURABLE = ("postgresql", "sqlite")


# -- measuring the join fan-out -----------------------------------------------------------

_CLAUSE_ENDS = ("GROUP BY", "HAVING", "ORDER BY", "LIMIT", "OFFSET", "WINDOW", "FOR UPDATE")
_PLACEHOLDER = re.compile(r"%%|%s")


def _top_level_keyword(sql: str, keywords: tuple[str, ...], start: int = 0) -> int:
    """Index of the first keyword outside parentheses and quotes, or -1."""
    depth = 0
    quote = ""
    index = start
    while index < len(sql):
        char = sql[index]
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"`":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif depth == 0 and (index == 0 or not (sql[index - 1].isalnum() or sql[index - 1] == "_")):
            for keyword in keywords:
                end = index + len(keyword)
                if sql[index:end].upper() == keyword and (
                    end == len(sql) or not (sql[end].isalnum() or sql[end] == "_")
                ):
                    return index
        index += 1
    return -1


def _placeholders(text: str) -> int:
    return sum(1 for match in _PLACEHOLDER.finditer(text) if match.group() == "%s")


def joined_rows_sql(sql: str, params: Any) -> tuple[str, list[Any]] | None:
    """The FROM ... WHERE of an aggregate query, without its GROUP BY: the rows
    the database builds before it counts."""
    if params is not None and not isinstance(params, (list, tuple)):
        return None  # named parameters: not spliced
    params = list(params or ())
    start = _top_level_keyword(sql, ("FROM",))
    if start < 0:
        return None
    end = _top_level_keyword(sql, _CLAUSE_ENDS, start)
    body = sql[start:end] if end >= 0 else sql[start:]
    skipped = _placeholders(sql[:start])
    used = _placeholders(body)
    if skipped + used > len(params):
        return None
    return body.strip(), params[skipped : skipped + used]


def measure_joined_rows(
    alias: str, vendor: str, sql: str, params: Any, max_rows: int
) -> dict[str, Any] | None:
    """How many rows the joins produce: PostgreSQL's EXPLAIN estimate, or a
    COUNT(*) stopped at ``max_rows`` on SQLite. None when it cannot tell."""
    from django.db import connections, transaction

    from ddt_perfpanels.recording.context import paused

    if vendor not in _MEASURABLE:
        return None
    spliced = joined_rows_sql(sql, params)
    if spliced is None:
        return None
    body, body_params = spliced
    connection = connections[alias]
    if connection.vendor != vendor or connection.needs_rollback:
        return None
    with paused(), transaction.atomic(using=alias), connection.cursor() as cursor:
        if vendor == "postgresql":
            cursor.execute(f"EXPLAIN (FORMAT JSON) SELECT 1 {body}", body_params)
            plan = cursor.fetchone()[0]
            if isinstance(plan, str):
                plan = json.loads(plan)
            rows = int(plan[0]["Plan"]["Plan Rows"])
            return {"joined_rows": rows, "source": "estimate", "capped": False}
        cursor.execute(
            f"SELECT COUNT(*) FROM (SELECT 1 {body} LIMIT %s) ddtpp_rows",
            [*body_params, max_rows + 1],
        )
        rows = int(cursor.fetchone()[0])
        return {"joined_rows": min(rows, max_rows), "source": "counted", "capped": rows > max_rows}


# -- the variable the code really used ---------------------------------------------------

_NAME = r"([A-Za-z_][\w.]*)"
_CODE_PATTERNS = {
    ("count_then_fetch", False): re.compile(_NAME + r"\.count\(\s*\)"),
    ("count_then_fetch", True): re.compile(r"\{\{\s*" + _NAME + r"\.count\s*\}\}"),
    ("len_for_count", True): re.compile(_NAME + r"\s*\|\s*length\b"),
    ("exists_then_fetch", False): re.compile(_NAME + r"\.exists\(\s*\)"),
    ("exists_then_fetch", True): re.compile(r"\{%\s*if\s+" + _NAME + r"\.exists\s*%\}"),
    ("bool_for_exists", False): re.compile(r"\bif\s+" + _NAME + r"\s*:"),
    ("bool_for_exists", True): re.compile(r"\{%\s*if\s+" + _NAME + r"\s*%\}"),
}


def _source_line(finding: dict[str, Any]) -> str:
    from django.template import TemplateDoesNotExist
    from django.template.loader import get_template

    from ddt_perfpanels.panels.base import source_line

    template = finding.get("template")
    if template:
        try:
            # Django's own backend's; another backend's raises AttributeError.
            source = get_template(template[0]).template.source  # type: ignore[attr-defined]
        except (TemplateDoesNotExist, AttributeError, UnicodeError, OSError):
            return ""
        lines = source.splitlines()
        return lines[template[1] - 1] if 0 < template[1] <= len(lines) else ""
    frames = finding.get("frames") or []
    return source_line(frames[0][0], frames[0][1]) if frames else ""


def _len_arguments(line: str) -> set[str]:
    """What the line passes to ``len()``: ``len(Page.objects.filter(x=1))``."""
    found = set()
    for match in re.finditer(r"(?<![\w.])len\(", line):
        depth, start = 1, match.end()
        for index in range(start, len(line)):
            depth += {"(": 1, ")": -1}.get(line[index], 0)
            if depth == 0:
                found.add(line[start:index].strip())
                break
    return found


def name_the_variable(finding: dict[str, Any]) -> None:
    """Replace the guessed variable (``books``) with the one on the line of code,
    when the line names exactly one."""
    guess = finding.get("variable")
    kind, in_template = finding.get("kind", ""), bool(finding.get("template"))
    pattern = _CODE_PATTERNS.get((kind, in_template))
    if not guess or (pattern is None and kind != "len_for_count"):
        return
    line = _source_line(finding)
    names = set(pattern.findall(line)) if pattern is not None else _len_arguments(line)
    if len(names) != 1 or not all(names):
        return
    name = names.pop()
    word = re.compile(rf"(?<![\w.]){re.escape(guess)}(?![\w])")
    for key in ("suggestion", "message"):
        finding[key] = word.sub(lambda _m: name, finding.get(key) or "")
    finding["variable"] = name


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def fill_fanout(
    fanout: dict[str, Any], target: tuple[str, str, str, Any] | None, errors: list[str]
) -> None:
    """Measure now, into ``fanout``; a failure is noted, never raised."""
    if target is None:
        return
    alias, vendor, sql, params = target
    try:
        measured = measure_joined_rows(
            alias, vendor, sql, params, get_config()["COUNTS_FANOUT_MAX_ROWS"]
        )
    except Exception as exc:
        logger.warning("ddt_perfpanels could not measure a join fan-out", exc_info=exc)
        errors.append(f"measuring a join fan-out: {type(exc).__name__}: {exc}")
        return
    if measured is not None:
        fanout.update(measured)


# -- the panel ------------------------------------------------------------------------------


class CountsPanel(PerfPanel):
    """Counts from annotations versus per-row queries, and what to change."""

    title = _("Counts")
    template = "ddt_perfpanels/panels/counts.html"
    ignored_sources = ("counts",)

    @property
    def nav_subtitle(self) -> str:
        stats = self.get_stats()
        findings = stats.get("counts")
        if findings is None:
            return str(_("recording failed")) if stats.get("errors") else ""
        findings = [f for f in findings if not in_package(f)]
        if not findings:
            return str(_("none")) + ignored_suffix(stats)
        found = ngettext("%(n)d finding", "%(n)d findings", len(findings)) % {"n": len(findings)}
        return found + ignored_suffix(stats)

    _measured: dict[int, dict[str, Any]] | None = None
    _measure_errors: list[str] = []

    def measure(self, report: Report) -> None:
        """An async request's join fan-outs, measured in a thread (see base)."""
        if not get_config()["COUNTS_MEASURE_FANOUT"]:
            return
        measured: dict[int, dict[str, Any]] = {}
        errors: list[str] = []
        for finding in report.counts:
            if finding.fanout is not None and finding.measure is not None:
                fill_fanout(measured.setdefault(id(finding), {}), finding.measure, errors)
        self._measured, self._measure_errors = measured, errors

    def build_stats(self, report: Report) -> dict[str, Any]:
        measure = get_config()["COUNTS_MEASURE_FANOUT"]
        # In the event loop (an async request) no database: measure() did it.
        now = measure and not _in_event_loop()
        findings = []
        errors: list[str] = [] if now else list(self._measure_errors)
        for finding in report.counts:
            data = finding.to_dict()
            if finding.fanout is not None and finding.measure is not None and measure:
                if now:
                    fill_fanout(data["fanout"], finding.measure, errors)
                elif self._measured is not None:
                    data["fanout"].update(self._measured.get(id(finding), {}))
            findings.append(data)
        try:
            table = report.count_table
        except Exception as exc:
            report.recorder.internal_error("building the counts table", exc)
            table = []
        return {
            "query_count": report.query_count,
            "counts": findings,
            "table": table,
            "measure_errors": errors,
        }

    def add_source_lines(self, stats: dict[str, Any]) -> None:
        from ddt_perfpanels.analysis.counts.base import CountFinding

        errors = list(stats.get("measure_errors") or [])
        findings = []
        for finding in stats.get("counts") or []:
            finding = dict(finding)
            if finding.get("fanout"):
                fanout = finding["fanout"] = dict(finding["fanout"])
                if fanout.get("joined_rows") is not None and fanout.get("rows"):
                    fanout["factor"] = round(fanout["joined_rows"] / fanout["rows"], 1)
            name_the_variable(finding)
            imports = finding.get("imports") or ""
            suggestion = finding.get("suggestion") or ""
            finding["code"] = f"{imports}\n\n{suggestion}" if imports and suggestion else suggestion
            kind = finding.get("kind", "")
            finding["title"] = CountFinding.heading_of(kind)
            finding["access_label"] = _ACCESS_LABELS.get(kind, _("counts ran at"))
            finding["css"] = card_css(CountFinding, finding)
            finding["source_frames"] = with_source(finding.get("frames") or [])
            findings.append(finding)
        stats["counts"] = [f for f in findings if not in_package(f)]
        stats["packages"] = [f for f in findings if in_package(f)]
        stats["errors"] = list(stats.get("errors") or []) + errors
        table = stats.get("table") or []
        stats["per_row_queries"] = sum(row["queries"] for row in table)
        stats["per_row_ms"] = round(sum(row["duration_ms"] for row in table), 2)
