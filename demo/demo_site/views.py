from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse

# (title, slow URL name, fixed URL name, what the slow page shows)
PAGES = [
    (
        "Projects",
        "projects:list",
        "projects:list-fixed",
        "N+1 queries on the owner, the sector and the tags of each project; a like count "
        "annotated and then counted again per row; two Count(distinct=True) joined "
        "together; a count per sector.",
        "N+1 queries, Counts, Budget",
    ),
    (
        "Badges",
        "badges:progress",
        "badges:progress-fixed",
        "Each member's progress cached per member: a cache.get() per member, a key read "
        "twice, values stored without expiry, four .count() per member on a miss; "
        "a button that writes and invalidates one member's key.",
        "Cache breakdown, Counts, Budget",
    ),
    (
        "Course dashboard",
        "courses:dashboard",
        "courses:dashboard-fixed",
        "Enrollments and revenue: four COUNT queries that differ only in their WHERE, "
        "and three queries per course.",
        "Counts, Budget",
    ),
    (
        "Admin changelist",
        "admin:courses_enrollment_changelist",
        "admin:courses_enrollmentfixed_changelist",
        "The enrollments changelist whose columns read the student, the course and its "
        "instructor, without list_select_related. Log in as admin / admin.",
        "N+1 queries, Budget",
    ),
    (
        "REST API",
        "courses:api",
        "courses:api-fixed",
        "A Django REST framework viewset of the enrollments (in the browsable API): the "
        "nested course serializer reads the course and its instructor, a "
        "StringRelatedField the student, one row at a time. Shown when "
        "djangorestframework is installed.",
        "N+1 queries, Budget",
    ),
]


def _pages():
    for title, slow, fixed, shows, panels in PAGES:
        try:
            slow_url, fixed_url = reverse(slow), reverse(fixed)
        except NoReverseMatch:  # the REST API without djangorestframework
            continue
        yield {
            "title": title,
            "slow_url": slow_url,
            "fixed_url": fixed_url,
            "shows": shows,
            "panels": panels,
        }


def index(request):
    return render(request, "demo_site/index.html", {"pages": list(_pages())})


def budget_dashboard(request):
    """The admin's budget dashboard (a stable address for the demo's links)."""
    try:
        return redirect(reverse("admin:ddt_perfpanels_budgetviolation_dashboard"))
    except NoReverseMatch:  # a ddt_perfpanels without budgets
        return redirect(reverse("admin:index"))
