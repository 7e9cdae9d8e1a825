"""The estimators' options beyond scikit-learn (issue 24): more activations,
one activation per hidden layer, and MLPRegressor's absolute_error, huber and
quantile losses; their validation, their losses against the NumPy reference,
CSR input, pickling and the refusal of to_sklearn."""

import pickle

import numpy as np
import pytest
import reference as ref
import scipy.sparse as sp
from shared_helpers import fit_quietly, packed
from sklearn.utils._param_validation import InvalidParameterError

import fastmlp

NEW_ACTIVATIONS = ["gelu", "silu", "leaky_relu", "elu", "softplus"]
NEW_LOSSES = ["absolute_error", "huber", "quantile"]

_rng = np.random.RandomState(0)
N, NF = 160, 5
X = _rng.randn(N, NF)
X[_rng.rand(N, NF) < 0.4] = 0
Y = X[:, 0] - X[:, 1] * X[:, 2] + 0.3 * _rng.standard_t(2, N)
Y_CLASS = (X[:, 0] + X[:, 3] > 0).astype(int) + (X[:, 1] > 0.5)


def _param(est):
    return {"huber": est.huber_delta, "quantile": est.quantile}.get(est.loss)


def _reference_loss(est, X, y, alpha):
    """The objective at the model's weights, from tests/reference.py."""
    units = [X.shape[1], *[c.shape[1] for c in est.coefs_]]
    saved = dict(ref.LOSS_PARAMS)
    try:
        if _param(est) is not None:
            ref.LOSS_PARAMS[est.loss] = _param(est)
        loss, _ = ref.loss_grad(packed(est), units, X, y.reshape(len(y), -1), None, alpha,
                                est.activation, est.loss, np.finfo(np.float64).eps)
    finally:
        ref.LOSS_PARAMS.clear()
        ref.LOSS_PARAMS.update(saved)
    return loss


# ---------------------------------------------------------- validation --


@pytest.mark.parametrize("Est", [fastmlp.MLPClassifier, fastmlp.MLPRegressor])
@pytest.mark.parametrize("kw, match", [
    (dict(activation="swish"), "'activation' parameter"),
    (dict(activation=["relu", "swish"], hidden_layer_sizes=(3, 3)), "'activation' parameter"),
    (dict(activation=["relu", 3], hidden_layer_sizes=(3, 3)), "'activation' parameter"),
    (dict(activation=["relu", "gelu", "elu"], hidden_layer_sizes=(3, 3)),
     "3 names for 2 hidden layers"),
    (dict(activation=["relu"], hidden_layer_sizes=(3, 3)), "1 names for 2 hidden layers"),
    (dict(activation=[], hidden_layer_sizes=(3,)), "0 names for 1 hidden layers"),
])
def test_bad_activations(Est, kw, match):
    y = Y if Est is fastmlp.MLPRegressor else Y_CLASS
    with pytest.raises(InvalidParameterError, match=match):
        Est(max_iter=1, **kw).fit(X, y)


@pytest.mark.parametrize("kw, match", [
    (dict(loss="pinball"), "'loss' parameter"),
    (dict(loss="huber", huber_delta=0.0), "'huber_delta' parameter"),
    (dict(loss="huber", huber_delta=-1.0), "'huber_delta' parameter"),
    (dict(loss="quantile", quantile=0.0), "'quantile' parameter"),
    (dict(loss="quantile", quantile=1.0), "'quantile' parameter"),
    (dict(loss="quantile", quantile=1.5), "'quantile' parameter"),
    (dict(quantile="half"), "'quantile' parameter"),
])
def test_bad_regression_losses(kw, match):
    with pytest.raises(InvalidParameterError, match=match):
        fastmlp.MLPRegressor(max_iter=1, **kw).fit(X, Y)


# ------------------------------------------------- per-layer activations --


@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
@pytest.mark.parametrize("name", ["logistic", "tanh", "gelu"])
def test_one_name_per_layer_equals_the_string(name, solver):
    kw = dict(hidden_layer_sizes=(7, 5), solver=solver, max_iter=5, random_state=0)
    one = fit_quietly(fastmlp.MLPClassifier(activation=name, **kw), X, Y_CLASS)
    for names in ([name, name], (name, name)):
        each = fit_quietly(fastmlp.MLPClassifier(activation=names, **kw), X, Y_CLASS)
        np.testing.assert_array_equal(packed(each), packed(one))
        np.testing.assert_array_equal(each.predict_proba(X), one.predict_proba(X))


