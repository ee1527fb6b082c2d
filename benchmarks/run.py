"""ddt_perfpanels benchmarks: one command, a printed table, a JSON file.

    python -m benchmarks.run            # the full run (about 40 minutes here)
    python -m benchmarks.run --paired-only   # issue 17's speed targets alone
    python -m benchmarks.run --instructions  # the same costs in instructions (valgrind)
    python -m benchmarks.run --quick    # tiny sizes: checks that everything works

What is measured, in one process, configurations taking turns request by request,
median of rounds:
1. per-request time of a view running N queries under: bare Django; the toolbar
   with its default panels; the toolbar without its SQL panel (to price the SQL
   panel per query); the toolbar plus our panels; our BudgetMiddleware alone;
   django-zeal, for reference; and, for issue 17's speed targets, the cost per
   query of our panels, the SQL panel, the toolbar and django-zeal from pairs
   of requests made in the same turn (median and 95% interval; --paired-only);
2. the time to build the report (all analyses, to_dict()) from N recorded queries;
3. peak memory of one request with 10,000 queries: the toolbar alone against the
   toolbar plus our panels, listed after its own (as timed) and before them (as
   the README has it), each in a fresh process per hash seed;
4. the process's RSS before, at its peak during, and right after requests of
   10,000 and 50,000 queries (one, and four at once) recorded in full by
   BudgetMiddleware, against Django alone; each in a fresh process.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import platform
import statistics
import sys
import time
import tracemalloc
from collections.abc import Iterable
from contextlib import ExitStack, nullcontext
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")

import warnings  # noqa: E402

import django  # noqa: E402

warnings.filterwarnings("ignore", message="N+1 detected")

django.setup()

from debug_toolbar.settings import PANELS_DEFAULTS  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client as DjangoClient  # noqa: E402
from django.test.utils import override_settings  # noqa: E402

from benchmarks.benchapp.models import Author, Book  # noqa: E402
from benchmarks.stats import collected, instruction_rows, median_ci, verdict  # noqa: E402


class Client(DjangoClient):
    """Django's test client without its record of each response's templates and
    contexts. That record is a receiver connected per request, and in DEBUG
    Django checks each receiver's signature through an lru_cache
    (``django.utils.inspect``, 512 entries) that then keeps it: the contexts of
    the last 512 requests stayed in memory, the toolbar of each with them (its
    templates panel is what records them). The process grew past a gigabyte in
    a run, and each ``gc.collect()`` between requests walked all of it."""

    def request(self, **request: Any) -> Any:
        return self.handler(self._base_environ(**request))


TOOLBAR = "debug_toolbar.middleware.DebugToolbarMiddleware"
OUR_PANELS = [
    "ddt_perfpanels.panels.NPlusOnePanel",
    "ddt_perfpanels.panels.CountsPanel",
    "ddt_perfpanels.panels.CacheBreakdownPanel",
    "ddt_perfpanels.panels.BudgetPanel",
]


def _importable(dotted: str) -> bool:
    module, _, name = dotted.rpartition(".")
    try:
        return hasattr(importlib.import_module(module), name)
    except ImportError:
        return False


def _our_panels() -> list[str]:
    """The panels of OUR_PANELS that import here."""
    return [p for p in OUR_PANELS if _importable(p)]


def configurations() -> dict[str, dict]:
    ours = _our_panels()
    without_sql = [p for p in PANELS_DEFAULTS if p != "debug_toolbar.panels.sql.SQLPanel"]
    if os.environ.get("BENCH_ZEAL"):
        return {
            "bare": {"MIDDLEWARE": []},
            "zeal": {"MIDDLEWARE": ["zeal.middleware.zeal_middleware"]},
        }
    configs = {
        # Django with ddt_perfpanels installed but nothing capturing: the only
        # cost left is the pass-through of its execute_wrapper.
        "bare": {"MIDDLEWARE": []},
        # Django alone: ddt_perfpanels' database hook removed for the run.
        "bare_without_ddt_perfpanels": {"MIDDLEWARE": [], STRIP_HOOK: True},
        "toolbar": {"MIDDLEWARE": [TOOLBAR], "DEBUG_TOOLBAR_PANELS": PANELS_DEFAULTS},
        "toolbar_without_sql": {"MIDDLEWARE": [TOOLBAR], "DEBUG_TOOLBAR_PANELS": without_sql},
        "toolbar+perfpanels": {
            "MIDDLEWARE": [TOOLBAR],
            "DEBUG_TOOLBAR_PANELS": [*PANELS_DEFAULTS, *ours],
        },
    }
    if _importable("ddt_perfpanels.middleware.BudgetMiddleware"):
        # Every request checked, as a staging server would; nothing is over
        # budget here, so no row is written: the cost measured is the recording.
        # A budget of numbers is measured light (no ORM provenance)...
        configs["budget_middleware"] = {
            "MIDDLEWARE": ["ddt_perfpanels.middleware.BudgetMiddleware"],
            "DDT_PERFPANELS": {"BUDGETS": {"default": {"queries": 100_000}}},
        }
        # ... and one that limits N+1 clusters needs everything recorded.
        configs["budget_middleware_full"] = {
            "MIDDLEWARE": ["ddt_perfpanels.middleware.BudgetMiddleware"],
            "DDT_PERFPANELS": {"BUDGETS": {"default": {"queries": 100_000, "nplusone": 100}}},
        }
    return configs


STRIP_HOOK = "_strip_ddt_perfpanels_hook"


class _without_db_hook:
    """Take ddt_perfpanels' execute_wrapper off every connection for a while."""

    def __enter__(self):
        from django.db import connections
        from django.db.backends.signals import connection_created

        from ddt_perfpanels.recording import db

        connection_created.disconnect(dispatch_uid="ddt_perfpanels_db")
        for conn in connections.all():
            if db.record_query in conn.execute_wrappers:
                conn.execute_wrappers.remove(db.record_query)
        db._installed = False

    def __exit__(self, *exc):
        from ddt_perfpanels.recording import db

        db.install()


