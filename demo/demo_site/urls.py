from debug_toolbar.toolbar import debug_toolbar_urls
from django.contrib import admin
from django.urls import path

from demo_site import views

urlpatterns = [
    path("", views.permissions, name="permissions"),
    path("fixed/", views.permissions_fixed, name="permissions-fixed"),
    path("admin/", admin.site.urls),
    *debug_toolbar_urls(),
]
