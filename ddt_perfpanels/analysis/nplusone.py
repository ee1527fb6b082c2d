"""N+1 clusters and unused eager loads, from the loads and queries a capture saw.

A lazy load remembers the load that produced its instance, so every query
caused by ``book.author.publisher`` knows its path from the root queryset
("author__publisher") and which row it was for.  A cluster is a (root, path)
with queries for at least two rows.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import django

from ddt_perfpanels.analysis import chain as chain_code
from ddt_perfpanels.analysis import decompile
from ddt_perfpanels.analysis.code import (
    merge_lookups,
    quoted,
    render_call,
)
from ddt_perfpanels.analysis.models import _model
from ddt_perfpanels.analysis.sql import FINGERPRINTS, params_key, preview
from ddt_perfpanels.analysis.thirdparty import third_party_label
from ddt_perfpanels.analysis.where import (
    access_of,
    claim,
    owner_fix,
    owner_fix_deferred,
    owner_removal,
)
from ddt_perfpanels.analysis.written import (
    _base,
    _core_keys,
    _existing_eager,
    _manager_expr,
    _queryset_expr,
    _render_eager,
    written_queryset,
)
from ddt_perfpanels.finding import Finding, Severity, given
from ddt_perfpanels.recording.context import SINGLE_KINDS, Load, QueryRecord
from ddt_perfpanels.recording.stack import SiteKey, site_key

if TYPE_CHECKING:
    from django.db.models import Model, Q

    from ddt_perfpanels.recording.context import Recorder


@dataclass(kw_only=True)
class NPlusOneFinding(Finding):
    source: ClassVar[str] = "nplusone"

    kind: str = "nplusone"
    model: str  # "app_label.Model" of the queryset to fix
    field: str  # the attribute that was loaded lazily
    fix: str  # "select_related" | "prefetch_related" | "only" | "in_bulk"
    lookup: str  # the argument of the fix, a path from that queryset's model
    suggestion: str  # ready-to-paste code
    count: int  # queries in the cluster
    duration_ms: float
    origin: str  # where the queryset was evaluated
    access_site: str  # where the lazy loads happened
    sql: str  # one example query
    message: str
    path: str = ""  # the full path from the outermost queryset
    relation: str = ""  # fk, o2o, reverse_o2o, reverse_fk, m2m, reverse_m2m, gfk, ...
    rows: int = 0  # distinct rows that triggered a load
    stack: list[str] = dataclasses.field(default_factory=list)
    frames: list[list[Any]] = dataclasses.field(default_factory=list)  # [file, line, function]
    fetch_peers: str = ""  # the Django 6.1 alternative, when there is one
    # Every fix for the same queryset in one statement, when it has several.
    combined_suggestion: str = ""
    # With a Prefetch(to_attr=...): what to read where the loop read the manager.
    read: str = ""
    access: dict[str, str] = dataclasses.field(default_factory=dict)  # the code that made the loads

    @classmethod
    def title_of(cls, data: Mapping[str, Any]) -> str:
        """Like "N+1: testapp.Book → author (4 queries)"."""
        what = f"{given(data, 'model') or '?'} → {given(data, 'path', 'field') or '?'}"
        return f"N+1: {what} ({data.get('count')} queries)"

    @classmethod
    def key_of(cls, data: Mapping[str, Any]) -> str:
        """Like "nplusone testapp.Book.author"."""
        return f"nplusone {given(data, 'model') or '?'}.{given(data, 'path', 'field')}"


@dataclass(kw_only=True)
class UnusedEagerFinding(Finding):
    source: ClassVar[str] = "unused_eager"
    SEVERITY: ClassVar[Severity] = "warn"

    kind: str = "unused_eager"
    model: str
    fix: str  # "select_related" | "prefetch_related"
    lookup: str
    suggestion: str  # the queryset without the lookup, "" when it cannot be written
    origin: str
    message: str
    # Advice to delete code is given only when the evidence is certain: the
    # lookup was added by the application's own code in this request, and every
    # way of reading it was watched. Otherwise this is a quiet note, never an
    # AVOID card, never counted.
    certain: bool = True
    reason: str = ""  # why it is only a note
    added_at: str = ""  # file:line of the select_related()/prefetch_related() call

    @classmethod
    def title_of(cls, data: Mapping[str, Any]) -> str:
        """Like "unused select_related: testapp.Book"."""
        return f"unused {given(data, 'fix') or ''}: {given(data, 'model') or ''}"


@dataclass(kw_only=True)
class DuplicateLoadFinding(Finding):
    """The same row loaded more than once: a duplicate query, not an N+1."""

    source: ClassVar[str] = "duplicate_loads"
    SEVERITY: ClassVar[Severity] = "info"

    kind: str = "duplicate_load"
    model: str
    lookup: str  # the field it was looked up by ("pk", "isbn"), "" when unknown
    count: int  # queries that loaded it
    duration_ms: float  # of the queries after the first
    sites: list[str]  # where each load ran, "" for none of the application's lines
    sql: str
    message: str


class _Group:
    __slots__ = (
        "root",
        "path",
        "via",
        "filtered",
        "shape",
        "queries",
        "owners",
        "loads",
        "absorbed",
    )

    def __init__(self, root: Load, path: str, via: str, filtered: bool, shape: str | None = ""):
        self.root = root
        self.path = path
        self.via = via
        self.filtered = filtered
        # The calls the code made on each row's related manager (".filter(x=1)
        # .order_by("y")[:1]"), None when they cannot be written back.
        self.shape = shape
        self.queries: list[QueryRecord] = []
        self.owners: set[int] = set()
        self.loads: list[Load] = []
        self.absorbed: list[_Group] = []

    @property
    def all_queries(self) -> list[QueryRecord]:
        queries = list(self.queries)
        for group in self.absorbed:
            queries.extend(group.queries)
        return queries


def _per_row_shape(load: Load) -> str | None:
    """What the code did on one row's related manager beyond ``.all()``."""
    if load.via != "lazy" or load.kind in _SHAPELESS:
        return ""
    query = load.query
    if query is None:
        return None
    return chain_code.read_back(
        lambda: chain_code.query_calls(query, _core_keys(load), slicing=True), None
    )[0]


