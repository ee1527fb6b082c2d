"""BudgetMiddleware on real traffic (issue 14): what it stores carries no values,
odd input and odd settings never lose a violation or fail a request, and
retention holds without cron."""

import json
import logging
import re
from datetime import timedelta

import django
import pytest
from django.contrib.auth.models import Permission, User
from django.core.cache import cache
from django.core.management import call_command
from django.db.models import Count
from django.http import HttpResponse
from django.test import Client
from django.urls import include, path, re_path
from django.utils import timezone

from ddt_perfpanels.models import BudgetViolation, ViolationMetric
from tests import settings as test_settings
from tests.factories import make_library
from tests.testapp.models import Author, Book

SECRET = "hunter2-Zq8"
EMAIL = "alice@example.com"
API_KEY = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"


def leaky(request):
    """Values a request works with: a password in a filter, emails and API keys
    in cache keys, a literal in raw SQL."""
    for author in Author.objects.all():
        author.books.filter(title=SECRET).count()  # count_in_loop, fix with the value
        for book in author.books.all():
            book.author.name  # noqa: B018 - N+1
    for i in range(4):
        cache.get(f"pwreset:{EMAIL}:{i}")  # get_in_loop, misses
        cache.get(f"apikey:{API_KEY}{i}")
    cache.get(f"apikey:{API_KEY}0")  # repeated_get
    Book.objects.filter(isbn=SECRET).annotate(n=Count("tags")).exists()
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM testapp_book WHERE title = '{SECRET}'")
    return HttpResponse("ok")


def probe(request, **kwargs):
    return HttpResponse("ok")


urlpatterns = [
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", include("tests.urls")),
    path("leaky/", leaky, name="leaky"),
    path("x/<str:anything>/", probe),
    re_path(r"^legacy/(?P<token>[0-9a-f]+)/(\d+)/$", probe),
]

pytestmark = pytest.mark.django_db
MIDDLEWARE = "ddt_perfpanels.middleware.BudgetMiddleware"


@pytest.fixture(autouse=True)
def budget_middleware(settings):
    settings.ROOT_URLCONF = "tests.test_production_safety"
    settings.MIDDLEWARE = [*test_settings.MIDDLEWARE, MIDDLEWARE]
    settings.DDT_PERFPANELS = {"BUDGETS": {"default": {"response_time_ms": 0}}}
    cache.clear()


def stored_text() -> str:
    """Every value of every violation and metric row, as one string."""
    rows = [*BudgetViolation.objects.values(), *ViolationMetric.objects.values()]
    return json.dumps(rows, default=str)


# -- 1. tokens in URLs ------------------------------------------------------------------


