"""The README's Install section, followed literally in a new ``startproject``:
its snippets appended to settings.py and urls.py, ``check``, ``migrate``, then a
page with the toolbar and our four panels on it, each of which opens."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# A project in a subprocess, on a SQLite database of its own: the PostgreSQL
# sessions leave it out (noxfile.py).
pytestmark = pytest.mark.own_database

ROOT = Path(__file__).resolve().parents[1]
PANELS = ("NPlusOnePanel", "CountsPanel", "CacheBreakdownPanel", "BudgetPanel")

# Run in the new project, as `manage.py shell -c`: the toolbar's own client-side
# steps (the page, then each panel's content from its store).
REQUEST_A_PAGE = """
import json, re
from django.test import Client

client = Client(HTTP_HOST="127.0.0.1")  # as runserver is opened
page = client.get("/admin/login/")
assert page.status_code == 200, page.status_code
html = page.content.decode()
request_id = re.search(r'data-request-id="([0-9a-f]+)"', html).group(1)
for panel in {panels!r}:
    assert f'id="djdt-{{panel}}"' in html, panel
    rendered = client.get(
        "/__debug__/render_panel/", {{"request_id": request_id, "panel_id": panel}}
    )
    assert rendered.status_code == 200, (panel, rendered.status_code)
    assert 'class="ddtpp' in json.loads(rendered.content)["content"], panel
assert 'id="djdt-SQLPanel"' in html and 'id="djdt-HistoryPanel"' in html
print("panels:", len({panels!r}))
"""


def install_snippets() -> dict[str, str]:
    """The Python blocks of the README's Install section, by the file they go to."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Install\n", 1)[1].split("\n## ", 1)[0]
    files = {"settings.py": "", "urls.py": ""}
    for block in re.findall(r"```python\n(.*?)```", section, flags=re.S):
        code = textwrap.dedent(block)
        files["urls.py" if "urlpatterns" in code else "settings.py"] += "\n" + code
    return files


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's ddt_perfpanels
    for name in ("DJANGO_SETTINGS_MODULE", "PYTEST_VERSION", "PYTEST_CURRENT_TEST"):
        env.pop(name, None)
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("newproject")
    done = run(["-m", "django", "startproject", "mysite", str(path)], cwd=path)
    assert done.returncode == 0, done.stderr
    for name, code in install_snippets().items():
        assert code.strip(), f"the README's Install section has no snippet for {name}"
        with open(path / "mysite" / name, "a") as file:
            file.write(code)
    return path


def test_the_install_section_works_in_a_new_project(project):
    check = run(["manage.py", "check"], cwd=project)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "System check identified no issues" in check.stdout, check.stdout + check.stderr
    migrate = run(["manage.py", "migrate", "--noinput"], cwd=project)
    assert migrate.returncode == 0, migrate.stderr
    assert "Applying ddt_perfpanels.0001_initial... OK" in migrate.stdout

    shell = run(["manage.py", "shell", "-c", REQUEST_A_PAGE.format(panels=PANELS)], cwd=project)
    assert shell.returncode == 0, shell.stdout + shell.stderr
    assert "panels: 4" in shell.stdout


def test_forgetting_the_app_is_a_check_error(project):
    settings = project / "mysite" / "settings.py"
    original = settings.read_text()
    settings.write_text(original + '\nINSTALLED_APPS.remove("ddt_perfpanels")\n')
    try:
        check = run(["manage.py", "check"], cwd=project)
    finally:
        settings.write_text(original)
    assert check.returncode != 0
    assert "ddt_perfpanels.E020" in check.stderr, check.stdout + check.stderr
    assert "'ddt_perfpanels' is not in INSTALLED_APPS" in check.stderr
