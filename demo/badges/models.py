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

    def percent(self, counts: dict) -> int:
        """How far a member with these counts is towards the badge, 0 to 100."""
        return min(100, counts.get(self.measure, 0) * 100 // self.target)
