from django.urls import path

from projects import views

app_name = "projects"
urlpatterns = [
    path("", views.project_list, name="list"),
    path("fixed/", views.project_list_fixed, name="list-fixed"),
]
