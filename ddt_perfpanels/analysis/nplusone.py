"""N+1 clusters and unused eager loads, from the loads and queries a capture saw.

A lazy load remembers the load that produced its instance, so every query
caused by ``book.author.publisher`` knows its path from the root queryset
("author__publisher") and which row it was for.  A cluster is a (root, path)
with queries for at least two rows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import django

from ddt_perfpanels.analysis.code import (
    flatten_select_related,
    merge_lookups,
    quoted,
    render_call,
)
from ddt_perfpanels.analysis.sql import FINGERPRINTS, preview
from ddt_perfpanels.analysis.thirdparty import third_party_label
from ddt_perfpanels.recording.context import SINGLE_KINDS, Load, QueryRecord


@dataclass
class NPlusOneFinding:
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
    stack: list[str] = field(default_factory=list)
    frames: list[list[Any]] = field(default_factory=list)  # [file, line, function]
    fetch_peers: str = ""  # the Django 6.1 alternative, when there is one
    # Every fix for the same queryset in one statement, when it has several.
    combined_suggestion: str = ""
    # When a package's code is involved: analysis.thirdparty.third_party_label().
    third_party: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class UnusedEagerFinding:
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
    third_party: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Group:
    __slots__ = ("root", "path", "via", "filtered", "queries", "owners", "loads", "absorbed")

    def __init__(self, root: Load, path: str, via: str, filtered: bool):
        self.root = root
        self.path = path
        self.via = via
        self.filtered = filtered
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


def _is_filtered(load: Load) -> bool:
    relation = load.relation
    return relation is not None and bool(relation.filters or relation.prefetched)


def _lazy_groups(queries: list[QueryRecord]) -> dict[tuple, _Group]:
    groups: dict[tuple, _Group] = {}
    for query in queries:
        load = query.cause
        if not isinstance(load, Load) or load.via not in ("lazy", "deferred"):
            continue
        if load.parent is None:
            continue  # the instance was not loaded inside this capture
        filtered = _is_filtered(load)
        name = load.segment if load.via == "deferred" else ""
        # One code site repeating over rows: reads of one path at two places
        # are two sites, not one loop.
        key = (load.root.id, load.path, load.via, filtered, name, query.site_key)
        group = groups.get(key)
        if group is None:
            group = groups[key] = _Group(load.root, load.path, load.via, filtered)
        group.queries.append(query)
        group.owners.add(load.owner_key)
        if not group.loads or group.loads[-1] is not load:
            group.loads.append(load)
    return groups


def _site(query: QueryRecord | None) -> str:
    return query.site if query is not None else ""


def _origin(load: Load) -> str:
    return _site(load.first_query)


def _manager_expr(load: Load) -> str:
    return f"{load.model_name}.{load.manager}"


def _queryset_expr(load: Load) -> str:
    """How the code wrote this queryset: ``Book.objects`` or ``author.books``."""
    if load.parent is not None and load.via == "lazy":
        return f"{load.parent.model_name.lower()}.{load.segment}"
    relation = load.relation
    if relation is not None and relation.owner_name and relation.kind not in SINGLE_KINDS:
        # A related manager of an object loaded before the capture started.
        return f"{relation.owner_name.lower()}.{relation.accessor}"
    return _manager_expr(load)


def _existing_eager(load: Load) -> tuple[list[str], list[str]]:
    select = flatten_select_related(load.select_related)
    prefetch = [
        f'Prefetch("{through}", to_attr="{to_attr}")' if to_attr else through
        for through, to_attr in load.prefetch
    ]
    return select, prefetch


def _render_eager(base: str, select: list[str], prefetch: list[str], select_all: bool) -> str:
    text = base
    if select_all:
        text += ".select_related()"
    elif select:
        text += f".select_related({quoted(select)})"
    if prefetch:
        parts = [p if p.startswith("Prefetch(") else f'"{p}"' for p in prefetch]
        text += f".prefetch_related({', '.join(parts)})"
    if text == base and not base.endswith((")", "]")):
        text += ".all()"
    return text


def _anchor(group: _Group, groups: dict[tuple, _Group]) -> tuple[Load, str, list[Load]]:
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


def _to_attr_name(accessor: str, filters: tuple) -> str:
    for _method, _args, kwargs in filters:
        for key, value in kwargs.items():
            if value is True and "__" not in key:
                return f"{key}_{accessor}"
    return f"filtered_{accessor}"


def _fetch_peers_hint(anchor: Load, segments: list[Load], fix: str) -> str:
    if django.VERSION < (6, 1) or anchor.parent is not None:
        return ""
    if fix == "only" or all(s.kind in SINGLE_KINDS or s.kind == "gfk" for s in segments):
        return f"{_manager_expr(anchor)}.fetch_mode(models.FETCH_PEERS)"
    return ""


def _relation_finding(group: _Group, groups: dict[tuple, _Group], sql_chars: int):
    anchor, lookup, segments = _anchor(group, groups)
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

    select, prefetch = _existing_eager(anchor)
    select_all = anchor.select_related is True
    model_label = anchor.model
    base = _queryset_expr(anchor)

    relation = leaf.relation
    extra = ""
    if group.filtered and relation is not None:
        to_attr = _to_attr_name(relation.accessor, relation.filters)
        filters = "".join(render_call(m, a, k) for m, a, k in relation.filters)
        inner = f"{leaf.model_name}.{leaf.manager}{filters or '.all()'}"
        prefetch = [p for p in prefetch if p != lookup]
        prefetch.append(f'Prefetch("{lookup}", queryset={inner}, to_attr="{to_attr}")')
        owner = leaf.parent.model_name.lower() if leaf.parent else "obj"
        call = filters or ".all()"
        extra = f" then read {owner}.{to_attr} instead of {owner}.{relation.accessor}{call}"
        if relation.prefetched:
            extra += " (a .filter() on a prefetched manager runs a new query)"
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
    fixes = (anchor.id, base, select_all, added_select, added)
    peers = _fetch_peers_hint(anchor, segments, fix)
    field_name = leaf.segment
    chain = ".".join([group.root.model_name, *group.path.split("__")])
    message = (
        f"N+1: {len(queries)} queries followed {chain} one row at a time. "
        f"Add to your query: {suggestion}{extra}"
    )
    if peers:
        message += f" (or on Django 6.1: {peers})"
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
    )
    label = finding.third_party
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


def _combine(results) -> None:
    """Give the findings that fix the same queryset one statement with all fixes."""
    by_anchor: dict[int, list] = {}
    for finding, fixes, anchor in results:
        by_anchor.setdefault(fixes[0], []).append((finding, fixes, anchor))
    for entries in by_anchor.values():
        if len(entries) < 2 or entries[0][2].custom_iterable:
            continue  # a custom iterable's fixes are each a prefetch to append
        anchor = entries[0][2]
        base, select_all = entries[0][1][1], entries[0][1][2]
        select, prefetch = _existing_eager(anchor)
        for _finding, (_id, _base, _all, added_select, added_prefetch), _anchor in entries:
            for lookup in added_select:
                select = merge_lookups(select, lookup)
            for lookup in added_prefetch:
                if lookup.startswith("Prefetch("):
                    prefetch.append(lookup)
                else:
                    prefetch = merge_lookups(prefetch, lookup)
        combined = _render_eager(base, select, prefetch, select_all and not select)
        label = entries[0][0].third_party
        if label and label["owner"] == "package":
            combined = _in_package(combined, base, label)
        for finding, _fixes, _anchor in entries:
            finding.combined_suggestion = combined


def _deferred_finding(group: _Group, sql_chars: int) -> NPlusOneFinding:
    leaf = group.loads[0]
    root = group.root
    attname = leaf.segment
    owner = leaf.parent
    prefix = owner.path if owner is not None else ""
    lookup = f"{prefix}__{attname}" if prefix else attname
    # Field names, not attnames, go into only(): author_id -> author.
    model_cls = _model_class(owner.model if owner is not None else root.model)
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
    base = _manager_expr(root)
    if defer:
        remaining = [n for n in names if n != lookup]
        suggestion = base + (f".defer({quoted(remaining)})" if remaining else ".all()")
    else:
        suggestion = f"{base}.only({quoted(sorted({*names, lookup}))})"
    queries = group.queries
    peers = _fetch_peers_hint(root, [], "only")
    message = (
        f"N+1: {len(queries)} queries loaded the deferred field "
        f"{owner.model_name if owner else ''}.{field_name} one row at a time. "
        f"Load it with the rows: {suggestion}"
    )
    if peers:
        message += f" (or on Django 6.1: {peers})"
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


def _model_class(label: str):
    from django.apps import apps

    try:
        return apps.get_model(label)
    except (LookupError, ValueError):
        return None


def _get_in_loop_findings(loads: list[Load], min_queries: int, sql_chars: int):
    fingerprints = FINGERPRINTS
    groups: dict[tuple, list[Load]] = {}
    for load in loads:
        if load.via != "root" or load.op != "get" or load.first_query is None:
            continue
        query = load.first_query
        key = (load.model, fingerprints[query.sql], query.site_key)
        groups.setdefault(key, []).append(load)
    findings = []
    for (model, _fp, _site_key), group in groups.items():
        if len(group) < min_queries or _is_walk(group):
            continue
        rows = {load.get_op.result_pk for load in group if load.get_op is not None}
        if len(rows) < 2:
            continue  # one row looked up again and again: a repeat, not a loop over rows
        first = group[0]
        query = first.first_query
        assert query is not None
        keys = [k.split("__")[0] for k in first.get_keys]
        key = keys[0] if len(keys) == 1 else "pk"
        model_cls = _model_class(model)
        pk_names = {"pk", "id"}
        if model_cls is not None:
            pk_names |= {model_cls._meta.pk.name, model_cls._meta.pk.attname}
        if key in pk_names:
            key = "pk"
            suggestion = f"{_manager_expr(first)}.in_bulk(ids)"
        else:
            suggestion = f'{_manager_expr(first)}.in_bulk(values, field_name="{key}")'
        queries = [load.first_query for load in group if load.first_query is not None]
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
                    f"N+1: {len(queries)} .get() calls on {first.model_name} from one line. "
                    f"Fetch them in one query: {suggestion}, then look each one up in the dict."
                ),
                path="",
                relation="get",
                rows=len(queries),
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
    pks: set = set()  # what the earlier get() calls returned
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


def find_nplusone(recorder, min_queries: int = 2, sql_chars: int = 2000) -> list[NPlusOneFinding]:
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
            findings.append(_deferred_finding(group, sql_chars))
        else:
            relation_results.append(_relation_finding(group, groups, sql_chars))
    _combine(relation_results)
    findings.extend(finding for finding, _fixes, _anchor in relation_results)
    findings.extend(_get_in_loop_findings(recorder.loads, min_queries, sql_chars))
    findings.sort(key=lambda f: (-f.count, f.model, f.lookup))
    return findings


def _queryset_code(load: Load) -> str | None:
    """The queryset as the code wrote it, with its filter and ordering, or None
    when it holds something this cannot write back."""
    from ddt_perfpanels.analysis.counts import _filter_call, _Unreadable, where_to_q

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


def _named_values(load: Load, q):
    """The filter with the values the code passed in as variables named as such:
    ``parent=page`` rather than the runtime ``parent=2``, ``pk=pk``, ``pk__in=ids``."""
    from django.db.models import Q

    from ddt_perfpanels.analysis.code import CodeName

    model = _model_class(load.model)
    out = Q()
    out.connector, out.negated = q.connector, q.negated
    for child in q.children:
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


def _eager_site(load: Load, path: str) -> tuple | None:
    """Where the lookup covering ``path`` was added, when it was added in the capture."""
    for lookup, value in (load.eager_sites or {}).items():
        if lookup == path or lookup.startswith(path + "__") or path.startswith(lookup + "__"):
            return value
    return None


def _uncertainty(load: Load, added: tuple | None) -> str:
    """Why removing the lookup might add queries elsewhere ("" when it cannot)."""
    if added is None:
        return (
            "it was added before this request (a class attribute or a module-level "
            "queryset), so other requests may read it"
        )
    site, owner, function = added
    evaluated = load.first_query.frames if load.first_query is not None else ()
    if owner == "app" and function not in {(f[0], f[2]) for f in evaluated}:
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


def _eager_lookups(load: Load, used: set[tuple[int, str]]):
    """(fix, lookup, read, the queryset without it) for each eager lookup of a load."""
    # A slice is left out: a paginator takes it as often as the code does.
    code = _queryset_code(load)
    select, prefetch = _existing_eager(load)

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


def find_unused_eager(recorder) -> list[UnusedEagerFinding]:
    """Eager lookups whose objects nothing read, once per queryset (its model,
    lookup and origin), and none that any evaluation of that queryset read."""
    found: dict[tuple, UnusedEagerFinding | None] = {}
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
                found[key] = _unused(load, fix, lookup, without, _DID[fix])
    return [finding for finding in found.values() if finding is not None]