def test_password_reset_flow_stores_no_token(settings, mailoutbox):
    if django.VERSION >= (6, 1):  # MAILERS replaces EMAIL_BACKEND (the test runner's)
        settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    user = User.objects.create_user("alice", EMAIL, "old password 1")
    client = Client()
    assert client.post("/accounts/password_reset/", {"email": EMAIL}).status_code == 302
    [message] = mailoutbox
    link = re.search(r"http://testserver(/accounts/reset/\S+/\S+/)", message.body).group(1)
    uidb64, token = link.strip("/").split("/")[-2:]
    response = client.get(link)  # Django keeps the token in the session, redirects
    assert response.status_code == 302
    set_password = response["Location"]
    response = client.post(
        set_password, {"new_password1": "n3w-Passw0rd!x", "new_password2": "n3w-Passw0rd!x"}
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("n3w-Passw0rd!x")  # the flow itself still works

    paths = set(BudgetViolation.objects.values_list("path", flat=True))
    assert "/accounts/reset/<uidb64>/<token>/" in paths
    assert "/accounts/password_reset/" in paths
    text = stored_text()
    assert token not in text
    assert f"/{uidb64}/" not in text
    assert EMAIL not in text

    # What a staff user with only the view permission reads in the admin.
    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_budgetviolation"))
    staff = Client()
    staff.force_login(viewer)
    listing = staff.get("/admin/admin/ddt_perfpanels/budgetviolation/")
    assert listing.status_code == 200
    assert "/accounts/reset/&lt;uidb64&gt;/&lt;token&gt;/" in listing.content.decode()
    assert token not in listing.content.decode()


def test_raw_path_only_when_asked(settings):
    Client().get("/x/s3cr3t-Value/?q=also-secret")
    settings.DDT_PERFPANELS = {**settings.DDT_PERFPANELS, "BUDGET_STORE_RAW_PATH": True}
    Client().get("/x/s3cr3t-Value/?q=also-secret")
    assert sorted(BudgetViolation.objects.values_list("path", flat=True)) == [
        "/x/<str:anything>/",
        "/x/s3cr3t-Value/",  # opted in: the path, never the query string
    ]


def test_regex_routes_and_unmatched_paths_keep_no_values():
    Client().get("/legacy/9f86d081884c7d65/42/")
    Client().get(f"/nowhere/{EMAIL}/12345/{API_KEY}/")  # no URL matched
    paths = sorted(BudgetViolation.objects.values_list("path", flat=True))
    assert paths == ["/legacy/<token>/<arg>/", "/nowhere/{email}/{int}/{secret}/"]


# -- 2. SQL parameters and cache keys ------------------------------------------------------


@pytest.mark.parametrize("capture", ["full", "auto"])
def test_no_literal_sql_parameter_or_raw_cache_key_is_stored(settings, capture):
    limits = {"queries": 1, "cache_calls": 0}
    if capture == "full":
        limits |= {"nplusone": 0, "count_findings": 0}
    settings.DDT_PERFPANELS = {"BUDGETS": {"default": limits}, "BUDGET_MAX_FINDINGS": 20}
    make_library(authors=3, books_per_author=2)
    assert Client().get("/leaky/").status_code == 200
    violation = BudgetViolation.objects.get()
    kinds = {f.get("kind") for f in violation.findings}
    # The findings are there, with their fixes...
    assert {"get_in_loop", "repeated_get"} <= kinds
    if capture == "full":
        assert "count_in_loop" in kinds
        assert violation.nplusone
        fixes = " ".join(f.get("code", "") + f.get("suggestion", "") for f in violation.findings)
        assert "filter(title=...)" in fixes or "title=..." in fixes
        assert any("%s" in f.get("sql", "") for f in violation.findings + violation.nplusone)
    patterns = {f.get("pattern") for f in violation.findings}
    assert "pwreset:{email}:{int}" in patterns
    assert "apikey:{secret}" in patterns
    # ...without one value of the request.
    text = stored_text()
    for value in (SECRET, "hunter2", EMAIL, API_KEY, "sk_live", "4eC39HqLyjWDarjtT1zdp7dc"):
        assert value not in text, text[max(0, text.find(value) - 300) : text.find(value) + 100]


def test_toolbar_keeps_showing_real_values(settings):
    """In development the panel shows what happened: only storage is redacted."""
    from ddt_perfpanels import capture
    from ddt_perfpanels.budgets.evaluate import summarize_findings

    settings.DDT_PERFPANELS = {"BUDGETS": {"default": {"nplusone": 0}}}
    make_library(authors=3, books_per_author=2)
    with capture() as report:
        for author in Author.objects.all():
            author.books.filter(title=SECRET).count()
    _, findings = summarize_findings(report, 5)
    assert SECRET in json.dumps(findings)
    _, stored = summarize_findings(report, 5, redacted=True)
    assert SECRET not in json.dumps(stored)


# -- 4. text a database refuses ------------------------------------------------------------


def test_nul_byte_in_the_path_is_recorded(settings, caplog):
    caplog.set_level(logging.ERROR, logger="ddt_perfpanels")
    Client().get("/x/%00/")
    Client().get("/nowhere/a%00b/")  # no URL matched: the path itself, redacted
    settings.DDT_PERFPANELS = {**settings.DDT_PERFPANELS, "BUDGET_STORE_RAW_PATH": True}
    Client().get("/x/%00/")
    Client().get("/nowhere/%ED%A0%80/")  # no UTF-8: Django keeps it percent-encoded
    assert sorted(BudgetViolation.objects.values_list("path", flat=True)) == [
        "/nowhere/%ED%A0%80/",
        "/nowhere/ab/",
        "/x//",  # only the NUL is gone
        "/x/<str:anything>/",
    ]
    assert not [r for r in caplog.records if r.name == "ddt_perfpanels"]


def test_unstorable_characters_in_findings_are_dropped_alone():
    from ddt_perfpanels.redact import storable, storable_json

    assert storable("a\x00b\ud800c é ✓") == "abc é ✓"
    assert storable_json({"k\x00": ["v\x00", 1, None]}) == {"k": ["v", 1, None]}


# -- 5. settings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("BUDGET_SAMPLE_RATE", "0.5"),
        ("BUDGET_SAMPLE_RATE", float("nan")),
        ("BUDGET_FULL_CAPTURE_SECONDS", 10**400),
        ("BUDGET_RETENTION_DAYS", 10**6),
        ("BUDGET_MAX_FINDINGS", "5"),
        ("BUDGET_PRUNE_EVERY", -1),
        ("BUDGET_CAPTURE", "everything"),
        ("HOOKS_LINGER_SECONDS", float("nan")),
        ("MAX_QUERIES", 10**400),
        ("STACK_DEPTH", 1e-320),
        ("MAX_PROVENANCE", 0),
    ],
    ids=lambda value: value if isinstance(value, str) else repr(value)[:12],
)
def test_a_bad_setting_never_loses_a_violation(settings, caplog, key, value):
    """Flagged by the checks; at run time its default applies, with one warning."""
    from ddt_perfpanels.checks import check_settings

    settings.DDT_PERFPANELS = {**settings.DDT_PERFPANELS, key: value}
    errors = [e for e in check_settings() if key in e.msg]
    from ddt_perfpanels.budgets.checks import check_budget_settings

    errors += [e for e in check_budget_settings() if key in e.msg]
    assert len(errors) == 1 and errors[0].level >= 40
    caplog.set_level(logging.WARNING, logger="ddt_perfpanels")
    make_library(authors=2, books_per_author=2)
    client = Client()
    for _ in range(3):
        assert client.get("/leaky/").status_code == 200
    assert BudgetViolation.objects.count() == 3
    ours = [r for r in caplog.records if r.name == "ddt_perfpanels"]
    assert [r.levelname for r in ours] == ["WARNING"]  # once, not per request
    assert key in ours[0].getMessage()


