"""Cheap stacks: walk frames, keep application frames as (file, line, function).

Nothing here reads source files; the panels read source lines with linecache
only when a panel is opened.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from collections.abc import Sequence
from types import FrameType
from typing import Any

from django.core.signals import setting_changed
from django.dispatch import receiver

Frame = tuple[str, int, str]
TemplatePosition = tuple[str, int]
# One code site (site_key): the innermost library frame's (file, line), the
# innermost application frame's, and the template line.
SiteKey = tuple[tuple[str | int, ...] | None, tuple[str | int, ...] | None, TemplatePosition | None]

# filename -> True when the frame belongs to the user's application.
_app_files: dict[str, bool] = {}
# filename -> True when a frame outside the application is a code site of its own
# (a library, a contrib app), not the ORM, the template engine or our hooks.
_library_files: dict[str, bool] = {}
_hidden_prefixes: tuple[str, ...] | None = None
_machinery_prefixes: tuple[tuple[str, ...], tuple[str, ...]] | None = None
# Library frames kept per query (innermost first), below the first application frame.
LIBRARY_DEPTH = 4


def _module_dir(name: str) -> str | None:
    module = sys.modules.get(name)
    if module is None:
        try:
            module = __import__(name)
        except Exception:
            return None
    path: str | None = getattr(module, "__file__", None)
    if not path:
        return None
    return os.path.dirname(os.path.abspath(path)) + os.sep


def _compute_hidden_prefixes() -> tuple[str, ...]:
    from ddt_perfpanels.conf import get_config

    prefixes: list[str] = []
    for name in ("django", "debug_toolbar", "ddt_perfpanels", "asgiref", "sqlparse"):
        directory = _module_dir(name)
        if directory:
            prefixes.append(directory)
    for name in get_config()["HIDE_IN_STACKS"]:
        directory = _module_dir(name)
        if directory:
            prefixes.append(directory)
    paths = sysconfig.get_paths()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        if paths.get(key):
            prefixes.append(os.path.abspath(paths[key]) + os.sep)
    return tuple(dict.fromkeys(prefixes))


def _compute_machinery_prefixes() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Code that runs queries for someone else: the ORM, the template engine,
    the handler, this package, the toolbar (package directories), and the
    standard library (a site directory may sit below it: told apart by name)."""
    packages: list[str] = []
    django_dir = _module_dir("django")
    if django_dir:
        for sub in ("db", "template", "utils", "core", "dispatch", "apps", "conf", "test"):
            packages.append(os.path.join(django_dir, sub) + os.sep)
    for name in ("debug_toolbar", "ddt_perfpanels", "asgiref", "sqlparse"):
        directory = _module_dir(name)
        if directory:
            packages.append(directory)
    paths = sysconfig.get_paths()
    stdlib = [os.path.abspath(paths[k]) + os.sep for k in ("stdlib", "platstdlib") if paths.get(k)]
    return tuple(dict.fromkeys(packages)), tuple(dict.fromkeys(stdlib))


def _is_site_path(path: str) -> bool:
    return "site-packages" in path or "dist-packages" in path


def is_library_file(filename: str) -> bool:
    """A frame outside the application that is still a code site of its own:
    an installed package's code or a contrib app, not the ORM or our hooks."""
    global _machinery_prefixes
    result = _library_files.get(filename)
    if result is None:
        if _machinery_prefixes is None:
            _machinery_prefixes = _compute_machinery_prefixes()
        packages, stdlib = _machinery_prefixes
        path = os.path.abspath(filename)
        result = not (
            filename.startswith("<")
            or is_app_file(filename)
            or path.startswith(packages)
            or (path.startswith(stdlib) and not _is_site_path(path))
        )
        _library_files[filename] = result
    return result


def reset_classification() -> None:
    global _hidden_prefixes, _machinery_prefixes
    _hidden_prefixes = None
    _machinery_prefixes = None
    _app_files.clear()
    _library_files.clear()
    _kinds.clear()
    _sites.clear()
    _site_codes.clear()
    _stacks.clear()


@receiver(setting_changed)
def _reset_on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    # Set here, not in conf, so that conf (below recording) imports nothing of it.
    if setting in ("DDT_PERFPANELS", "BASE_DIR"):  # BASE_DIR: what is the application's
        reset_classification()


