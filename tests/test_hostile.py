"""Divergence and hostile values: fastmlp ends exactly as scikit-learn does.

A fit on data or settings that blow the optimisation up must end the way
sklearn's ends on the same input: sklearn's ValueError ("Solver produced
non-finite parameter weights...") where sklearn raises it, and otherwise the
same finite weights, the same n_iter_ and a loss_ that is NaN exactly when
sklearn's is (L-BFGS stops at a non-finite objective and keeps its last
finite iterate). Never NaN or infinite weights kept silently.
"""

import warnings

import numpy as np
import pytest
import sklearn.neural_network as sk
from numpy.testing import assert_allclose
from shared_helpers import packed

import fastmlp

N = 40
_rng = np.random.RandomState(0)
X = _rng.randn(N, 3)
Y_CLASS = _rng.randint(0, 3, N)
Y_BINARY = _rng.randint(0, 2, N)
Y_REG = X[:, 0] + 0.1 * _rng.randn(N)
Y_COUNTS = _rng.poisson(np.exp(0.5 * X[:, 0])).astype(float)

NON_FINITE = "Solver produced non-finite parameter weights"


def _outcome(module, cls, X, y, fit_kw=None, **params):
    """("error", type, message) or ("ok", fitted estimator)."""
    params = dict(random_state=0, **params)
    est = getattr(module, cls)(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with np.errstate(all="ignore"):
            try:
                est.fit(X, y, **(fit_kw or {}))
            except Exception as e:
                return ("error", type(e), str(e), est)
    return ("ok", est)


def assert_ends_like_sklearn(cls, X, y, fit_kw=None, rtol=1e-6, **params):
    want = _outcome(sk, cls, X, y, fit_kw, **params)
    got = _outcome(fastmlp, cls, X, y, fit_kw, **params)
    if want[0] == "error":
        assert got[0] == "error", f"sklearn raises {want[1].__name__}: {want[2]}"
        assert got[1] is want[1]
        assert got[2] == want[2]
        return want, got
    assert got[0] == "ok", f"fastmlp raises {got[1].__name__}: {got[2]}; sklearn fits"
    skm, fm = want[1], got[1]
    w = packed(fm)
    assert np.isfinite(w).all(), "non-finite weights kept silently"
    assert fm.n_iter_ == skm.n_iter_
    assert np.isnan(fm.loss_) == np.isnan(skm.loss_), (fm.loss_, skm.loss_)
    if np.isfinite(skm.loss_):
        assert fm.loss_ == pytest.approx(skm.loss_, rel=rtol)
    ws = packed(skm)
    assert_allclose(w, ws, rtol=rtol, atol=rtol * np.abs(ws).max())
    return want, got


# ------------------------------------------------------------- L-BFGS --

LBFGS = dict(solver="lbfgs", max_iter=15)


@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic"])
@pytest.mark.parametrize("scale", [1e30, 1e155, 1e200, 1e300])
@pytest.mark.parametrize("cls, y", [("MLPClassifier", Y_CLASS), ("MLPClassifier", Y_BINARY),
                                    ("MLPRegressor", Y_REG)], ids=["multiclass", "binary",
                                                                   "regression"])
def test_lbfgs_huge_inputs_end_like_sklearn(cls, y, scale, activation):
    """X * 1e30 .. 1e300: the objective overflows (or saturates); L-BFGS keeps
    the last finite iterate, loss_ is NaN where sklearn's is."""
    assert_ends_like_sklearn(cls, X * scale, y, activation=activation, **LBFGS)


@pytest.mark.parametrize("scale", [1e100, 1e200, 1e300])
def test_lbfgs_huge_targets_end_like_sklearn(scale):
    assert_ends_like_sklearn("MLPRegressor", X, Y_REG * scale, **LBFGS)


@pytest.mark.parametrize("alpha", [1e100, 1e200, 1e300])
@pytest.mark.parametrize("cls, y", [("MLPClassifier", Y_CLASS), ("MLPRegressor", Y_REG)],
                         ids=["classifier", "regressor"])
def test_lbfgs_huge_alpha_ends_like_sklearn(cls, y, alpha):
    assert_ends_like_sklearn(cls, X, y, alpha=alpha, **LBFGS)


@pytest.mark.parametrize("scale", [1e3, 1e100, 1e300])
def test_lbfgs_poisson_huge_inputs_end_like_sklearn(scale):
    """exp output: exp(1e300 * w) overflows to inf in both."""
    assert_ends_like_sklearn("MLPRegressor", X * scale, Y_COUNTS * 1e3, loss="poisson",
                             **LBFGS)


def test_lbfgs_huge_sample_weights_end_like_sklearn():
    sw = np.full(N, 1e300)
    assert_ends_like_sklearn("MLPClassifier", X, Y_CLASS, dict(sample_weight=sw), **LBFGS)
    sw = _rng.uniform(0, 1, N)
    sw[0] = 1e305  # the weighted sums overflow
    assert_ends_like_sklearn("MLPRegressor", X, Y_REG, dict(sample_weight=sw), **LBFGS)


def test_lbfgs_subnormal_inputs_like_sklearn():
    """Subnormal X: the first layer contributes (almost) nothing; a normal fit."""
    Xs = X * 1e-310
    assert np.all(np.abs(Xs[Xs != 0]) < np.finfo(np.float64).tiny)
    assert_ends_like_sklearn("MLPClassifier", Xs, Y_CLASS, **LBFGS)
    assert_ends_like_sklearn("MLPRegressor", Xs, Y_REG, **LBFGS)


# sklearn's MLPRegressor trains on a NaN loss for negative Poisson targets
# (xlogy(y, y/p) is NaN for y < 0); fastmlp refuses them up front, as sklearn's
# PoissonRegressor does, instead of returning a model with loss_ = NaN.
@pytest.mark.parametrize("solver", ["lbfgs", "sgd", "adam"])
def test_poisson_negative_targets_refused(solver):
    from fastmlp import MLPRegressor

    with pytest.raises(ValueError, match="negative"):
        MLPRegressor(loss="poisson", solver=solver, max_iter=5).fit(X, Y_REG - Y_REG.max() - 1)


# ---------------------------------------------------- stochastic solvers --


@pytest.mark.parametrize(
    "cls, Xs, y, params",
    [
        ("MLPRegressor", X, Y_REG, dict(solver="sgd", learning_rate_init=1e10)),
        ("MLPClassifier", X, Y_CLASS, dict(solver="sgd", learning_rate_init=1e10)),
        ("MLPRegressor", X, Y_REG, dict(solver="sgd", momentum=1.0, learning_rate_init=1e3)),
        ("MLPRegressor", X * 1e200, Y_REG, dict(solver="sgd")),
        ("MLPClassifier", X * 1e200, Y_CLASS, dict(solver="sgd")),
        ("MLPRegressor", X * 1e30, Y_REG, dict(solver="sgd")),
        ("MLPClassifier", X, Y_CLASS, dict(solver="sgd", alpha=1e300)),
        ("MLPRegressor", X, Y_REG, dict(solver="adam", learning_rate_init=1e10)),
        ("MLPRegressor", X * 1e200, Y_REG, dict(solver="adam")),
        ("MLPClassifier", X * 1e200, Y_CLASS, dict(solver="adam")),
    ],
    ids=["sgd lr=1e10 regressor", "sgd lr=1e10 classifier", "sgd momentum=1 lr=1e3",
         "sgd X*1e200 regressor", "sgd X*1e200 classifier", "sgd X*1e30 regressor",
         "sgd alpha=1e300", "adam lr=1e10", "adam X*1e200 regressor",
         "adam X*1e200 classifier"],
)
def test_stochastic_divergence_like_sklearn(cls, Xs, y, params):
    """sklearn's ValueError where sklearn raises it (and only there); the
    same finite, huge weights where it does not."""
    want, got = assert_ends_like_sklearn(cls, Xs, y, max_iter=5, rtol=1e-5, **params)
    if got[0] == "error":
        assert NON_FINITE in got[2]


def test_sgd_divergence_raises_in_partial_fit_like_sklearn():
    def run(module):
        est = module.MLPRegressor(solver="sgd", learning_rate_init=1e10, random_state=0)
        errors = []
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            for _ in range(6):
                try:
                    est.partial_fit(X, Y_REG)
                except ValueError as e:
                    errors.append(str(e))
                    break
        return errors

    want = run(sk)
    assert want and NON_FINITE in want[0]
    assert run(fastmlp) == want


def test_diverged_fit_is_not_a_usable_model():
    """After sklearn's ValueError nothing non-finite is handed out silently:
    a refit on sane data works again."""
    est = fastmlp.MLPRegressor(solver="sgd", learning_rate_init=1e10, max_iter=5,
                               random_state=0)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match=NON_FINITE):
            est.fit(X, Y_REG)
        est.set_params(learning_rate_init=1e-3, solver="lbfgs")
        est.fit(X, Y_REG)
    assert np.isfinite(packed(est)).all()
    assert np.isfinite(est.predict(X)).all()


