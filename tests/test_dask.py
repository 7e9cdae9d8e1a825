"""Dask input (fastmlp._dask): fit, predict and score on Dask arrays and
DataFrames, on a real dask.distributed LocalCluster with process workers and
on dask's local threaded scheduler, against the in-memory estimators."""

import copy
import os
import re
import signal
import subprocess
import sys
import time
import warnings

import dask
import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas
import pytest
import scipy.sparse as sp
import sklearn.neural_network as skn
from distributed import Client, LocalCluster
from sklearn.exceptions import ConvergenceWarning

import fastmlp
from fastmlp import MLPClassifier, MLPRegressor, _dask
from fastmlp._network import make_dataset, make_layout, make_workspace, pack
from fastmlp._threads import effective_n_threads

# uneven partitions, one of them empty
CHUNKS = (130, 170, 0, 150, 150)
N = sum(CHUNKS)
LBFGS = dict(solver="lbfgs", hidden_layer_sizes=(12, 7), max_iter=10, tol=0.0,
             random_state=0, activation="tanh")


# the workers' environment asks for 4 OpenMP threads: fastmlp must still use
# no more threads than a worker has (1)
WORKER_ENV = {"distributed.nanny.pre-spawn-environ.OMP_NUM_THREADS": "4"}


@pytest.fixture(scope="module")
def cluster():
    with dask.config.set(WORKER_ENV):
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               dashboard_address=None)
    client = Client(cluster, set_as_default=False)
    yield client
    client.close()
    cluster.close()


@pytest.fixture(params=["cluster", "threads"])
def scheduler(request):
    """The LocalCluster's client as the current one, or dask's local threaded
    scheduler (no client)."""
    if request.param == "threads":
        with dask.config.set(scheduler="threads"):
            yield None
    else:
        client = request.getfixturevalue("cluster")
        with client.as_current():
            yield client


@pytest.fixture
def client(cluster):
    with cluster.as_current():
        yield cluster


def _data(kind, dtype=np.float64, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((N, 6)).astype(dtype)
    w = rng.standard_normal((6, 3))
    z = X @ w
    if kind == "binary":
        y = np.where(z[:, 0] > 0, "yes", "no")
    elif kind == "multiclass":
        y = np.argmax(z, axis=1) + 3
    elif kind == "multilabel":
        y = (z > 0).astype(int)
    elif kind == "regression":
        y = z[:, 0] + 0.1 * rng.standard_normal(N)
    else:  # multi-output regression
        y = z[:, :2] + 0.1 * rng.standard_normal((N, 2))
    return X, y


def _dask_arrays(X, y, sw=None, chunks=CHUNKS):
    Xd = da.from_array(X, chunks=(chunks, X.shape[1]))
    yd = da.from_array(y, chunks=(chunks,) + y.shape[1:])
    swd = None if sw is None else da.from_array(sw, chunks=(chunks,))
    return Xd, yd, swd


def _rel(a, b):
    return np.max(np.abs(a - b)) / np.max(np.abs(a))


def _assert_same_weights(ref, est, rtol):
    assert len(ref.coefs_) == len(est.coefs_)
    for a, b in zip(ref.coefs_ + ref.intercepts_, est.coefs_ + est.intercepts_):
        assert type(b) is np.ndarray and b.shape == a.shape
        assert _rel(a, b) <= rtol, _rel(a, b)


def _fit_quietly(est, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(*args, **kwargs)


CASES = [
    ("binary", MLPClassifier, {}),
    ("multiclass", MLPClassifier, {}),
    ("multilabel", MLPClassifier, {}),
    ("regression", MLPRegressor, {}),
    ("multioutput", MLPRegressor, {}),
    ("multiclass", MLPClassifier, {"class_weight": "balanced"}),
    ("binary", MLPClassifier, {"class_weight": {"yes": 3.0}}),
    # beyond sklearn (issue 24)
    ("multiclass", MLPClassifier, {"activation": ["gelu", "elu"]}),
    ("regression", MLPRegressor, {"loss": "quantile", "quantile": 0.3,
                                  "activation": "softplus"}),
]


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "sample_weight"])
@pytest.mark.parametrize("kind, cls, extra", CASES,
                         ids=[f"{k}-{c.__name__}-{list(e)}" for k, c, e in CASES])
def test_lbfgs_fit_equals_in_memory_fit(scheduler, kind, cls, extra, weighted):
    X, y = _data(kind)
    sw = np.random.RandomState(1).uniform(0.2, 2.0, N) if weighted else None
    ref = _fit_quietly(cls(**{**LBFGS, **extra}), X, y, sample_weight=sw)
    est = _fit_quietly(cls(**{**LBFGS, **extra}), *_dask_arrays(X, y, sw))
    assert est.n_iter_ == ref.n_iter_ == 10
    _assert_same_weights(ref, est, 1e-8)
    assert abs(est.loss_ - ref.loss_) <= 1e-10 * abs(ref.loss_)
    np.testing.assert_allclose(est.loss_curve_, ref.loss_curve_, rtol=1e-10)
    if cls is MLPClassifier:
        np.testing.assert_array_equal(est.classes_, ref.classes_)
        assert est._label_binarizer.y_type_ == ref._label_binarizer.y_type_
    assert est.out_activation_ == ref.out_activation_
    assert est.n_features_in_ == 6 and est.n_outputs_ == ref.n_outputs_
    # a plain model: predicts on NumPy input
    np.testing.assert_array_equal(est.predict(X[:50]).shape, ref.predict(X[:50]).shape)


