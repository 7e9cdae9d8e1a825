"""Small problems for the compiled core's tests: X in every layout the kernels
read (C, F, CSR with empty rows and unsorted indices), targets per output
function, packed parameters, and the NumPy reference they are checked against."""

import numpy as np
import reference as ref
from shared_helpers import n_params

from fastmlp import _core
from fastmlp._network import ACTIVATION_CODES, CSR, OUTPUT_CODES

ACTIVATIONS = ref.ACTIVATIONS
OUTPUTS = ref.OUTPUTS
# every pair of sklearn's activations and outputs; each one beyond sklearn
# with some of the others (a cross product would add ~1500 cases and nothing
# new: the activation acts on the hidden layers, the output on the last)
_SK_ACT, _NEW_ACT = ACTIVATIONS[:4], ACTIVATIONS[4:]
_SK_OUT, _NEW_OUT = OUTPUTS[:4], OUTPUTS[4:]
PAIRS = ([(a, o) for a in _SK_ACT for o in _SK_OUT]
         + [(a, _SK_OUT[i % 4]) for i, a in enumerate(_NEW_ACT)]
         + [(a, _NEW_OUT[i % 3]) for i, a in enumerate(_NEW_ACT)]
         + [(_SK_ACT[i % 4], o) for i, o in enumerate(_NEW_OUT)])
INPUTS = ["C", "F", "csr"]
RTOL = {np.float64: 1e-10, np.float32: 1e-4}

UNITS = (5, 16, 8, 3)  # 259 parameters
N_ROWS = 200


def make_params(units, rng, dtype, scale=0.5):
    return rng.uniform(-scale, scale, n_params(units)).astype(dtype)


def make_X(kind, n, n_features, rng, dtype):
    """(X as the kernel reads it, the same values as a dense float64 array)."""
    dense = rng.randn(n, n_features)
    if kind == "csr":
        dense[rng.rand(n, n_features) < 0.5] = 0
        dense[[0, 3, n // 2, n - 1]] = 0  # empty rows, first and last included
        dense = dense.astype(dtype).astype(np.float64)
        data, indices, indptr = [], [], [0]
        for row in dense:
            (cols,) = np.nonzero(row)
            cols = cols[rng.permutation(cols.size)]  # unsorted within the row
            if cols.size > 1 and np.all(np.diff(cols) > 0):
                cols = cols[::-1].copy()
            data.extend(row[cols])
            indices.extend(cols)
            indptr.append(len(indices))
        indptr = np.asarray(indptr, dtype=np.intp)
        X = CSR(
            np.asarray(data, dtype=dtype),
            np.asarray(indices, dtype=np.intp),
            indptr,
            (n, n_features),
        )
        assert np.any(np.diff(indptr) == 0)
        assert any(
            np.any(np.diff(X.indices[a:b]) < 0) for a, b in zip(indptr[:-1], indptr[1:])
        )
        return X, dense
    X = dense.astype(dtype)
    if kind == "F":
        X = np.asfortranarray(X)
        assert not X.flags.c_contiguous
    return X, X.astype(np.float64)


def make_Y(output, n, k, rng, dtype):
    Y = ref.make_targets(output, n, k, rng)
    return np.ascontiguousarray(Y, dtype=dtype)


def make_problem(activation, output, kind, dtype, units=UNITS, n=N_ROWS, seed=0,
                 weighted=False, chunk=64, gather=False):
    rng = np.random.RandomState(seed)
    X, Xd = make_X(kind, n, units[0], rng, dtype)
    Y = make_Y(output, n, units[-1], rng, dtype)
    sw = rng.uniform(0.1, 3.0, n).astype(dtype) if weighted else None
    params = make_params(units, rng, dtype)
    codes = (ACTIVATION_CODES[activation] if isinstance(activation, str)
             else [ACTIVATION_CODES[a] for a in activation])
    lay = _core.Layout(units, codes, OUTPUT_CODES[output], chunk, gather,
                       ref.LOSS_PARAMS.get(output, float("nan")))
    ds = _core.Dataset(X, Y, sw, dtype)
    return lay, ds, X, Xd, Y, sw, params


def reference(params, units, Xd, Y, sw, alpha, activation, output, dtype):
    return ref.loss_grad(
        params, list(units), Xd, Y, sw, alpha, activation, output, np.finfo(dtype).eps
    )


def assert_close(actual, desired, rtol):
    """Elementwise relative agreement, with an absolute floor scaled to the
    largest entry (entries that are ~0 by cancellation carry no relative
    information)."""
    desired = np.asarray(desired, dtype=np.float64)
    actual = np.asarray(actual, dtype=np.float64)
    assert actual.shape == desired.shape
    assert np.all(np.isfinite(actual))
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=rtol * np.abs(desired).max())


def sw_total(sw, rows, n):
    return float(n if sw is None else np.sum(sw[rows], dtype=np.float64))


def run_loss_grad(ws, params, ds, alpha, sw_sum, **kw):
    grad = np.full(params.shape[0], np.nan, dtype=params.dtype)  # must be overwritten
    loss = ws.loss_grad(params, grad, ds, alpha, sw_sum, **kw)
    return loss, grad
