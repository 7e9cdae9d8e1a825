"""The regression losses beyond sklearn's MLP (_loss.robust_loss), element by
element: loss and (sub)gradient against the NumPy reference from their
definitions (HistGradientBoostingRegressor's), at residuals on both sides of
every kink and exactly on them.

A network without hidden layer (1, K), x = 1, W = the predictions, b = 0,
outputs p exactly; the loss is the sum over the K outputs and the intercept
gradient is each output's dL/dp.
"""

import numpy as np
import pytest
import reference as ref

from fastmlp import _core, _objective
from fastmlp._network import OUTPUT_CODES

LOSSES = [("absolute_error", float("nan")), ("huber", 0.8), ("huber", 2.5),
          ("quantile", 0.3), ("quantile", 0.9)]


def _residuals(param):
    r = np.r_[np.linspace(-5, 5, 401), [0.0, -0.0]]
    if not np.isnan(param):  # the Huber kink at +-delta, exactly
        r = np.r_[r, [param, -param, np.nextafter(param, 0), np.nextafter(param, 9)]]
    return r


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("loss, param", LOSSES)
def test_loss_and_gradient_match_the_definition(loss, param, dtype):
    rng = np.random.RandomState(0)
    r = _residuals(param).astype(dtype)
    K = r.size
    y = rng.randn(K).astype(dtype)
    p = (y + r).astype(dtype)
    r = (p.astype(np.float64) - y.astype(np.float64))  # the residuals as the kernel sees them
    lay = _core.Layout((1, K), 0, OUTPUT_CODES[loss], 1, False, param)
    params = np.concatenate([p, np.zeros(K, dtype=dtype)]).astype(dtype)
    grad = np.full_like(params, np.nan)
    value = _objective.Workspace(lay, 1, dtype).loss_grad(
        params, grad, _core.Dataset(np.ones((1, 1), dtype), y.reshape(1, K), None, dtype),
        0.0, 1.0)
    want_loss, want_grad = ref.robust_loss(loss, r, param)
    rtol = 1e-12 if dtype == np.float64 else 1e-6
    assert value == pytest.approx(want_loss.sum(), rel=rtol)
    np.testing.assert_allclose(grad[K:], want_grad, rtol=rtol, atol=0)
    # the kinks: sign(0) = 0; the pinball's y >= p side at r = 0
    zero = r == 0
    assert zero.any()
    want_at_0 = {"absolute_error": 0.0, "huber": 0.0, "quantile": -param}[loss]
    np.testing.assert_array_equal(grad[K:][zero], want_at_0 if loss != "quantile"
                                  else dtype(want_at_0))


@pytest.mark.parametrize("n_threads", [1, 2, 3])
@pytest.mark.parametrize("loss, param", LOSSES)
def test_weighted_multi_output_sum(loss, param, n_threads):
    """Sample weights multiply each row's loss summed over the outputs."""
    rng = np.random.RandomState(1)
    n, k = 300, 3
    units = (4, 6, k)
    codes = 3  # relu
    lay = _core.Layout(units, codes, OUTPUT_CODES[loss], 32, False, param)
    X = rng.randn(n, 4)
    Y = rng.randn(n, k) * 2
    sw = rng.uniform(0.1, 3, n)
    params = rng.uniform(-0.5, 0.5, lay.n_params)
    grad = np.empty_like(params)
    value = _objective.Workspace(lay, n_threads, np.float64).loss_grad(
        params, grad, _core.Dataset(X, Y, sw, np.float64), 0.01, sw.sum())
    saved = dict(ref.LOSS_PARAMS)
    try:
        ref.LOSS_PARAMS[loss] = param
        want_loss, want_grad = ref.loss_grad(params, units, X, Y, sw, 0.01, "relu", loss,
                                             np.finfo(np.float64).eps)
    finally:
        ref.LOSS_PARAMS.clear()
        ref.LOSS_PARAMS.update(saved)
    assert value == pytest.approx(want_loss, rel=1e-12)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-10, atol=1e-12)