@pytest.mark.parametrize("kind, cls", [("multiclass", MLPClassifier),
                                       ("multioutput", MLPRegressor)])
def test_lbfgs_float32(client, kind, cls):
    """float32 data evaluates in float32 on the workers, as in memory. The
    partitions' sums round differently from the in-memory threads' sums (in
    float32), so the fits agree to float32's precision, not bitwise."""
    X, y = _data(kind, np.float32)
    ref = _fit_quietly(cls(**LBFGS), X, y)
    est = _fit_quietly(cls(**LBFGS), *_dask_arrays(X, y))
    assert est.n_iter_ == ref.n_iter_ == 10
    _assert_same_weights(ref, est, 1e-5)
    # and the objective itself to float32 rounding, at the same point
    data = _dask._prepare(cls(**LBFGS), *_dask_arrays(X, y), first_pass=True)
    units = [6, 12, 7, ref.n_outputs_]
    layout = make_layout(units, "tanh", ref.out_activation_, np.float32)
    spec = (tuple(units), "tanh", ref.out_activation_, np.dtype(np.float32).str)
    objective = _dask.DaskObjective(data, layout, spec, 1e-4, client)
    p = pack(ref.coefs_, ref.intercepts_, np.float32)
    g = np.empty_like(p)
    loss = objective(p, g)
    Y = np.asarray(ref._label_binarizer.transform(y) if cls is MLPClassifier else y,
                   dtype=np.float32)
    ws = make_workspace(layout, np.float32, N)
    g_ref = np.empty_like(p)
    loss_ref = ws.loss_grad(p, g_ref, make_dataset(X, Y, None, np.float32), 1e-4, float(N))
    assert abs(loss - loss_ref) <= 1e-5 * abs(loss_ref)
    assert _rel(g_ref, g) <= 1e-4
    objective.close()


def test_objective_is_the_in_memory_objective(client):
    """The client's sum of the partitions' unnormalised sums, plus the L2 term,
    over the weight sum, is Workspace.loss_grad over all rows (float64)."""
    X, y = _data("multiclass")
    sw = np.random.RandomState(2).uniform(0.1, 3.0, N)
    est = MLPClassifier(**LBFGS, alpha=0.3)
    data = _dask._prepare(est, *_dask_arrays(X, y, sw), first_pass=True)
    units = [6, 12, 7, 3]
    layout = make_layout(units, "tanh", "softmax", np.float64)
    spec = (tuple(units), "tanh", "softmax", np.dtype(np.float64).str)
    objective = _dask.DaskObjective(data, layout, spec, 0.3, client)
    p = np.random.RandomState(3).standard_normal(layout.n_params)
    g = np.empty_like(p)
    loss = objective(p, g)
    Y = est._label_binarizer.transform(y).astype(np.float64)
    ws = make_workspace(layout, np.float64, N)
    g_ref = np.empty_like(p)
    loss_ref = ws.loss_grad(p, g_ref, make_dataset(X, Y, sw, np.float64), 0.3, sw.sum())
    assert abs(loss - loss_ref) <= 1e-12 * abs(loss_ref)
    assert _rel(g_ref, g) <= 1e-12
    objective.close()


def _cache_sizes(client):
    return client.run(lambda: {k[1:]: id(v[1]) for k, v in _dask._WORKSPACES.items()})


def _after_each_evaluation(monkeypatch, probe):
    """A list that gets probe() after every evaluation of a Dask L-BFGS fit."""
    seen = []
    call = _dask.DaskObjective.__call__

    def spying(self, params, grad):
        out = call(self, params, grad)
        seen.append(probe())
        return out

    monkeypatch.setattr(_dask.DaskObjective, "__call__", spying)
    return seen


def test_workers_reuse_one_workspace_per_thread(client, monkeypatch):
    """Five partitions, many evaluations: each worker (one thread) makes one
    Workspace on its first evaluation and keeps it; the fit's end drops it."""
    X, y = _data("binary")
    seen = _after_each_evaluation(monkeypatch, lambda: _cache_sizes(client))
    _fit_quietly(MLPClassifier(**LBFGS), *_dask_arrays(X, y))
    assert len(seen) > 10
    for snapshot in seen:
        assert snapshot == seen[0]
    # both workers ran tasks, each with one Workspace (one thread)
    assert len(seen[0]) == 2 and all(len(v) == 1 for v in seen[0].values())
    assert all(not v for v in _cache_sizes(client).values())


def _cached_datasets(client):
    # per partition: (its Dataset, the block object the Dataset was made of)
    return client.run(lambda: {k[1]: (id(v[1][0]), id(v[0][0]))
                               for k, v in _dask._DATASETS.items()})


def test_workers_check_each_partition_once_per_fit(client, monkeypatch):
    """Each partition's Dataset (CSR indices converted and range-checked,
    weights summed) is made on its first evaluation and reused by every
    later one; the fit's end drops them."""
    X, y = _data("binary")
    seen = _after_each_evaluation(monkeypatch, lambda: _cached_datasets(client))
    Xd, yd, _ = _dask_arrays(sp.csr_matrix(X), y)
    _fit_quietly(MLPClassifier(**LBFGS), Xd, yd)
    assert len(seen) > 10
    made = {}  # (worker, partition) -> the (Dataset, block) pairs it held
    for snapshot in seen:
        for worker, datasets in snapshot.items():
            for index, pair in datasets.items():
                made.setdefault((worker, index), set()).add(pair)
    # every non-empty partition was evaluated; a worker made each of its
    # partitions' Dataset once per block object it was handed (Dask may run a
    # partition on another worker, stealing work, which is sent a copy of the
    # block, and again later: a new object, rightly checked again)
    assert {i for _, i in made} == {i for i, c in enumerate(Xd.chunks[0]) if c}
    for pairs in made.values():
        assert len({d for d, _ in pairs}) == len({b for _, b in pairs})
    assert all(not v for v in _cached_datasets(client).values())


