"""Template helpers of the demo pages."""

import inspect

from django import template

register = template.Library()


@register.filter
def view_source(code) -> str:
    """The source of a view function (or of a list of functions: the view and
    what it calls), shown under "The view's code"."""
    functions = code if isinstance(code, (list, tuple)) else [code]
    sources = []
    for function in functions:
        try:
            source = inspect.getsource(function)
        except (OSError, TypeError):
            continue
        sources.append(f"# {inspect.getmodule(function).__name__}\n{source}")
    return "\n\n".join(sources)
