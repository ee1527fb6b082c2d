from django.urls import path

from tests.cache import views

urlpatterns = [
    path("badges/", views.badges),
    path("badges/fixed/", views.badges_fixed),
    path("many/", views.many_calls),
    path("hostile/", views.hostile),
    path("async/", views.async_badges),
    path("down/", views.redis_goes_down),
]
