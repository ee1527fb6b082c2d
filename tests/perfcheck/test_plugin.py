"""pytest --perfpanels: every test a performance check."""

from __future__ import annotations

SLOW = '''
from tests.testapp.models import Book

def test_slow(library):
    for book in Book.objects.all():
        book.author.name

def test_fixed(library):
    for book in Book.objects.select_related("author"):
        book.author.name

def test_counts(library):
    from tests.testapp.models import Author
    for author in Author.objects.all():
        author.books.count()
'''


def test_a_test_with_an_nplusone_fails_with_its_fix(project):
    project.pytester.makepyfile(test_slow=SLOW)
    result = project.run("--perfpanels")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*test_slow*",
            "*1 N+1 or counts finding in this test*",
            "*N+1: testapp.Book → author (6 queries)*",
            '*fix: Book.objects.select_related("author")*',
        ]
    )
    result.stdout.fnmatch_lines(["*count_in_loop: testapp.Author.books*"])
    assert "FAILED test_slow.py::test_fixed" not in result.stdout.str()


def test_warn_only_warns(project):
    project.pytester.makepyfile(test_slow=SLOW)
    result = project.run("--perfpanels=warn")
    result.assert_outcomes(passed=3, warnings=2)
    result.stdout.fnmatch_lines(["*PerfPanelsWarning*test_slow*", "*N+1: testapp.Book → author*"])


def test_without_the_option_nothing_is_checked(project):
    project.pytester.makepyfile(test_slow=SLOW)
    result = project.run()
    result.assert_outcomes(passed=3)
    assert "= ddt_perfpanels =" not in result.stdout.str()


def test_summary_table_and_json_report(project):
    project.pytester.makepyfile(test_slow=SLOW)
    result = project.run("--perfpanels=warn", "--perfpanels-report=perf.json")
    result.stdout.fnmatch_lines(
        [
            "*= ddt_perfpanels =*",
            "test * queries   N+1  counts  cache  ignored",
            "test_slow.py::test_slow *7 *1 *0 *0 *0",
            "test_slow.py::test_counts *4 *0 *1 *0 *0",
            "test_slow.py::test_fixed *1 *0 *0 *0 *0",
            "3 tests measured, 12 queries, 2 with N+1 or counts findings.",
        ]
    )
    tests = {t["test"]: t for t in project.json("perf.json")["tests"]}
    slow = tests["test_slow.py::test_slow"]
    assert (slow["queries"], slow["nplusone"], slow["count_findings"]) == (7, 1, 0)
    assert slow["findings"][0]["key"] == "nplusone testapp.Book.author"
    assert slow["findings"][0]["suggestion"] == 'Book.objects.select_related("author")'
    assert tests["test_slow.py::test_fixed"]["queries"] == 1


def test_the_ini_setting_turns_it_on(project):
    project.pytester.makepyfile(test_slow=SLOW)
    project.pytester.makeini(
        "[pytest]\nDJANGO_SETTINGS_MODULE = tests.settings\nperfpanels = fail\n"
    )
    result = project.run()
    result.assert_outcomes(passed=1, failed=2)


def test_client_async_and_testcase_classes(project):
    project.pytester.makepyfile(
        test_kinds='''
import pytest
from django.test import TestCase
from tests.factories import make_library
from tests.testapp.models import Book

def test_client(client, library):
    assert client.get("/books/").status_code == 200

@pytest.mark.django_db(transaction=True)
async def test_async(async_client):
    from asgiref.sync import sync_to_async
    await sync_to_async(make_library)(authors=2, books_per_author=2)
    response = await async_client.get("/books/async/")
    assert response.status_code == 200

class TestClass(TestCase):
    def setUp(self):
        make_library(authors=2, books_per_author=2)

    def test_in_a_testcase(self):
        for book in Book.objects.all():
            book.author.name

@pytest.mark.django_db(transaction=True)
def test_live_server(live_server):
    import urllib.request
    make_library(authors=2, books_per_author=2)
    with urllib.request.urlopen(live_server.url + "/books/") as response:
        assert response.status == 200
'''
    )
    result = project.run("--perfpanels", "-v")
    result.assert_outcomes(failed=4)
    for name in ("test_client", "test_async", "TestClass::test_in_a_testcase", "test_live_server"):
        result.stdout.fnmatch_lines([f"FAILED test_kinds.py::{name} - ddt_perfpanels: *"])
    result.stdout.fnmatch_lines(["*N+1: testapp.Book → author*"])


def test_ignored_findings_do_not_fail_and_are_counted_apart(project):
    project.pytester.makepyfile(
        test_ignores='''
import pytest
import ddt_perfpanels
from tests.testapp.models import Author, Book

@pytest.mark.perfpanels_ignore(model="testapp.Book", field="author")
def test_mark(library):
    for book in Book.objects.all():
        book.author.name

def test_block(library):
    with ddt_perfpanels.ignore(kind="count_in_loop"):
        for author in Author.objects.all():
            author.books.count()

def test_block_is_scoped(library):
    with ddt_perfpanels.ignore(model="testapp.Book"):
        list(Book.objects.all())
    for author in Author.objects.all():
        author.books.count()

def test_settings(library, settings):
    settings.DDT_PERFPANELS = {"IGNORE": [{"file": "*/test_ignores.py", "model": "testapp.Book"}]}
    for book in Book.objects.all():
        book.author.name

def test_url_name(client, library, settings):
    settings.DDT_PERFPANELS = {"IGNORE": [{"url_name": "book-list"}]}
    client.get("/books/")
'''
    )
    result = project.run("--perfpanels", "--perfpanels-report=perf.json")
    result.assert_outcomes(passed=4, failed=1)
    result.stdout.fnmatch_lines(["FAILED test_ignores.py::test_block_is_scoped*"])
    tests = {t["test"].split("::")[1]: t for t in project.json("perf.json")["tests"]}
    assert tests["test_mark"]["ignored"] == 1
    assert tests["test_mark"]["nplusone"] == 0
    assert tests["test_block"]["ignored"] == 1
    assert tests["test_settings"]["ignored"] == 1
    assert tests["test_url_name"]["ignored"] == 1
    assert tests["test_block_is_scoped"]["count_findings"] == 1