# Relations read one object per row: nothing done on a manager to read back.
_SHAPELESS = SINGLE_KINDS | {"gfk"}

# (root load id, path, via, filtered, deferred field, site key, per-row shape)
_GroupKey = tuple[int, str, str, bool, str, tuple[Any, ...], str | None]


def _lazy_groups(queries: list[QueryRecord]) -> dict[_GroupKey, _Group]:
    groups: dict[_GroupKey, _Group] = {}
    # The queries of one loop share their frames, template line and library
    # frames (the database hook reuses one walk): their site key is made once.
    site_keys: dict[tuple[int, int, Any], SiteKey] = {}
    for query in queries:
        load = query.cause
        if not isinstance(load, Load):
            continue
        via = load.via
        if (via != "lazy" and via != "deferred") or load.parent is None:
            continue  # not a lazy load, or of an instance not loaded inside this capture
        shape = _per_row_shape(load) if via == "lazy" and load.kind not in _SHAPELESS else ""
        relation = load.relation
        filtered = relation is not None and bool(
            shape or relation.filters or relation.prefetched
        )
        name = load.segment if via == "deferred" else ""
        # One code site repeating over rows: reads of one path at two places
        # are two sites, not one loop; and one shape of the per-row call.
        shape_key = shape if filtered else ""
        frames, library, template = query.frames, query.library, query.template
        site = site_keys.get((id(frames), id(library), template))
        if site is None:
            site = site_keys[id(frames), id(library), template] = site_key(
                frames, template, library
            )
        key = (load.root.id, load.path, via, filtered, name, site, shape_key)
        group = groups.get(key)
        if group is None:
            group = groups[key] = _Group(load.root, load.path, via, filtered, shape)
        group.queries.append(query)
        group.owners.add(load.owner_key)
        if not group.loads or group.loads[-1] is not load:
            group.loads.append(load)
    return groups


def _site(query: QueryRecord | None) -> str:
    return query.site if query is not None else ""


def _origin(load: Load) -> str:
    return _site(load.first_query)


_INCOMPLETE = (
    " (Your queryset has calls that cannot be written back here: keep them"
    " and add the fix to them.)"
)


def _through_to_attr(anchor: Load, lookup: str) -> str:
    """``books__tags`` for books prefetched with ``Prefetch("books", to_attr="published")``
    is ``published__tags``: the rows the loop read live in that list."""
    plain = {through for through, to_attr in anchor.prefetch if not to_attr}
    for through, to_attr in anchor.prefetch:
        if to_attr and through not in plain and lookup.startswith(through + "__"):
            return to_attr + lookup[len(through) :]
    return lookup


def _anchor(group: _Group, groups: dict[_GroupKey, _Group]) -> tuple[Load, str, list[Load]]:
    """The queryset to fix: the outermost one, unless a single lazy load in
    between is the one whose rows fan out (``author.books`` loaded once)."""
    leaf = group.loads[0]
    chain = leaf.segments()
    for index in range(len(chain) - 2, -1, -1):
        prefix = chain[index]
        key = (group.root.id, prefix.path, "lazy", False, "")
        candidates = [g for k, g in groups.items() if k[:5] == key]
        candidate = candidates[0] if len(candidates) == 1 else None
        if candidate is not None and len(candidate.queries) == 1 and candidate.loads:
            return candidate.loads[0], group.path[len(prefix.path) + 2 :], chain[index + 1 :]
    return group.root, group.path, chain


_SLICE = re.compile(r"\[(\d*):(\d*)\]$")


def _filter_word(load: Load) -> str:
    """A short name for the filter on a related manager: published=True -> "published"."""
    from ddt_perfpanels.analysis.counts.base import _word_for

    query = load.query
    if query is None:
        return "filtered"
    try:
        q = decompile.where_to_q(query, query.where)
    except Exception:
        return "filtered"
    return _word_for(decompile._without_keys(q, _core_keys(load)))


