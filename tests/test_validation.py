"""A validation set for every solver (issue 23): fit(..., X_val, y_val,
sample_weight_val), validation_loss_curve_ / validation_scores_ per epoch or
L-BFGS iteration, early stopping on the given set (L-BFGS too, restoring the
best iterate), and bad validation input leaving the model as it was."""

import pickle
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn.neural_network._multilayer_perceptron as sk_mlp
from numpy.testing import assert_allclose, assert_array_equal
from reference import loss_grad
from shared_helpers import assert_same_weights, fit_quietly, packed
from sklearn.datasets import load_digits
from sklearn.metrics import accuracy_score, r2_score
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.neural_network import MLPRegressor as SkMLPRegressor
from sklearn.preprocessing import LabelBinarizer
from test_callbacks import Recorder

from fastmlp import MLPClassifier, MLPRegressor
from fastmlp._labels import validation_targets
from fastmlp._objective import softmax_figures
from fastmlp._validation import check_validation_set

X_DIG, Y_DIG = load_digits(return_X_y=True)
X_DIG = X_DIG / 16.0
X_TR, Y_TR = X_DIG[:400], Y_DIG[:400]
X_VA, Y_VA = X_DIG[400:520], Y_DIG[400:520]
R_TR = X_TR[:, 20] - 0.5 * X_TR[:, 30] + 0.3 * X_TR[:, 43]
R_VA = X_VA[:, 20] - 0.5 * X_VA[:, 30] + 0.3 * X_VA[:, 43]
SW_VA = np.random.RandomState(1).uniform(0.2, 3.0, len(Y_VA))
SOLVERS = ["lbfgs", "adam", "sgd"]


def _params(solver, **kw):
    params = dict(hidden_layer_sizes=(12,), solver=solver, max_iter=8, random_state=0)
    if solver != "lbfgs":
        params["learning_rate_init"] = 0.01
    return dict(params, **kw)


def _data(Est):
    if Est is MLPClassifier:
        return X_TR, Y_TR, X_VA, Y_VA
    return X_TR, R_TR, X_VA, R_VA


# ------------------------------------------- validation only observes --


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("Est", [MLPClassifier, MLPRegressor])
@pytest.mark.parametrize("sparse", [False, True])
def test_a_validation_set_does_not_change_the_training(solver, Est, sparse):
    X, y, Xv, yv = _data(Est)
    if sparse:
        X, Xv = sp.csr_matrix(X), sp.csr_matrix(Xv)
    plain = fit_quietly(Est(**_params(solver)), X, y)
    watched = fit_quietly(Est(**_params(solver)), X, y, X_val=Xv, y_val=yv,
                          sample_weight_val=SW_VA)
    assert_same_weights(watched, plain)
    assert watched.loss_curve_ == plain.loss_curve_
    assert watched.n_iter_ == plain.n_iter_ == 8
    assert len(watched.validation_loss_curve_) == len(watched.validation_scores_) == 8
    assert watched.best_validation_score_ == max(watched.validation_scores_)
    assert not hasattr(plain, "validation_loss_curve_")


def test_no_validation_attributes_left_from_an_earlier_fit():
    est = fit_quietly(MLPClassifier(**_params("lbfgs")), X_TR, Y_TR, X_val=X_VA, y_val=Y_VA)
    assert len(est.validation_scores_) == 8
    fit_quietly(est, X_TR, Y_TR)
    for name in ("validation_loss_curve_", "validation_scores_", "best_validation_score_"):
        assert not hasattr(est, name)


# ------------------------------------- the curves against NumPy -------


