"""The activations beyond sklearn's (_elementwise.h), value by value: forward
and derivative against the NumPy reference from their definitions, and their
limits at |z| up to 1e30 in float32 and float64.

A network (1, K, K) with x = 1, W0 = the z values, b0 = 0 and W1 = the
identity puts z_j into hidden unit j exactly and reads act(z_j) out
unchanged; with the absolute-error loss and every target below its output,
each output delta is exactly 1, so the hidden bias gradient is act'(z_j).
"""

import numpy as np
import pytest
import reference as ref

from fastmlp import _core, _objective
from fastmlp._network import ACTIVATION_CODES, OUTPUT_CODES

NEW_ACTIVATIONS = ["gelu", "silu", "leaky_relu", "elu", "softplus"]

# dense on [-40, 40] (every branch: the erf/erfc split at |z| = sqrt 2, the
# expm1 series at -0.5, the log1p split), and the neighbourhood of 0
Z_MODERATE = np.r_[np.linspace(-40, 40, 2001), np.linspace(-1e-3, 1e-3, 41),
                   [-1e-300, 1e-300, -0.5, 0.5, -1.4142135623730951, 1.4142135623730951]]
Z_EXTREME = np.array([-1e30, -1e10, -1e3, -710.0, -100.0, 100.0, 710.0, 1e3, 1e10, 1e30])


def _values_and_derivatives(activation, z, dtype):
    z = np.asarray(z, dtype=dtype)
    K = z.size
    units = (1, K, K)
    lay = _core.Layout(units, ACTIVATION_CODES[activation], OUTPUT_CODES["absolute_error"],
                       1, False)
    coef = np.concatenate([z, np.eye(K, dtype=dtype).ravel()])
    params = np.concatenate([coef, np.zeros(2 * K, dtype=dtype)]).astype(dtype)
    X = np.ones((1, 1), dtype=dtype)
    ws = _objective.Workspace(lay, 1, dtype)
    out = np.empty((1, K), dtype=dtype)
    ws.forward(params, _core.Dataset(X, None, None, dtype), out)
    a = out[0].copy()
    Y = (a - np.abs(a) * dtype(1e-3) - 1).reshape(1, K).astype(dtype)
    assert np.all(Y < a)
    grad = np.full_like(params, np.nan)
    ws.loss_grad(params, grad, _core.Dataset(X, Y, None, dtype), 0.0, 1.0)
    b0 = lay.intercept_slices[0]
    return a, grad[b0[0]:b0[1]]


@pytest.mark.parametrize("activation", NEW_ACTIVATIONS)
def test_value_and_derivative_match_the_definition_float64(activation):
    a, d = _values_and_derivatives(activation, Z_MODERATE, np.float64)
    z = Z_MODERATE
    want_a = ref.act(z, activation)
    want_d = ref.dact(z, want_a, activation)
    np.testing.assert_allclose(a, want_a, rtol=1e-12, atol=1e-300)
    if activation == "elu":
        # read off the output (exp(z) = elu(z) + 1): exact to an ulp of 1
        np.testing.assert_allclose(d, want_d, rtol=1e-12, atol=1e-16)
    else:
        np.testing.assert_allclose(d, want_d, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("activation", NEW_ACTIVATIONS)
def test_value_and_derivative_float32(activation):
    z32 = Z_MODERATE.astype(np.float32)
    a, d = _values_and_derivatives(activation, z32, np.float32)
    z = z32.astype(np.float64)
    want_a = ref.act(z, activation)
    want_d = ref.dact(z, want_a, activation)
    tiny = np.finfo(np.float32).tiny
    np.testing.assert_allclose(a, want_a, rtol=2e-6, atol=tiny)
    np.testing.assert_allclose(d, want_d, rtol=2e-6, atol=2e-7)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("activation", NEW_ACTIVATIONS)
def test_large_arguments_give_the_limits(activation, dtype):
    """No overflow, no NaN: far out every function is its linear part or its
    constant, and the derivative 1 or the slope or 0."""
    z = Z_EXTREME.astype(dtype).astype(np.float64)
    a, d = _values_and_derivatives(activation, z, dtype)
    assert np.isfinite(a).all() and np.isfinite(d).all()
    big = np.abs(z) >= 100
    pos = z > 0
    want_neg = {"gelu": 0.0, "silu": 0.0, "leaky_relu": 0.01 * z, "elu": -1.0,
                "softplus": 0.0}[activation]
    want = np.where(pos, z, want_neg)
    np.testing.assert_allclose(a[big], want[big], rtol=1e-6, atol=1e-30)
    slope = {"leaky_relu": 0.01}.get(activation, 0.0)
    np.testing.assert_allclose(d[big], np.where(pos, 1.0, slope)[big], rtol=1e-6,
                               atol=1e-30)


@pytest.mark.parametrize("activation", NEW_ACTIVATIONS)
def test_prediction_path_gives_the_training_values(activation):
    """The forward pass of predict (no pre-activations kept, column blocks)
    gives the training pass's activations."""
    z = Z_MODERATE[:300]
    a, _ = _values_and_derivatives(activation, z, np.float64)
    K = z.size
    lay = _core.Layout((1, K, K), ACTIVATION_CODES[activation], OUTPUT_CODES["identity"], 4,
                       False)
    params = np.concatenate([z, np.eye(K).ravel(), np.zeros(2 * K)])
    out = np.empty((1, K))
    _objective.Workspace(lay, 2, np.float64, False).forward(
        params, _core.Dataset(np.ones((1, 1)), None, None, np.float64), out, columns=True)
    np.testing.assert_array_equal(out[0], a)


def test_layout_keeps_pre_activations_only_where_needed():
    units = (3, 5, 4, 2)
    plain = _core.Layout(units, ACTIVATION_CODES["relu"], 0, 16, False)
    for names, extra in ((["leaky_relu", "elu"], 0), (["gelu", "relu"], 5),
                         (["relu", "silu"], 4), (["softplus", "gelu"], 9)):
        lay = _core.Layout(units, [ACTIVATION_CODES[n] for n in names], 0, 16, False)
        assert lay.work_size == plain.work_size + 16 * extra
        assert lay.activations == tuple(ACTIVATION_CODES[n] for n in names)
