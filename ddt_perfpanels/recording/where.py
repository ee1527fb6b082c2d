"""Where the code lives: which framework object owns a root queryset, and which
piece of application code (a serializer field, a ``list_display`` column, a
model method) made a lazy load.

When the admin, Django REST framework or a generic class-based view evaluates
a queryset, no frame of the application is on the stack: the code to change is
the ``ModelAdmin``, the API view or the ``ListView`` whose attribute or
``get_queryset()`` produced it. The database hook calls :func:`note` once for
the first query of each load; a walk reads the ``self`` of a few frames and
keeps classes (never instances, which hold the request) in
``recorder.extras["where"]``. DRF is optional: its classes are looked up in
``sys.modules`` and never imported here.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeGuard, TypeVar

from ddt_perfpanels.recording.stack import is_app_file

if TYPE_CHECKING:
    from ddt_perfpanels.recording.context import Load, Recorder

EXTRA = "where"
# Frames walked at most, from the query outwards.
_MAX_FRAMES = 200

_T = TypeVar("_T")


class Owner:
    """The framework object whose queryset a root load evaluated."""

    __slots__ = ("kind", "cls", "model", "attribute", "parent")

    def __init__(
        self,
        kind: str,
        cls: type,
        model: str = "",
        attribute: Any = None,
        parent: type | None = None,
    ):
        # "admin" (its changelist), "admin_view" (another of its views), "inline",
        # "drf", "cbv"
        self.kind = kind
        self.cls = cls  # the application's class (BookAdmin, BookViewSet)
        self.model = model  # "app.Model" its queryset is of, when known
        # admin: the list_select_related in effect; drf/cbv: unused.
        self.attribute = attribute
        self.parent = parent  # inline: the ModelAdmin class it belongs to


class Access:
    """The application code that made one cluster's lazy loads."""

    __slots__ = (
        "serializer",
        "field",
        "field_class",
        "source",
        "method",
        "admin",
        "column",
        "column_kind",
        "model_method",
        "nested_in",
        "function",
    )

    def __init__(self) -> None:
        self.serializer: type | None = None  # DRF: the serializer class declaring the field
        self.field = ""  # its field name
        self.field_class = ""  # "ListSerializer", "SerializerMethodField", ...
        self.source = ""  # a dotted source="author.publisher.name"
        self.method = ""  # SerializerMethodField: the get_* method
        self.nested_in: list[tuple[type, str]] = []  # the fields that nest the serializer
        # (file, line) of a plain function in list_display (an @admin.display one).
        self.function: tuple[str, int] | None = None
        self.admin: type | None = None  # admin: the ModelAdmin whose list_display ran
        self.column = ""  # the list_display (or readonly_fields) entry
        self.column_kind = ""  # "list_display" | "readonly_fields"
        # (model class, method name): a model method, property or __str__.
        self.model_method: tuple[type, str] | None = None


class WhereRecords:
    """Kept in ``recorder.extras["where"]``."""

    def __init__(self) -> None:
        self.owners: dict[int, Owner | None] = {}  # root load id -> owner
        self.access: dict[tuple[int, str], Access | None] = {}  # (root id, path) -> access

    def absorb(self, other: WhereRecords) -> None:
        self.owners.update(other.owners)
        for key, value in other.access.items():
            self.access.setdefault(key, value)


def records(recorder: Recorder) -> WhereRecords | None:
    where: WhereRecords | None = recorder.extras.get(EXTRA)
    return where


def note(recorder: Recorder, load: Load, skip: int = 1, start: FrameType | None = None) -> None:
    """The first query of ``load`` runs now: remember who owns it (a root) or
    what read it (a lazy load), once per cluster. ``start``: the frame that asked
    for the rows, when known: the walk starts there, not through the ORM and the
    database backend's frames (each frame's locals are read, and reading them
    builds a dict)."""
    where: WhereRecords | None = recorder.extras.get(EXTRA)
    if where is None:
        where = recorder.extras[EXTRA] = WhereRecords()
    via = load.via
    if via == "root":
        frame = start if start is not None else sys._getframe(skip + 1)
        where.owners[load.id] = _find_owner(frame, load.model)
    elif via in ("lazy", "deferred") and load.parent is not None:
        key = (load.root.id, load.path)
        if key not in where.access:
            frame = start if start is not None else sys._getframe(skip + 1)
            where.access[key] = _find_access(frame)


