"""Fast on a busy machine too (issue 19): each case idle and beside 1 and 2
busy processes (``python -c "while True: pass"``, started before a timed
block and killed after it), on three sides, each in its own block:

- fastmlp on its default threads;
- fastmlp held to one thread (``threadpool_limits(1, "openmp")``), its floor;
- sklearn with its BLAS held to one thread (its best on a busy machine).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \\
        python -m pytest bench/test_bench_contention.py --benchmark-only

Targets (reported, never asserted): under load, fastmlp's median at most 1.2x
its one-thread median (ratio one thread / default >= 0.83) and below
sklearn's (ratio >= 1); a predict's 99th percentile at most 2x its
one-thread one (``extra_info["p99_s"]``; in the ratio table at the end as
"fastmlp 1 thread p99 / fastmlp p99", target >= 0.5).

The quick subset (default, a few minutes on 2 cores): predict_proba of 10
rows through 784-256-10 (float64, float32 rows, strided rows) and through
digits (64,); fits: digits (16,) lbfgs 100 iterations and 4000 x 784 (256,)
lbfgs 10 iterations. ``--full`` adds every case of the issue: digits (64,)
predict at 1 and 1797 rows, 784-256-10 at 1 and 100 rows, digits (64,) adam
20 epochs and CSR 20000 x 10000 1% lbfgs 3 iterations.
FASTMLP_BENCH_ROUNDS=N caps the rounds.
"""

import os
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from _common import Busy, blas_threads, rounds
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from threadpoolctl import threadpool_limits

from fastmlp import MLPClassifier
from fastmlp._threads import effective_n_threads

pytestmark = pytest.mark.filterwarnings("ignore", category=ConvergenceWarning)

FASTMLP = "fastmlp"
FASTMLP_1 = "fastmlp 1 thread"
SKLEARN_1BLAS = "sklearn, BLAS 1 thread"
SIDES = [FASTMLP, FASTMLP_1, SKLEARN_1BLAS]
LOADS = [0, 1, 2]


def pytest_generate_tests(metafunc):
    """The quick subset of cases, or every case with --full."""
    full = metafunc.config.getoption("--full")
    if "predict_case" in metafunc.fixturenames:
        metafunc.parametrize("predict_case", PREDICT_FULL if full else PREDICT_QUICK,
                             ids=lambda c: f"{c[0]}-{c[1]}rows-{c[2]}")
    if "fit_case" in metafunc.fixturenames:
        metafunc.parametrize("fit_case", FIT_FULL if full else FIT_QUICK)


# ------------------------------------------------------------- models ----

def _digits():
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


def _wide():
    rng = np.random.default_rng(0)
    return rng.normal(size=(2000, 784)), rng.integers(0, 10, 2000)


_MODELS = {}


def _model(name, side):
    """Fitted once per session and library (outside any timed block)."""
    lib = "sklearn" if side == SKLEARN_1BLAS else "fastmlp"
    if (name, lib) not in _MODELS:
        make = SkMLPClassifier if lib == "sklearn" else MLPClassifier
        X, y = _digits() if name == "digits (64,)" else _wide()
        hidden = (64,) if name == "digits (64,)" else (256,)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _MODELS[name, lib] = make(hidden_layer_sizes=hidden, solver="lbfgs", max_iter=30,
                                      random_state=0).fit(X, y)
    return _MODELS[name, lib]


