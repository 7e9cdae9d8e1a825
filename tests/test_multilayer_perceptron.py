"""fastmlp's estimators against scikit-learn's, solver="lbfgs".

With the same random_state both draw the same initial weights and hand scipy's
L-BFGS-B the same x0, so every iterate, not just the end point, must agree.
Multi-output squared error is the documented exception (fastmlp optimises
the sum over outputs; sklearn reports the mean).
"""

import warnings

import numpy as np
import pytest
import reference as ref
import scipy.sparse as sp
import sklearn.neural_network as sk
from numpy.testing import assert_allclose, assert_array_equal
from shared_helpers import assert_same_weights, fit_quietly, packed
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from threadpoolctl import threadpool_limits

import fastmlp
import fastmlp._base
from fastmlp._threads import MIN_PARALLEL_WORK

ACTIVATIONS = ["identity", "logistic", "tanh", "relu"]
TASKS = ["binary", "multiclass", "multilabel", "squared_error", "poisson"]

N, N_FEATURES = 150, 6
_rng = np.random.RandomState(0)
X_DENSE = _rng.randn(N, N_FEATURES)
X_DENSE[_rng.rand(N, N_FEATURES) < 0.4] = 0  # sparse-friendly, same values dense
X_DENSE[[4, 77]] = 0  # empty rows in the CSR version
SW = _rng.uniform(0.2, 2.0, N)
TARGETS = {
    "binary": _rng.randint(0, 2, N),
    "multiclass": _rng.randint(0, 3, N),
    "multilabel": (_rng.rand(N, 3) < 0.4).astype(int),
    "squared_error": X_DENSE[:, 0] - 2 * X_DENSE[:, 1] ** 2 + 0.1 * _rng.randn(N),
    "poisson": _rng.poisson(np.exp(0.5 * X_DENSE[:, 0])).astype(float),
}


def make_pair(task, **params):
    """(sklearn estimator, fastmlp estimator) with the same parameters."""
    params.setdefault("solver", "lbfgs")
    if task in ("binary", "multiclass", "multilabel", "classifier"):
        return sk.MLPClassifier(**params), fastmlp.MLPClassifier(**params)
    if task == "poisson":
        params["loss"] = "poisson"
    return sk.MLPRegressor(**params), fastmlp.MLPRegressor(**params)


def copy_weights(dst, src):
    dst.coefs_ = [c.copy() for c in src.coefs_]
    dst.intercepts_ = [b.copy() for b in src.intercepts_]


def assert_same_predictions(fm, skm, X, y):
    """fastmlp's predictions against sklearn's model holding the same weights."""
    pred = fm.predict(X)
    sk_pred = skm.predict(X)
    assert pred.shape == sk_pred.shape
    assert pred.dtype == sk_pred.dtype
    if hasattr(skm, "predict_proba"):
        assert_array_equal(pred, sk_pred)
        for method in ("predict_proba", "predict_log_proba"):
            got, want = getattr(fm, method)(X), getattr(skm, method)(X)
            assert got.shape == want.shape and got.dtype == want.dtype
            assert_allclose(got, want, rtol=1e-10, atol=1e-14)
        assert fm.score(X, y) == skm.score(X, y)
        assert fm.score(X, y, sample_weight=SW) == skm.score(X, y, sample_weight=SW)
    else:
        assert_allclose(pred, sk_pred, rtol=1e-10, atol=1e-12 * np.abs(sk_pred).max())
        assert fm.score(X, y) == pytest.approx(skm.score(X, y), rel=1e-10)


# ------------------------------------------------ (a) trajectory parity --


@pytest.mark.parametrize("max_iter", [1, 5])
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_lbfgs_trajectory_matches_sklearn(activation, task, weighted, sparse, max_iter):
    X = sp.csr_matrix(X_DENSE) if sparse else X_DENSE
    y = TARGETS[task]
    sw = SW if weighted else None
    skm, fm = make_pair(
        task, hidden_layer_sizes=(7, 4), activation=activation, max_iter=max_iter,
        alpha=1e-3, random_state=1,
    )
    fit_quietly(skm, X, y, sample_weight=sw)
    fit_quietly(fm, X, y, sample_weight=sw)

    assert fm.n_iter_ == skm.n_iter_
    assert 1 <= fm.n_iter_ <= max_iter
    assert fm.out_activation_ == skm.out_activation_
    assert_same_weights(fm, skm, rtol=1e-6)
    assert fm.loss_ == pytest.approx(skm.loss_, rel=1e-8)
    # lbfgs also records one loss per iteration, the last one the final loss
    assert len(fm.loss_curve_) == fm.n_iter_
    assert fm.loss_curve_[-1] == pytest.approx(fm.loss_, rel=1e-12)

    copy_weights(skm, fm)
    assert_same_predictions(fm, skm, X, y)


def test_lbfgs_loss_curve_is_sklearns_loss_after_each_iteration():
    y = TARGETS["multiclass"]
    _, fm = make_pair("multiclass", hidden_layer_sizes=(5,), activation="tanh",
                      max_iter=6, random_state=3)
    fit_quietly(fm, X_DENSE, y)
    assert fm.n_iter_ == 6
    for k in range(1, 7):
        skm, _ = make_pair("multiclass", hidden_layer_sizes=(5,), activation="tanh",
                           max_iter=k, random_state=3)
        fit_quietly(skm, X_DENSE, y)
        assert fm.loss_curve_[k - 1] == pytest.approx(skm.loss_, rel=1e-9)
    assert np.all(np.diff(fm.loss_curve_) <= 0)


