"""Stochastic-solver benchmarks of issue 3 (adam, sklearn in the same run).

    python -m pytest bench/test_bench_stochastic.py --benchmark-only

Each side of a case is timed in its own block of rounds (benchmark.pedantic),
never interleaved with the other side; the session ends with the table of
ratios of medians from bench/conftest.py. Targets are reported, not asserted.
FASTMLP_BENCH_ROUNDS=N caps every block at N rounds for a quick smoke run.

Cases:
- digits (1797 x 64, /16), hidden (64,), adam, 50 epochs, tol=0: fastmlp
  against sklearn as installed (target >= 5x) and, for information, against
  sklearn with its BLAS held to one thread;
- 20000 x 784 normal data, 10 classes, hidden (256,), adam, 2 epochs, tol=0,
  float64 and float32: fastmlp against sklearn (target >= 1.5x).
Both sides run the same epochs from the same weights (their loss curves agree
to ~1e-15), recorded in extra_info.
"""


import numpy as np
import pytest
from _common import FASTMLP, SKLEARN, SKLEARN_1BLAS
from _common import blas_threads as _blas_threads
from _common import time_fit as _time_fit
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from threadpoolctl import threadpool_limits

from fastmlp import MLPClassifier
from fastmlp._threads import effective_n_threads

# tol=0 with a fixed max_iter: every fit runs its epochs to the end
pytestmark = pytest.mark.filterwarnings("ignore", category=ConvergenceWarning)

# ------------------------------------------------------------- digits ----

DIGITS = "digits (64,) adam 50 epochs"
DIGITS_PARAMS = dict(
    hidden_layer_sizes=(64,), solver="adam", max_iter=50, tol=0, random_state=1
)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


@pytest.mark.benchmark(group=DIGITS)
@pytest.mark.parametrize(
    "side", [SKLEARN, SKLEARN_1BLAS, FASTMLP], ids=["sklearn", "sklearn-blas1", "fastmlp"]
)
def test_digits_adam(benchmark, speedups, settled, digits, side):
    X, y = digits
    # about 0.2 s, 0.2 s and 0.03 s per fit on 2 quiet cores
    rounds = {SKLEARN: 7, SKLEARN_1BLAS: 7, FASTMLP: 21}[side]
    if side == FASTMLP:
        _time_fit(benchmark, lambda: MLPClassifier(**DIGITS_PARAMS), X, y, rounds, 2)
        benchmark.extra_info["omp_threads"] = effective_n_threads()
    elif side == SKLEARN_1BLAS:
        with threadpool_limits(1, user_api="blas"):
            benchmark.extra_info["blas"] = _blas_threads()
            _time_fit(benchmark, lambda: SkMLPClassifier(**DIGITS_PARAMS), X, y, rounds)
    else:
        benchmark.extra_info["blas"] = _blas_threads()
        _time_fit(benchmark, lambda: SkMLPClassifier(**DIGITS_PARAMS), X, y, rounds)
    speedups.record(DIGITS, side, benchmark)
    speedups.compare(DIGITS, SKLEARN, FASTMLP, target=5)
    speedups.compare(DIGITS, SKLEARN_1BLAS, FASTMLP)


# ------------------------------------------------------- 20000 x 784 ----

N, D, K, HIDDEN = 20000, 784, 10, 256
LARGE_PARAMS = dict(
    hidden_layer_sizes=(HIDDEN,), solver="adam", max_iter=2, tol=0, random_state=1
)


def _large_case(dtype):
    return f"{N}x{D} (256,) adam 2 epochs {dtype}"


@pytest.fixture(scope="module")
def large():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N, D))
    y = rng.integers(0, K, size=N)
    return {"float64": X, "float32": X.astype(np.float32)}, y


@pytest.mark.parametrize("side", [SKLEARN, FASTMLP])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_large_adam(benchmark, speedups, settled, large, dtype, side):
    # about 1.5 s (sklearn) and 0.8 s (fastmlp) per float64 fit on 2 cores
    benchmark.group = _large_case(dtype)
    Xs, y = large
    make = MLPClassifier if side == FASTMLP else SkMLPClassifier
    _time_fit(benchmark, lambda: make(**LARGE_PARAMS), Xs[dtype], y, 3)
    if side == FASTMLP:
        benchmark.extra_info["omp_threads"] = effective_n_threads()
    else:
        benchmark.extra_info["blas"] = _blas_threads()
    case = _large_case(dtype)
    speedups.record(case, side, benchmark)
    speedups.compare(case, SKLEARN, FASTMLP, target=1.5)
