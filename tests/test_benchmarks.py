"""The benchmark is not a timed test: here it only runs in quick mode, to check
that every measurement still works."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# A project in a subprocess, on a SQLite database of its own: the PostgreSQL
# sessions leave it out (noxfile.py).
pytestmark = pytest.mark.own_database


ROOT = Path(__file__).resolve().parent.parent


def test_benchmarks_quick_mode_runs(tmp_path):
    out = tmp_path / "results.json"
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.pop("BENCH_DB", None)
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--quick", "--json", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    data = json.loads(out.read_text())
    configs = {row["config"] for row in data["overhead"]}
    assert {"bare", "toolbar", "toolbar+perfpanels", "budget_middleware"} <= configs
    assert "budget_middleware_full" in configs
    assert all(row["report_ms"] > 0 for row in data["analysis"])
    if sys.platform.startswith("linux"):
        assert {row["config"] for row in data["rss"]} == {"bare", "budget_middleware_full"}
        assert all(row["rss_peak_mib"] >= row["rss_before_mib"] > 0 for row in data["rss"])
    assert [row["config"] for row in data["memory"]] == ["toolbar", "toolbar+perfpanels"]
    assert "Per-request time" in result.stdout
