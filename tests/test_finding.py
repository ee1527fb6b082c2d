"""The one base of findings: the same shared fields and to_dict() for every kind,
and each kind's title, key, heading and severity defined once, on its class."""

import json

import pytest
from django.core.cache import cache

from ddt_perfpanels import capture
from ddt_perfpanels.finding import Finding
from ddt_perfpanels.findings import compact, finding_key, finding_list, finding_title
from tests.factories import make_library
from tests.testapp.models import Author, Book

pytestmark = pytest.mark.django_db

SHARED = [
    "kind",
    "message",
    "suggestion",
    "imports",
    "count",
    "duration_ms",
    "origin",
    "access_site",
    "third_party",
    "where",
]


@pytest.fixture
def report(settings):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "f"}
    }
    cache.clear()
    make_library(authors=3, books_per_author=2)
    with capture() as report:
        for book in Book.objects.all():
            book.author.name
        list(Book.objects.select_related("author"))
        first = Book.objects.order_by("pk").first()
        Book.objects.filter(pk=first.pk).first()
        Book.objects.filter(pk=first.pk).first()
        for author in Author.objects.all():
            author.books.count()
        for pk in (1, 2, 3):
            cache.get(f"badge:{pk}")
    return report


def every_finding(report) -> list[Finding]:
    found = [
        *report.nplusone,
        *report.unused_eager,
        *report.duplicate_loads,
        *report.counts,
        *report.cache.findings,
    ]
    assert {type(f).source for f in found} == {
        "nplusone",
        "unused_eager",
        "duplicate_loads",
        "counts",
        "cache",
    }
    return found


def test_every_finding_writes_the_shared_keys_first(report):
    for finding in every_finding(report):
        data = finding.to_dict()
        assert list(data)[: len(SHARED)] == SHARED, type(finding).__name__
        assert data["kind"] == finding.kind
        assert "measure" not in data
        json.dumps(data)


def test_to_dict_copies(report):
    [finding] = [f for f in report.counts if f.kind == "count_in_loop"]
    data = finding.to_dict()
    data["frames"][0].append("x")
    data["where"]["x"] = 1
    assert "x" not in finding.frames[0] and "x" not in finding.where


def test_titles_and_keys_from_the_finding_or_its_stored_form(report):
    for finding in every_finding(report):
        stored = compact(finding)
        assert finding.title == finding_title(stored) == type(finding).title_of(stored)
        assert finding.key == finding_key(stored)
    titles = {f.title for f in every_finding(report)}
    assert {
        "N+1: testapp.Book → author (6 queries)",
        "unused select_related: testapp.Book",
        "count_in_loop: testapp.Author.books (3 queries)",
        "cache get_in_loop: badge:{int} (×3)",
    } <= titles
    keys = {f["key"] for f in finding_list(report)}
    assert {
        "nplusone testapp.Book.author",
        "counts count_in_loop testapp.Author.books",
        "cache get_in_loop badge:{int}",
    } <= keys


def test_headings_and_severities_are_the_kinds():
    from ddt_perfpanels.analysis.cache import CacheFinding
    from ddt_perfpanels.analysis.counts import KINDS, CountFinding
    from ddt_perfpanels.analysis.nplusone import (
        DuplicateLoadFinding,
        NPlusOneFinding,
        UnusedEagerFinding,
    )

    assert set(CountFinding.HEADINGS) == set(KINDS)
    assert str(CountFinding.heading_of("count_in_loop")) == "count() in a loop"
    assert CountFinding.severity_of("count_in_loop") == "bad"
    assert CountFinding.severity_of("count_then_fetch") == "info"
    assert str(CacheFinding.heading_of("no_expiry")) == "Stored without expiry"
    assert CacheFinding.severity_of("large_value") == "warn"
    assert NPlusOneFinding.severity_of("nplusone") == "bad"
    assert UnusedEagerFinding.severity_of("unused_eager") == "warn"
    assert DuplicateLoadFinding.severity_of("duplicate_load") == "info"
    assert CountFinding.heading_of("new_kind") == "new_kind"


def test_a_stored_finding_of_an_unknown_source_still_has_a_title():
    stored = {"source": "later", "kind": "x", "model": "app.M", "count": 2}
    assert finding_title(stored) == "x: app.M (2 queries)"
    assert finding_key(stored) == "later x app.M"
