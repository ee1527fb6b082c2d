"""Budget settings, @perf_budget, route matching and the system checks."""

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.http import HttpResponse
from django.test import override_settings
from django.urls import include, path
from django.utils.decorators import method_decorator
from django.views import View

from ddt_perfpanels.budgets import budget_for_url, perf_budget
from ddt_perfpanels.budgets.checks import check_budget_routes, check_budget_settings
from ddt_perfpanels.budgets.config import budget_config, parse_budgets


@perf_budget(queries=3, nplusone=0)
def decorated_view(request):
    return HttpResponse("ok")


@perf_budget(queries=2)
async def decorated_async_view(request):
    return HttpResponse("ok")


@perf_budget(db_time_ms=50, queries=None)
class DecoratedClassView(View):
    def get(self, request):
        return HttpResponse("ok")


class DispatchDecoratedView(View):
    @method_decorator(perf_budget(queries=4))
    def dispatch(self, *args, **kwargs):
        return super().dispatch(*args, **kwargs)

    def get(self, request):
        return HttpResponse("ok")


def plain_view(request):
    return HttpResponse("ok")


api_patterns = (
    [
        path("items/", plain_view, name="items"),
        path("items/<int:pk>/", plain_view, name="item"),
    ],
    "api",
)

urlpatterns = [
    path("projects/", plain_view, name="projects-list"),
    path("api/", include(api_patterns)),
    path("health/", plain_view),
    path("decorated/", decorated_view, name="decorated"),
    path("decorated-async/", decorated_async_view, name="decorated-async"),
    path("class/", DecoratedClassView.as_view(), name="class"),
    path("dispatch/", DispatchDecoratedView.as_view(), name="dispatch"),
]

URLCONF = "tests.test_budget_config"
DEFAULT = {"queries": 50, "nplusone": 0, "db_time_ms": 300}


def budgets(**routes):
    return {"BUDGETS": {"default": DEFAULT, "routes": routes}}


pytestmark = pytest.mark.usefixtures("urlconf")


@pytest.fixture
def urlconf(settings):
    settings.ROOT_URLCONF = URLCONF


# -- matching ------------------------------------------------------------------------


def test_default_applies_everywhere(settings):
    settings.DDT_PERFPANELS = {"BUDGETS": {"default": DEFAULT}}
    budget = budget_for_url("/projects/")
    assert budget.limits == DEFAULT
    assert budget.sources == ("default",)
    assert budget.route == "projects-list"


def test_route_overrides_default_metric_by_metric(settings):
    settings.DDT_PERFPANELS = budgets(**{"projects-list": {"queries": 8, "db_time_ms": None}})
    budget = budget_for_url("/projects/?page=2")
    assert budget.limits == {"queries": 8, "nplusone": 0}  # None removed the db_time_ms limit
    assert budget.sources == ("default", "route 'projects-list'")
    assert budget.source_of("queries") == "route 'projects-list'"
    assert budget.source_of("nplusone") == "default"


def test_url_name_beats_exact_path_beats_glob(settings):
    settings.DDT_PERFPANELS = budgets(
        **{
            "/api/*": {"queries": 30},
            "/api/items/*": {"queries": 20},
            "/api/items/7/": {"queries": 10},
            "api:item": {"queries": 5},
        }
    )
    assert budget_for_url("/api/items/7/").limits["queries"] == 5
    assert budget_for_url("/api/items/8/").limits["queries"] == 5
    assert budget_for_url("/api/items/").limits["queries"] == 20  # longer glob wins
    settings.DDT_PERFPANELS = budgets(
        **{"/api/*": {"queries": 30}, "/api/items/7/": {"queries": 10}}
    )
    assert budget_for_url("/api/items/7/").limits["queries"] == 10


def test_url_name_glob_and_namespaces(settings):
    settings.DDT_PERFPANELS = budgets(**{"api:*": {"queries": 12}})
    assert budget_for_url("/api/items/3/").limits["queries"] == 12
    assert budget_for_url("/api/items/3/").route == "api:item"
    assert budget_for_url("/projects/").limits["queries"] == 50


def test_unnamed_and_unmatched_urls(settings):
    settings.DDT_PERFPANELS = budgets(**{"/health/": {"queries": 1}, "/missing/*": {"queries": 2}})
    health = budget_for_url("/health/")
    assert health.route == "/health/"  # the URL pattern, as it has no name
    assert health.limits["queries"] == 1
    missing = budget_for_url("/missing/page/")
    assert missing.route == ""
    assert missing.limits["queries"] == 2  # a path glob applies to a 404 too


