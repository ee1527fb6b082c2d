"""Settings for the benchmarks: a SQLite file (or PostgreSQL with
BENCH_DB=postgres, started by tests/servers.py), DEBUG on, as a developer runs."""

import os
import tempfile

SECRET_KEY = "benchmarks-only"
DEBUG = True
ALLOWED_HOSTS = ["*"]
INTERNAL_IPS = ["127.0.0.1"]
ROOT_URLCONF = "benchmarks.urls"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
STATIC_URL = "/static/"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "debug_toolbar",
    "ddt_perfpanels",
    "benchmarks.benchapp",
]
if os.environ.get("BENCH_ZEAL"):
    # django-zeal patches the ORM for the whole process once installed, so it is
    # measured in a process of its own (see run.py).
    INSTALLED_APPS.append("zeal")
    ZEAL_RAISE = False

MIDDLEWARE: list[str] = []

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]

if os.environ.get("BENCH_DB") == "postgres":
    import atexit

    from tests.servers import PostgresServer

    _postgres = PostgresServer().start()
    atexit.register(_postgres.stop)
    DATABASES = {"default": _postgres.settings()}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.path.join(tempfile.mkdtemp(prefix="ddtpp-bench-"), "bench.sqlite3"),
        }
    }

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
DEBUG_TOOLBAR_CONFIG = {"IS_RUNNING_TESTS": False, "RESULTS_CACHE_SIZE": 5}
LOGGING = {"version": 1, "disable_existing_loggers": False}
