"""The checks before nogil code: every malformed Layout, Dataset, Workspace
or call argument raises ValueError (never a crash or a silent wrong answer),
and a rejected call leaves the workspace working."""

import numpy as np
import pytest
from kernel_problems import N_ROWS, make_problem, run_loss_grad
from shared_helpers import n_params

from fastmlp import _core, _objective
from fastmlp._network import CSR

# ------------------------------------------------------------- bad input --


def _bad_input_cases():
    rng = np.random.RandomState(13)
    units, n, dt = (4, 6, 2), 20, np.float64
    X = rng.randn(n, 4)
    Y = rng.randn(n, 2)
    sw = np.ones(n)
    params = rng.randn(n_params(units))
    grad = np.zeros_like(params)
    lay = _core.Layout(units, 2, 0, 8, False)
    lay_g = _core.Layout(units, 2, 0, 8, True)
    ws = _objective.Workspace(lay, 2, dt)
    ws_g = _objective.Workspace(lay_g, 1, dt)
    ds = _core.Dataset(X, Y, sw, dt)
    csr_ok = CSR(
        np.ones(3), np.array([0, 3, 1], dtype=np.intp),
        np.array([0, 1, 3] + [3] * (n - 2), dtype=np.intp), (n, 4)
    )
    _core.Dataset(csr_ok, Y, None, dt)  # the valid one is accepted

    def csr(indices=(0, 3, 1), indptr=None, data=None, shape=(n, 4), index_dtype=np.intp):
        indptr = np.array([0, 1, 3] + [3] * (n - 2)) if indptr is None else np.asarray(indptr)
        data = np.ones(len(indices)) if data is None else data
        return CSR(data, np.asarray(indices, dtype=index_dtype),
                   indptr.astype(index_dtype), shape)

    def lg(params=params, grad=grad, data=ds, ws=ws, alpha=0.0, sw_sum=float(n), **kw):
        return lambda: ws.loss_grad(params, grad, data, alpha, sw_sum, **kw)

    def fw(out, data=ds, ws=ws, **kw):
        return lambda: ws.forward(params, data, out, **kw)

    readonly = np.empty_like(params)
    readonly.flags.writeable = False
    wide = np.empty((n, 8))
    ds32 = _core.Dataset(X.astype(np.float32), Y.astype(np.float32), None, np.float32)
    ds5 = _core.Dataset(rng.randn(n, 5), Y, None, dt)
    return {
        # dtypes
        "X float32 in float64 data": lambda: _core.Dataset(X.astype(np.float32), Y, None, dt),
        "X int": lambda: _core.Dataset(X.astype(np.int64), Y, None, dt),
        "Y float32": lambda: _core.Dataset(X, Y.astype(np.float32), None, dt),
        "sw float32": lambda: _core.Dataset(X, Y, sw.astype(np.float32), dt),
        "dtype float16": lambda: _core.Dataset(X, Y, None, np.float16),
        "data/workspace dtypes differ": lg(data=ds32),
        "params float32": lg(params=params.astype(np.float32)),
        "grad float32": lg(grad=grad.astype(np.float32)),
        "workspace float16": lambda: _objective.Workspace(lay, 1, np.float16),
        # shapes and contiguity
        "X non-contiguous columns": lambda: _core.Dataset(wide[:, ::2], Y, None, dt),
        "X non-contiguous rows": lambda: _core.Dataset(
            np.empty((2 * n, 4))[::2], Y, None, dt),
        "X 1-D": lambda: _core.Dataset(X.ravel(), Y, None, dt),
        "X 3-D": lambda: _core.Dataset(X[:, :, None], Y, None, dt),
        "Y F-ordered": lambda: _core.Dataset(X, np.asfortranarray(Y), None, dt),
        "Y rows": lambda: _core.Dataset(X, Y[:-1], None, dt),
        "Y 1-D": lambda: _core.Dataset(X, Y[:, 0].copy(), None, dt),
        "sw length": lambda: _core.Dataset(X, Y, sw[:-1].copy(), dt),
        "sw 2-D": lambda: _core.Dataset(X, Y, sw[:, None], dt),
        "sw strided": lambda: _core.Dataset(X, Y, np.ones(2 * n)[::2], dt),
        "wrong feature count": lg(data=ds5),
        "wrong feature count (forward)": fw(np.empty((n, 2)), data=ds5),
        "Y wider than the network's outputs": lg(
            data=_core.Dataset(X, rng.randn(n, 3), None, dt)),
        "Y narrower than the network's outputs": lg(
            data=_core.Dataset(X, rng.randn(n, 1), None, dt)),
        "grad length": lg(grad=np.empty(params.size - 1)),
        "grad too long": lg(grad=np.empty(params.size + 1)),
        "grad strided": lg(grad=np.empty(2 * params.size)[::2]),
        "grad read-only": lg(grad=readonly),
        "params length": lg(params=params[:-1].copy()),
        "params strided": lg(params=np.repeat(params, 2)[::2]),
        "forward out shape": fw(np.empty((n, 3))),
        "forward out rows": fw(np.empty((n - 1, 2))),
        "forward out dtype": fw(np.empty((n, 2), dtype=np.float32)),
        "forward out F-ordered": fw(np.empty((2, n)).T),
        # row ranges
        "idx out of range (high)": lg(ws=ws_g, idx=np.array([0, n], dtype=np.intp)),
        "idx out of range (negative)": lg(ws=ws_g, idx=np.array([0, -1], dtype=np.intp)),
        "idx int32": lg(ws=ws_g, idx=np.array([0, 1], dtype=np.int32)),
        "idx 2-D": lg(ws=ws_g, idx=np.zeros((2, 1), dtype=np.intp)),
        "idx strided": lg(ws=ws_g, idx=np.arange(8, dtype=np.intp)[::2]),
        "idx range beyond idx": lg(ws=ws_g, idx=np.arange(4, dtype=np.intp), start=2, n=3),
        "forward idx out of range": fw(np.empty((2, 2)), ws=ws_g,
                                       idx=np.array([n, 0], dtype=np.intp)),
        "idx on dense without gather buffer": lg(idx=np.arange(4, dtype=np.intp)),
        "start + n beyond X": lg(start=10, n=11),
        "start beyond X": lg(start=n + 1),
        "negative n": lg(start=0, n=-1),
        "no rows": lg(start=n),
        "sw_sum zero": lg(sw_sum=0.0),
        "sw_sum nan": lg(sw_sum=float("nan")),
        "loss_grad without Y": lg(data=_core.Dataset(X, None, None, dt)),
        # (one thread needs no extra accumulator, so only a 2-thread forward-only
        # workspace lacks what loss_grad needs)
        "loss_grad on forward-only workspace": lg(ws=_objective.Workspace(lay, 2, dt, False)),
        # sparse
        "CSR column index too large": lambda: _core.Dataset(csr(indices=(0, 4, 1)), Y, None, dt),
        "CSR column index negative": lambda: _core.Dataset(csr(indices=(0, -1, 1)), Y, None, dt),
        "CSR int32 indices": lambda: _core.Dataset(csr(index_dtype=np.int32), Y, None, dt),
        "CSR data float32": lambda: _core.Dataset(
            csr(data=np.ones(3, dtype=np.float32)), Y, None, dt),
        "CSR indptr decreasing": lambda: _core.Dataset(
            csr(indptr=[0, 2, 1] + [3] * (n - 2)), Y, None, dt),
        "CSR indptr beyond nnz": lambda: _core.Dataset(
            csr(indptr=[0, 1, 3] + [4] * (n - 2)), Y, None, dt),
        "CSR indptr not starting at 0": lambda: _core.Dataset(
            csr(indptr=[1, 1, 3] + [3] * (n - 2)), Y, None, dt),
        "CSR indptr too short": lambda: _core.Dataset(
            csr(indptr=[0, 1, 3] + [3] * (n - 3)), Y, None, dt),
        "CSR rows != Y rows": lambda: _core.Dataset(csr(indptr=[0, 1, 3] + [3] * (n - 3),
                                                             shape=(n - 1, 4)), Y, None, dt),
        "CSR wrong feature count": lg(data=_core.Dataset(csr(shape=(n, 5)), Y, None, dt)),
        "CSC": lambda: _core.Dataset(_csc(X), Y, None, dt),
        # layout and workspace
        "layout zero units": lambda: _core.Layout((4, 0, 2), 2, 0, 8, False),
        "layout one layer": lambda: _core.Layout((4,), 2, 0, 8, False),
        "layout unknown activation": lambda: _core.Layout(units, 99, 0, 8, False),
        "layout unknown activation in a list": lambda: _core.Layout(units, [99], 0, 8, False),
        "layout one activation per hidden layer": lambda: _core.Layout(units, [0, 0], 0, 8,
                                                                       False),
        "layout huber without delta": lambda: _core.Layout(units, 0, 5, 8, False),
        "layout huber delta 0": lambda: _core.Layout(units, 0, 5, 8, False, 0.0),
        "layout quantile 1": lambda: _core.Layout(units, 0, 6, 8, False, 1.0),
        "layout unknown output": lambda: _core.Layout(units, 0, -1, 8, False),
        "layout chunk 0": lambda: _core.Layout(units, 0, 0, 0, False),
        "workspace 0 threads": lambda: _objective.Workspace(lay, 0, dt),
    }


def _csc(X):
    import scipy.sparse as sp

    m = sp.csc_matrix(X)
    m.indices = m.indices.astype(np.intp)
    m.indptr = m.indptr.astype(np.intp)
    return m


_BAD = _bad_input_cases()


@pytest.mark.parametrize("case", list(_BAD))
def test_bad_input_raises_value_error(case):
    with pytest.raises(ValueError):
        _BAD[case]()


def test_workspace_usable_after_errors():
    """A rejected call leaves the workspace working."""
    lay, ds, X, Xd, Y, sw, params = make_problem("tanh", "identity", "C", np.float64, gather=True)
    ws = _objective.Workspace(lay, 2, np.float64)
    before = run_loss_grad(ws, params, ds, 0.0, float(N_ROWS))
    with pytest.raises(ValueError):
        ws.loss_grad(params, np.empty(3), ds, 0.0, float(N_ROWS))
    with pytest.raises(ValueError):
        ws.loss_grad(params, np.empty_like(params), ds, 0.0, 1.0,
                     idx=np.array([N_ROWS], dtype=np.intp))
    after = run_loss_grad(ws, params, ds, 0.0, float(N_ROWS))
    assert after[0] == before[0]
    np.testing.assert_array_equal(after[1], before[1])


