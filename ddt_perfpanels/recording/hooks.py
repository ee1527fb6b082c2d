"""Every hook, installed once and never removed: at ready(), or by the first
capture where the app is not installed. Each one passes straight through unless
a capture is active in its context (``context._active``, ``context._orm_active``),
as the toolbar patches its cache handler once and django-zeal its ORM hooks."""

from __future__ import annotations

import logging
import threading

logger = logging.getLogger("ddt_perfpanels")

_lock = threading.Lock()
_installed = False


def install() -> None:
    """Idempotent; never raises (a hook that fails to install only records less)."""
    global _installed
    if _installed:
        return
    with _lock:
        if _installed:
            return
        from ddt_perfpanels.recording import cache, db, orm

        for module in (db, cache, orm):
            try:
                module.install()
            except Exception:  # pragma: no cover - defensive
                logger.exception("ddt_perfpanels could not install its %s hooks", module.__name__)
        _installed = True


def installed() -> bool:
    return _installed


def capture_started() -> None:
    """What a capture needs beyond the hooks: the database connections and cache
    instances this thread opened before (the hooks reach the ones opened later)."""
    from ddt_perfpanels.recording import cache, db

    db.hook_open_connections()
    cache.patch_open_caches()
