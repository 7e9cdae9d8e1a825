"""The stochastic solvers (sgd, adam) against scikit-learn 1.9.

With the same random_state, fastmlp must draw the same initial weights, the
same early-stopping split and the same shuffles, and take the same updates, so
loss_curve_, validation_scores_ and the weights agree with sklearn's to 1e-6
(relative) over the first epochs, for every solver and schedule.
"""

import _thread
import pickle
import re
import threading
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn.exceptions
from numpy.testing import assert_allclose, assert_array_equal
from shared_helpers import assert_same_weights
from sklearn.datasets import load_digits, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.neural_network import MLPRegressor as SkMLPRegressor
from sklearn.preprocessing import MinMaxScaler, scale

from fastmlp import MLPClassifier, MLPRegressor, _epochs

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

RTOL = 1e-6

_digits_X, _digits_y = load_digits(return_X_y=True)
X_DIG = MinMaxScaler().fit_transform(_digits_X[:300])
Y_DIG = _digits_y[:300]
Y_BIN = (Y_DIG >= 5).astype(int)
X_REG, Y_REG = make_regression(n_samples=240, n_features=8, noise=10.0, random_state=3)
Y_REG = scale(Y_REG)
SW_DIG = np.random.RandomState(11).uniform(0.2, 3.0, X_DIG.shape[0])
SW_REG = np.random.RandomState(12).uniform(0.2, 3.0, X_REG.shape[0])

TASKS = {
    "multiclass": (MLPClassifier, SkMLPClassifier, X_DIG, Y_DIG, SW_DIG),
    "binary": (MLPClassifier, SkMLPClassifier, X_DIG, Y_BIN, SW_DIG),
    "regression": (MLPRegressor, SkMLPRegressor, X_REG, Y_REG, SW_REG),
}

SCHEDULES = {
    "adam": dict(solver="adam", learning_rate_init=0.01),
    "sgd-constant-nesterov": dict(solver="sgd", learning_rate="constant"),
    "sgd-constant-momentum": dict(
        solver="sgd", learning_rate="constant", nesterovs_momentum=False
    ),
    "sgd-constant-plain": dict(solver="sgd", momentum=0.0),
    "sgd-invscaling": dict(solver="sgd", learning_rate="invscaling", learning_rate_init=0.3),
    # a loose tol: the rate is divided by 5 within the first epochs
    "sgd-adaptive": dict(solver="sgd", learning_rate="adaptive", tol=0.05, n_iter_no_change=1),
}


def _params(**kw):
    p = dict(hidden_layer_sizes=(12,), max_iter=5, tol=0.0, random_state=0, batch_size=50)
    p.update(kw)
    return p


