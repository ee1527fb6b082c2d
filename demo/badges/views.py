"""Members' progress towards the badges: slow and fixed."""

from demo_site.pages import render_version
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST
from projects.models import Comment, Project

from badges.models import Badge
from badges.progress import progress_key, progress_of, progress_of_many

# The member the demo pretends you are (the pages never read request.user, so
# logging into the admin does not change their queries).
DEMO_MEMBER = "alice"
LEADERBOARD = 15


def progress(request):
    """Reads the cache one member at a time.

    - ``progress_of(member)`` does a ``cache.get()`` per member: one round trip
      each (get_in_loop), and the demo member's key is read twice (repeated_get).
    - On a miss it counts with four ``.count()`` queries per member and stores the
      result with ``timeout=None`` (no_expiry).
    """
    you = _demo_member()
    badges = list(Badge.objects.all())
    your_counts = progress_of(you)
    members = list(_members())
    board = [(member, progress_of(member)) for member in members]
    return _render(
        request, badges, you, your_counts, board, code=[progress, progress_of], fixed=False
    )


def progress_fixed(request):
    """One ``cache.get_many()`` for everyone; the misses are counted in one query
    and stored with one ``cache.set_many()`` and a timeout."""
    you = _demo_member()
    badges = list(Badge.objects.all())
    members = list(_members())
    counts = progress_of_many(members)
    board = [(member, counts[member.pk]) for member in members]
    return _render(
        request,
        badges,
        you,
        counts[you.pk],
        board,
        code=[progress_fixed, progress_of_many],
        fixed=True,
    )


@require_POST
def add_comment(request):
    """A write: the demo member comments on a project. The post_save signal
    deletes their cached progress, so the next page load misses that one key."""
    you = _demo_member()
    project = Project.objects.filter(archived=False).order_by("?").first()
    Comment.objects.create(
        project=project, author=you, body="Nice work!", created_at=timezone.now()
    )
    messages.success(
        request,
        f"{you.username} commented on “{project}”: the post_save signal deleted "
        f"{progress_key(you.pk)}, so this page load recomputes it (one cache miss).",
    )
    fixed = request.POST.get("version") == "fixed"
    return redirect(reverse("badges:progress-fixed" if fixed else "badges:progress"))


def _members():
    return get_user_model().objects.filter(is_staff=False).order_by("username")


def _demo_member():
    members = _members()
    return members.filter(username=DEMO_MEMBER).first() or members.first()


def _render(request, badges, you, your_counts, board, **version):
    def earned(counts):
        return sum(badge.percent(counts) == 100 for badge in badges)

    leaders = sorted(board, key=lambda row: (-earned(row[1]), row[0].username))[:LEADERBOARD]
    return render_version(
        request,
        "badges/progress.html",
        {
            "you": you,
            "your_key": progress_key(you.pk),
            "your_badges": [(badge, badge.percent(your_counts)) for badge in badges],
            "your_earned": earned(your_counts),
            "badge_count": len(badges),
            "member_count": len(board),
            "leaders": [(member, counts, earned(counts)) for member, counts in leaders],
        },
        slow="badges:progress",
        fixed_name="badges:progress-fixed",
        **version,
    )
