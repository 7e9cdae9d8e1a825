"""fastmlp against scikit-learn over a matrix of problems (issue 5).

    python bench/report.py            # quick subset (~2 min on 2 cores), report.md + speedup.png
    python bench/report.py --full     # the whole matrix (hours on 2 cores)

or directly (the report script runs exactly this, plus --benchmark-json):

    python -m pytest bench/test_bench_matrix.py [--full] [-k 20k]

A case is one problem (fit or predict; MLPClassifier or MLPRegressor; solver;
data; hidden layers; dtype; 1 thread or all) timed twice, sklearn then
fastmlp, each in its own block of rounds and in the same benchmark group.
The quick subset spans digits to 100000 x 784, dense and sparse, both dtypes,
both solvers, fit and predict, 1 and all threads; ``--full`` (or
FASTMLP_BENCH_FULL=1) runs the cartesian product:

    data     digits 1797 x 64 | 20000 x 784 | 100000 x 784 (normal) |
             CSR 20000 x 10000, 1% density
    hidden   (16,) | (256,) | (512, 256)
    dtype    float32 | float64
    task     MLPClassifier (10 classes) | MLPRegressor (1 output)
    op       fit lbfgs | fit adam | predict
    threads  1 | all

Fits run a fixed amount of work so a case takes seconds: L-BFGS with tol=0
and a small max_iter, adam for a few epochs (``DATA`` below).

Recorded in each benchmark's extra_info (and so in the --benchmark-json file):
- the case: n_samples, n_features, n_outputs, hidden, dtype, sparse, solver,
  op, estimator, threads asked for and threads_used;
- evaluations: loss+gradient evaluations of the last timed fit (L-BFGS: the
  optimizer's nfev, read from scipy's result; adam: epochs x minibatches);
  passes: the same work counted in passes over all rows (L-BFGS: nfev; adam:
  epochs; predict: 1 forward pass); per_eval_s and per_pass_s = median / those;
- peak_mib: memory beyond the data, the tracemalloc peak of allocations made
  during one untimed call (the warm-up): every numpy array is counted
  (activations, workspaces, scipy's L-BFGS-B arrays, copies of X), the
  internal buffers of BLAS and OpenMP are not. bench/memory.py measures the
  resident set size in a fresh process instead, for the big L-BFGS fit;
- floor_s: the bare matrix products of one pass of that network over all rows
  (forward + weight gradients + deltas for a fit, forward for predict), with
  preallocated outputs, the best of a few runs, numpy's BLAS limited to the
  case's threads (with all threads, small problems also try BLAS on one
  thread and keep the faster); a sparse first layer uses scipy.sparse
  products. With gflop_per_pass and floor_gflops. For adam the floor is
  still the full-batch products: minibatches cannot beat it;
- torch_s: where torch is importable (never required; FASTMLP_BENCH_TORCH=0
  turns it off), the same MLP's loss+gradient (or forward) over all rows in
  PyTorch on the CPU with the case's thread count, best of a few runs.

Timing: a pause, one warm-up call (traced for memory, and sizing the block),
then ``benchmark.pedantic`` rounds; FASTMLP_BENCH_ROUNDS=N caps the rounds.
Speed-ups are reported, never asserted.
"""

import importlib.util
import itertools
import math
import os
import time
import tracemalloc
import warnings
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pytest
import scipy.optimize
import scipy.sparse as sp
from joblib import cpu_count
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.neural_network import MLPRegressor as SkMLPRegressor
from threadpoolctl import threadpool_info, threadpool_limits

from fastmlp import MLPClassifier, MLPRegressor
from fastmlp._threads import effective_n_threads

pytestmark = pytest.mark.filterwarnings("ignore", category=ConvergenceWarning)

SIDES = ("sklearn", "fastmlp")
_SETTLE_S = 0.3  # as bench/conftest.py's `settled`: spinning workers go to sleep
N_CLASSES = 10
ALPHA = 1e-4  # sklearn's default L2 penalty, used by the torch reference too