@pytest.mark.parametrize(
    "limit", [10**400, 1e-320, float("nan"), float("inf"), 1e16], ids=lambda v: repr(v)[:12]
)
def test_budget_limits_out_of_range_are_check_errors(settings, limit):
    from ddt_perfpanels.budgets.checks import check_budget_settings

    settings.DDT_PERFPANELS = {"BUDGETS": {"default": {"queries": limit, "nplusone": 0}}}
    [error] = check_budget_settings()
    assert error.id == "ddt_perfpanels.E013"
    make_library(authors=2, books_per_author=2)
    Client().get("/leaky/")  # the valid part applies, with a finite ratio
    violation = BudgetViolation.objects.get()
    assert violation.limits == {"nplusone": 0}
    assert violation.worst_ratio < 1e12


@pytest.mark.django_db  # all checks: Django 6.1 asks the database about JSONField
def test_manage_py_check_survives_huge_numbers(settings):
    from django.core.management.base import SystemCheckError

    settings.DDT_PERFPANELS = {"BUDGETS": {"default": {"queries": 10**400}}, "MAX_QUERIES": 10**400}
    with pytest.raises(SystemCheckError) as caught:
        call_command("check")
    assert "ddt_perfpanels.E013" in str(caught.value)
    assert "ddt_perfpanels.E002" in str(caught.value)


@pytest.mark.parametrize(
    ("key", "suggestion"),
    [
        ("BUDGET", "BUDGETS"),
        ("BUDGETS_SAMPLE_RATE", "BUDGET_SAMPLE_RATE"),
        ("STACK_DEPT", "STACK_DEPTH"),
    ],
)
def test_unknown_keys_are_check_warnings(settings, key, suggestion):
    from ddt_perfpanels.checks import check_settings

    settings.DDT_PERFPANELS = {key: 1}
    [warning] = check_settings()
    assert warning.id == "ddt_perfpanels.W001"
    assert repr(key) in warning.msg
    assert warning.hint == f"Did you mean {suggestion!r}?"


