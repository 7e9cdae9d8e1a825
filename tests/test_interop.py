"""class_weight, pickling across versions, to_sklearn / from_sklearn and ONNX."""

import pathlib
import pickle
import re
import warnings

import joblib
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning, InconsistentVersionWarning
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.neural_network import MLPRegressor as SkMLPRegressor

from fastmlp import MLPClassifier, MLPRegressor
from fastmlp._model_io import FastmlpVersionWarning

DATA = pathlib.Path(__file__).parent / "data"

X_DIGITS, Y_DIGITS = load_digits(return_X_y=True)
X = X_DIGITS[:400] / 16.0
Y = Y_DIGITS[:400]


def _fit(est, X, y, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y, **kw)


# ------------------------------------------------------------ class_weight --


def test_class_weight_none_and_ones_change_nothing():
    base = _fit(MLPClassifier((8,), solver="lbfgs", max_iter=10, random_state=0), X, Y)
    ones = _fit(
        MLPClassifier((8,), solver="lbfgs", max_iter=10, random_state=0,
                      class_weight={c: 1.0 for c in range(10)}), X, Y)
    for a, b in zip(base.coefs_ + base.intercepts_, ones.coefs_ + ones.intercepts_):
        assert_array_equal(a, b)


@pytest.mark.parametrize("class_weight", ["balanced", {0: 5.0, 3: 0.5}])
def test_class_weight_is_sample_weight(class_weight):
    """class_weight multiplies sample_weight, as on sklearn's other classifiers."""
    from sklearn.utils.class_weight import compute_sample_weight

    y = Y % 4
    sw = np.random.RandomState(0).uniform(0.5, 2.0, len(y))
    a = _fit(MLPClassifier((8,), solver="lbfgs", max_iter=10, random_state=0,
                           class_weight=class_weight), X, y, sample_weight=sw)
    if class_weight == "balanced":
        cw = compute_sample_weight("balanced", y)
    else:
        cw = np.array([class_weight.get(c, 1.0) for c in y])
    b = _fit(MLPClassifier((8,), solver="lbfgs", max_iter=10, random_state=0),
             X, y, sample_weight=sw * cw)
    for u, v in zip(a.coefs_, b.coefs_):
        assert_allclose(u, v, rtol=1e-12, atol=1e-14)
    plain = _fit(MLPClassifier((8,), solver="lbfgs", max_iter=10, random_state=0),
                 X, y, sample_weight=sw)
    assert not np.allclose(plain.coefs_[0], a.coefs_[0])


def test_class_weight_balanced_helps_the_minority_class():
    rng = np.random.RandomState(0)
    n_major, n_minor = 400, 20
    Xi = np.vstack([rng.normal(0, 1, (n_major, 2)), rng.normal(1.5, 1, (n_minor, 2))])
    yi = np.r_[np.zeros(n_major, int), np.ones(n_minor, int)]
    plain = _fit(MLPClassifier((8,), solver="lbfgs", max_iter=200, random_state=0), Xi, yi)
    bal = _fit(MLPClassifier((8,), solver="lbfgs", max_iter=200, random_state=0,
                             class_weight="balanced"), Xi, yi)
    recall = lambda m: (m.predict(Xi[yi == 1]) == 1).mean()
    assert recall(bal) > recall(plain)


def test_class_weight_invalid_and_partial_fit():
    with pytest.raises(ValueError):
        MLPClassifier(class_weight="heavy").fit(X, Y)
    with pytest.raises(ValueError, match="balanced"):
        MLPClassifier(solver="sgd", class_weight="balanced").partial_fit(
            X, Y, classes=np.arange(10))


# ---------------------------------------------------------------- pickling --


@pytest.mark.parametrize("Est", [MLPClassifier, MLPRegressor])
def test_pickle_and_joblib_round_trip_bit_identical(Est, tmp_path):
    est = _fit(Est(hidden_layer_sizes=(7,), solver="lbfgs", max_iter=15, random_state=0),
               X, Y)
    pred = est.predict(X)
    again = pickle.loads(pickle.dumps(est))
    assert_array_equal(again.predict(X), pred)
    joblib.dump(est, tmp_path / "m.joblib")
    loaded = joblib.load(tmp_path / "m.joblib")
    assert_array_equal(loaded.predict(X), pred)
    if hasattr(est, "predict_proba"):
        assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))


