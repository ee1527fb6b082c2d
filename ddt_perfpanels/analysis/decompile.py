"""Reading Django's ``sql.Query`` objects back into the ORM lookups that built
them (``Q`` objects, ``filter(...)`` calls, relation paths): what every suggestion
that keeps the application's own filters writes from."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal, cast

from django.db.models import F, Q
from django.db.models.expressions import Col
from django.db.models.fields.reverse_related import ForeignObjectRel
from django.db.models.lookups import Lookup, Transform
from django.db.models.sql.query import Query
from django.db.models.sql.where import WhereNode

from ddt_perfpanels.analysis.code import render_q, render_value
from ddt_perfpanels.analysis.models import _is_generic

if TYPE_CHECKING:
    from django.contrib.contenttypes.fields import GenericRelation
    from django.db.models import Model
    from django.db.models.fields.related import RelatedField


class _Step:
    """One relation on a lookup path, and how to come back along it."""

    __slots__ = ("name", "multi", "target", "back", "generic")

    def __init__(
        self, name: str, multi: bool, target: type[Model], back: str, generic: bool = False
    ) -> None:
        self.name = name
        self.multi = multi
        self.target = target
        self.back = back  # lookup from target back to the previous model ("" if none)
        self.generic = generic


def _path_steps(model: type[Model], names: Iterable[str]) -> list[_Step]:
    steps = []
    for name in names:
        f = model._meta.get_field(name)
        if not f.is_relation or f.related_model is None:
            raise _Unreadable(f"{name} is not a relation")
        multi = bool(f.many_to_many or f.one_to_many)
        if _is_generic(f):
            # By its class name: contenttypes may not be installed. The back lookup
            # is the related_query_name= it was given (not the method of that name).
            back = cast("GenericRelation", f).remote_field.related_query_name or ""
            steps.append(_Step(name, True, f.related_model, back, generic=True))
        elif isinstance(f, ForeignObjectRel):
            steps.append(_Step(name, multi, f.related_model, f.field.name))
        else:
            forward = cast("RelatedField[Any, Any]", f)  # a relation, not a reverse one
            steps.append(_Step(name, multi, f.related_model, forward.related_query_name()))
        model = f.related_model
    return steps


# -- reading sql.Query objects back into ORM lookups ---------------------------------


class _Unreadable(Exception):
    """A part of a query that has no plain ORM spelling (raw SQL, subqueries...)."""


def _through_m2m(rel: ForeignObjectRel) -> str | None:
    """The (name, is_forward) of the many-to-many that ``rel`` (a reverse FK into
    an auto-created through table) is the first half of; None otherwise."""
    through = rel.related_model
    # django-stubs says bool: it is False or the model that declared the many-to-many.
    declaring = (
        cast("type[Model] | Literal[False]", through._meta.auto_created)
        if through is not None
        else None
    )
    if not declaring:
        return None
    for m2m in declaring._meta.local_many_to_many:
        if m2m.remote_field.through is through:
            if rel.field.name == m2m.m2m_field_name():
                return m2m.name
            return m2m.related_query_name()
    return None


def _join_names(query: Query, alias: str) -> tuple[list[str], bool]:
    """The lookup path from the query's model to a table alias, and whether the
    alias is the through table of a many-to-many (its far column is the relation)."""
    chain: list[Any] = []  # Joins, or a package's join class (it has a parent_alias)
    while True:
        join = query.alias_map.get(alias)
        if join is None:
            raise _Unreadable(f"unknown alias {alias}")
        parent = getattr(join, "parent_alias", None)
        if parent is None:
            break
        chain.append(join)
        alias = parent
    chain.reverse()
    names: list[str] = []
    on_through = False
    skip = False
    for join in chain:
        if skip:
            skip = False
            on_through = False
            continue
        f = join.join_field
        if getattr(join, "filtered_relation", None) is not None:
            raise _Unreadable("FilteredRelation")
        if _is_generic(f):
            names.append(f.field.name if isinstance(f, ForeignObjectRel) else f.name)
        elif isinstance(f, ForeignObjectRel):
            m2m = _through_m2m(f)
            if m2m is not None:
                names.append(m2m)
                skip = on_through = True
            else:
                names.append(f.name)
        else:
            names.append(f.name)
    return names, on_through


def _col_path(query: Query, col: Col) -> list[str]:
    names, on_through = _join_names(query, col.alias)
    if on_through:
        return names  # the far key of a through table: the relation itself
    return [*names, col.target.name]


def _relation_path(query: Query, col: Col) -> tuple[str, ...]:
    """What a Count() over this column counts: the relation, not the column."""
    names, on_through = _join_names(query, col.alias)
    if on_through:
        return tuple(names)
    if col.target.is_relation:
        return (*names, col.target.name)
    return tuple(names)


def _lhs_path(query: Query, lhs: object) -> str:
    if isinstance(lhs, Col):
        return "__".join(_col_path(query, lhs))
    if isinstance(lhs, Transform) and getattr(lhs, "lookup_name", None):
        return f"{_lhs_path(query, lhs.lhs)}__{lhs.lookup_name}"
    raise _Unreadable(type(lhs).__name__)


def _lookup_child(query: Query, lookup: Lookup) -> tuple[str, Any]:
    path = _lhs_path(query, lookup.lhs)
    name = lookup.lookup_name
    key = path if name == "exact" else f"{path}__{name}"
    value = lookup.rhs
    if isinstance(value, Col):
        value = F("__".join(_col_path(query, value)))
    elif hasattr(value, "resolve_expression"):
        raise _Unreadable(type(value).__name__)
    return key, value


def where_to_q(query: Query, node: object) -> Q:
    """A WHERE tree as the Q object that would produce it."""
    if not isinstance(node, WhereNode):
        raise _Unreadable(type(node).__name__)
    q = Q()
    q.connector = node.connector
    q.negated = node.negated
    children: list[Any] = []
    for child in node.children:
        if isinstance(child, WhereNode):
            sub = where_to_q(query, child)
            if not sub.negated and (sub.connector == q.connector or len(sub.children) == 1):
                children.extend(sub.children)  # AND inside AND: flatten
            else:
                children.append(sub)
        elif isinstance(child, Lookup):
            children.append(_lookup_child(query, child))
        else:
            raise _Unreadable(type(child).__name__)
    q.children = children
    return q


def q_children(q: Q) -> list[Q | tuple[str, Any]]:
    """The children of a Q that where_to_q built (or one of the same shape):
    Q objects and (lookup, value) pairs. django-stubs types them as any Node."""
    return cast("list[Q | tuple[str, Any]]", q.children)


def prefix_q(q: Q, prefix: str) -> Q:
    """The same filter, seen from a model ``prefix`` away (published -> books__published)."""
    out = Q()
    out.connector = q.connector
    out.negated = q.negated
    for child in q_children(q):
        if isinstance(child, Q):
            out.children.append(prefix_q(child, prefix))
        else:
            key, value = child
            if isinstance(value, F):
                value = F(f"{prefix}__{value.name}")  # type: ignore[attr-defined]  # not in django-stubs
            out.children.append((f"{prefix}__{key}", value))
    return out


def _without_keys(q: Q, keys: set[str]) -> Q:
    """Drop top-level AND lookups on ``keys`` (a related manager's own filter)."""
    if q.connector != "AND" or q.negated:
        return q
    out = Q()
    out.children = [c for c in q.children if not (isinstance(c, tuple) and c[0] in keys)]
    return out


def _plain_kwargs(q: Q) -> list[tuple[str, Any]] | None:
    """The lookups of a plain ``filter(a=1, b=2)``, or None."""
    if q.negated or (q.connector != "AND" and len(q.children) > 1):
        return None
    pairs = [c for c in q_children(q) if isinstance(c, tuple)]
    if len(pairs) != len(q.children):
        return None
    return pairs


def _kwargs_text(kwargs: list[tuple[str, Any]]) -> str:
    return ", ".join(f"{k}={render_value(v)}" for k, v in kwargs)


def q_expr(q: Q) -> str:
    """render_q without the outer parentheses: Q(a=1) & ~Q(b=2)."""
    text = render_q(q)
    if text.startswith("(") and text.endswith(")"):
        depth = 0
        for index, char in enumerate(text):
            depth += char == "("
            depth -= char == ")"
            if depth == 0 and index < len(text) - 1:
                return text
        return text[1:-1]
    return text


def _filter_call(q: Q | None) -> str:
    """``.filter(a=1).exclude(b=2)``: how the code would have written the filter."""
    if q is None or not q.children:
        return ""
    kwargs = _plain_kwargs(q)
    if kwargs is not None:
        return f".filter({_kwargs_text(kwargs)})"
    if q.connector != "AND" or q.negated:
        return f".filter({q_expr(q)})"
    plain = [c for c in q_children(q) if isinstance(c, tuple)]
    text = f".filter({_kwargs_text(plain)})" if plain else ""
    for child in q_children(q):
        if isinstance(child, tuple):
            continue
        negated = _plain_kwargs(~child) if child.negated else None
        if negated:
            text += f".exclude({_kwargs_text(negated)})"
        else:
            text += f".filter({q_expr(child)})"
    return text


def _q_text(q: Q | None) -> str:
    return render_q(q) if q is not None and q.children else ""
