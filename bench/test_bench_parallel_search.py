"""Parallel model selection: GridSearchCV over Pipeline(StandardScaler, MLP).

    python -m pytest bench/test_bench_parallel_search.py --benchmark-only

A grid of 8 candidates x 3 folds (24 L-BFGS fits on digits, 1797 x 64,
max_iter=60, tol=0 so every fit runs its iterations) searched with
n_jobs=1 (one process, fastmlp's OpenMP team on every core) and n_jobs=2
(two loky workers). joblib's loky backend starts its workers with
OMP_NUM_THREADS = cpu_count() // n_workers, which fastmlp's thread count
follows (fastmlp._threads.effective_n_threads), so two workers on two cores
run two compute threads in all. extra_info records, for each case, the
OpenMP threads fastmlp uses inside the workers (measured there) and the total
n_jobs x threads. A third case lifts joblib's limit
(parallel_config(inner_max_num_threads=cpu_count())) to show what
oversubscription would cost. Timings are reported, never asserted (the
assertion on thread counts is tests/test_conventions.py's).
FASTMLP_BENCH_ROUNDS=N caps each block at N rounds.
"""

import os
import warnings

import pytest
from joblib import Parallel, cpu_count, delayed, parallel_config
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from fastmlp import MLPClassifier
from fastmlp._threads import effective_n_threads

pytestmark = pytest.mark.filterwarnings("ignore", category=ConvergenceWarning)

CASE = "GridSearchCV 24 lbfgs fits"
GRID = {
    "mlp__alpha": [1e-4, 1e-3, 1e-2, 1e-1],
    "mlp__hidden_layer_sizes": [(32,), (64,)],
}


def _rounds(n):
    cap = os.getenv("FASTMLP_BENCH_ROUNDS")
    return max(1, min(n, int(cap))) if cap else n


def worker_threads(n_jobs):
    """fastmlp's OpenMP thread count inside each of joblib's workers
    (sorted, one value per task; 2 tasks per worker)."""
    n = 2 * max(1, n_jobs)
    return sorted(Parallel(n_jobs=n_jobs)(delayed(effective_n_threads)() for _ in range(n)))


def _search(n_jobs):
    X, y = load_digits(return_X_y=True)
    pipe = Pipeline([
        ("scale", StandardScaler()),
        ("mlp", MLPClassifier(solver="lbfgs", max_iter=60, tol=0.0, random_state=0)),
    ])
    search = GridSearchCV(pipe, GRID, cv=KFold(3), n_jobs=n_jobs)
    return lambda: search.fit(X, y)


@pytest.mark.parametrize(
    "label, n_jobs, inner",
    [
        ("n_jobs=1", 1, None),
        ("n_jobs=2", 2, None),
        ("n_jobs=2, joblib limit lifted", 2, "all"),
    ],
)
def test_grid_search_n_jobs(benchmark, speedups, settled, label, n_jobs, inner):
    config = {} if inner is None else {"inner_max_num_threads": cpu_count()}
    with parallel_config(backend="loky", **config), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        threads = worker_threads(n_jobs) if n_jobs > 1 else [effective_n_threads()]
        fit = _search(n_jobs)
        fit()  # warm-up: starts the workers, imports in them
        benchmark.pedantic(fit, rounds=_rounds(3), iterations=1)
    per_worker = max(threads)
    benchmark.extra_info.update(
        n_jobs=n_jobs,
        cpu_count=cpu_count(),
        omp_threads_per_worker=threads,
        compute_threads_total=n_jobs * per_worker,
        oversubscribed=n_jobs * per_worker > cpu_count(),
    )
    speedups.record(CASE, label, benchmark)
    speedups.compare(CASE, "n_jobs=1", "n_jobs=2")
    speedups.compare(CASE, "n_jobs=2, joblib limit lifted", "n_jobs=2")