@pytest.mark.parametrize("solver", ["lbfgs", "adam", "sgd"])
def test_warm_start_continues_the_loss_curve_on_every_solver(solver):
    """warm_start continues loss_curve_ (sklearn's rule for sgd/adam; lbfgs,
    whose curve sklearn does not record, follows it), and a fit without
    warm_start restarts it."""
    y = TARGETS["multiclass"]
    skm, fm = make_pair("multiclass", solver=solver, hidden_layer_sizes=(5,), max_iter=4,
                        tol=0.0, random_state=0, warm_start=True)
    fit_quietly(fm, X_DENSE, y)
    first = list(fm.loss_curve_)
    fit_quietly(fm, X_DENSE, y)
    if solver != "lbfgs":
        fit_quietly(skm, X_DENSE, y)
        fit_quietly(skm, X_DENSE, y)
        np.testing.assert_allclose(fm.loss_curve_, skm.loss_curve_, rtol=1e-9)
    assert fm.n_iter_ == 4 and len(first) == 4
    assert fm.loss_curve_[:4] == first and len(fm.loss_curve_) == 8
    assert fm.loss_curve_[-1] == fm.loss_
    if solver == "lbfgs":  # one model, one objective: the second fit goes on downhill
        assert np.all(np.diff(fm.loss_curve_) <= 0)
    fm.set_params(warm_start=False)
    fit_quietly(fm, X_DENSE, y)
    assert fm.loss_curve_ == first


