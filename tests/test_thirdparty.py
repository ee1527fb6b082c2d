"""Advice on a real application: an installed package (treecms, a small CMS in
tests/thirdparty/site-packages) and the application code that uses it.

No N+1 cluster spans two code sites; a walk from row to row (a tree's parents,
one page per path segment) is no loop; rows of a custom iterable keep their
provenance; what the package does is labelled with its name; and no "unused"
eager load is advice whose removal adds a query."""

import inspect
import os

import pytest
from django.template.loader import render_to_string
from django.test import Client, RequestFactory
from treecms.models import ArticlePage, EventPage, Page
from treecms.views import PageListView

from ddt_perfpanels import capture
from ddt_perfpanels.analysis.thirdparty import package_of
from tests.cmssite.factories import make_site

pytestmark = pytest.mark.django_db

URLS = [
    "/cms/site/",
    "/cms/site/news/",
    "/cms/site/news/article-0/sub/",
    "/cms/tree/",
    "/cms/overview/",
    "/cms/breadcrumbs/",
    "/cms/editors/",
    "/cms/pages/",
]


@pytest.fixture
def site():
    return make_site()


def get(url):
    with capture() as report:
        response = Client().get(url)
    assert response.status_code == 200, url
    return report, response.content.decode()


def run(body):
    with capture() as report:
        report.result = body()
    return report


def slug_gets(report):
    return [q for q in report.queries if '"slug" =' in q.sql and "LIMIT 21" in q.sql]


# -- one code site, and a loop that exists ---------------------------------------------


def test_routing_by_path_segments_is_not_an_nplusone(site):
    report, html = get("/cms/site/news/article-0/sub/")
    assert "Sub" in html
    assert len(slug_gets(report)) == 3  # one get() per path segment ran
    assert report.nplusone == [], [f.message for f in report.nplusone]


def test_routing_written_as_a_loop_is_not_an_nplusone(site):
    def route(path):
        page = Page.objects.get(parent=None)
        for segment in path.split("/"):
            page = Page.objects.get(parent=page, slug=segment)
        return page

    report = run(lambda: route("news/article-0/sub"))
    assert report.result.slug == "sub"
    assert report.nplusone == [], [f.message for f in report.nplusone]


def test_a_parent_walk_in_a_package_is_not_an_nplusone(site):
    """serve() walks the ancestors twice and looks up a common ancestor, all in
    treecms with no application frame: the lookups share no site key."""
    report, _html = get("/cms/site/news/article-0/sub/")
    library_gets = [q for q in report.queries if q.library and not q.frames]
    assert len({q.site for q in library_gets}) >= 2
    assert all(f.fix != "in_bulk" for f in report.nplusone)


def test_lookups_at_two_lines_are_not_one_cluster(site):
    report, _html = get("/cms/tree/")
    assert report.nplusone == []

    books = list(Page.objects.order_by("pk"))

    def two_lines():
        first = books[3].locked_by
        second = books[4].locked_by
        return first, second

    report = run(two_lines)
    assert len(report.queries) == 2
    assert report.nplusone == []


def test_a_parent_lookup_per_row_is_an_nplusone_at_one_site(site):
    report, _html = get("/cms/breadcrumbs/")
    [finding] = report.nplusone
    assert finding.fix == "in_bulk"
    assert finding.access_site.startswith("tests/cmssite/views.py:")
    assert finding.third_party is None  # the loop is the application's
    ids = list(Page.objects.exclude(parent=None).values_list("parent_id", flat=True))
    with capture() as fixed:
        parents = eval(finding.suggestion, {"Page": Page, "ids": ids})
    assert len(fixed.queries) == 1
    assert set(parents) == set(ids)


@pytest.mark.parametrize("url", URLS)
def test_every_finding_says_where(site, url):
    """Never "evaluated at ?": a package's line stands in for the application's."""
    report, _html = get(url)
    for finding in report.nplusone:
        assert finding.origin and finding.access_site, finding.message
    for finding in report.counts:
        assert finding.origin, finding.message


