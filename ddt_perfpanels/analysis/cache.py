"""Cache report (totals, patterns, findings). Built in the cache issue."""

from __future__ import annotations


def build_cache_report(recorder):
    return None
