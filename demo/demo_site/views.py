from django.contrib.auth.models import Permission
from django.shortcuts import render


def permissions(request):
    """Every permission with its app: one query per row for the content type (N+1)."""
    return render(
        request,
        "demo_site/permissions.html",
        {"permissions": Permission.objects.all(), "fixed": False},
    )


def permissions_fixed(request):
    """The same page with select_related: one query."""
    return render(
        request,
        "demo_site/permissions.html",
        {"permissions": Permission.objects.select_related("content_type"), "fixed": True},
    )
