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
    priced = {row["cost_of"] for row in data["paired"]}
    assert {"our panels", "the toolbar's SQL panel", "the toolbar", "light capture"} <= priced
    for row in data["paired"]:
        assert row["turns"] == 3
        assert row["ci95_low"] <= row["us_per_query"] <= row["ci95_high"]
    assert {row["target"] for row in data["targets"]} >= {
        "at most 30 µs per query",
        "light capture at most 3% of the request",
    }
    assert {row["verdict"] for row in data["targets"]} <= {"met", "missed", "not shown"}


def test_median_interval_holds_the_middle_of_the_sample():
    from benchmarks.stats import median_ci

    median, low, high = median_ci([float(v) for v in range(1, 101)])
    assert median == 50.5
    # n=100: the 40th and the 61st of the sorted values.
    assert (low, high) == (40.0, 61.0)
    assert median_ci([3.0]) == (3.0, 3.0, 3.0)


def test_verdict_says_met_only_when_the_whole_interval_is_under_the_limit():
    from benchmarks.stats import verdict

    assert verdict(10, 29, 30, 30) == "met"
    assert verdict(25, 35, 30, 30) == "not shown"
    assert verdict(31, 40, 30, 30) == "missed"
    # A ratio: the limit is itself an interval (a fraction of the other's).
    assert verdict(10, 20, 18, 25) == "not shown"
    assert verdict(26, 30, 18, 25) == "missed"
