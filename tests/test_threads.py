"""Python threads: fits and predictions running at once give the same results
as one at a time.

Each fit or predict runs its own OpenMP team (the problems are sized so the
kernel really splits rows over threads) and holds BLAS to one thread; several
Python threads doing so at once must neither share buffers nor disturb each
other's numbers, and must leave the BLAS thread limit as they found it.
"""

import os
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_array_equal
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_info

import fastmlp

N, N_FEATURES = 300, 10
_rng = np.random.RandomState(0)
X = _rng.randn(N, N_FEATURES)
X[_rng.rand(N, N_FEATURES) < 0.3] = 0
SW = _rng.uniform(0.2, 2.0, N)
Y_MULTICLASS = _rng.randint(0, 4, N)
Y_BINARY = (X[:, 0] + 0.5 * _rng.randn(N) > 0).astype(int)
Y_MULTILABEL = (_rng.rand(N, 3) < 0.4).astype(int)
Y_REG = X[:, 0] - 2 * X[:, 1] ** 2 + 0.1 * _rng.randn(N)
Y_POISSON = _rng.poisson(np.exp(0.3 * X[:, 0])).astype(float)


def _jobs():
    """(name, estimator factory, fit args, fit kwargs): every task, both
    dtypes, dense and sparse, with and without weights. Sizes keep the
    kernel's parallel path on (rows x parameters >= _threads.MIN_PARALLEL_WORK)."""
    C, R = fastmlp.MLPClassifier, fastmlp.MLPRegressor
    kw = dict(solver="lbfgs", max_iter=15, random_state=0, hidden_layer_sizes=(24,))
    return [
        ("multiclass relu", lambda: C(**kw), (X, Y_MULTICLASS), {}),
        ("binary logistic", lambda: C(activation="logistic", **kw), (X, Y_BINARY), {}),
        ("multilabel tanh csr", lambda: C(activation="tanh", **kw),
         (sp.csr_matrix(X), Y_MULTILABEL), {}),
        ("regression weighted", lambda: R(**kw), (X, Y_REG), dict(sample_weight=SW)),
        ("poisson F-ordered", lambda: R(loss="poisson", **kw),
         (np.asfortranarray(X), Y_POISSON), {}),
        ("float32 two layers", lambda: C(**{**kw, "hidden_layer_sizes": (16, 8)}),
         (X.astype(np.float32), Y_MULTICLASS), {}),
        # beyond sklearn (issue 24)
        ("multiclass gelu", lambda: C(activation="gelu", **kw), (X, Y_MULTICLASS), {}),
        ("float32 silu softplus csr",
         lambda: C(**{**kw, "activation": ["silu", "softplus"], "hidden_layer_sizes": (16, 8)}),
         (sp.csr_matrix(X.astype(np.float32)), Y_MULTICLASS), {}),
        ("leaky_relu elu weighted",
         lambda: C(**{**kw, "activation": ["leaky_relu", "elu"], "hidden_layer_sizes": (16, 8)}),
         (X, Y_BINARY), dict(sample_weight=SW)),
        ("huber", lambda: R(loss="huber", huber_delta=0.5, **kw), (X, Y_REG), {}),
        ("quantile csr weighted", lambda: R(loss="quantile", quantile=0.2, **kw),
         (sp.csr_matrix(X), Y_REG), dict(sample_weight=SW)),
        ("absolute_error float32", lambda: R(loss="absolute_error", **kw),
         (X.astype(np.float32), Y_REG), {}),
    ]


JOBS = _jobs()


def _fit(job):
    name, make, args, kwargs = job
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = make().fit(*args, **kwargs)
    return est


def _state(est):
    return (
        [w.copy() for w in est.coefs_ + est.intercepts_],
        est.loss_,
        est.n_iter_,
        list(est.loss_curve_),
    )


def _assert_same_state(got, want, name):
    weights, loss, n_iter, curve = got
    assert n_iter == want[2], name
    assert loss == want[1] or (np.isnan(loss) and np.isnan(want[1])), name
    assert curve == want[3], name
    assert len(weights) == len(want[0])
    for a, b in zip(weights, want[0]):
        assert a.dtype == b.dtype
        assert_array_equal(a, b, err_msg=name)


@pytest.fixture(scope="module")
def sequential():
    """Every job fitted alone, one after the other."""
    return {job[0]: _state(_fit(job)) for job in JOBS}


def _blas_threads():
    return sorted(
        (i["filepath"], i["num_threads"]) for i in threadpool_info() if i["user_api"] == "blas"
    )


