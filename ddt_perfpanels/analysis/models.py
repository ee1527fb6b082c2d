"""Models and relations looked up by label and name, for every analysis: a
load knows its model by label (``"testapp.Book"``) and a relation by its accessor."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django.db.models.fields.reverse_related import ForeignObjectRel

if TYPE_CHECKING:
    from django.contrib.contenttypes.fields import GenericRelation
    from django.db.models import Model


def _model(label: str) -> type[Model] | None:
    from django.apps import apps

    try:
        return apps.get_model(label)
    except (LookupError, ValueError):
        return None


def _model_named(name: str, related_label: str) -> type[Model] | None:
    """The model class called ``name`` that has a relation to ``related_label``
    (for instances loaded before the capture, whose load is unknown)."""
    from django.apps import apps

    for model in apps.get_models():
        if model.__name__ != name:
            continue
        for f in model._meta.get_fields():
            related = getattr(f, "related_model", None)
            if related is not None and related._meta.label == related_label:
                return model
    for model in apps.get_models():
        if model.__name__ == name:
            return model
    return None


def _is_generic(obj: object) -> bool:
    return type(obj).__name__ in ("GenericRelation", "GenericRel")


class _RelInfo:
    """A multi-valued relation of ``owner``, seen from both ends."""

    __slots__ = ("owner", "accessor", "query_name", "related", "back", "core", "generic")

    def __init__(
        self,
        owner: type[Model],
        accessor: str,
        query_name: str,
        related: type[Model],
        back: str,
        core: set[str],
        generic: tuple[str, str] | None = None,
    ) -> None:
        self.owner = owner  # the model class the manager hangs off
        self.accessor = accessor  # author.<accessor>
        self.query_name = query_name  # Count("<query_name>")
        self.related = related  # the model class counted
        self.back = back  # the lookup from ``related`` back to ``owner``
        self.core = core  # WHERE keys the related manager adds itself
        self.generic = generic  # (content_type field, object_id field) for a GenericRelation


def _relation_info(owner_cls: type[Model] | None, accessor: str) -> _RelInfo | None:
    if owner_cls is None:
        return None
    for f in owner_cls._meta.get_fields():
        if isinstance(f, ForeignObjectRel):
            if _is_generic(f) or f.get_accessor_name() != accessor:
                continue
            if f.many_to_many:
                core = {f.field.name, f"{f.field.name}__{f.field.target_field.name}"}
            else:
                core = {f.field.name}
            return _RelInfo(owner_cls, accessor, f.name, f.related_model, f.field.name, core)
        if f.name != accessor or not f.is_relation:
            continue
        related = f.related_model
        if related is None:  # a GenericForeignKey: no model of its own
            continue
        if _is_generic(f):
            # By its class name: contenttypes may not be installed.
            relation = cast("GenericRelation", f)
            generic = (relation.content_type_field_name, relation.object_id_field_name)
            # The related_query_name= it was given (not the method of that name).
            back = relation.remote_field.related_query_name or ""
            return _RelInfo(owner_cls, accessor, f.name, related, back, set(generic), generic)
        if f.many_to_many:
            # A ManyToManyField, or a package's field that works like one.
            m2m: Any = f
            back = m2m.related_query_name()
            core = {back, f"{back}__{m2m.m2m_target_field_name()}"}
            return _RelInfo(owner_cls, accessor, f.name, related, back, core)
    return None
