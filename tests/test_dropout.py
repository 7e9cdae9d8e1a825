"""Dropout (issue 24): the masks (fastmlp._dropout), the gradient through
them in the compiled epochs, and the estimators' ``dropout`` option: its
validation, reproducibility, thread independence and effect."""

import pickle

import numpy as np
import pytest
from shared_helpers import fit_quietly, packed
from sklearn.utils._param_validation import InvalidParameterError
from threadpoolctl import threadpool_limits

import fastmlp
import fastmlp._stochastic
from fastmlp import _core, _epochs, _objective
from fastmlp._dropout import dropout_mask
from fastmlp._network import make_layout
from fastmlp._threads import effective_n_threads

# ------------------------------------------------------------- the masks --


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("rate", [0.05, 0.2, 0.5, 0.9])
def test_mask_drops_the_rate_and_scales_the_rest(rate, dtype):
    m, w = 300, 257
    mask = dropout_mask(12345, 3, 1, 1000, m, w, rate, dtype)
    assert mask.dtype == dtype
    dropped = mask == 0
    n = dropped.size
    assert abs(dropped.mean() - rate) <= 3 * np.sqrt(rate * (1 - rate) / n)
    # every unit and every row is dropped at the rate too, not some always
    assert abs(dropped.mean(axis=0).mean() - rate) < 0.01
    np.testing.assert_array_equal(mask[~dropped], dtype(1 / (1 - rate)))


def test_masks_are_keyed_on_seed_epoch_layer_and_row_position():
    base = dropout_mask(7, 2, 1, 0, 64, 100, 0.5)
    for other in (dropout_mask(8, 2, 1, 0, 64, 100, 0.5), dropout_mask(7, 3, 1, 0, 64, 100, 0.5),
                  dropout_mask(7, 2, 2, 0, 64, 100, 0.5), dropout_mask(7, 2, 1, 64, 64, 100, 0.5)):
        # independent masks agree on about half the units
        assert 0.4 < np.mean((other == 0) == (base == 0)) < 0.6
    # a row's mask depends on its position, not on the chunk that holds it
    # (nor its width: unit j is unit j in any layer width)
    np.testing.assert_array_equal(dropout_mask(7, 2, 1, 10, 30, 100, 0.5), base[10:40])
    np.testing.assert_array_equal(dropout_mask(7, 2, 1, 0, 64, 40, 0.5), base[:, :40])
    np.testing.assert_array_equal(dropout_mask(7, 2, 1, 0, 64, 100, 0.5), base)


def test_mask_checks_its_arguments():
    for bad in (dict(rate=1.0), dict(rate=-0.1), dict(m=-1), dict(layer=-1)):
        args = dict(seed=1, epoch=0, layer=1, pos0=0, m=2, w=3, rate=0.5) | bad
        with pytest.raises(ValueError):
            dropout_mask(**args)
    with pytest.raises(ValueError, match="dtype"):
        dropout_mask(1, 0, 1, 0, 2, 3, 0.5, np.int64)


# ------------------------------------------- the gradient, in the epochs --

UNITS = [6, 9, 7, 3]


def _runner(activation, rates, n_threads=1, seed=99):
    rng = np.random.RandomState(3)
    n = 37
    X = rng.randn(n, UNITS[0])
    Y = np.eye(UNITS[-1])[rng.randint(0, UNITS[-1], n)]
    lay = make_layout(UNITS, activation, "softmax", np.float64, gather=False)
    data = _core.Dataset(X, Y, None, np.float64)
    P = lay.n_params
    params = rng.uniform(-0.6, 0.6, P)
    ws = _objective.Workspace(lay, n_threads, np.float64)
    # sgd, no momentum, one minibatch of every row: the step is -lr * gradient
    runner = _epochs.EpochRunner(ws, data, params, np.empty(P), np.zeros(P), None, "sgd",
                                 0.0, 1.0, momentum=0.0, nesterov=False)
    runner.set_dropout(rates, seed)
    return runner, params, n


def _loss_and_grad(runner, params, n, p, epoch=5):
    params[...] = p
    runner.learning_rate = 0.0
    loss = runner.run(None, n, n, epoch) / n
    runner.learning_rate = 1.0
    runner.run(None, n, n, epoch)
    return loss, p - params


