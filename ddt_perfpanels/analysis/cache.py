"""The cache report: totals, per-backend and per-key-pattern numbers, and findings.

Pure functions over the ``CacheRecord`` the cache hooks filled; nothing here
talks to a cache or a database.

Keys are grouped by pattern: numbers, UUIDs, hex digests and long random tokens
become placeholders, so ``badge_progress:17`` and ``badge_progress:18`` are one
row, ``badge_progress:{int}``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from django.utils.translation import gettext_lazy

from ddt_perfpanels.conf import get_config
from ddt_perfpanels.finding import Finding, Severity, StrOrPromise, given

if TYPE_CHECKING:
    from ddt_perfpanels.recording.cache_records import CacheCall, KeyEvent
    from ddt_perfpanels.recording.context import Recorder

# How a call's hit/miss was decided -> (exact?, what the panel says).
HIT_METHODS: dict[str, tuple[bool, str]] = {
    "redis": (True, "exact: Redis replies (a nil GET/MGET reply is a miss)"),
    "sentinel": (True, "exact: get() was given a private default, returned only on a miss"),
    "store": (True, "exact: LocMemCache still held the key after get()"),
    "result": (True, "exact: the keys in the returned dict / has_key()'s answer"),
    "inner": (True, "exact: what the backend's own get() inside get_or_set() returned"),
    "default": (
        False,
        "inferred: the returned value was the caller's default (another tool patches this "
        "cache's get(), so ddt_perfpanels left the default alone)",
    ),
}
SIZE_METHODS: dict[str, str] = {
    "redis": "bytes sent to / received from Redis (serialized)",
    "locmem": "pickled size kept by LocMemCache",
    "value": "length of the bytes/str value (other objects: unknown)",
}

_EXAMPLES = 5
_CALL_KEYS = 20
_CALL_COMMANDS = 50

# -- key patterns ----------------------------------------------------------------------

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_TOKEN = re.compile(r"[A-Za-z0-9]+")
_DIGITS = re.compile(r"[0-9]+")
_HEX = re.compile(r"[0-9a-fA-F]+")
# Django's session backends glue the session key to their prefix.
_SESSION = re.compile(r"^(django\.contrib\.sessions\.cached?_?(?:db)?)([a-z0-9]+)$")


def _abstract_token(match: re.Match[str]) -> str:
    token = match.group(0)
    if token.isdigit():
        return "{int}"
    has_digit = any(c.isdigit() for c in token)
    if len(token) >= 8 and has_digit and _HEX.fullmatch(token):
        return "{hex}"
    if len(token) >= 16 and has_digit and not token.isdigit() and any(c.isalpha() for c in token):
        return "{hash}"
    if has_digit:
        return _DIGITS.sub("{int}", token)
    return token


def abstract_key(key: str) -> str:
    """``badge_progress:17`` -> ``badge_progress:{int}``; ``session:9f86d08...`` ->
    ``session:{hex}``; UUIDs -> ``{uuid}``; long random tokens -> ``{hash}``."""
    session = _SESSION.match(key)
    if session and len(session.group(2)) >= 16:
        return session.group(1) + "{hash}"
    text = _UUID.sub("\x00", key)
    text = _TOKEN.sub(_abstract_token, text)
    text = text.replace("\x00", "{uuid}")
    return text if len(text) <= 200 else text[:200] + "…"


# -- report rows -------------------------------------------------------------------------


@dataclass(kw_only=True)
class CacheFinding(Finding):
    source: ClassVar[str] = "cache"
    # "cache get_in_loop: badge_progress:{int} (×5)"
    TITLE_PREFIX: ClassVar[str] = "cache "
    TITLE_COUNT: ClassVar[str] = "(×{count})"
    HEADINGS: ClassVar[Mapping[str, StrOrPromise]] = {
        "get_in_loop": gettext_lazy("Single gets in a loop"),
        "repeated_get": gettext_lazy("Same key read several times"),
        "miss_without_set": gettext_lazy("Misses that are never filled"),
        "scan_keys": gettext_lazy("Keyspace scan (KEYS/SCAN)"),
        "large_value": gettext_lazy("Large values"),
        "no_expiry": gettext_lazy("Stored without expiry"),
    }
    SEVERITIES: ClassVar[Mapping[str, Severity]] = {
        "repeated_get": "warn",
        "miss_without_set": "warn",
        "large_value": "warn",
        "no_expiry": "info",
    }

    kind: str  # get_in_loop | repeated_get | miss_without_set | scan_keys | large_value | no_expiry
    pattern: str  # the key pattern (or the glob, for scan_keys)
    count: int  # calls, reads or writes concerned (see message)
    suggestion: str  # what to do, in words
    alias: str = ""
    code: str = ""  # ready-to-paste code, when there is one
    keys: list[str] = field(default_factory=list)  # example keys, as written
    sites: list[str] = field(default_factory=list)  # where the calls were made
    size: int = 0  # bytes, for large_value
    frames: list[list[Any]] = field(default_factory=list)  # one example stack

    @classmethod
    def subject_of(cls, data: Mapping[str, Any]) -> str:
        """The key pattern (or the glob, for scan_keys)."""
        return str(given(data, "pattern") or "")


# The kinds, in the order their findings are listed.
_FINDING_ORDER = tuple(CacheFinding.HEADINGS)


@dataclass
class PatternRow:
    alias: str
    pattern: str
    keys: int = 0  # distinct keys
    gets: int = 0
    hits: int = 0
    misses: int = 0
    sets: int = 0
    deletes: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    time_ms: float = 0.0
    example: str = ""

    @property
    def hit_ratio(self) -> float | None:
        decided = self.hits + self.misses
        return round(self.hits / decided, 4) if decided else None

    @property
    def bytes(self) -> int:
        return self.bytes_read + self.bytes_written

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["time_ms"] = round(self.time_ms, 3)
        data["hit_ratio"] = self.hit_ratio
        data["bytes"] = self.bytes
        return data


@dataclass
class BackendRow:
    alias: str
    backend: str
    calls: int = 0
    hits: int = 0
    misses: int = 0
    sets: int = 0
    deletes: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    time_ms: float = 0.0
    redis_commands: int = 0
    raw_calls: int = 0  # redis-py commands outside any cache call
    errors: int = 0
    hit_methods: list[str] = field(default_factory=list)
    size_methods: list[str] = field(default_factory=list)

    @property
    def hit_ratio(self) -> float | None:
        decided = self.hits + self.misses
        return round(self.hits / decided, 4) if decided else None

    @property
    def exact(self) -> bool:
        return all(HIT_METHODS.get(m, (False, ""))[0] for m in self.hit_methods)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["time_ms"] = round(self.time_ms, 3)
        data["hit_ratio"] = self.hit_ratio
        data["exact"] = self.exact
        data["hit_how"] = [HIT_METHODS[m][1] for m in self.hit_methods if m in HIT_METHODS]
        data["size_how"] = [SIZE_METHODS[m] for m in self.size_methods if m in SIZE_METHODS]
        return data


class CacheReport:
    """``report.cache``: what the cache calls of one capture add up to."""

    def __init__(self, record: Any, config: dict[str, Any]):
        self.record = record
        self.calls: list[CacheCall] = list(record.calls) if record is not None else []
        self.dropped_calls = record.dropped_calls if record is not None else 0
        self._dropped_ms = record.dropped_ms if record is not None else 0.0
        self.config = config
        self.patterns: list[PatternRow] = []
        self.by_backend: list[BackendRow] = []
        self.totals: dict[str, Any] = {}
        self.servers: list[dict[str, Any]] = []
        self.findings: list[CacheFinding] = []
        self._build()

    # -- building ----------------------------------------------------------------------

    def _build(self) -> None:
        patterns: dict[tuple[str, str], PatternRow] = {}
        distinct: dict[tuple[str, str], set[str]] = {}
        backends: dict[tuple[str, str], BackendRow] = {}
        aliases = self.record.aliases if self.record is not None else {}
        for call in self.calls:
            backend = call.backend
            if call.raw:
                backend = aliases.get(call.alias, {}).get("backend", "") or "redis-py"
            row = backends.get((call.alias, backend))
            if row is None:
                row = backends[call.alias, backend] = BackendRow(call.alias, backend)
            row.calls += 1
            row.time_ms += call.duration_ms
            row.redis_commands += len(call.commands)
            row.raw_calls += call.raw
            row.errors += call.error is not None
            if (
                call.hit_method
                and call.hit_method not in row.hit_methods
                and any(e.hit is not None for e in call.keys)
            ):
                row.hit_methods.append(call.hit_method)
            if call.size_method and call.size_method not in row.size_methods:
                row.size_methods.append(call.size_method)
            share = call.duration_ms / len(call.keys) if call.keys else 0.0
            for event in call.keys:
                pattern = abstract_key(event.written)
                key = (call.alias, pattern)
                prow = patterns.get(key)
                if prow is None:
                    prow = patterns[key] = PatternRow(call.alias, pattern, example=event.written)
                    distinct[key] = set()
                distinct[key].add(event.stored or event.written)
                prow.time_ms += share
                for target in (prow, row):
                    if event.op == "read":
                        if target is prow:
                            prow.gets += 1
                        if event.hit is True:
                            target.hits += 1
                        elif event.hit is False:
                            target.misses += 1
                    if event.op == "write" or event.filled:
                        target.sets += 1
                    elif event.op == "delete":
                        target.deletes += 1
                    target.bytes_read += event.read_bytes or 0
                    target.bytes_written += event.written_bytes or 0
        for key, prow in patterns.items():
            prow.keys = len(distinct[key])
        self.patterns = sorted(
            # Not by time, which differs between identical runs.
            patterns.values(), key=lambda r: (-r.misses, -r.gets, r.alias, r.pattern)
        )
        self.by_backend = sorted(backends.values(), key=lambda r: (r.alias == "", r.alias))
        self._totals()
        self._servers()
        self._findings()

    def _totals(self) -> None:
        rows = self.by_backend
        hits = sum(r.hits for r in rows)
        misses = sum(r.misses for r in rows)
        methods = sorted({m for r in rows for m in r.hit_methods})
        self.totals = {
            "calls": len(self.calls) + self.dropped_calls,
            "hits": hits,
            "misses": misses,
            "hit_ratio": round(hits / (hits + misses), 4) if hits + misses else None,
            "sets": sum(r.sets for r in rows),
            "deletes": sum(r.deletes for r in rows),
            "bytes_read": sum(r.bytes_read for r in rows),
            "bytes_written": sum(r.bytes_written for r in rows),
            "time_ms": round(sum(c.duration_ms for c in self.calls) + self._dropped_ms, 3),
            "redis_commands": sum(r.redis_commands for r in rows),
            "errors": sum(r.errors for r in rows),
            "dropped_calls": self.dropped_calls,
            "exact": all(HIT_METHODS.get(m, (False, ""))[0] for m in methods),
            "hit_methods": methods,
        }

    def _servers(self) -> None:
        if self.record is None:
            return
        for stats in self.record.servers.values():
            before, after = stats.before or {}, stats.after or {}
            entry: dict[str, Any] = {
                "server": stats.server,
                "scope": "server-wide",
                "error": stats.error,
            }
            for name in ("keyspace_hits", "keyspace_misses"):
                entry[f"{name}_before"] = before.get(name)
                entry[f"{name}_after"] = after.get(name)
                if name in before and name in after:
                    entry[f"{name}_delta"] = after[name] - before[name]
                else:
                    entry[f"{name}_delta"] = None
            self.servers.append(entry)

    # -- findings ----------------------------------------------------------------------

    def _findings(self) -> None:
        config = self.config
        findings: list[CacheFinding] = []
        findings += self._get_in_loop(config["CACHE_LOOP_MIN_GETS"])
        findings += self._repeated_gets(config["CACHE_REPEATED_GET_MIN"])
        findings += self._misses_without_set()
        findings += self._scans()
        findings += self._large_values(config["CACHE_LARGE_VALUE_BYTES"])
        findings += self._no_expiry()
        findings.sort(key=lambda f: (_FINDING_ORDER.index(f.kind), -f.count, f.alias, f.pattern))
        self.findings = findings

    def _get_in_loop(self, minimum: int) -> list[CacheFinding]:
        groups: dict[tuple[str, str, str, bool, bool], list[CacheCall]] = {}
        for call in self.calls:
            single = call.operation in ("get", "aget") or (call.raw and call.operation == "GET")
            if not single or len(call.keys) != 1 or call.error is not None:
                continue
            event = call.keys[0]
            key = (call.alias, abstract_key(event.written), call.site, call.raw, call.is_async)
            groups.setdefault(key, []).append(call)
        findings = []
        for (alias, pattern, site, raw, is_async), calls in groups.items():
            keys = {c.keys[0].stored or c.keys[0].written for c in calls}
            if len(calls) < minimum or len(keys) < 2:
                continue
            code = _get_many_code(alias, pattern, raw, is_async)
            verb = "GET" if raw else ("aget()" if is_async else "get()")
            where = f" from {site}" if site else ""
            findings.append(
                _finding(
                    kind="get_in_loop",
                    pattern=pattern,
                    alias=alias,
                    count=len(calls),
                    message=(
                        f"{len(calls)} single-key {verb} calls for {pattern}{where}: "
                        f"{len(keys)} keys, one round trip each."
                    ),
                    suggestion=(
                        "Fetch the keys together in one round trip with "
                        + ("MGET" if raw else ("aget_many()" if is_async else "get_many()"))
                        + f": {len(calls)} calls become 1."
                    ),
                    code=code,
                    calls=calls,
                    keys=_examples(c.keys[0].written for c in calls),
                )
            )
        return findings

    def _read_events(self) -> Iterator[tuple[CacheCall, KeyEvent]]:
        for call in self.calls:
            for event in call.keys:
                yield call, event

    def _repeated_gets(self, minimum: int) -> list[CacheFinding]:
        reads: dict[tuple[str, str], list[tuple[CacheCall, KeyEvent]]] = {}
        for call, event in self._read_events():
            if event.op == "read":
                reads.setdefault((call.alias, event.stored or event.written), []).append(
                    (call, event)
                )
        by_pattern: dict[tuple[str, str], list[list[tuple[CacheCall, KeyEvent]]]] = {}
        for (alias, _), events in reads.items():
            if len(events) >= minimum:
                pattern = abstract_key(events[0][1].written)
                by_pattern.setdefault((alias, pattern), []).append(events)
        findings = []
        for (alias, pattern), groups in by_pattern.items():
            total = sum(len(g) for g in groups)
            if len(groups) == 1:
                message = f"{groups[0][0][1].written} was read {total} times in this request."
            else:
                message = (
                    f"{len(groups)} keys of {pattern} were each read more than once: "
                    f"{total} reads where {len(groups)} would do."
                )
            findings.append(
                _finding(
                    kind="repeated_get",
                    pattern=pattern,
                    alias=alias,
                    count=total,
                    message=message,
                    suggestion=(
                        "Read the key once per request and reuse the value: keep it in a "
                        "local variable or pass it down, or memoize it for the request "
                        "(a cached_property on an object that lives as long as the request)."
                    ),
                    calls=[c for g in groups for c, _ in g],
                    keys=[f"{g[0][1].written} ×{len(g)}" for g in groups[:_EXAMPLES]],
                )
            )
        return findings

    def _misses_without_set(self) -> list[CacheFinding]:
        missed: dict[tuple[str, str], list[tuple[CacheCall, KeyEvent]]] = {}
        filled: set[tuple[str, str]] = set()
        for call, event in self._read_events():
            key = (call.alias, event.stored or event.written)
            if event.filled or event.op == "write":
                filled.add(key)
            if event.op == "read" and event.hit is False:
                missed.setdefault(key, []).append((call, event))
        by_pattern: dict[tuple[str, str], list[list[tuple[CacheCall, KeyEvent]]]] = {}
        for key, events in missed.items():
            if key not in filled:
                pattern = abstract_key(events[0][1].written)
                by_pattern.setdefault((key[0], pattern), []).append(events)
        findings = []
        for (alias, pattern), groups in by_pattern.items():
            total = sum(len(g) for g in groups)
            if len(groups) == 1:
                message = (
                    f"{groups[0][0][1].written} missed {total} time{'s' if total > 1 else ''} "
                    "and nothing stored it in this request."
                )
            else:
                message = (
                    f"{len(groups)} keys of {pattern} missed ({total} misses) and none was "
                    "stored in this request."
                )
            findings.append(
                _finding(
                    kind="miss_without_set",
                    pattern=pattern,
                    alias=alias,
                    count=total,
                    message=message,
                    suggestion=(
                        "Fill the key when it misses, e.g. value = cache.get_or_set(key, "
                        "compute, timeout=...), or set() it after computing the value; if "
                        "nothing ever writes this key, stop reading it: every miss is a "
                        "round trip for nothing."
                    ),
                    calls=[c for g in groups for c, _ in g],
                    keys=_examples(g[0][1].written for g in groups),
                )
            )
        return findings

    def _scans(self) -> list[CacheFinding]:
        groups: dict[tuple[str, str, str], list[CacheCall]] = {}
        for call in self.calls:
            if call.kind != "scan":
                continue
            operation = call.operation if call.raw else call.operation.lower()
            groups.setdefault((call.alias, call.pattern or "*", operation), []).append(call)
        findings = []
        for (alias, pattern, operation), calls in groups.items():
            round_trips = sum(
                sum(1 for c in call.commands if c.name in ("KEYS", "SCAN")) or 1 for call in calls
            )
            command = "KEYS" if operation in ("keys", "KEYS") else "SCAN"
            if operation.isupper():  # a raw redis-py command
                what = f"{operation} {pattern}"
            else:
                target = "cache" if alias == "default" else f'caches["{alias}"]'
                what = f'{target}.{operation}("{pattern}")'

            findings.append(
                _finding(
                    kind="scan_keys",
                    pattern=pattern,
                    alias=alias,
                    count=len(calls),
                    message=(
                        f"{what} ran {len(calls)} time{'s' if len(calls) > 1 else ''} "
                        f"({round_trips} {command} round trip{'s' if round_trips > 1 else ''})."
                        f" {command} walks the whole Redis keyspace: O(N) in the number of "
                        "keys in the database, not in the matches"
                        + (
                            ", and KEYS blocks the server while it runs."
                            if command == "KEYS"
                            else "."
                        )
                    ),
                    suggestion=(
                        "Do not search the keyspace on a request path. To invalidate a group "
                        "of keys, use versioned keys (put a version or generation number in "
                        "the key, or bump it with cache.incr_version()/a generation key) so "
                        "old keys are simply never read again; or keep an explicit set of the "
                        "keys you wrote (sadd() on write) and delete_many() its members."
                    ),
                    calls=calls,
                )
            )
        return findings

    def _large_values(self, limit: int) -> list[CacheFinding]:
        groups: dict[tuple[str, str], list[tuple[CacheCall, KeyEvent, int]]] = {}
        for call, event in self._read_events():
            size = max(event.read_bytes or 0, event.written_bytes or 0)
            if size > limit:
                groups.setdefault((call.alias, abstract_key(event.written)), []).append(
                    (call, event, size)
                )
        findings = []
        for (alias, pattern), events in groups.items():
            biggest = max(size for _, _, size in events)
            reads = sum(1 for _, e, _ in events if (e.read_bytes or 0) > limit)
            writes = len(events) - reads
            parts = []
            if reads:
                parts.append(f"read {reads} time{'s' if reads > 1 else ''}")
            if writes:
                parts.append(f"written {writes} time{'s' if writes > 1 else ''}")
            findings.append(
                _finding(
                    kind="large_value",
                    pattern=pattern,
                    alias=alias,
                    count=len(events),
                    size=biggest,
                    message=(
                        f"Values of {pattern} up to {_human_bytes(biggest)} "
                        f"(limit {_human_bytes(limit)}) were {' and '.join(parts)}."
                    ),
                    suggestion=(
                        "Cache less per key: store only the fields you use (ids or "
                        "values_list() rather than model instances), split the value into "
                        "smaller keys read with get_many(), or compress it (django-redis' "
                        "COMPRESSOR option). Every read moves and unpickles the whole value."
                    ),
                    calls=[c for c, _, _ in events],
                    keys=_examples(e.written for _, e, _ in events),
                )
            )
        return findings

    def _no_expiry(self) -> list[CacheFinding]:
        groups: dict[tuple[str, str], list[tuple[CacheCall, KeyEvent]]] = {}
        for call in self.calls:
            if call.raw or not call.timeout_given or call.timeout is not None:
                continue
            if call.default_timeout is None or call.error is not None:
                continue
            for event in call.keys:
                if event.filled or event.op in ("write", "touch"):
                    groups.setdefault((call.alias, abstract_key(event.written)), []).append(
                        (call, event)
                    )
        findings = []
        for (alias, pattern), events in groups.items():
            default = events[0][0].default_timeout
            operations = sorted({c.operation for c, _ in events})
            findings.append(
                _finding(
                    kind="no_expiry",
                    pattern=pattern,
                    alias=alias,
                    count=len(events),
                    message=(
                        f"{pattern} was stored with timeout=None ({', '.join(operations)}): "
                        f"it never expires, while this cache's default is {default:g} s."
                    ),
                    suggestion=(
                        f"Pass a timeout (or leave it out to get the default of {default:g} s) "
                        "so the entry expires: a key without expiry stays until it is deleted "
                        "or evicted, and stale data never heals by itself."
                    ),
                    calls=[c for c, _ in events],
                    keys=_examples(e.written for _, e in events),
                )
            )
        return findings

    # -- output ------------------------------------------------------------------------

    def metrics(self) -> dict[str, float]:
        """The numbers a budget can limit (``ddt_perfpanels.metrics.CACHE_METRICS``)."""
        totals = self.totals
        return {
            "cache_calls": totals["calls"],
            "cache_hits": totals["hits"],
            "cache_misses": totals["misses"],
            "cache_sets": totals["sets"],
            "cache_time_ms": totals["time_ms"],
            "cache_bytes_read": totals["bytes_read"],
            "cache_bytes_written": totals["bytes_written"],
            "cache_findings": len(self.findings),
            "redis_commands": totals["redis_commands"],
        }

    def to_dict(self, calls: bool = False) -> dict[str, Any]:
        """JSON-serializable; the call list only when asked (the panel asks)."""
        data: dict[str, Any] = {
            "totals": dict(self.totals),
            "by_backend": [row.to_dict() for row in self.by_backend],
            "patterns": [row.to_dict() for row in self.patterns],
            "findings": [finding.to_dict() for finding in self.findings],
            "servers": [dict(server) for server in self.servers],
        }
        if calls:
            data["calls"] = [call_to_dict(call) for call in self.calls]
        return data

    def __repr__(self) -> str:
        t = self.totals
        return f"<CacheReport {t['calls']} calls, {t['hits']} hits, {t['misses']} misses>"


# What CacheReport.metrics() returns, all 0 when nothing was cached.


def build_cache_report(recorder: Recorder) -> CacheReport:
    return CacheReport(recorder.extras.get("cache"), get_config())


# -- helpers -----------------------------------------------------------------------------


def call_to_dict(call: CacheCall) -> dict[str, Any]:
    hits = sum(1 for e in call.keys if e.hit is True)
    misses = sum(1 for e in call.keys if e.hit is False)
    return {
        "index": call.index,
        "alias": call.alias,
        "backend": call.backend,
        "operation": call.operation,
        "is_async": call.is_async,
        "raw": call.raw,
        "kind": call.kind,
        "keys": [
            {
                "written": e.written,
                "stored": e.stored,
                "hit": e.hit,
                "read_bytes": e.read_bytes,
                "written_bytes": e.written_bytes,
            }
            for e in call.keys[:_CALL_KEYS]
        ],
        "key_count": max(call.key_count, len(call.keys)),
        "more_keys": max(call.key_count, len(call.keys)) - min(len(call.keys), _CALL_KEYS),
        "pattern": call.pattern,
        "hits": hits,
        "misses": misses,
        "hit_method": call.hit_method if hits + misses else None,
        "bytes_read": sum(e.read_bytes or 0 for e in call.keys),
        "bytes_written": sum(e.written_bytes or 0 for e in call.keys),
        "timeout": _jsonable_timeout(call.timeout),
        "timeout_given": call.timeout_given,
        "writes": call.kind in ("write", "touch") or any(e.filled for e in call.keys),
        "duration_ms": round(call.duration_ms, 3),
        "site": call.site,
        "frames": [list(f) for f in call.frames],
        "error": call.error,
        "commands": [
            {
                "name": c.name,
                "keys": c.keys[:10],
                "more_keys": max(len(c.keys) - 10, 0),
                "pattern": c.pattern,
                "hits": c.hits.count(True) if c.hits else 0,
                "misses": c.hits.count(False) if c.hits else 0,
                "read_bytes": sum(s or 0 for s in c.read_sizes) if c.read_sizes else 0,
                "written_bytes": sum(s or 0 for s in c.written_sizes) if c.written_sizes else 0,
                "duration_ms": round(c.duration_ms, 3),
                "error": c.error,
                "server": c.server,
                "batch": c.batch,
            }
            for c in call.commands[:_CALL_COMMANDS]
        ],
        "more_commands": max(len(call.commands) - _CALL_COMMANDS, 0),
    }


def _jsonable_timeout(value: Any) -> Any:
    if value is None or isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    return str(value)


def _examples(items: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        seen.setdefault(item, None)
        if len(seen) >= _EXAMPLES:
            break
    return list(seen)


def _finding(*, calls: list[CacheCall], keys: Iterable[str] = (), **fields: Any) -> CacheFinding:
    """A finding with its example keys, call sites and one example stack."""
    return CacheFinding(
        keys=list(keys),
        sites=_examples(c.site for c in calls if c.site),
        frames=[list(f) for f in calls[0].frames] if calls else [],
        **fields,
    )


def _human_bytes(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / 1024 / 1024:.1f} MB"
    if size >= 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size} bytes"


_PLACEHOLDER = re.compile(r"\{(int|hex|hash|uuid)\}")
_NAMES = {"int": "pk", "hex": "digest", "hash": "token", "uuid": "uuid"}


def _get_many_code(alias: str, pattern: str, raw: bool, is_async: bool) -> str:
    """``cache.get_many([f"badge_progress:{pk}" for pk in pks])`` for a pattern."""
    names: list[str] = []
    parts: list[str] = []
    last = 0
    for match in _PLACEHOLDER.finditer(pattern):
        literal = pattern[last : match.start()]
        parts.append(literal.replace("{", "{{").replace("}", "}}"))
        name = _NAMES[match.group(1)]
        if name in names:
            name = f"{name}{len(names) + 1}"
        names.append(name)
        parts.append("{" + name + "}")
        last = match.end()
    parts.append(pattern[last:].replace("{", "{{").replace("}", "}}"))
    body = "".join(parts).replace("\\", "\\\\").replace('"', '\\"')
    if len(names) == 1:
        keys = f'[f"{body}" for {names[0]} in {names[0]}s]'
    elif names:
        loop = ", ".join(names)
        keys = f'[f"{body}" for {loop} in items]'
    else:
        keys = "keys"
    if raw:
        return f"values = client.mget({keys})"
    target = "cache" if alias == "default" else f'caches["{alias}"]'
    if is_async:
        return f"values = await {target}.aget_many({keys})"
    return f"values = {target}.get_many({keys})"