# -- the framework classes, when their modules are loaded -------------------------------


def _class(module: str, name: str) -> type | None:
    loaded = sys.modules.get(module)
    return getattr(loaded, name, None) if loaded is not None else None


def _first_local(frame: FrameType) -> Any:
    code = frame.f_code
    if not code.co_argcount or code.co_varnames[0] != "self":
        return None
    return frame.f_locals.get("self")


def _model_label(model: Any) -> str:
    meta = getattr(model, "_meta", None)
    return getattr(meta, "label", "") or ""


def _view_model(view: Any) -> str:
    """The model of a view's queryset: its ``queryset``, its ``model``, or its
    serializer's ``Meta.model``; "" when it only has a ``get_queryset()``."""
    queryset = getattr(view, "queryset", None)
    model = getattr(queryset, "model", None) or getattr(view, "model", None)
    if model is None:
        meta = getattr(getattr(view, "serializer_class", None), "Meta", None)
        model = getattr(meta, "model", None)
    return _model_label(model)


def _is(value: object, cls: type[_T] | None) -> TypeGuard[_T]:
    """isinstance() without asking the value: a lazy object (``request.user``)
    would load itself, and run a query, to answer ``__class__``."""
    return cls is not None and issubclass(type(value), cls)


def _owner_of(value: Any, model: str) -> Owner | None:
    """``value`` (a frame's self or local) as the owner of a ``model`` queryset."""
    change_list = _class("django.contrib.admin.views.main", "ChangeList")
    if _is(value, change_list):
        admin = value.model_admin
        return Owner("admin", type(admin), _model_label(value.model), admin.list_select_related)
    inline_formset = _class("django.contrib.admin.helpers", "InlineAdminFormSet")
    if inline_formset is not None and _is(value, inline_formset):
        inline = value.opts
        parent = getattr(value, "model_admin", None)
        return Owner(
            "inline",
            type(inline),
            _model_label(inline.model),
            None,
            type(parent) if parent is not None else None,
        )
    inline_admin = _class("django.contrib.admin.options", "InlineModelAdmin")
    if inline_admin is not None and _is(value, inline_admin):
        return Owner("inline", type(value), _model_label(value.model), None, None)
    model_admin = _class("django.contrib.admin.options", "ModelAdmin")
    if model_admin is not None and _is(value, model_admin):
        # Not its changelist (that is a ChangeList): list_select_related does not apply.
        return Owner("admin_view", type(value), _model_label(value.model))
    api_view = _class("rest_framework.generics", "GenericAPIView")
    if api_view is not None and _is(value, api_view):
        return Owner("drf", type(value), _view_model(value))
    for mixin in ("MultipleObjectMixin", "SingleObjectMixin"):
        module = "django.views.generic.list" if mixin[0] == "M" else "django.views.generic.detail"
        cls = _class(module, mixin)
        if cls is not None and _is(value, cls):
            return Owner("cbv", type(value), _view_model(value))
    return None


def _context_owner(context: Any, model: str) -> Owner | None:
    """A template's context: the admin's ``cl`` or a generic view's ``view``."""
    get = getattr(context, "get", None)
    if get is None:
        return None
    for name in ("cl", "inline_admin_formset", "view"):
        try:
            value = get(name)
        except Exception:
            continue
        if value is not None:
            owner = _owner_of(value, model)
            if owner is not None:
                return owner
    return None


_CONTEXT_NAMES = ("cl", "inline", "inline_admin_formset", "view")


def _frames(frame: FrameType | None) -> Iterator[FrameType]:
    """The frames from ``frame`` outwards, up to the handler that called the view."""
    from ddt_perfpanels.recording.stack import is_view_caller

    for _ in range(_MAX_FRAMES):
        if frame is None or is_view_caller(frame.f_code):
            return
        yield frame
        frame = frame.f_back


def _matches(owner: Owner | None, model: str) -> bool:
    return owner is not None and (not owner.model or not model or owner.model == model)