@pytest.mark.parametrize("activation", ["tanh", "logistic", "relu", "elu", "gelu",
                                        ["silu", "leaky_relu"]])
def test_gradient_is_the_masked_networks(activation):
    """Central differences of the loss of the network with the epoch's masks
    fixed (the same epoch keys the same masks) equal the gradient the epoch
    steps with: the backward pass applies the forward pass's masks."""
    runner, params, n = _runner(activation, [0.3, 0.5])
    p0 = params.copy()
    loss, grad = _loss_and_grad(runner, params, n, p0)
    # the masks are in effect: without them the loss differs
    runner.set_dropout([0.0, 0.0], 99)
    assert abs(_loss_and_grad(runner, params, n, p0)[0] - loss) > 1e-3
    runner.set_dropout([0.3, 0.5], 99)
    h = 1e-6
    for i in np.random.RandomState(0).choice(p0.size, 40, replace=False):
        e = np.zeros_like(p0)
        e[i] = h
        up = _loss_and_grad(runner, params, n, p0 + e)[0]
        down = _loss_and_grad(runner, params, n, p0 - e)[0]
        assert (up - down) / (2 * h) == pytest.approx(grad[i], rel=1e-5, abs=1e-8)


def test_a_layer_at_rate_zero_is_untouched_and_parts_agree():
    # per-layer rates: the second hidden layer keeps every unit; 1, 2 or 3
    # parts of the minibatch (as many threads) give the same masks
    grads = []
    for n_threads in (1, 2, 3):
        runner, params, n = _runner("tanh", [0.4, 0.0], n_threads)
        grads.append(_loss_and_grad(runner, params, n, params.copy())[1])
    for g in grads[1:]:
        np.testing.assert_allclose(g, grads[0], rtol=1e-12, atol=1e-15)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        runner.set_dropout([1.0, 0.0], 1)
    with pytest.raises(ValueError):
        runner.set_dropout([0.1, 0.1, 0.1], 1)
    with pytest.raises(ValueError, match="seed"):
        runner.set_dropout([0.1, 0.1], -1)


# ------------------------------------------------------- the estimators --

_rng = np.random.RandomState(0)
X = _rng.randn(200, 8)
Y_REG = X[:, 0] - X[:, 1] * X[:, 2] + 0.3 * _rng.randn(200)
Y_CLF = (X[:, 0] + X[:, 3] > 0).astype(int) + (X[:, 1] > 0.5)
KW = dict(hidden_layer_sizes=(16, 8), max_iter=4, random_state=0)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("Est, y", [(fastmlp.MLPClassifier, Y_CLF),
                                     (fastmlp.MLPRegressor, Y_REG)])
def test_rate_zero_is_no_dropout_and_a_seed_repeats(Est, y, solver):
    plain = fit_quietly(Est(solver=solver, **KW), X, y)
    for zero in (0.0, 0, [0.0, 0.0], (0, 0)):
        np.testing.assert_array_equal(packed(fit_quietly(Est(solver=solver, dropout=zero, **KW),
                                                         X, y)), packed(plain))
    a = fit_quietly(Est(solver=solver, dropout=0.3, **KW), X, y)
    b = fit_quietly(Est(solver=solver, dropout=0.3, **KW), X, y)
    np.testing.assert_array_equal(packed(a), packed(b))
    assert a.loss_curve_ == b.loss_curve_
    assert not np.allclose(packed(a), packed(plain))
    # predict uses every unit: the plain forward pass at the trained weights
    c = fit_quietly(Est(solver=solver, **KW), X, y)
    c.coefs_, c.intercepts_ = a.coefs_, a.intercepts_
    np.testing.assert_array_equal(c.predict(X), a.predict(X))
    # another seed, other masks
    d = fit_quietly(Est(solver=solver, dropout=0.3, **dict(KW, random_state=1)), X, y)
    assert not np.allclose(packed(d), packed(a))


