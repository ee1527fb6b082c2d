"""manage.py perfpanels_audit: on the demo (its slow pages' problems found, its
fixed pages clean, in text and JSON, nothing written), and its refusals."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

ROOT = Path(__file__).resolve().parents[1]


def _demo_env(db) -> dict[str, str]:
    skip = ("PYTEST_VERSION", "PYTEST_CURRENT_TEST", "DJANGO_SETTINGS_MODULE", "REDIS_URL")
    env = {k: v for k, v in os.environ.items() if k not in skip}
    return {**env, "DEMO_DATABASE": str(db), "REDIS_URL": "", "PYTHONPATH": str(ROOT)}


def _manage(db, *args, check=True):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT / "demo",
        env=_demo_env(db),
        capture_output=True,
        text=True,
        timeout=300,
        check=check,
    )


def _row_counts(db) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {t: conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables}


def _line_of(path, text: str) -> int:
    lines = Path(path).read_text().splitlines()
    return next(n for n, line in enumerate(lines, 1) if text in line)


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    db = tmp_path_factory.mktemp("audit") / "demo.sqlite3"
    _manage(db, "migrate", "--noinput", "-v", "0")
    _manage(db, "seed_demo", "--no-history")
    return db


@pytest.mark.own_database
def test_audit_of_the_demo_in_text(demo_db):
    before = _row_counts(demo_db)
    result = _manage(demo_db, "perfpanels_audit", check=False)
    assert _row_counts(demo_db) == before  # the superuser, sessions, violations: rolled back
    assert result.returncode == 1
    assert "CommandError: 6 of 34 pages broke their budget or have findings." in result.stderr
    table = result.stdout.split("\n\n")[0]  # the fixes follow, page by page
    rows = {line.split()[0]: line for line in table.splitlines() if line.startswith("/")}
    for fixed in (
        "/projects/fixed/",
        "/badges/fixed/",
        "/courses/fixed/",
        "/courses/api/enrollments/fixed/",
    ):
        assert rows[fixed].split()[3:] == ["0", "0", "0", "ok"], rows[fixed]
    assert "over: queries 133>10, nplusone 3>0, count_findings 3>0" in rows["/projects/"]
    assert "over: queries 154>15, nplusone 2>0" in rows["/admin/courses/enrollment/"]
    assert rows["/admin/courses/enrollmentfixed/"].split()[3:] == ["0", "0", "0", "ok"]
    out = result.stdout
    assert 'fix: Project.objects.select_related("owner")' in out
    assert 'fix: Enrollment.objects.select_related("course__instructor")' in out
    assert 'annotate(enrollments_count=Count("enrollments"))' in out  # /courses/
    assert "over: queries 60>8, count_findings" in rows["/courses/"]
    assert "fix: values = cache.get_many(" in out
    assert "over: queries 153>8" in rows["/courses/api/enrollments/"]  # the REST API
    assert "34 pages, 6 failing (--fail-on=any)." in out
    # The admin changelist's fix, as EnrollmentAdmin writes it.
    admin = out.split("\n/admin/courses/enrollment/ (admin changelist")[1].split("\n\n")[0]
    line = _line_of(ROOT / "demo/courses/admin.py", "class EnrollmentAdmin")
    assert (
        "    where the fix goes: the admin changelist EnrollmentAdmin, its list_select_related "
        f"at courses/admin.py:{line}"
    ) in admin
    assert '    fix there: list_select_related = ("student",)' in admin
    assert (
        '    with the others: list_select_related = ("course__instructor", "student")' in admin
    )


@pytest.mark.own_database
def test_audit_of_the_demo_in_json(demo_db):
    result = _manage(demo_db, "perfpanels_audit", "--json", "--fail-on=budget", check=False)
    assert result.returncode == 1
    data = json.loads(result.stdout)
    pages = {p["url"]: p for p in data["pages"]}
    assert sorted(data["failing"]) == [
        "/admin/courses/enrollment/",
        "/badges/",
        "/courses/",
        "/courses/api/enrollments/",
        "/projects/",
    ]  # /admin/projects/like/ has findings but no budget
    projects = pages["/projects/"]
    assert (projects["queries"], projects["nplusone"], projects["count_findings"]) == (133, 3, 3)
    assert {o["metric"] for o in projects["budget"]["over"]} == {
        "queries",
        "nplusone",
        "count_findings",
    }
    keys = [f["key"] for f in projects["findings"]]
    assert "nplusone projects.Project.owner" in keys
    admin = {f["key"]: f for f in pages["/admin/courses/enrollment/"]["findings"]}
    student = admin["nplusone courses.Enrollment.student"]
    assert student["where"].startswith(
        "the admin changelist EnrollmentAdmin, its list_select_related at courses/admin.py:"
    )
    assert student["where_fix"] == 'list_select_related = ("student",)'
    assert student["where_combined"] == (
        'list_select_related = ("course__instructor", "student")'
    )
    badges = pages["/badges/"]
    assert badges["cache_findings"] == 3 and badges["cache_calls"] == 161
    for fixed in ("/projects/fixed/", "/badges/fixed/", "/courses/fixed/"):
        page = pages[fixed]
        assert page["findings"] == [] and page["budget"]["over"] == [], page
        assert page["status"] == 200
    assert pages["/admin/courses/course/1/change/"]["kind"] == "admin change form"
    never = _manage(demo_db, "perfpanels_audit", "--json", "--fail-on=never", check=False)
    assert never.returncode == 0


@pytest.mark.django_db
def test_refuses_without_debug(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="runs with DEBUG=True"):
        call_command("perfpanels_audit")


@pytest.mark.django_db
def test_audit_urls_from_settings_and_clean_pages(settings, capsys):
    from django.contrib.auth import get_user_model

    from tests.factories import make_library

    make_library(authors=2, books_per_author=2)
    settings.DEBUG = True
    settings.DDT_PERFPANELS = {"AUDIT_URLS": ["/books/fixed/?page=1"]}
    users = get_user_model().objects.count()
    call_command("perfpanels_audit", "--no-admin", "--json", "--fail-on=never")
    data = json.loads(capsys.readouterr().out)
    pages = {p["url"]: p for p in data["pages"]}
    assert pages["/books/fixed/?page=1"]["kind"] == "settings"
    assert pages["/books/fixed/?page=1"]["findings"] == []
    assert pages["/books/"]["nplusone"] == 1
    assert not any(url.startswith("/admin/") or url.startswith("/__debug__") for url in pages)
    assert get_user_model().objects.count() == users
