"""The demo's budget history tells the README's story (the project list getting
worse, the course dashboard better, the badges steady, the admin changelist new)
by the dashboard's own rule, whatever weekday the history ends on."""

from __future__ import annotations

import importlib.util
from datetime import datetime
from pathlib import Path

import pytest

from ddt_perfpanels.budgets.dashboard import RouteRow

_PATH = Path(__file__).resolve().parents[1] / "demo" / "demo_site" / "trends.py"
_spec = importlib.util.spec_from_file_location("ddt_demo_trends", _PATH)
trends = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(trends)

DAYS = 28


def direction(counts: list[int]) -> str:
    when = datetime(2026, 1, 1)
    row = RouteRow("r", sum(counts), when, when, 1.0)
    row.last_7, row.previous_7 = sum(counts[-7:]), sum(counts[-14:-7])
    return row.direction


@pytest.mark.parametrize("last_weekday", range(7))
@pytest.mark.parametrize(
    ("route", "rate", "expected"), [(r[0], r[1], r[3]) for r in trends.ROUTES]
)
def test_each_route_shows_its_trend(last_weekday, route, rate, expected):
    weekends = [(last_weekday - (DAYS - 1 - day)) % 7 >= 5 for day in range(DAYS)]
    counts = trends.daily_counts(rate, weekends)
    assert direction(counts) == expected, (route, counts)
    assert sum(counts) > 0


def test_the_story_is_the_readmes():
    assert {r[0]: r[3] for r in trends.ROUTES} == {
        "projects:list": "worse",
        "courses:dashboard": "better",
        "badges:progress": "steady",
        "admin:courses_enrollment_changelist": "new",
    }