def test_prune_command_with_huge_retention(settings):
    settings.DDT_PERFPANELS = {**settings.DDT_PERFPANELS, "BUDGET_RETENTION_DAYS": 10**6}
    Client().get("/x/a/")
    call_command("perfpanels_prune", verbosity=0)
    call_command("perfpanels_prune", days=10**6, verbosity=0)
    assert BudgetViolation.objects.count() == 1


# -- 7. retention without cron ---------------------------------------------------------------


def test_prunes_by_time_once_an_hour(settings, monkeypatch):
    from ddt_perfpanels import middleware

    settings.DDT_PERFPANELS = {**settings.DDT_PERFPANELS, "BUDGET_RETENTION_DAYS": 7}
    old = timezone.now() - timedelta(days=8)
    Client().get("/x/a/")
    BudgetViolation.objects.update(created_at=old)
    ViolationMetric.objects.update(created_at=old)
    clock = [1000.0]
    monkeypatch.setattr(middleware, "monotonic", lambda: clock[0])
    monkeypatch.setattr(middleware, "_pruned_at", None)  # a process just started
    monkeypatch.setattr(middleware, "_recorded", 1)  # far from BUDGET_PRUNE_EVERY
    Client().get("/x/a/")  # the first checked request of the process looks
    assert not BudgetViolation.objects.filter(created_at=old).exists()
    assert not ViolationMetric.objects.filter(created_at=old).exists()

    BudgetViolation.objects.update(created_at=old)
    clock[0] += 3599
    Client().get("/x/a/")  # within the hour: no look
    assert BudgetViolation.objects.filter(created_at=old).count() == 1
    clock[0] += 2
    Client().get("/x/a/")
    assert not BudgetViolation.objects.filter(created_at=old).exists()
    assert BudgetViolation.objects.count() == 2


# -- 6. memory -------------------------------------------------------------------------------


def _n_plus_one():
    return [book.author.name for book in Book.objects.order_by("pk")]


def test_provenance_stops_at_max_provenance_and_the_panel_says_so(settings):
    from ddt_perfpanels import capture

    make_library(authors=10, books_per_author=3)  # 30 books, 30 lazy authors
    settings.DDT_PERFPANELS = {"MAX_PROVENANCE": 40}
    with capture() as report:
        names = _n_plus_one()
    assert len(names) == 30
    recorder = report.recorder
    assert report.query_count == 31  # every query counted
    stopped = recorder.provenance_stopped_at
    assert stopped is not None and stopped < 31
    assert recorder.provenance_size() <= 40
    assert all(q.frames == [] for q in recorder.queries[stopped:])  # no stack kept
    # The first part is still analysed: its N+1 is found.
    [cluster] = report.nplusone
    assert cluster.count < 30
    [notice] = report.notices
    assert "ORM provenance stopped after" in notice and "MAX_PROVENANCE" in notice
    assert report.to_dict()["notices"] == [notice]

    settings.DDT_PERFPANELS = {"MAX_PROVENANCE": 1000}
    with capture() as report:
        _n_plus_one()
    assert report.recorder.provenance_stopped_at is None
    assert report.notices == []
    assert report.nplusone[0].count == 30


def test_panel_shows_the_notice(settings):
    from tests.toolbar import panel_content

    make_library(authors=10, books_per_author=3)
    settings.DEBUG = True
    settings.ROOT_URLCONF = "tests.urls"
    settings.DDT_PERFPANELS = {"MAX_PROVENANCE": 40}
    client = Client()
    response = client.get("/books/")
    content = panel_content(client, response, "NPlusOnePanel")
    assert "ORM provenance stopped after" in content


def test_the_middleware_releases_its_records(settings, monkeypatch):
    from ddt_perfpanels.recording import context

    recorders = []
    real_init = context.Recorder.__init__

    def keep(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        recorders.append(self)

    monkeypatch.setattr(context.Recorder, "__init__", keep)
    settings.DDT_PERFPANELS = {"BUDGETS": {"default": {"queries": 1, "nplusone": 0}}}
    make_library(authors=3, books_per_author=2)
    Client().get("/leaky/")
    violation = BudgetViolation.objects.get()
    assert violation.nplusone  # measured in full, then...
    [recorder] = recorders
    # ...everything dropped when the request ended, not at a later collection.
    assert (recorder.queries, recorder.loads, recorder.ops, recorder.tags) == ([], [], [], {})
    assert recorder.extras == {}
