"""Cheap stacks: walk frames, keep application frames as (file, line, function).

Nothing here reads source files; the panels read source lines with linecache
only when a panel is opened.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from types import FrameType

Frame = tuple[str, int, str]
TemplatePosition = tuple[str, int]

# filename -> True when the frame belongs to the user's application.
_app_files: dict[str, bool] = {}
_hidden_prefixes: tuple[str, ...] | None = None
_render_annotated_code = None
# Frames of Django's handler that call the view: nothing below them (handler,
# middleware, server) is the view's stack, so the walk stops there.
_view_caller_codes: frozenset | None = None


def _module_dir(name: str) -> str | None:
    module = sys.modules.get(name)
    if module is None:
        try:
            module = __import__(name)
        except Exception:
            return None
    path = getattr(module, "__file__", None)
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


def reset_classification() -> None:
    global _hidden_prefixes
    _hidden_prefixes = None
    _app_files.clear()


def _classify(filename: str) -> bool:
    global _hidden_prefixes
    if _hidden_prefixes is None:
        _hidden_prefixes = _compute_hidden_prefixes()
    if filename.startswith("<"):
        return False
    path = os.path.abspath(filename)
    if "site-packages" in path or "dist-packages" in path:
        return False
    return not path.startswith(_hidden_prefixes)


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
    return (str(getattr(origin, "template_name", None) or origin.name), token.lineno)


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


def capture_stack(
    depth: int, skip: int = 1, *, toolbar_storage: list[bool] | None = None
) -> tuple[list[Frame], TemplatePosition | None]:
    """Application frames, innermost first, and the innermost template position.

    With ``toolbar_storage`` (a one-item list), also tell whether the toolbar's
    own storage code is on the stack: its queries are not the application's.
    """
    global _render_annotated_code, _view_caller_codes
    if _render_annotated_code is None:
        from django.core.handlers.base import BaseHandler
        from django.template.base import Node

        _render_annotated_code = Node.render_annotated.__code__
        _view_caller_codes = frozenset(
            {BaseHandler._get_response.__code__, BaseHandler._get_response_async.__code__}
        )
    render_code = _render_annotated_code
    stop_codes = _view_caller_codes
    storage = _storage_files() if toolbar_storage is not None else frozenset()
    frames: list[Frame] = []
    template = None
    frame: FrameType | None = sys._getframe(skip + 1)
    app_files = _app_files
    while frame is not None:
        code = frame.f_code
        filename = code.co_filename
        is_app = app_files.get(filename)
        if is_app is None:
            is_app = is_app_file(filename)
        if is_app:
            frames.append((filename, frame.f_lineno, code.co_name))
            if len(frames) >= depth:
                break
        elif code is render_code and template is None:
            template = _template_position(frame)
        elif filename in storage:
            toolbar_storage[0] = True  # type: ignore[index]
            break
        elif code in stop_codes:
            break
        frame = frame.f_back
    return frames, template


def short_path(filename: str) -> str:
    """A path relative to the working directory when it is below it."""
    try:
        relative = os.path.relpath(filename)
    except ValueError:
        return filename
    return filename if relative.startswith("..") else relative


def format_site(frames: list[Frame], template: TemplatePosition | None) -> str:
    """Where a query was issued: the template line when one rendered it, else file:line."""
    if template is not None:
        return f"{template[0]}:{template[1]}"
    if frames:
        filename, line, _ = frames[0]
        return f"{short_path(filename)}:{line}"
    return ""
