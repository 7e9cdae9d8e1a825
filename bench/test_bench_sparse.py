"""CSR input (issue 14): fits and predicts against sklearn, each side in its
own block of rounds, ratios of medians in the session's final table.

    python -m pytest bench/test_bench_sparse.py --benchmark-only

Cases (targets reported, never asserted):
- CSR 20000 x 10000, 1% density, 10 classes, hidden (256,): L-BFGS 3
  iterations (tol=0), float64 with all threads (>= 2.5x) and with one thread
  against sklearn with BLAS on one thread (>= 1.3x); float32 (>= 2x);
  adam 2 epochs (default minibatches, >= 2x); predict_proba (>= 2x);
- CSR 100000 x 50000, 0.1% density, hidden (128,): L-BFGS 2 iterations,
  float64 (>= 2x).
Each case records the L-BFGS evaluations of its last fit, so a per-evaluation
time is median / nfev. FASTMLP_BENCH_ROUNDS=N caps the rounds.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from _common import FASTMLP, SKLEARN, rounds
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from threadpoolctl import threadpool_limits

from fastmlp import MLPClassifier

DATA = {
    "20000x10000 1%": (20_000, 10_000, 0.01),
    "100000x50000 0.1%": (100_000, 50_000, 0.001),
}
_CACHE = {}


def _data(name, dtype):
    key = (name, dtype)
    if key not in _CACHE:
        n, d, density = DATA[name]
        rng = np.random.default_rng(0)
        X = sp.random_array((n, d), density=density, format="csr", rng=rng, dtype=np.float64)
        y = rng.integers(0, 10, size=n)
        _CACHE[key] = (sp.csr_matrix(X.astype(dtype)), y)
    return _CACHE[key]


# (data, hidden, dtype, op, threads: None = all, target)
CASES = [
    ("20000x10000 1%", (256,), np.float64, "lbfgs 3", None, 2.5),
    ("20000x10000 1%", (256,), np.float64, "lbfgs 3", 1, 1.3),
    ("20000x10000 1%", (256,), np.float32, "lbfgs 3", None, 2.0),
    ("20000x10000 1%", (256,), np.float64, "adam 2", None, 2.0),
    ("20000x10000 1%", (256,), np.float64, "predict_proba", None, 2.0),
    ("100000x50000 0.1%", (128,), np.float64, "lbfgs 2", None, 2.0),
]


def _params(op):
    solver, _, n = op.partition(" ")
    if solver == "lbfgs":
        return dict(solver="lbfgs", max_iter=int(n), tol=0)
    if solver == "adam":
        return dict(solver="adam", max_iter=int(n), tol=0, n_iter_no_change=1000)
    return dict(solver="lbfgs", max_iter=3, tol=0)  # the model predict_proba uses


def _case_id(case):
    data, hidden, dtype, op, threads, _ = case
    return (f"{data.split()[0]}-{hidden[0]}-{np.dtype(dtype).name}-{op.replace(' ', '')}"
            f"-{'all' if threads is None else threads}")


@pytest.mark.parametrize("side", [SKLEARN, FASTMLP])
@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_sparse(benchmark, speedups, settled, case, side):
    data, hidden, dtype, op, threads, target = case
    X, y = _data(data, dtype)
    cls = SkMLPClassifier if side == SKLEARN else MLPClassifier

    def make():
        return cls(hidden_layer_sizes=hidden, random_state=0, **_params(op))

    limits = threadpool_limits(threads) if threads else threadpool_limits(None)
    with limits, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if op == "predict_proba":
            model = make().fit(X, y)
            benchmark.pedantic(model.predict_proba, args=(X,), rounds=rounds(7),
                               iterations=1, warmup_rounds=1)
        else:
            fitted = []
            benchmark.pedantic(lambda: fitted.append(make().fit(X, y)), rounds=rounds(3),
                               iterations=1, warmup_rounds=1)
            model = fitted[-1]
            benchmark.extra_info.update(n_iter=int(model.n_iter_), loss=float(model.loss_))
    threads_label = "all threads" if threads is None else f"{threads} thread"
    case_name = f"{op} | CSR {data} ({hidden[0]},) {np.dtype(dtype).name} | {threads_label}"
    benchmark.group = case_name
    speedups.record(case_name, side, benchmark)
    speedups.compare(case_name, SKLEARN, FASTMLP, target=target)