def _per_row_prefetch(group: _Group, leaf: Load, lookup: str) -> tuple[str, str, str]:
    """The Prefetch that loads, for all rows at once, exactly what the code
    asked each row's related manager for; and the line to change where it is read."""
    from ddt_perfpanels.analysis.counts.base import _free_name

    relation = leaf.relation
    assert relation is not None
    shape = group.shape
    if shape is None:  # not readable from the query: the recorded filter()/exclude()
        shape = "".join(render_call(m, a, k) for m, a, k in relation.filters)
    match = _SLICE.search(shape)
    calls = shape[: match.start()] if match else shape
    index = -1
    if match and match.group(2) and int(match.group(2)) == int(match.group(1) or 0) + 1:
        index = int(match.group(1) or 0)
    written = calls
    if leaf.op == "first":
        written = written.removesuffix('.order_by("pk")')
    elif leaf.op == "last":
        written = written.removesuffix('.order_by("-pk")').removesuffix(".reverse()")
    words = []
    if index >= 0:
        words.append("last" if leaf.op == "last" else "first" if index == 0 else f"row_{index}")
    if ".filter(" in calls or ".exclude(" in calls:
        words.append(_filter_word(leaf) or "filtered")
    elif not words:
        words.append("ordered" if ".order_by(" in calls else "filtered")
    owner_cls = _model(leaf.parent.model) if leaf.parent is not None else None
    to_attr = _free_name(owner_cls, "_".join([*words, relation.accessor]))
    inner = f"{leaf.model_name}.{leaf.manager}{shape or '.all()'}"
    code = f'Prefetch("{lookup}", queryset={inner}, to_attr="{to_attr}")'
    owner = leaf.parent.model_name.lower() if leaf.parent else "obj"
    written = f"{owner}.{relation.accessor}{written}"
    if index >= 0 and leaf.op in ("first", "last"):
        read = f"{owner}.{to_attr}[0] if {owner}.{to_attr} else None"
        written += f".{leaf.op}()"
    elif index >= 0:
        read = f"{owner}.{to_attr}[0]"
        written += f"[{index}]"
    else:
        read = f"{owner}.{to_attr}"
        written += match.group(0) if match else "" if "(" in written else ".all()"
    extra = f" then read {read} instead of {written}"
    if relation.prefetched:
        extra += f" (on a prefetched manager, {written.split('.', 1)[-1]} runs a new query)"
    return code, extra, read


def _fetch_peers_hint(anchor: Load, segments: list[Load], fix: str) -> str:
    if django.VERSION < (6, 1) or anchor.parent is not None:
        return ""
    if fix == "only" or all(s.kind in SINGLE_KINDS or s.kind == "gfk" for s in segments):
        return f"{_manager_expr(anchor)}.fetch_mode(models.FETCH_PEERS)"
    return ""


# A fix to a queryset: (the anchor load's id, the queryset as written, whether it
# has select_related() of everything, the select_related and the prefetch_related
# lookups it adds, (suggestion, message) as the application writes them).
_Fixes = tuple[int, str, bool, list[str], list[str], tuple[str, str]]
_Result = tuple[NPlusOneFinding, _Fixes, Load]


def _relation_finding(group: _Group, groups: dict[_GroupKey, _Group], sql_chars: int) -> _Result:
    anchor, lookup, segments = _anchor(group, groups)
    lookup = _through_to_attr(anchor, lookup)
    leaf = group.loads[0]
    queries = group.all_queries
    first = group.queries[0]
    if group.filtered or anchor.custom_iterable:
        # A custom iterable (a CMS's "specific" rows) builds its rows with
        # queries of its own: select_related does not reach them, a prefetch
        # runs on the rows it yields.
        fix = "prefetch_related"
    elif all(s.kind in SINGLE_KINDS and s.via != "prefetch" for s in segments):
        fix = "select_related"
    else:
        fix = "prefetch_related"

    select, prefetch, complete = _existing_eager(anchor)
    select_all = anchor.select_related is True
    model_label = anchor.model
    base, base_complete = _base(anchor)
    complete = complete and base_complete

    relation = leaf.relation
    extra = read = ""
    if group.filtered and relation is not None:
        added_prefetch, extra, read = _per_row_prefetch(group, leaf, lookup)
        prefetch = [p for p in prefetch if p != lookup]
        prefetch.append(added_prefetch)
    elif fix == "select_related":
        select = merge_lookups(select, lookup)
    else:
        prefetch = merge_lookups(prefetch, lookup)
    suggestion = _render_eager(base, select, prefetch, select_all and fix == "select_related")
    if anchor.custom_iterable and not group.filtered:
        # Its queryset is written as the package wants it (a specific() call):
        # the fix is what to add to it, not a queryset to paste over it.
        suggestion = f'.prefetch_related("{lookup}")'
        extra = (
            f" (append it to the queryset: its rows come from {anchor.custom_iterable}, "
            "which select_related does not reach)"
        )
    if relation is not None and group.filtered:
        added = [prefetch[-1]]
        added_select: list[str] = []
    elif fix == "select_related":
        added, added_select = [], [lookup]
    else:
        added, added_select = [lookup], []
    peers = _fetch_peers_hint(anchor, segments, fix)
    field_name = leaf.segment
    chain = ".".join([group.root.model_name, *group.path.split("__")])
    message = (
        f"N+1: {len(queries)} queries followed {chain} one row at a time. "
        f"Add to your query: {suggestion}{extra}"
    )
    if peers:
        message += f" (or on Django 6.1: {peers})"
    if not complete:
        message += _INCOMPLETE
    finding = NPlusOneFinding(
        model=model_label,
        field=field_name,
        fix=fix,
        lookup=lookup,
        suggestion=suggestion,
        count=len(queries),
        duration_ms=round(sum(q.duration_ms for q in queries), 3),
        origin=_origin(anchor) or _origin(group.root),
        access_site=first.site,
        sql=preview(first.sql, sql_chars),
        message=message,
        path=group.path,
        relation=leaf.kind,
        rows=len(group.owners) + sum(len(g.owners) for g in group.absorbed),
        stack=first.stack,
        frames=[list(f) for f in first.frames],
        fetch_peers=peers,
        third_party=third_party_label(anchor, anchor.first_query, first),
        read=read,
    )
    label = finding.third_party
    # As the application writes it, should an application class own the queryset.
    fixes = (
        anchor.id,
        base,
        select_all,
        added_select,
        added,
        (finding.suggestion, finding.message),
    )
    if label and label["owner"] == "package":
        finding.suggestion = _in_package(suggestion, base, label)
        if label["override"]:
            finding.message = finding.message.replace(suggestion, finding.suggestion)
        else:
            finding.message = finding.message.replace(
                "Add to your query:", f"The fix, for {label['package']} to make:"
            )
    return finding, fixes, anchor