def _expected_figures(est, snapshots, Xv, yv, sw):
    """(loss, score) per step from the weights a callback recorded, in NumPy."""
    units = [est.coefs_[0].shape[0]] + [c.shape[1] for c in est.coefs_]
    if isinstance(est, MLPClassifier):
        lb = LabelBinarizer().fit(est.classes_)
        Y = lb.transform(yv).astype(float)
        output = est.out_activation_
    else:
        Y = yv.reshape(len(yv), -1)
        output = est.out_activation_ if est.loss in ("squared_error", "poisson") else est.loss
    losses, scores = [], []
    for snap in snapshots:
        weights = snap[3]
        params = np.concatenate([w.ravel() for w in weights])
        loss, _ = loss_grad(params, units, Xv, Y, sw, 0.0, est.activation, output,
                            np.finfo(np.float64).eps)
        losses.append(loss)
        n = len(weights) // 2
        A = Xv
        for i, (W, b) in enumerate(zip(weights[:n], weights[n:])):
            A = A @ W + b
            if i < n - 1:
                A = np.maximum(A, 0)
        if isinstance(est, MLPClassifier):
            pred = est.classes_[np.argmax(A, axis=1)]
            scores.append(accuracy_score(yv, pred, sample_weight=sw))
        else:
            scores.append(r2_score(yv, A.ravel(), sample_weight=sw))
    return losses, scores


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("Est, loss", [(MLPClassifier, None), (MLPRegressor, "squared_error"),
                                       (MLPRegressor, "huber")])
@pytest.mark.parametrize("weighted", [False, True])
def test_validation_loss_curve_against_numpy(solver, Est, loss, weighted):
    X, y, Xv, yv = _data(Est)
    sw = SW_VA if weighted else None
    kw = {} if loss is None else {"loss": loss}
    if loss == "huber":
        kw["huber_delta"] = 0.8  # the reference's
    cb = Recorder()
    est = fit_quietly(Est(**_params(solver, **kw)).set_callbacks(cb), X, y,
                      X_val=Xv, y_val=yv, sample_weight_val=sw)
    assert len(cb.snapshots) == est.n_iter_ == 8
    losses, scores = _expected_figures(est, cb.snapshots, Xv, yv, sw)
    assert_allclose(est.validation_loss_curve_, losses, rtol=1e-12, atol=1e-12)
    assert_allclose(est.validation_scores_, scores, rtol=1e-12, atol=1e-12)
    # no L2 term: the validation loss on the training rows is below loss_
    assert all(v > 0 for v in est.validation_loss_curve_)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("max_iter", [1, 30])
def test_softmax_figures_equal_the_general_ones_bit_for_bit(dtype, weighted, max_iter):
    # the multiclass shortcut, which early stopping's split takes too, must
    # not move a score (n_iter_ and the kept weights follow it)
    est = fit_quietly(MLPClassifier(**_params("adam", max_iter=max_iter)),
                      X_TR.astype(dtype), Y_TR)
    vset = check_validation_set(est, X_VA.astype(dtype), Y_VA, SW_VA if weighted else None,
                                SimpleNamespace(dtype=np.dtype(dtype), n_outputs=10))
    assert vset.columns is not None
    shortcut = vset.evaluate(est)
    vset.columns = None
    general = vset.evaluate(est)
    # the score exactly (early stopping compares it); the unweighted loss is
    # summed in another order
    assert shortcut[1] == general[1]
    if weighted:
        assert shortcut[0] == general[0]
    else:
        assert_allclose(shortcut[0], general[0], rtol=1e-14)
    assert type(shortcut[0]) is float and type(shortcut[1]) is float


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_softmax_figures_against_numpy(dtype):
    rng = np.random.default_rng(0)
    out = rng.dirichlet(np.ones(4), size=50).astype(dtype)
    out[3] = [0.5, 0.5, 0, 0]  # a tie: the first largest
    out[4] = [0.2, np.nan, 0.3, np.nan]  # NaN: np.argmax's first NaN
    out[5] = [np.nan, 0.1, 0.2, 0.7]
    out[6] = [1.0, 0, 0, 0]  # clipped to 1 - eps, and to eps
    columns = rng.integers(0, 4, 50)
    columns[3:7] = [1, 1, 3, 1]
    loss, hits = softmax_figures(out, columns)
    eps = np.finfo(np.float64).eps
    p = np.clip(out[np.arange(50), columns].astype(np.float64), eps, 1 - eps)
    assert hits == np.count_nonzero(np.argmax(out, axis=1) == columns)
    finite = ~np.isnan(p)
    assert np.isnan(loss) and not finite.all()
    loss_finite, _ = softmax_figures(out[finite], columns[finite])
    assert_allclose(loss_finite, -np.log(p[finite]).sum(), rtol=1e-14)
    with pytest.raises(ValueError, match="columns"):
        softmax_figures(out, np.full(50, 4))
    with pytest.raises(ValueError, match="columns"):
        softmax_figures(out, columns[:-1])


