"""A small page tree: home › news (articles), events (events)."""

from django.contrib.auth.models import User
from treecms.models import ArticlePage, EventPage, Page, PageLock


def make_site(articles: int = 3, events: int = 2) -> dict:
    alice = User.objects.create(username=f"alice{User.objects.count()}")
    bob = User.objects.create(username=f"bob{User.objects.count()}")
    home = Page.objects.filter(parent=None).first() or Page.objects.create(
        title="Home", slug="home", locked_by=alice
    )
    news, _ = Page.objects.get_or_create(
        slug="news", defaults={"title": "News", "parent": home, "locked_by": bob}
    )
    events_page, _ = Page.objects.get_or_create(
        slug="events", defaults={"title": "Events", "parent": home}
    )
    start = ArticlePage.objects.count()
    made = []
    for i in range(start, start + articles):
        made.append(
            ArticlePage.objects.create(
                title=f"Article {i}",
                slug=f"article-{i}",
                kind="article",
                parent=news,
                locked_by=alice if i % 2 else bob,
            )
        )
    for i in range(EventPage.objects.count(), EventPage.objects.count() + events):
        made.append(
            EventPage.objects.create(
                title=f"Event {i}", slug=f"event-{i}", kind="event", parent=events_page,
                locked_by=bob,
            )
        )
    sub = Page.objects.get_or_create(
        slug="sub", defaults={"title": "Sub", "parent": made[0]}
    )[0]
    for page in made[::2]:
        PageLock.objects.create(page=page)
    return {"home": home, "news": news, "events": events_page, "pages": made, "sub": sub}
