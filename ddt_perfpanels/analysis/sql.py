"""SQL fingerprints and the duplicate/similar query counts."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from ddt_perfpanels.recording.context import ONE_PARAM

if TYPE_CHECKING:
    from ddt_perfpanels.recording.context import QueryRecord

_IN_LIST = re.compile(r"\bIN\s*\([^()]*\)", re.IGNORECASE)
_STRING = re.compile(r"'(?:[^']|'')*'")
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.])")
_PLACEHOLDER = re.compile(r"%s|\?|\$\d+")
_SPACE = re.compile(r"\s+")
# Long SQL is fingerprinted on a prefix: enough to tell statements apart, and
# a 10 MB IN (...) list never costs more than this.
_MAX_CHARS = 20_000


def fingerprint_sql(sql: str) -> str:
    """The statement with its literals and parameters abstracted away."""
    # Collapse IN (...) lists first, over the whole statement (one linear pass),
    # so that a list longer than the prefix still fingerprints the same.
    text = _IN_LIST.sub("IN (...)", sql)
    text = text[:_MAX_CHARS]
    text = _STRING.sub("?", text)
    text = _PLACEHOLDER.sub("?", text)
    text = _NUMBER.sub("?", text)
    return _SPACE.sub(" ", text).strip()


def params_key(params: Any) -> Any:
    """A hashable stand-in for query parameters, tolerant of any type."""
    if params is None:
        return None
    try:
        key = tuple(params) if isinstance(params, (list, tuple)) else params
        hash(key)
        return key
    except TypeError:
        return repr(params)[:10_000]


class Fingerprints(dict[str, str]):
    """fingerprint_sql, memoized per statement text: ORM queries repeat the same
    SQL with other parameters, so a request has few distinct texts, and the
    requests of a site have few between them. Bounded: emptied when full."""

    max_size = 5_000

    def __missing__(self, sql: str) -> str:
        if len(self) >= self.max_size:
            self.clear()
        value = self[sql] = fingerprint_sql(sql)
        return value


# Shared by every report: fingerprint_sql is a pure function of the text.
FINGERPRINTS = Fingerprints()


def duplicate_and_similar(queries: list[QueryRecord]) -> tuple[int, int]:
    """(duplicates: same SQL and params again, similar: same statement again with
    other params)."""
    # How many repeat an earlier one: all of them less the distinct ones. The
    # distinct parameters are gathered statement by statement (one pass over
    # the queries), and the distinct statements read from those. Not one set of
    # (alias, sql, params): that kept a new tuple per distinct execution, all
    # freed together at the end into CPython's free lists of tuples, which keep
    # up to 2,000 of each length after the request. A single parameter is read
    # as the record keeps it, its value (QueryRecord.params would make a tuple).
    single: defaultdict[tuple[str, str], set[Any]] = defaultdict(set)
    other: defaultdict[tuple[str, str], set[Any]] = defaultdict(set)
    try:
        # The parameters as they are, when every query's are hashable (the
        # ORM's tuples of plain values): params_key() would give the same keys.
        for q in queries:
            params = q.kept_params
            if params is ONE_PARAM:
                single[q.alias, q.sql].add(q.kept_param)
            else:
                other[q.alias, q.sql].add(params)
    except TypeError:
        single.clear()
        other.clear()
        for q in queries:
            other[q.alias, q.sql].add(params_key(q.params))
    fingerprints = FINGERPRINTS
    statements = {(alias, fingerprints[sql]) for alias, sql in single.keys() | other.keys()}
    executions = sum(map(len, single.values())) + sum(map(len, other.values()))
    duplicates = len(queries) - executions
    similar = len(queries) - len(statements)
    return duplicates, max(similar - duplicates, 0)


def preview(sql: str, limit: int) -> str:
    if len(sql) <= limit:
        return sql
    return sql[:limit] + f"… ({len(sql) - limit} more characters)"
