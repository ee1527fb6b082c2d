"""Settings of the ddt_perfpanels demo (run it with ./scripts/demo).

For the demo only: DEBUG is on, the secret key is public and the admin's
password is "admin". Environment variables:

- ``DEMO_DATABASE``: the SQLite file (default ``demo/db.sqlite3``); the browser
  tests and the screenshot script point it at a throwaway file.
- ``REDIS_URL``: use django-redis on that server as the default cache. Without
  it, Django's local-memory cache. ``scripts/demo`` starts a redis-server of its
  own and sets it when ``redis-server`` is installed.
"""

import os
from importlib.util import find_spec
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "demo-only-not-secret"
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]
# The toolbar shows for requests from these addresses.
INTERNAL_IPS = ["127.0.0.1", "::1"]
ROOT_URLCONF = "demo_site.urls"
WSGI_APPLICATION = None
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "debug_toolbar",
    "ddt_perfpanels",
    "demo_site",
    "projects",
    "badges",
    "courses",
]
# The courses REST API (Django REST framework is optional).
if find_spec("rest_framework") is not None:
    INSTALLED_APPS.append("rest_framework")

MIDDLEWARE = [
    "debug_toolbar.middleware.DebugToolbarMiddleware",
    # ddt_perfpanels.middleware.BudgetMiddleware goes here (added below): inside
    # the toolbar's middleware, so it measures the page and not the toolbar.
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "demo_site.context_processors.demo",
            ],
        },
    }
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DEMO_DATABASE") or BASE_DIR / "db.sqlite3",
    }
}

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "ddt-demo",
        }
    }
    DEMO_CACHE_NAME = f"django-redis at {REDIS_URL}"
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "ddt-demo",
        }
    }
    DEMO_CACHE_NAME = "Django's local-memory cache (LocMemCache)"

STATIC_URL = "/static/"

DEBUG_TOOLBAR_CONFIG = {
    # The demo is never the test suite, even when the browser tests start it
    # (they run under pytest, whose PYTEST_VERSION the toolbar looks for).
    "IS_RUNNING_TESTS": False,
}

# Ours first, so they are in view without scrolling the toolbar.
DEBUG_TOOLBAR_PANELS = [
    "ddt_perfpanels.panels.NPlusOnePanel",
    "ddt_perfpanels.panels.CountsPanel",
    "ddt_perfpanels.panels.CacheBreakdownPanel",
    "ddt_perfpanels.panels.BudgetPanel",
    "debug_toolbar.panels.history.HistoryPanel",
    "debug_toolbar.panels.versions.VersionsPanel",
    "debug_toolbar.panels.timer.TimerPanel",
    "debug_toolbar.panels.settings.SettingsPanel",
    "debug_toolbar.panels.headers.HeadersPanel",
    "debug_toolbar.panels.request.RequestPanel",
    "debug_toolbar.panels.sql.SQLPanel",
    "debug_toolbar.panels.staticfiles.StaticFilesPanel",
    "debug_toolbar.panels.templates.TemplatesPanel",
    "debug_toolbar.panels.alerts.AlertsPanel",
    "debug_toolbar.panels.cache.CachePanel",
    "debug_toolbar.panels.signals.SignalsPanel",
    "debug_toolbar.panels.redirects.RedirectsPanel",
    "debug_toolbar.panels.profiling.ProfilingPanel",
]

# Budgets for the demo's pages: every slow page is over its budget, every fixed
# page within it. BudgetMiddleware records each slow page you open, and the
# admin dashboard (Admin > Budget violations > Dashboard) charts them.
DDT_PERFPANELS = {
    "BUDGETS": {
        "routes": {
            "projects:*": {"queries": 10, "nplusone": 0, "count_findings": 0},
            "badges:*": {"queries": 10, "cache_calls": 10, "cache_findings": 0},
            "courses:*": {"queries": 8, "count_findings": 0},
            "admin:courses_*_changelist": {"queries": 15, "nplusone": 0},
        },
    },
}

LOGIN_URL = "admin:login"

# Budgets arrived in ddt_perfpanels after the other panels: a checkout without
# them runs the demo without the budget panel and middleware.
if find_spec("ddt_perfpanels.middleware") is not None:
    MIDDLEWARE.insert(1, "ddt_perfpanels.middleware.BudgetMiddleware")
else:  # pragma: no cover - older checkouts
    DEBUG_TOOLBAR_PANELS.remove("ddt_perfpanels.panels.BudgetPanel")