def test_unpickling_from_another_version_warns():
    est = _fit(MLPClassifier((5,), solver="lbfgs", max_iter=5, random_state=0), X, Y)
    state = est.__getstate__()
    assert "_fastmlp_version" in state
    state["_fastmlp_version"] = "0.0.0-other"
    clone_ = MLPClassifier.__new__(MLPClassifier)
    with pytest.warns(InconsistentVersionWarning, match="fastmlp version 0.0.0-other"):
        clone_.__setstate__(state)
    assert_array_equal(clone_.predict(X), est.predict(X))
    with warnings.catch_warnings():
        warnings.simplefilter("error", InconsistentVersionWarning)
        pickle.loads(pickle.dumps(est))  # same version: silent


@pytest.mark.parametrize(
    "name", ["mlpclassifier_lbfgs_0_1_0.pkl", "mlpregressor_adam_0_1_0.pkl"]
)
def test_fastmlp_0_1_0_pickles_load_and_predict_the_same(name):
    """Pickles written by fastmlp 0.1.0 (tests/data/make_pickles_0_1_0.py:
    class path fastmlp._estimators, adam's state fastmlp._stochastic) load
    with the version warning and predict what they predicted then."""
    with open(DATA / name, "rb") as f, pytest.warns(
        FastmlpVersionWarning, match="from fastmlp version 0.1.0 when using"
    ):
        model, X_check, expected = pickle.load(f)
    assert type(model) in (MLPClassifier, MLPRegressor)
    if isinstance(model, MLPClassifier):
        assert_array_equal(model.predict_proba(X_check), expected)
    else:
        assert_array_equal(model.predict(X_check), expected)
        # adam's state came along: partial_fit goes on from it
        t = model._optimizer.t
        assert t > 0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.partial_fit(X_check, expected)
        assert model._optimizer.t > t
    # pickled again, it is this version's: silent
    with warnings.catch_warnings():
        warnings.simplefilter("error", InconsistentVersionWarning)
        pickle.loads(pickle.dumps(model))


# ---------------------------------------------------- to/from scikit-learn --


@pytest.mark.parametrize("task", ["multiclass", "binary", "multilabel", "regression"])
def test_to_and_from_sklearn_identical_predictions(task):
    y = {"multiclass": Y, "binary": Y % 2,
         "multilabel": np.c_[Y % 2, Y % 3 == 0], "regression": Y / 10.0}[task]
    Est, SkEst = (MLPRegressor, SkMLPRegressor) if task == "regression" else (
        MLPClassifier, SkMLPClassifier)
    est = _fit(Est(hidden_layer_sizes=(6,), solver="lbfgs", max_iter=20, random_state=0),
               X, y)
    sk = est.to_sklearn()
    assert type(sk) is SkEst
    # fastmlp's parameters beyond sklearn's stay behind
    assert sk.get_params() == {k: v for k, v in est.get_params().items()
                               if k not in ("class_weight", "huber_delta", "quantile", "dropout")}
    if task != "regression":
        assert_array_equal(sk.predict(X), est.predict(X))
        assert_allclose(sk.predict_proba(X), est.predict_proba(X), rtol=1e-12, atol=1e-15)
    else:  # same weights, numpy's vs our summation order: equal to rounding
        assert_allclose(sk.predict(X), est.predict(X), rtol=1e-12, atol=1e-12)
    back = Est.from_sklearn(sk)
    assert type(back) is Est
    assert_array_equal(back.predict(X), est.predict(X))
    # the copies are independent of each other
    sk.coefs_[0][...] = 0
    assert not np.all(back.coefs_[0] == 0)


def test_from_sklearn_rejects_other_models():
    with pytest.raises(TypeError):
        MLPClassifier.from_sklearn(SkMLPRegressor())
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        MLPClassifier.from_sklearn(SkMLPClassifier())