@pytest.mark.parametrize(
    "task, params",
    [("binary", dict(hidden_layer_sizes=(4,), activation="logistic", alpha=1.0)),
     ("multiclass", dict(hidden_layer_sizes=(5,), activation="tanh", alpha=0.5, tol=1e-5))],
)
def test_lbfgs_runs_to_the_same_end_point(task, params):
    """A run that stops by itself (tol) stops at the same iteration, at the
    same weights."""
    skm, fm = make_pair(task, max_iter=500, random_state=0, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        skm.fit(X_DENSE, TARGETS[task])
        fm.fit(X_DENSE, TARGETS[task])
    assert 10 < skm.n_iter_ < 500
    assert fm.n_iter_ == skm.n_iter_
    assert len(fm.loss_curve_) == fm.n_iter_
    assert fm.loss_ == pytest.approx(skm.loss_, rel=1e-10)
    assert_same_weights(fm, skm, rtol=1e-5)


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_multioutput_squared_error_sums_over_outputs(activation, weighted, sparse):
    """The documented difference: the objective is the squared error summed
    over outputs (sklearn reports the mean but follows the sum's gradient)."""
    Y = np.c_[TARGETS["squared_error"], X_DENSE[:, 2] * X_DENSE[:, 3]]
    X = sp.csr_matrix(X_DENSE) if sparse else X_DENSE
    sw = SW if weighted else None
    alpha = 1e-2
    skm, fm = make_pair("squared_error", hidden_layer_sizes=(6, 3), activation=activation,
                        max_iter=5, alpha=alpha, random_state=2)
    fit_quietly(fm, X, Y, sample_weight=sw)
    assert fm.n_outputs_ == 2
    assert 1 <= fm.n_iter_ <= 5
    units = [N_FEATURES, 6, 3, 2]
    p = packed(fm)
    sum_loss, grad = ref.loss_grad(p, units, X_DENSE, Y, sw, alpha, activation, "identity",
                                   np.finfo(np.float64).eps)
    assert fm.loss_ == pytest.approx(sum_loss, rel=1e-10)
    assert len(fm.loss_curve_) == fm.n_iter_
    assert fm.loss_curve_[-1] == pytest.approx(fm.loss_, rel=1e-12)

    # sklearn's objective at the same weights is the mean over outputs:
    # different, and checked to be, so that this test cannot pass by accident
    fit_quietly(skm, X, Y, sample_weight=sw)
    copy_weights(skm, fm)
    pred = skm.predict(X)
    w = np.ones(N) if sw is None else sw
    reg = 0.5 * alpha * sum((c**2).sum() for c in fm.coefs_) / w.sum()
    mean_loss = 0.5 * np.average((pred - Y) ** 2, weights=w, axis=0).mean() + reg
    assert mean_loss != pytest.approx(sum_loss, rel=1e-3)
    assert fm.loss_ == pytest.approx(2 * (mean_loss - reg) + reg, rel=1e-10)
    assert_same_predictions(fm, skm, X, Y)


def test_multioutput_squared_error_starts_like_sklearn():
    """The first iterate only depends on the gradient, which is the same."""
    Y = np.c_[TARGETS["squared_error"], X_DENSE[:, 2]]
    # before any step both hold sklearn's initial weights: max_fun=1 stops
    # scipy after the first evaluation
    skm, fm = make_pair("squared_error", hidden_layer_sizes=(5,), activation="tanh",
                        max_iter=1, max_fun=1, random_state=5)
    fit_quietly(skm, X_DENSE, Y)
    fit_quietly(fm, X_DENSE, Y)
    assert_same_weights(fm, skm, rtol=1e-12)
    # sklearn's loss is the mean over the 2 outputs, fastmlp's the sum
    reg = 0.5 * 1e-4 * sum((c**2).sum() for c in fm.coefs_) / N
    assert fm.loss_ - reg == pytest.approx(2 * (skm.loss_ - reg), rel=1e-10)


def test_warm_start_continues_like_sklearn():
    y = TARGETS["multiclass"]
    skm, fm = make_pair("multiclass", hidden_layer_sizes=(6,), activation="relu",
                        max_iter=3, random_state=4, warm_start=True)
    for _ in range(2):
        fit_quietly(skm, X_DENSE, y)
        fit_quietly(fm, X_DENSE, y)
    assert fm.n_iter_ == skm.n_iter_
    assert_same_weights(fm, skm, rtol=1e-6)


# ------------------------------------------------- (b) fitted attributes --


def _public_fitted(est):
    return {k for k in vars(est) if k.endswith("_") and not k.startswith("_")}


@pytest.mark.parametrize("task", TASKS + ["multioutput"])
def test_fitted_attributes_like_sklearn(task):
    y = np.c_[TARGETS["squared_error"], X_DENSE[:, 1]] if task == "multioutput" else TARGETS[task]
    skm, fm = make_pair(task, hidden_layer_sizes=(5, 4), max_iter=3, random_state=0)
    fit_quietly(skm, X_DENSE, y)
    fit_quietly(fm, X_DENSE, y)
    sk_attrs = _public_fitted(skm)
    assert sk_attrs <= _public_fitted(fm)
    # lbfgs records loss_curve_ in fastmlp (not in sklearn)
    assert _public_fitted(fm) - sk_attrs <= {"loss_curve_"}
    for name in sorted(sk_attrs):
        got, want = getattr(fm, name), getattr(skm, name)
        assert type(got) is type(want), name
        if isinstance(want, list):
            assert len(got) == len(want), name
            for g, w in zip(got, want):
                assert type(g) is type(w) and g.dtype == w.dtype and g.shape == w.shape, name
        elif isinstance(want, np.ndarray):
            assert got.dtype == want.dtype and got.shape == want.shape, name
            if name == "classes_":
                assert_array_equal(got, want)
        elif name not in ("loss_",):
            assert got == want, name
    assert fm.t_ == skm.t_ == 0
    assert fm.n_features_in_ == N_FEATURES
    assert fm.n_layers_ == 4
    assert not hasattr(fm, "feature_names_in_")
    assert all(isinstance(v, float) for v in fm.loss_curve_)
    assert fm.coefs_[0].flags.writeable


def test_feature_names_in_like_sklearn():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(X_DENSE, columns=[f"col{i}" for i in range(N_FEATURES)])
    skm, fm = make_pair("binary", hidden_layer_sizes=(3,), max_iter=3, random_state=0)
    fit_quietly(skm, df, TARGETS["binary"])
    fit_quietly(fm, df, TARGETS["binary"])
    assert_array_equal(fm.feature_names_in_, skm.feature_names_in_)
    assert fm.feature_names_in_.dtype == skm.feature_names_in_.dtype
    assert_array_equal(fm.predict(df), skm.predict(df))
    renamed = df.rename(columns={"col0": "other"})
    with pytest.raises(ValueError):
        skm.predict(renamed)
    with pytest.raises(ValueError):
        fm.predict(renamed)


@pytest.mark.parametrize("task", ["classifier", "squared_error"])
def test_parameters_like_sklearn(task):
    skm, fm = make_pair(task)
    skm, fm = type(skm)(), type(fm)()
    fm_params = fm.get_params()
    # dropout (issue 24), off by default: sklearn's results
    assert fm_params.pop("dropout") == 0.0
    if task == "classifier":
        # the one addition beyond sklearn (issue 4), default None = sklearn's results
        assert fm_params.pop("class_weight") is None
    else:
        # the robust losses' parameters (issue 24), unused by sklearn's losses
        assert (fm_params.pop("huber_delta"), fm_params.pop("quantile")) == (1.0, 0.5)
    assert fm_params == skm.get_params()
    c = clone(type(fm)(hidden_layer_sizes=(3, 2), alpha=0.5, solver="lbfgs"))
    assert c.get_params()["hidden_layer_sizes"] == (3, 2) and c.alpha == 0.5


# ------------------------------------------------ (c) ConvergenceWarning --


def _convergence_warnings(est, X, y, **kw):
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        est.fit(X, y, **kw)
    return [str(w.message) for w in rec if issubclass(w.category, ConvergenceWarning)]


@pytest.mark.parametrize(
    "params",
    [dict(max_iter=1), dict(max_iter=4), dict(max_iter=200, max_fun=5),
     dict(max_iter=500, tol=1e-3)],
    ids=["max_iter=1", "max_iter=4", "max_fun", "converges"],
)
def test_convergence_warning_like_sklearn(params):
    y = TARGETS["binary"]
    skm, fm = make_pair("binary", hidden_layer_sizes=(4,), activation="logistic",
                        random_state=0, **params)
    want = _convergence_warnings(skm, X_DENSE, y)
    got = _convergence_warnings(fm, X_DENSE, y)
    if "tol" in params:
        assert want == []  # the case where sklearn converges
    else:
        assert len(want) == 1
    assert got == want
    assert fm.n_iter_ == skm.n_iter_


# ------------------------------------------------------- (d) determinism --


def test_two_fits_identical():
    y = TARGETS["multiclass"]
    X = sp.csr_matrix(X_DENSE)
    _, a = make_pair("multiclass", hidden_layer_sizes=(8, 5), max_iter=10, random_state=7)
    b = clone(a)
    fit_quietly(a, X, y, sample_weight=SW)
    fit_quietly(b, X, y, sample_weight=SW)
    assert a.n_iter_ == b.n_iter_
    assert a.loss_ == b.loss_
    assert_array_equal(packed(a), packed(b))
    # refitting the same estimator starts over
    fit_quietly(a, X, y, sample_weight=SW)
    assert_array_equal(packed(a), packed(b))


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("task", ["multiclass", "squared_error"])
def test_one_and_two_threads_agree(task, sparse, monkeypatch):
    rng = np.random.RandomState(8)
    n = 400
    X = rng.randn(n, 5)
    y = rng.randint(0, 3, n) if task == "multiclass" else X[:, 0] - X[:, 1] ** 2
    X = sp.csr_matrix(X) if sparse else X

    threads = []
    make_workspace = fastmlp._base.make_workspace

    def spy(*args, **kw):
        ws = make_workspace(*args, **kw)
        threads.append(ws.n_threads)
        return ws

    monkeypatch.setattr(fastmlp._base, "make_workspace", spy)
    kw = dict(hidden_layer_sizes=(20,), activation="tanh", max_iter=5, random_state=0)
    with threadpool_limits(1, user_api="openmp"):
        one = fit_quietly(make_pair(task, **kw)[1], X, y)
    # two threads even where joblib counts one physical core
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    with threadpool_limits(2, user_api="openmp"):
        two = fit_quietly(make_pair(task, **kw)[1], X, y)
    assert threads == [1, 2]
    # enough work per evaluation for two threads
    assert n * packed(two).size >= MIN_PARALLEL_WORK
    assert one.n_iter_ == two.n_iter_ == 5
    assert two.loss_ == pytest.approx(one.loss_, rel=1e-10)
    assert_same_weights(two, one, rtol=1e-10)


# --------------------------------------------------------- (e) float32 --


@pytest.mark.parametrize("task", ["multiclass", "squared_error"])
def test_float32_lbfgs_follows_sklearn(task):
    """float32 X with L-BFGS, as sklearn with scipy >= 1.15: the loss is
    evaluated in float32 at scipy's iterate rounded to float32, and the final
    float64 iterate is the model. Both libraries round their float32 sums in
    their own order, so the trajectories agree to float32 precision for the
    first iterations (long fits drift apart, as sklearn's own float32 and
    float64 fits do)."""
    y = TARGETS[task]
    kw = dict(hidden_layer_sizes=(6,), activation="tanh", max_iter=10, tol=0,
              random_state=0)
    X32 = X_DENSE.astype(np.float32)
    skm, f32 = make_pair(task, **kw)
    _, f64 = make_pair(task, **kw)
    fit_quietly(skm, X32, y)
    fit_quietly(f32, X32, y)
    fit_quietly(f64, X32.astype(np.float64), y)
    assert all(a.dtype == np.float64 for a in f32.coefs_ + f32.intercepts_)
    assert f32.n_iter_ == skm.n_iter_ == 10
    assert f32.loss_ == pytest.approx(skm.loss_, rel=1e-5)
    # as a whole (single weights near zero carry float32's absolute rounding):
    # ~1e-6 here, the size of sklearn's own float32-to-float64 gap
    ours, theirs = packed(f32), packed(skm)
    assert np.linalg.norm(ours - theirs) <= 1e-5 * np.linalg.norm(theirs)
    # evaluated in float32: off the float64 fit of the same values by float32
    # rounding, far more than the float64 fit's own agreement with sklearn
    assert abs(f32.loss_ - f64.loss_) > 1e-12 * abs(f64.loss_)
    predict = f32.predict_proba if task == "multiclass" else f32.predict
    sk_predict = skm.predict_proba if task == "multiclass" else skm.predict
    assert predict(X32).dtype == np.float64
    assert_allclose(predict(X32), sk_predict(X32), rtol=1e-4, atol=1e-5)


def test_float32_refit_from_float64_weights_computes_in_float64():
    """warm_start after a float32 L-BFGS fit: sklearn's numpy promotes float32
    X against the float64 coefs_, so the second fit runs in float64; so does
    fastmlp's (equal to sklearn's to float64 precision)."""
    X32 = X_DENSE.astype(np.float32)
    y = TARGETS["multiclass"]
    kw = dict(hidden_layer_sizes=(6,), activation="tanh", max_iter=3, tol=0,
              random_state=0, warm_start=True)
    skm, fm = make_pair("multiclass", **kw)
    fit_quietly(skm, X32, y)
    fit_quietly(fm, X32, y)
    copy_weights(fm, skm)  # the same float64 starting point
    fit_quietly(skm, X32, y)
    fit_quietly(fm, X32, y)
    assert all(a.dtype == np.float64 for a in fm.coefs_ + fm.intercepts_)
    assert_same_weights(fm, skm, rtol=1e-9)


# ------------------------------------------------------- (f) bad input --


def _raised(fn):
    try:
        fn()
    except Exception as e:
        return e
    return None


def assert_same_error(call):
    """call(module) on sklearn and fastmlp: both raise, the same exception type."""
    want = _raised(lambda: call(sk))
    assert want is not None, "sklearn does not raise here"
    got = _raised(lambda: call(fastmlp))
    assert got is not None, f"fastmlp does not raise; sklearn raises {want!r}"
    assert type(got) is type(want), (got, want)
    return got


def _fit(module, X=X_DENSE, y=TARGETS["multiclass"], cls="MLPClassifier", **kw):
    params = dict(solver="lbfgs", max_iter=3, random_state=0)
    params.update(kw.pop("params", {}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return getattr(module, cls)(**params).fit(X, y, **kw)


_X_NAN = X_DENSE.copy()
_X_NAN[3, 2] = np.nan
_X_INF = X_DENSE.copy()
_X_INF[5, 1] = np.inf

BAD_FIT = {
    "nan in X": dict(X=_X_NAN),
    "inf in X": dict(X=_X_INF),
    "-inf in X": dict(X=-_X_INF),
    "nan in X regressor": dict(X=_X_NAN, y=TARGETS["squared_error"], cls="MLPRegressor"),
    "nan in sparse X": dict(X=sp.csr_matrix(_X_NAN)),
    "nan in y regressor": dict(y=np.r_[np.nan, TARGETS["squared_error"][1:]], cls="MLPRegressor"),
    "empty X": dict(X=np.empty((0, N_FEATURES)), y=np.empty(0)),
    "empty X regressor": dict(X=np.empty((0, N_FEATURES)), y=np.empty(0), cls="MLPRegressor"),
    "no features": dict(X=np.empty((N, 0))),
    "1-D X": dict(X=X_DENSE[:, 0]),
    "3-D X": dict(X=X_DENSE[:, :, None]),
    "complex X": dict(X=X_DENSE + 1j),
    "string X": dict(X=np.full((N, N_FEATURES), "a", dtype=object)),
    "y length": dict(y=TARGETS["multiclass"][:-1]),
    "continuous y classifier": dict(y=TARGETS["squared_error"]),
    "mixed str/int labels": dict(
        X=X_DENSE[:4], y=np.array(["a", 1, "b", 2], dtype=object)),
    # (with a '<U1' array sklearn fails later, inside NumPy, with a TypeError;
    # fastmlp's ValueError up front is kept: not tested)
    "string y regressor": dict(y=np.array(["a", "b"] * (N // 2), dtype=object),
                               cls="MLPRegressor"),
    "sample_weight length": dict(sample_weight=np.ones(N - 1)),
    "sample_weight 2-D": dict(sample_weight=np.ones((N, 1))),
    "nan sample_weight": dict(sample_weight=np.r_[np.nan, np.ones(N - 1)]),
    "all-zero sample_weight": dict(sample_weight=np.zeros(N)),
    "hidden_layer_sizes=0": dict(params=dict(hidden_layer_sizes=0)),
    "hidden_layer_sizes=-1": dict(params=dict(hidden_layer_sizes=-1)),
    "hidden_layer_sizes=(3, 0)": dict(params=dict(hidden_layer_sizes=(3, 0))),
    "hidden_layer_sizes=(4, -2)": dict(params=dict(hidden_layer_sizes=(4, -2))),
    "hidden_layer_sizes=1.5": dict(params=dict(hidden_layer_sizes=1.5)),
    "activation=foo": dict(params=dict(activation="foo")),
    "activation=softmax": dict(params=dict(activation="softmax")),
    "solver=foo": dict(params=dict(solver="foo")),
    "alpha=-1": dict(params=dict(alpha=-1)),
    "alpha=str": dict(params=dict(alpha="0.1")),
    "max_iter=0": dict(params=dict(max_iter=0)),
    "max_iter=2.5": dict(params=dict(max_iter=2.5)),
    "tol=-1": dict(params=dict(tol=-1.0)),
    "max_fun=0": dict(params=dict(max_fun=0)),
    "loss=foo regressor": dict(params=dict(loss="foo"), y=TARGETS["squared_error"],
                               cls="MLPRegressor"),
    "loss=log_loss regressor": dict(params=dict(loss="log_loss"),
                                    y=TARGETS["squared_error"], cls="MLPRegressor"),
    "random_state=str": dict(params=dict(random_state="x")),
}


@pytest.mark.parametrize("case", list(BAD_FIT))
def test_bad_fit_input_like_sklearn(case):
    assert_same_error(lambda m: _fit(m, **BAD_FIT[case]))


BAD_PREDICT = {
    "nan": lambda est: est.predict(_X_NAN),
    "inf": lambda est: est.predict(_X_INF),
    "nan proba": lambda est: est.predict_proba(_X_NAN),
    "too few features": lambda est: est.predict(X_DENSE[:, :-1]),
    "too many features": lambda est: est.predict(np.c_[X_DENSE, X_DENSE[:, 0]]),
    "too few features proba": lambda est: est.predict_proba(X_DENSE[:, :-1]),
    "too few features sparse": lambda est: est.predict(sp.csr_matrix(X_DENSE[:, :-1])),
    "too few features score": lambda est: est.score(X_DENSE[:, :-1], TARGETS["multiclass"]),
    "empty": lambda est: est.predict(np.empty((0, N_FEATURES))),
    "1-D": lambda est: est.predict(X_DENSE[0]),
    "complex": lambda est: est.predict(X_DENSE + 1j),
}


@pytest.mark.parametrize("case", list(BAD_PREDICT))
def test_bad_predict_input_like_sklearn(case):
    fitted = {sk: _fit(sk), fastmlp: _fit(fastmlp)}
    assert_same_error(lambda m: BAD_PREDICT[case](fitted[m]))


@pytest.mark.parametrize(
    "method", ["predict", "predict_proba", "predict_log_proba", "score", "regressor"]
)
def test_unfitted_raises_not_fitted(method):
    if method == "regressor":
        call = lambda m: m.MLPRegressor().predict(X_DENSE)
    elif method == "score":
        call = lambda m: m.MLPClassifier().score(X_DENSE, TARGETS["binary"])
    else:
        call = lambda m: getattr(m.MLPClassifier(), method)(X_DENSE)
    err = assert_same_error(call)
    assert isinstance(err, NotFittedError)


def _assert_same_model_outputs(skm, fm, X):
    """Two models fitted the same way (weights agreeing to ~1e-6)."""
    if hasattr(skm, "predict_proba"):
        assert_array_equal(fm.predict(X), skm.predict(X))
        assert_allclose(fm.predict_proba(X), skm.predict_proba(X), rtol=1e-6, atol=1e-9)
    else:
        assert_allclose(fm.predict(X), skm.predict(X), rtol=1e-6, atol=1e-9)


def test_single_class_like_sklearn():
    y = np.full(N, 7)
    skm, fm = make_pair("binary", hidden_layer_sizes=(3,), max_iter=5, random_state=0)
    fit_quietly(skm, X_DENSE, y)
    fit_quietly(fm, X_DENSE, y)
    assert_array_equal(fm.classes_, skm.classes_)
    assert fm.out_activation_ == skm.out_activation_
    assert_same_weights(fm, skm, rtol=1e-6)
    _assert_same_model_outputs(skm, fm, X_DENSE)


def _assert_same_outputs_both_sides_of_threshold(skm, fm, X, y):
    """Predictions, probabilities and score of two models that hold the same
    weights, as fitted and with the output unit pushed far above and far
    below 0.5 (a single-class model predicts its class either way)."""
    for bias in (None, 10.0, -10.0):
        if bias is not None:
            for m in (skm, fm):
                m.intercepts_[-1] = np.full_like(m.intercepts_[-1], bias)
        pred, want = fm.predict(X), skm.predict(X)
        assert_array_equal(pred, want)
        assert pred.dtype == want.dtype
        for method in ("predict_proba", "predict_log_proba"):
            got, want = getattr(fm, method)(X), getattr(skm, method)(X)
            assert got.shape == want.shape
            assert_allclose(got, want, rtol=1e-6, atol=1e-9)
        assert fm.score(X, y) == skm.score(X, y)


_ONE_CLASS = {"int": np.full(N, 7), "str": np.full(N, "spam"), "bool": np.ones(N, bool)}


@pytest.mark.parametrize(
    "params",
    [
        {"solver": "lbfgs"},
        {"solver": "adam"},
        {"solver": "sgd", "early_stopping": True},
        {"solver": "adam", "early_stopping": True, "validation_fraction": 0.3},
    ],
    ids=["lbfgs", "adam", "sgd early stopping", "adam early stopping"],
)
@pytest.mark.parametrize("labels", list(_ONE_CLASS))
def test_fit_on_one_class_predicts_it_like_sklearn(labels, params):
    y = _ONE_CLASS[labels]
    skm, fm = make_pair("classifier", hidden_layer_sizes=(3,), max_iter=5, random_state=0,
                        **params)
    fit_quietly(skm, X_DENSE, y)
    fit_quietly(fm, X_DENSE, y)
    assert_array_equal(fm.classes_, skm.classes_)
    assert fm.classes_.dtype == skm.classes_.dtype
    assert_same_weights(fm, skm, rtol=1e-6, floor="array")
    if params.get("early_stopping"):
        assert_allclose(fm.validation_scores_, skm.validation_scores_)
    _assert_same_outputs_both_sides_of_threshold(skm, fm, X_DENSE, y)


@pytest.mark.parametrize(
    "classes",
    [[7], [7, 9], [3, 7, 9], ["spam"], ["eggs", "spam"], ["eggs", "ham", "spam"]],
    ids=["1 int", "2 int", "3 int", "1 str", "2 str", "3 str"],
)
def test_partial_fit_on_one_class_like_sklearn(classes):
    # the one class seen; classes of length 2 give one logistic output,
    # of length 3 a softmax
    y = np.full(N, 7) if isinstance(classes[0], int) else np.full(N, "spam")
    skm, fm = make_pair("classifier", solver="adam", hidden_layer_sizes=(3,), random_state=0)
    for m in (skm, fm):
        m.partial_fit(X_DENSE, y, classes=classes)
        m.partial_fit(X_DENSE, y)
    assert_array_equal(fm.classes_, skm.classes_)
    assert fm.out_activation_ == skm.out_activation_
    assert_same_weights(fm, skm, rtol=1e-6, floor="array")
    _assert_same_outputs_both_sides_of_threshold(skm, fm, X_DENSE, y)


@pytest.mark.parametrize(
    "labels",
    [
        np.array(["cat", "dog", "fish"])[TARGETS["multiclass"]],
        np.array(["no", "yes"])[TARGETS["binary"]],
        np.array(["b", "a", "c"], dtype=object)[TARGETS["multiclass"]],
        list(np.array(["x", "7", "y"])[TARGETS["multiclass"]]),
        # a list mixing str and int: numpy makes it all str, in both
        [("a" if v == 0 else int(v)) for v in TARGETS["multiclass"]],
        TARGETS["multiclass"] * 2.0 - 1,  # integer-valued float labels
        TARGETS["binary"].astype(bool),
    ],
    ids=["str", "str binary", "object str", "list str", "list mixed", "float", "bool"],
)
def test_labels_like_sklearn(labels):
    skm, fm = make_pair("classifier", hidden_layer_sizes=(5,), max_iter=5, random_state=0)
    fit_quietly(skm, X_DENSE, labels)
    fit_quietly(fm, X_DENSE, labels)
    assert_array_equal(fm.classes_, skm.classes_)
    assert fm.classes_.dtype == skm.classes_.dtype
    assert_same_weights(fm, skm, rtol=1e-6)
    pred = fm.predict(X_DENSE)
    assert pred.dtype == skm.predict(X_DENSE).dtype
    _assert_same_model_outputs(skm, fm, X_DENSE)
    assert fm.score(X_DENSE, labels) == skm.score(X_DENSE, labels)


def _variants():
    wide = np.zeros((N, 2 * N_FEATURES))
    wide[:, ::2] = X_DENSE
    rows = np.zeros((2 * N, N_FEATURES))
    rows[::2] = X_DENSE
    Xi = np.round(X_DENSE * 3).astype(np.int64)
    return {
        "C": X_DENSE,
        "non-contiguous columns": wide[:, ::2],
        "non-contiguous rows": rows[::2],
        "Fortran": np.asfortranarray(X_DENSE),
        "list": X_DENSE.tolist(),
        "int64": Xi,
        "int32": Xi.astype(np.int32),
        "float32": X_DENSE.astype(np.float32),
        "csr": sp.csr_matrix(X_DENSE),
        "csc": sp.csc_matrix(X_DENSE),
        "coo": sp.coo_matrix(X_DENSE),
        "csr int64 indices": _csr64(X_DENSE),
        "csr unsorted indices": _csr_unsorted(X_DENSE),
    }


def _csr64(X):
    m = sp.csr_matrix(X)
    m.indices = m.indices.astype(np.int64)
    m.indptr = m.indptr.astype(np.int64)
    return m


def _csr_unsorted(X):
    m = sp.csr_matrix(X)
    for a, b in zip(m.indptr[:-1], m.indptr[1:]):
        m.indices[a:b] = m.indices[a:b][::-1].copy()
        m.data[a:b] = m.data[a:b][::-1].copy()
    m.has_sorted_indices = False
    assert not m.has_sorted_indices
    return m


_VARIANTS = _variants()


@pytest.mark.parametrize("variant", list(_VARIANTS))
@pytest.mark.parametrize("task", ["multiclass", "squared_error"])
def test_input_variants_like_sklearn(task, variant):
    X = _VARIANTS[variant]
    y = TARGETS[task]
    skm, fm = make_pair(task, hidden_layer_sizes=(5,), activation="tanh", max_iter=5,
                        random_state=0)
    fit_quietly(skm, X, y)
    fit_quietly(fm, X, y)
    assert fm.n_iter_ == skm.n_iter_
    if variant == "float32":
        # both evaluate in float32 and hand back float64 coefficients
        assert fm.coefs_[0].dtype == skm.coefs_[0].dtype == np.float64
        assert_same_weights(fm, skm, rtol=1e-4)
        tol = dict(rtol=1e-3, atol=1e-4)
    else:
        assert_same_weights(fm, skm, rtol=1e-6)
        tol = dict(rtol=1e-6, atol=1e-9)
    # predictions on the variant itself, on a C-ordered float64 copy and on
    # float32 data (the output dtype follows sklearn's too)
    for Xp in (X, _VARIANTS["C"], _VARIANTS["float32"]):
        if task == "multiclass":
            assert_array_equal(fm.predict(Xp), skm.predict(Xp))
            got, want = fm.predict_proba(Xp), skm.predict_proba(Xp)
        else:
            got, want = fm.predict(Xp), skm.predict(Xp)
        if variant != "float32":
            assert got.dtype == want.dtype
        assert_allclose(got, want, **tol)


@pytest.mark.parametrize(
    "task, params, fit_params",
    [
        ("multiclass", dict(hidden_layer_sizes=()), {}),  # no hidden layer
        ("multiclass", dict(hidden_layer_sizes=[5, 3]), {}),
        ("multiclass", dict(hidden_layer_sizes=np.array([4])), {}),
        ("multiclass", dict(hidden_layer_sizes=4, alpha=0.0), {}),
        ("multiclass", {}, dict(sample_weight=list(SW))),
        ("multiclass", {}, dict(sample_weight=2)),
        ("multiclass", {}, dict(sample_weight=np.arange(N) % 3)),  # int, some zero
        ("binary", {}, dict(y=np.where(TARGETS["binary"] > 0, 5, -3))),
        ("squared_error", {}, dict(y=np.round(TARGETS["squared_error"]).astype(int))),
        ("squared_error", {}, dict(y=TARGETS["squared_error"].astype(np.float32))),
        ("squared_error", dict(hidden_layer_sizes=(3,)), dict(y=TARGETS["squared_error"][:, None])),
        ("poisson", {}, dict(y=np.zeros(N))),
        ("multiclass", dict(max_fun=3), {}),
        ("squared_error", {}, dict(X=X_DENSE[:1], y=[1.0])),  # one sample
    ],
)
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.DataConversionWarning")
def test_more_input_forms_like_sklearn(task, params, fit_params):
    fit_params = dict(fit_params)
    X = fit_params.pop("X", X_DENSE)
    y = fit_params.pop("y", TARGETS[task])
    skm, fm = make_pair(task, max_iter=5, random_state=0, **params)
    fit_quietly(skm, X, y, **fit_params)
    fit_quietly(fm, X, y, **fit_params)
    assert fm.n_iter_ == skm.n_iter_
    assert fm.n_layers_ == skm.n_layers_
    assert_same_weights(fm, skm, rtol=1e-6)
    assert fm.loss_ == pytest.approx(skm.loss_, rel=1e-8)
    _assert_same_model_outputs(skm, fm, X_DENSE)


def test_y_column_vector_warns_like_sklearn():
    from sklearn.exceptions import DataConversionWarning

    y = TARGETS["multiclass"][:, None]
    skm, fm = make_pair("multiclass", hidden_layer_sizes=(3,), max_iter=2, random_state=0)
    with pytest.warns(DataConversionWarning):
        fit_quietly(skm, X_DENSE, y)
    with pytest.warns(DataConversionWarning):
        fit_quietly(fm, X_DENSE, y)
    assert_same_weights(fm, skm, rtol=1e-6)


@pytest.mark.parametrize(
    "y",
    [
        np.array([3, 1, 2, 1, 3, 0, 2]),
        np.array(["b", "a", "c", "a", "c", "b", "b"], dtype=object),
        np.array([5.0, -1.0, 2.0, 5.0, 2.0, -1.0, 7.0]),
        np.array([[2], [0], [1], [1], [0], [2], [2]]),
        np.array([1, 0, 1, 1, 0, 0, 1]),  # binary: transform's single column
        np.array([[1, 0], [0, 1], [1, 1], [0, 0], [1, 0], [0, 1], [1, 1]]),  # multilabel
    ],
)
def test_binarized_targets_are_the_label_binarizers(y):
    # the fit path one-hot encodes multiclass targets itself; it must give
    # exactly LabelBinarizer.transform's matrix (as bool), for every label type
    from sklearn.preprocessing import LabelBinarizer

    X = np.arange(14, dtype=float).reshape(7, 2)
    clf = fastmlp.MLPClassifier()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # column y: DataConversionWarning
        _, Y = clf._validate_input(X, y, incremental=False, reset=True)
        y1 = y.ravel() if y.ndim == 2 and y.shape[1] == 1 else y
        expected = LabelBinarizer().fit(y1).transform(y1).astype(bool)
    assert Y.dtype == bool
    assert_array_equal(Y, expected)
    assert_array_equal(clf.classes_, LabelBinarizer().fit(y1).classes_)


@pytest.mark.parametrize("sizes", [(3.5,), (3.0,), (True,), (4, np.float64(2.0)), (np.True_,)])
def test_non_integer_hidden_layer_sizes_refused_as_by_sklearn(sizes):
    X, y = X_DENSE, TARGETS["multiclass"]
    errors = []
    for make in (fastmlp.MLPClassifier, sk.MLPClassifier):
        with pytest.raises(TypeError) as info:
            make(hidden_layer_sizes=sizes, solver="lbfgs", max_iter=2).fit(X, y)
        errors.append(str(info.value))
    assert errors[0] == errors[1]


def test_keyboard_interrupt_during_lbfgs_keeps_the_last_accepted_iterate():
    import _thread
    import threading

    rng = np.random.RandomState(0)
    X, y = rng.randn(30000, 40), rng.randint(0, 4, 30000)
    kw = dict(hidden_layer_sizes=(64,), solver="lbfgs", max_iter=500, tol=0,
              random_state=0)
    m = fastmlp.MLPClassifier(**kw)
    timer = threading.Timer(0.5, _thread.interrupt_main)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            m.fit(X, y)
    finally:
        timer.cancel()
        timer.join()
    assert 0 < m.n_iter_ < 500 and len(m.loss_curve_) == m.n_iter_
    # the iterate after n_iter_ iterations, to the bit (not a line-search trial)
    ref = fastmlp.MLPClassifier(**dict(kw, max_iter=m.n_iter_))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref.fit(X, y)
    for a, b in zip(m.coefs_ + m.intercepts_, ref.coefs_ + ref.intercepts_):
        np.testing.assert_array_equal(a, b)
    assert m.loss_ == ref.loss_


def test_hundreds_of_hidden_layers_as_sklearn():
    # the layer tables are sized from the network (a fixed cap refused more
    # than 254 hidden layers, which sklearn fits)
    X, y = X_DENSE, TARGETS["squared_error"]
    kw = dict(hidden_layer_sizes=(3,) * 300, activation="tanh", solver="lbfgs",
              max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = fastmlp.MLPRegressor(**kw).fit(X, y)
        theirs = sk.MLPRegressor(**kw).fit(X, y)
    assert len(ours.coefs_) == 301
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-7, atol=1e-12)


@pytest.mark.parametrize("activation", ["identity", "relu", "tanh", "logistic"])
def test_saturated_logistic_outputs_follow_sklearns_trajectory(activation):
    # unscaled digits with a binary target saturate the logistic output: the
    # log-loss is sklearn's, from p rounded and clipped in the dtype (it used
    # to be the exact log(1 - p): loss_ 2e-6 and weights 9e-7 apart after 5
    # L-BFGS iterations with identity hidden layers)
    X, y = load_digits(return_X_y=True)
    y = (y >= 5).astype(int)
    for max_iter in (1, 5):
        kw = dict(hidden_layer_sizes=(16,), activation=activation, solver="lbfgs",
                  max_iter=max_iter, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            ours = fastmlp.MLPClassifier(**kw).fit(X, y)
            theirs = sk.MLPClassifier(**kw).fit(X, y)
        assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-12)
        assert_same_weights(ours, theirs, rtol=1e-11, floor="network")