def test_per_layer_activations_apply_layer_by_layer():
    """Each hidden layer gets its own function: the reference with that list
    gives the model's predictions and loss, and swapping the list changes
    the fit."""
    kw = dict(hidden_layer_sizes=(6, 4), solver="lbfgs", max_iter=20, random_state=0,
              alpha=1e-3)
    est = fit_quietly(fastmlp.MLPRegressor(activation=["logistic", "elu"], **kw), X, Y)
    units = [NF, 6, 4, 1]
    np.testing.assert_allclose(
        est.predict(X), ref.forward(packed(est), units, X, ["logistic", "elu"], "identity")[:, 0],
        rtol=1e-12, atol=1e-12)
    assert est.loss_ == pytest.approx(_reference_loss(est, X, Y, 1e-3), rel=1e-10)
    swapped = fit_quietly(fastmlp.MLPRegressor(activation=["elu", "logistic"], **kw), X, Y)
    assert not np.allclose(packed(swapped), packed(est))
    # Glorot's factor follows the layer's activation (2 for logistic, as sklearn)
    first = fastmlp.MLPRegressor(activation=["logistic", "elu"], **{**kw, "max_iter": 1})
    assert first._glorot_factor(0) == 2.0 and first._glorot_factor(1) == 6.0
    assert first._glorot_factor(2) == 6.0


# -------------------------------------------------------------- losses --


@pytest.mark.parametrize("loss", NEW_LOSSES)
def test_lbfgs_loss_is_the_objective_at_the_weights(loss):
    est = fit_quietly(fastmlp.MLPRegressor(
        loss=loss, hidden_layer_sizes=(8,), solver="lbfgs", max_iter=15, alpha=1e-3,
        random_state=0, huber_delta=0.7, quantile=0.2), X, Y)
    assert est.loss_ == pytest.approx(_reference_loss(est, X, Y, 1e-3), rel=1e-10)
    assert len(est.loss_curve_) == est.n_iter_
    assert est.loss_curve_[-1] == est.loss_


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("loss", NEW_LOSSES)
def test_stochastic_loss_curve_is_the_objective(loss, solver):
    """One full-batch epoch with a step too small to move a weight: the
    recorded loss is the objective at those weights."""
    est = fit_quietly(fastmlp.MLPRegressor(
        loss=loss, hidden_layer_sizes=(8,), solver=solver, max_iter=1, batch_size=N,
        shuffle=False, alpha=1e-3, learning_rate_init=1e-300, random_state=0,
        quantile=0.7), X, Y)
    assert est.loss_curve_[0] == pytest.approx(_reference_loss(est, X, Y, 1e-3), rel=1e-10)


@pytest.mark.parametrize("solver", ["lbfgs", "sgd", "adam"])
@pytest.mark.parametrize("loss", NEW_LOSSES)
def test_losses_train_with_every_solver(loss, solver):
    est = fastmlp.MLPRegressor(loss=loss, hidden_layer_sizes=(16,), solver=solver,
                               max_iter=60, random_state=0, learning_rate_init=0.01)
    fit_quietly(est, X, Y)
    assert est.loss_curve_[-1] < est.loss_curve_[0]
    assert np.isfinite(est.predict(X)).all()


@pytest.mark.parametrize("q", [0.1, 0.5, 0.9])
def test_quantile_loss_fits_the_quantile(q):
    """The pinball loss does its job: about a fraction q of the targets lie
    at or below the fitted values (a model of the conditional q-quantile)."""
    rng = np.random.RandomState(3)
    Xq = rng.uniform(-2, 2, (2000, 1))
    yq = np.sin(Xq[:, 0]) + rng.randn(2000) * (0.3 + 0.2 * np.abs(Xq[:, 0]))
    est = fit_quietly(fastmlp.MLPRegressor(
        loss="quantile", quantile=q, hidden_layer_sizes=(16,), solver="lbfgs",
        max_iter=300, random_state=0), Xq, yq)
    assert np.mean(yq <= est.predict(Xq)) == pytest.approx(q, abs=0.03)


def test_absolute_and_huber_losses_resist_outliers():
    """A few huge targets pull the squared error's fit far more than the
    absolute error's or Huber's, measured on the clean rows."""
    rng = np.random.RandomState(4)
    Xo = rng.uniform(-2, 2, (600, 1))
    clean = 2 * Xo[:, 0] + 0.1 * rng.randn(600)
    yo = clean.copy()
    yo[rng.rand(600) < 0.05] += 200
    kw = dict(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=300, random_state=0)
    err = {}
    for loss in ("squared_error", "absolute_error", "huber"):
        est = fit_quietly(fastmlp.MLPRegressor(loss=loss, **kw), Xo, yo)
        err[loss] = np.median(np.abs(est.predict(Xo) - clean))
    assert err["absolute_error"] < err["squared_error"] / 5
    assert err["huber"] < err["squared_error"] / 5