def _in_package(code: str, base: str, label: dict[str, Any]) -> str:
    """The fix of a queryset a package builds: when an overridable method builds
    it, written for your subclass's override, on top of what the package returns."""
    override = label.get("override")
    if override and code.startswith(base):
        return f"super().{override.rsplit('.', 1)[1]}(){code[len(base):]}"
    return code


def _merge_added(
    additions: Iterable[tuple[list[str], list[str]]], select: list[str], prefetch: list[str]
) -> tuple[list[str], list[str]]:
    """``select`` and ``prefetch`` with the (select, prefetch) lookups of each addition."""
    for added_select, added_prefetch in additions:
        for lookup in added_select:
            select = merge_lookups(select, lookup)
        for lookup in added_prefetch:
            if lookup.startswith("Prefetch("):
                prefetch.append(lookup)
            else:
                prefetch = merge_lookups(prefetch, lookup)
    return select, prefetch


def _combine(results: list[_Result]) -> None:
    """Give the findings that fix the same queryset one statement with all fixes."""
    by_anchor: dict[int, list[_Result]] = {}
    for finding, fixes, anchor in results:
        by_anchor.setdefault(fixes[0], []).append((finding, fixes, anchor))
    for entries in by_anchor.values():
        if len(entries) < 2 or entries[0][2].custom_iterable:
            continue  # a custom iterable's fixes are each a prefetch to append
        anchor = entries[0][2]
        base, select_all = entries[0][1][1], entries[0][1][2]
        select, prefetch, _complete = _existing_eager(anchor)
        additions = [(fixes[3], fixes[4]) for _finding, fixes, _anchor in entries]
        select, prefetch = _merge_added(additions, select, prefetch)
        combined = _render_eager(base, select, prefetch, select_all and not select)
        label = entries[0][0].third_party
        if label and label["owner"] == "package":
            combined = _in_package(combined, base, label)
        for finding, _fixes, _anchor in entries:
            finding.combined_suggestion = combined


def _owner_lookups(
    finding: NPlusOneFinding, fixes: _Fixes, anchor: Load
) -> tuple[Load, list[str], list[str]]:
    """The root queryset a framework object owns, and what to add to it: below
    a single object (a DetailView's ``author.books``) the whole path."""
    if anchor.parent is None or any(p.startswith("Prefetch(") for p in fixes[4]):
        return anchor, fixes[3], fixes[4]
    return anchor.root, [], [finding.path]


def _locate(recorder: Recorder, results: list[_Result]) -> None:
    """Each finding's fix, and all fixes to its queryset, in the owner's form."""
    by_target: dict[int, list[tuple[NPlusOneFinding, Load, tuple[list[str], list[str]]]]] = {}
    for finding, fixes, anchor in results:
        target, select, prefetch = _owner_lookups(finding, fixes, anchor)
        finding.where = owner_fix(recorder, target, select, prefetch)
        if claim(finding):
            finding.suggestion, finding.message = fixes[5]
        by_target.setdefault(target.id, []).append((finding, target, (select, prefetch)))
    for entries in by_target.values():
        if len(entries) < 2 or not entries[0][0].where:
            continue
        select, prefetch = _merge_added([added for _f, _t, added in entries], [], [])
        combined = owner_fix(recorder, entries[0][1], select, prefetch)
        for finding, _target, _added in entries:
            finding.where["combined"] = combined


