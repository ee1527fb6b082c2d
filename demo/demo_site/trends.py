"""How many violations a day each route gets in the demo's budget history: the
story the README tells, the same on every run and at any time of day.

No Django here: the tests check the schedule against the dashboard's own rule
(the last 7 days against the 7 before) for every weekday the history can end on.
"""

from __future__ import annotations


def rising(day: int, days: int) -> float:
    return 1 + 11 * day / days


def steady(day: int, days: int) -> float:
    # Enough a day that the pages a visitor opens (each one over budget adds a
    # violation now) leave it steady: ±10% of a week is a dozen requests.
    return 20.0


def improving(day: int, days: int) -> float:
    return max(0.5, 11 - 12 * day / days)


def new_this_week(day: int, days: int) -> float:
    return 4.0 if day > days - 7 else 0.0


# (URL name, mean violations a day as a function of (day, days), needs the admin
# login, what the dashboard's trend column says)
ROUTES = [
    ("projects:list", rising, False, "worse"),
    ("badges:progress", steady, False, "steady"),
    ("courses:dashboard", improving, False, "better"),
    ("admin:courses_enrollment_changelist", new_this_week, True, "new"),
]

WEEKEND_SHARE = 0.4


def daily_counts(rate, weekends: list[bool]) -> list[int]:
    """Violations on each day (``weekends[day]``: that day is a Saturday or a
    Sunday, when there is less traffic): the mean, rounded with the remainder
    carried to the next day. No random draw: a random count a day made a steady
    route read "worse" on one run and "better" on the next."""
    days = len(weekends)
    counts, carried = [], 0.0
    for day, weekend in enumerate(weekends):
        mean = rate(day, days) * (WEEKEND_SHARE if weekend else 1.0) + carried
        count = int(mean)
        carried = mean - count
        counts.append(count)
    return counts
