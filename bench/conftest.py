"""Shared by the benchmark suites: a pause before each timed block, and a
speed-up table printed at the end of the session.

Options: ``--full`` (or FASTMLP_BENCH_FULL=1) asks a suite for its full matrix
instead of its quick subset (``config.getoption("--full")``). The machine's
description (bench/machine.py: CPU, caches, memory, BLAS, versions) goes into
pytest-benchmark's JSON under ``machine_info["fastmlp"]``.

A benchmark records its rounds with ``speedups.record(case, label, benchmark)``
after ``benchmark.pedantic(...)`` (a side recorded again, in blocks alternated
with the other side's, pools its rounds); ``speedups.compare(case, baseline, subject,
target=...)`` asks for the ratio median(baseline) / median(subject) in the
final table. Targets are reported, never asserted: timings on a shared machine
are too noisy to fail a run on.
"""

import os
import statistics
import sys
import time
from pathlib import Path

import pytest

# OpenMP (libgomp) and OpenBLAS workers keep spinning for a while after their
# work; a block timed while the previous block's workers spin loses cores
_SETTLE_S = 0.3

_KEY = pytest.StashKey()


class Speedups:
    def __init__(self):
        self.samples = {}  # (case, label) -> seconds of every round recorded
        self.comparisons = []  # (case, baseline, subject, target)

    @property
    def medians(self):
        return {key: statistics.median(times) for key, times in self.samples.items()}

    def record(self, case, label, benchmark):
        """A side's rounds; a side recorded again (blocks alternated with the
        other side's) adds its rounds, and the ratio is of the pooled medians."""
        stats = benchmark.stats
        if stats:  # None or empty under --benchmark-disable
            self.samples.setdefault((case, label), []).extend(stats.stats.data)

    def record_value(self, case, label, seconds):
        """A figure of a side other than its median (a percentile)."""
        self.samples[(case, label)] = [seconds]

    def compare(self, case, baseline, subject, target=None):
        item = (case, baseline, subject, target)
        if item not in self.comparisons:
            self.comparisons.append(item)

    def lines(self):
        medians = self.medians
        if not medians:  # nothing was timed (--benchmark-disable)
            return []
        rows = []
        for case, baseline, subject, target in self.comparisons:
            b = medians.get((case, baseline))
            s = medians.get((case, subject))
            if b is None or s is None:
                ratio, verdict = "not run", ""
            else:
                r = b / s
                ratio = f"{r:.2f}x"
                verdict = "" if target is None else ("holds" if r >= target else "MISSED")
            rows.append((
                case, f"{baseline} / {subject}",
                _ms(b), _ms(s), ratio,
                "" if target is None else f">= {target:g}x", verdict,
            ))
        if not rows:
            return []
        head = ("case", "median ratio", "baseline", "subject", "ratio", "target", "")
        widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
        fmt = "  ".join(
            f"{{:{'<' if i < 2 else '>'}{w}}}" for i, w in enumerate(widths)
        )
        return [fmt.format(*head)] + [fmt.format(*r) for r in rows]


def _ms(t):
    if t is None:
        return "-"
    return f"{t * 1e6:.1f} us" if t < 1e-3 else f"{t * 1e3:.1f} ms"


_START = pytest.StashKey()


def pytest_configure(config):
    config.stash[_KEY] = Speedups()
    # how busy the machine was when the run started: timings on a shared
    # machine are only as good as this
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    config.stash[_START] = (time.perf_counter(), load)


@pytest.fixture(scope="session")
def speedups(request):
    return request.config.stash[_KEY]


@pytest.fixture
def settled():
    """Pause before a timed block so earlier threads have gone to sleep."""
    time.sleep(_SETTLE_S)


def pytest_addoption(parser):
    env = os.getenv("FASTMLP_BENCH_FULL", "").strip().lower()
    parser.addoption(
        "--full", action="store_true", default=env not in ("", "0", "false", "no"),
        help="run the full benchmark matrix instead of the quick subset "
             "(same as FASTMLP_BENCH_FULL=1)",
    )


def pytest_benchmark_update_machine_info(config, machine_info):
    sys.path.insert(0, str(Path(__file__).parent))
    try:
        from machine import describe
    finally:
        sys.path.pop(0)
    info = describe()
    start, load = config.stash[_START]
    info["load_average_start"] = load
    info["session_s"] = round(time.perf_counter() - start, 1)
    info["date"] = time.strftime("%Y-%m-%d")
    # set by bench/report.py; otherwise the pytest command line
    info["command"] = os.getenv("FASTMLP_BENCH_COMMAND") or " ".join(
        ["python -m pytest", *config.invocation_params.args]
    )
    machine_info["fastmlp"] = info


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter, config):
    lines = config.stash[_KEY].lines()
    if lines:
        terminalreporter.write_sep(
            "-", "speed-ups: ratio of medians (targets reported, not asserted)"
        )
        for line in lines:
            terminalreporter.write_line(line)