# ------------------------------------------------------ hostile predict --


@pytest.mark.parametrize("scale", [1e30, 1e200, 1e300])
@pytest.mark.parametrize("task", ["multiclass", "binary", "regression", "poisson"])
def test_predict_on_huge_inputs_like_sklearn(task, scale):
    """A sane model predicting on huge X: saturated probabilities, huge or
    infinite regression outputs; the same as sklearn's, never a crash."""
    cls, y, extra = {
        "multiclass": ("MLPClassifier", Y_CLASS, {}),
        "binary": ("MLPClassifier", Y_BINARY, {}),
        "regression": ("MLPRegressor", Y_REG, {}),
        "poisson": ("MLPRegressor", Y_COUNTS, dict(loss="poisson")),
    }[task]
    (_, skm), (_, fm) = assert_ends_like_sklearn(cls, X, y, hidden_layer_sizes=(8,),
                                                 activation="tanh", **extra, **LBFGS)
    Xh = X * scale
    with np.errstate(all="ignore"):
        if cls == "MLPClassifier":
            np.testing.assert_array_equal(fm.predict(Xh), skm.predict(Xh))
            got, want = fm.predict_proba(Xh), skm.predict_proba(Xh)
        else:
            got, want = fm.predict(Xh), skm.predict(Xh)
    np.testing.assert_array_equal(np.isfinite(got), np.isfinite(want))
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    fin = np.isfinite(want)
    # probabilities that underflow: fastmlp's exp floor is ~1e-308, not 0
    assert_allclose(got[fin], want[fin], rtol=1e-5, atol=1e-300)
