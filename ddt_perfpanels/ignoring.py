"""Accepted findings: the ``IGNORE`` allowlist in settings and ``ignore()`` in code.

A rule names what it accepts with glob patterns (``fnmatch``), all of which must
match: ``model`` ("shop.Product", "legacy.*"), ``field`` (the relation or the
field, "tags"), ``kind`` ("count_in_loop", "get_in_loop", "nplusone"), ``key``
(a cache key pattern), ``file`` (a frame of the finding's stack, "*/legacy/*.py")
and ``url_name`` (the request's URL name, "admin:*").

An ignored finding is kept apart (``report.ignored``): the panels show it greyed,
and it never counts toward a budget, a recorded violation or a failed test.

``ignore(...)`` in code accepts the findings whose queries (or cache calls) ran
inside the block, and everything a capture started inside it records. With no
pattern it accepts every finding there.
"""

from __future__ import annotations

import functools
import inspect
from contextvars import ContextVar
from dataclasses import dataclass, fields
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any, TypeVar

from django.core.checks import Error, register

if TYPE_CHECKING:
    from ddt_perfpanels.finding import Finding

F = TypeVar("F", bound="Finding")

KEYS = ("model", "field", "kind", "key", "file", "url_name")


@dataclass(frozen=True)
class Rule:
    model: str | None = None
    field: str | None = None
    kind: str | None = None
    key: str | None = None
    file: str | None = None
    url_name: str | None = None

    def matches(self, finding: dict[str, Any], url_name: str | None) -> bool:
        """``finding``: a finding's ``to_dict()``."""
        if self.url_name is not None and (
            url_name is None or not fnmatchcase(url_name, self.url_name)
        ):
            return False
        if self.model is not None and not fnmatchcase(finding.get("model") or "", self.model):
            return False
        if self.field is not None:
            names = {finding.get("field") or "", finding.get("path") or ""}
            if not any(fnmatchcase(name, self.field) for name in names if name):
                return False
        if self.kind is not None and not fnmatchcase(finding.get("kind") or "", self.kind):
            return False
        if self.key is not None and not fnmatchcase(finding.get("pattern") or "", self.key):
            return False
        if self.file is not None:
            files = [str(frame[0]) for frame in finding.get("frames") or ()]
            if not any(fnmatchcase(name, self.file) for name in files):
                return False
        return True


def parse_rules(entries: Any, where: str = "IGNORE") -> tuple[list[Rule], list[str]]:
    """Rules from a list of dicts; the problems, as sentences, for the system check."""
    if entries in (None, (), []):
        return [], []
    if not isinstance(entries, (list, tuple)):
        return [], [f"{where} must be a list of dicts, got {type(entries).__name__}."]
    rules: list[Rule] = []
    problems: list[str] = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not entry:
            problems.append(f"{where}[{i}] must be a non-empty dict of patterns, got {entry!r}.")
            continue
        unknown = sorted(str(k) for k in entry if k not in KEYS)
        bad = sorted(str(k) for k, v in entry.items() if k in KEYS and not isinstance(v, str))
        if unknown:
            from difflib import get_close_matches

            hints = [
                f"{k!r} (did you mean {close[0]!r}?)"
                if (close := get_close_matches(k, KEYS, n=1))
                else repr(k)
                for k in unknown
            ]
            problems.append(
                f"{where}[{i}] has unknown keys {', '.join(hints)}; "
                f"the keys are {', '.join(KEYS)}."
            )
        if bad:
            problems.append(f"{where}[{i}]: {', '.join(bad)} must be glob strings.")
        if not unknown and not bad:
            rules.append(Rule(**entry))
    return rules, problems


_settings_rules: tuple[int, list[Rule]] = (0, [])


def settings_rules() -> list[Rule]:
    """The valid rules of ``DDT_PERFPANELS["IGNORE"]`` (parsed once per config)."""
    global _settings_rules
    from ddt_perfpanels.conf import get_config

    config = get_config()
    if _settings_rules[0] != id(config):
        _settings_rules = (id(config), parse_rules(config.get("IGNORE"))[0])
    return _settings_rules[1]


