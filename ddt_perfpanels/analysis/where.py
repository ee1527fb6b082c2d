"""Where the fix goes: the fix to a root queryset written in the form the code
that owns it takes (a ``ModelAdmin`` attribute, a view's ``queryset`` or its
``get_queryset()``), with the file and line to change; and the lazy-load site
named as the code that made it (a serializer field, a ``list_display`` column,
a model method).

Reads what recording/where.py kept, and the source of the owner's class (with
``inspect`` and ``ast``, once per class).
"""

from __future__ import annotations

import ast
import functools
import inspect
import textwrap
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, Protocol

from ddt_perfpanels.analysis.code import merge_lookups, quoted
from ddt_perfpanels.recording.stack import is_app_file, short_path
from ddt_perfpanels.recording.where import Access, Owner, records

if TYPE_CHECKING:
    from ddt_perfpanels.recording.context import Load, Recorder

_P = ParamSpec("_P")

_KIND_WORDS = {
    "admin": "admin changelist",
    "admin_view": "admin view",
    "inline": "admin inline",
    "drf": "REST framework view",
    "cbv": "class-based view",
}


def _never_raises(
    function: Callable[Concatenate[Recorder, _P], dict[str, Any]],
) -> Callable[Concatenate[Recorder, _P], dict[str, Any]]:
    """A failure here costs the owner's form of the fix, never the finding."""

    @functools.wraps(function)
    def call(recorder: Recorder, /, *args: _P.args, **kwargs: _P.kwargs) -> dict[str, Any]:
        try:
            return function(recorder, *args, **kwargs)
        except Exception as exc:
            recorder.internal_error(f"finding where the fix goes ({function.__name__})", exc)
            return {}

    return call


# -- reading the application's classes ------------------------------------------------


class _ClassSource:
    """Where a class's attributes and methods are written."""

    def __init__(self, cls: type):
        self.file = ""
        self.line = 0
        self.assigns: dict[str, tuple[int, str]] = {}  # name -> (line, value source)
        self.defs: dict[str, tuple[int, str]] = {}  # name -> (line, dedented source)
        try:
            filename = inspect.getsourcefile(cls) or ""
            lines, start = inspect.getsourcelines(cls)
        except (OSError, TypeError):
            return
        self.file = filename
        self.line = start
        source = textwrap.dedent("".join(lines))
        try:
            tree = ast.parse(source)
        except SyntaxError:
            return
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        if body:
            # The ``class`` line, below its decorators (@admin.register(...)).
            self.line = start + tree.body[0].lineno - 1
        for node in body:
            if isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                value = ast.get_source_segment(source, node.value) if node.value else ""
                for target in targets:
                    if isinstance(target, ast.Name):
                        self.assigns[target.id] = (start + node.lineno - 1, value or "")
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                text = "\n".join(source.splitlines()[node.lineno - 1 : node.end_lineno])
                self.defs[node.name] = (start + node.lineno - 1, textwrap.dedent(text))


@lru_cache(maxsize=256)
def _source(cls: type) -> _ClassSource:
    return _ClassSource(cls)


def _app_classes(cls: type) -> list[type]:
    """The classes of ``cls``'s MRO written by the application, innermost first."""
    found = []
    for klass in cls.__mro__:
        module = inspect.getmodule(klass)
        filename = getattr(module, "__file__", None)
        if filename and is_app_file(filename):
            found.append(klass)
    return found


def _defined(cls: type, name: str, *, method: bool) -> tuple[type, int, str] | None:
    """(class, line, source) of the application's own ``name`` in ``cls``'s MRO."""
    for klass in _app_classes(cls):
        source = _source(klass)
        table = source.defs if method else source.assigns
        # A serializer's declared fields are in its source, not in vars().
        if name in table:
            line, text = table[name]
            return klass, line, text
        if name in vars(klass):
            return klass, source.line, ""
    return None


def _site(cls: type, line: int = 0) -> tuple[str, int]:
    source = _source(cls)
    return short_path(source.file) if source.file else "", line or source.line


# -- the fix in the owner's form -----------------------------------------------------


def _calls(select: list[str], prefetch: list[str], other: str) -> str:
    text = ""
    if select:
        text += f".select_related({quoted(select)})"
    if prefetch:
        parts = [p if p.startswith("Prefetch(") else f'"{p}"' for p in prefetch]
        text += f".prefetch_related({', '.join(parts)})"
    return text + other


