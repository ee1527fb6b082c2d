"""Badges that members earn by posting projects, commenting, liking and
completing courses."""

from django.db import models


class Badge(models.Model):
    class Measure(models.TextChoices):
        PROJECTS = "projects", "projects posted"
        COMMENTS = "comments", "comments written"
        LIKES = "likes", "projects liked"
        COURSES = "courses_completed", "courses completed"

    name = models.CharField(max_length=60, unique=True)
    measure = models.CharField(max_length=20, choices=Measure.choices)
    target = models.PositiveIntegerField()

    class Meta:
        ordering = ["measure", "target"]

    def __str__(self) -> str:
        return self.name

    @property
    def goal(self) -> str:
        """"1 comment written", "10 projects liked"."""
        noun, verb = _GOALS[self.measure]
        return f"{self.target} {noun}{'' if self.target == 1 else 's'} {verb}"

    def percent(self, counts: dict) -> int:
        """How far a member with these counts is towards the badge, 0 to 100."""
        return min(100, counts.get(self.measure, 0) * 100 // self.target)


_GOALS = {
    Badge.Measure.PROJECTS: ("project", "posted"),
    Badge.Measure.COMMENTS: ("comment", "written"),
    Badge.Measure.LIKES: ("project", "liked"),
    Badge.Measure.COURSES: ("course", "completed"),
}
