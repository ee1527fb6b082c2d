"""End to end, in headless Chromium: the demo's slow pages show each of our
panels with its findings and fixes, the fixed pages are clean, and the admin's
budget dashboard charts the violations and drills down to one."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import demo

pytestmark = [pytest.mark.browser, pytest.mark.own_database]


def fixes(panel) -> list[str]:
    """The code blocks a panel offers to copy."""
    return [text.strip() for text in panel.locator(".ddtpp-fix pre").all_inner_texts()]


def offers(panel, code: str) -> bool:
    """Whether one of the panel's code blocks contains this code."""
    return any(code in block for block in fixes(panel))


def finding_titles(panel) -> list[str]:
    return [
        " ".join(t.split())
        for t in panel.locator(".ddtpp-finding .ddtpp-head strong").all_inner_texts()
    ]


# -- the slow project list ----------------------------------------------------------


def test_nplusone_panel_shows_each_cluster_and_its_fix(page, demo_server):
    page.goto(demo_server.url("/projects/"))
    assert demo.nav_subtitle(page, "NPlusOnePanel") == "3 clusters, 87 wasted queries"

    panel = demo.open_panel(page, "NPlusOnePanel")

    clusters = panel.locator(".ddtpp-finding:not(.ddtpp-info)")
    assert [
        " ".join(c.locator(".ddtpp-head strong").inner_text().split()) for c in clusters.all()
    ] == [
        "projects.Project → owner",
        "projects.Project → sector",
        "projects.Project → tags",
    ]
    assert fixes(panel) == [
        # All three in one statement, then each cluster's own.
        'Project.objects.select_related("owner", "sector").prefetch_related("tags")',
        'Project.objects.select_related("owner")',
        'Project.objects.select_related("sector")',
        'Project.objects.prefetch_related("tags")',
    ]
    first = clusters.first
    assert first.locator(".ddtpp-badge.ddtpp-bad").inner_text() == "30 queries"
    # Where to change the code: the template line of the lazy load.
    assert "lazy loads at projects/list.html:" in first.inner_text()
    assert first.locator("button.ddtpp-copy").is_visible()
    # The stack is there on demand, with the source lines.
    first.locator("summary", has_text="Stack").click()
    assert "projects/views.py" in first.locator(".ddtpp-stack").inner_text()


def test_counts_panel_shows_the_table_and_each_finding(page, demo_server):
    page.goto(demo_server.url("/projects/"))
    panel = demo.open_panel(page, "CountsPanel")

    rows = {
        tuple(cells[:2]): cells[2:6]
        for cells in (
            [c.strip() for c in row.locator("td").all_inner_texts()]
            for row in panel.locator("table").first.locator("tbody tr").all()
        )
    }
    # model, relation -> from annotations, per-row queries, annotation already there, prefetched
    assert rows[("projects.Project", "likes")] == ["30", "30", "30", "0"]
    assert rows[("projects.Project", "comments")] == ["30", "0", "0", "0"]
    assert rows[("projects.Sector", "projects")] == ["0", "10", "0", "0"]

    kinds = panel.locator(".ddtpp-finding .ddtpp-head .ddtpp-badge").all_inner_texts()
    assert sorted(k for k in kinds if "_" in k) == [
        "annotation_ignored",
        "count_in_loop",
        "distinct_join_count",
    ]
    assert "project.like_count" in fixes(panel)
    assert offers(
        panel,
        'Sector.objects.annotate(not_archived_projects_count=Count("projects", '
        "filter=Q(projects__archived=False)))",
    )
    subquery_fix = next(c for c in fixes(panel) if "Coalesce(Subquery(" in c)
    assert 'Comment.objects.filter(project=OuterRef("pk"))' in subquery_fix
    assert 'Like.objects.filter(project=OuterRef("pk"))' in subquery_fix
    # The fan-out of comments x likes, measured when the panel was built.
    fanout = panel.locator(".ddtpp-finding", has_text="distinct_join_count").inner_text()
    assert re.search(r"joined rows \(counted\): \d+ \(×[\d.]+ per row returned\)", fanout), fanout