def _rows(name, n, kind):
    X = (_digits() if name == "digits (64,)" else _wide())[0]
    if n > X.shape[0]:
        X = np.vstack([X] * -(-n // X.shape[0]))
    X = np.ascontiguousarray(X[:n])
    if kind == "float32":
        return X.astype(np.float32)
    if kind == "strided":
        return np.hstack([X, X])[:, ::2]
    return X


# ------------------------------------------------------------ predict ----

PREDICT_QUICK = [("784-256-10", 10, kind) for kind in ("float64", "float32", "strided")] + [
    ("digits (64,)", 10, "float64"),
]
PREDICT_FULL = PREDICT_QUICK + [
    ("digits (64,)", 1, "float64"), ("digits (64,)", 1797, "float64"),
] + [("784-256-10", n, kind) for n in (1, 100) for kind in ("float64", "float32", "strided")]


def _calls(n_rows):
    # a 99th percentile is the 1% slowest calls: 2000 calls give it 20 of
    # them (with 400, four unlucky calls set it)
    return 100 if n_rows >= 1000 else 2000


def _side_limits(side):
    if side == FASTMLP_1:
        return threadpool_limits(1, user_api="openmp")
    if side == SKLEARN_1BLAS:
        return threadpool_limits(1, user_api="blas")
    return threadpool_limits(None)


def _p99(benchmark):
    data = benchmark.stats.stats.data if benchmark.stats else []
    return float(np.percentile(data, 99)) if len(data) else None


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("busy", LOADS)
def test_predict_proba(benchmark, speedups, settled, predict_case, busy, side):
    name, n, kind = predict_case
    model = _model(name, side)
    X = _rows(name, n, kind)
    label = f"predict_proba {name} {n} rows {kind}, {busy} busy"
    benchmark.group = label
    with _side_limits(side):
        for _ in range(20):
            model.predict_proba(X)
        load = Busy(busy)
        try:
            # one call per round: the rounds are the latency distribution
            benchmark.pedantic(model.predict_proba, args=(X,), rounds=rounds(_calls(n)),
                               iterations=1, warmup_rounds=5)
        finally:
            load.stop()
    _book(benchmark, speedups, label, side, busy)
    p99 = _p99(benchmark)
    benchmark.extra_info["p99_s"] = p99
    if p99 is not None:
        # the tails go into the session's ratio table beside the medians
        speedups.record_value(label, side + " p99", p99)
        speedups.compare(label, FASTMLP_1 + " p99", FASTMLP + " p99",
                         target=0.5 if busy else None)


# --------------------------------------------------------------- fits ----

def _fit_case(name):
    """(X, y, estimator parameters) of a fit case."""
    rng = np.random.default_rng(0)
    if name == "digits (16,) lbfgs 100 it":
        X, y = _digits()
        return X, y, dict(hidden_layer_sizes=(16,), solver="lbfgs", max_iter=100, tol=0)
    if name == "digits (64,) adam 20 epochs":
        X, y = _digits()
        return X, y, dict(hidden_layer_sizes=(64,), solver="adam", max_iter=20, tol=0)
    if name == "4000x784 (256,) lbfgs 10 it":
        X, y = rng.normal(size=(4000, 784)), rng.integers(0, 10, 4000)
        return X, y, dict(hidden_layer_sizes=(256,), solver="lbfgs", max_iter=10, tol=0)
    X = sp.random(20000, 10000, density=0.01, format="csr", random_state=0)
    y = rng.integers(0, 10, 20000)
    return X, y, dict(hidden_layer_sizes=(256,), solver="lbfgs", max_iter=3, tol=0)


FIT_QUICK = ["digits (16,) lbfgs 100 it", "4000x784 (256,) lbfgs 10 it"]
FIT_FULL = FIT_QUICK + ["digits (64,) adam 20 epochs", "CSR 20000x10000 1% lbfgs 3 it"]
# seconds per fit idle on 2 cores (sklearn's): few rounds for the long ones
_FIT_ROUNDS = {"digits (16,) lbfgs 100 it": 15, "4000x784 (256,) lbfgs 10 it": 3,
               "digits (64,) adam 20 epochs": 15, "CSR 20000x10000 1% lbfgs 3 it": 2}
# beside busy processes one fit's time swings 3x with where the scheduler puts
# the threads; blocks of a few seconds keep the median from following it
_BUSY_ROUNDS = 4


@pytest.fixture(scope="module")
def fit_data():
    return {}


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("busy", LOADS)
def test_fit(benchmark, speedups, settled, fit_data, fit_case, busy, side):
    case = fit_case
    if case not in fit_data:
        fit_data[case] = _fit_case(case)
    X, y, params = fit_data[case]
    make = SkMLPClassifier if side == SKLEARN_1BLAS else MLPClassifier
    label = f"{case}, {busy} busy"
    benchmark.group = label
    models = []

    def fit():
        models.append(make(random_state=0, **params).fit(X, y))

    with _side_limits(side), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        load = Busy(busy)
        try:
            n_rounds = _FIT_ROUNDS[case] * (_BUSY_ROUNDS if busy else 1)
            benchmark.pedantic(fit, rounds=rounds(n_rounds), iterations=1,
                               warmup_rounds=1)
        finally:
            load.stop()
    benchmark.extra_info.update(n_iter=int(models[-1].n_iter_), loss=float(models[-1].loss_))
    _book(benchmark, speedups, label, side, busy)


def _book(benchmark, speedups, label, side, busy):
    benchmark.extra_info.update(
        busy_processes=busy, load_average=os.getloadavg()[0], cores=os.cpu_count(),
        omp_threads=effective_n_threads(), blas=blas_threads(),
    )
    speedups.record(label, side, benchmark)
    # one thread / default: >= 1/1.2 under load; sklearn / default: >= 1
    speedups.compare(label, FASTMLP_1, FASTMLP, target=1 / 1.2 if busy else None)
    speedups.compare(label, SKLEARN_1BLAS, FASTMLP, target=1.0 if busy else None)