def _deferred_finding(group: _Group, sql_chars: int) -> NPlusOneFinding:
    leaf = group.loads[0]
    root = group.root
    attname = leaf.segment
    owner = leaf.parent
    prefix = owner.path if owner is not None else ""
    lookup = f"{prefix}__{attname}" if prefix else attname
    # Field names, not attnames, go into only(): author_id -> author.
    model_cls = _model(owner.model if owner is not None else root.model)
    field_name = attname
    if model_cls is not None:
        for model_field in model_cls._meta.concrete_fields:
            if model_field.attname == attname:
                field_name = model_field.name
                break
    lookup = f"{prefix}__{field_name}" if prefix else field_name
    names: list[str] = []
    defer = True
    if root.query is not None:
        loading, defer = root.query.deferred_loading
        names = sorted(loading)
    # The rest of the chain stays: filters, ordering, select_related...
    base, complete = written_queryset(root, deferred=False)
    if defer:
        remaining = [n for n in names if n != lookup]
        suggestion = base + (f".defer({quoted(remaining)})" if remaining else "")
    else:
        suggestion = f"{base}.only({quoted(sorted({*names, lookup}))})"
    if "(" not in suggestion:
        suggestion += ".all()"
    queries = group.queries
    peers = _fetch_peers_hint(root, [], "only")
    message = (
        f"N+1: {len(queries)} queries loaded the deferred field "
        f"{owner.model_name if owner else ''}.{field_name} one row at a time. "
        f"Load it with the rows: {suggestion}"
    )
    if peers:
        message += f" (or on Django 6.1: {peers})"
    if not complete:
        message += _INCOMPLETE
    first = queries[0]
    return NPlusOneFinding(
        model=root.model,
        field=field_name,
        fix="only",
        lookup=lookup,
        suggestion=suggestion,
        count=len(queries),
        duration_ms=round(sum(q.duration_ms for q in queries), 3),
        origin=_origin(root),
        access_site=first.site,
        sql=preview(first.sql, sql_chars),
        message=message,
        path=lookup,
        relation="deferred",
        rows=len(group.owners),
        stack=first.stack,
        frames=[list(f) for f in first.frames],
        fetch_peers=peers,
        third_party=third_party_label(root, root.first_query, first),
    )


_SINGLE_OBJECT_OPS = ("get", "first", "last", "aget", "afirst", "alast")


def _single_object_groups(loads: list[Load]) -> dict[tuple[str, str, tuple[Any, ...]], list[Load]]:
    """Root loads of one object (get(), first(), last()), by model, statement and line."""
    fingerprints = FINGERPRINTS
    groups: dict[tuple[str, str, tuple[Any, ...]], list[Load]] = {}
    for load in loads:
        if load.via != "root" or load.op not in _SINGLE_OBJECT_OPS or load.first_query is None:
            continue
        query = load.first_query
        key = (load.model, fingerprints[query.sql], query.site_key)
        groups.setdefault(key, []).append(load)
    return groups


def _rows_of(group: list[Load]) -> set[tuple[str, Any]]:
    return {
        (load.first_query.sql, params_key(load.first_query.params))
        for load in group
        if load.first_query is not None
    }


def _lookup_key(load: Load, model_cls: type[Model] | None) -> tuple[str, Any] | None:
    """The one unique field the lookup was by, and its value (("pk", 3),
    ("isbn", "x")); None when it was not by one (``filter(author=a).first()``
    is not a row by its key)."""

    pk_names = {"pk", "id"}
    if model_cls is not None:
        pk_names |= {model_cls._meta.pk.name, model_cls._meta.pk.attname}
    query = load.query
    try:
        kwargs = (
            decompile._plain_kwargs(decompile.where_to_q(query, query.where))
            if query is not None
            else None
        )
    except Exception:
        kwargs = None
    if not kwargs:
        return None
    found = []
    for key, value in kwargs:
        if key in pk_names:
            found.append(("pk", value))
            continue
        try:
            model_field = model_cls._meta.get_field(key) if model_cls is not None else None
            unique = getattr(model_field, "unique", False)  # a reverse relation has none
        except Exception:
            unique = False
        if unique:
            found.append((key, value))
    return found[0] if len(found) == 1 else None


def _in_bulk_base(load: Load, key: str) -> str:
    """The code's queryset without the lookup by key: what in_bulk() runs on."""
    drop = {key, "pk", "id"}
    model_cls = _model(load.model)
    if model_cls is not None:
        drop |= {model_cls._meta.pk.name, model_cls._meta.pk.attname}
    calls, _complete = chain_code.read_back(
        lambda: chain_code.filter_calls(load.query, drop) if load.query is not None else "", ""
    )
    select, prefetch, _complete = _existing_eager(load)
    return _render_eager(_manager_expr(load) + calls, select, prefetch, False).removesuffix(
        ".all()"
    )


def _in_bulk(group: list[Load]) -> tuple[str, str] | None:
    """(key, the code to run in_bulk() on) for a loop of single-object lookups
    that differ only in the key's value, else None."""
    model_cls = _model(group[0].model)
    found = [_lookup_key(load, model_cls) for load in group]
    keys = [key for key in found if key is not None]
    if len(keys) != len(found) or len({key[0] for key in keys}) != 1:
        return None
    bases = {_in_bulk_base(load, keys[0][0]) for load in group}
    return (keys[0][0], bases.pop()) if len(bases) == 1 else None


def _single_object_findings(
    loads: list[Load], min_queries: int, sql_chars: int
) -> list[NPlusOneFinding]:
    findings = []
    for (model, _fp, _site_key), group in _single_object_groups(loads).items():
        if len(group) < min_queries or len(_rows_of(group)) < 2 or _is_walk(group):
            continue  # one row loaded again and again is a duplicate, not an N+1
        first = group[0]
        query = first.first_query
        assert query is not None
        in_bulk = _in_bulk(group)
        if in_bulk is None:
            continue
        key, base = in_bulk
        if key == "pk":
            suggestion = f"{base}.in_bulk(ids)"
        else:
            suggestion = f'{base}.in_bulk(values, field_name="{key}")'
        queries = [load.first_query for load in group if load.first_query is not None]
        call = first.op
        findings.append(
            NPlusOneFinding(
                model=model,
                field=key,
                fix="in_bulk",
                lookup=key,
                suggestion=suggestion,
                count=len(queries),
                duration_ms=round(sum(q.duration_ms for q in queries), 3),
                origin=query.site,
                access_site=query.site,
                sql=preview(query.sql, sql_chars),
                message=(
                    f"N+1: {len(queries)} .{call}() calls on {first.model_name} from one line. "
                    f"Fetch them in one query: {suggestion}, then look each one up in the dict."
                ),
                path="",
                relation=first.op.removeprefix("a"),
                rows=len(_rows_of(group)),
                stack=query.stack,
                frames=[list(f) for f in query.frames],
                third_party=third_party_label(first, query, query),
            )
        )
    return findings