def test_same_weights_on_1_2_and_3_workers(client):
    X, y = _data("multiclass")
    Xd, yd, _ = _dask_arrays(X, y)
    fits = {}
    cluster = client.cluster
    def scale(n_workers):
        with dask.config.set(WORKER_ENV):
            cluster.scale(n_workers)
            client.wait_for_workers(n_workers)
        while len(client.scheduler_info(n_workers=-1)["workers"]) != n_workers:
            time.sleep(0.05)  # the retired workers leave

    for n_workers in (2, 3, 1):
        scale(n_workers)
        fits[n_workers] = _fit_quietly(MLPClassifier(**LBFGS), Xd, yd)
    scale(2)
    # one OpenMP thread per partition everywhere: the same sums, bit for bit
    for n in (1, 3):
        for a, b in zip(fits[2].coefs_ + fits[2].intercepts_,
                        fits[n].coefs_ + fits[n].intercepts_):
            np.testing.assert_array_equal(a, b)
    with dask.config.set(scheduler="sync"):
        local = _fit_quietly(MLPClassifier(**LBFGS), Xd, yd)
    _assert_same_weights(fits[2], local, 1e-12)


def test_dataframe_input_and_feature_names(scheduler):
    X, y = _data("multiclass")
    df = pandas.DataFrame(X, columns=[f"f{i}" for i in range(6)])
    ref = _fit_quietly(MLPClassifier(**LBFGS), df, y)
    ddf = dd.from_pandas(df, npartitions=4)
    ys = dd.from_pandas(pandas.Series(y), npartitions=4)
    est = _fit_quietly(MLPClassifier(**LBFGS), ddf, ys)
    np.testing.assert_array_equal(est.feature_names_in_, ref.feature_names_in_)
    _assert_same_weights(ref, est, 1e-8)
    proba = est.predict_proba(ddf)
    assert isinstance(proba, da.Array)
    np.testing.assert_allclose(proba.compute(), ref.predict_proba(df), rtol=1e-7, atol=1e-12)
    assert est.score(ddf, ys) == pytest.approx(ref.score(df, y), abs=1e-12)
    renamed = dd.from_pandas(df.rename(columns={"f0": "g0"}), npartitions=2)
    with pytest.raises(ValueError, match="feature names"):
        est.predict(renamed)


def test_misaligned_partitions_are_rechunked(scheduler):
    X, y = _data("regression")
    ref = _fit_quietly(MLPRegressor(**LBFGS), X, y)
    Xd = da.from_array(X, chunks=(150, 3))  # columns split as well
    yd = da.from_array(y, chunks=200)
    est = _fit_quietly(MLPRegressor(**LBFGS), Xd, yd)
    _assert_same_weights(ref, est, 1e-8)
    # y in memory with X on Dask
    est = _fit_quietly(MLPRegressor(**LBFGS), Xd, y)
    _assert_same_weights(ref, est, 1e-8)
    with pytest.raises(ValueError, match="inconsistent numbers of samples: \\[600, 599\\]"):
        MLPRegressor(**LBFGS).fit(Xd, yd[:-1])


def test_sparse_chunks_train_without_densifying(scheduler):
    X, y = _data("binary")
    X[np.abs(X) < 1.0] = 0.0
    Xs = sp.csr_matrix(X)
    ref = _fit_quietly(MLPClassifier(**LBFGS), Xs, y)
    Xd = da.from_array(Xs, chunks=(150, 6), asarray=False)
    assert sp.issparse(Xd._meta)
    est = _fit_quietly(MLPClassifier(**LBFGS), Xd, da.from_array(y, chunks=150))
    _assert_same_weights(ref, est, 1e-8)
    pred = est.predict(Xd)
    np.testing.assert_array_equal(pred.compute(), ref.predict(Xs))


@pytest.mark.parametrize("where, bad", [("X", np.nan), ("X", np.inf), ("y", np.nan),
                                        ("sample_weight", np.inf)])
def test_nan_in_one_partition_raises_as_in_memory(scheduler, monkeypatch, where, bad):
    X, y = _data("regression")
    sw = np.ones(N)
    {"X": X, "y": y, "sample_weight": sw}[where][460] = bad  # the 4th partition
    with pytest.raises(ValueError) as in_memory:
        MLPRegressor(**LBFGS).fit(X, y, sample_weight=sw)

    def no_training(*args, **kwargs):
        raise AssertionError("training began")

    monkeypatch.setattr(_dask, "DaskObjective", no_training)
    with pytest.raises(ValueError) as on_dask:
        MLPRegressor(**LBFGS).fit(*_dask_arrays(X, y, sw))
    assert str(on_dask.value) == str(in_memory.value)


@pytest.mark.parametrize("kind, cls", [("binary", MLPClassifier),
                                       ("multiclass", MLPClassifier),
                                       ("multilabel", MLPClassifier),
                                       ("regression", MLPRegressor),
                                       ("multioutput", MLPRegressor)])