def _classify(filename: str) -> bool:
    global _hidden_prefixes
    if _hidden_prefixes is None:
        _hidden_prefixes = _compute_hidden_prefixes()
    if filename.startswith("<"):
        return False
    path = os.path.abspath(filename)
    if _is_site_path(path) or path.startswith(_hidden_prefixes):
        return False
    # A project that says where it lives (settings.BASE_DIR): code outside it
    # is installed code, a package's (see analysis.thirdparty.package_of).
    base = base_dir()
    return base is None or path.startswith(base)


def base_dir() -> str | None:
    """settings.BASE_DIR as a directory prefix, when the project sets it."""
    from django.conf import settings

    base = getattr(settings, "BASE_DIR", None)
    return os.path.abspath(str(base)) + os.sep if base else None


def is_app_file(filename: str) -> bool:
    result = _app_files.get(filename)
    if result is None:
        result = _app_files[filename] = _classify(filename)
    return result


def _template_position(frame: FrameType) -> TemplatePosition | None:
    node = frame.f_locals.get("self")
    origin = getattr(node, "origin", None)
    token = getattr(node, "token", None)
    if origin is None or token is None:
        return None
    name = str(getattr(origin, "template_name", None) or origin.name)
    if name not in template_files:
        template_files[name] = str(origin.name)
    return (name, token.lineno)


# template name -> the file it was loaded from, as seen while rendering: tells a
# package's templates from the application's.
template_files: dict[str, str] = {}


_toolbar_storage_files: frozenset[str] | None = None


def _storage_files() -> frozenset[str]:
    """Files of django-debug-toolbar that run its own queries (its DatabaseStore)."""
    global _toolbar_storage_files
    if _toolbar_storage_files is None:
        directory = _module_dir("debug_toolbar")
        _toolbar_storage_files = frozenset(
            {os.path.join(directory, "store.py")} if directory else set()
        )
    return _toolbar_storage_files


# What a frame's file is to capture_stack, one dict lookup per frame: the
# application's, a library's (a code site of its own), the machinery that runs
# queries for someone else (the ORM, the template engine, the handler, this
# package), or the toolbar's own storage.
MACHINERY, APP, LIBRARY, STORAGE = 0, 1, 2, 3
_kinds: dict[str, int] = {}


def _kind_of(filename: str) -> int:
    if is_app_file(filename):
        kind = APP
    elif is_library_file(filename):
        kind = LIBRARY
    elif filename in _storage_files():
        kind = STORAGE
    else:
        kind = MACHINERY
    _kinds[filename] = kind
    return kind


# The code of Node.render_annotated (a template line is rendering), and of
# Django's two handler methods that call the view: nothing below them (handler,
# middleware, server) is the view's stack, so the walk stops there.
_stop_code_triple: tuple[Any, Any, Any] | None = None


def _stop_codes() -> tuple[Any, Any, Any]:
    """(render_annotated, _get_response, _get_response_async) code objects."""
    global _stop_code_triple
    if _stop_code_triple is None:
        from django.core.handlers.base import BaseHandler
        from django.template.base import Node

        _stop_code_triple = (
            Node.render_annotated.__code__,
            # Private methods, absent from django-stubs.
            BaseHandler._get_response.__code__,  # type: ignore[attr-defined]
            BaseHandler._get_response_async.__code__,  # type: ignore[attr-defined]
        )
    return _stop_code_triple


def is_view_caller(code: Any) -> bool:
    """Whether ``code`` is Django's handler calling the view (by identity: a code
    object's hash reads its whole content)."""
    _render, sync_caller, async_caller = _stop_codes()
    return code is sync_caller or code is async_caller


# (id(code), f_lasti) -> (file, line, function) of a frame seen before: reading
# f_lineno decodes the code's line table, every time. The code object is kept
# (in _site_codes) so that its id is never reused for another.
_sites: dict[tuple[int, int], Frame] = {}
_site_codes: dict[int, Any] = {}


# A stack seen before -> the one tuple kept for it: the queries of a loop share
# their stack, kept once instead of once per query until the request ends.
_stacks: dict[tuple[Frame, ...], tuple[Frame, ...]] = {}
_MAX_STACKS = 10_000


def shared_stack(frames: list[Frame]) -> tuple[Frame, ...]:
    """``frames`` as a tuple, the same tuple for the same stack."""
    stack = tuple(frames)
    shared = _stacks.get(stack)
    if shared is None:
        if len(_stacks) >= _MAX_STACKS:
            _stacks.clear()
        shared = _stacks[stack] = stack
    return shared