def _fit_both(ours, theirs, X, y, sample_weight=None, **params):
    a = ours(**params)
    b = theirs(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a.fit(X, y, sample_weight=sample_weight)
        b.fit(X, y, sample_weight=sample_weight)
    return a, b


def assert_same_run(a, b, rtol=RTOL):
    """Same epochs, losses, validation scores, stopping state and weights."""
    assert a.n_iter_ == b.n_iter_
    assert a.t_ == b.t_
    assert len(a.loss_curve_) == len(b.loss_curve_)
    assert_allclose(a.loss_curve_, b.loss_curve_, rtol=rtol)
    assert_allclose(a.loss_, b.loss_, rtol=rtol)
    if b.validation_scores_ is None:
        assert a.validation_scores_ is None and a.best_validation_score_ is None
        assert_allclose(a.best_loss_, b.best_loss_, rtol=rtol)
    else:
        assert a.best_loss_ is None
        assert_allclose(a.validation_scores_, b.validation_scores_, rtol=rtol, atol=1e-12)
        assert_allclose(a.best_validation_score_, b.best_validation_score_, rtol=rtol)
    assert a._no_improvement_count == b._no_improvement_count
    assert_allclose(a._optimizer.learning_rate, b._optimizer.learning_rate, rtol=1e-12)
    assert_same_weights(a, b, rtol, floor="array")


# ------------------------------------------------------------- parity --


@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("schedule", list(SCHEDULES))
@pytest.mark.parametrize("task", list(TASKS))
def test_parity_every_schedule(task, schedule, shuffle):
    ours, theirs, X, y, _ = TASKS[task]
    a, b = _fit_both(ours, theirs, X, y, **_params(shuffle=shuffle, **SCHEDULES[schedule]))
    assert_same_run(a, b)


def test_adaptive_rate_is_divided():
    # the adaptive schedule must really have changed the rate in the parity run
    a, b = _fit_both(MLPClassifier, SkMLPClassifier, X_DIG, Y_DIG,
                     **_params(**SCHEDULES["sgd-adaptive"]))
    assert b._optimizer.learning_rate < b.learning_rate_init
    assert a._optimizer.learning_rate == b._optimizer.learning_rate


@pytest.mark.parametrize("solver", ["adam", "sgd"])
@pytest.mark.parametrize("fmt", ["csr", "csc", "fortran"])
@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_parity_sparse_and_fortran_with_weights(task, fmt, solver):
    ours, theirs, X, y, sw = TASKS[task]
    Xf = {"csr": sp.csr_matrix, "csc": sp.csc_matrix, "fortran": np.asfortranarray}[fmt](X)
    a, b = _fit_both(ours, theirs, Xf, y, sample_weight=sw, **_params(solver=solver))
    assert_same_run(a, b)


@pytest.mark.parametrize("solver", ["adam", "sgd"])
@pytest.mark.parametrize("task", list(TASKS))
def test_parity_sample_weight(task, solver):
    ours, theirs, X, y, sw = TASKS[task]
    a, b = _fit_both(ours, theirs, X, y, sample_weight=sw, **_params(solver=solver))
    assert_same_run(a, b)


@pytest.mark.parametrize(
    "extra",
    [
        dict(activation="logistic", batch_size=7),
        dict(activation="tanh", hidden_layer_sizes=(9, 7)),
        dict(activation="identity", batch_size=300),
        dict(batch_size="auto", hidden_layer_sizes=(20,)),
    ],
    ids=["logistic-bs7", "tanh-2layers", "identity-fullbatch", "auto"],
)
@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_parity_architectures(solver, extra):
    a, b = _fit_both(MLPClassifier, SkMLPClassifier, X_DIG, Y_DIG,
                     **_params(solver=solver, **extra))
    assert_same_run(a, b)


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_parity_multilabel_and_poisson(solver):
    Y = np.c_[Y_DIG % 2, Y_DIG % 3 == 0, Y_DIG > 6]
    a, b = _fit_both(MLPClassifier, SkMLPClassifier, X_DIG, Y, **_params(solver=solver))
    assert_same_run(a, b)
    a, b = _fit_both(MLPRegressor, SkMLPRegressor, X_DIG, Y_DIG, loss="poisson",
                     **_params(solver=solver, learning_rate_init=0.001))
    assert_same_run(a, b)


def test_multioutput_regression_same_weights():
    # sklearn reports the squared error averaged over outputs but follows the
    # gradient of the sum; fastmlp reports the sum. With tol=0 the stopping
    # rule does not look at the loss, so the weights still agree.
    Y = np.c_[Y_REG, -0.5 * Y_REG + 0.1]
    a, b = _fit_both(MLPRegressor, SkMLPRegressor, X_REG, Y, **_params())
    assert_same_weights(a, b, RTOL, floor="array")


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_float32_preserved_and_close(solver):
    X32 = X_DIG.astype(np.float32)
    a, b = _fit_both(MLPClassifier, SkMLPClassifier, X32, Y_DIG, **_params(solver=solver))
    assert all(w.dtype == np.float32 for w in a.coefs_ + a.intercepts_)
    state = a._optimizer.ms if solver == "adam" else a._optimizer.velocities
    assert state.dtype == np.float32
    assert_allclose(a.loss_curve_, b.loss_curve_, rtol=1e-5)
    assert_same_weights(a, b, rtol=1e-4, floor="array")
    r = MLPRegressor(**_params(solver=solver)).fit(X_REG.astype(np.float32), Y_REG)
    assert r.predict(X_REG.astype(np.float32)).dtype == np.float32


@pytest.mark.parametrize(
    ("how", "early_stopping"),
    [("warm_start", False), ("warm_start", True), ("partial_fit", False)],
)
@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_float32_model_continued_on_float64_stays_float32_like_sklearn(solver, how,
                                                                       early_stopping):
    """sklearn updates its weights in place: float32 weights trained further
    on float64 rows compute in float64 and stay float32, and so do the
    predictions on float32 rows."""
    X32 = X_DIG.astype(np.float32)
    params = _params(solver=solver, warm_start=how == "warm_start",
                     early_stopping=early_stopping)
    a, b = MLPClassifier(**params), SkMLPClassifier(**params)
    for m in (a, b):
        if how == "warm_start":
            m.fit(X32, Y_DIG)
            m.fit(X_DIG, Y_DIG)
        else:
            m.partial_fit(X32, Y_DIG, classes=np.unique(Y_DIG))
            m.partial_fit(X_DIG, Y_DIG)
    assert all(w.dtype == np.float32 for w in b.coefs_ + b.intercepts_)
    assert_same_weights(a, b, rtol=1e-4, floor="array")
    assert [w.dtype for w in a._best_coefs] == [w.dtype for w in b._best_coefs]
    assert_allclose(a.loss_curve_, b.loss_curve_, rtol=1e-5)
    for X in (X32, X_DIG):
        got, want = a.predict_proba(X), b.predict_proba(X)
        assert got.dtype == want.dtype
        assert_allclose(got, want, rtol=1e-4, atol=1e-6)


# ----------------------------------------------------- early stopping --


@pytest.mark.parametrize("solver", ["adam", "sgd"])
@pytest.mark.parametrize("task", list(TASKS))
@pytest.mark.parametrize("weighted", [False, True])
def test_early_stopping_parity(task, solver, weighted):
    ours, theirs, X, y, sw = TASKS[task]
    params = _params(solver=solver, early_stopping=True, max_iter=40, tol=1e-2,
                     learning_rate_init=0.01, n_iter_no_change=2, validation_fraction=0.2)
    a, b = _fit_both(ours, theirs, X, y, sample_weight=sw if weighted else None, **params)
    assert b.n_iter_ < 40  # sklearn did stop early: the best weights were restored
    assert_same_run(a, b)


@pytest.mark.parametrize("task", ["binary", "regression"])
def test_early_stopping_unshuffled_parity(task):
    # without shuffling the minibatches walk the split's training rows in order
    ours, theirs, X, y, sw = TASKS[task]
    params = _params(solver="sgd", early_stopping=True, shuffle=False, max_iter=8,
                     tol=1e-2, learning_rate_init=0.01, n_iter_no_change=2)
    a, b = _fit_both(ours, theirs, X, y, sample_weight=sw, **params)
    assert_same_run(a, b)


def test_early_stopping_stratified_error():
    X = [[1, 2], [2, 3], [3, 4], [4, 5]]
    y = [0, 0, 0, 1]
    with pytest.raises(ValueError, match=r"Classes with too few members are: \['True'\]"):
        MLPClassifier(early_stopping=True).fit(X, y)


def test_early_stopping_validation_set_too_small():
    X, y = make_regression(n_samples=2, n_features=5, random_state=0)
    with pytest.raises(ValueError, match="The validation set is too small"):
        MLPRegressor(early_stopping=True, random_state=0).fit(X, y)


def test_early_stopping_bad_fraction_like_sklearn():
    msg = "test_size=0.0 should be either positive"
    for est in (MLPClassifier, SkMLPClassifier):
        with pytest.raises(ValueError, match=msg):
            est(early_stopping=True, validation_fraction=0.0).fit(X_DIG, Y_DIG)


def test_diverging_validation_score_is_nan_float():
    params = dict(hidden_layer_sizes=100, activation="identity", solver="sgd",
                  learning_rate_init=1, max_iter=20, early_stopping=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = MLPRegressor(**params).fit(X_DIG, Y_DIG)
    assert isinstance(a.validation_scores_[-1], float)
    assert np.isnan(a.validation_scores_[-1])
    assert all(np.isfinite(w).all() for w in a.coefs_)  # the best weights


# -------------------------------------------- partial_fit, warm_start --


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_partial_fit_stream_classifier(solver):
    classes = np.unique(Y_DIG)
    params = dict(hidden_layer_sizes=(15,), random_state=1, solver=solver,
                  learning_rate="invscaling", learning_rate_init=0.2, batch_size=30)
    a, b = MLPClassifier(**params), SkMLPClassifier(**params)
    for epoch in range(3):
        for i, rows in enumerate(np.array_split(np.arange(300), 6)):
            kw = dict(classes=classes) if epoch == 0 and i == 0 else {}
            a.partial_fit(X_DIG[rows], Y_DIG[rows], sample_weight=SW_DIG[rows], **kw)
            b.partial_fit(X_DIG[rows], Y_DIG[rows], sample_weight=SW_DIG[rows], **kw)
    assert_same_run(a, b)
    assert_array_equal(a.predict(X_DIG), b.predict(X_DIG))


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_partial_fit_stream_regressor(solver):
    params = dict(hidden_layer_sizes=(10,), random_state=2, solver=solver,
                  learning_rate_init=0.01, batch_size=16)
    a, b = MLPRegressor(**params), SkMLPRegressor(**params)
    for epoch in range(3):
        for rows in np.array_split(np.arange(240), 5):
            a.partial_fit(X_REG[rows], Y_REG[rows])
            b.partial_fit(X_REG[rows], Y_REG[rows])
    assert_same_run(a, b)


def test_partial_fit_after_fit_keeps_optimizer():
    params = _params(solver="adam")
    a, b = _fit_both(MLPClassifier, SkMLPClassifier, X_DIG, Y_DIG, **params)
    t_before = a._optimizer.t
    for _ in range(2):
        a.partial_fit(X_DIG[:100], Y_DIG[:100])
        b.partial_fit(X_DIG[:100], Y_DIG[:100])
    assert a._optimizer.t == b._optimizer.t > t_before
    assert_same_run(a, b)


def test_partial_fit_unseen_classes_declared_up_front():
    clf = MLPClassifier(random_state=0)
    clf.partial_fit([[1], [2], [3]], ["a", "b", "c"], classes=["a", "b", "c", "d"])
    clf.partial_fit([[4]], ["d"])
    assert clf.score([[1], [2], [3], [4]], ["a", "b", "c", "d"]) > 0


def test_partial_fit_pickle_continues_identically():
    a = MLPClassifier(hidden_layer_sizes=(8,), random_state=0, batch_size=40)
    a.partial_fit(X_DIG, Y_DIG, classes=np.unique(Y_DIG))
    b = pickle.loads(pickle.dumps(a))
    for m in (a, b):
        m.partial_fit(X_DIG, Y_DIG)
    assert b._optimizer.t == a._optimizer.t
    for wa, wb in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        assert_array_equal(wa, wb)


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_optimizer_state_converts_to_and_from_sklearn(solver):
    # a model carried over from sklearn with its optimizer goes on as sklearn's
    params = _params(solver=solver, learning_rate="invscaling", learning_rate_init=0.05)
    sk = SkMLPClassifier(**params).fit(X_DIG, Y_DIG)
    ours = MLPClassifier(**params)
    ours.__dict__.update(pickle.loads(pickle.dumps(sk.__dict__)))
    for m in (ours, sk):
        m.partial_fit(X_DIG[:120], Y_DIG[:120])
        m.partial_fit(X_DIG[120:], Y_DIG[120:])
    assert_same_run(ours, sk)
    # and back: sklearn goes on from fastmlp's state
    back = ours._optimizer.to_sklearn(ours.coefs_, ours.intercepts_)
    assert type(back) is type(sk._optimizer)
    for name in ("velocities",) if solver == "sgd" else ("ms", "vs"):
        for a, b in zip(getattr(back, name), getattr(sk._optimizer, name)):
            assert_allclose(a, b, rtol=RTOL, atol=1e-12)
    assert back.learning_rate == sk._optimizer.learning_rate


@pytest.mark.parametrize("schedule", ["adam", "sgd-invscaling", "sgd-constant-nesterov"])
@pytest.mark.parametrize("early_stopping", [False, True])
def test_warm_start_parity(schedule, early_stopping):
    params = _params(warm_start=True, max_iter=3, early_stopping=early_stopping,
                     **SCHEDULES[schedule])
    a, b = _fit_both(MLPClassifier, SkMLPClassifier, X_DIG, Y_DIG, **params)
    for m in (a, b):
        m.set_params(max_iter=4)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            m.fit(X_DIG, Y_DIG)
    assert a.n_iter_ == 4 and len(a.loss_curve_) == 7
    assert_same_run(a, b)


@pytest.mark.parametrize("schedule, rate", [("adam", 0.05), ("sgd-constant-nesterov", 0.5)])
def test_warm_start_epoch_by_epoch_with_early_stopping_as_sklearn(schedule, rate):
    """One epoch per warm_start fit (how tuning libraries drive early
    stopping): a fit whose validation score does not improve ends on its
    last weights in sklearn (its best weights are the very arrays it goes
    on training), not on the previous fit's best ones; so here."""
    params = _params(warm_start=True, max_iter=1, early_stopping=True,
                     **{**SCHEDULES[schedule], "learning_rate_init": rate})
    a, b = MLPClassifier(**params), SkMLPClassifier(**params)
    no_gain = 0
    for _ in range(12):
        for m in (a, b):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                m.fit(X_DIG, Y_DIG)
        no_gain += b.validation_scores_[-1] < b.best_validation_score_
        assert_same_run(a, b)
    assert no_gain >= 2  # the case in question was met


def test_learning_rate_warm_start_like_sklearn():
    X = [[3, 2], [1, 6], [5, 6], [-2, -4]]
    y = [1, 1, 1, 0]
    for learning_rate in ["invscaling", "constant"]:
        mlp = MLPClassifier(solver="sgd", hidden_layer_sizes=4, learning_rate=learning_rate,
                            max_iter=1, power_t=0.25, warm_start=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            mlp.fit(X, y)
            prev_eta = mlp._optimizer.learning_rate
            mlp.fit(X, y)
            post_eta = mlp._optimizer.learning_rate
        if learning_rate == "constant":
            assert prev_eta == post_eta
        else:
            assert mlp.learning_rate_init / pow(8 + 1, mlp.power_t) == post_eta


# ----------------------------------------- messages, warnings, verbose --


def test_convergence_warning_text():
    msg = (r"Stochastic Optimizer: Maximum iterations \(3\) reached and the "
           r"optimization hasn't converged yet.")
    with pytest.warns(ConvergenceWarning, match=msg):
        MLPClassifier(max_iter=3, random_state=0).fit(X_DIG, Y_DIG)


def test_batch_size_clipped_with_warning():
    msg = "Got `batch_size` less than 1 or larger than sample size. It is going to be clipped"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with pytest.warns(UserWarning, match=msg):
            a = MLPRegressor(batch_size=1000, max_iter=2, random_state=0).fit(X_REG, Y_REG)
        with pytest.warns(UserWarning, match=msg):
            b = SkMLPRegressor(batch_size=1000, max_iter=2, random_state=0).fit(X_REG, Y_REG)
    assert_same_run(a, b)


@pytest.mark.parametrize("early_stopping", [False, True])
def test_verbose_lines_as_sklearn(capsys, early_stopping):
    params = dict(solver="sgd", learning_rate="adaptive", tol=0.05, n_iter_no_change=1,
                  max_iter=6, verbose=True, random_state=0, hidden_layer_sizes=(10,),
                  early_stopping=early_stopping)
    outs = []
    for est in (MLPClassifier, SkMLPClassifier):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est(**params).fit(X_DIG, Y_DIG)
        outs.append(capsys.readouterr().out)
    assert "Iteration 1, loss = " in outs[0]
    assert ("Validation score: " in outs[0]) == early_stopping
    assert "Setting learning rate to" in outs[0]
    assert outs[0] == outs[1]


def test_n_iter_no_change_and_tol_stop():
    for n in (2, 5):
        a, b = _fit_both(MLPClassifier, SkMLPClassifier, X_DIG, Y_BIN, solver="sgd",
                         tol=0.01, max_iter=3000, n_iter_no_change=n, random_state=0)
        assert a._no_improvement_count == n + 1
        assert a.n_iter_ < 3000
        assert_same_run(a, b, rtol=1e-5)


# ------------------------------------------------------- Ctrl-C --


def test_keyboard_interrupt_leaves_weights_reached_so_far():
    rng = np.random.RandomState(0)
    X = rng.randn(40000, 30)
    y = X[:, 0] + 0.1 * rng.randn(40000)
    m = MLPRegressor(hidden_layer_sizes=(64,), batch_size=1, max_iter=20, random_state=0,
                     learning_rate_init=1e-4)
    timer = threading.Timer(0.3, _thread.interrupt_main)
    timer.start()
    try:
        with pytest.warns(UserWarning, match="Training interrupted by user"):
            m.fit(X, y)
    finally:
        timer.cancel()
        timer.join()
    # interrupted inside an epoch (the compiled epoch lets it through between
    # two minibatches, every few milliseconds): that epoch is not recorded,
    # its updates are kept. (After the epoch's last look at the signals, the
    # interrupt lands between epochs, with no update to keep: hence >=.)
    assert m.n_iter_ < 20 and len(m.loss_curve_) == m.n_iter_
    assert m._optimizer.t >= 40000 * m.n_iter_
    init = MLPRegressor(hidden_layer_sizes=(64,), max_iter=1, random_state=0)
    init._random_state = np.random.RandomState(0)
    init._initialize(y.reshape(-1, 1), [30, 64, 1], np.float64)
    assert not np.allclose(m.coefs_[0], init.coefs_[0])
    assert np.isfinite(m.predict(X[:10])).all()
    m.partial_fit(X[:100], y[:100])  # and the model trains on


# ------------------------------------------------------- bad inputs --


def test_partial_fit_errors():
    X, y = X_DIG[:20], Y_BIN[:20]
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        MLPClassifier().partial_fit(X, y)
    with pytest.raises(ValueError, match=re.escape("`y` has classes not in `self.classes_`")):
        MLPClassifier(solver="sgd").partial_fit(X, y, classes=[2])
    clf = MLPClassifier().partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match=re.escape("`y` has classes not in `self.classes_`")):
        clf.partial_fit(X, y + 1)
    with pytest.raises(ValueError, match="is not the same as on last call to partial_fit"):
        clf.partial_fit(X, y, classes=[0, 2])
    with pytest.raises(ValueError, match="X has 3 features, but MLPClassifier is expecting 64"):
        clf.partial_fit(X[:, :3], y)
    for est, kw in ((MLPClassifier, dict(classes=[0, 1])), (MLPRegressor, {})):
        with pytest.raises(ValueError, match="partial_fit does not support early_stopping=True"):
            est(early_stopping=True).partial_fit(X, y, **kw)
        fitted = est(early_stopping=True, random_state=0, max_iter=3)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fitted.fit(X_DIG, Y_BIN)
        with pytest.raises(ValueError, match="partial_fit does not support early_stopping=True"):
            fitted.partial_fit(X, y)


def test_partial_fit_hidden_for_lbfgs():
    assert not hasattr(MLPClassifier(solver="lbfgs"), "partial_fit")
    # sklearn 1.9's regressor exposes it by mistake; fastmlp hides it on both
    assert not hasattr(MLPRegressor(solver="lbfgs"), "partial_fit")
    assert hasattr(MLPRegressor(solver="sgd"), "partial_fit")
    with pytest.raises(AttributeError, match="has no attribute 'partial_fit'"):
        MLPRegressor(solver="lbfgs").partial_fit(X_REG, Y_REG)
    m = MLPClassifier(solver="lbfgs", max_iter=5).fit(X_DIG, Y_DIG)
    with pytest.raises(AttributeError):
        m.partial_fit(X_DIG, Y_DIG)


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_bad_inputs_through_stochastic_path(solver):
    Xn = X_DIG.copy()
    Xn[0, 0] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        MLPClassifier(solver=solver).fit(Xn, Y_DIG)
    with pytest.raises(ValueError, match="Input y contains infinity"):
        MLPRegressor(solver=solver).fit(X_REG, np.r_[np.inf, Y_REG[1:]])
    with pytest.raises(ValueError, match=r"sample_weight.shape == \(3,\), expected"):
        MLPClassifier(solver=solver).fit(X_DIG, Y_DIG, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="Found array with 0 sample"):
        MLPClassifier(solver=solver).fit(X_DIG[:0], Y_DIG[:0])
    with pytest.raises(ValueError, match="Solver produced non-finite parameter weights"):
        MLPRegressor(solver=solver, max_iter=2).fit(X_REG * 1e300, Y_REG)
    with pytest.raises(ValueError, match="Solver produced non-finite parameter weights"):
        MLPRegressor(solver=solver, max_iter=2).partial_fit(X_REG * 1e300, Y_REG)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_every_update_instruction_set_gives_the_same_bits(dtype):
    # AVX-512, AVX2 and plain C adam updates (whichever this CPU has); 1585
    # parameters and batches of 37 rows exercise the vector tails
    params = _params(hidden_layer_sizes=(21,), batch_size=37, max_iter=2)
    X = X_DIG.astype(dtype)
    weights = []
    try:
        for cap in (2, 1, 0):
            _epochs._set_update_simd_cap(cap)
            m = MLPClassifier(**params).fit(X, Y_DIG)
            weights.append([w.copy() for w in m.coefs_ + m.intercepts_])
    finally:
        _epochs._set_update_simd_cap(2)
    for other in weights[1:]:
        for a, b in zip(weights[0], other):
            assert_array_equal(a, b)
    ref = SkMLPClassifier(**params).fit(X, Y_DIG)
    rtol = RTOL if dtype == np.float64 else 1e-4
    assert_same_weights(m, ref, rtol=rtol, floor="array")


# ------------------------------------------------- the loop on its own --


def test_fit_stochastic_needs_no_estimator():
    """_stochastic.fit_stochastic takes plain inputs and returns a result: run
    by hand from the same initial weights and RandomState, it trains what the
    estimator trains, bit for bit, and leaves the record it was given alone."""
    from fastmlp._network import as_kernel_input, pack
    from fastmlp._stochastic import (
        EpochSettings,
        StochasticOptimizerState,
        TrainingRecord,
        fit_stochastic,
    )

    params = dict(hidden_layer_sizes=(8,), solver="adam", max_iter=4, random_state=0,
                  batch_size=40)
    est = MLPRegressor(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X_REG, Y_REG)

    init = MLPRegressor(**params)
    init._random_state = np.random.RandomState(0)
    units = [X_REG.shape[1], 8, 1]
    Y = np.ascontiguousarray(Y_REG.reshape(-1, 1))
    init._initialize(Y, units, np.float64)
    packed = pack(init.coefs_, init.intercepts_, np.float64)
    optimizer = StochasticOptimizerState(
        packed.shape[0], np.float64, solver="adam", learning_rate_init=0.001,
        learning_rate="constant", momentum=0.9, nesterovs_momentum=True, power_t=0.5,
        beta_1=0.9, beta_2=0.999, epsilon=1e-8,
    )
    settings = EpochSettings(
        activation="relu", out_activation="identity", alpha=0.0001, batch_size=40,
        max_iter=4, shuffle=True, tol=1e-4, n_iter_no_change=10, early_stopping=False,
        validation_fraction=0.1, verbose=False, incremental=False,
    )
    record = TrainingRecord(
        t=0, loss=None, loss_curve=[], no_improvement_count=0, best_loss=np.inf,
        validation_scores=None, best_validation_score=None,
        best_coefs=init._best_coefs, best_intercepts=init._best_intercepts,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = fit_stochastic(as_kernel_input(X_REG, np.float64), Y, None, packed,
                                units, settings, optimizer, init._random_state, record)
    assert record.loss_curve == [] and record.t == 0
    assert result.n_iter == est.n_iter_ == 4
    assert result.record.t == est.t_
    assert result.record.loss_curve == est.loss_curve_
    assert optimizer.t == est._optimizer.t
    for a, b in zip(result.coefs + result.intercepts, est.coefs_ + est.intercepts_,
                    strict=True):
        assert_array_equal(a, b)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_minibatch_weighing_nothing_raises_and_keeps_the_model(solver):
    # rows 0-9 weigh 0: unshuffled, the first minibatch of 10 weighs nothing
    sw = np.ones(X_REG.shape[0])
    sw[:10] = 0
    kw = dict(hidden_layer_sizes=(6,), solver=solver, batch_size=10, shuffle=False,
              max_iter=3, random_state=0)
    with pytest.raises(ZeroDivisionError, match=r"Weights sum to zero.*minibatch 1 of epoch 1"):
        MLPRegressor(**kw).fit(X_REG, Y_REG, sample_weight=sw)
    with pytest.raises(ZeroDivisionError):
        SkMLPRegressor(**kw).fit(X_REG, Y_REG, sample_weight=sw)  # sklearn's type
    # a fresh fit that fails leaves no fitted model behind
    m = MLPRegressor(**kw)
    with pytest.raises(ZeroDivisionError):
        m.fit(X_REG, Y_REG, sample_weight=sw)
    assert not hasattr(m, "coefs_")
    with pytest.raises(sklearn.exceptions.NotFittedError):
        m.predict(X_REG)
    # partial_fit and warm_start: the weights and optimizer of before the call
    m = MLPRegressor(**kw).fit(X_REG, Y_REG)
    before = [w.copy() for w in m.coefs_ + m.intercepts_]
    n_iter, curve = m.n_iter_, list(m.loss_curve_)
    for call in (lambda: m.partial_fit(X_REG, Y_REG, sample_weight=sw),
                 lambda: m.set_params(warm_start=True).fit(X_REG, Y_REG, sample_weight=sw)):
        with pytest.raises(ZeroDivisionError):
            call()
        for a, b in zip(m.coefs_ + m.intercepts_, before):
            assert_array_equal(a, b)
        assert m.n_iter_ == n_iter and m.loss_curve_ == curve
    # and it trains on as if nothing happened
    ref = MLPRegressor(**kw).fit(X_REG, Y_REG)
    ref.partial_fit(X_REG, Y_REG)
    m.partial_fit(X_REG, Y_REG)
    assert_same_weights(m, ref)