# ------------------------------------------------------------ problems ----

@dataclass(frozen=True)
class Data:
    n: int
    d: int
    density: float  # 1.0: dense
    lbfgs_iter: int  # max_iter of L-BFGS fits (tol=0: all of them run)
    adam_epochs: int
    label: str


DATA = {
    "digits": Data(1797, 64, 1.0, 100, 10, "digits 1797x64"),
    "20k": Data(20_000, 784, 1.0, 5, 1, "20000x784"),
    "100k": Data(100_000, 784, 1.0, 2, 1, "100000x784"),
    "sparse": Data(20_000, 10_000, 0.01, 3, 1, "CSR 20000x10000 1%"),
}
HIDDEN = [(16,), (256,), (512, 256)]
DTYPES = ["float32", "float64"]
THREADS = [1, "all"]
ESTIMATORS = ["clf", "reg"]
OPS = [("fit", "lbfgs"), ("fit", "adam"), ("predict", "")]

# rows of the small fit that gives predict its model (untimed)
_PREDICT_FIT_ROWS = 2000


@dataclass(frozen=True)
class Case:
    op: str  # "fit" | "predict"
    est: str  # "clf" | "reg"
    solver: str  # "lbfgs" | "adam" | "" (predict)
    data: str  # key of DATA
    hidden: tuple
    dtype: str
    threads: object  # 1 | "all"

    @property
    def id(self):
        parts = [self.op, self.est] + ([self.solver] if self.solver else []) + [
            self.data, "h" + "x".join(map(str, self.hidden)), self.dtype,
            f"t{self.threads}",
        ]
        return "-".join(parts)

    @property
    def work(self):
        """What a run does: 'lbfgs 5 it', 'adam 1 ep', 'predict'."""
        spec = DATA[self.data]
        if self.op == "predict":
            return "predict"
        if self.solver == "lbfgs":
            return f"lbfgs {spec.lbfgs_iter} it"
        return f"adam {spec.adam_epochs} ep"

    @property
    def group(self):
        threads = "1 thread" if self.threads == 1 else "all threads"
        est = "classifier" if self.est == "clf" else "regressor"
        return (f"{self.work} {est} | {DATA[self.data].label} | "
                f"{self.hidden} {self.dtype} | {threads}")

    @property
    def units(self):
        n_out = N_CLASSES if self.est == "clf" else 1
        return [DATA[self.data].d, *self.hidden, n_out]


def _c(op, est, solver, data, hidden, dtype, threads):
    return Case(op, est, solver, data, tuple(hidden), dtype, threads)


# About 2 minutes on a quiet 2-core machine with sklearn's side included (2.5
# with other jobs running); every axis of the matrix moves at least once.
QUICK = [
    _c("fit", "clf", "lbfgs", "digits", (16,), "float64", "all"),
    _c("fit", "clf", "lbfgs", "digits", (16,), "float64", 1),
    _c("fit", "clf", "adam", "digits", (256,), "float32", "all"),
    _c("fit", "reg", "adam", "digits", (256,), "float64", 1),
    _c("predict", "clf", "", "digits", (16,), "float64", "all"),
    _c("fit", "clf", "lbfgs", "20k", (256,), "float32", "all"),
    _c("fit", "clf", "lbfgs", "20k", (256,), "float32", 1),
    _c("fit", "reg", "lbfgs", "20k", (16,), "float64", "all"),
    _c("fit", "clf", "adam", "20k", (512, 256), "float64", "all"),
    _c("predict", "clf", "", "20k", (512, 256), "float32", "all"),
    _c("fit", "clf", "lbfgs", "100k", (16,), "float32", "all"),
    _c("predict", "reg", "", "100k", (256,), "float64", "all"),
    _c("fit", "clf", "lbfgs", "sparse", (256,), "float64", "all"),
    _c("predict", "clf", "", "sparse", (256,), "float64", "all"),
]