def test_predict_is_lazy_and_blockwise(scheduler, kind, cls):
    X, y = _data(kind)
    est = _fit_quietly(cls(**LBFGS), X, y)
    Xd, yd, _ = _dask_arrays(X, y)
    methods = ["predict"] + (["predict_proba", "predict_log_proba"]
                             if cls is MLPClassifier else [])
    for method in methods:
        out = getattr(est, method)(Xd)
        assert isinstance(out, da.Array)
        assert out.chunks[0] == CHUNKS  # the empty partition included
        expected = getattr(est, method)(X)
        assert out.shape == expected.shape and out.dtype == expected.dtype
        got = out.compute()
        if method == "predict":
            np.testing.assert_array_equal(got, expected)
        else:
            np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-300)
    sw = np.random.RandomState(4).uniform(0.5, 1.5, N)
    for weights in (None, sw):
        expected = est.score(X, y, sample_weight=weights)
        got = est.score(Xd, yd, sample_weight=None if weights is None
                        else da.from_array(weights, chunks=100))
        assert type(got) is float
        assert got == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("solver, extra", [("adam", {}),
                                           ("sgd", {"learning_rate": "invscaling"}),
                                           ("adam", {"activation": ["silu", "leaky_relu"],
                                                     "hidden_layer_sizes": (9, 5)}),
                                           ("sgd", {"dropout": 0.3}),
                                           ("adam", {"dropout": [0.2, 0.4],
                                                     "hidden_layer_sizes": (9, 5)})])
def test_stochastic_equals_partial_fit_over_the_blocks(scheduler, solver, extra):
    """sgd/adam on Dask: the model travels through the blocks; its weights are
    those of partial_fit over the same blocks in the same order, one
    RandomState driving both (with dropout, each block's step draws its masks'
    seed from it, as each partial_fit call does)."""
    X, y = _data("multiclass")
    kw = {**dict(solver=solver, hidden_layer_sizes=(9,), max_iter=4, tol=0.0,
                 batch_size=64, learning_rate_init=0.01), **extra}
    est = _fit_quietly(MLPClassifier(**kw, random_state=np.random.RandomState(5)),
                       *_dask_arrays(X, y))
    rs = np.random.RandomState(5)
    ref = MLPClassifier(**kw, random_state=rs)
    starts = np.cumsum((0,) + CHUNKS)
    blocks = [slice(a, b) for a, b in zip(starts[:-1], starts[1:])]
    losses = []
    for _ in range(4):
        order = rs.permutation(len(blocks))
        rows, loss = 0, 0.0
        for b in order:
            if blocks[b].stop > blocks[b].start:
                ref.partial_fit(X[blocks[b]], y[blocks[b]], classes=np.unique(y))
                n = blocks[b].stop - blocks[b].start
                rows, loss = rows + n, loss + ref.loss_ * n
        losses.append(loss / rows)
    _assert_same_weights(ref, est, 1e-12)
    assert est.n_iter_ == 4 and est.t_ == ref.t_ == 4 * N
    np.testing.assert_allclose(est.loss_curve_, losses, rtol=1e-12)
    np.testing.assert_array_equal(est.predict(X), ref.predict(X))


def test_stochastic_early_stopping_holds_out_blocks(client):
    X, y = _data("multiclass")
    Xd, yd, _ = _dask_arrays(X, y, chunks=(100,) * 6)
    est = _fit_quietly(MLPClassifier(solver="adam", hidden_layer_sizes=(9,), max_iter=40,
                                     early_stopping=True, validation_fraction=0.34,
                                     n_iter_no_change=2, tol=0.01, learning_rate_init=0.02,
                                     random_state=0), Xd, yd)
    assert len(est.validation_scores_) == est.n_iter_ == len(est.loss_curve_)
    assert est.n_iter_ < 40  # it stopped: no gain of 0.01 in 3 epochs
    assert est.best_validation_score_ == max(est.validation_scores_)
    # the held-out blocks: the first draws of the fit's RandomState; the
    # model keeps the weights of the best validation score
    held_out = np.sort(np.random.RandomState(0).permutation(6)[:2])
    rows = np.concatenate([np.arange(100 * b, 100 * b + 100) for b in held_out])
    assert est.score(X[rows], y[rows]) == est.best_validation_score_


def test_grid_search_on_the_cluster(client):
    import joblib
    from sklearn.model_selection import GridSearchCV

    X, y = _data("multiclass")
    grid = {"alpha": [1e-4, 1e-1], "hidden_layer_sizes": [(5,), (9,)]}
    model = MLPClassifier(solver="lbfgs", max_iter=30, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        serial = GridSearchCV(model, grid, cv=3).fit(X, y)
        with joblib.parallel_backend("dask"):
            searched = GridSearchCV(model, grid, cv=3, n_jobs=-1).fit(X, y)
    np.testing.assert_allclose(searched.cv_results_["mean_test_score"],
                               serial.cv_results_["mean_test_score"], atol=1e-12)
    # a fit on a worker asks for no more OpenMP threads than the worker has
    # (1), although the workers' OMP_NUM_THREADS asks for 4
    assert client.run(lambda: os.environ["OMP_NUM_THREADS"]) == {
        w: "4" for w in client.scheduler_info()["workers"]}
    assert client.submit(effective_n_threads, pure=False).result() == 1


def test_a_worker_killed_mid_fit(client, monkeypatch):
    """The lost partitions are recomputed from the graph: the fit ends with
    the same weights as an undisturbed one, never with partial sums."""
    X, y = _data("multiclass")
    Xd, yd, _ = _dask_arrays(X, y)
    undisturbed = _fit_quietly(MLPClassifier(**LBFGS), Xd, yd)
    # a cluster of its own: the one the other tests share keeps its workers
    # (its scheduler's HTTP server on a free port: the shared one holds 8787)
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=":0")
    client = Client(cluster, set_as_default=False)
    try:
        with client.as_current():
            _fit_killing_a_worker(client, monkeypatch, Xd, yd, undisturbed)
    finally:
        client.close()
        try:
            cluster.close()
        except KeyError:
            # distributed's watcher of a LocalCluster can miss a restarted
            # worker and fail on its removal at close (a race at shutdown)
            pass


