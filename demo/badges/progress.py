"""Each member's counts towards the badges, cached per member under
``badge_progress:<user id>`` and deleted whenever one of them changes."""

from courses.models import Enrollment
from demo_site.queries import count_per_row
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db.models.signals import post_delete, post_save
from projects.models import Comment, Like, Project

TIMEOUT = 60 * 60

# What each measure counts: (model, the field pointing at the member, filters).
MEASURES = {
    "projects": (Project, "owner", {}),
    "comments": (Comment, "author", {}),
    "likes": (Like, "user", {}),
    "courses_completed": (Enrollment, "student", {"status": Enrollment.Status.COMPLETED}),
}


def progress_key(user_id: int) -> str:
    return f"badge_progress:{user_id}"


# -- slow: one member at a time ---------------------------------------------------


def progress_of(member) -> dict:
    """One cache round trip per member, and four COUNT queries per member on a
    miss. Stored without expiry ("we invalidate on writes anyway")."""
    key = progress_key(member.pk)
    counts = cache.get(key)
    if counts is None:
        counts = {
            "projects": member.projects.count(),
            "comments": member.comments.count(),
            "likes": member.likes.count(),
            "courses_completed": member.enrollments.filter(
                status=Enrollment.Status.COMPLETED
            ).count(),
        }
        cache.set(key, counts, timeout=None)
    return counts


# -- fixed: everyone at once ------------------------------------------------------


def progress_of_many(members) -> dict[int, dict]:
    """One ``get_many`` for everyone; the members that missed are counted in one
    query (a subquery per measure) and stored with one ``set_many``."""
    keys = {progress_key(member.pk): member.pk for member in members}
    found = cache.get_many(keys)
    progress = {keys[key]: counts for key, counts in found.items()}
    missing = [pk for pk in keys.values() if pk not in progress]
    if missing:
        counts = {
            f"{name}_count": count_per_row(model, field, **filters)
            for name, (model, field, filters) in MEASURES.items()
        }
        rows = get_user_model().objects.filter(pk__in=missing).values("pk", **counts)
        computed = {row["pk"]: {name: row[f"{name}_count"] for name in MEASURES} for row in rows}
        cache.set_many({progress_key(pk): c for pk, c in computed.items()}, timeout=TIMEOUT)
        progress.update(computed)
    return progress


# -- invalidation -----------------------------------------------------------------


def _invalidate(sender, instance, **kwargs):
    _model, field, _filters = next(spec for spec in MEASURES.values() if spec[0] is sender)
    cache.delete(progress_key(getattr(instance, f"{field}_id")))


def connect_invalidation() -> None:
    """A write that changes a member's counts deletes their cached progress."""
    for model, _field, _filters in MEASURES.values():
        post_save.connect(_invalidate, sender=model, dispatch_uid=f"badges-{model.__name__}")
        post_delete.connect(_invalidate, sender=model, dispatch_uid=f"badges-{model.__name__}-d")