def _return_rewritten(method_source: str, calls: str) -> str | None:
    """The method with its one ``return <queryset>`` extended by ``calls``."""
    try:
        tree = ast.parse(method_source)
    except SyntaxError:
        return None
    function = tree.body[0] if tree.body else None
    if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return None
    returns = [
        node.value
        for node in ast.walk(function)
        if isinstance(node, ast.Return) and node.value is not None
    ]
    if len(returns) != 1:
        return None
    value = returns[0]
    segment = ast.get_source_segment(method_source, value)
    if not segment:
        return None
    if not isinstance(value, (ast.Call, ast.Attribute, ast.Name, ast.Subscript)):
        segment = f"({segment})"
    lines = method_source.splitlines()
    assert value.end_lineno is not None  # set by ast.parse
    start, end = value.lineno - 1, value.end_lineno - 1
    before = lines[start][: value.col_offset]
    after = lines[end][value.end_col_offset :]
    new = f"{before}{segment}{calls}{after}"
    return "\n".join([*lines[:start], new, *lines[end + 1 :]])


def _get_queryset_fix(owner: Owner, calls: str, request_arg: bool) -> tuple[str, type, int]:
    """``get_queryset()`` for the owner: its own one rewritten, else an override."""
    own = _defined(owner.cls, "get_queryset", method=True)
    if own is not None:
        klass, line, text = own
        rewritten = _return_rewritten(text, calls) if text else None
        if rewritten:
            return rewritten, klass, line
        return (
            f"# add {calls} to the queryset {klass.__name__}.get_queryset() returns",
            klass,
            line,
        )
    args = "self, request" if request_arg else "self"
    call = "super().get_queryset(request)" if request_arg else "super().get_queryset()"
    text = f"def get_queryset({args}):\n    return {call}{calls}"
    return text, owner.cls, _source(owner.cls).line


def _admin_fix(
    owner: Owner, select: list[str], prefetch: list[str], other: str
) -> tuple[str, str, type, int]:
    parts: list[str] = []
    site_cls, line = owner.cls, 0
    rest = _calls([], prefetch, other)
    if select and owner.kind == "admin":
        existing = owner.attribute
        merged: list[str] = list(existing) if isinstance(existing, (list, tuple)) else []
        for lookup in select:
            merged = merge_lookups(merged, lookup)
        comma = "," if len(merged) == 1 else ""
        text = f"list_select_related = ({quoted(merged)}{comma})"
        if existing is True:
            # True joins the non-null foreign keys only; a tuple names each one.
            text = f"# in place of list_select_related = True: name every relation read\n{text}"
        parts.append(text)
        own = _defined(owner.cls, "list_select_related", method=False)
        if own is not None:
            site_cls, line = own[0], own[1]
        attribute = "list_select_related"
    else:
        rest = _calls(select, prefetch, other)
        attribute = ""
    if rest:
        text, klass, method_line = _get_queryset_fix(owner, rest, request_arg=True)
        parts.append(text)
        if not attribute:
            site_cls, line = klass, method_line
        attribute = "list_select_related and get_queryset()" if attribute else "get_queryset()"
    return "\n\n".join(parts), attribute, site_cls, line


def _view_fix(owner: Owner, anchor: Load, calls: str) -> tuple[str, str, type, int]:
    own_method = _defined(owner.cls, "get_queryset", method=True)
    if own_method is not None:
        text, klass, line = _get_queryset_fix(owner, calls, request_arg=False)
        return text, "get_queryset()", klass, line
    own_qs = _defined(owner.cls, "queryset", method=False)
    if own_qs is not None and own_qs[2]:
        klass, line, value = own_qs
        return f"queryset = {value}{calls}", "queryset", klass, line
    base = f"{anchor.model_name}.{anchor.manager}"
    own_model = _defined(owner.cls, "model", method=False)
    if own_model is not None:
        klass, line, _value = own_model
        return f"queryset = {base}{calls or '.all()'}", "queryset", klass, line
    return f"queryset = {base}{calls or '.all()'}", "queryset", owner.cls, 0


def _owner_of(recorder: Recorder, anchor: Load | None) -> Owner | None:
    if anchor is None or anchor.parent is not None:
        return None
    where = records(recorder)
    return where.owners.get(anchor.id) if where is not None else None


def _describe(
    owner: Owner, attribute: str, site_cls: type, line: int, fix: str
) -> dict[str, Any]:
    file, line = _site(site_cls, line)
    kind = _KIND_WORDS.get(owner.kind, owner.kind)
    where: dict[str, Any] = {
        "owner": owner.cls.__name__,
        "kind": owner.kind,
        "kind_words": kind,
        "attribute": attribute,
        "file": file,
        "line": line,
        "site": f"{file}:{line}" if file else "",
        "fix": fix,
    }
    if owner.kind == "inline" and owner.parent is not None:
        where["parent"] = owner.parent.__name__
    return where


