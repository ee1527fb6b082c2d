"""The course dashboard: enrollments and revenue, slow and fixed."""

from demo_site.pages import render_version
from django.db.models import Count, Q, Sum

from courses.models import Course, Enrollment

Status = Enrollment.Status


def dashboard(request):
    """Counts the way they get written one feature at a time.

    - The four totals are four ``COUNT`` queries on one table that differ only in
      their ``WHERE`` (repeated_count).
    - Per course, ``.count()``, a filtered ``.count()`` and an ``aggregate()`` on
      ``course.enrollments``: three queries per course (count_in_loop twice,
      aggregate_in_loop).
    """
    enrollments = Enrollment.objects.all()
    totals = {
        "enrollments": enrollments.count(),
        "active": enrollments.filter(status=Status.ACTIVE).count(),
        "completed": enrollments.filter(status=Status.COMPLETED).count(),
        "refunded": enrollments.filter(status=Status.REFUNDED).count(),
        "revenue": enrollments.exclude(status=Status.REFUNDED).aggregate(total=Sum("paid"))[
            "total"
        ],
    }
    rows = [
        {
            "course": course,
            "enrolled": course.enrollments.count(),
            "completed": course.enrollments.filter(status=Status.COMPLETED).count(),
            "revenue": course.enrollments.exclude(status=Status.REFUNDED).aggregate(
                total=Sum("paid")
            )["total"],
        }
        for course in Course.objects.select_related("instructor")
    ]
    return _render(request, totals, rows, code=dashboard, fixed=False)


def dashboard_fixed(request):
    """Two queries: one ``aggregate()`` with a filtered ``Count`` per total, and
    the courses annotated with theirs (one join, grouped by course)."""
    not_refunded = ~Q(status=Status.REFUNDED)
    totals = Enrollment.objects.aggregate(
        enrollments=Count("pk"),
        active=Count("pk", filter=Q(status=Status.ACTIVE)),
        completed=Count("pk", filter=Q(status=Status.COMPLETED)),
        refunded=Count("pk", filter=Q(status=Status.REFUNDED)),
        revenue=Sum("paid", filter=not_refunded),
    )
    courses = Course.objects.select_related("instructor").annotate(
        enrolled=Count("enrollments"),
        completed=Count("enrollments", filter=Q(enrollments__status=Status.COMPLETED)),
        revenue=Sum("enrollments__paid", filter=~Q(enrollments__status=Status.REFUNDED)),
    )
    rows = [
        {
            "course": course,
            "enrolled": course.enrolled,
            "completed": course.completed,
            "revenue": course.revenue,
        }
        for course in courses
    ]
    return _render(request, totals, rows, code=dashboard_fixed, fixed=True)


def _render(request, totals, rows, **version):
    return render_version(
        request,
        "courses/dashboard.html",
        {"totals": totals, "rows": rows},
        slow="courses:dashboard",
        fixed_name="courses:dashboard-fixed",
        **version,
    )