def _is_walk(group: list[Load]) -> bool:
    """Each get() starts from the row an earlier one returned (a tree's parent,
    one object per URL path segment), or the site calls itself: the ids are not
    known before the walk, so there is no loop to fetch in bulk."""
    ids: set[int] = set()
    pks: set[Any] = set()  # what the earlier get() calls returned
    linked = 0
    for load in group:
        op = load.get_op
        if op is None:
            continue
        # A step: from a row an earlier get() returned (passed in, or the row
        # whose method runs it), or from its pk to a row none returned yet (the
        # same row again is a repeated lookup, not a step).
        if op.inputs[0] & ids or (op.inputs[1] & pks and op.result_pk not in pks):
            linked += 1
        ids.add(load.id)
        if op.result_pk is not None:
            pks.add(op.result_pk)
    # Most get() calls step from an earlier one (a walk may run twice): a walk.
    if linked and linked * 2 >= len(group):
        return True
    query = group[0].first_query
    seen = set()
    for filename, _line, function in [*query.library, *query.frames] if query else ():
        if (filename, function) in seen:
            return True
        seen.add((filename, function))
    return False
def _prefetch_per_instance_findings(
    loads: list[Load], min_queries: int, sql_chars: int
) -> list[NPlusOneFinding]:
    """``prefetch_related_objects([obj], "rel")`` once per instance in a loop."""
    groups: dict[tuple[int | str, tuple[Any, ...]], list[Load]] = {}
    for load in loads:
        query = load.first_query
        if load.via != "prefetch" or not load.owner_key or query is None:
            continue
        owner = load.parent
        key = (owner.root.id if owner is not None else load.model, query.site_key)
        groups.setdefault(key, []).append(load)
    findings = []
    for group in groups.values():
        queries = [q for load in group for q in [load.first_query] if q is not None]
        owners = {load.owner_key for load in group}
        if len(queries) < min_queries or len(owners) < 2:
            continue
        first = group[0]
        lookups: list[str] = []
        for load in group:
            lookups = merge_lookups(lookups, load.path or load.segment)
        owner = first.parent
        owner_name = owner.model_name if owner is not None else "obj"
        once = f"prefetch_related_objects({_plural(owner_name)}, {quoted(lookups)})"
        suggestion, advice = once, f"Call it once over the whole list: {once}"
        if owner is not None:
            root = owner.root
            base, complete = _base(root)
            select, prefetch, eager_complete = _existing_eager(root)
            for lookup in lookups:
                prefetch = merge_lookups(prefetch, lookup)
            if complete and eager_complete:
                suggestion = _render_eager(base, select, prefetch, root.select_related is True)
                advice = f"Prefetch with the rows: {suggestion} (or call it once: {once})"
        query = queries[0]
        findings.append(
            NPlusOneFinding(
                model=owner.root.model if owner is not None else first.model,
                field=first.segment,
                fix="prefetch_related",
                lookup=", ".join(lookups),
                suggestion=suggestion,
                count=len(queries),
                duration_ms=round(sum(q.duration_ms for q in queries), 3),
                origin=_origin(owner.root) if owner is not None else "",
                access_site=query.site,
                sql=preview(query.sql, sql_chars),
                message=(
                    f"N+1: prefetch_related_objects() ran once per {owner_name} "
                    f"({len(owners)} rows, {len(queries)} queries). {advice}."
                ),
                path=", ".join(lookups),
                relation="prefetch_related_objects",
                rows=len(owners),
                stack=query.stack,
                frames=[list(f) for f in query.frames],
            )
        )
    return findings


def _plural(name: str) -> str:
    from ddt_perfpanels.analysis.counts.base import _plural

    return _plural(name)