def _fit_killing_a_worker(client, monkeypatch, Xd, yd, undisturbed):
    call = _dask.DaskObjective.__call__
    killed = []

    def killing(self, params, grad):
        if self.n_evaluations == 3 and not killed:
            pid = list(client.run(os.getpid).values())[0]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        return call(self, params, grad)

    monkeypatch.setattr(_dask.DaskObjective, "__call__", killing)
    est = _fit_quietly(MLPClassifier(**LBFGS), Xd, yd)
    assert killed
    for a, b in zip(undisturbed.coefs_ + undisturbed.intercepts_,
                    est.coefs_ + est.intercepts_):
        np.testing.assert_array_equal(a, b)


def test_workers_must_run_the_clients_version(client, monkeypatch):
    X, y = _data("binary")
    monkeypatch.setattr(_dask, "__version__", "0.0.0-other")
    with pytest.raises(RuntimeError, match=re.escape("must run the client's fastmlp 0.0.0-other")):
        MLPClassifier(**LBFGS).fit(*_dask_arrays(X, y))


def test_fitted_model_is_plain():
    import pickle

    X, y = _data("binary")
    with dask.config.set(scheduler="threads"):
        est = _fit_quietly(MLPClassifier(**LBFGS), *_dask_arrays(X, y))
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(again.predict_proba(X), est.predict_proba(X))
    np.testing.assert_allclose(est.to_sklearn().predict_proba(X), est.predict_proba(X),
                               rtol=1e-10)
    assert all(type(c) is np.ndarray for c in est.coefs_)
    copy.deepcopy(est)


def test_import_does_not_import_dask(tmp_path):
    # (run from another folder: the current one, first on sys.path, may be
    # a source tree without its compiled core)
    code = ("import sys, numpy as np, fastmlp; "
            "fastmlp.MLPClassifier(max_iter=5).fit(np.eye(4), [0, 1, 0, 1]); "
            "assert not [m for m in sys.modules if m.split('.')[0] in "
            "('dask', 'distributed')], 'dask imported'")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path)
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
def test_callbacks_see_every_iteration(scheduler, solver):
    from test_callbacks import Recorder  # tests/ is on sys.path (pytest's prepend mode)

    X, y = _data("multiclass")
    params = dict(LBFGS, solver=solver, max_iter=4)
    cb = Recorder(stop_after=3)
    est = _fit_quietly(MLPClassifier(**params).set_callbacks(cb), *_dask_arrays(X, y))
    step = "lbfgs-iter" if solver == "lbfgs" else "epoch"
    assert est.n_iter_ == 3  # the callback stopped it
    assert cb.events[:2] == [("setup", "fit"), ("begin", "fit", 0)]
    assert cb.events[-2:] == [("end", "fit", 0), ("teardown", "fit")]
    assert [e for e in cb.events if e[1] == step and e[0] == "end"] == [
        ("end", step, k) for k in range(3)]
    assert [s[2] for s in cb.snapshots] == [1, 2, 3]
    for w, v in zip(cb.snapshots[-1][3], est.coefs_ + est.intercepts_):
        np.testing.assert_array_equal(w, v)


@pytest.mark.parametrize("on_dask", ["y", "sample_weight", "both", "Series y"])
@pytest.mark.parametrize(("kind", "solver"), [("binary", "lbfgs"), ("multiclass", "adam"),
                                             ("regression", "lbfgs"), ("regression", "sgd")])
def test_x_in_memory_with_y_or_weights_on_dask_fits_as_sklearn(kind, solver, on_dask):
    """sklearn's np.asarray computes a Dask y or sample_weight beside a NumPy
    X: fastmlp computes them too and fits (and scores) in memory, as sklearn."""
    X, y = _data(kind)
    sw = np.random.RandomState(1).uniform(0.5, 2.0, N)
    yd = (dd.from_pandas(pandas.Series(y), npartitions=3) if on_dask == "Series y"
          else da.from_array(y, chunks=(CHUNKS,)))
    y_in = y if on_dask == "sample_weight" else yd
    sw_in = da.from_array(sw, chunks=(CHUNKS,)) if on_dask in ("sample_weight", "both") else sw
    name = "MLPRegressor" if kind == "regression" else "MLPClassifier"
    params = dict(LBFGS, solver=solver, max_iter=5)
    ours = _fit_quietly(getattr(fastmlp, name)(**params), X, y_in, sample_weight=sw_in)
    theirs = _fit_quietly(getattr(skn, name)(**params), X, y_in, sample_weight=sw_in)
    assert all(type(w) is np.ndarray for w in ours.coefs_)
    _assert_same_weights(theirs, ours, 1e-6)
    # and score, a float as sklearn's
    assert ours.score(X, y_in, sample_weight=sw_in) == pytest.approx(
        theirs.score(X, y_in, sample_weight=sw_in), rel=1e-9)