def _framework_class_fix(
    owner: Owner, anchor: Load, select: list[str], prefetch: list[str], other: str
) -> dict[str, Any]:
    """The framework's own class owns the queryset (``admin.site.register(Book)``,
    ``ListView.as_view(model=Book)``): the fix is a class, or an argument, of one's own."""
    model = anchor.model_name
    framework = f"{owner.cls.__module__}.{owner.cls.__name__}"
    if owner.kind in ("admin", "admin_view"):
        body, attribute, _cls, _line = _admin_fix(owner, select, prefetch, other)
        fix = (
            f"class {model}Admin(admin.ModelAdmin):\n"
            + textwrap.indent(body, "    ")
            + f"\n\n\nadmin.site.register({model}, {model}Admin)"
        )
        note = (
            f"{model} is registered with the plain {framework}: register it with "
            "a ModelAdmin of its own, in place of the register() call."
        )
    else:
        calls = _calls(select, prefetch, other) or ".all()"
        fix = f"queryset={model}.{anchor.manager}{calls}"
        attribute = "as_view()"
        note = (
            f"The view is the plain {framework}: pass this argument to "
            f"{owner.cls.__name__}.as_view() in the URLconf (in place of model=)."
        )
    return {
        "owner": owner.cls.__name__,
        "kind": owner.kind,
        "kind_words": _KIND_WORDS.get(owner.kind, owner.kind),
        "attribute": attribute,
        "file": "",
        "line": 0,
        "site": "",
        "fix": fix,
        "note": note,
    }


@_never_raises
def owner_fix(
    recorder: Recorder, anchor: Load, select: list[str], prefetch: list[str], other: str = ""
) -> dict[str, Any]:
    """The fix (``select_related`` lookups, ``prefetch_related`` lookups or
    ``Prefetch(...)`` texts, other calls such as ``.annotate(...)``) as the
    code that owns the root queryset ``anchor`` writes it; {} when no framework
    object owns it."""
    owner = _owner_of(recorder, anchor)
    if owner is None:
        return {}
    if not _app_classes(owner.cls):
        return _framework_class_fix(owner, anchor, select, prefetch, other)
    if owner.kind in ("admin", "admin_view", "inline"):
        fix, attribute, site_cls, line = _admin_fix(owner, select, prefetch, other)
    else:
        fix, attribute, site_cls, line = _view_fix(owner, anchor, _calls(select, prefetch, other))
    return _describe(owner, attribute, site_cls, line, fix)


def _offsets(text: str) -> Callable[[int | None, int | None], int]:
    """The offset in ``text`` of a node's (line, column)."""
    starts = [0]
    for line in text.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))

    def at(line: int | None, col: int | None) -> int:
        assert line is not None and col is not None  # ast.parse sets them all
        return starts[line - 1] + col

    return at


def _without_lookup(text: str, method: str, lookup: str) -> str | None:
    """``text`` (an expression or a method) with ``lookup`` taken out of its
    ``.select_related(...)``/``.prefetch_related(...)`` call; the call goes
    when nothing is left in it. None when the lookup is not written there."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    at = _offsets(text)
    for node in ast.walk(tree):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == method
        ):
            continue
        kept = [
            a
            for a in node.args
            if not (isinstance(a, ast.Constant) and a.value == lookup)
        ]
        if len(kept) == len(node.args):
            continue
        start = at(node.func.value.end_lineno, node.func.value.end_col_offset)
        end = at(node.end_lineno, node.end_col_offset)
        call = ""
        if kept or node.keywords:
            parts = [ast.get_source_segment(text, a) or "" for a in [*kept, *node.keywords]]
            call = f".{method}({', '.join(parts)})"
        return text[:start] + call + text[end:]
    return None


def _queryset_code(owner: Owner) -> tuple[str, type, int, str, bool] | None:
    """(label, class, line, source, is_method) of the code of the owner's class
    that writes its queryset: its own ``get_queryset()``, else its ``queryset``."""
    for name, method in (("get_queryset", True), ("queryset", False)):
        own = _defined(owner.cls, name, method=method)
        if own is not None and own[2]:
            klass, line, source = own
            return (f"{name}()" if method else name), klass, line, source, method
    return None


def _annotate_rewritten(text: str, replacements: dict[str, str]) -> str | None:
    """``text`` with the expressions of the one ``.annotate()`` call that names
    every alias of ``replacements`` replaced by theirs; None when it is not there."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "annotate"
        and set(replacements) <= {k.arg for k in node.keywords}
    ]
    if len(calls) != 1:
        return None
    at = _offsets(text)
    values = [(k.arg, k.value) for k in calls[0].keywords if k.arg in replacements]
    for alias, value in sorted(values, key=lambda k: (k[1].lineno, k[1].col_offset), reverse=True):
        start = at(value.lineno, value.col_offset)
        end = at(value.end_lineno, value.end_col_offset)
        text = text[:start] + replacements[alias] + text[end:]
    return text


