"""The README's demo command, ``scripts/demo``, end to end (without a browser):
it seeds a fresh database deterministically, says which cache it uses, serves
the demo, and stops the redis-server it started when it is stopped.

It runs with this interpreter (``DDT_DEMO_PYTHON``) instead of bootstrapping
``.venv/``, on a throwaway database and a free port.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter

import pytest

from tests import servers
from tests.browser.conftest import ROOT, demo

pytestmark = pytest.mark.own_database


def _manage(db, *args, **env):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT / "demo",
        env={**_clean_env(), "DEMO_DATABASE": str(db), "REDIS_URL": "", **env},
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    ).stdout


def _clean_env():
    return {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTEST_VERSION", "PYTEST_CURRENT_TEST", "DJANGO_SETTINGS_MODULE", "REDIS_URL")
    }


_DUMP = """
import json
from django.core import serializers
from django.apps import apps
from django.contrib.auth import get_user_model
rows = []
for label in ("projects", "courses", "badges"):
    for model in apps.get_app_config(label).get_models():
        rows += json.loads(serializers.serialize("json", model.objects.order_by("pk")))
members = get_user_model().objects.filter(is_staff=False).order_by("pk")
rows += list(members.values("pk", "username", "first_name", "last_name", "date_joined"))
print(json.dumps(rows, default=str))
"""


def test_seed_is_realistic_and_deterministic(tmp_path):
    dumps = []
    migrated = tmp_path / "migrated.sqlite3"
    _manage(migrated, "migrate", "--noinput", "-v", "0")
    for name in ("one", "two"):
        db = tmp_path / f"{name}.sqlite3"
        shutil.copyfile(migrated, db)
        out = _manage(db, "seed_demo", "--no-history")
        assert "320 projects" in out and "Superuser: admin / admin" in out
        dumps.append(json.loads(_manage(db, "shell", "-v", "0", "-c", _DUMP)))
    assert dumps[0] == dumps[1]
    per_model = Counter(row.get("model", "auth.user") for row in dumps[0])
    # Hundreds of rows, not three.
    assert per_model["projects.project"] == 320
    assert per_model["projects.comment"] > 1000
    assert per_model["projects.like"] > 1000
    assert per_model["courses.enrollment"] > 500
    assert per_model["auth.user"] == 80

    # Seeding again keeps the data.
    assert "already there" in _manage(tmp_path / "one.sqlite3", "seed_demo", "--no-history")


@pytest.fixture
def seeded_db(seeded_demo):
    """A database as scripts/demo leaves it, copied by each test: migrated,
    seeded, with the admin and the budget history."""
    db, out = seeded_demo
    assert re.search(r"Budget history: \d+ violations over 28 days", out), out
    return db


@pytest.fixture
def redis_binary():
    if shutil.which("redis-server") is None:
        if servers.in_ci():
            pytest.fail("redis-server not installed (CI=true)", pytrace=False)
        pytest.skip("redis-server not installed: scripts/demo would use LocMemCache")


def _interruptible():
    """Ctrl-C as in a terminal. A run started in the background by a
    non-interactive shell (a CI job, ``./scripts/test &``) inherits SIGINT
    ignored, and bash cannot trap a signal ignored when it starts."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _run_demo(tmp_path, seeded_db, **env):
    shutil.copy(seeded_db, tmp_path / "demo.sqlite3")
    port = demo.free_port()
    process = subprocess.Popen(
        [str(ROOT / "scripts" / "demo")],
        cwd=ROOT,
        env={
            **_clean_env(),
            "DDT_DEMO_PYTHON": sys.executable,
            "DEMO_DATABASE": str(tmp_path / "demo.sqlite3"),
            "PORT": str(port),
            **env,
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        preexec_fn=_interruptible,
    )
    lines = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "Quit the server" in line:
            return process, port, "".join(lines)
    process.kill()
    pytest.fail("scripts/demo did not start:\n" + "".join(lines))


def _get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as response:
        return response.status, html.unescape(response.read().decode())


def _ctrl_c(process):
    os.killpg(process.pid, signal.SIGINT)
    rest, _ = process.communicate(timeout=30)
    return rest


def test_demo_command_starts_its_own_redis_and_stops_it(tmp_path, seeded_db, redis_binary):
    import redis

    process, port, output = _run_demo(tmp_path, seeded_db)
    try:
        assert "Demo data: already there" in output
        assert f"admin: http://127.0.0.1:{port}/admin/  user admin, password admin" in output
        found = re.search(
            r"==> cache: django-redis on a redis-server of its own at "
            r"redis://127\.0\.0\.1:(\d+)/0 \(stopped on exit\)",
            output,
        )
        assert found, output
        redis_port = int(found.group(1))

        status, page = _get(port, "/badges/fixed/")
        assert status == 200
        assert f"Cache: django-redis at redis://127.0.0.1:{redis_port}/0" in page
        # The page's get_many/set_many went to that Redis.
        client = redis.Redis(port=redis_port)
        assert len(client.keys("ddt-demo:1:badge_progress:*")) == 80
        client.close()
    finally:
        rest = _ctrl_c(process)
    assert process.returncode == 130, rest
    assert f"stopped the redis-server at redis://127.0.0.1:{redis_port}/0" in rest
    assert not servers.redis_ping(redis_port)


def test_demo_command_uses_redis_url(tmp_path, seeded_db, fresh_redis):
    process, port, output = _run_demo(tmp_path, seeded_db, REDIS_URL=fresh_redis.url)
    try:
        assert f"==> cache: django-redis at {fresh_redis.url} (from REDIS_URL)" in output
        status, page = _get(port, "/projects/fixed/")
        assert status == 200 and f"Cache: django-redis at {fresh_redis.url}" in page
    finally:
        _ctrl_c(process)
    assert process.returncode == 130
    assert servers.redis_ping(fresh_redis.port)  # not its own: left running


def test_demo_command_local_memory_cache(tmp_path, seeded_db):
    process, port, output = _run_demo(tmp_path, seeded_db, DEMO_CACHE="locmem")
    try:
        assert "==> cache: Django's local-memory cache (DEMO_CACHE=locmem)" in output
        status, page = _get(port, "/")
        assert status == 200 and "Cache: Django's local-memory cache (LocMemCache)" in page
    finally:
        _ctrl_c(process)
    assert process.returncode == 130