def test_tasks_share_their_workers_threads():
    from fastmlp._threads import MIN_PARALLEL_WORK, dask_task_threads

    rows, params = 100000, 200000
    # a worker of 4 threads: 2 partitions run at once on 2 threads each, 8 on one
    assert dask_task_threads(4, 2, rows, params) == 2
    assert dask_task_threads(4, 3, rows, params) == 1
    assert dask_task_threads(4, 8, rows, params) == 1
    assert dask_task_threads(4, 1, rows, params) == 4
    assert dask_task_threads(1, 5, rows, params) == 1
    # at most the worker's threads, however the work would spread
    assert dask_task_threads(8, 1, rows, params) == 8
    # too little work for a parallel region
    assert dask_task_threads(4, 1, 10, MIN_PARALLEL_WORK // 20) == 1


def test_one_round_trip_per_evaluation(client, monkeypatch):
    """An evaluation is one gather of the partitions' tasks: no scatter, no
    compute, no persist (the data was persisted before the first one)."""
    X, y = _data("multiclass")
    names = ("gather", "scatter", "compute", "persist")
    real = {name: getattr(client, name) for name in names}
    events = dict.fromkeys(names, 0)
    per_evaluation = []

    def counting(name):
        def call(*args, **kwargs):
            events[name] += 1
            return real[name](*args, **kwargs)
        return call

    evaluate = _dask.DaskObjective.__call__

    def spying(self, params, grad):
        before = dict(events)
        out = evaluate(self, params, grad)
        per_evaluation.append({k: events[k] - before[k] for k in names})
        return out

    for name in names:
        monkeypatch.setattr(client, name, counting(name))
    monkeypatch.setattr(_dask.DaskObjective, "__call__", spying)
    est = _fit_quietly(MLPClassifier(**LBFGS), *_dask_arrays(X, y))
    assert est.n_iter_ == 10 and len(per_evaluation) >= 10
    assert all(c == {"gather": 1, "scatter": 0, "compute": 0, "persist": 0}
               for c in per_evaluation), per_evaluation


def test_blocks_computed_once_per_fit_on_the_local_scheduler():
    X, y = _data("regression")
    counts = []

    def counted(block):
        counts.append(block.shape[0])
        return block

    Xd = da.from_array(X, chunks=(CHUNKS, 6)).map_blocks(counted, dtype=X.dtype)
    with dask.config.set(scheduler="threads"):
        est = _fit_quietly(MLPRegressor(**LBFGS), Xd, da.from_array(y, chunks=CHUNKS))
    assert est.n_iter_ == 10
    # once per block for the fit (plus dask's own look at a 0-row meta block)
    assert sorted(c for c in counts if c) == sorted(c for c in CHUNKS if c)


def test_warm_start_refit_as_in_memory(scheduler):
    """A second fit from the first one's weights: float32 data against the
    float64 coefs_ of an L-BFGS fit computes in float64, as in memory."""
    X, y = _data("multiclass", np.float32)
    params = dict(LBFGS, warm_start=True, max_iter=5)
    ref = _fit_quietly(MLPClassifier(**params), X, y)
    est = _fit_quietly(MLPClassifier(**params), *_dask_arrays(X, y))
    _assert_same_weights(ref, est, 1e-5)
    est.coefs_ = [c.copy() for c in ref.coefs_]
    est.intercepts_ = [b.copy() for b in ref.intercepts_]
    _fit_quietly(ref, X, y)
    _fit_quietly(est, *_dask_arrays(X, y))
    assert ref.coefs_[0].dtype == est.coefs_[0].dtype
    _assert_same_weights(ref, est, 1e-8)


def _model_state(est):
    return copy.deepcopy({k: v for k, v in vars(est).items() if k.endswith("_")
                          and k not in ("n_features_in_", "feature_names_in_")})


def _assert_same_state(before, after):
    assert before.keys() == after.keys()
    for name, value in before.items():
        if isinstance(value, list) and value and isinstance(value[0], np.ndarray):
            assert all(np.array_equal(a, b) for a, b in zip(value, after[name])), name
        elif isinstance(value, np.ndarray):
            assert np.array_equal(value, after[name]), name
        else:
            assert value == after[name] or (value != value and after[name] != after[name]), name


@pytest.mark.parametrize("solver", ["lbfgs", "sgd", "adam"])
@pytest.mark.parametrize("cls, class_weight", [
    (MLPClassifier, None), (MLPClassifier, "balanced"), (MLPRegressor, None)])
def test_refit_with_all_zero_weights_leaves_the_model_as_in_memory(
        scheduler, solver, cls, class_weight):
    """Everything is validated before the model changes: a fitted model
    refitted with sample weights that are all zero raises the in-memory
    error and keeps its weights and fitted attributes, on every solver."""
    X, y = _data("regression" if cls is MLPRegressor else "multiclass")
    params = dict(LBFGS, solver=solver, max_iter=3)
    if class_weight is not None:
        params["class_weight"] = class_weight
    sw = np.zeros(N)
    in_memory = _fit_quietly(cls(**params), X, y)
    on_dask = _fit_quietly(cls(**params), *_dask_arrays(X, y))
    for est, data in ((in_memory, (X, y, sw)), (on_dask, _dask_arrays(X, y, sw))):
        before = _model_state(est)
        with pytest.raises(ValueError) as error:
            est.fit(*data)
        assert str(error.value) == "Sample weights must contain at least one non-zero number."
        _assert_same_state(before, _model_state(est))


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_a_block_weighing_nothing_is_skipped(scheduler, solver):
    """A block whose sample weights are all zero has nothing to learn from:
    sgd/adam skip it (in memory its rows mix with weighted ones, and the fit
    goes on). The weights are those of partial_fit over the other blocks in
    the same order; its rows still count in t_, as in memory."""
    X, y = _data("multiclass")
    sw = np.random.RandomState(1).uniform(0.5, 2.0, N)
    starts = np.cumsum((0,) + CHUNKS)
    blocks = [slice(a, b) for a, b in zip(starts[:-1], starts[1:])]
    sw[blocks[1]] = 0.0
    kw = dict(solver=solver, hidden_layer_sizes=(9,), max_iter=4, tol=0.0, batch_size=64,
              learning_rate_init=0.01)
    est = _fit_quietly(MLPClassifier(**kw, random_state=np.random.RandomState(5)),
                       *_dask_arrays(X, y, sw))
    rs = np.random.RandomState(5)
    ref = MLPClassifier(**kw, random_state=rs)
    losses = []
    for _ in range(4):
        rows, loss = 0, 0.0
        for b in rs.permutation(len(blocks)):
            n = blocks[b].stop - blocks[b].start
            if n and b != 1:
                ref.partial_fit(X[blocks[b]], y[blocks[b]], classes=np.unique(y),
                                sample_weight=sw[blocks[b]])
                rows, loss = rows + n, loss + ref.loss_ * n
        losses.append(loss / rows)
    _assert_same_weights(ref, est, 1e-12)
    assert est.n_iter_ == 4 and est.t_ == 4 * N == ref.t_ + 4 * CHUNKS[1]
    np.testing.assert_allclose(est.loss_curve_, losses, rtol=1e-12)
    # the same rows fit in memory too
    assert _fit_quietly(MLPClassifier(**kw, random_state=5), X, y, sw).n_iter_ == 4


def test_training_blocks_all_weighing_nothing_raise_and_keep_the_model(client):
    """Every training block weighs zero (the weighted rows are all held out):
    no minibatch can be normalised, as in memory; the model is untouched."""
    X, y = _data("multiclass")
    chunks = (100,) * 6
    sw = np.zeros(N)
    held_out = np.sort(np.random.RandomState(0).permutation(6)[:3])
    for b in held_out:
        sw[100 * b:100 * b + 100] = 1.0
    params = dict(solver="adam", hidden_layer_sizes=(9,), max_iter=3, early_stopping=True,
                  validation_fraction=0.5, random_state=0)
    est = _fit_quietly(MLPClassifier(**params), X, y)
    before = _model_state(est)
    with pytest.raises(ZeroDivisionError, match="Weights sum to zero"):
        est.fit(*_dask_arrays(X, y, sw, chunks=chunks))
    _assert_same_state(before, _model_state(est))


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_ctrl_c_keeps_the_finished_epochs(scheduler, solver, monkeypatch):
    """Ctrl-C while the cluster runs an epoch: the model keeps every epoch
    finished before it (weights, n_iter_, t_, loss_curve_), with sklearn's
    warning, as an in-memory fit does (test_stochastic); the interrupted
    epoch's updates stay on the workers."""
    from fastmlp._dask import blockwise

    X, y = _data("multiclass")
    kw = dict(solver=solver, hidden_layer_sizes=(9,), tol=0.0, batch_size=64,
              learning_rate_init=0.01, random_state=0)
    ref = _fit_quietly(MLPClassifier(**kw, max_iter=3), *_dask_arrays(X, y))
    epochs = []
    monkeypatch.setattr(blockwise, "_epoch_record",
                        lambda t, real=blockwise._epoch_record: epochs.append(t) or real(t))
    real_compute = dask.compute

    def compute(*args, **kwargs):
        out = real_compute(*args, **kwargs)
        if len(epochs) == 4:  # the 4th epoch ran; the user pressed Ctrl-C meanwhile
            raise KeyboardInterrupt
        return out

    monkeypatch.setattr(dask, "compute", compute)
    est = MLPClassifier(**kw, max_iter=10)
    with pytest.warns(UserWarning, match=r"^Training interrupted by user\.$"):
        try:
            est.fit(*_dask_arrays(X, y))
        except KeyboardInterrupt:  # not pytest's own: fail this test alone
            pytest.fail("the interrupt escaped the fit")
    assert est.n_iter_ == 3 and est.t_ == ref.t_ == 3 * N
    assert est.loss_curve_ == ref.loss_curve_ and est.loss_ == ref.loss_
    _assert_same_weights(ref, est, 0.0)
    assert est._optimizer.learning_rate == ref._optimizer.learning_rate


@pytest.mark.parametrize("tol, n_iter_no_change, n_epochs", [(0.0, 10, 6), (1.0, 3, 5)])
def test_warm_start_adam_continues_as_in_memory(scheduler, tol, n_iter_no_change, n_epochs):
    """Two 3-epoch warm_start fits: the loss curve and the no-improvement
    count go on from the first fit (tol=1.0: the count reaches
    n_iter_no_change in the second fit), as in memory. One block, no
    shuffling: the block-wise epochs are the in-memory ones."""
    X, y = _data("multiclass")
    kw = dict(solver="adam", hidden_layer_sizes=(9,), max_iter=3, tol=tol, shuffle=False,
              n_iter_no_change=n_iter_no_change, warm_start=True, random_state=0)
    ref, est = MLPClassifier(**kw), MLPClassifier(**kw)
    for _ in range(2):
        _fit_quietly(ref, X, y)
        _fit_quietly(est, *_dask_arrays(X, y, chunks=(N,)))
    assert len(est.loss_curve_) == len(ref.loss_curve_) == n_epochs
    np.testing.assert_allclose(est.loss_curve_, ref.loss_curve_, rtol=1e-12)
    assert est._no_improvement_count == ref._no_improvement_count
    assert est.best_loss_ == pytest.approx(ref.best_loss_, rel=1e-12)
    _assert_same_weights(ref, est, 1e-12)


@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
@pytest.mark.parametrize("weights", ["all -1", "negative sum"])
def test_negative_weight_sum_fits_as_in_memory(scheduler, solver, weights):
    """Sample weights summing to a negative number fit, as in memory (and in
    sklearn, whose loss divides by the sum)."""
    X, y = _data("multiclass")
    sw = -np.ones(N)
    if weights == "negative sum":
        sw = np.random.RandomState(2).uniform(-2.0, 1.0, N)
        assert sw.sum() < 0
    chunks = CHUNKS if solver == "lbfgs" else (N,)  # one block: in-memory epochs
    params = dict(LBFGS, solver=solver, max_iter=5, shuffle=False)
    ref = _fit_quietly(MLPClassifier(**params), X, y, sw)
    est = _fit_quietly(MLPClassifier(**params), *_dask_arrays(X, y, sw, chunks=chunks))
    _assert_same_weights(ref, est, 1e-8)
    assert est.n_iter_ == ref.n_iter_ == 5
    np.testing.assert_allclose(est.loss_curve_, ref.loss_curve_, rtol=1e-8)


def test_zero_weight_sum_raises_as_in_memory_lbfgs(scheduler):
    """Weights of both signs summing to zero: the in-memory error, before
    the model changes."""
    X, y = _data("multiclass")
    sw = np.where(np.arange(N) % 2 == 0, 1.0, -1.0)
    assert sw.sum() == 0
    for data in ((X, y, sw), _dask_arrays(X, y, sw)):
        est = _fit_quietly(MLPClassifier(**LBFGS), X, y)
        before = _model_state(est)
        with pytest.raises(ZeroDivisionError, match=r"^Weights sum to zero, can't be normalized$"):
            est.fit(*data)
        _assert_same_state(before, _model_state(est))


# -------------------------------------------- a validation set (issue 23) --


@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
@pytest.mark.parametrize("Est, kind", [(MLPClassifier, "multiclass"),
                                       (MLPRegressor, "regression")])
def test_dask_validation_set_equals_the_in_memory_one(scheduler, solver, Est, kind):
    X, y = _data(kind)
    Xv, yv = _data(kind, seed=1)
    swv = np.random.RandomState(2).uniform(0.5, 2.0, len(yv))
    Xd, yd, _ = _dask_arrays(X, y)
    Xvd, yvd, swvd = _dask_arrays(Xv, yv, swv)
    kw = dict(solver=solver, hidden_layer_sizes=(9,), max_iter=4, tol=0.0, random_state=0)
    plain = _fit_quietly(Est(**kw), Xd, yd)
    on_dask = _fit_quietly(Est(**kw), Xd, yd, X_val=Xvd, y_val=yvd, sample_weight_val=swvd)
    local = _fit_quietly(Est(**kw), Xd, yd, X_val=Xv, y_val=yv, sample_weight_val=swv)
    # the set only observes; on the cluster it gives the figures of the client
    for a, b in zip(on_dask.coefs_ + on_dask.intercepts_, plain.coefs_ + plain.intercepts_):
        np.testing.assert_array_equal(a, b)
    assert len(on_dask.validation_loss_curve_) == on_dask.n_iter_ == 4
    np.testing.assert_allclose(on_dask.validation_loss_curve_, local.validation_loss_curve_,
                               rtol=1e-12)
    np.testing.assert_allclose(on_dask.validation_scores_, local.validation_scores_,
                               rtol=1e-10)


def test_dask_early_stopping_on_a_given_set_holds_out_no_block(scheduler):
    X, y = _data("multiclass")
    Xv, yv = _data("multiclass", seed=1)
    Xd, yd, _ = _dask_arrays(X, y)
    Xvd, yvd, _ = _dask_arrays(Xv, yv)
    est = _fit_quietly(MLPClassifier(solver="adam", hidden_layer_sizes=(9,), max_iter=30,
                                     early_stopping=True, n_iter_no_change=2,
                                     random_state=0), Xd, yd, X_val=Xvd, y_val=yvd)
    assert est.t_ == est.n_iter_ * N
    assert len(est.validation_loss_curve_) == len(est.validation_scores_) == est.n_iter_
    assert est.best_validation_score_ == max(est.validation_scores_)


@pytest.mark.parametrize("bad, match", [("nan", "NaN"), ("class", "classes not in y"),
                                        ("features", "features"), ("numpy X", "Dask")])
def test_dask_bad_validation_set_leaves_the_model(scheduler, bad, match):
    X, y = _data("multiclass")
    Xv, yv = _data("multiclass", seed=1)
    if bad == "nan":
        Xv[3, 2] = np.nan
    elif bad == "class":
        yv[5] = 99
    elif bad == "features":
        Xv = Xv[:, :4]
    Xd, yd, _ = _dask_arrays(X, y)
    Xvd, yvd, _ = _dask_arrays(Xv, yv)
    est = _fit_quietly(MLPClassifier(solver="lbfgs", hidden_layer_sizes=(5,), max_iter=3,
                                     random_state=0), X, y)
    before = copy.deepcopy(vars(est))
    with pytest.raises(ValueError, match=match):
        est.fit(X if bad == "numpy X" else Xd, y if bad == "numpy X" else yd,
                X_val=Xvd, y_val=yvd)
    assert vars(est).keys() == before.keys()
    for a, b in zip(est.coefs_, before["coefs_"]):
        np.testing.assert_array_equal(a, b)