@_never_raises
def owner_annotate_rewrite(
    recorder: Recorder, anchor: Load, replacements: dict[str, str]
) -> dict[str, Any]:
    """An ``annotate()`` the owner's class writes, with the expressions of the
    aliases in ``replacements`` rewritten (the fanned-out counts as subqueries)."""
    owner = _owner_of(recorder, anchor)
    if owner is None or not _app_classes(owner.cls) or not replacements:
        return {}
    written = _queryset_code(owner)
    if written is None:
        return {}
    label, klass, line, source, method = written
    rewritten = _annotate_rewritten(source, replacements)
    if rewritten is None:
        return {}
    return _describe(owner, label, klass, line, rewritten if method else f"queryset = {rewritten}")


@_never_raises
def owner_removal(recorder: Recorder, anchor: Load, fix: str, lookup: str) -> dict[str, Any]:
    """Where an unused eager load is written, and that code without it."""
    owner = _owner_of(recorder, anchor)
    if owner is None or not _app_classes(owner.cls):
        return {}
    existing = owner.attribute
    if (
        owner.kind == "admin"
        and fix == "select_related"
        and isinstance(existing, (list, tuple))
        and lookup in existing
    ):
        kept = [p for p in existing if p != lookup]
        comma = "," if len(kept) == 1 else ""
        text = "list_select_related = False"
        if kept:
            text = f"list_select_related = ({quoted(kept)}{comma})"
        own = _defined(owner.cls, "list_select_related", method=False)
        site_cls, line = (own[0], own[1]) if own else (owner.cls, 0)
        return _describe(owner, "list_select_related", site_cls, line, text)
    written = _queryset_code(owner)
    if written is None:
        return {}
    label, klass, line, source, method = written
    rewritten = _without_lookup(source, fix, lookup)
    if rewritten is None:
        text = f'# remove "{lookup}" from the {fix}() of {klass.__name__}.{label}'
    else:
        text = rewritten if method else f"queryset = {rewritten}"
    return _describe(owner, label, klass, line, text)


@_never_raises
def owner_fix_from_suggestion(
    recorder: Recorder, anchor: Load | None, suggestion: str
) -> dict[str, Any]:
    """A fix written as ``Model.manager<calls>`` (an annotate(), an only()) in
    the owner's form."""
    if anchor is None:
        return {}
    from ddt_perfpanels.analysis.written import _base, written_queryset

    # The suggestion is the queryset as written plus the fix: the owner already
    # has the first part (its attribute, or what super().get_queryset() returns).
    written = (written_queryset(anchor)[0], _base(anchor)[0])
    for prefix in (*written, f"{anchor.model_name}.{anchor.manager}"):
        if suggestion.startswith(prefix + "."):
            return owner_fix(recorder, anchor, [], [], suggestion[len(prefix) :])
    return {}


@_never_raises
def owner_fix_deferred(recorder: Recorder, root: Load, lookup: str) -> dict[str, Any]:
    """A deferred field read per row, loaded by the owner's queryset: defer()
    only ever adds to what is deferred, so defer(None) and what stays deferred;
    only() replaces what it had."""
    query = getattr(root, "query", None)
    if query is None:
        return {}
    names, deferring = query.deferred_loading
    if deferring:
        remaining = sorted(n for n in names if n != lookup)
        calls = ".defer(None)" + (f".defer({quoted(remaining)})" if remaining else "")
    else:
        calls = f".only({quoted(sorted({*names, lookup}))})"
    return owner_fix(recorder, root, [], [], calls)


class _Claimable(Protocol):
    """A finding whose fix may go in a framework object's code."""

    third_party: dict[str, Any] | None
    where: dict[str, Any]


