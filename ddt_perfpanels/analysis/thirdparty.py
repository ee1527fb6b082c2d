"""Findings in code the user installed: which package, where, and whether the
user can fix it from their side or only upstream.

The rule for "installed": a file below a site directory (``site-packages``,
``dist-packages``, the user site), or, when ``settings.BASE_DIR`` is set, any
module outside it that is not the standard library. Django, the toolbar and this
package are the framework, not a package to label.
"""

from __future__ import annotations

import os
import site
import sys
import sysconfig
from collections.abc import Iterable
from functools import cache
from typing import Any

from ddt_perfpanels.recording.stack import Frame, base_dir, template_files

# Top-level modules that are the framework: their code is not "a package's".
FRAMEWORK = frozenset({"django", "debug_toolbar", "ddt_perfpanels", "asgiref"})
# Methods a subclass overrides to change the queryset a package builds (views,
# viewsets, admin classes): the fix can be made from the application's side.
OVERRIDABLE = frozenset({"get_queryset", "get_object", "get_context_data"})


@cache
def _site_dirs() -> tuple[str, ...]:
    dirs = set()
    try:
        dirs.update(site.getsitepackages())
    except AttributeError:  # pragma: no cover - virtualenvs of old
        pass
    user = getattr(site, "getusersitepackages", lambda: "")()
    if user:
        dirs.add(user)
    for key in ("purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            dirs.add(path)
    dirs.update(p for p in sys.path if os.path.basename(p) in ("site-packages", "dist-packages"))
    # Longest first: a nested site directory wins over its parent.
    return tuple(sorted((os.path.abspath(d) + os.sep for d in dirs), key=len, reverse=True))


def _stdlib() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    return tuple(os.path.abspath(paths[k]) + os.sep for k in ("stdlib", "platstdlib") if k in paths)


def package_of(filename: str) -> tuple[str, str] | None:
    """(package, path inside its directory) when ``filename`` is an installed
    package's, else None (the application's, the framework's, the stdlib's)."""
    if not filename or filename.startswith("<"):
        return None
    path = os.path.abspath(filename)
    root = next((d for d in _site_dirs() if path.startswith(d)), None)
    if root is None:
        base = base_dir()
        if base is None or path.startswith(base):
            return None
        if path.startswith(_stdlib()) and "-packages" not in path:
            return None
        entries = [os.path.abspath(p) + os.sep for p in sys.path if p]
        root = max((e for e in entries if path.startswith(e)), key=len, default=None)
        if root is None:
            return None
    relative = path[len(root) :]
    top = relative.split(os.sep, 1)[0]
    name = top[:-3] if top.endswith(".py") else top
    if name in FRAMEWORK or name.endswith((".dist-info", ".egg-info")):
        return None
    return name, relative.replace(os.sep, "/")


def _template_package(template: Any) -> tuple[str, str] | None:
    if not template:
        return None
    found = package_of(template_files.get(template[0], ""))
    return (found[0], f"{template[0]}:{template[1]}") if found else None


def _frame_package(frames: Iterable[Frame] | None) -> tuple[str, str, str] | None:
    """(package, "path:line", qualified function) of the innermost frame of a package."""
    for filename, line, function in frames or ():
        found = package_of(filename)
        if found:
            return found[0], f"{found[1]}:{line}", function
    return None


def _override(frames: Iterable[Frame] | None) -> str:
    """'Class.get_queryset' when a package's overridable method built the queryset."""
    for filename, _line, function in frames or ():
        if package_of(filename) and "." in function and "<locals>" not in function:
            if function.rsplit(".", 1)[1] in OVERRIDABLE:
                return function
    return ""


def _query_package(query: Any) -> tuple[str, str, str] | None:
    """The package whose code issued the query: its template when a template
    did (the template line is the site), else its innermost frame when no
    application frame is on the stack."""
    if query is None:
        return None
    if query.template:
        found = _template_package(query.template)
        return (*found, "") if found else None
    if query.frames:
        return None
    return _frame_package(query.library)


def third_party_label(load: Any, origin: Any, access: Any = None) -> dict[str, Any] | None:
    """Whose code a finding is in, when a package's: the package by name and
    where, and whether the fix can be made from the application's side.

    ``load`` is the queryset's Load (``built``: a package built it with no
    application frame on the stack), ``origin`` the query that evaluated it and
    ``access`` the one that read the rows (QueryRecords). None for the
    application's own code.
    """
    built = getattr(load, "built", None) or ()
    in_package = _frame_package(built) or _query_package(origin)
    if in_package is None:
        reads = _query_package(access)
        if reads is None:
            return None
        package, where, _function = reads
        return {
            "package": package,
            "site": where,
            "owner": "yours",
            "role": "reads",
            "fixable": True,
            "how": (
                f"the rows are read by {package} ({where}), but the queryset is yours: "
                "apply the fix where you build it."
            ),
        }
    package, where, _function = in_package
    override = _override(built)
    if override:
        how = (
            f"subclass it and override {override}() to return "
            f"super().{override.rsplit('.', 1)[1]}() with the fix added (or use a setting "
            f"of {package}'s, if it has one)."
        )
    else:
        how = (
            f"no code of yours builds this queryset: report it to {package}, or replace "
            "the call with your own query."
        )
    return {
        "package": package,
        "site": where,
        "owner": "package",
        "fixable": bool(override),
        "override": override,
        "how": how,
    }


def method_label(filename: str, line: int, qualname: str) -> dict[str, Any] | None:
    """A package's model method that queries, called per row by the application:
    the loop is yours to change."""
    found = package_of(filename)
    if found is None:
        return None
    return {
        "package": found[0],
        "site": f"{found[1]}:{line}",
        "owner": "yours",
        "role": "method",
        "fixable": True,
        "how": (
            f"{qualname}() is {found[0]}'s, but the loop over the rows is yours: compute "
            "the answer for all the rows in one query and read it instead of calling the "
            "method per row."
        ),
    }


def is_third_party(finding: Any) -> bool:
    """The finding's queryset is a package's (not counted in budgets by default)."""
    label: dict[str, Any] | None = getattr(finding, "third_party", None)
    return bool(label and label.get("owner") == "package")
