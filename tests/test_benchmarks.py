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


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m benchmarks.run <args>`` on its own settings and database."""
    skipped = ("DJANGO_SETTINGS_MODULE", "BENCH_DB", "BENCH_UNDER_CALLGRIND")
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", *args],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k not in skipped},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_benchmarks_quick_mode_runs(tmp_path):
    out = tmp_path / "results.json"
    result = _bench("--quick", "--json", str(out))
    data = json.loads(out.read_text())
    configs = {row["config"] for row in data["overhead"]}
    assert {"bare", "toolbar", "toolbar+perfpanels", "budget_middleware"} <= configs
    assert "budget_middleware_full" in configs
    assert all(row["report_ms"] > 0 for row in data["analysis"])
    if sys.platform.startswith("linux"):
        assert {row["config"] for row in data["rss"]} == {"bare", "budget_middleware_full"}
        assert all(row["rss_peak_mib"] >= row["rss_before_mib"] > 0 for row in data["rss"])
    assert [row["config"] for row in data["memory"]] == [
        "toolbar",
        "toolbar+perfpanels",
        "perfpanels+toolbar",
    ]
    for row in data["memory"][1:]:  # one hash seed in a quick run
        assert row["kib_over_toolbar_by_seed"] == [row["kib_over_toolbar"]]
        assert row["min_mib"] <= row["peak_mib"] <= row["max_mib"]
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


# Run in the benchmark's own process (it sets Django up with its own settings).
PAIRED_KEEPS_ONE_SETTING = """
from django.core.signals import setting_changed

from benchmarks import run

run.seed(20)
sent = []
setting_changed.connect(lambda setting, **kw: sent.append(setting), weak=False)
shared, configs = run._one_ddt_perfpanels(run.configurations())
assert all("DDT_PERFPANELS" not in config for config in configs.values()), configs
with shared:
    before = len(sent)
    samples = run.time_turns(configs, 2, 3)
    from django.conf import settings

    assert settings.DDT_PERFPANELS == {"BUDGETS": {"default": {"queries": 100_000}}}
    swapped = sent[before:]
assert {len(v) for v in samples.values()} == {3}
assert "MIDDLEWARE" in swapped, swapped
assert "DDT_PERFPANELS" not in swapped, swapped
print("ok")
"""


def test_paired_turns_do_not_swap_ddt_perfpanels_settings():
    # A swap per request would clear what ddt_perfpanels works out once per
    # process, and the timed requests would pay for it, as no server does.
    result = subprocess.run(
        [sys.executable, "-c", PAIRED_KEEPS_ONE_SETTING],
        cwd=ROOT,
        env={
            k: v
            for k, v in os.environ.items()
            if k not in ("DJANGO_SETTINGS_MODULE", "BENCH_DB", "BENCH_UNDER_CALLGRIND")
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")


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


def test_instructions_are_read_from_callgrind_and_priced_per_query():
    """--instructions: callgrind's count at exit, then each cost per query as
    (with it - without it) / queries, and ours as a fraction of the others'."""
    from benchmarks.stats import collected, instruction_rows

    # As benchmarks.run prices them (its PAIRS, and django-zeal's process).
    pairs = (
        ("our panels", "toolbar", "toolbar+perfpanels"),
        ("the toolbar's SQL panel", "toolbar_without_sql", "toolbar"),
        ("the toolbar", "bare", "toolbar"),
        ("light capture", "bare", "budget_middleware"),
        ("django-zeal", "bare (zeal process)", "zeal"),
    )

    stderr = "==12== Events    : Ir\n==12== Collected : 5465666607\n==12==\n==12== I refs: 5,465"
    assert collected(stderr) == 5465666607
    with pytest.raises(RuntimeError, match="counted nothing"):
        collected("valgrind: no such tool")
    per_request = {
        ("bare", 200): 200_000_000.0,
        ("toolbar_without_sql", 200): 250_000_000.0,
        ("toolbar", 200): 520_000_000.0,
        ("toolbar+perfpanels", 200): 532_800_000.0,
        ("budget_middleware", 200): 201_000_000.0,
        ("bare (zeal process)", 200): 199_000_000.0,
        ("zeal", 200): 219_000_000.0,
    }
    rows = {row["cost_of"]: row for row in instruction_rows(per_request, pairs)}
    assert rows["our panels"]["instructions_per_query"] == 64_000
    assert rows["the toolbar"]["instructions_per_query"] == 1_600_000
    assert rows["the toolbar's SQL panel"]["instructions_per_query"] == 1_350_000
    assert rows["django-zeal"]["instructions_per_query"] == 100_000
    assert rows["our panels"]["of_the_toolbar"] == 0.04
    assert rows["our panels"]["of_zeal"] == 0.64
    assert rows["light capture"]["instructions_per_query"] == 5_000
    assert rows["light capture"]["of_the_request"] == 0.005


def test_instructions_child_runs_its_requests_without_callgrind():
    """The process callgrind runs, here without it: the same warm-up and
    requests, nothing switched (the switching needs callgrind_control)."""
    result = _bench("--instructions-child", "toolbar+perfpanels", "20", "1")
    assert "Traceback" not in result.stderr
