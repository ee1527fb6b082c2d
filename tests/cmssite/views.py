from django.shortcuts import render
from treecms.models import Page


def overview(request):
    """Every page as its specific subclass (treecms's custom iterable)."""
    return render(request, "cmssite/overview.html", {"pages": Page.objects.specific()})


def breadcrumbs(request):
    """Each page's parent: one get() per row at one line of treecms."""
    crumbs = [(page.title, page.get_parent()) for page in Page.objects.exclude(parent=None)]
    return render(request, "cmssite/crumbs.html", {"crumbs": crumbs})


def tree_once(request):
    """A parent lookup and a common ancestor, each once: two sites, no loop."""
    home = Page.objects.get(parent=None)
    news = Page.objects.get(slug="news")
    events = Page.objects.get(slug="events")
    parent = news.get_parent()
    common = news.first_common_ancestor_of(events)
    return render(
        request, "cmssite/crumbs.html", {"crumbs": [(home.title, parent), ("common", common)]}
    )


def editors(request):
    """Pages with their parent; locked_by is joined and never read."""
    pages = Page.objects.filter(live=True).select_related("locked_by", "parent").order_by("-pk")
    return render(request, "cmssite/editors.html", {"pages": pages})