def find_duplicate_loads(
    recorder: Recorder, min_queries: int = 2, sql_chars: int = 2000
) -> list[DuplicateLoadFinding]:
    """Rows loaded again by get()/first()/last() with the same statement and
    parameters (outside the loops an in_bulk() finding already covers)."""
    covered: set[int] = set()
    for (_label, _fp, _site), group in _single_object_groups(recorder.loads).items():
        if len(group) >= min_queries and len(_rows_of(group)) >= 2 and _in_bulk(group):
            covered.update(load.id for load in group)
    same: dict[tuple[Any, ...], list[Load]] = {}
    for load in recorder.loads:
        query = load.first_query
        if load.via != "root" or load.op not in _SINGLE_OBJECT_OPS or query is None:
            continue
        if load.id in covered:
            continue
        # The row: its model and key, whichever call loaded it (get() and
        # filter().first() differ in SQL); else the statement and parameters.
        row = _lookup_key(load, _model(load.model))
        identity = (
            (load.model, row[0], params_key([row[1]]))
            if row is not None and _in_bulk_base(load, row[0]) == _manager_expr(load)
            else (query.sql, params_key(query.params))
        )
        same.setdefault((query.alias, *identity), []).append(load)
    findings = []
    for loads in same.values():
        if len(loads) < 2:
            continue
        first = loads[0]
        queries = [load.first_query for load in loads if load.first_query is not None]
        sites = [q.site for q in queries]
        known = list(dict.fromkeys(site for site in sites if site))
        if not known:
            where = "both inside Django or a library (no line of your application on the stack)"
        else:
            where = "at " + ", ".join(known)
            if len(known) < len(sites) and "" in sites:
                where += " and inside Django or a library"
        row = _lookup_key(first, _model(first.model))
        key = row[0] if row is not None else ""
        by = f" by {key}" if key else ""
        findings.append(
            DuplicateLoadFinding(
                model=first.model,
                lookup=key,
                count=len(queries),
                duration_ms=round(sum(q.duration_ms for q in queries[1:]), 3),
                sites=sites,
                sql=preview(queries[0].sql, sql_chars),
                message=(
                    f"Duplicate query: the same {first.model_name} row was loaded{by} "
                    f"{len(queries)} times, {where}. Load it once and pass the object along "
                    "(this is not an N+1: eager loading or in_bulk() would not help)."
                ),
            )
        )
    findings.sort(key=lambda f: (-f.count, f.model))
    return findings


def find_nplusone(
    recorder: Recorder, min_queries: int = 2, sql_chars: int = 2000
) -> list[NPlusOneFinding]:
    groups = _lazy_groups(recorder.queries)
    clusters = [
        g for g in groups.values() if len(g.queries) >= min_queries and len(g.owners) >= 2
    ]
    # Chains are one finding: the deepest path absorbs the clusters on its way.
    clusters.sort(key=lambda g: -g.path.count("__"))
    leaves: list[_Group] = []
    for group in clusters:
        if group.via == "lazy" and not group.filtered:
            target = next(
                (
                    leaf
                    for leaf in leaves
                    if leaf.root is group.root
                    and leaf.via == "lazy"
                    and leaf.path.startswith(group.path + "__")
                ),
                None,
            )
            if target is not None:
                target.absorbed.append(group)
                continue
        leaves.append(group)
    findings = []
    relation_results = []
    for group in leaves:
        if group.via == "deferred":
            finding = _deferred_finding(group, sql_chars)
            finding.where = owner_fix_deferred(recorder, group.root, finding.lookup)
            claim(finding)
            findings.append(finding)
        else:
            result = _relation_finding(group, groups, sql_chars)
            relation_results.append(result)
            finding = result[0]
        finding.access = access_of(recorder, group.loads[0])
    # Who owns each queryset first: a finding the application claims from a
    # package gets the application's combined statement.
    _locate(recorder, relation_results)
    _combine(relation_results)
    findings.extend(finding for finding, _fixes, _anchor in relation_results)
    findings.extend(_single_object_findings(recorder.loads, min_queries, sql_chars))
    findings.extend(_prefetch_per_instance_findings(recorder.loads, min_queries, sql_chars))
    findings.sort(key=lambda f: (-f.count, f.model, f.lookup))
    return findings


def drop_ignored_fixes(kept: list[NPlusOneFinding], ignored: list[NPlusOneFinding]) -> None:
    """No "all the fixes in one statement" of the kept findings brings back the
    fix of an ignored one."""
    combined = {f.combined_suggestion for f in ignored if f.combined_suggestion}
    for finding in kept:
        if finding.combined_suggestion in combined:
            finding.combined_suggestion = ""


def _queryset_code(load: Load) -> str | None:
    """The queryset as the code wrote it, with its filter and ordering, or None
    when it holds something this cannot write back."""
    from ddt_perfpanels.analysis.decompile import _filter_call, _Unreadable, where_to_q

    base = _queryset_expr(load)
    query = load.query
    if query is None:
        return base
    if (
        load.custom_iterable
        or query.annotations
        or query.distinct
        or query.extra
        or query.combinator
        or query.deferred_loading != (frozenset(), True)
    ):
        return None
    relation = load.relation
    if relation is not None:
        # A related manager: its own filter is the relation; the code's filters ride along.
        text = base + "".join(render_call(m, a, k) for m, a, k in relation.filters)
    else:
        try:
            text = base + _filter_call(_named_values(load, where_to_q(query, query.where)))
        except _Unreadable:
            return None
    if query.order_by:
        text += f".order_by({quoted([str(o) for o in query.order_by])})"
    return text


def _named_values(load: Load, q: Q) -> Q:
    """The filter with the values the code passed in as variables named as such:
    ``parent=page`` rather than the runtime ``parent=2``, ``pk=pk``, ``pk__in=ids``."""
    from django.db.models import Q

    from ddt_perfpanels.analysis.code import CodeName

    model = _model(load.model)
    out = Q()
    out.connector, out.negated = q.connector, q.negated
    for child in decompile.q_children(q):
        if isinstance(child, Q):
            out.children.append(_named_values(load, child))
            continue
        key, value = child
        name, _, lookup = key.partition("__")
        if name in ("pk", "id") or (model is not None and name == model._meta.pk.name):
            value = CodeName("ids" if lookup == "in" else "pk")
        elif model is not None and not lookup and not isinstance(value, (bool, type(None))):
            try:
                field = model._meta.get_field(name)
            except Exception:
                field = None
            if field is not None and field.is_relation and field.related_model is not None:
                value = CodeName(field.related_model.__name__.lower())
        out.children.append((key, value))
    return out


