"""What every slow/fixed pair of demo pages shares."""

from django.shortcuts import render
from django.urls import reverse


def render_version(request, template, context, *, code, fixed, slow, fixed_name):
    """Render one version of a page, with the links between the two versions
    and ``code``, the functions whose source the page shows under "The code"."""
    return render(
        request,
        template,
        {
            **context,
            "fixed": fixed,
            # Always a list: the template engine calls a lone function it is given
            # (here without its request), which left the block empty.
            "code": list(code) if isinstance(code, (list, tuple)) else [code],
            "slow_url": reverse(slow),
            "fixed_url": reverse(fixed_name),
        },
    )