def test_first_written_wins_between_equally_specific_globs(settings):
    settings.DDT_PERFPANELS = budgets(**{"/api/i*": {"queries": 1}, "/api/*/": {"queries": 2}})
    assert budget_for_url("/api/items/").limits["queries"] == 1


def test_parsed_config_follows_settings_changes(settings):
    settings.DDT_PERFPANELS = {"BUDGETS": {"default": {"queries": 1}}}
    assert budget_config().default == {"queries": 1}
    settings.DDT_PERFPANELS = {"BUDGETS": {"default": {"queries": 2}}}
    assert budget_config().default == {"queries": 2}


# -- @perf_budget ------------------------------------------------------------------


def test_decorator_overrides_settings(settings):
    settings.DDT_PERFPANELS = budgets(decorated={"queries": 20})
    budget = budget_for_url("/decorated/")
    assert budget.limits == {"queries": 3, "nplusone": 0, "db_time_ms": 300}
    assert budget.sources[-1] == "@perf_budget on tests.test_budget_config.decorated_view"


def test_decorator_returns_the_view_unchanged():
    assert decorated_view.__name__ == "decorated_view"
    assert decorated_view(None).content == b"ok"


def test_decorator_on_async_view_keeps_it_async(settings):
    import inspect

    settings.DDT_PERFPANELS = {}
    assert inspect.iscoroutinefunction(decorated_async_view)
    assert budget_for_url("/decorated-async/").limits == {"queries": 2}


def test_decorator_on_class_based_view(settings):
    settings.DDT_PERFPANELS = budgets()
    budget = budget_for_url("/class/")
    assert budget.limits == {"nplusone": 0, "db_time_ms": 50}  # queries=None lifted the default
    assert budget_for_url("/dispatch/").limits["queries"] == 4


def test_decorator_needs_keywords():
    with pytest.raises(TypeError, match=r"@perf_budget\(queries=8, nplusone=0\)"):
        perf_budget(plain_view)


# -- parsing is lenient at runtime ----------------------------------------------------


def test_bad_entries_are_skipped_not_raised():
    config = parse_budgets(
        {"default": {"queries": 5, "querys": 3, "db_time_ms": -1}, "routes": {"x": "nope", "": {}}}
    )
    assert config.default == {"queries": 5}
    assert [p.id for p in config.problems] == [
        "ddt_perfpanels.E012",
        "ddt_perfpanels.E013",
        "ddt_perfpanels.E011",
        "ddt_perfpanels.E014",
    ]


# -- system checks ----------------------------------------------------------------------


def messages(errors):
    return [(e.id, e.msg, e.hint) for e in errors]


@pytest.mark.parametrize(
    ("budgets_value", "expected_id", "text"),
    [
        ({"default": {"querys": 5}}, "ddt_perfpanels.E012", "unknown metric 'querys'"),
        ({"default": {"queries": -1}}, "ddt_perfpanels.E013", "must be a number >= 0"),
        ({"default": {"queries": True}}, "ddt_perfpanels.E013", "got True"),
        ({"default": {"queries": "8"}}, "ddt_perfpanels.E013", "got '8'"),
        ({"default": {"db_time_ms": float("nan")}}, "ddt_perfpanels.E013", "got nan"),
        ({"default": [("queries", 5)]}, "ddt_perfpanels.E011", "must be a dict of metric: limit"),
        ({"routes": {"/api/*": {"nplusone": -2}}}, "ddt_perfpanels.E013", "['/api/*']['nplusone']"),
        ({"routes": ["/api/*"]}, "ddt_perfpanels.E010", "must be a dict of route: limits"),
        ({"defaults": {}}, "ddt_perfpanels.E010", "unknown keys: defaults"),
        ("queries=5", "ddt_perfpanels.E010", "must be a dict with the keys"),
    ],
)
def test_bad_budget_settings_are_check_errors(settings, budgets_value, expected_id, text):
    settings.DDT_PERFPANELS = {"BUDGETS": budgets_value}
    [error] = check_budget_settings()
    assert error.id == expected_id
    assert text in error.msg


