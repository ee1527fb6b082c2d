"""Settings for the test suite.

DDT_TEST_DB=postgres runs the suite against a throwaway PostgreSQL cluster that
tests/conftest.py starts (tests/servers.py) on a free loopback port.
"""

import os
import sys
from pathlib import Path
from typing import Any

# An "installed" package for the third-party tests: a site directory of its own.
THIRD_PARTY_SITE = str(Path(__file__).resolve().parent / "thirdparty" / "site-packages")
if THIRD_PARTY_SITE not in sys.path:
    sys.path.append(THIRD_PARTY_SITE)

SECRET_KEY = "tests-only"
DEBUG = True
USE_TZ = True
ALLOWED_HOSTS = ["*"]
INTERNAL_IPS = ["127.0.0.1"]
ROOT_URLCONF = "tests.urls"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
# Logging in is part of many tests; a real hasher is slow on purpose.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "debug_toolbar",
    "ddt_perfpanels",
    "tests.testapp",
    "treecms",
    "tests.cmssite",
]

MIDDLEWARE = [
    "debug_toolbar.middleware.DebugToolbarMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "debug": True,
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    }
]

STATIC_URL = "/static/"

if os.environ.get("DDT_TEST_DB") == "postgres":
    # HOST and PORT are filled in by the django_db_modify_db_settings fixture
    # (tests/conftest.py), which starts the cluster.
    DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "ddt_perfpanels"}}
else:
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

DEBUG_TOOLBAR_CONFIG = {"IS_RUNNING_TESTS": False}

DEBUG_TOOLBAR_PANELS = [
    "debug_toolbar.panels.sql.SQLPanel",
    "debug_toolbar.panels.cache.CachePanel",
    "ddt_perfpanels.panels.NPlusOnePanel",
    "ddt_perfpanels.panels.CountsPanel",
    "ddt_perfpanels.panels.CacheBreakdownPanel",
    "ddt_perfpanels.panels.BudgetPanel",
]

# Tests add to it: {**settings.DDT_PERFPANELS, ...}
DDT_PERFPANELS: dict[str, Any] = {}