def claim(finding: _Claimable) -> bool:
    """A package (DRF) evaluated the queryset, but a class of the application
    builds it: the finding is the application's, the package only reads it."""
    label: dict[str, Any] | None = getattr(finding, "third_party", None)
    where = finding.where
    if not (label and label.get("owner") == "package" and where.get("site")):
        return False
    finding.third_party = {
        "package": label["package"],
        "site": label["site"],
        "owner": "yours",
        "role": "reads",
        "fixable": True,
        "how": (
            f"{label['package']} evaluates the queryset, but {where['owner']} builds it: "
            f"the fix goes in its {where['attribute']} ({where['site']})."
        ),
    }
    return True


# -- the lazy-load site --------------------------------------------------------------


def _model_method_words(model_cls: type, name: str) -> tuple[str, str]:
    from functools import cached_property

    from django.utils.functional import cached_property as django_cached_property

    attr = inspect.getattr_static(model_cls, name, None)
    if isinstance(attr, property):
        kind = "property"
    elif isinstance(attr, (cached_property, django_cached_property)):
        kind = "cached_property"
    elif name == "__str__":
        kind = "__str__"
    else:
        kind = "method"
    own = _defined(model_cls, name, method=True)
    file, line = _site(own[0], own[1]) if own else _site(model_cls)
    words = f"{model_cls.__name__}.{name}"
    words += "()" if kind in ("method", "__str__") else f" ({kind})"
    return words, f"{file}:{line}" if file else ""


def _serializer_words(access: Access) -> tuple[str, str]:
    serializer = access.serializer
    assert serializer is not None
    name = f"{serializer.__name__}.{access.field}"
    detail = access.field_class
    if access.source:
        detail += f'{", " if detail else ""}source="{access.source}"'
    if detail:
        name += f" ({detail})"
    for holder, field in access.nested_in:
        name += f", nested in {holder.__name__}.{field}"
    own = _defined(serializer, access.field, method=False)
    if own is not None:
        file, line = _site(own[0], own[1])
    else:
        meta = _defined(serializer, "Meta", method=False)
        file, line = _site(serializer)
        name += " (from Meta.fields)" if meta is None else ""
    site = f"{file}:{line}" if file else ""
    if access.method:
        method = _defined(serializer, access.method, method=True)
        if method is not None:
            mfile, mline = _site(method[0], method[1])
            name += f", read in {access.method}() at {mfile}:{mline}"
    return name, site


def _def_line(filename: str, first: int) -> int:
    """The ``def`` line of a function whose code starts at ``first`` (its decorators)."""
    import linecache

    for line in range(first, first + 20):
        if linecache.getline(filename, line).lstrip().startswith(("def ", "async def ")):
            return line
    return first


def _admin_words(access: Access) -> tuple[str, str]:
    admin = access.admin
    assert admin is not None
    column = access.column
    listing = access.column_kind or "list_display"
    if column == "action_checkbox":
        # Django's own first column: its label is str(obj).
        file, line = _site(admin)
        return f"the action checkbox of {admin.__name__} (its label is str(obj))", f"{file}:{line}"
    if access.function is not None:
        filename, line = access.function
        line = _def_line(filename, line)
        return f"{column}() ({listing} of {admin.__name__})", f"{short_path(filename)}:{line}"
    own = _defined(admin, column, method=True) if column else None
    if own is not None:
        file, line = _site(own[0], own[1])
        return f"{admin.__name__}.{column} ({listing})", f"{file}:{line}"
    listed = _defined(admin, listing, method=False)
    file, line = _site(listed[0], listed[1]) if listed else _site(admin)
    return f'{listing} "{column}" of {admin.__name__}', f"{file}:{line}" if file else ""


@_never_raises
def access_of(recorder: Recorder, load: Load | None) -> dict[str, str]:
    """The code that made the lazy loads of ``load``'s cluster, in words, and its
    file:line; {} when nothing but a template or a plain line is known."""
    where = records(recorder)
    if where is None or load is None:
        return {}
    access = where.access.get((load.root.id, load.path))
    if access is None:
        return {}
    parts: list[str] = []
    site = ""
    if access.model_method is not None:
        words, site = _model_method_words(*access.model_method)
        parts.append(words)
    loop = ""
    loop_site = ""
    if access.serializer is not None:
        loop, loop_site = _serializer_words(access)
    elif access.admin is not None:
        loop, loop_site = _admin_words(access)
    if loop:
        if parts:
            parts.append(f"called for {loop} ({loop_site})")
        else:
            parts.append(loop)
            site = loop_site
    return {"name": ", ".join(parts), "site": site} if parts else {}