def test_budget_panel_shows_the_metrics_over_budget(page, demo_server):
    page.goto(demo_server.url("/projects/"))
    assert demo.nav_subtitle(page, "BudgetPanel").startswith("3 of 3 metrics over")

    panel = demo.open_panel(page, "BudgetPanel")

    over = panel.locator("tr.ddtpp-over").all_inner_texts()
    assert [row.split()[1:3] for row in over] == [
        ["Queries", "queries"],
        ["N+1", "clusters"],
        ["Count", "findings"],
    ]
    queries = panel.locator("tr.ddtpp-over").first.locator("td").all_inner_texts()
    assert int(queries[1]) > 10 and queries[2] == "10"
    assert "route 'projects:*'" in panel.inner_text()
    assert offers(panel, 'Project.objects.select_related("owner")')


# -- the slow badges page: the cache ----------------------------------------------


def test_cache_panel_shows_calls_patterns_findings_and_the_invalidation(page, demo_server):
    page.goto(demo_server.url("/badges/"))
    # A write: alice comments, the post_save signal deletes her cached progress.
    with page.expect_navigation():
        page.get_by_role("button", name="Write a comment as alice").click()
    assert "deleted badge_progress:" in page.locator(".message").inner_text()

    panel = demo.open_panel(page, "CacheBreakdownPanel")

    # 80 members: one get each, alice's twice; only her key missed and was set again.
    summary = " ".join(panel.locator(".ddtpp-summary").inner_text().split())
    assert summary.startswith("82 cache calls · 80 hits / 1 misses (99% hits) · 1 set")
    pattern = panel.locator("table.ddtpp-patterns tbody tr", has_text="badge_progress:{int}")
    cells = [c.strip() for c in pattern.locator("td").all_inner_texts()]
    # pattern, keys, gets, hits, misses
    assert cells[:5] == ["badge_progress:{int}", "80", "81", "80", "1"]
    kinds = [
        el.get_attribute("data-kind") for el in panel.locator(".ddtpp-finding[data-kind]").all()
    ]
    assert kinds[:2] == ["get_in_loop", "repeated_get"]
    assert offers(panel, 'values = cache.get_many([f"badge_progress:{pk}" for pk in pks])')
    assert demo.nav_subtitle(page, "CacheBreakdownPanel") == "82 calls, 99% hits, 3 findings"


def test_courses_dashboard_repeated_counts(page, demo_server):
    page.goto(demo_server.url("/courses/"))
    panel = demo.open_panel(page, "CountsPanel")

    aggregate = next(c for c in fixes(panel) if "Enrollment.objects.aggregate(" in c)
    for status in ("ACTIVE", "COMPLETED", "REFUNDED"):
        assert f"filter=Q(status=Enrollment.Status.{status})" in aggregate
    assert offers(
        panel,
        'Course.objects.select_related("instructor")'
        '.annotate(enrollments_count=Count("enrollments"))',
    )
    # The per-course revenue: course.enrollments.exclude(...).aggregate(total=Sum("paid")).
    revenue = next(c for c in fixes(panel) if "Sum(" in c)
    assert revenue.endswith(
        'Course.objects.select_related("instructor")'
        ".annotate(not_status_refunded_enrollments_total="
        'Sum("enrollments__paid", filter=~Q(enrollments__status=Enrollment.Status.REFUNDED)))'
    )


# -- the fixed pages --------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "queries"),
    [
        ("/projects/fixed/", 4),
        ("/courses/fixed/", 2),
        ("/badges/fixed/", None),
        ("/courses/api/enrollments/fixed/", 2),
    ],
)
def test_fixed_pages_are_clean_and_within_budget(page, demo_server, path, queries):
    page.goto(demo_server.url(path))
    assert demo.nav_subtitle(page, "NPlusOnePanel") == "none"
    assert demo.nav_subtitle(page, "CountsPanel") == "none"
    assert demo.nav_subtitle(page, "BudgetPanel").startswith("within budget")

    panel = demo.open_panel(page, "NPlusOnePanel")

    empty = panel.locator(".ddtpp-empty").inner_text()
    assert empty.startswith("No N+1 queries in this request")
    if queries is not None:
        assert f"({queries} queries)" in empty