# -- custom iterables -------------------------------------------------------------------


def _locked_by_queries(report):
    return [q for q in report.queries if "auth_user" in q.sql]


def test_rows_of_a_custom_iterable_keep_their_provenance(site):
    report, _html = get("/cms/overview/")
    [finding] = [f for f in report.nplusone if f.path == "locked_by"]
    locked = Page.objects.exclude(locked_by=None).count()
    assert finding.count == locked
    assert finding.rows == locked
    assert finding.suggestion == '.prefetch_related("locked_by")'
    assert "SpecificIterable" in finding.message

    def fixed_page():
        pages = eval(f"Page.objects.specific(){finding.suggestion}", {"Page": Page})
        html = render_to_string("treecms/page_list.html", {"pages": pages})
        return html, {type(p) for p in pages}

    sizes = []
    for _ in range(2):
        with capture() as fixed:
            html, kinds = fixed_page()
        assert {ArticlePage, EventPage} <= kinds  # still the specific rows
        assert len(_locked_by_queries(fixed)) == 1
        sizes.append(len(fixed.queries))
        make_site()
    assert sizes[0] == sizes[1]


def test_a_row_method_that_queries_is_found_at_the_method(site):
    report, _html = get("/cms/overview/")
    [finding] = [f for f in report.counts if f.field == "Page.is_locked()"]
    rows = Page.objects.count()
    assert finding.kind == "exists_in_loop"
    assert (finding.count, finding.rows) == (2 * rows, rows)  # twice per row
    line = inspect.getsourcelines(Page.is_locked)[1]
    assert finding.origin.endswith(f"treecms/models.py:{line}")
    assert finding.third_party["package"] == "treecms"
    assert finding.third_party["owner"] == "yours"  # the loop is the template's
    assert "2 per row" in finding.message


# -- third-party code -------------------------------------------------------------------


def test_a_package_is_told_by_where_its_files_are(settings, tmp_path):
    import django
    import treecms.models

    import tests.testapp.models

    assert package_of(treecms.models.__file__) == ("treecms", "treecms/models.py")
    assert package_of(tests.testapp.models.__file__) is None
    assert package_of(django.__file__) is None  # the framework
    assert package_of(os.__file__) is None  # the standard library
    # A project that sets BASE_DIR: any module outside it is installed code.
    settings.BASE_DIR = os.path.dirname(tests.testapp.models.__file__)
    cms = os.path.join(os.path.dirname(os.path.dirname(__file__)), "tests/cmssite/views.py")
    assert package_of(cms) == ("tests", "tests/cmssite/views.py")
    assert package_of(tests.testapp.models.__file__) is None
    assert package_of(os.__file__) is None


def test_a_package_view_with_get_queryset_is_fixable_from_your_side(site):
    report, html = get("/cms/pages/")
    [finding] = report.nplusone
    label = finding.third_party
    assert label["package"] == "treecms" and label["owner"] == "package"
    assert label["site"].startswith("treecms/views.py:")
    assert label["fixable"] and label["override"] == "PageListView.get_queryset"
    assert finding.origin.startswith("treecms/page_list.html:")  # the package's template
    assert finding.suggestion == 'super().get_queryset().select_related("locked_by")'

    namespace = {"PageListView": PageListView}
    exec(
        "class Fixed(PageListView):\n"
        "    def get_queryset(self):\n"
        f"        return {finding.suggestion}\n",
        namespace,
    )
    sizes = []
    for _ in range(2):
        with capture() as fixed:
            response = namespace["Fixed"].as_view()(RequestFactory().get("/"))
            response.render()
        sizes.append(len(fixed.queries))
        assert fixed.nplusone == []
        if not sizes[1:]:
            assert response.content.decode() == html
        make_site()
    assert sizes == [1, 1]