def _find_owner(start: FrameType | None, model: str) -> Owner | None:
    """The innermost framework object that owns a ``model`` queryset, unless an
    application frame that is not one of them evaluated it first (the
    application's own code is then where the fix goes)."""
    base_context = _class("django.template.context", "BaseContext")
    template_context = None
    for frame in _frames(start):
        # The changelist (``cl``) or inline a ModelAdmin's view works on comes
        # before the ModelAdmin itself (``self``).
        local = frame.f_locals
        for name in _CONTEXT_NAMES:
            value = local.get(name)
            candidate = _owner_of(value, model) if value is not None else None
            if _matches(candidate, model):
                return candidate
        this = _first_local(frame)
        owner = _owner_of(this, model) if this is not None else None
        if _matches(owner, model):
            return owner
        if template_context is None and _is(local.get("context"), base_context):
            template_context = local["context"]
        if owner is None and is_app_file(frame.f_code.co_filename):
            return None  # the application evaluated it: its own line is the place
    if template_context is not None:
        owner = _context_owner(template_context, model)
        if _matches(owner, model):
            return owner
    return None


# -- the lazy-load site -----------------------------------------------------------------


def _find_access(start: FrameType | None) -> Access | None:
    from django.db.models import Model

    field_cls = _class("rest_framework.fields", "Field")
    lookup_code = None
    utils = sys.modules.get("django.contrib.admin.utils")
    if utils is not None:
        lookup_code = utils.lookup_field.__code__
    access = Access()
    found = False
    for frame in _frames(start):
        code = frame.f_code
        if code is lookup_code:
            local = frame.f_locals
            admin = local.get("model_admin")
            name = local.get("name")
            if admin is not None:
                access.admin = type(admin)
                access.column = name if _is(name, str) else getattr(name, "__name__", "")
                code_of = getattr(name, "__code__", None)
                if code_of is not None:
                    access.function = (code_of.co_filename, code_of.co_firstlineno)
                caller = frame.f_back.f_code.co_name if frame.f_back is not None else ""
                access.column_kind = {
                    "items_for_result": "list_display",
                    "contents": "readonly_fields",
                }.get(caller, "")
                found = True
            break
        module = frame.f_globals.get("__name__", "")
        if field_cls is not None and module.startswith("rest_framework."):
            this = _first_local(frame)
            if _is(this, field_cls) and getattr(this, "parent", None) is not None:
                _drf_field(access, this)
                if access.serializer is not None:
                    found = True
                    break
        elif access.model_method is None and is_app_file(code.co_filename):
            this = _first_local(frame)
            if _is(this, Model):
                access.model_method = (type(this), code.co_name)
                found = True
    return access if found else None


def _drf_field(access: Access, field: Any) -> None:
    """The declared field of a serializer class: a ListSerializer(many=True)
    or a ManyRelatedField stands for the field it wraps."""
    parent = field.parent
    list_serializer = _class("rest_framework.serializers", "ListSerializer")
    if list_serializer is not None and _is(parent, list_serializer):
        # The child of a many=True serializer: the list is the declared field.
        field, parent = parent, parent.parent
        if parent is None:
            return
    many_related = _class("rest_framework.relations", "ManyRelatedField")
    if many_related is not None and _is(parent, many_related):
        field, parent = parent, parent.parent
        if parent is None:
            return
    if not getattr(field, "field_name", ""):
        return
    access.serializer = type(parent)
    access.field = field.field_name
    if type(field).__name__ in ("ListSerializer", "ManyRelatedField"):
        child = getattr(field, "child", None) or getattr(field, "child_relation", None)
        access.field_class = f"{type(child).__name__}(many=True)" if child is not None else ""
    else:
        access.field_class = type(field).__name__
    source = getattr(field, "source", "") or ""
    if source and source != field.field_name and source != "*":
        access.source = source
    method = getattr(field, "method_name", "")
    if method:
        access.method = method
    # A nested serializer: the declared fields it sits in, innermost first.
    outer = parent
    for _ in range(10):
        if outer is None or outer.parent is None or not getattr(outer, "field_name", ""):
            break
        holder = outer.parent
        if _is(holder, list_serializer):
            outer, holder = holder, holder.parent
            if holder is None:
                break
        access.nested_in.append((type(holder), outer.field_name))
        outer = holder
