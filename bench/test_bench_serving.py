"""Serving latency against ONNX Runtime (issue 22): the same fitted model
served by fastmlp, by ONNX Runtime (skl2onnx export, ``zipmap=False``,
default session options) and by sklearn, each library in its own block of
calls.

    python -m pytest bench/test_bench_serving.py --benchmark-only [--full]

Models: digits (1797 x 64, pixels / 16) with hidden (64,), and 784-256-10
(normal 784-feature data, 10 classes), fitted once by fastmlp (adam, 20
iterations) in float32 and in float64 (float32 X keeps float32 weights with
adam, as in sklearn); sklearn serves the same weights (the model.to_sklearn() copy),
ONNX Runtime their export in the model's dtype. Rows: the first 1, 10,
100, 1797 and 20000 (digits repeated to 20000). A call is one round (every
call timed alone), so the median and the 99th percentile (extra_info p99_us)
are those of single calls.

Each case runs idle and beside one busy process (``python -c "while True:
pass"``, bench/_common.Busy, started before each library's block and killed
after it; issue 22 asks for the same figures under that load).

Quick subset: predict_proba at every size in both dtypes; ``--full`` adds
the classifier's predict and MLPRegressor.predict. The session ends with
the ratio table of bench/conftest.py: ONNX Runtime / fastmlp (target
>= 1.0x) and sklearn / fastmlp. Targets are reported, never asserted.
FASTMLP_BENCH_ROUNDS=N caps the rounds.
"""

import os
import warnings

import numpy as np
import pytest
from _common import FASTMLP, SKLEARN, Busy, rounds
from sklearn.datasets import load_digits

from fastmlp import MLPClassifier, MLPRegressor

ONNXRUNTIME = "onnxruntime"
SIZES = (1, 10, 100, 1797, 20000)
# calls (rounds) per block: enough single calls for a 99th percentile
CALLS = {1: 2000, 10: 2000, 100: 1000, 1797: 200, 20000: 20}


def _data(name, dtype):
    if name == "digits":
        X, y = load_digits(return_X_y=True)
        X = X / 16.0
    else:
        rng = np.random.default_rng(0)
        X = rng.normal(size=(2000, 784))
        y = rng.integers(0, 10, size=2000)
    return X.astype(dtype), y


def _rows(name, dtype, n):
    X, _ = _data(name, dtype)
    if n > X.shape[0] and name != "digits":
        X = np.random.default_rng(1).normal(size=(n, X.shape[1])).astype(dtype)
    return np.ascontiguousarray(np.resize(X, (n, X.shape[1])))


_MODELS = {}


def _models(name, kind, dtype):
    """{library: the predict callables' owner} for one fitted model."""
    key = (name, kind, dtype)
    if key not in _MODELS:
        import onnxruntime as ort
        from skl2onnx import to_onnx

        import fastmlp.onnx  # noqa: F401 (registers the converters)

        X, y = _data(name, dtype)
        hidden = (64,) if name == "digits" else (256,)
        make = MLPClassifier if kind == "clf" else MLPRegressor
        target = y if kind == "clf" else X[:, 0] + X[:, 1]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = make(hidden_layer_sizes=hidden, solver="adam", max_iter=20,
                         random_state=0).fit(X, target)
        assert model.coefs_[0].dtype == dtype
        options = {id(model): {"zipmap": False}} if kind == "clf" else None
        onx = to_onnx(model, X[:1], options=options, target_opset=17)
        session = ort.InferenceSession(onx.SerializeToString(),
                                       providers=["CPUExecutionProvider"])
        _MODELS[key] = {FASTMLP: model, SKLEARN: model.to_sklearn(), ONNXRUNTIME: session}
    return _MODELS[key]


def _call(models, library, method):
    if library != ONNXRUNTIME:
        return getattr(models[library], method)
    session = models[library]
    name = session.get_inputs()[0].name
    outputs = [o.name for o in session.get_outputs()]
    # classifier: [label, probabilities]; regressor: [variable]
    want = [outputs[1]] if method == "predict_proba" else [outputs[0]]
    return lambda X: session.run(want, {name: X})[0]


METHODS = ("predict_proba", "predict", "regressor predict")


def _cases(full):
    return [
        (name, dtype, method, n)
        for method in (METHODS if full else METHODS[:1])
        for name in ("digits", "784-256-10")
        for dtype in ("float32", "float64")
        for n in SIZES
    ]


def pytest_generate_tests(metafunc):
    if "case" in metafunc.fixturenames:
        cases = _cases(metafunc.config.getoption("--full"))
        metafunc.parametrize(
            "case", cases,
            ids=[f"{m.replace(' ', '_')}-{d}-{t}-{n}" for d, t, m, n in cases])


@pytest.mark.parametrize("library", [SKLEARN, ONNXRUNTIME, FASTMLP])
@pytest.mark.parametrize("busy", [0, 1])
def test_serving_latency(benchmark, speedups, settled, case, busy, library):
    name, dtype, method, n = case
    kind = "reg" if method.startswith("regressor") else "clf"
    models = _models(name, kind, np.dtype(dtype))
    X = _rows(name, dtype, n)
    call = _call(models, library, method.split()[-1])
    label = f"{method} | {name} {dtype} | {n} rows | {busy} busy"
    benchmark.group = label
    for _ in range(min(20, CALLS[n])):
        call(X)
    load = Busy(busy)
    try:
        # one call a round: the rounds' times are single calls' latencies
        benchmark.pedantic(call, args=(X,), rounds=rounds(CALLS[n]), iterations=1,
                           warmup_rounds=5)
    finally:
        load.stop()
    if benchmark.stats:  # None under --benchmark-disable
        times = np.asarray(benchmark.stats.stats.data)
        p99 = float(np.percentile(times, 99))
        benchmark.extra_info.update(
            rows=n, busy_processes=busy, load_average=os.getloadavg()[0],
            median_us=float(np.median(times) * 1e6), p99_us=p99 * 1e6,
        )
        # the tails go into the session's ratio table beside the medians
        speedups.record_value(label, library + " p99", p99)
    speedups.record(label, library, benchmark)
    speedups.compare(label, ONNXRUNTIME, FASTMLP, target=1.0)
    speedups.compare(label, ONNXRUNTIME + " p99", FASTMLP + " p99", target=1.0)
    speedups.compare(label, SKLEARN, FASTMLP)