def seed(books: int) -> None:
    call_command("migrate", verbosity=0, run_syncdb=True)
    if Book.objects.count() >= books:
        return
    Book.objects.all().delete()
    Author.objects.all().delete()
    authors = Author.objects.bulk_create(Author(name=f"Author {i}") for i in range(200))
    Book.objects.bulk_create(
        (Book(title=f"Book {i}", author=authors[i % len(authors)]) for i in range(books)),
        batch_size=5000,
    )


def _setting(config: dict) -> Any:
    """The configuration in effect: its settings, and ddt_perfpanels' database
    hook taken off for bare_without_ddt_perfpanels."""
    config = dict(config)
    strip = config.pop(STRIP_HOOK, False)
    stack = ExitStack()
    stack.enter_context(override_settings(**config))
    if strip:
        stack.enter_context(_without_db_hook())
    return stack


def time_turns(configs: dict[str, dict], n: int, turns: int) -> dict[str, list[float]]:
    """Milliseconds of each request of each configuration, the configurations
    taking turns request by request (in an order reversed every other turn):
    this virtual machine's speed drifts over seconds, and a block of requests per
    configuration lets that drift land on one configuration only. The i-th
    sample of each configuration comes from the same turn."""
    # A client per configuration: its handler loads MIDDLEWARE once, on its first
    # request (the warm-up: imports, template loading).
    clients = {}
    for name, config in configs.items():
        with _setting(config):
            clients[name] = Client()
            clients[name].get(f"/q/{n}/")
    samples: dict[str, list[float]] = {name: [] for name in configs}
    names = list(configs)
    for turn in range(turns):
        for name in names if turn % 2 == 0 else reversed(names):
            with _setting(configs[name]):
                gc.collect()
                start = time.perf_counter()
                response = clients[name].get(f"/q/{n}/")
                samples[name].append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200, response.status_code
    return samples


