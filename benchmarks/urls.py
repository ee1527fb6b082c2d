from debug_toolbar.toolbar import debug_toolbar_urls
from django.urls import path

from benchmarks.benchapp import views

urlpatterns = [path("q/<int:n>/", views.n_queries), *debug_toolbar_urls()]