def test_fixed_badges_page_reads_the_cache_in_one_call(page, demo_server):
    page.goto(demo_server.url("/badges/fixed/"))
    with page.expect_navigation():
        page.get_by_role("button", name="Write a comment as alice").click()
    assert page.url.endswith("/badges/fixed/")
    panel = demo.open_panel(page, "CacheBreakdownPanel")

    # One get_many for the 80 members; alice's key, just invalidated, is counted
    # again in one query and stored with one set_many.
    summary = " ".join(panel.locator(".ddtpp-summary").inner_text().split())
    assert summary.startswith("2 cache calls · 79 hits / 1 misses (99% hits) · 1 set")
    assert panel.locator(".ddtpp-empty").inner_text() == "No cache findings in this request."
    assert demo.nav_subtitle(page, "CountsPanel") == "none"
    assert demo.nav_subtitle(page, "BudgetPanel").startswith("within budget")


# -- the admin ----------------------------------------------------------------------


def test_admin_changelist_without_list_select_related(admin_page, demo_server):
    page = admin_page
    page.goto(demo_server.url("/admin/courses/enrollment/"))
    panel = demo.open_panel(page, "NPlusOnePanel")
    # Each fix as a queryset, and as the ModelAdmin that owns the queryset spells it.
    assert fixes(panel) == [
        'Enrollment.objects.select_related("course__instructor", "student")',
        'list_select_related = ("course__instructor", "student")',
        'Enrollment.objects.select_related("course__instructor")',
        'list_select_related = ("course__instructor",)',
        'Enrollment.objects.select_related("student")',
        'list_select_related = ("student",)',
    ]
    text = " ".join(panel.inner_text().split())
    assert "Where the fix goes: the admin changelist EnrollmentAdmin" in text
    assert "EnrollmentAdmin.instructor (list_display) · courses/admin.py:" in text

    page.goto(demo_server.url("/admin/courses/enrollmentfixed/"))
    assert demo.nav_subtitle(page, "NPlusOnePanel") == "none"
    assert demo.nav_subtitle(page, "BudgetPanel").startswith("within budget")


# -- the REST API ------------------------------------------------------------------


def test_rest_api_fix_goes_to_the_viewset(page, demo_server):
    page.goto(demo_server.url("/courses/api/enrollments/"))
    assert demo.nav_subtitle(page, "NPlusOnePanel") == "2 clusters, 148 wasted queries"
    panel = demo.open_panel(page, "NPlusOnePanel")
    assert offers(
        panel,
        'queryset = Enrollment.objects.all().select_related("course__instructor", "student")',
    )
    text = " ".join(panel.inner_text().split())
    assert "Where the fix goes: the REST framework view EnrollmentViewSet, its queryset at" in text
    assert (
        "CourseSerializer.instructor (StringRelatedField), nested in EnrollmentSerializer.course"
        in text
    )
    assert "EnrollmentSerializer.student (StringRelatedField)" in text


def test_dashboard_charts_the_violations_and_drills_down(admin_page, demo_server):
    page = admin_page
    page.goto(demo_server.url("/dashboard/"))
    assert page.url.endswith("/admin/ddt_perfpanels/budgetviolation/dashboard/")

    # Four weeks of history: a bar per day and metric, a legend entry per metric.
    chart = page.locator("svg.ddtpp-chart")
    assert chart.locator("rect").count() > 28
    legend = page.locator(".legend").inner_text()
    for metric in ("Queries", "N+1 clusters", "Count findings", "Cache calls"):
        assert metric in legend
    routes = page.locator("#ddtpp-routes-table tbody tr")
    names = [r.locator("td code").first.inner_text() for r in routes.all()]
    assert {"projects:list", "badges:progress", "courses:dashboard"} <= set(names)
    row = routes.filter(has_text="courses:dashboard")
    assert "better" in row.locator("td.trend").inner_text()
    # At 1280 px the table fits the page, long route names wrapped.
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 1280, f"the dashboard is {width} px wide"

    # Drill down: the route's violations, then one of them and its fixes.
    routes.filter(has_text="projects:list").locator("a", has_text="projects:list").click()
    page.wait_for_load_state()
    assert "route=projects%3Alist" in page.url or "route=projects:list" in page.url
    page.locator("#result_list tbody tr").first.locator("a").first.click()
    page.wait_for_load_state()
    body = page.locator("#content").inner_text()
    assert "projects:list" in body
    assert 'Project.objects.select_related("owner")' in body
