"""A load's queryset written back as code, as the application wrote it: shared
by every suggestion (the N+1 fixes, the counts rewrites, where the fix goes)."""

from __future__ import annotations

from functools import partial

from ddt_perfpanels.analysis import chain as chain_code
from ddt_perfpanels.analysis.code import flatten_select_related, quoted
from ddt_perfpanels.analysis.models import _model, _model_named, _relation_info
from ddt_perfpanels.recording.context import SINGLE_KINDS, Load


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


def _core_keys(load: Load) -> set[str]:
    """The lookups a related manager adds by itself (``author=<author>``)."""
    relation = load.relation
    if relation is None:
        return set()
    if relation.owner is not None:
        owner_cls = _model(relation.owner.model)
    else:
        owner_cls = _model_named(relation.owner_name, load.model)
    info = _relation_info(owner_cls, relation.accessor)
    return set(info.core) if info is not None else set()


def _existing_eager(load: Load) -> tuple[list[str], list[str], bool]:
    """The select_related and prefetch_related lookups of a load as code, and
    whether every Prefetch(queryset=...) could be written back."""
    select = flatten_select_related(load.select_related)
    prefetch = []
    complete = True
    for through, to_attr in load.prefetch:
        queryset = load.prefetch_querysets.get(through)
        args = [f'"{through}"']
        if queryset is not None:
            code, readable = chain_code.read_back(partial(chain_code.queryset_code, queryset), "")
            complete = complete and readable
            if readable:
                args.append(f"queryset={code}")
        if to_attr:
            args.append(f'to_attr="{to_attr}"')
        prefetch.append(f"Prefetch({', '.join(args)})" if len(args) > 1 else through)
    return select, prefetch, complete


def _base(load: Load, *, deferred: bool = True) -> tuple[str, bool]:
    """The queryset as the code wrote it, eager loading excepted
    (``Book.objects.filter(published=True).order_by("title")``), and whether
    all of it could be written back."""
    expr = _queryset_expr(load)
    query = load.query
    if query is None:
        return expr, False
    drop = _core_keys(load) if load.relation is not None else set()
    calls, complete = chain_code.read_back(
        lambda: chain_code.query_calls(query, drop, deferred=deferred), ""
    )
    return expr + calls, complete


def written_queryset(load: Load, *, deferred: bool = True) -> tuple[str, bool]:
    """The whole queryset of a load as code, eager loading included (for a fix
    that adds a call to it), and whether all of it could be written back."""
    base, complete = _base(load, deferred=deferred)
    select, prefetch, eager_complete = _existing_eager(load)
    if select or prefetch or load.select_related is True:
        base = _render_eager(base, select, prefetch, load.select_related is True)
    return base, complete and eager_complete


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
