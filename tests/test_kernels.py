"""The compiled core (fastmlp._core, _objective) against the NumPy reference.

Loss, gradient and forward pass for every hidden activation x output function
x input layout (C, F, CSR with empty rows and unsorted indices) x sample
weights x thread count, row subsets (idx, start/n), chunk sizes, a
finite-difference check, determinism, and ValueError on bad input.

Shapes are small but chosen so that n_rows * n_params >= 40000: below that the
kernel runs one thread whatever the workspace asks, and the 2-thread cases
would not test the parallel split and reduction.
"""

import pathlib
import sys

import numpy as np
import pytest

from fastmlp import _core, _objective, _epochs
from fastmlp._network import ACTIVATION_CODES, CSR, OUTPUT_CODES

import reference as ref
from shared_helpers import n_params

ACTIVATIONS = ref.ACTIVATIONS
OUTPUTS = ref.OUTPUTS
INPUTS = ["C", "F", "csr"]
RTOL = {np.float64: 1e-10, np.float32: 1e-4}
# the kernel's own threshold for starting more than one thread
PARALLEL_WORK = 40000

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
    lay = _core.Layout(
        units, ACTIVATION_CODES[activation], OUTPUT_CODES[output], chunk, gather
    )
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


# ----------------------------------------------------- loss and gradient --


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("kind", INPUTS)
@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_loss_grad_matches_reference(dtype, activation, output, kind, weighted, n_threads):
    assert N_ROWS * n_params(UNITS) >= PARALLEL_WORK
    lay, ds, X, Xd, Y, sw, params = make_problem(
        activation, output, kind, dtype, weighted=weighted, seed=1
    )
    ws = _objective.Workspace(lay, n_threads, dtype)
    alpha = 0.05
    loss, grad = run_loss_grad(ws, params, ds, alpha, sw_total(sw, slice(None), N_ROWS))
    assert isinstance(loss, float)
    assert grad.dtype == dtype
    ref_loss, ref_grad = reference(params, UNITS, Xd, Y, sw, alpha, activation, output, dtype)
    rtol = RTOL[dtype]
    assert loss == pytest.approx(ref_loss, rel=rtol)
    assert_close(grad, ref_grad, rtol)


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("kind", INPUTS)
@pytest.mark.parametrize("output", OUTPUTS)
def test_loss_grad_single_output_one_hidden_layer(output, kind, n_threads):
    units, n = (4, 24, 1), 300
    assert n * n_params(units) >= PARALLEL_WORK
    lay, ds, X, Xd, Y, sw, params = make_problem(
        "relu", output, kind, np.float64, units=units, n=n, weighted=True, seed=2
    )
    ws = _objective.Workspace(lay, n_threads, np.float64)
    loss, grad = run_loss_grad(ws, params, ds, 1e-3, sw_total(sw, slice(None), n))
    ref_loss, ref_grad = reference(params, units, Xd, Y, sw, 1e-3, "relu", output, np.float64)
    assert loss == pytest.approx(ref_loss, rel=1e-10)
    assert_close(grad, ref_grad, 1e-10)


def test_loss_clipping_matches_reference():
    """Saturated outputs: the clipped log-losses (sklearn's eps) are used, in
    both precisions."""
    for dtype in (np.float64, np.float32):
        for output in ("logistic", "softmax"):
            lay, ds, X, Xd, Y, sw, params = make_problem(
                "identity", output, "C", dtype, seed=3
            )
            params = (params * 200).astype(dtype)  # probabilities hit 0 and 1
            ws = _objective.Workspace(lay, 1, dtype)
            loss, grad = run_loss_grad(ws, params, ds, 0.0, N_ROWS)
            ref_loss, ref_grad = reference(
                params, UNITS, Xd, Y, None, 0.0, "identity", output, dtype
            )
            assert np.isfinite(loss)
            assert loss == pytest.approx(ref_loss, rel=RTOL[dtype])
            assert_close(grad, ref_grad, RTOL[dtype])


