"""What every finding shares, whichever analysis found it (N+1, counts, cache).

``Finding`` holds the fields all of them have, ``to_dict()`` writes them (and a
subclass's own fields) as JSON the same way for each, and each kind's heading,
severity, one-line title and stable key are defined once, here or on its
subclass: the panels, budgets, the admin and the test helpers read them from the
finding (or, for a stored dict, from its class), and the ignore rules match its kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeAlias

if TYPE_CHECKING:
    from django.utils.functional import _StrOrPromise

    StrOrPromise: TypeAlias = _StrOrPromise  # a str, or a lazy translation (gettext_lazy)
else:
    StrOrPromise = str

# How loud a finding is shown: "bad" (a problem to fix), "warn", "info".
Severity = Literal["bad", "warn", "info"]


def given(data: Mapping[str, Any], *keys: str) -> Any:
    """The first of ``keys`` with a value ("", [], {} and None are none), else None:
    a compact finding leaves empty values out, a finding's own fields keep them."""
    for key in keys:
        value = data.get(key)
        if value not in (None, "", [], {}):
            return value
    return None


def _plain(value: Any) -> Any:
    """A copy of a JSON-like value (as ``dataclasses.asdict`` copies a field)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    return value


# A field's metadata that keeps it out of to_dict() (not JSON).
NOT_SERIALIZED: Mapping[str, bool] = {"serialized": False}


@dataclass(kw_only=True)
class Finding:
    """One finding: what happened (``message``), the fix (``suggestion``, with the
    ``imports`` it needs), how much it cost (``count``, ``duration_ms``), where
    (``origin``: where the queryset was evaluated or the code to change;
    ``access_site``: where the queries or reads ran) and who owns the code
    (``third_party``: an installed package's, ``analysis.thirdparty``; ``where``:
    the framework class that owns the queryset, ``analysis.where``)."""

    # Its list in a report ("nplusone", "unused_eager", "duplicate_loads",
    # "counts", "cache"), and the "source" of its compact form (``findings``).
    source: ClassVar[str] = ""
    # Per kind: the heading a panel gives it, and its severity.
    HEADINGS: ClassVar[Mapping[str, StrOrPromise]] = {}
    SEVERITIES: ClassVar[Mapping[str, Severity]] = {}
    SEVERITY: ClassVar[Severity] = "bad"  # of a kind SEVERITIES does not name
    # How its title names the kind and the count: "count_in_loop: … (4 queries)".
    TITLE_PREFIX: ClassVar[str] = ""
    TITLE_COUNT: ClassVar[str] = "({count} queries)"

    kind: str = ""
    message: str = ""
    suggestion: str = ""  # the fix: ready-to-paste code (cache findings: in words)
    imports: str = ""  # the imports the suggestion needs
    count: int | None = None  # queries or calls concerned; None: not counted
    duration_ms: float | None = None  # their time; None: not measured
    origin: str = ""  # file:line (or template:line) of the code to change
    access_site: str = ""  # where the queries ran, when not the origin
    # When a package's code is involved: analysis.thirdparty.third_party_label().
    third_party: dict[str, Any] | None = None
    # Where the fix goes when a framework object owns the queryset (analysis/where.py).
    where: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON (what a panel stores): the shared keys first, then the subclass's own."""
        return {
            f.name: _plain(getattr(self, f.name))
            for f in fields(self)
            if f.metadata.get("serialized", True)
        }

    # -- defined once per kind ---------------------------------------------------------

    @classmethod
    def heading_of(cls, kind: str) -> StrOrPromise:
        """The heading of a kind: "count() in a loop" (the kind itself when unnamed)."""
        return cls.HEADINGS.get(kind, kind)

    @classmethod
    def severity_of(cls, kind: str) -> Severity:
        return cls.SEVERITIES.get(kind, cls.SEVERITY)

    @classmethod
    def subject_of(cls, data: Mapping[str, Any]) -> str:
        """What a finding is about: "testapp.Author.books"."""
        model, name = given(data, "model"), given(data, "field")
        return f"{model}.{name}" if model and name else f"{model or ''}"

    @classmethod
    def title_of(cls, data: Mapping[str, Any]) -> str:
        """One line naming a finding, from its fields or its compact (stored) form:
        "count_in_loop: testapp.Author.books (4 queries)"."""
        kind, subject = f"{cls.TITLE_PREFIX}{given(data, 'kind') or '?'}", cls.subject_of(data)
        counted = cls.TITLE_COUNT.format(count=data.get("count"))
        return f"{kind}: {subject} {counted}" if subject else f"{kind} {counted}"

    @classmethod
    def key_of(cls, data: Mapping[str, Any]) -> str:
        """What stays the same when the data or the line numbers change:
        "counts count_in_loop testapp.Author.books"."""
        source = data.get("source") or cls.source
        return f"{source} {given(data, 'kind') or '?'} {cls.subject_of(data)}".rstrip()

    @property
    def heading(self) -> StrOrPromise:
        return self.heading_of(self.kind)

    @property
    def severity(self) -> Severity:
        return self.severity_of(self.kind)

    @property
    def title(self) -> str:
        return self.title_of(self._fields())

    @property
    def key(self) -> str:
        return self.key_of(self._fields())

    def _fields(self) -> dict[str, Any]:
        """Its fields, not copied: what title_of() and key_of() read."""
        return {f.name: getattr(self, f.name) for f in fields(self)}
