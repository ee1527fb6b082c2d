from django.urls import path

from badges import views

app_name = "badges"
urlpatterns = [
    path("", views.progress, name="progress"),
    path("fixed/", views.progress_fixed, name="progress-fixed"),
    path("comment/", views.add_comment, name="comment"),
]
