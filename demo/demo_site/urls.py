from debug_toolbar.toolbar import debug_toolbar_urls
from django.contrib import admin
from django.urls import include, path

from demo_site import views

urlpatterns = [
    path("", views.index, name="index"),
    path("dashboard/", views.budget_dashboard, name="dashboard"),
    path("projects/", include("projects.urls")),
    path("badges/", include("badges.urls")),
    path("courses/", include("courses.urls")),
    path("admin/", admin.site.urls),
    *debug_toolbar_urls(),
]