def _new_site(code: Any, frame: FrameType, name: str) -> Frame:
    site = (code.co_filename, frame.f_lineno, name)
    _site_codes[id(code)] = code
    _sites[(id(code), frame.f_lasti)] = site
    return site


# What capture_stack(toolbar_storage=True) returns as the frames of a query the
# toolbar's own storage ran (compared by identity, never appended to).
TOOLBAR_STORAGE: list[Frame] = []


def capture_stack(
    depth: int,
    skip: int = 1,
    *,
    toolbar_storage: bool = False,
    library: list[Frame] | None = None,
    start: FrameType | None = None,
) -> tuple[list[Frame], TemplatePosition | None]:
    """Application frames, innermost first, and the innermost template position.

    With ``toolbar_storage``, also tell whether the toolbar's own storage code
    is on the stack (its queries are not the application's): the frames are
    then ``TOOLBAR_STORAGE``.
    With ``library`` (a list), also collect the library frames met before the
    first application frame (file, line, qualified function name): the code
    site of a query that a package ran. ``start``: the frame to walk from,
    instead of ``skip`` frames above the caller.

    Called for every query: one dict lookup per frame, code objects compared by
    identity.
    """
    render_code, sync_caller, async_caller = _stop_codes()
    frames: list[Frame] = []
    template = None
    frame: FrameType | None = start if start is not None else sys._getframe(skip + 1)
    kinds = _kinds
    sites = _sites
    while frame is not None:
        code = frame.f_code
        kind = kinds.get(code.co_filename)
        if kind is None:
            kind = _kind_of(code.co_filename)
        if kind == APP:
            site = sites.get((id(code), frame.f_lasti))
            if site is None:
                site = _new_site(code, frame, code.co_name)
            frames.append(site)
            if len(frames) >= depth:
                break
        elif kind == MACHINERY:
            if code is render_code:
                if template is None:
                    template = _template_position(frame)
            elif code is sync_caller or code is async_caller:
                break
        elif kind == LIBRARY:
            if library is not None and not frames and len(library) < LIBRARY_DEPTH:
                site = sites.get((id(code), frame.f_lasti))
                if site is None:
                    site = _new_site(code, frame, code.co_qualname)
                library.append(site)
        elif toolbar_storage:  # STORAGE
            return TOOLBAR_STORAGE, None
        frame = frame.f_back
    return frames, template


def short_path(filename: str) -> str:
    """A package's file as its import path sees it (``rest_framework/fields.py``),
    anything else relative to the working directory when it is below it."""
    if _is_site_path(filename):
        for entry in sorted(filter(_is_site_path, sys.path), key=len, reverse=True):
            prefix = entry.rstrip(os.sep) + os.sep
            if filename.startswith(prefix):
                return filename[len(prefix) :]
    try:
        relative = os.path.relpath(filename)
    except ValueError:
        return filename
    return filename if relative.startswith("..") else relative


def format_site(
    frames: Sequence[Frame],
    template: TemplatePosition | None,
    library: Sequence[Frame] | None = None,
) -> str:
    """Where a query was issued: the template line when one rendered it, else
    file:line of the application, else of the innermost library frame."""
    if template is not None:
        return f"{template[0]}:{template[1]}"
    if frames:
        filename, line, _ = frames[0]
        return f"{short_path(filename)}:{line}"
    if library:
        filename, line, _ = library[0]
        return f"{short_path(filename)}:{line}"
    return ""


def site_key(
    frames: Sequence[Frame], template: TemplatePosition | None, library: Sequence[Frame] | None
) -> SiteKey:
    """One code site: the innermost library frame below the application's (a
    package's line called from one line of yours is one site, two of its lines
    are two), the innermost application frame, and the template line."""
    return (
        tuple(library[0][:2]) if library else None,
        tuple(frames[0][:2]) if frames else None,
        template,
    )


class CallSite:
    """Where a recorded call was made, for the records that keep ``frames`` (the
    application's, innermost first), ``template`` (a template line, or None) and
    maybe ``library`` (the library frames below them): queries and cache calls."""

    __slots__ = ()
    frames: Sequence[Frame]
    template: TemplatePosition | None
    library: Sequence[Frame] = ()  # a record without library frames

    @property
    def stack(self) -> list[str]:
        return [f"{short_path(f)}:{line} in {func}" for f, line, func in self.frames]

    @property
    def site(self) -> str:
        return format_site(self.frames, self.template, self.library)

    @property
    def site_key(self) -> SiteKey:
        return site_key(self.frames, self.template, self.library)
