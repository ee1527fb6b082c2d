"""HTML helpers shared by the panels and the admin."""

from __future__ import annotations

import re

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe


def wrappable(name: str) -> SafeString:
    """A dotted or namespaced name that may wrap after ``:``, ``_``, ``/`` and
    ``.``, never inside a word: ``admin:courses_enrollment_changelist``,
    ``django_redis.cache.RedisCache``."""
    return mark_safe(re.sub(r"([:_/.])", r"\1<wbr>", escape(name)))  # noqa: S308 (escaped first)