def full_cases():
    """Every combination, grouped by data so each data set is made once."""
    cases = []
    for data, hidden, dtype, est, threads, (op, solver) in itertools.product(
        DATA, HIDDEN, DTYPES, ESTIMATORS, THREADS, OPS
    ):
        cases.append(_c(op, est, solver, data, hidden, dtype, threads))
    return cases


def _adam_unavailable():
    """Why fastmlp's adam cannot run here, or None when it can."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            MLPClassifier(solver="adam", hidden_layer_sizes=(2,), max_iter=1).fit(
                np.zeros((4, 2)), [0, 1, 0, 1]
            )
    except Exception as exc:  # NotImplementedError, ValueError, ...
        return f"fastmlp solver='adam' not available yet ({type(exc).__name__}: {exc})"
    return None


def pytest_generate_tests(metafunc):
    if "case" not in metafunc.fixturenames:
        return
    cases = full_cases() if metafunc.config.getoption("--full") else QUICK
    adam_skip = _adam_unavailable()
    params = []
    for case in cases:
        marks = ()
        if case.solver == "adam" and adam_skip:
            marks = pytest.mark.skip(reason=adam_skip)
        # the id as the value: pytest-benchmark's JSON keeps params readable
        params.append(pytest.param(case.id, id=case.id, marks=marks))
    metafunc.parametrize("case", params)
    metafunc.parametrize("side", SIDES)


# ---------------------------------------------------------------- data ----

_DATA_CACHE = {}


def _cached(key, make):
    if key not in _DATA_CACHE:
        _DATA_CACHE[key] = make()
    return _DATA_CACHE[key]


def _x64(name):
    spec = DATA[name]
    if name == "digits":
        return load_digits(return_X_y=True)[0]
    rng = np.random.default_rng(0)
    if spec.density < 1:
        X = sp.random_array((spec.n, spec.d), density=spec.density, format="csr",
                            dtype=np.float64, rng=rng, data_sampler=rng.standard_normal)
        return sp.csr_matrix(X)
    return rng.standard_normal((spec.n, spec.d))


def _targets(name, est):
    spec = DATA[name]
    if name == "digits":
        labels = load_digits(return_X_y=True)[1]
        return labels if est == "clf" else labels.astype(np.float64)
    rng = np.random.default_rng(1)
    if est == "clf":
        return rng.integers(0, N_CLASSES, size=spec.n)
    X = _cached((name, "float64"), lambda: _x64(name))
    w = rng.standard_normal(spec.d) / math.sqrt(spec.d * spec.density)
    return np.asarray(X @ w).ravel() + 0.1 * rng.standard_normal(spec.n)


def get_data(name, dtype, est):
    X = _cached((name, "float64"), lambda: _x64(name))
    if dtype != "float64":
        X = _cached((name, dtype), lambda: X.astype(dtype))
    y = _cached((name, "y", est), lambda: _targets(name, est))
    return X, y


# ------------------------------------------------------------- threads ----

def _all_threads():
    return cpu_count(only_physical_cores=True)


@contextmanager
def thread_limit(threads):
    """1: BLAS and every OpenMP runtime held to one thread; "all": as found."""
    if threads == "all":
        yield
    else:
        with threadpool_limits(limits=threads):
            yield


def _blas_threads():
    return max((i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"),
               default=None)


# ---------------------------------------------------- the floor, torch ----

def pass_gflop(units, n, nnz, op):
    """Floating-point work of one pass over all rows, in GFLOP: forward
    products, and for a fit the weight gradients and the hidden deltas
    (a sparse first layer counts its nonzeros)."""
    total = 0.0
    for layer, (a, b) in enumerate(zip(units[:-1], units[1:])):
        rows_x_in = nnz if layer == 0 else n * a
        total += 2 * rows_x_in * b  # forward
        if op == "fit":
            total += 2 * rows_x_in * b  # weight gradient
            if layer > 0:
                total += 2 * n * a * b  # delta of the layer below
    return total / 1e9


def _gflop(case, X):
    n, d = X.shape
    return pass_gflop(case.units, n, X.nnz if sp.issparse(X) else n * d, case.op)


def _best_time(fn, reps):
    """Shortest of `reps` timed calls after a warm-up (one timed call when
    the warm-up alone took over a second): the floor is what the hardware
    allows, so the least disturbed run is the one that tells."""
    t0 = time.perf_counter()
    fn()  # warm-up
    if time.perf_counter() - t0 > 1.0:
        reps = 1
    best = math.inf
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def floor_time(X, units, dtype, op, reps):
    """Seconds of the bare matrix products of one pass over all rows (forward,
    and for op="fit" the weight gradients and hidden deltas), outputs
    preallocated (their values do not change BLAS's speed)."""
    dtype = np.dtype(dtype)
    sparse = sp.issparse(X)
    rng = np.random.default_rng(2)
    L = len(units) - 1
    n = X.shape[0]
    W = [(0.05 * rng.standard_normal((a, b))).astype(dtype)
         for a, b in zip(units[:-1], units[1:])]
    A = [X] + [np.empty((n, u), dtype) for u in units[1:]]

    def forward():
        for layer in range(L):
            if layer == 0 and sparse:
                A[1] = X @ W[0]
            else:
                np.matmul(A[layer], W[layer], out=A[layer + 1])

    if op == "predict":
        return _best_time(forward, reps)

    D = [None] + [np.full((n, u), 0.01, dtype) for u in units[1:]]
    G = [np.empty((a, b), dtype) for a, b in zip(units[:-1], units[1:])]
    XT = X.T.tocsr() if sparse else None  # scipy's fastest layout for X.T @ D

    def forward_backward():
        forward()
        for layer in reversed(range(L)):
            if layer == 0 and sparse:
                G[0] = XT @ D[1]
            else:
                np.matmul(A[layer].T, D[layer + 1], out=G[layer])
            if layer > 0:
                np.matmul(D[layer + 1], W[layer].T, out=D[layer])

    return _best_time(forward_backward, reps)


def _torch_wanted():
    if os.getenv("FASTMLP_BENCH_TORCH", "1").strip().lower() in ("0", "false", "no"):
        return False
    return importlib.util.find_spec("torch") is not None


def torch_time(X, y, units, dtype, est, op, threads, reps):
    """Seconds of the same MLP's loss+gradient (op="fit") or forward pass
    (op="predict") over all rows in PyTorch on the CPU:
    ReLU hidden layers, softmax cross-entropy (classifier) or half mean
    squared error (regressor), plus sklearn's L2 term."""
    import torch
    import torch.nn.functional as F

    tdtype = torch.float32 if dtype == "float32" else torch.float64
    old = torch.get_num_threads()
    torch.set_num_threads(_all_threads() if threads == "all" else threads)
    try:
        if sp.issparse(X):
            Xt = torch.sparse_csr_tensor(
                torch.from_numpy(X.indptr.astype(np.int64)),
                torch.from_numpy(X.indices.astype(np.int64)),
                torch.from_numpy(X.data), size=X.shape, dtype=tdtype,
            )
        else:
            Xt = torch.from_numpy(np.ascontiguousarray(X))
        n = X.shape[0]
        gen = torch.Generator().manual_seed(0)
        Ws, bs = [], []
        for a, b in zip(units[:-1], units[1:]):
            bound = math.sqrt(6.0 / (a + b))
            Ws.append(((torch.rand(a, b, generator=gen, dtype=tdtype) * 2 - 1) * bound)
                      .requires_grad_())
            bs.append(torch.zeros(b, dtype=tdtype, requires_grad=True))
        if est == "clf":
            target = torch.from_numpy(np.unique(y, return_inverse=True)[1].astype(np.int64))
        else:
            target = torch.from_numpy(np.asarray(y, dtype=dtype).reshape(-1, 1))

        def forward():
            h = Xt
            for layer, (w, b) in enumerate(zip(Ws, bs)):
                if layer == 0 and Xt.layout != torch.strided:
                    z = torch.sparse.mm(h, w) + b
                else:
                    z = torch.addmm(b, h, w)
                h = torch.relu(z) if layer < len(Ws) - 1 else z
            return h

        def loss_grad():
            out = forward()
            if est == "clf":
                loss = F.cross_entropy(out, target)
            else:
                loss = 0.5 * ((out - target) ** 2).mean()
            loss = loss + ALPHA / (2 * n) * sum((w * w).sum() for w in Ws)
            return torch.autograd.grad(loss, Ws + bs)

        def predict():
            with torch.no_grad():
                out = forward()
                return out.argmax(1) if est == "clf" else out

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # sparse CSR is "beta"
            return _best_time(predict if op == "predict" else loss_grad, reps)
    finally:
        torch.set_num_threads(old)


_REFS = {}

# below this much work per pass the floor with all threads is also taken
# with BLAS on one thread (a few ms at most): on small products thread
# start-up and a busy core cost more than the second thread saves
_SMALL_GFLOP = 2.0


def references(case, X, y, full):
    """Floor and torch times of the case's network and op, per pass over all
    rows; computed once for both sides, under the case's thread limit.

    With all threads the floor is the better of BLAS on all threads and
    (for small problems) BLAS on one thread: what the hardware allows."""
    key = (case.data, case.hidden, case.dtype, case.est, case.op, case.threads)
    if key in _REFS:
        return _REFS[key]
    reps = 3 if full else 2
    ref = {"floor_method": "numpy/BLAS products"
                           + (", scipy.sparse first layer" if sp.issparse(X) else "")}
    floor = floor_time(X, case.units, case.dtype, case.op, reps)
    if case.threads == "all" and _gflop(case, X) < _SMALL_GFLOP:
        with threadpool_limits(limits=1, user_api="blas"):
            floor1 = floor_time(X, case.units, case.dtype, case.op, reps)
        ref["floor_all_blas_s"], ref["floor_1blas_s"] = floor, floor1
        if floor1 < floor:
            floor = floor1
            ref["floor_method"] += ", BLAS on 1 thread (faster than all here)"
    ref["floor_s"] = floor
    if _torch_wanted():
        try:
            ref["torch_s"] = torch_time(X, y, case.units, case.dtype, case.est, case.op,
                                        case.threads, reps)
        except Exception as exc:  # an old torch without sparse CSR, say
            ref["torch_error"] = f"{type(exc).__name__}: {exc}"
    _REFS[key] = ref
    return ref


# ------------------------------------------------------------- timing ----

def _params(case):
    spec = DATA[case.data]
    params = dict(hidden_layer_sizes=case.hidden, random_state=1, tol=0)
    if case.op == "predict":
        params.update(solver="lbfgs", max_iter=2)
    elif case.solver == "lbfgs":
        params.update(solver="lbfgs", max_iter=spec.lbfgs_iter)
    else:
        # tol=0 and no early stop: every epoch runs
        params.update(solver="adam", max_iter=spec.adam_epochs,
                      n_iter_no_change=spec.adam_epochs + 1)
    return params


def _estimator(case, side):
    if side == "fastmlp":
        cls = MLPClassifier if case.est == "clf" else MLPRegressor
    else:
        cls = SkMLPClassifier if case.est == "clf" else SkMLPRegressor
    return cls(**_params(case))


def traced_call(fn):
    """(seconds, peak MiB allocated during the call and not freed before the
    peak) of one call, by tracemalloc."""
    tracemalloc.start()
    try:
        t0 = time.perf_counter()
        fn()
        seconds = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return seconds, peak / 2**20


def rounds_for(seconds, full):
    """(rounds, iterations) filling a few seconds per side."""
    budget, lo, hi = (8.0, 3, 30) if full else (1.5, 2, 15)
    if seconds > 10:  # the big fits of the full matrix: two rounds are enough
        lo = 2
    iterations = 1
    if seconds < 5e-3:  # tiny calls: several per round
        iterations = min(100, math.ceil(5e-3 / max(seconds, 1e-6)))
    rounds = int(budget / max(seconds * iterations, 1e-9))
    rounds = max(lo, min(hi, rounds))
    cap = os.getenv("FASTMLP_BENCH_ROUNDS")
    if cap:
        rounds = max(1, min(rounds, int(cap)))
    return rounds, iterations


def _case_by_id(case_id):
    if not _CASES:
        _CASES.update((c.id, c) for c in QUICK + full_cases())
    return _CASES[case_id]


_CASES = {}


def test_matrix(benchmark, speedups, monkeypatch, request, case, side):
    full = request.config.getoption("--full")
    case = _case_by_id(case)
    spec = DATA[case.data]
    X, y = get_data(case.data, case.dtype, case.est)
    benchmark.group = case.group
    info = benchmark.extra_info
    info.update(
        side=side, op=case.op, estimator=case.est, solver=case.solver or None,
        data=case.data, n_samples=spec.n, n_features=spec.d, n_outputs=case.units[-1],
        hidden=list(case.hidden), dtype=case.dtype,
        sparse=spec.density if spec.density < 1 else False,
        threads=case.threads, work=case.work,
    )

    # the evaluations of the L-BFGS fits, read from scipy's result: both
    # libraries call scipy.optimize.minimize (one Python call per fit)
    nfev = []
    minimize = scipy.optimize.minimize

    def counting_minimize(*args, **kwargs):
        result = minimize(*args, **kwargs)
        nfev.append(int(result.nfev))
        return result

    monkeypatch.setattr(scipy.optimize, "minimize", counting_minimize)

    last = {}
    with warnings.catch_warnings(), thread_limit(case.threads):
        warnings.simplefilter("ignore", ConvergenceWarning)
        refs = references(case, X, y, full)
        info["threads_used"] = (effective_n_threads() if side == "fastmlp"
                                else _blas_threads())
        if case.op == "fit":
            def run():
                last["model"] = _estimator(case, side).fit(X, y)
        else:
            rows = min(spec.n, _PREDICT_FIT_ROWS)
            model = _estimator(case, side).fit(X[:rows], y[:rows])

            def run():
                model.predict(X)

        time.sleep(_SETTLE_S)
        warm_s, peak_mib = traced_call(run)  # warm-up, traced for memory
        rounds, iterations = rounds_for(warm_s, full)
        benchmark.pedantic(run, rounds=rounds, iterations=iterations, warmup_rounds=0)

    if case.op == "fit":
        model = last["model"]
        info.update(n_iter=int(model.n_iter_), loss=float(model.loss_))
        if case.solver == "lbfgs":
            evaluations = passes = nfev[-1]
        else:
            batches = math.ceil(spec.n / min(200, spec.n))  # sklearn's batch_size="auto"
            evaluations, passes = model.n_iter_ * batches, model.n_iter_
    else:
        evaluations = passes = 1
    gflop = _gflop(case, X)
    floor_s = refs["floor_s"]
    info.update(
        evaluations=int(evaluations), passes=int(passes),
        peak_mib=round(peak_mib, 1), memory_method="tracemalloc",
        gflop_per_pass=round(gflop, 4), floor_gflops=round(gflop / floor_s, 2), **refs,
    )
    if benchmark.stats:  # None under --benchmark-disable
        median = benchmark.stats["median"]
        info.update(per_eval_s=median / evaluations, per_pass_s=median / passes,
                    per_pass_over_floor=round(median / passes / floor_s, 2))
    speedups.record(case.group, side, benchmark)
    speedups.compare(case.group, "sklearn", "fastmlp")
