"""The project list, slow and fixed. The two views differ only in how they
query: the template is the same (it reads a count from an annotation in the
fixed version, with a ``.count()`` in the slow one)."""

from demo_site.pages import render_version
from demo_site.queries import count_per_row
from django.core.paginator import Paginator
from django.db.models import Count, Q

from projects.models import Comment, Like, Project, Sector

PER_PAGE = 30


def project_list(request):
    """What a first version usually looks like.

    - ``project.owner``, ``project.sector`` and ``project.tags.all`` in the
      template: one query per project for each (N+1).
    - ``Count("comments", distinct=True)`` and ``Count("likes", distinct=True)``
      together: the database joins comments x likes for every project before
      counting.
    - ``like_count`` is annotated, yet the template calls
      ``project.likes.count``: one more query per project.
    - ``sector.projects.filter(...).count()`` per sector in the sidebar.
    """
    projects = (
        Project.objects.filter(archived=False)
        .annotate(
            comment_count=Count("comments", distinct=True),
            like_count=Count("likes", distinct=True),
        )
        .order_by("-created_at", "-id")
    )
    page = Paginator(projects, PER_PAGE).get_page(request.GET.get("page"))
    sectors = [
        (sector, sector.projects.filter(archived=False).count()) for sector in Sector.objects.all()
    ]
    return _render(request, page, sectors, code=project_list, fixed=False)


def project_list_fixed(request):
    """The same page in a constant number of queries (4, whatever the page size).

    - ``select_related("owner", "sector")`` and ``prefetch_related("tags")``.
    - One subquery per count instead of two joins multiplying each other.
    - The template reads ``project.like_count``, the annotation.
    - The sidebar's counts are one ``Count(..., filter=Q(...))`` annotation.
    """
    projects = (
        Project.objects.filter(archived=False)
        .select_related("owner", "sector")
        .prefetch_related("tags")
        .annotate(
            comment_count=count_per_row(Comment, "project"),
            like_count=count_per_row(Like, "project"),
        )
        .order_by("-created_at", "-id")
    )
    page = Paginator(projects, PER_PAGE).get_page(request.GET.get("page"))
    sectors = [
        (sector, sector.project_count)
        for sector in Sector.objects.annotate(
            project_count=Count("projects", filter=Q(projects__archived=False))
        )
    ]
    return _render(request, page, sectors, code=[project_list_fixed, count_per_row], fixed=True)


def _render(request, page, sectors, **version):
    return render_version(
        request,
        "projects/list.html",
        {"page": page, "sectors": sectors},
        slow="projects:list",
        fixed_name="projects:list-fixed",
        **version,
    )