def test_a_package_function_is_fixable_only_upstream(site):
    report, _html = get("/cms/site/news/")
    [finding] = report.nplusone
    # Where, even with no line of the application on the stack: the package's.
    assert finding.origin.startswith("treecms/page.html:")
    assert finding.access_site.startswith("treecms/page.html:")
    assert finding.third_party["package"] == "treecms"
    assert not finding.third_party["fixable"]
    assert "report it to treecms" in finding.third_party["how"]
    assert "The fix, for treecms to make:" in finding.message  # not code for you to paste
    [note] = report.unused_eager
    assert not note.certain and "outside your application" in note.reason
    assert "treecms/views.py" in note.reason


def test_budgets_leave_package_findings_out_unless_asked(site, settings):
    report, _html = get("/cms/pages/")
    assert len(report.nplusone) == 1
    assert report.metrics()["nplusone"] == 0
    settings.DDT_PERFPANELS = {**settings.DDT_PERFPANELS, "BUDGET_INCLUDE_THIRD_PARTY": True}
    report, _html = get("/cms/pages/")
    assert report.metrics()["nplusone"] == 1


def test_the_setting_is_checked(settings):
    from ddt_perfpanels.checks import check_settings

    settings.DDT_PERFPANELS = {"BUDGET_INCLUDE_THIRD_PARTY": "yes"}
    [error] = check_settings()
    assert "BUDGET_INCLUDE_THIRD_PARTY" in error.msg


# -- unused eager loads -----------------------------------------------------------------


@pytest.mark.parametrize("url", URLS)
def test_only_certain_unused_eager_loads_are_advice(site, url):
    report, _html = get(url)
    certain = [(f.model, f.lookup) for f in report.unused_eager if f.certain]
    expected = [("treecms.Page", "locked_by")] if url == "/cms/editors/" else []
    assert certain == expected


def test_removing_an_unused_eager_load_adds_no_query(site):
    report, html = get("/cms/editors/")
    [finding] = report.unused_eager
    assert finding.certain
    assert finding.added_at.startswith("tests/cmssite/views.py:")
    # The root's filter and ordering are kept.
    assert finding.suggestion == (
        'Page.objects.filter(live=True).order_by("-pk").select_related("parent")'
    )
    for _ in range(2):
        with capture() as before:
            pages = Page.objects.filter(live=True).select_related("locked_by", "parent")
            original = render_to_string("cmssite/editors.html", {"pages": pages.order_by("-pk")})
        with capture() as after:
            pages = eval(finding.suggestion, {"Page": Page})
            assert render_to_string("cmssite/editors.html", {"pages": pages}) == original
        assert len(after.queries) <= len(before.queries)
        assert after.unused_eager == []
        make_site()


# -- the panels ---------------------------------------------------------------------------


@pytest.fixture
def toolbar_on(settings, site):
    settings.DEBUG = True


def test_package_findings_are_folded_apart_in_the_panel(toolbar_on):
    from tests.toolbar import panel_content

    client = Client()
    response = client.get("/cms/pages/")
    content = panel_content(client, response, "NPlusOnePanel")
    folded = content.split('<details class="ddtpp-packages">', 1)
    assert len(folded) == 2  # the group is there, folded by default
    assert "No N+1 queries in your application" in folded[0]
    assert "in package treecms" in folded[1] and "fixable from your side" in folded[1]
    assert "super().get_queryset().select_related(&quot;locked_by&quot;)" in folded[1]


def test_uncertain_unused_loads_are_quiet_notes(toolbar_on):
    from tests.toolbar import panel_content

    client = Client()
    response = client.get("/cms/site/news/")
    content = panel_content(client, response, "NPlusOnePanel")
    assert "AVOID eager loading" not in content
    assert '<details class="ddtpp-notes">' in content
    response = client.get("/cms/editors/")
    content = panel_content(client, response, "NPlusOnePanel")
    assert "AVOID eager loading" in content


def test_a_package_method_per_row_is_labelled_in_the_counts_panel(toolbar_on):
    from tests.toolbar import panel_content

    client = Client()
    response = client.get("/cms/overview/")
    content = panel_content(client, response, "CountsPanel")
    assert "Page.is_locked()" in content
    assert "method of package treecms" in content