# Where an eager lookup was added: (file:line, who: "app", "method", "shared" or
# "library", (file, function) of the application's function that added it).
_EagerSite = tuple[str, str, tuple[str, str] | None]


def _eager_site(load: Load, path: str) -> _EagerSite | None:
    """Where the lookup covering ``path`` was added, when it was added in the capture."""
    for lookup, value in (load.eager_sites or {}).items():
        if lookup == path or lookup.startswith(path + "__") or path.startswith(lookup + "__"):
            return value
    return None


def _uncertainty(load: Load, added: _EagerSite | None) -> str:
    """Why removing the lookup might add queries elsewhere ("" when it cannot)."""
    if added is None:
        return (
            "it was added before this request (a class attribute or a module-level "
            "queryset), so other requests may read it"
        )
    site, owner, function = added
    evaluated = load.first_query.frames if load.first_query is not None else ()
    if owner == "app" and function is not None and function not in {
        (f[0], f[2]) for f in evaluated
    }:
        # A helper that returned the queryset: other pages may call it too.
        return (
            f"it is added in {function[1]}() ({site}), which returned the queryset to "
            "other code: other callers may read it"
        )
    if owner == "shared":
        return (
            f"it is added by a manager or queryset method ({site}) that every caller "
            "shares: other pages may read it"
        )
    if owner == "library":
        # A package's, or a contrib app's from a setting (list_select_related).
        return f"it is added by code outside your application ({site})"
    if load.custom_iterable:
        return "the rows come from a custom iterable that builds them with queries of its own"
    return ""


def _unused(
    load: Load, fix: str, lookup: str, code: str | None, did: str
) -> UnusedEagerFinding:
    added = _eager_site(load, lookup)
    reason = _uncertainty(load, added)
    where = f" at {added[0]}" if added and added[0] else ""
    if reason:
        message = (
            f'{fix}("{lookup}") {did} that nothing read in this request, but {reason}. '
            "Check the other readers before removing it."
        )
    else:
        message = f'Unused eager loading: {fix}("{lookup}") {did} that nothing read. '
        message += f"Remove it{where}" + (f": {code}" if code else ".")
    return UnusedEagerFinding(
        model=load.model,
        fix=fix,
        lookup=lookup,
        suggestion=code or "",
        origin=_origin(load),
        message=message,
        certain=not reason,
        reason=reason,
        added_at=added[0] if added else "",
        third_party=third_party_label(load, load.first_query),
    )


def _eager_lookups(
    load: Load, used: set[tuple[int, str]]
) -> Iterator[tuple[str, str, bool, str | None]]:
    """(fix, lookup, read, the queryset without it) for each eager lookup of a load."""
    # A slice is left out: a paginator takes it as often as the code does.
    code = _queryset_code(load)
    select, prefetch, _complete = _existing_eager(load)

    def read(path: str) -> bool:
        return (load.root.id, f"{load.path}__{path}" if load.path else path) in used

    def kept(path: str) -> list[str]:
        """The deepest proper prefix of the lookup whose objects were read:
        select_related("author") for an unused "author__publisher" whose author was."""
        parts = path.split("__")
        for i in range(len(parts) - 1, 0, -1):
            if read("__".join(parts[:i])):
                return ["__".join(parts[:i])]
        return []

    for path in select:
        remaining = [p for p in select if p != path] + kept(path)
        without = code and _render_eager(code, remaining, prefetch, False)
        yield "select_related", path, read(path), without
    for through, to_attr in load.prefetch:
        if to_attr:
            continue  # a to_attr list is read as a plain attribute: not observable
        deeper = any(read(other) for other, _ in load.prefetch if other.startswith(through + "__"))
        remaining = [p for p in prefetch if p != through] + kept(through)
        without = code and _render_eager(code, select, remaining, False)
        yield "prefetch_related", through, read(through) or deeper, without


_DID = {"select_related": "joined a table", "prefetch_related": "ran a query for rows"}


def find_unused_eager(recorder: Recorder) -> list[UnusedEagerFinding]:
    """Eager lookups whose objects nothing read, once per queryset (its model,
    lookup and origin), and none that any evaluation of that queryset read."""
    found: dict[tuple[str, str, str, Any], UnusedEagerFinding | None] = {}
    for load in recorder.loads:
        if load.rows == 0 or load.via in ("select_related", "prefetch", "support"):
            continue
        if not load.select_related and not load.prefetch:
            continue
        site = load.first_query.site_key if load.first_query is not None else None
        for fix, lookup, was_read, without in _eager_lookups(load, recorder.used_eager):
            # One queryset: where its lookup was added, else where it was evaluated.
            added = _eager_site(load, lookup)
            key = (load.model, fix, lookup, added[0] if added else site)
            if was_read:
                found[key] = None  # one evaluation of this queryset needed it
            elif key not in found:
                unused = found[key] = _unused(load, fix, lookup, without, _DID[fix])
                unused.where = owner_removal(recorder, load, fix, lookup)
                claim(unused)
    return [finding for finding in found.values() if finding is not None]
