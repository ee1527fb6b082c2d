from django.urls import path
from treecms import views as cms

from tests.cmssite import views

urlpatterns = [
    path("pages/", cms.page_list),
    path("site/", cms.serve),
    path("site/<path:path>", cms.serve),
    path("overview/", views.overview),
    path("breadcrumbs/", views.breadcrumbs),
    path("tree/", views.tree_once),
    path("editors/", views.editors),
]
