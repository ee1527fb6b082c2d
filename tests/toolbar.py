"""Helpers to drive django-debug-toolbar the way a browser does."""

import json
import re

from django.test import AsyncClient, Client

_REQUEST_ID = re.compile(r'data-request-id="([0-9a-f]+)"')


def request_id(response) -> str:
    match = _REQUEST_ID.search(response.content.decode())
    assert match, "the toolbar was not rendered into the page"
    return match.group(1)


def panel_content(client: Client, response, panel_id: str) -> str:
    """The panel's HTML, fetched from the toolbar's store like the toolbar's JS does."""
    rendered = client.get(
        "/__debug__/render_panel/",
        {"request_id": request_id(response), "panel_id": panel_id},
    )
    assert rendered.status_code == 200, rendered.content[:500]
    return json.loads(rendered.content)["content"]


async def apanel_content(client: AsyncClient, response, panel_id: str) -> str:
    rendered = await client.get(
        "/__debug__/render_panel/",
        {"request_id": request_id(response), "panel_id": panel_id},
    )
    assert rendered.status_code == 200
    return json.loads(rendered.content)["content"]


def toolbar_stats(response, panel_id: str) -> dict:
    """The stats the panel stored, read back from the toolbar's store (JSON)."""
    from debug_toolbar.toolbar import DebugToolbar

    toolbar = DebugToolbar.fetch(request_id(response), panel_id)
    assert toolbar is not None
    return toolbar.get_panel_by_id(panel_id).get_stats()