# ------------------------------------------------------------ row subsets --


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("kind", INPUTS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_loss_grad_row_subsets(dtype, kind, n_threads):
    n = 300
    lay, ds, X, Xd, Y, sw, params = make_problem(
        "tanh", "softmax", kind, dtype, n=n, weighted=True, gather=True, chunk=48, seed=4
    )
    assert lay.gather
    ws = _objective.Workspace(lay, n_threads, dtype)
    rng = np.random.RandomState(5)
    # unsorted, with repeats: rows are used as listed
    idx = rng.randint(0, n, 260).astype(np.intp)
    assert np.unique(idx).size < idx.size
    rtol, alpha = RTOL[dtype], 0.02
    cases = [
        (dict(idx=idx), idx),
        (dict(idx=idx, start=40, n=170), idx[40:210]),
        (dict(idx=idx, start=255), idx[255:]),  # n defaults to the rest
        (dict(start=60, n=200), np.arange(60, 260)),  # no idx: a slice of X
        (dict(start=299, n=1), np.arange(299, 300)),
    ]
    for kw, rows in cases:
        loss, grad = run_loss_grad(ws, params, ds, alpha, sw_total(sw, rows, None), **kw)
        ref_loss, ref_grad = reference(
            params, UNITS, Xd[rows], Y[rows], sw[rows], alpha, "tanh", "softmax", dtype
        )
        assert loss == pytest.approx(ref_loss, rel=rtol), kw
        assert_close(grad, ref_grad, rtol)


def test_csr_row_subset_without_gather_buffer():
    """CSR rows are read in place: idx works without the gather buffer."""
    lay, ds, X, Xd, Y, sw, params = make_problem("relu", "identity", "csr", np.float64)
    assert not lay.gather
    ws = _objective.Workspace(lay, 2, np.float64)
    idx = np.arange(N_ROWS, dtype=np.intp)[::-1][:150].copy()
    loss, grad = run_loss_grad(ws, params, ds, 0.0, 150.0, idx=idx)
    ref_loss, ref_grad = reference(
        params, UNITS, Xd[idx], Y[idx], None, 0.0, "relu", "identity", np.float64
    )
    assert loss == pytest.approx(ref_loss, rel=1e-10)
    assert_close(grad, ref_grad, 1e-10)


# ------------------------------------------------------------ chunk sizes --


@pytest.mark.parametrize("n_threads", [1, 2, 3])
@pytest.mark.parametrize("chunk", [1, 7, 64, 4096])
@pytest.mark.parametrize("kind", INPUTS)
def test_chunk_sizes(kind, chunk, n_threads):
    """Chunks of 1 row, a size that does not divide the rows, and one larger
    than the batch; an odd row count so thread blocks are uneven."""
    units, n = (6, 24, 12, 3), 101
    assert n * n_params(units) >= PARALLEL_WORK
    lay, ds, X, Xd, Y, sw, params = make_problem(
        "logistic", "logistic", kind, np.float64, units=units, n=n, weighted=True,
        chunk=chunk, gather=True, seed=6,
    )
    ws = _objective.Workspace(lay, n_threads, np.float64)
    loss, grad = run_loss_grad(ws, params, ds, 0.1, sw_total(sw, slice(None), n))
    ref_loss, ref_grad = reference(
        params, units, Xd, Y, sw, 0.1, "logistic", "logistic", np.float64
    )
    assert loss == pytest.approx(ref_loss, rel=1e-10)
    assert_close(grad, ref_grad, 1e-10)
    # the gather path with the same chunking
    idx = np.arange(n, dtype=np.intp)[::-1].copy()
    loss2, grad2 = run_loss_grad(ws, params, ds, 0.1, sw_total(sw, idx, None), idx=idx)
    assert loss2 == pytest.approx(ref_loss, rel=1e-10)
    assert_close(grad2, ref_grad, 1e-10)
    out = np.full((n, units[-1]), np.nan)
    ws.forward(params, ds, out)
    assert_close(out, ref.forward(params, list(units), Xd, "logistic", "logistic"), 1e-12)


@pytest.mark.parametrize("chunk", [1, 5, 1000])
def test_deep_narrow_network(chunk):
    """Several hidden layers of different widths (backward temporaries sized
    by the widest hidden layer, not the last)."""
    units = (3, 6, 11, 4, 9, 2)
    lay, ds, X, Xd, Y, sw, params = make_problem(
        "tanh", "softmax", "F", np.float64, units=units, n=60, chunk=chunk, seed=7
    )
    ws = _objective.Workspace(lay, 2, np.float64)
    loss, grad = run_loss_grad(ws, params, ds, 0.01, 60.0)
    ref_loss, ref_grad = reference(params, units, Xd, Y, None, 0.01, "tanh", "softmax", np.float64)
    assert loss == pytest.approx(ref_loss, rel=1e-10)
    assert_close(grad, ref_grad, 1e-10)


# --------------------------------------------------------------- forward --


# every width around the narrow products' vector sizes (4 doubles, 8 floats)
# and their SG_NMAX = 16 limit, with row and column tails of their blocks
@pytest.mark.parametrize("n_out", [1, 3, 4, 5, 8, 9, 12, 13, 16, 17])
@pytest.mark.parametrize("hidden", [(1,), (7, 5), (13,), (33, 3)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_narrow_layers_match_reference(dtype, hidden, n_out):
    units = (6,) + hidden + (n_out,)
    n = 29
    output = "softmax" if n_out > 1 else "logistic"
    lay, ds, X, Xd, Y, sw, params = make_problem(
        "tanh", output, "C", dtype, units=units, n=n, seed=n_out, weighted=True, chunk=11,
    )
    ws = _objective.Workspace(lay, 1, dtype)
    loss, grad = run_loss_grad(ws, params, ds, 1e-3, sw_total(sw, slice(None), n))
    eloss, egrad = reference(params, units, Xd, Y, sw, 1e-3, "tanh", output, dtype)
    assert_close(loss, eloss, RTOL[dtype])
    assert_close(grad, egrad, RTOL[dtype])
    out = np.full((n, n_out), np.nan, dtype=dtype)
    ws.forward(params, _core.Dataset(X, None, None, dtype), out)
    assert_close(out, ref.forward(params, list(units), Xd, "tanh", output), RTOL[dtype])


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("kind", INPUTS)
@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_forward_matches_reference(dtype, activation, output, kind, n_threads):
    lay, ds, X, Xd, Y, sw, params = make_problem(
        activation, output, kind, dtype, gather=True, seed=8
    )
    # forward-only workspace; a Dataset without Y
    ws = _objective.Workspace(lay, n_threads, dtype, False)
    ds = _core.Dataset(X, None, None, dtype)
    expected = ref.forward(params, list(UNITS), Xd, activation, output)
    out = np.full((N_ROWS, UNITS[-1]), np.nan, dtype=dtype)
    assert ws.forward(params, ds, out) is out
    assert_close(out, expected, RTOL[dtype] / 10)
    idx = np.random.RandomState(9).randint(0, N_ROWS, 170).astype(np.intp)
    for kw, rows in [
        (dict(idx=idx), idx),
        (dict(idx=idx, start=30, n=100), idx[30:130]),
        (dict(start=50, n=150), np.arange(50, 200)),
    ]:
        out = np.full((rows.size, UNITS[-1]), np.nan, dtype=dtype)
        ws.forward(params, ds, out, **kw)
        assert_close(out, expected[rows], RTOL[dtype] / 10)


# -------------------------------------------------- finite differences --


@pytest.mark.parametrize("kind", ["C", "csr"])
@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_gradient_finite_differences(activation, output, kind):
    """Central differences of the kernel's own loss at a few coordinates of
    every block (first, middle and last coefficient matrix; intercepts)."""
    units, n = (4, 7, 5, 3), 80
    lay, ds, X, Xd, Y, sw, params = make_problem(
        activation, output, kind, np.float64, units=units, n=n, weighted=True, seed=10
    )
    ws = _objective.Workspace(lay, 2, np.float64)
    alpha, sw_sum = 0.03, sw_total(sw, slice(None), n)
    _, grad = run_loss_grad(ws, params, ds, alpha, sw_sum)
    rng = np.random.RandomState(11)
    P = params.size
    coords = np.unique(np.r_[0, lay.n_coef - 1, lay.n_coef, P - 1, rng.randint(0, P, 8)])
    h = 1e-6
    scratch = np.empty_like(grad)
    for c in coords:
        p = params.copy()
        p[c] += h
        up = ws.loss_grad(p, scratch, ds, alpha, sw_sum)
        p[c] -= 2 * h
        down = ws.loss_grad(p, scratch, ds, alpha, sw_sum)
        fd = (up - down) / (2 * h)
        assert grad[c] == pytest.approx(fd, rel=1e-5, abs=1e-7), c


# ----------------------------------------------------------- determinism --


@pytest.mark.parametrize("kind", INPUTS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_deterministic_and_thread_count_independent(dtype, kind):
    lay, ds, X, Xd, Y, sw, params = make_problem(
        "relu", "softmax", kind, dtype, n=N_ROWS, weighted=True, chunk=32, seed=12
    )
    sw_sum = sw_total(sw, slice(None), N_ROWS)
    results = {}
    for nt in (1, 2):
        ws = _objective.Workspace(lay, nt, dtype)
        first = run_loss_grad(ws, params, ds, 0.01, sw_sum)
        for _ in range(3):
            again = run_loss_grad(ws, params, ds, 0.01, sw_sum)
            assert again[0] == first[0]
            np.testing.assert_array_equal(again[1], first[1])
        # a fresh workspace of the same thread count: same bits too
        other = run_loss_grad(_objective.Workspace(lay, nt, dtype), params, ds, 0.01, sw_sum)
        assert other[0] == first[0]
        np.testing.assert_array_equal(other[1], first[1])
        results[nt] = first
    if dtype == np.float64:
        (l1, g1), (l2, g2) = results[1], results[2]
        assert l2 == pytest.approx(l1, rel=1e-12)
        np.testing.assert_allclose(g2, g1, rtol=1e-12, atol=1e-12 * np.abs(g1).max())


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
        np.ones(3), np.array([0, 3, 1], dtype=np.intp), np.array([0, 1, 3] + [3] * (n - 2), dtype=np.intp), (n, 4)
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
        "forward idx out of range": fw(np.empty((2, 2)), ws=ws_g, idx=np.array([n, 0], dtype=np.intp)),
        "idx on dense without gather buffer": lg(idx=np.arange(4, dtype=np.intp)),
        "start + n beyond X": lg(start=10, n=11),
        "start beyond X": lg(start=n + 1),
        "negative n": lg(start=0, n=-1),
        "no rows": lg(start=n),
        "sw_sum zero": lg(sw_sum=0.0),
        "sw_sum negative": lg(sw_sum=-1.0),
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
        "layout unknown activation": lambda: _core.Layout(units, 4, 0, 8, False),
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


_THREAD_LIMIT_SCRIPT = """
import numpy as np
from fastmlp import _core, _objective, _epochs
rng = np.random.RandomState(0)
units, n = (5, 16, 8, 3), 300
P = sum(a * b for a, b in zip(units[:-1], units[1:])) + sum(units[1:])
X, Y, params = rng.randn(n, 5), rng.randn(n, 3), rng.uniform(-0.5, 0.5, P)
lay = _core.Layout(units, 2, 0, 64, False)
ds = _core.Dataset(X, Y, None, np.float64)
res = []
for nt in (1, 2):
    g = np.empty(P)
    res.append((_objective.Workspace(lay, nt, np.float64).loss_grad(params, g, ds, 0.0, n), g))
assert res[0][0] == res[1][0] or abs(res[0][0] - res[1][0]) < 1e-12 * res[0][0], res
np.testing.assert_allclose(res[1][1], res[0][1], rtol=1e-10, atol=1e-12)

# sgd/adam epochs: a region of one thread runs every part and slice of a
# three-part minibatch, between the same barriers, to the same bits
lay = _core.Layout(units, 3, 2, 16, True)
Yc = np.eye(3)[rng.randint(0, 3, n)]
ds = _core.Dataset(X, Yc, rng.uniform(0.5, 2, n), np.float64)
idx = rng.permutation(n).astype(np.intp)
out = []
for fixed in (1, 3):
    p = np.random.RandomState(1).uniform(-0.5, 0.5, P)
    r = _epochs.EpochRunner(_objective.Workspace(lay, 3, np.float64), ds, p, np.empty(P),
                             np.zeros(P), np.zeros(P), "adam", 1e-3, 1e-2)
    r.fixed_threads = fixed
    out.append((p, [r.run(idx, n, 40) for _ in range(3)]))
np.testing.assert_array_equal(out[0][0], out[1][0])
assert out[0][1] == out[1][1]
"""


def test_fewer_openmp_threads_than_requested():
    import os
    import subprocess

    import fastmlp

    # the subprocess imports the same fastmlp as this run (installed or in place)
    env = dict(os.environ, OMP_THREAD_LIMIT="1")
    root = str(pathlib.Path(fastmlp.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, "-c", _THREAD_LIMIT_SCRIPT], env=env, cwd=root,
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