@pytest.mark.parametrize("y, y_val", [
    (Y_TR, Y_VA), (Y_TR % 2, Y_VA % 2), (np.full(5, 7), np.full(3, 7)),
    (np.array(["b", "a", "c"] * 3), np.array(["c", "a"])),
    (np.array([1.0, 2.0, 4.0] * 3), np.array([4, 1, 1])),
])
def test_validation_targets_equal_label_binarizer(y, y_val):
    est = SimpleNamespace(_label_binarizer=LabelBinarizer().fit(y))
    est.classes_ = est._label_binarizer.classes_
    labels, Y = validation_targets(est, y_val)
    assert_array_equal(labels, y_val)
    expected = est._label_binarizer.transform(y_val)
    assert Y.shape == expected.shape and Y.dtype == expected.dtype
    assert_array_equal(Y, expected)


# ------------------------ sgd/adam early stopping against sklearn's ----


def _fixed_split(n_train):
    """sklearn's train_test_split replaced by one that hands back the first
    n_train rows for training and the rest for validation, drawing nothing."""
    def split(*arrays, random_state=None, test_size=None, stratify=None):
        out = []
        for a in arrays:
            out += [a[:n_train], a[n_train:]]
        return out
    return split


@pytest.mark.parametrize("solver", ["adam", "sgd"])
@pytest.mark.parametrize("Sk, Est", [(SkMLPClassifier, MLPClassifier),
                                     (SkMLPRegressor, MLPRegressor)])
@pytest.mark.parametrize("weighted", [False, True])
def test_early_stopping_on_a_given_set_equals_sklearns(monkeypatch, solver, Sk, Est,
                                                       weighted):
    X, y, Xv, yv = _data(Est)
    sw = np.random.RandomState(2).uniform(0.5, 2.0, len(y)) if weighted else None
    swv = SW_VA if weighted else None
    params = _params(solver, early_stopping=True, max_iter=60, n_iter_no_change=3,
                     tol=1e-2)
    est = fit_quietly(Est(**params), X, y, sample_weight=sw, X_val=Xv, y_val=yv,
                      sample_weight_val=swv)
    monkeypatch.setattr(sk_mlp, "train_test_split", _fixed_split(len(y)))
    X_all, y_all = np.vstack([X, Xv]), np.concatenate([y, yv])
    sw_all = None if sw is None else np.concatenate([sw, swv])
    sk = fit_quietly(Sk(**params), X_all, y_all, sample_weight=sw_all)
    assert est.n_iter_ == sk.n_iter_ < 60
    assert est.best_validation_score_ == pytest.approx(sk.best_validation_score_, abs=1e-12)
    assert_allclose(est.validation_scores_, sk.validation_scores_, rtol=1e-12, atol=1e-12)
    assert_same_weights(est, sk, 1e-12, floor="array")


def test_early_stopping_on_a_given_set_holds_out_no_rows():
    params = _params("adam", early_stopping=True, max_iter=40)
    est = fit_quietly(MLPClassifier(**params), X_TR, Y_TR, X_val=X_VA, y_val=Y_VA)
    assert est.t_ == est.n_iter_ * len(Y_TR)


# --------------------------------------------- L-BFGS early stopping ---


