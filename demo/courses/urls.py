from django.urls import path

from courses import views

app_name = "courses"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("fixed/", views.dashboard_fixed, name="dashboard-fixed"),
]