class MyClassifier(MLPClassifier):
    """A user's subclass: converts as MLPClassifier does."""


class MyRegressor(MLPRegressor):
    pass


@pytest.mark.parametrize(
    "Est, SkEst", [(MyClassifier, SkMLPClassifier), (MyRegressor, SkMLPRegressor)]
)
def test_from_and_to_sklearn_with_a_subclass(Est, SkEst):
    y = Y if SkEst is SkMLPClassifier else Y / 10.0
    sk = _fit(SkEst(hidden_layer_sizes=(6,), solver="lbfgs", max_iter=20,
                    random_state=0), X, y)
    est = Est.from_sklearn(sk)
    assert type(est) is Est
    # same weights; predictions equal up to the order of the sums
    assert_allclose(est.predict(X), sk.predict(X), rtol=1e-12)
    back = est.to_sklearn()
    assert type(back) is SkEst
    assert_array_equal(back.predict(X), sk.predict(X))
    # the other kind is refused, with the right class named
    other = SkMLPRegressor if SkEst is SkMLPClassifier else SkMLPClassifier
    other = _fit(other(hidden_layer_sizes=(6,), solver="lbfgs", max_iter=5,
                       random_state=0), X, Y)
    expected = f"expects a fitted sklearn.neural_network.{SkEst.__name__}"
    with pytest.raises(TypeError, match=re.escape(expected)):
        Est.from_sklearn(other)


# -------------------------------------------------------------------- ONNX --


@pytest.mark.parametrize("activation", [
    "tanh", "gelu", "silu", "leaky_relu", "elu", "softplus", ["softplus", "gelu"],
], ids=str)
@pytest.mark.parametrize("task", ["multiclass", "binary", "regression"])
def test_onnx_export_matches_predict_proba(task, activation):
    pytest.importorskip("skl2onnx")
    ort = pytest.importorskip("onnxruntime")
    from skl2onnx import to_onnx

    import fastmlp.onnx  # noqa: F401  (registers the converters)

    Xf = X.astype(np.float32)
    y = {"multiclass": Y, "binary": Y % 2, "regression": Y / 10.0}[task]
    Est = MLPRegressor if task == "regression" else MLPClassifier
    hidden = (9,) if isinstance(activation, str) else (9, 7)
    est = _fit(Est(hidden_layer_sizes=hidden, activation=activation, solver="lbfgs",
                   max_iter=30, random_state=0), Xf, y)
    options = None if task == "regression" else {id(est): {"zipmap": False}}
    onx = to_onnx(est, Xf[:1], options=options)
    sess = ort.InferenceSession(onx.SerializeToString(),
                                providers=["CPUExecutionProvider"])
    outputs = sess.run(None, {sess.get_inputs()[0].name: Xf})
    if task == "regression":
        assert_allclose(outputs[0].ravel(), est.predict(Xf), rtol=1e-5, atol=1e-5)
    else:
        assert_array_equal(outputs[0], est.predict(Xf))
        assert_allclose(outputs[1], est.predict_proba(Xf), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_partial_fit_continues_across_conversions(solver):
    # the optimizer's state (moments, velocities, t, learning rate) goes
    # across both ways: one more partial_fit gives the other library's result
    # (it used to restart the optimizer: 3.8e-4 apart)
    X, y = load_digits(return_X_y=True)
    X = X[:300] / 16.0
    y = y[:300]
    kw = dict(hidden_layer_sizes=(20,), solver=solver, random_state=0,
              learning_rate_init=0.01)
    sk = SkMLPClassifier(**kw)
    for _ in range(3):
        sk.partial_fit(X, y, classes=np.arange(10))
    fm = MLPClassifier.from_sklearn(sk)
    sk.partial_fit(X, y)
    fm.partial_fit(X, y)
    for a, b in zip(fm.coefs_ + fm.intercepts_, sk.coefs_ + sk.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    # and back: fastmlp's state as sklearn's optimizer
    back = fm.to_sklearn()
    back.partial_fit(X, y)
    fm.partial_fit(X, y)
    for a, b in zip(fm.coefs_ + fm.intercepts_, back.coefs_ + back.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