@pytest.mark.parametrize("Est", [MLPClassifier, MLPRegressor])
def test_lbfgs_early_stopping_keeps_the_best_iterate(Est):
    rng = np.random.RandomState(0)
    # few noisy training rows and a wide network: the validation score peaks
    # early, then falls as the fit learns the noise
    X = rng.randn(60, 10)
    Xv = rng.randn(300, 10)
    if Est is MLPClassifier:
        y = (X[:, 0] + 1.5 * rng.randn(60) > 0).astype(int)
        yv = (Xv[:, 0] > 0).astype(int)
    else:
        y = X[:, 0] + 1.5 * rng.randn(60)
        yv = Xv[:, 0]
    params = dict(hidden_layer_sizes=(100,), solver="lbfgs", max_iter=300, random_state=0,
                  alpha=1e-6, early_stopping=True, n_iter_no_change=5, tol=1e-4)
    cb = Recorder()
    est = fit_quietly(Est(**params).set_callbacks(cb), X, y, X_val=Xv, y_val=yv)
    scores = est.validation_scores_
    best = int(np.argmax(scores))
    assert est.n_iter_ == len(scores) < 300
    assert best < est.n_iter_ - 1
    assert est.best_validation_score_ == scores[best]
    for w, v in zip(cb.snapshots[best][3], est.coefs_ + est.intercepts_, strict=True):
        assert_array_equal(w, v)
    # the last iterate is another one: the stop restored the best
    assert not np.array_equal(np.concatenate([w.ravel() for w in cb.snapshots[-1][3]]),
                              packed(est))
    # the fit stopped after that many iterations predicts the same
    at_best = fit_quietly(Est(**params).set_params(early_stopping=False, max_iter=best + 1),
                          X, y)
    assert_array_equal(est.predict(Xv), at_best.predict(Xv))


def test_lbfgs_early_stopping_without_a_set_is_ignored_as_in_sklearn():
    params = _params("lbfgs", early_stopping=True)
    est = fit_quietly(MLPClassifier(**params), X_TR, Y_TR)
    sk = fit_quietly(SkMLPClassifier(**params), X_TR, Y_TR)
    assert_same_weights(est, sk, 1e-10)
    assert not hasattr(est, "validation_scores_")


# ------------------------------------------------------- bad input -----


@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
@pytest.mark.parametrize("kwargs, match", [
    (dict(X_val=X_VA[:, :10], y_val=Y_VA), "features"),
    (dict(X_val=X_VA, y_val=np.where(Y_VA == 3, 42, Y_VA)), "classes not in y"),
    (dict(X_val=np.where(X_VA > 0.9, np.nan, X_VA), y_val=Y_VA), "NaN"),
    (dict(X_val=X_VA, y_val=Y_VA, sample_weight_val=SW_VA[:-1]), "sample_weight"),
    (dict(X_val=X_VA, y_val=Y_VA[:-1]), "inconsistent numbers of samples"),
    (dict(X_val=X_VA), "y_val was not provided"),
    (dict(y_val=Y_VA), "X_val was not provided"),
    (dict(sample_weight_val=SW_VA), "X_val and y_val were not provided"),
    (dict(X_val=X_VA, y_val=Y_VA, sample_weight_val=0 * SW_VA), "non-zero"),
])
def test_bad_validation_input_leaves_the_model_as_it_was(solver, kwargs, match):
    est = fit_quietly(MLPClassifier(**_params(solver)), X_DIG[:300], Y_DIG[:300] % 5)
    before = pickle.dumps(est)
    with pytest.raises(ValueError, match=match):
        est.fit(X_TR, Y_TR, **kwargs)
    assert pickle.dumps(est) == before


def test_validation_feature_names_are_checked():
    pd = pytest.importorskip("pandas")
    cols = [f"f{i}" for i in range(64)]
    est = MLPClassifier(**_params("lbfgs"))
    with pytest.raises(ValueError, match="feature names"):
        fit_quietly(est, pd.DataFrame(X_TR, columns=cols), Y_TR,
                    X_val=pd.DataFrame(X_VA, columns=cols[::-1]), y_val=Y_VA)


