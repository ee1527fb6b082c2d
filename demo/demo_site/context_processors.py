from django.conf import settings


def demo(request):
    """What every demo page shows in its footer."""
    return {"demo_cache": settings.DEMO_CACHE_NAME}
