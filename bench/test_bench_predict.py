"""Predict latency (issue 11): rows per call against time per call, fastmlp
and sklearn in the same run, each side in its own block of calls.

    python -m pytest bench/test_bench_predict.py --benchmark-only

Models are fitted once per module (L-BFGS, 30 iterations) by each library
from the same data; then predict, predict_proba (MLPClassifier) or predict
(MLPRegressor) is called on the first 1, 10, 100 rows and on the whole set;
the times reported are per call (each round makes CALLS_PER_ROUND calls).
Cases: digits (1797 x 64) with hidden (16,) and (64,), targets >= 2x at 1,
10 and 100 rows and >= 1.5x on the whole set; 2000 x 784 normal data with
hidden (256,), target >= 2x at one row; at 10 and 100 rows, where the
first product is most of the time on both sides, fastmlp's predict_proba
against that product alone (numpy's matmul of the rows and the first
weight matrix into a preallocated output, its own block of calls): target
within 10% (ratio >= 0.9). The session ends with the ratio table of bench/conftest.py; targets are
reported, never asserted. FASTMLP_BENCH_ROUNDS=N caps the rounds.
"""

import warnings

import numpy as np
import pytest
from _common import FASTMLP, SKLEARN, rounds
from sklearn.datasets import load_digits
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.neural_network import MLPRegressor as SkMLPRegressor

from fastmlp import MLPClassifier, MLPRegressor

CALLS_PER_ROUND = {1: 200, 10: 200, 100: 100}  # whole sets: 10


def _data(name):
    if name == "digits":
        X, y = load_digits(return_X_y=True)
        return X / 16.0, y
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 784))
    return X, rng.integers(0, 10, size=2000)


_MODELS = {}


def _model(data, hidden, kind, side):
    key = (data, hidden, kind, side)
    if key not in _MODELS:
        X, y = _data(data)
        make = {("clf", FASTMLP): MLPClassifier, ("clf", SKLEARN): SkMLPClassifier,
                ("reg", FASTMLP): MLPRegressor, ("reg", SKLEARN): SkMLPRegressor}[kind, side]
        target = y if kind == "clf" else X[:, 0] + X[:, 1]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _MODELS[key] = make(hidden_layer_sizes=hidden, solver="lbfgs", max_iter=30,
                                random_state=0).fit(X, target)
    return _MODELS[key]


CASES = [
    (data, hidden, method, n)
    for data, hiddens in (("digits", [(16,), (64,)]), ("2000x784", [(256,)]))
    for hidden in hiddens
    for method in ("predict", "predict_proba", "regressor predict")
    for n in (1, 10, 100, "all")
]


def _target(data, n):
    if data == "digits":
        return 1.5 if n == "all" else 2.0
    return 2.0 if n == 1 else None


@pytest.mark.parametrize("side", [SKLEARN, FASTMLP])
@pytest.mark.parametrize("data, hidden, method, n", CASES,
                         ids=[f"{d}-{h[0]}-{m.replace(' ', '_')}-{n}" for d, h, m, n in CASES])
def test_predict_latency(benchmark, speedups, settled, data, hidden, method, n, side):
    kind = "reg" if method.startswith("regressor") else "clf"
    model = _model(data, hidden, kind, side)
    X, _ = _data(data)
    X = np.ascontiguousarray(X if n == "all" else X[:n])
    call = getattr(model, method.split()[-1])
    calls = CALLS_PER_ROUND.get(n, 10)

    case = f"{method} | {data} ({hidden[0]},) | {X.shape[0]} rows"
    benchmark.group = case
    # `calls` calls a round: pytest-benchmark reports the time of one call
    benchmark.pedantic(call, args=(X,), rounds=rounds(15), iterations=calls, warmup_rounds=2)
    benchmark.extra_info.update(rows=X.shape[0], calls_per_round=calls)
    speedups.record(case, side, benchmark)
    speedups.compare(case, SKLEARN, FASTMLP, target=_target(data, n))


FIRST_PRODUCT = "first product (BLAS)"


@pytest.mark.parametrize("n", [10, 100])
def test_first_product_floor(benchmark, speedups, settled, n):
    """The BLAS time of the first layer's product alone, for the 784-feature
    model's predict_proba at 10 and 100 rows."""
    model = _model("2000x784", (256,), "clf", FASTMLP)
    X, _ = _data("2000x784")
    X = np.ascontiguousarray(X[:n])
    W = model.coefs_[0]
    out = np.empty((n, W.shape[1]))
    calls = CALLS_PER_ROUND[n]

    case = f"predict_proba | 2000x784 (256,) | {n} rows"
    benchmark.group = case
    benchmark.pedantic(np.matmul, args=(X, W), kwargs={"out": out}, rounds=rounds(15),
                       iterations=calls, warmup_rounds=2)
    speedups.record(case, FIRST_PRODUCT, benchmark)
    speedups.compare(case, FIRST_PRODUCT, FASTMLP, target=0.9)