BASELINE_TESTS = '''
from tests.testapp.models import Book

def test_list(library):
    list(Book.objects.select_related("author"))
'''

GROWN = '''
from tests.testapp.models import Book

def test_list(library):
    for book in Book.objects.all():
        book.author.name
'''

SHRUNK = '''
def test_list(library):
    pass
'''


def test_baseline_update_grow_and_shrink(project):
    project.pytester.makepyfile(test_base=BASELINE_TESTS)
    result = project.run("--perfpanels-baseline=perf-baseline.json", "--perfpanels-update-baseline")
    result.assert_outcomes(passed=1)
    text = (project.pytester.path / "perf-baseline.json").read_text()
    assert project.json("perf-baseline.json")["tests"] == {
        "test_base.py::test_list": {
            "cache_calls": 0,
            "count_findings": 0,
            "findings": [],
            "nplusone": 0,
            "queries": 1,
        }
    }
    assert text.endswith("}\n") and '    "test_base.py::test_list": {\n' in text

    project.pytester.makepyfile(test_base=GROWN)
    result = project.run("--perfpanels-baseline=perf-baseline.json")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*this test grew past its baseline:",
            "*queries: 1 -> 7 (allowed 1)",
            "*nplusone: 0 -> 1 (allowed 0)",
            "*New findings and their fixes:",
            "*N+1: testapp.Book → author (6 queries)*",
            '*fix: Book.objects.select_related("author")',
            "*Accept the new numbers with --perfpanels-update-baseline.",
        ]
    )
    # A tolerance lets the queries grow, never the findings.
    result = project.run("--perfpanels-baseline=perf-baseline.json", "--perfpanels-tolerance=600%")
    result.assert_outcomes(failed=1)
    assert "queries: 1 -> 7" not in result.stdout.str()
    assert "nplusone: 0 -> 1" in result.stdout.str()

    project.pytester.makepyfile(test_base=SHRUNK)
    result = project.run("--perfpanels-baseline=perf-baseline.json")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["1 tests went below their baseline (test_base.py::test_list)*"])
    assert project.json("perf-baseline.json")["tests"]["test_base.py::test_list"]["queries"] == 1

    project.pytester.makepyfile(test_base=GROWN)
    result = project.run("--perfpanels-baseline=perf-baseline.json", "--perfpanels-update-baseline")
    result.assert_outcomes(passed=1)
    entry = project.json("perf-baseline.json")["tests"]["test_base.py::test_list"]
    assert entry["queries"] == 7 and entry["findings"] == ["nplusone testapp.Book.author"]
    # Known to the baseline: with --perfpanels too, the accepted N+1 passes.
    result = project.run("--perfpanels", "--perfpanels-baseline=perf-baseline.json")
    result.assert_outcomes(passed=1)


def test_manage_py_test_runner(project):
    project.pytester.makepyfile(
        test_runner_project='''
from django.test import TestCase
from tests.factories import make_library
from tests.testapp.models import Book

class Slow(TestCase):
    def test_slow(self):
        make_library(authors=2, books_per_author=2)
        for book in Book.objects.all():
            book.author.name

    def test_fixed(self):
        make_library(authors=2, books_per_author=2)
        list(Book.objects.select_related("author"))
'''
    )
    import sys

    result = project.pytester.run(
        sys.executable, "-m", "django", "test", "test_runner_project",
        "--settings=tests.settings",
        "--testrunner=ddt_perfpanels.runner.PerfPanelsRunner",
        "--perfpanels-report=runner.json",
    )
    assert result.ret == 1
    result.stderr.fnmatch_lines(
        [
            "FAIL: test_slow (test_runner_project.Slow*",
            "*1 N+1 or counts finding in this test*",
            "*N+1: testapp.Book → author (4 queries)*",
            "*Ran 2 tests*",
            "FAILED (failures=1)",
        ]
    )
    assert "FAIL: test_fixed" not in result.stderr.str()
    result.stderr.fnmatch_lines(
        [
            "ddt_perfpanels",
            "test * queries   N+1  counts  cache  ignored",
            "test_runner_project.Slow.test_slow * 1 * 0 * 0 * 0",
            "test_runner_project.Slow.test_fixed * 0 * 0 * 0 * 0",
        ]
    )
    tests = {t["test"]: t for t in project.json("runner.json")["tests"]}
    assert tests["test_runner_project.Slow.test_slow"]["nplusone"] == 1

    warned = project.pytester.run(
        sys.executable, "-m", "django", "test", "test_runner_project",
        "--settings=tests.settings",
        "--testrunner=ddt_perfpanels.runner.PerfPanelsRunner",
        "--perfpanels=warn",
    )
    assert warned.ret == 0
    warned.stderr.fnmatch_lines(["*N+1: testapp.Book → author (4 queries)*", "OK"])