def test_unknown_metric_suggests_the_closest(settings):
    settings.DDT_PERFPANELS = {"BUDGETS": {"default": {"db_time": 100}}}
    [error] = check_budget_settings()
    assert error.hint.startswith("Did you mean 'db_time_ms'? Metrics: queries, duplicate_queries")


def test_valid_settings_pass(settings):
    settings.DDT_PERFPANELS = {
        "BUDGETS": {
            "default": {"queries": 50, "db_time_ms": 300.5, "nplusone": 0, "cache_misses": None},
            "routes": {"projects-list": {"queries": 8}, "/api/*": {"db_time_ms": 100}, "api:*": {}},
        },
        "BUDGET_SAMPLE_RATE": 0.25,
        "BUDGET_RETENTION_DAYS": None,
    }
    assert check_budget_settings() == []
    assert check_budget_routes() == []


def test_route_that_is_no_url_name(settings):
    settings.DDT_PERFPANELS = budgets(**{"project-list": {"queries": 8}, "nope:*": {"queries": 1}})
    errors = messages(check_budget_routes())
    assert errors[0][0] == "ddt_perfpanels.E014"
    assert "'project-list', which is not a URL name" in errors[0][1]
    assert errors[0][2].startswith("Did you mean 'projects-list'?")
    assert errors[1][:2] == (
        "ddt_perfpanels.E014",
        "DDT_PERFPANELS['BUDGETS']['routes'] has 'nope:*', which matches no URL name.",
    )


def test_namespaced_names_are_known(settings):
    settings.DDT_PERFPANELS = budgets(**{"api:items": {"queries": 8}, "items": {"queries": 1}})
    [error] = check_budget_routes()
    assert "'items', which is not a URL name" in error.msg
    assert error.hint.startswith("Did you mean 'api:items'?")


def test_bad_decorator_is_a_check_error(settings):
    settings.DDT_PERFPANELS = {}

    @perf_budget(querie=3, db_time_ms=-5)
    def sloppy(request):
        return HttpResponse()

    errors = messages(check_budget_routes())
    ours = [e for e in errors if "sloppy" in e[1]]
    assert [e[0] for e in ours] == ["ddt_perfpanels.E012", "ddt_perfpanels.E013"]
    assert (
        "@perf_budget on tests.test_budget_config.test_bad_decorator_is_a_check_error"
        ".<locals>.sloppy has an unknown metric 'querie'" in ours[0][1]
    )
    assert ours[0][2].startswith("Did you mean 'queries'?")
    # It is applied all the same, without the bad limits.
    from ddt_perfpanels.budgets.config import view_budget

    assert view_budget(sloppy).limits == {}
    from ddt_perfpanels.budgets.decorators import declared

    declared[:] = [b for b in declared if "sloppy" not in b.view]


@pytest.mark.parametrize(
    ("key", "value", "expected_id"),
    [
        ("BUDGET_SAMPLE_RATE", 1.5, "ddt_perfpanels.E015"),
        ("BUDGET_SAMPLE_RATE", "all", "ddt_perfpanels.E015"),
        ("BUDGET_RETENTION_DAYS", 0, "ddt_perfpanels.E016"),
        ("BUDGET_RETENTION_DAYS", 7.5, "ddt_perfpanels.E016"),
        ("BUDGET_MAX_FINDINGS", -1, "ddt_perfpanels.E016"),
        ("BUDGET_PRUNE_EVERY", None, "ddt_perfpanels.E016"),
    ],
)
def test_bad_budget_options(settings, key, value, expected_id):
    settings.DDT_PERFPANELS = {key: value}
    [error] = check_budget_settings()
    assert error.id == expected_id
    assert key in error.msg


@pytest.mark.django_db  # Django 6.1's model checks ask the database
def test_manage_py_check_stops_at_startup(settings):
    settings.DDT_PERFPANELS = {"BUDGETS": {"default": {"queries": -1}, "routes": {"nope": {}}}}
    with pytest.raises(SystemCheckError) as caught:
        call_command("check")
    text = str(caught.value)
    assert "ddt_perfpanels.E013" in text
    assert "DDT_PERFPANELS['BUDGETS']['default']['queries'] must be a number >= 0" in text
    assert "ddt_perfpanels.E014" in text


@pytest.mark.django_db
@override_settings(DDT_PERFPANELS={"BUDGETS": {"default": {"queries": 1}}})
def test_check_passes_for_the_test_project():
    call_command("check")
