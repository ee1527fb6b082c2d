"""Render ORM calls as ready-to-paste Python code."""

from __future__ import annotations

import datetime
import decimal
import uuid
from typing import Any


class CodeName:
    """A value the code passed as a variable: rendered as its name."""

    def __init__(self, text: str):
        self.text = text


def render_value(value: Any) -> str:
    from django.db.models import Model, Q

    if isinstance(value, CodeName):
        return value.text
    if isinstance(value, Q):
        return render_q(value)
    if isinstance(value, Model):
        # A row object: the suggestion names a variable the user has at hand.
        return type(value).__name__.lower()
    if isinstance(value, (str, int, float, bool, type(None), decimal.Decimal, uuid.UUID)):
        return repr(value)
    if isinstance(value, (datetime.date, datetime.datetime, datetime.time)):
        return repr(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        items = ", ".join(render_value(v) for v in list(value)[:10])
        return f"[{items}{', ...' if len(value) > 10 else ''}]"
    name = getattr(value, "name", None)
    if type(value).__name__ == "F" and name:
        return f'F("{name}")'
    return "..."


def render_q(q: Any) -> str:
    parts = []
    for child in q.children:
        if isinstance(child, tuple):
            parts.append(("kw", f"{child[0]}={render_value(child[1])}"))
        else:
            parts.append(("q", render_q(child)))
    if all(kind == "kw" for kind, _ in parts) and q.connector == "AND":
        text = f"Q({', '.join(p for _, p in parts)})"
    else:
        joiner = " & " if q.connector == "AND" else " | "
        text = joiner.join(p if kind == "q" else f"Q({p})" for kind, p in parts)
        if len(parts) > 1:
            text = f"({text})"
    return f"~{text}" if q.negated else text


def render_call(method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    rendered = [render_value(a) for a in args]
    rendered += [f"{k}={render_value(v)}" for k, v in kwargs.items()]
    return f".{method}({', '.join(rendered)})"


def quoted(items: list[str]) -> str:
    return ", ".join(f'"{item}"' for item in items)


def merge_lookups(existing: list[str], new: str) -> list[str]:
    """Add a lookup, dropping the ones it makes redundant (its prefixes)."""
    kept = [e for e in existing if not (new == e or new.startswith(e + "__"))]
    if any(e == new or e.startswith(new + "__") for e in kept):
        return kept
    return [*kept, new]


def flatten_select_related(value: Any, prefix: str = "") -> list[str]:
    """Leaf lookups of a Query.select_related dict."""
    if not isinstance(value, dict):
        return []
    leaves = []
    for name, sub in value.items():
        path = f"{prefix}__{name}" if prefix else name
        deeper = flatten_select_related(sub, path)
        leaves.extend(deeper or [path])
    return leaves
