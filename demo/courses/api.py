"""A small REST API on the enrollments (Django REST framework, when installed),
twice: the slow viewset, as serializers usually start, and the fixed one with
the queryset the N+1 panel suggests. Open either in the browsable API
(/courses/api/enrollments/) with the toolbar."""

from rest_framework import serializers, viewsets
from rest_framework.pagination import PageNumberPagination

from courses.models import Course, Enrollment


class CourseSerializer(serializers.ModelSerializer):
    instructor = serializers.StringRelatedField()

    class Meta:
        model = Course
        fields = ["id", "title", "instructor"]


class EnrollmentSerializer(serializers.ModelSerializer):
    """Each row reads its course, the course's instructor and its student: with
    a plain queryset, three queries per row."""

    course = CourseSerializer()
    student = serializers.StringRelatedField()

    class Meta:
        model = Enrollment
        fields = ["id", "course", "student", "status", "paid", "enrolled_at"]


class Pages(PageNumberPagination):
    page_size = 50


class EnrollmentViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Enrollment.objects.all()
    serializer_class = EnrollmentSerializer
    pagination_class = Pages


class EnrollmentFixedViewSet(EnrollmentViewSet):
    """The fix, as the panel writes it for this class: the queryset attribute."""

    queryset = Enrollment.objects.all().select_related("course__instructor", "student")


# What the browsable API shows under "The code of this version"
# (courses/templates/rest_framework/api.html).
EnrollmentViewSet.demo_code = [CourseSerializer, EnrollmentSerializer, EnrollmentViewSet]
EnrollmentViewSet.demo_fixed = False
EnrollmentFixedViewSet.demo_code = [EnrollmentFixedViewSet]
EnrollmentFixedViewSet.demo_fixed = True