def test_regressor_validation_outputs_must_match():
    with pytest.raises(ValueError, match="output"):
        fit_quietly(MLPRegressor(**_params("adam")), X_TR, R_TR, X_val=X_VA,
                    y_val=np.c_[R_VA, R_VA])


# ------------------------------------- verbose, callbacks, interop ----


@pytest.mark.parametrize("solver", SOLVERS)
def test_verbose_prints_the_validation_figures(capsys, solver):
    fit_quietly(MLPClassifier(**_params(solver, verbose=True, max_iter=3)), X_TR, Y_TR,
                X_val=X_VA, y_val=Y_VA)
    out = capsys.readouterr().out
    assert out.count("Validation loss = ") == 3


@pytest.mark.parametrize("solver", SOLVERS)
def test_callbacks_see_the_validation_figures(solver):
    class Figures(Recorder):
        def on_fit_task_end(self, estimator, context, *, fitted_estimator=None, **kw):
            if fitted_estimator is not None and context.task_name != "fit":
                self.snapshots.append(list(fitted_estimator.validation_loss_curve_))

    cb = Figures()
    est = fit_quietly(MLPClassifier(**_params(solver)).set_callbacks(cb), X_TR, Y_TR,
                      X_val=X_VA, y_val=Y_VA)
    assert cb.snapshots == [est.validation_loss_curve_[:k + 1] for k in range(8)]


def test_to_sklearn_keeps_the_validation_scores():
    est = fit_quietly(MLPClassifier(**_params("adam", early_stopping=True)), X_TR, Y_TR,
                      X_val=X_VA, y_val=Y_VA)
    sk = est.to_sklearn()
    assert sk.validation_scores_ == est.validation_scores_
    assert sk.best_validation_score_ == est.best_validation_score_
    assert not hasattr(sk, "validation_loss_curve_")


def test_partial_fit_takes_no_validation_set():
    est = MLPClassifier(**_params("adam"))
    with pytest.raises(TypeError):
        est.partial_fit(X_TR, Y_TR, classes=np.arange(10), X_val=X_VA, y_val=Y_VA)


def test_the_early_stopping_split_records_its_validation_loss():
    params = _params("adam", early_stopping=True, max_iter=12)
    est = fit_quietly(MLPClassifier(**params), X_TR, Y_TR)
    sk = fit_quietly(SkMLPClassifier(**params), X_TR, Y_TR)
    assert est.validation_scores_ == sk.validation_scores_
    assert len(est.validation_loss_curve_) == est.n_iter_ == sk.n_iter_
    assert all(v > 0 for v in est.validation_loss_curve_)


@pytest.mark.parametrize("solver", SOLVERS)
def test_float32_data_with_a_float64_validation_set(solver):
    X32 = X_TR.astype(np.float32)
    plain = fit_quietly(MLPClassifier(**_params(solver)), X32, Y_TR)
    watched = fit_quietly(MLPClassifier(**_params(solver)), X32, Y_TR, X_val=X_VA, y_val=Y_VA)
    assert_same_weights(watched, plain)
    assert watched.coefs_[0].dtype == plain.coefs_[0].dtype
    assert np.isfinite(watched.validation_loss_curve_).all()


@pytest.mark.parametrize("solver, given", [(s, True) for s in SOLVERS]
                         + [("adam", False), ("sgd", False)])
def test_a_validated_fit_leaves_no_predict_buffers_on_the_model(solver, given):
    # the passes' Workspace (6 MB for digits (64,)) stayed on every kept model,
    # and later fits paid its fresh pages: 25-50% on a digits adam fit
    # (given=False: early stopping's own split)
    from fastmlp import _predict

    kw = dict(X_val=X_VA, y_val=Y_VA) if given else {}
    est = fit_quietly(MLPClassifier(**_params(solver, early_stopping=not given)),
                      X_TR, Y_TR, **kw)
    assert len(est.validation_scores_) == est.n_iter_
    assert id(est) not in _predict._caches
    est.predict(X_VA)  # predict makes its own
    assert id(est) in _predict._caches