@register()
def check_ignore(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    from django.conf import settings

    user = getattr(settings, "DDT_PERFPANELS", None)
    if not isinstance(user, dict):
        return []
    _, problems = parse_rules(user.get("IGNORE"), "DDT_PERFPANELS['IGNORE']")
    return [
        Error(
            problem,
            hint="Example: 'IGNORE': [{'model': 'shop.Product', 'field': 'tags'}, "
            "{'url_name': 'admin:*'}, {'file': '*/legacy/*.py'}]",
            id="ddt_perfpanels.E030",
        )
        for problem in problems
    ]


# -- ignore() in code ------------------------------------------------------------------

# The rules of the ignore() blocks the current task is in.
_in_effect: ContextVar[tuple[Rule, ...]] = ContextVar("ddt_perfpanels_ignore", default=())


class Span:
    """Records made while some rules applied: an ignore() block, or a request."""

    __slots__ = ("rules", "url", "query_start", "call_start", "query_ids", "call_ids")

    def __init__(self, recorder: Any, rules: tuple[Rule, ...] = (), url: Any = None):
        self.rules = rules
        self.url = url  # (path_info, urlconf) of a request
        self.query_start = len(recorder.queries)
        self.call_start = len(_calls(recorder))
        self.query_ids: set[int] | None = None
        self.call_ids: set[int] | None = None

    def close(self, recorder: Any) -> None:
        if self.query_ids is None:
            self.query_ids = {id(q) for q in recorder.queries[self.query_start :]}
            self.call_ids = {id(c) for c in _calls(recorder)[self.call_start :]}

    def holds(self, record_id: int, source: str) -> bool:
        ids = self.call_ids if source == "cache" else self.query_ids
        return ids is not None and record_id in ids


def _calls(recorder: Any) -> list[Any]:
    cache = recorder.extras.get("cache")
    return cache.calls if cache is not None else []


class IgnoreLog:
    """``recorder.extras["ignore"]``: what applies to which records of a capture.

    Created only when something is to be ignored in code or by URL name, so a
    capture without either pays nothing.
    """

    def __init__(self, recorder: Any):
        self.recorder = recorder
        self.whole: tuple[Rule, ...] = ()  # rules in effect when the capture started
        self.url: Any = None  # the capture's request, when it is one request
        self.spans: list[Span] = []

    def as_span(self) -> Span | None:
        """This capture's own rules and URL as a span, once another absorbed it."""
        if not self.whole and self.url is None:
            return None
        span = Span(self.recorder, self.whole, self.url)
        span.query_start = span.call_start = 0
        span.close(self.recorder)
        return span

    def absorb(self, inner: IgnoreLog) -> None:
        for span in inner.spans:
            span.close(inner.recorder)
        self.spans.extend(inner.spans)
        own = inner.as_span()
        if own is not None:
            self.spans.append(own)


def log_of(recorder: Any) -> IgnoreLog:
    log: IgnoreLog | None = recorder.extras.get("ignore")
    if log is None or log.recorder is not recorder:
        # None, or a nested capture's, taken over when it was absorbed.
        mine = IgnoreLog(recorder)
        if log is not None:
            mine.absorb(log)
        log = recorder.extras["ignore"] = mine
    return log


def capture_started(recorder: Any) -> None:
    """A capture started: the ignore() blocks it runs in cover all of it."""
    rules = _in_effect.get()
    if rules:
        log_of(recorder).whole = rules


def note_request(report: Any, request: Any) -> None:
    """The capture is this one request (the panels', the middleware's): URL-name rules
    apply to all of it. Costs nothing unless some rule names a URL."""
    if any(rule.url_name is not None for rule in settings_rules()):
        log_of(report.recorder).url = (request.path_info, getattr(request, "urlconf", None))


def request_span(recorder: Any, path_info: str) -> Span | None:
    """A request starts inside a longer capture (a test's): URL-name rules apply
    to what it records. Closed by the next one, or when the findings are read."""
    if not any(rule.url_name is not None for rule in settings_rules()):
        return None
    log = log_of(recorder)
    for span in log.spans:
        if span.url is not None:
            span.close(recorder)
    span = Span(recorder, url=(path_info, None))
    log.spans.append(span)
    return span


class ignore:
    """Accept findings in code: a context manager, and a decorator (sync or async).

    ::

        with ddt_perfpanels.ignore(model="shop.Product", field="tags"):
            render_legacy_listing()

        @ddt_perfpanels.ignore(kind="count_in_loop")
        def report_view(request): ...
    """

    def __init__(self, **patterns: str | None):
        rules, problems = parse_rules([patterns] if patterns else [], "ignore()")
        if problems:
            raise TypeError(" ".join(problems))
        self.rule = rules[0] if rules else Rule()
        self._stack: list[tuple[Any, Any, Span | None]] = []

    def __enter__(self) -> ignore:
        from ddt_perfpanels.recording.context import current_recorder

        recorder = current_recorder()
        span = None
        if recorder is not None:
            span = Span(recorder, (self.rule,))
            log_of(recorder).spans.append(span)
        token = _in_effect.set((*_in_effect.get(), self.rule))
        self._stack.append((token, recorder, span))
        return self

    def __exit__(self, *exc_info: Any) -> None:
        token, recorder, span = self._stack.pop()
        if span is not None:
            span.close(recorder)
        _in_effect.reset(token)

    async def __aenter__(self) -> ignore:
        return self.__enter__()

    async def __aexit__(self, *exc_info: Any) -> None:
        self.__exit__(*exc_info)

    def __call__(self, func: Any) -> Any:
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with ignore(**_patterns(self.rule)):
                    return await func(*args, **kwargs)

            return async_wrapper

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with ignore(**_patterns(self.rule)):
                return func(*args, **kwargs)

        return wrapper


def _patterns(rule: Rule) -> dict[str, str]:
    return {f.name: getattr(rule, f.name) for f in fields(rule) if getattr(rule, f.name)}


# -- sorting findings ------------------------------------------------------------------


def _url_name(url: Any, names: dict[Any, str | None]) -> str | None:
    if url is None:
        return None
    if url not in names:
        from django.urls import Resolver404, resolve

        try:
            names[url] = resolve(url[0], url[1]).view_name
        except Resolver404:
            names[url] = None
        except Exception:
            names[url] = None
    return names[url]


def _first_records(recorder: Any, source: str) -> dict[tuple[tuple[Any, ...], ...], int]:
    """Each stack -> the first query (or cache call) made from it."""
    records = _calls(recorder) if source == "cache" else recorder.queries
    first: dict[tuple[tuple[Any, ...], ...], int] = {}
    for record in records:
        first.setdefault(tuple(tuple(f) for f in record.frames), id(record))
    return first


def split(findings: list[F], source: str, recorder: Any) -> tuple[list[F], list[F]]:
    """(kept, ignored): the findings no rule accepts, and the others."""
    if not findings:
        return findings, []
    static = settings_rules()
    log = recorder.extras.get("ignore")
    if not static and log is None:
        return findings, []
    whole: tuple[Rule, ...] = ()
    url = None
    spans: list[Span] = []
    if log is not None:
        if log.recorder is recorder:
            whole, url = log.whole, log.url
        elif (own := log.as_span()) is not None:
            spans.append(own)  # absorbed without a log of our own
        for span in log.spans:
            span.close(log.recorder)
        spans.extend(log.spans)
    names: dict[Any, str | None] = {}
    # A finding is placed in time by the stack of its example query or call.
    first = _first_records(recorder, source) if spans else {}
    kept: list[F] = []
    ignored: list[F] = []
    for finding in findings:
        data = finding.to_dict()
        frames = tuple(tuple(f) for f in data.get("frames") or ())
        record = first.get(frames) if frames else None
        request_url = url
        rules = list(whole)
        for span in spans:
            if record is not None and span.holds(record, source):
                rules.extend(span.rules)
                if span.url is not None:
                    request_url = span.url
        name = _url_name(request_url, names) if request_url is not None else None
        accepted = any(rule.matches(data, name) for rule in (*static, *rules))
        (ignored if accepted else kept).append(finding)
    return kept, ignored
