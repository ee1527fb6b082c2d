"""The calls that built a recorded queryset, written back as code.

A suggestion replaces the code's queryset: it must keep what that queryset
already did (its filters, ordering, only()/defer(), the queryset= of its
Prefetch objects), or the pasted fix changes the result. Everything here
reads the ``sql.Query`` the recorder kept; a part with no plain ORM spelling
raises ``Unreadable`` and the caller says so instead of guessing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ddt_perfpanels.analysis import decompile
from ddt_perfpanels.analysis.code import flatten_select_related, quoted

if TYPE_CHECKING:
    from django.db.models.sql.query import Query

Unreadable = decompile._Unreadable
_T = TypeVar("_T")


def _ordering(query: Query) -> str:
    items = query.order_by or ()  # a tuple (django-stubs also allows None)
    order_by = [item for item in items if isinstance(item, str)]
    if len(order_by) != len(items):
        raise Unreadable("an ordering expression")
    text = ""
    default = list(query.model._meta.ordering or ()) if query.model is not None else []
    if order_by and order_by != default:  # the model's own ordering goes without saying
        text = f".order_by({quoted(order_by)})"
    elif not query.default_ordering:
        text = ".order_by()"
    if not query.standard_ordering:
        text += ".reverse()"
    return text


def filter_calls(query: Query, drop: set[str] | frozenset[str] = frozenset()) -> str:
    """``.filter(...).exclude(...)`` of the query's WHERE, without the lookups in
    ``drop`` (what a related manager adds by itself)."""
    q = decompile.where_to_q(query, query.where)
    if drop:
        q = decompile._without_keys(q, set(drop))
    return decompile._filter_call(q)


def query_calls(
    query: Query,
    drop: set[str] | frozenset[str] = frozenset(),
    *,
    slicing: bool = False,
    deferred: bool = True,
) -> str:
    """The calls after ``Model.objects`` that give this query, eager loading
    excepted (the callers write that themselves)."""
    if query.combinator or query.extra or query.values_select or query.annotations:
        raise Unreadable("values(), extra(), annotations or a combinator")
    text = filter_calls(query, drop)
    if query.distinct:
        text += f".distinct({quoted(list(query.distinct_fields))})"
    text += _ordering(query)
    names, defer = query.deferred_loading
    if names and deferred:
        text += f".{'defer' if defer else 'only'}({quoted(sorted(names))})"
    if slicing and query.is_sliced:
        low = query.low_mark or ""
        high = query.high_mark if query.high_mark is not None else ""
        text += f"[{low}:{high}]"
    return text


def queryset_code(queryset: Any) -> str:
    """A whole queryset (the queryset= of a Prefetch) as code."""
    model = queryset.model
    manager = getattr(model._default_manager, "name", None) or "objects"
    query = queryset.query
    text = f"{model.__name__}.{manager}{query_calls(query, slicing=True)}"
    select = query.select_related
    if select is True:
        text += ".select_related()"
    elif select:
        text += f".select_related({quoted(flatten_select_related(select))})"
    lookups = [
        lookup if isinstance(lookup, str) else lookup.prefetch_through
        for lookup in queryset._prefetch_related_lookups
    ]
    if any(not isinstance(lookup, str) for lookup in queryset._prefetch_related_lookups):
        raise Unreadable("a Prefetch inside a Prefetch")
    if lookups:
        text += f".prefetch_related({quoted(lookups)})"
    return text


def read_back(render: Callable[[], str], fallback: _T) -> tuple[str | _T, bool]:
    """``(render(), True)``, or ``(fallback, False)`` when the query has a part
    with no plain ORM spelling."""
    try:
        return render(), True
    except (Unreadable, LookupError, AttributeError, TypeError, ValueError):
        return fallback, False
