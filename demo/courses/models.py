"""Courses, and the members enrolled in them."""

from django.conf import settings
from django.db import models


class Course(models.Model):
    title = models.CharField(max_length=120)
    instructor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="courses_taught"
    )
    price = models.DecimalField(max_digits=8, decimal_places=2)

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title


class Enrollment(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        COMPLETED = "completed", "Completed"
        REFUNDED = "refunded", "Refunded"

    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="enrollments")
    student = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="enrollments"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    paid = models.DecimalField(max_digits=8, decimal_places=2)
    enrolled_at = models.DateTimeField()

    class Meta:
        ordering = ["-enrolled_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["course", "student"], name="one_enrollment_per_course")
        ]

    def __str__(self) -> str:
        return f"{self.student} in {self.course}"


class EnrollmentFixed(Enrollment):
    """The same table, for the admin's fixed changelist (a model is registered
    with the admin once, so the fixed version needs a model of its own)."""

    class Meta:
        proxy = True
        verbose_name = "enrollment (fixed: list_select_related)"
        verbose_name_plural = "enrollments (fixed: list_select_related)"
