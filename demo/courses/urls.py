from importlib.util import find_spec

from django.urls import path

from courses import views

app_name = "courses"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("fixed/", views.dashboard_fixed, name="dashboard-fixed"),
]

# The REST API needs Django REST framework, an optional dependency.
if find_spec("rest_framework") is not None:
    from courses import api

    urlpatterns += [
        path(
            "api/enrollments/",
            api.EnrollmentViewSet.as_view({"get": "list"}),
            name="api",
        ),
        path(
            "api/enrollments/fixed/",
            api.EnrollmentFixedViewSet.as_view({"get": "list"}),
            name="api-fixed",
        ),
    ]
