"""The admin changelist of enrollments, twice: without list_select_related
(slow) and with it (fixed), on a proxy model since a model is registered once."""

from django.contrib import admin
from django.urls import reverse

from courses.models import Course, Enrollment, EnrollmentFixed


@admin.register(Course)
class CourseAdmin(admin.ModelAdmin):
    list_display = ("title", "instructor", "price")
    list_select_related = ("instructor",)
    search_fields = ("title",)


@admin.register(Enrollment)
class EnrollmentAdmin(admin.ModelAdmin):
    """Without ``list_select_related``, Django joins only the foreign keys that
    ``list_display`` names as fields. These columns are methods, so every row
    loads its student, its course and the course's instructor with queries of
    their own: 3 per row."""

    list_display = (
        "id",
        "student_name",
        "course_title",
        "instructor",
        "status",
        "paid",
        "enrolled_at",
    )
    list_filter = ("status",)
    list_per_page = 50
    change_list_template = "courses/admin/enrollment_change_list.html"
    raw_id_fields = ("course", "student")

    @admin.display(description="student", ordering="student__username")
    def student_name(self, obj):
        return obj.student.get_full_name() or obj.student.username

    @admin.display(description="course", ordering="course__title")
    def course_title(self, obj):
        return obj.course.title

    @admin.display(description="instructor", ordering="course__instructor__username")
    def instructor(self, obj):
        return obj.course.instructor.get_full_name() or obj.course.instructor.username

    def changelist_view(self, request, extra_context=None):
        fixed = self.model is EnrollmentFixed
        extra_context = {
            "fixed": fixed,
            "slow_url": reverse("admin:courses_enrollment_changelist"),
            "fixed_url": reverse("admin:courses_enrollmentfixed_changelist"),
            "code": [type(self)],
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context)


@admin.register(EnrollmentFixed)
class EnrollmentFixedAdmin(EnrollmentAdmin):
    """The fix: one query joins the three tables."""

    list_select_related = ("course__instructor", "student")