# --------------------------------------------------- input, pickles, interop --


@pytest.mark.parametrize("kw", [
    dict(activation="gelu"), dict(activation="silu", loss="huber"),
    dict(activation=["softplus", "leaky_relu"], hidden_layer_sizes=(6, 5), loss="quantile"),
    dict(activation="elu", loss="absolute_error"),
])
def test_csr_equals_dense(kw):
    kw = dict(dict(hidden_layer_sizes=(7,), solver="lbfgs", max_iter=10, random_state=0), **kw)
    dense = fit_quietly(fastmlp.MLPRegressor(**kw), X, Y)
    csr = fit_quietly(fastmlp.MLPRegressor(**kw), sp.csr_matrix(X), Y)
    np.testing.assert_allclose(packed(csr), packed(dense), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(csr.predict(sp.csr_matrix(X)), dense.predict(X), rtol=1e-9,
                               atol=1e-12)


@pytest.mark.parametrize("kw", [
    dict(activation=["gelu", "elu"], hidden_layer_sizes=(5, 4), loss="huber",
         huber_delta=0.3),
    dict(activation="softplus", loss="quantile", quantile=0.8, solver="adam"),
])
def test_pickles_round_trip(kw):
    est = fit_quietly(fastmlp.MLPRegressor(max_iter=5, random_state=0, **kw), X, Y)
    back = pickle.loads(pickle.dumps(est))
    assert back.get_params() == est.get_params()
    np.testing.assert_array_equal(back.predict(X), est.predict(X))
    np.testing.assert_array_equal(packed(back), packed(est))
    if est.solver != "lbfgs":  # training goes on where it stopped
        est.partial_fit(X, Y)
        back.partial_fit(X, Y)
        np.testing.assert_array_equal(packed(back), packed(est))


@pytest.mark.parametrize("kw, feature", [
    (dict(activation="gelu"), "the 'gelu' activation"),
    (dict(activation=["relu", "relu"], hidden_layer_sizes=(3, 3)), "per-layer activations"),
    (dict(loss="huber"), "the 'huber' loss"),
    (dict(loss="quantile"), "the 'quantile' loss"),
    (dict(loss="absolute_error"), "the 'absolute_error' loss"),
])
def test_to_sklearn_refuses_what_sklearn_cannot_represent(kw, feature):
    est = fit_quietly(fastmlp.MLPRegressor(max_iter=2, random_state=0, **kw), X, Y)
    with pytest.raises(ValueError, match=feature):
        est.to_sklearn()
    if "loss" not in kw:
        clf = fit_quietly(fastmlp.MLPClassifier(max_iter=2, random_state=0, **kw), X,
                          Y_CLASS)
        with pytest.raises(ValueError, match=feature):
            clf.to_sklearn()


@pytest.mark.parametrize("kw", [
    dict(activation="gelu"), dict(activation="silu"), dict(activation="leaky_relu"),
    dict(activation="elu"), dict(activation="softplus"),
    dict(activation=["gelu", "softplus"], hidden_layer_sizes=(20, 10)),
    dict(loss="absolute_error"), dict(loss="huber"), dict(loss="quantile", quantile=0.3),
])
def test_one_two_and_three_threads_agree(kw, monkeypatch):
    """As the sklearn activations do (test_multilayer_perceptron): the same fit
    on 1, 2 and 3 OpenMP threads, equal to rounding."""
    from threadpoolctl import threadpool_limits

    import fastmlp._base

    rng = np.random.RandomState(8)
    n = 400
    Xt = rng.randn(n, 5)
    yt = Xt[:, 0] - Xt[:, 1] ** 2 + 0.2 * rng.randn(n)
    threads = []
    make_workspace = fastmlp._base.make_workspace

    def spy(*args, **kwargs):
        ws = make_workspace(*args, **kwargs)
        threads.append(ws.n_threads)
        return ws

    monkeypatch.setattr(fastmlp._base, "make_workspace", spy)
    kw = dict(dict(hidden_layer_sizes=(20,), solver="lbfgs", max_iter=5, random_state=0), **kw)
    fits = []
    for t in (1, 2, 3):
        monkeypatch.setenv("OMP_NUM_THREADS", str(t))
        with threadpool_limits(t, user_api="openmp"):
            fits.append(fit_quietly(fastmlp.MLPRegressor(**kw), Xt, yt))
    assert threads == [1, 2, 3]
    for other in fits[1:]:
        assert other.n_iter_ == fits[0].n_iter_ == 5
        assert other.loss_ == pytest.approx(fits[0].loss_, rel=1e-10)
        np.testing.assert_allclose(packed(other), packed(fits[0]), rtol=1e-9, atol=1e-12)