def time_interleaved(configs: dict[str, dict], n: int, requests: int) -> dict[str, float]:
    """Median milliseconds per request of each configuration (``time_turns``)."""
    samples = time_turns(configs, n, requests)
    return {name: statistics.median(values) for name, values in samples.items()}


def overhead(sizes: list[int], rounds: int, requests: int) -> list[dict]:
    configs = configurations()
    rows = []
    for n in sizes:
        # Small requests are noisy: take more of them (about 2000 queries' worth
        # per sample), except in a quick run (one round).
        count = max(requests, 2000 // n) if rounds > 1 else requests
        samples: dict[str, list[float]] = {name: [] for name in configs}
        names = list(configs)
        for round_ in range(rounds):
            # Rotate who goes first each round, so that no one always follows the same.
            order = names[round_ % len(names) :] + names[: round_ % len(names)]
            medians = time_interleaved({name: configs[name] for name in order}, n, count)
            for name, ms in medians.items():
                samples[name].append(ms)
        medians = {name: statistics.median(values) for name, values in samples.items()}
        bare = medians.get("bare_without_ddt_perfpanels", medians["bare"])
        for name, ms in medians.items():
            rows.append(
                {
                    "queries": n,
                    "config": name,
                    "ms_per_request": round(ms, 3),
                    "ratio_to_bare": round(ms / bare, 3),
                    "overhead_us_per_query": round((ms - bare) / n * 1000, 2),
                }
            )
        if "toolbar" not in medians:
            continue
        sql_panel = (medians["toolbar"] - medians["toolbar_without_sql"]) / n * 1000
        ours = (medians["toolbar+perfpanels"] - medians["toolbar"]) / n * 1000
        rows.append(
            {
                "queries": n,
                "config": "(toolbar SQL panel per query, µs)",
                "overhead_us_per_query": round(sql_panel, 2),
            }
        )
        rows.append(
            {
                "queries": n,
                "config": "(our panels per query, µs)",
                "overhead_us_per_query": round(ours, 2),
                "ratio_to_sql_panel": round(ours / sql_panel, 3) if sql_panel > 0 else None,
            }
        )
    return rows


def _in_own_process(args: list[str], env: dict[str, str] | None = None) -> Any:
    """What ``benchmarks.run <args>`` prints last, as JSON, run in a fresh process."""
    import subprocess

    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", *args],
        env=env,
        cwd=HERE.parent,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def _in_zeal_process(args: list[str]) -> list[dict]:
    """Rows measured by ``benchmarks.run <args>`` in a process of its own:
    django-zeal patches the ORM process-wide once installed. None without it."""
    if not _importable("zeal.middleware.zeal_middleware"):
        return []
    rows: list[dict] = _in_own_process(args, env={**os.environ, "BENCH_ZEAL": "1"})
    return rows


def zeal_overhead(sizes: list[int], rounds: int, requests: int) -> list[dict]:
    """django-zeal, and a bare Django to compare with, in a process of its own."""
    args = ["--zeal-only", "--sizes", *map(str, sizes)]
    rows = _in_zeal_process(args + ["--rounds", str(rounds), "--requests", str(requests)])
    for row in rows:
        row["config"] = f"{row['config']} (zeal process)"
    return rows


# What the targets compare, priced by pairs of requests: (the cost of what, the
# configuration without it, the configuration with it).
PAIRS = (
    ("our panels", "toolbar", "toolbar+perfpanels"),
    ("the toolbar's SQL panel", "toolbar_without_sql", "toolbar"),
    ("the toolbar", "bare", "toolbar"),
    # BudgetMiddleware with a budget of numbers: measured light.
    ("light capture", "bare", "budget_middleware"),
)
ZEAL_PAIRS = (("django-zeal", "bare", "zeal"),)


def _configurations_of(pairs: Iterable[tuple[str, str, str]]) -> list[str]:
    """The configurations the pairs compare, each once, in their order."""
    return list(dict.fromkeys(name for _, without, with_ in pairs for name in (without, with_)))


def _one_ddt_perfpanels(configs: dict[str, dict]) -> tuple[Any, dict[str, dict]]:
    """One DDT_PERFPANELS for the whole run (budget_middleware's), and the
    configurations without theirs. Swapped in per request, it would send
    setting_changed twice a turn, and ddt_perfpanels would work out again, in
    the timed request, what a server works out once per process (its settings,
    its budgets, which files in a stack are the application's). With it set for
    every configuration, our panels also check that budget, as a project with
    budgets would."""
    shared = configs.get("budget_middleware", {}).get("DDT_PERFPANELS")
    if shared is None:
        return nullcontext(), configs
    rest = {
        name: {key: value for key, value in config.items() if key != "DDT_PERFPANELS"}
        for name, config in configs.items()
    }
    return override_settings(DDT_PERFPANELS=shared), rest


def paired(sizes: list[int], turns: int | None = None, longer: int = 1) -> list[dict]:
    """The cost per query of each of PAIRS from the differences of pairs of
    requests, the two of a pair made in the same turn (``time_turns``): the
    machine's drift over seconds, which the median of one configuration's
    requests and the other's both carry, cancels within a pair. Shown: the
    median of the differences and its 95% confidence interval. ``turns``: how
    many (a quick run's); by default about 60,000 queries' worth, at least 100
    and at most 300, times ``longer`` (the interval narrows as its square root)."""
    configs = configurations()
    pairs = [p for p in (ZEAL_PAIRS if os.environ.get("BENCH_ZEAL") else PAIRS) if p[2] in configs]
    names = _configurations_of(pairs)
    shared, chosen = _one_ddt_perfpanels({name: configs[name] for name in names})
    rows = []
    for n in sizes:
        count = turns if turns is not None else min(max(60_000 // n, 100), 300) * longer
        with shared:
            samples = time_turns(chosen, n, count)
        for label, without, with_ in pairs:
            differences = [
                (b - a) / n * 1000 for a, b in zip(samples[without], samples[with_], strict=True)
            ]
            median, low, high = median_ci(differences)
            rows.append(
                {
                    "queries": n,
                    "cost_of": label,
                    "pairs": f"{with_} - {without}",
                    "turns": count,
                    "us_per_query": round(median, 2),
                    "ci95_low": round(low, 2),
                    "ci95_high": round(high, 2),
                    "base_ms_per_request": round(statistics.median(samples[without]), 3),
                }
            )
    return rows


def zeal_paired(sizes: list[int], turns: int | None = None, longer: int = 1) -> list[dict]:
    """django-zeal's cost by pairs, in a process of its own."""
    args = ["--zeal-paired", "--sizes", *map(str, sizes), "--longer", str(longer)]
    return _in_zeal_process(args + ([] if turns is None else ["--turns", str(turns)]))


def targets(rows: list[dict]) -> list[dict]:
    """Issue 17's speed targets, judged from the paired intervals: our panels at
    most 30 µs per query, 0.15 of the toolbar's own cost and 0.5 of
    django-zeal's; a light capture at most 3% of the request without it. A
    ratio is met only if our interval's top is under the fraction of the
    other's bottom; missed only if our bottom is over the fraction of its top."""
    by = {(row["queries"], row["cost_of"]): row for row in rows}
    out = []
    for n in sorted({row["queries"] for row in rows}):
        ours = by.get((n, "our panels"))
        if ours is None:
            continue
        low, high = ours["ci95_low"], ours["ci95_high"]
        checks = [("at most 30 µs per query", 30.0, 30.0)]
        for label, fraction in (("the toolbar", 0.15), ("django-zeal", 0.5)):
            other = by.get((n, label))
            if other is not None:
                checks.append(
                    (
                        f"at most {fraction} of {label}'s cost",
                        fraction * other["ci95_low"],
                        fraction * other["ci95_high"],
                    )
                )
        light = by.get((n, "light capture"))
        if light is not None:
            # At most 3% of the request without it, per query.
            limit = 0.03 * light["base_ms_per_request"] * 1000 / n
            out.append(
                {
                    "queries": n,
                    "target": "light capture at most 3% of the request",
                    "ours_us": (
                        f"{light['us_per_query']} [{light['ci95_low']}, {light['ci95_high']}]"
                    ),
                    "limit_us": f"{limit:.2f}",
                    "verdict": verdict(light["ci95_low"], light["ci95_high"], limit, limit),
                }
            )
        for target, limit_low, limit_high in checks:
            out.append(
                {
                    "queries": n,
                    "target": target,
                    "ours_us": f"{ours['us_per_query']} [{low}, {high}]",
                    "limit_us": (
                        f"{limit_low:.2f}"
                        if limit_low == limit_high
                        else f"{limit_low:.2f} to {limit_high:.2f}"
                    ),
                    "verdict": verdict(low, high, limit_low, limit_high),
                }
            )
    return out


# -- instructions: deterministic where time is not ------------------------------------

# Requests counted per configuration and size: one request of 2,000 queries
# counts the same to a few hundred instructions per query from run to run.
INSTRUCTION_REQUESTS = {20: 10, 200: 10, 2000: 2}
# Set in the process valgrind runs: it switches counting on around the requests.
UNDER_CALLGRIND = "BENCH_UNDER_CALLGRIND"


def instructions_one(config: str, n: int, requests: int) -> None:
    """In a process that callgrind runs: three requests to warm up, then the
    instructions of ``requests`` requests only (``callgrind_control`` switches
    counting on and off around them). Without callgrind, the same requests."""
    import subprocess

    def counting(state: str) -> None:
        if os.environ.get(UNDER_CALLGRIND):
            subprocess.run(
                ["callgrind_control", "-i", state, str(os.getpid())],
                check=True,
                capture_output=True,
            )

    with _setting(configurations()[config]):
        client = Client()
        for _ in range(3):
            client.get(f"/q/{n}/")
        gc.collect()
        counting("on")
        for _ in range(requests):
            response = client.get(f"/q/{n}/")
        counting("off")
    assert response.status_code == 200, response.status_code


def _count_instructions(config: str, n: int, requests: int, zeal: bool) -> float:
    """Instructions per request of one configuration, in a process of its own
    under callgrind (string hashing fixed: PYTHONHASHSEED=0)."""
    import subprocess

    env = {**os.environ, "PYTHONHASHSEED": "0", UNDER_CALLGRIND: "1"}
    if zeal:
        env["BENCH_ZEAL"] = "1"
    result = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            "-m",
            "benchmarks.run",
            "--instructions-child",
            config,
            str(n),
            str(requests),
        ],
        env=env,
        cwd=HERE.parent,
        capture_output=True,
        text=True,
        check=True,
    )
    return collected(result.stderr) / requests


def instructions(sizes: list[int]) -> list[dict]:
    """Issue 17's comparisons counted in instructions (valgrind's callgrind):
    each configuration in a process of its own, as many at once as there are
    processors. Instructions are not time (a cache miss costs many), but they
    do not move with the machine's speed: a change that saves some shows it."""
    import shutil
    from concurrent.futures import ThreadPoolExecutor

    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise SystemExit("--instructions needs valgrind (Debian: apt install valgrind)")
    names = _configurations_of(PAIRS)
    jobs = [(name, n, False) for n in sizes for name in names]
    if _importable("zeal.middleware.zeal_middleware"):
        jobs += [(name, n, True) for n in sizes for name in ("bare", "zeal")]

    def count(job: tuple[str, int, bool]) -> float:
        name, n, zeal = job
        return _count_instructions(name, n, INSTRUCTION_REQUESTS.get(n, 2), zeal)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        counts = pool.map(count, jobs)
        per_request = {
            (f"{name} (zeal process)" if zeal and name == "bare" else name, n): count
            for (name, n, zeal), count in zip(jobs, counts, strict=True)
        }
    return instruction_rows(per_request, (*PAIRS, ("django-zeal", "bare (zeal process)", "zeal")))


def run_queries(n: int) -> None:
    for book in Book.objects.order_by("pk")[: n - 1]:
        book.author.name


def analysis(sizes: list[int], repeats: int = 3) -> list[dict]:
    from ddt_perfpanels import capture
    from ddt_perfpanels.report import Report

    rows = []
    for n in sizes:
        with override_settings(DDT_PERFPANELS={"MAX_QUERIES": max(sizes) + 10}):
            with capture() as report:
                run_queries(n)
            recorder = report.recorder
            samples = []
            for _ in range(repeats):
                fresh = Report(recorder)
                start = time.perf_counter()
                json.dumps(fresh.to_dict())
                samples.append((time.perf_counter() - start) * 1000)
        median = round(statistics.median(samples), 3)
        rows.append({"queries": len(recorder.queries), "report_ms": median})
    for previous, row in zip(rows, rows[1:], strict=False):
        growth = row["queries"] / previous["queries"]
        row["time_ratio_per_size_ratio"] = round(
            (row["report_ms"] / previous["report_ms"]) / growth, 3
        )
    return rows


# The peak of one request moves by a few KiB from one process to the next, the
# toolbar's alone too (timings' strings, hash order, what the free lists keep):
# each configuration runs in one process per hash seed, the same seeds for each.
MEMORY_SEEDS = 5


def memory_configurations() -> dict[str, dict]:
    """``configurations()`` and, for peak memory, our panels where the README
    puts them: before the toolbar's own. The toolbar builds its panels' stats
    last to first, so in that order the SQL panel's (the peak) come before
    ours; ``toolbar+perfpanels``, the order the timed runs use, lists ours
    last, whose stats are then built first and kept through that peak."""
    configs = configurations()
    if "toolbar+perfpanels" in configs:
        configs["perfpanels+toolbar"] = {
            "MIDDLEWARE": [TOOLBAR],
            "DEBUG_TOOLBAR_PANELS": [*_our_panels(), *PANELS_DEFAULTS],
        }
    return configs


def memory(n: int, seeds: int = MEMORY_SEEDS) -> list[dict]:
    """Each configuration in a process of its own, once per hash seed: in one
    process, what the earlier requests left (the toolbar's store of past
    requests, free lists, caches) moved one configuration's peak against the
    other's by more than our panels' share of it. Our rows give, seed by seed,
    KiB over the toolbar's peak in the process of the same seed."""
    names = ("toolbar", "toolbar+perfpanels", "perfpanels+toolbar")
    peaks: dict[str, list[float]] = {name: [] for name in names}
    for hash_seed in range(seeds):
        env = {**os.environ, "PYTHONHASHSEED": str(hash_seed)}
        for name in names:
            peaks[name].append(_in_own_process(["--memory", str(n), name], env)["peak_mib"])
    rows = []
    for name in names:
        row: dict[str, Any] = {
            "config": name,
            "queries": n,
            "peak_mib": round(statistics.median(peaks[name]), 3),
            "min_mib": min(peaks[name]),
            "max_mib": max(peaks[name]),
        }
        if name != "toolbar":
            over = [
                round((ours - base) * 1024, 1)
                for ours, base in zip(peaks[name], peaks["toolbar"], strict=True)
            ]
            row["kib_over_toolbar"] = round(statistics.median(over), 1)
            row["kib_over_toolbar_by_seed"] = over
        rows.append(row)
    return rows


def memory_one(n: int, name: str) -> dict:
    """In this (fresh) process: the peak of traced memory during one request of
    n queries, after one to warm up."""
    with override_settings(**memory_configurations()[name]):
        client = Client()
        client.get(f"/q/{n}/")
        gc.collect()
        tracemalloc.start()
        tracemalloc.reset_peak()
        client.get(f"/q/{n}/")
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return {"config": name, "queries": n, "peak_mib": round(peak / 2**20, 3)}


def _rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


# BudgetMiddleware recording in full a request over budget (a limit on N+1
# clusters: the heaviest capture), or Django alone.
RSS_CONFIGS = {
    "bare": {"MIDDLEWARE": []},
    "budget_middleware_full": {
        "MIDDLEWARE": ["ddt_perfpanels.middleware.BudgetMiddleware"],
        "DDT_PERFPANELS": {"BUDGETS": {"default": {"queries": 10, "nplusone": 0}}},
    },
}


def rss_one(n: int, concurrency: int, config: str) -> dict:
    """In this (fresh) process: RSS before, at its peak during, and right after
    ``concurrency`` requests of n queries each, run at once in threads."""
    import threading

    with override_settings(**RSS_CONFIGS[config]):
        Client().get("/q/50/")  # warm up: imports, the first violation
        gc.collect()
        before = _rss_mib()
        peak = [before]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], _rss_mib())
                time.sleep(0.005)

        def one() -> None:
            assert Client().get(f"/q/{n}/").status_code == 200

        sampler = threading.Thread(target=sample)
        sampler.start()
        workers = [threading.Thread(target=one) for _ in range(concurrency)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        after = _rss_mib()
        done.set()
        sampler.join()
    return {
        "config": config,
        "queries": n,
        "concurrent": concurrency,
        "rss_before_mib": round(before),
        "rss_peak_mib": round(peak[0]),
        "rss_after_mib": round(after),
        "peak_over_before_mib": round(peak[0] - before),
        "after_over_before_mib": round(after - before),
    }


def rss(cases: list[tuple[int, int]]) -> list[dict]:
    """Each measurement in a process of its own, so that none inherits another's
    heap; Linux only (reads /proc)."""
    if not Path("/proc/self/statm").exists():
        return []
    return [
        _in_own_process(["--rss", str(n), str(concurrency), config])
        for n, concurrency in cases
        for config in RSS_CONFIGS
    ]


def print_table(title: str, rows: list[dict]) -> None:
    print(f"\n## {title}")
    if not rows:
        print("(nothing measured)")
        return
    columns = list(dict.fromkeys(k for row in rows for k in row))
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    print(" | ".join(c.ljust(widths[c]) for c in columns))
    print("-|-".join("-" * widths[c] for c in columns))
    for row in rows:
        print(" | ".join(str(row.get(c, "")).ljust(widths[c]) for c in columns))


def _write(results: dict, path: str | Path) -> dict:
    """Write ``results`` as JSON to ``path``, say where, and return them."""
    written = Path(path)
    written.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten to {written}")
    return results


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes: check it works")
    parser.add_argument(
        "--json",
        help="where to write (results.json; paired.json for --paired-only,"
        " memory.json for --memory-only)",
    )
    parser.add_argument("--zeal-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--zeal-paired", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--paired-only",
        action="store_true",
        help="only the paired estimate of the speed targets (about 15 minutes)",
    )
    parser.add_argument("--sizes", type=int, nargs="*", help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=5, help=argparse.SUPPRESS)
    parser.add_argument("--requests", type=int, default=5, help=argparse.SUPPRESS)
    parser.add_argument("--turns", type=int, help=argparse.SUPPRESS)
    parser.add_argument(
        "--longer",
        type=int,
        default=1,
        metavar="K",
        help="K times as many pairs of requests (the paired intervals are about"
        " 1/sqrt(K) as wide; the paired part takes about K times as long)",
    )
    parser.add_argument(
        "--memory-only",
        action="store_true",
        help="only the peak memory of a 10,000-query request (memory.json)",
    )
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="our panels, the toolbar, django-zeal and light capture counted in"
        " instructions per query under valgrind (instructions.json)",
    )
    parser.add_argument("--instructions-child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--rss", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--memory", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory:
        n = int(args.memory[0])
        seed(n)
        print(json.dumps(memory_one(n, args.memory[1])))
        return {}
    if args.instructions_child:
        config, n, requests = args.instructions_child
        seed(int(n))
        instructions_one(config, int(n), int(requests))
        return {}
    if args.rss:
        n, concurrency, config = int(args.rss[0]), int(args.rss[1]), args.rss[2]
        seed(n)
        print(json.dumps(rss_one(n, concurrency, config)))
        return {}
    if args.zeal_only:
        seed(max(args.sizes))
        print(json.dumps(overhead(args.sizes, args.rounds, args.requests)))
        return {}
    if args.zeal_paired:
        seed(max(args.sizes))
        print(json.dumps(paired(args.sizes, args.turns, args.longer)))
        return {}
    if args.quick:
        sizes, rounds, requests = [20], 1, 2
        paired_sizes, turns = [20], 3
        analysis_sizes, memory_n, seeds = [100, 1000], 200, 1
        rss_cases = [(200, 1)]
    else:
        sizes, rounds, requests = [20, 200, 2000], 5, 5
        paired_sizes, turns = [200, 2000], None
        analysis_sizes, memory_n, seeds = [100, 1000, 10_000, 50_000], 10_000, MEMORY_SEEDS
        rss_cases = [(10_000, 1), (50_000, 1), (50_000, 4)]
    meta = {
        "python": platform.python_version(),
        "django": django.get_version(),
        "database": connection.vendor,
        "quick": args.quick,
        "longer": args.longer,
        # Django set the process's time zone to TIME_ZONE: say UTC.
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    if args.paired_only:
        seed(max(paired_sizes))
        rows = paired(paired_sizes, turns, args.longer) + zeal_paired(
            paired_sizes, turns, args.longer
        )
        results = {"meta": meta, "paired": rows, "targets": targets(rows)}
        print_table("Cost per query from pairs of requests (median, 95% interval)", rows)
        print_table("Issue 17's speed targets, from the pairs", results["targets"])
        return _write(results, args.json or HERE / "paired.json")
    if args.instructions:
        results = {"meta": meta, "instructions": instructions(paired_sizes)}
        print_table("Cost per query in instructions (callgrind)", results["instructions"])
        return _write(results, args.json or HERE / "instructions.json")
    if args.memory_only:
        results = {"meta": meta, "memory": memory(memory_n, seeds)}
        print_table("Peak memory of one request", results["memory"])
        return _write(results, args.json or HERE / "memory.json")
    seed(max(analysis_sizes + sizes + [memory_n]))
    results = {
        "meta": meta,
        "overhead": overhead(sizes, rounds, requests) + zeal_overhead(sizes, rounds, requests),
        "paired": paired(paired_sizes, turns, args.longer)
        + zeal_paired(paired_sizes, turns, args.longer),
        "analysis": analysis(analysis_sizes),
        "memory": memory(memory_n, seeds),
        "rss": rss(rss_cases),
    }
    results["targets"] = targets(results["paired"])
    print_table("Per-request time (median ms) and overhead per query", results["overhead"])
    print_table("Cost per query from pairs of requests (median, 95% interval)", results["paired"])
    print_table("Issue 17's speed targets, from the pairs", results["targets"])
    print_table("Report building (all analyses + to_dict)", results["analysis"])
    print_table("Peak memory of one request", results["memory"])
    print_table("Process RSS before, during and after big requests", results["rss"])
    return _write(results, args.json or HERE / "results.json")


if __name__ == "__main__":
    main()