@pytest.mark.parametrize("dropout", [0.25, [0.1, 0.5]])
def test_one_two_and_three_threads_agree(dropout, monkeypatch):
    """A minibatch in 1, 2 or 3 parts on as many threads: equal to rounding
    (a mask that followed the thread would move the weights far more)."""
    spy = []

    def parts(*args, **kwargs):
        spy.append(effective_n_threads())
        return spy[-1]

    monkeypatch.setattr(fastmlp._stochastic, "minibatch_threads", parts)
    fits = []
    for t in (1, 2, 3):
        monkeypatch.setenv("OMP_NUM_THREADS", str(t))
        with threadpool_limits(t, user_api="openmp"):
            fits.append(fit_quietly(fastmlp.MLPClassifier(dropout=dropout, **KW), X, Y_CLF))
    assert spy == [1, 2, 3]
    for other in fits[1:]:
        np.testing.assert_allclose(packed(other), packed(fits[0]), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(other.loss_curve_, fits[0].loss_curve_, rtol=1e-12)


def test_dropout_reduces_overfitting():
    """A wide network on few noisy rows overfits them; dropout 0.5 gives a
    lower validation loss, on average over seeds."""
    rng = np.random.RandomState(42)
    n_train, n_val, nf = 60, 2000, 10
    Xa = rng.randn(n_train + n_val, nf)
    ya = Xa[:, 0] + 0.5 * Xa[:, 1] + rng.randn(n_train + n_val)
    Xt, yt, Xv, yv = Xa[:n_train], ya[:n_train], Xa[n_train:], ya[n_train:]
    kw = dict(hidden_layer_sizes=(256,), alpha=0.0, learning_rate_init=0.01, batch_size=20,
              max_iter=150, tol=0.0, n_iter_no_change=10**6)
    val = {}
    for rate in (0.0, 0.5):
        val[rate] = np.mean([
            np.mean((fit_quietly(fastmlp.MLPRegressor(dropout=rate, random_state=s, **kw),
                                 Xt, yt).predict(Xv) - yv) ** 2)
            for s in range(3)])
    assert val[0.5] < 0.9 * val[0.0], val


@pytest.mark.parametrize("Est", [fastmlp.MLPClassifier, fastmlp.MLPRegressor])
@pytest.mark.parametrize("kw, error, match", [
    (dict(dropout=1.0), InvalidParameterError, "'dropout' parameter"),
    (dict(dropout=-0.1), InvalidParameterError, "'dropout' parameter"),
    (dict(dropout=np.nan), InvalidParameterError, "'dropout' parameter"),
    (dict(dropout=[0.1, 1.5]), InvalidParameterError, "'dropout' parameter"),
    (dict(dropout="0.1"), InvalidParameterError, "'dropout' parameter"),
    (dict(dropout=[0.1]), InvalidParameterError, "one rate per hidden layer"),
    (dict(dropout=[0.1, 0.1, 0.1]), InvalidParameterError, "one rate per hidden layer"),
    (dict(dropout=0.2, solver="lbfgs"), ValueError, "needs solver='sgd' or 'adam'"),
    (dict(dropout=[0.0, 0.2], solver="lbfgs"), ValueError, "needs solver='sgd' or 'adam'"),
])
def test_bad_dropout(Est, kw, error, match):
    y = Y_CLF if Est is fastmlp.MLPClassifier else Y_REG
    est = Est(**dict(KW, **kw))
    with pytest.raises(error, match=match):
        est.fit(X, y)
    assert not hasattr(est, "coefs_")
    # lbfgs at rate 0 is fine
    fit_quietly(Est(solver="lbfgs", dropout=[0.0, 0.0], **KW), X, y)


def test_pickles_partial_fit_and_to_sklearn():
    est = fit_quietly(fastmlp.MLPRegressor(dropout=[0.2, 0.1], solver="sgd", **KW), X, Y_REG)
    back = pickle.loads(pickle.dumps(est))
    assert back.get_params() == est.get_params()
    np.testing.assert_array_equal(back.predict(X), est.predict(X))
    # training goes on where it stopped, with the same masks
    est.partial_fit(X, Y_REG)
    back.partial_fit(X, Y_REG)
    np.testing.assert_array_equal(packed(back), packed(est))
    # dropout shapes training only: the trained network converts, and predicts the same
    sk = est.to_sklearn()
    assert "dropout" not in sk.get_params()
    np.testing.assert_allclose(sk.predict(X), est.predict(X), rtol=1e-12, atol=1e-12)