def test_concurrent_fits_with_executor(sequential):
    """Every job submitted twice to a pool as wide as the job list: each fit
    equals its sequential twin, bit for bit."""
    jobs = JOBS * 2
    with ThreadPoolExecutor(max_workers=len(JOBS)) as pool:
        states = list(pool.map(lambda job: _state(_fit(job)), jobs))
    for job, state in zip(jobs, states):
        _assert_same_state(state, sequential[job[0]], job[0])


def test_concurrent_fits_started_together(sequential):
    """Raw threads released by a barrier so their fits really overlap."""
    barrier = threading.Barrier(len(JOBS))
    results, errors = {}, []

    def work(job):
        try:
            barrier.wait()
            results[job[0]] = _state(_fit(job))
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=work, args=(job,)) for job in JOBS]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for name, state in results.items():
        _assert_same_state(state, sequential[name], name)
    assert len(results) == len(JOBS)


def test_same_estimator_class_fitted_from_threads_on_other_data(sequential):
    """Many fits of one configuration on different row subsets at once (the
    same code path everywhere, the most sharing there could be)."""
    subsets = [np.arange(i, N, 4) for i in range(4)] * 2
    make = lambda: fastmlp.MLPClassifier(
        hidden_layer_sizes=(64,), solver="lbfgs", max_iter=10, random_state=1)

    def fit(rows):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return _state(make().fit(X[rows], Y_MULTICLASS[rows]))

    alone = [fit(rows) for rows in subsets]
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(fit, subsets))
    for i, (a, b) in enumerate(zip(together, alone)):
        _assert_same_state(a, b, f"subset {i}")


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_shared_model_predicts_identically_from_threads(kind):
    """One fitted model, many threads predicting at once on overlapping
    inputs (dense, F-ordered, CSR, slices): bitwise equal to one at a time."""
    rng = np.random.RandomState(3)
    Xbig = rng.randn(3000, N_FEATURES)
    if kind == "classifier":
        est = fastmlp.MLPClassifier(hidden_layer_sizes=(32, 16), solver="lbfgs",
                                    max_iter=5, random_state=0)
        y = rng.randint(0, 5, len(Xbig))
        methods = ["predict", "predict_proba", "predict_log_proba"]
    else:
        est = fastmlp.MLPRegressor(hidden_layer_sizes=(32, 16), solver="lbfgs",
                                   max_iter=5, random_state=0)
        y = Xbig[:, 0] + rng.randn(len(Xbig))
        methods = ["predict"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(Xbig, y)
    inputs = [Xbig, np.asfortranarray(Xbig), sp.csr_matrix(Xbig), Xbig[::3], Xbig[5:6],
              Xbig.astype(np.float32)]
    tasks = [(m, i) for m in methods for i in range(len(inputs))] * 3
    expected = {(m, i): getattr(est, m)(inputs[i]) for m, i in set(tasks)}

    def run(task):
        m, i = task
        return getattr(est, m)(inputs[i])

    with ThreadPoolExecutor(max_workers=6) as pool:
        got = list(pool.map(run, tasks))
    for task, out in zip(tasks, got):
        assert out.dtype == expected[task].dtype
        assert_array_equal(out, expected[task], err_msg=str(task))


def test_blas_thread_limit_restored_after_concurrent_fits():
    """Each fit holds BLAS to one thread while it runs; overlapping fits must
    still leave the process's BLAS limit as it was (a limit saved by one
    thread while another held it would otherwise stick at 1)."""
    before = _blas_threads()
    barrier = threading.Barrier(4)

    def work(i):
        barrier.wait()
        for _ in range(3):
            _fit(JOBS[i % len(JOBS)])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert _blas_threads() == before


def test_blas_limit_overlapping_calls_interleaved():
    """The same race, forced: A enters, B enters, A leaves (B still running:
    BLAS must stay at one thread), B leaves (the original limit is back)."""
    from fastmlp._threads import BLAS_LIMIT as _BLAS_LIMIT

    before = _blas_threads()
    a_in, b_in, a_out, b_may_leave = (threading.Event() for _ in range(4))
    seen = {}

    def a():
        with _BLAS_LIMIT:
            a_in.set()
            b_in.wait(10)
        a_out.set()

    def b():
        a_in.wait(10)
        with _BLAS_LIMIT:
            b_in.set()
            a_out.wait(10)
            seen["while b runs"] = _blas_threads()
            b_may_leave.wait(10)

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in threads:
        t.start()
    a_out.wait(10)
    b_may_leave.set()
    for t in threads:
        t.join()
    assert all(n == 1 for _, n in seen["while b runs"])
    assert _blas_threads() == before


# ------------------------------------------------- Python-side rules --


def test_thread_rules_follow_the_openmp_limit():
    from threadpoolctl import threadpool_limits

    from fastmlp._threads import (
        MIN_PARALLEL_WORK,
        MIN_ROWS_PER_THREAD,
        effective_n_threads,
        minibatch_threads,
        threads_for_rows,
    )

    units = [64, 256, 10]
    n_params = 64 * 256 + 256 * 10 + 256 + 10
    with threadpool_limits(2, user_api="openmp"):
        n = effective_n_threads()
        # no more threads than blocks of MIN_ROWS_PER_THREAD rows
        assert threads_for_rows(1, n_params) == 1
        assert threads_for_rows(MIN_ROWS_PER_THREAD * n, n_params) == n
        # too little work for a parallel region: one thread
        small = 100  # parameters: the work threshold, not the rows, decides
        rows = MIN_PARALLEL_WORK // small
        assert threads_for_rows(rows - 1, small) == 1
        assert threads_for_rows(rows, small) == n
        # a big minibatch is split, a tiny one is not
        assert minibatch_threads(200, units, n_params) == n
        assert minibatch_threads(2, units, n_params) == 1
        # sparse rows with few nonzeros are cheap: one part
        assert minibatch_threads(200, [10000, 4, 1], 10000 * 4 + 5, avg_nnz=1.0) == 1
    with threadpool_limits(1, user_api="openmp"):
        assert threads_for_rows(10000, n_params) == 1
        assert minibatch_threads(200, units, n_params) == 1


_FORK_SCRIPT = """
import os, pickle, sys, warnings
import numpy as np
from threadpoolctl import threadpool_limits
from fastmlp import MLPClassifier
warnings.simplefilter("ignore")
rng = np.random.RandomState(0)
X, y = rng.randn(4000, 64), rng.randint(0, 3, 4000)
kw = dict(hidden_layer_sizes=(128,), max_iter=5, solver=sys.argv[1], random_state=0)
MLPClassifier(**kw).fit(X, y)            # the parent's OpenMP team starts
with threadpool_limits(1, user_api="openmp"):
    one = MLPClassifier(**kw).fit(X, y)   # what a one-thread fit gives
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    child = MLPClassifier(**kw).fit(X, y)
    proba = child.predict_proba(X)
    os.write(w, pickle.dumps((child.coefs_, proba)))
    os._exit(0)
os.close(w)
data = b""
while chunk := os.read(r, 1 << 20):
    data += chunk
os.waitpid(pid, 0)
coefs, proba = pickle.loads(data)
for a, b in zip(coefs, one.coefs_):
    np.testing.assert_array_equal(a, b)
np.testing.assert_array_equal(proba, one.predict_proba(X))
print("child finished")
"""


@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
def test_forked_child_finishes_with_one_thread_results(solver):
    # GNU libgomp deadlocks a child forked after the parent's team started:
    # the child must finish, with a one-thread fit's results
    import subprocess
    import sys

    env = dict(os.environ, OMP_NUM_THREADS="2")
    proc = subprocess.run([sys.executable, "-P", "-c", _FORK_SCRIPT, solver], env=env,
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "child finished" in proc.stdout


class _PerThreadBlas:
    """A BLAS whose limit holds for the calling thread only (as MKL's, or an
    OpenMP-threaded OpenBLAS's, set through threadpoolctl)."""

    internal_api, threading_layer = "mkl", "intel"

    def __init__(self, default):
        self._tl, self._default = threading.local(), default

    @property
    def num_threads(self):
        return getattr(self._tl, "n", self._default)

    def set_num_threads(self, n):
        self._tl.n = n


def test_blas_limit_per_thread_libraries_in_each_thread():
    """Overlapping calls from two threads: each runs its BLAS on one thread
    while inside, and each gets its own limit back (the shared count would
    limit only the first thread in and restore the second's wrongly)."""
    from fastmlp._threads import _limit_is_per_thread, _SharedBlasLimit

    lib = _PerThreadBlas(4)
    assert _limit_is_per_thread(lib)
    limit = _SharedBlasLimit()
    limit._shared, limit._per_thread = [], [lib]
    a_in, b_in, a_out = (threading.Event() for _ in range(3))
    seen = {}

    def a():
        with limit:
            seen["a inside"] = lib.num_threads
            a_in.set()
            b_in.wait(10)
        seen["a after"] = lib.num_threads
        a_out.set()

    def b():
        a_in.wait(10)
        with limit:
            seen["b inside"] = lib.num_threads
            b_in.set()
            a_out.wait(10)
        seen["b after"] = lib.num_threads

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == {"a inside": 1, "b inside": 1, "a after": 4, "b after": 4}


# ------------------------------------------- the rule decided at run time --


class _FallingBack:
    """A Workspace whose process falls back to one thread (as when other
    processes hold the cores) at its at-th loss + gradient evaluation."""

    def __init__(self, ws, at):
        self.ws, self.at, self.calls = ws, at, 0

    def loss_grad(self, *args, **kw):
        from fastmlp._runtime_threads import hold_one_thread

        self.calls += 1
        if self.calls == self.at:
            hold_one_thread(60)
        return self.ws.loss_grad(*args, **kw)


@pytest.mark.parametrize("job", [j for j in JOBS if "weighted" in j[0] or "csr" in j[0]
                                 or "float32" in j[0]], ids=lambda j: j[0])
def test_lbfgs_fit_falling_back_mid_fit_gives_the_same_bits(job, monkeypatch):
    """The team falls back to one thread from the 5th evaluation on: the fit
    equals, bit for bit, the one whose evaluations all ran on two threads."""
    from fastmlp._runtime_threads import hold_one_thread

    made = []
    real = fastmlp._base.make_workspace

    def spy(*args, **kw):
        ws = real(*args, **kw)
        made.append(ws)
        if len(made) == 1:
            ws.fixed_threads = 2  # undisturbed: every evaluation on both
            return ws
        return _FallingBack(ws, 5)

    monkeypatch.setattr(fastmlp._base, "make_workspace", spy)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    from threadpoolctl import threadpool_limits

    try:
        with threadpool_limits(2, user_api="openmp"):
            undisturbed = _state(_fit(job))
            hold_one_thread(0)
            disturbed = _state(_fit(job))
    finally:
        hold_one_thread(0)
    assert [ws.n_threads for ws in made] == [2, 2]
    on_threads, on_one = made[1].regions_on_threads
    # the first evaluation runs on both threads (the backoff was clear); from
    # the 5th on, one thread
    assert on_threads >= 1 and on_one >= on_threads + on_one - 4
    assert on_one >= 5
    _assert_same_state(disturbed, undisturbed, job[0])


@pytest.mark.parametrize("kind", ["float64", "float32 rows", "strided rows"])
def test_predict_falling_back_mid_call_gives_the_same_bits(kind, monkeypatch):
    """A predict over several 2048-row blocks (float32 or strided rows) or
    one region falls back to one thread between blocks, or between calls:
    the same bits as on two threads throughout and as on one thread."""
    from threadpoolctl import threadpool_limits

    from fastmlp._runtime_threads import hold_one_thread

    rng = np.random.RandomState(3)
    Xf = rng.randn(5000, 40)
    est = _fit(("", lambda: fastmlp.MLPClassifier(hidden_layer_sizes=(80,), max_iter=5,
                                                 random_state=0), (Xf, rng.randint(0, 5, 5000)),
                {}))
    Xq = {"float64": Xf, "float32 rows": Xf.astype(np.float32),
          "strided rows": np.hstack([Xf, Xf])[:, ::2]}[kind]
    made = []
    fixed = {"threads": 0}
    real_ws, real_ds = fastmlp._network.Workspace, fastmlp._predict.make_dataset
    datasets = []

    def spy_ws(*args):
        made.append(real_ws(*args))
        made[-1].fixed_threads = fixed["threads"]
        return made[-1]

    def spy_ds(*args):
        datasets.append(1)
        if len(datasets) == 2:
            hold_one_thread(60)
        return real_ds(*args)

    monkeypatch.setattr(fastmlp._network, "Workspace", spy_ws)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    try:
        with threadpool_limits(1, user_api="openmp"):
            one = est.predict_proba(Xq)
        with threadpool_limits(2, user_api="openmp"):
            fixed["threads"] = 2  # undisturbed: every region on both threads
            fastmlp._predict._caches.pop(id(est), None)
            two = est.predict_proba(Xq)
            fixed["threads"] = 0  # the runtime rule
            fastmlp._predict._caches.pop(id(est), None)
            monkeypatch.setattr(fastmlp._predict, "make_dataset", spy_ds)
            hold_one_thread(0)
            disturbed = est.predict_proba(Xq)
            # and the next call, still in the backoff
            again = est.predict_proba(Xq)
    finally:
        hold_one_thread(0)
    assert [ws.n_threads for ws in made] == [1, 2, 2]
    on_threads, on_one = made[-1].regions_on_threads
    assert on_threads >= 1 and on_one >= 1
    if kind == "float64":
        # one region for the whole call: the fallback shows in the next call
        assert on_threads == 1 and on_one == 1
    for got in (disturbed, again, one):
        np.testing.assert_array_equal(got, two)


class _Pausing:
    """A Workspace whose first evaluation waits for `go` after setting
    `inside` (the fit then holds its BLAS limit)."""

    def __init__(self, ws, inside, go):
        self.ws, self.inside, self.go = ws, inside, go

    def loss_grad(self, *args, **kw):
        if not self.inside.is_set():
            self.inside.set()
            assert self.go.wait(30)
        return self.ws.loss_grad(*args, **kw)


@pytest.mark.parametrize("other_limit", [1, 3])
@pytest.mark.parametrize("order", [
    ("tp in", "fit in", "tp out", "fit out"),
    ("tp in", "fit in", "fit out", "tp out"),
    ("fit in", "tp in", "tp out", "fit out"),
])
def test_fit_and_a_threadpoolctl_limit_in_another_thread_leave_blas_as_it_was(
        order, other_limit, monkeypatch):
    """A fastmlp fit and threadpoolctl's threadpool_limits (as sklearn's
    KMeans holds it) in two Python threads, in the orders the fit's limit
    decides: the fit restores only a limit it set and that nobody changed
    since, so OpenBLAS ends with its original threads (it used to end with
    the other holder's 3 when that holder left first).
    (threadpoolctl limit in, fit in, fit out, threadpoolctl out leaves one
    thread whoever the first holder is: the second threadpoolctl limit saves
    the first's one thread and restores it last; see _SharedBlasLimit.)"""
    from threadpoolctl import threadpool_limits

    if not any(i["internal_api"] == "openblas" for i in threadpool_info()):
        pytest.skip("the process-wide limit of OpenBLAS is what this checks")
    original = _blas_threads()
    events = {step: threading.Event() for step in order}
    done = {step: threading.Event() for step in order}
    go_on = threading.Event()
    real = fastmlp._base.make_workspace
    monkeypatch.setattr(fastmlp._base, "make_workspace",
                        lambda *a, **k: _Pausing(real(*a, **k), done["fit in"], go_on))

    def fit():
        assert events["fit in"].wait(30)
        job = JOBS[0]
        thread = threading.Thread(target=_fit, args=(job,))
        thread.start()
        assert events["fit out"].wait(30)
        go_on.set()
        thread.join()
        done["fit out"].set()

    def other():
        assert events["tp in"].wait(30)
        with threadpool_limits(other_limit, user_api="blas"):
            done["tp in"].set()
            assert events["tp out"].wait(30)
        done["tp out"].set()

    threads = [threading.Thread(target=fit), threading.Thread(target=other)]
    for t in threads:
        t.start()
    for step in order:
        events[step].set()
        assert done[step].wait(30), step
    for t in threads:
        t.join()
    assert _blas_threads() == original


def _replay(parts, regions, **kw):
    from fastmlp._runtime_threads import replay

    try:
        return replay(parts, regions, **kw)
    except RuntimeError as exc:  # no per-thread CPU clock (Windows)
        pytest.skip(str(exc))


def test_a_retry_allows_its_first_region_the_wake():
    # a worker that slept takes ~1 ms to wake on a virtual machine: the
    # first region on threads after a start or a retry is allowed 2 ms more
    # than its work, the next ones not; a slower first region loses at once
    waking = (1.5e-3, (1e-6, 1e-6))
    assert [n for n, _ in _replay(2, [waking] * 3)] == [2, 2, 1]
    slow = (3e-3, (1e-6, 1e-6))
    assert [n for n, _ in _replay(2, [slow] * 2)] == [2, 1]


def test_paying_threads_bring_the_backoff_down_by_halves():
    # beside busy processes a retry's window pays now and then; a reset to the
    # shortest backoff would retry (and lose a time slice) every 20 ms
    paying = (1e-3, (1e-3, 1e-3))  # two threads' work in one thread's time
    trace = _replay(2, [paying] * 5, backoff=2.0)
    assert [n for n, _ in trace] == [2] * 5
    assert [b for _, b in trace] == [2.0] * 4 + [1.0]
    assert _replay(2, [paying] * 5, backoff=0.03)[-1][1] == 0.02
    losing = (1.0, (1e-6, 1e-6))
    assert _replay(2, [paying, losing], backoff=0.5)[-1][1] == 1.0
