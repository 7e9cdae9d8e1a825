"""fastmlp._objective against the NumPy reference: loss, gradient and forward
pass for every hidden activation x output function x input layout (C, F, CSR
with empty rows and unsorted indices) x sample weights x thread count, row
subsets (idx, start/n), chunk sizes, narrow layers, a finite-difference check,
determinism, and a team smaller than the Workspace asked for."""

import pathlib
import sys

import numpy as np
import pytest
import reference as ref
from kernel_problems import (
    ACTIVATIONS,
    INPUTS,
    N_ROWS,
    OUTPUTS,
    PAIRS,
    RTOL,
    UNITS,
    assert_close,
    make_problem,
    reference,
    run_loss_grad,
    sw_total,
)

from fastmlp import _core, _objective
from fastmlp._network import CSR

# ----------------------------------------------------- loss and gradient --


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("kind", INPUTS)
@pytest.mark.parametrize("activation, output", PAIRS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_loss_grad_matches_reference(dtype, activation, output, kind, weighted, n_threads):
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


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("width", [5, 32, 70, 128])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_csr_first_layer_column_blocks(dtype, width, n_threads):
    """The CSR products run over column blocks of 256 bytes (32 float64, 64
    float32) and a narrower tail: widths with no whole block, exactly one,
    blocks and a tail, and several blocks. CSR with unsorted indices,
    duplicates and empty rows against the dense path on the same values,
    all rows and a row subset, loss + gradient and the forward pass."""
    units, n = (23, width, 4), 97
    lay, ds, X, Xd, Y, sw, params = make_problem(
        "tanh", "softmax", "csr", dtype, units=units, n=n, weighted=True, seed=11,
        chunk=40)
    # split each row's first nonzero into two entries of the same column
    # (a duplicate, summed by the product), values exact in the dtype
    data, indices, indptr = list(X.data), list(X.indices), [0]
    out_d, out_i = [], []
    for a, b in zip(X.indptr[:-1], X.indptr[1:]):
        for p in range(a, b):
            if p == a:
                half = dtype(data[p] / 2)
                out_d += [half, dtype(data[p] - half)]
                out_i += [indices[p], indices[p]]
            else:
                out_d.append(data[p])
                out_i.append(indices[p])
        indptr.append(len(out_i))
    Xdup = CSR(np.asarray(out_d, dtype=dtype), np.asarray(out_i, dtype=np.intp),
               np.asarray(indptr, dtype=np.intp), X.shape)
    assert np.any(np.diff(Xdup.indptr) == 0)
    dense = np.ascontiguousarray(Xd, dtype=dtype)
    dense_lay = _core.Layout(units, lay.activation, lay.output, 40, True)
    rtol = RTOL[dtype]
    idx = np.random.RandomState(0).permutation(n)[:60].astype(np.intp)
    for rows in (None, idx):
        kw = {} if rows is None else dict(idx=rows)
        sw_sum = sw_total(sw, slice(None) if rows is None else rows, n)
        got = run_loss_grad(_objective.Workspace(lay, n_threads, dtype), params,
                            _core.Dataset(Xdup, Y, sw, dtype), 1e-3, sw_sum, **kw)
        want = run_loss_grad(_objective.Workspace(dense_lay, n_threads, dtype), params,
                             _core.Dataset(dense, Y, sw, dtype), 1e-3, sw_sum, **kw)
        assert got[0] == pytest.approx(want[0], rel=rtol)
        assert_close(got[1], want[1], rtol)
        m = n if rows is None else rows.shape[0]
        outs = []
        for layout, Xk in ((lay, Xdup), (dense_lay, dense)):
            out = np.empty((m, units[-1]), dtype=dtype)
            _objective.Workspace(layout, n_threads, dtype, False).forward(
                params, _core.Dataset(Xk, None, None, dtype), out, **kw)
            outs.append(out)
        assert_close(outs[0], outs[1], rtol)


# ------------------------------------------------------------ chunk sizes --


@pytest.mark.parametrize("n_threads", [1, 2, 3])
@pytest.mark.parametrize("chunk", [1, 7, 64, 4096])
@pytest.mark.parametrize("kind", INPUTS)
def test_chunk_sizes(kind, chunk, n_threads):
    """Chunks of 1 row, a size that does not divide the rows, and one larger
    than the batch; an odd row count so thread blocks are uneven."""
    units, n = (6, 24, 12, 3), 101
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
@pytest.mark.parametrize("activation, output", PAIRS)
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
@pytest.mark.parametrize("activation, output", PAIRS)
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


def test_negative_weight_sum_negates_the_objective():
    """sklearn divides by the weight sum whatever its sign: a negative sum
    gives the negated loss and gradient, bit for bit."""
    lay, ds, X, Xd, Y, sw, params = make_problem(
        "tanh", "softmax", "C", np.float64, units=(4, 7, 3), n=60, weighted=True, seed=13
    )
    ws = _objective.Workspace(lay, 2, np.float64)
    sw_sum = sw_total(sw, slice(None), 60)
    loss, grad = run_loss_grad(ws, params, ds, 0.03, sw_sum)
    neg_loss, neg_grad = run_loss_grad(ws, params, ds, 0.03, -sw_sum)
    assert neg_loss == -loss
    np.testing.assert_array_equal(neg_grad, -grad)


# ----------------------------------------------------------- determinism --


@pytest.mark.parametrize("units", [UNITS, (23, 70, 8, 3)], ids=["narrow", "blocks"])
@pytest.mark.parametrize("kind", INPUTS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_deterministic_and_thread_count_independent(dtype, kind, units):
    """(units "blocks": a first layer wide enough for the column blocks of
    the CSR products, and a narrower tail)"""
    lay, ds, X, Xd, Y, sw, params = make_problem(
        "relu", "softmax", kind, dtype, units=units, n=N_ROWS, weighted=True, chunk=32,
        seed=12
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


@pytest.mark.parametrize("kind", INPUTS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_threads_of_a_region_never_change_a_bit(dtype, kind):
    """A Workspace of 3 threads splits an evaluation into 3 parts whatever
    threads the runtime rule gives its region: 1, 2 or 3 (fixed) or the
    measured count give the same bits, and each region is booked on the
    threads that ran it."""
    lay, ds, X, Xd, Y, sw, params = make_problem(
        "relu", "softmax", kind, dtype, units=(23, 70, 8, 3), n=N_ROWS, weighted=True,
        chunk=32, seed=13
    )
    sw_sum = sw_total(sw, slice(None), N_ROWS)
    ws = _objective.Workspace(lay, 3, dtype)
    fwd = _objective.Workspace(lay, 3, dtype, False)
    got = []
    for fixed in (1, 2, 3, 0):
        ws.fixed_threads = fwd.fixed_threads = fixed
        if fixed:
            assert ws.threads == fwd.threads == fixed
        before = ws.regions_on_threads
        loss, grad = run_loss_grad(ws, params, ds, 0.01, sw_sum)
        after = ws.regions_on_threads
        if fixed == 1:
            assert after == (before[0], before[1] + 1)
        elif fixed > 1:
            assert after == (before[0] + 1, before[1])
        out = np.empty((N_ROWS, 3), dtype=dtype)
        fwd.forward(params, ds, out)
        got.append((loss, grad, out))
    assert_close(got[0][1], reference(params, (23, 70, 8, 3), Xd, Y, sw, 0.01, "relu",
                                      "softmax", dtype)[1], RTOL[dtype])
    for loss, grad, out in got[1:]:
        assert loss == got[0][0]
        np.testing.assert_array_equal(grad, got[0][1])
        np.testing.assert_array_equal(out, got[0][2])
    with pytest.raises(ValueError, match="fixed_threads"):
        ws.fixed_threads = -1


@pytest.mark.parametrize("n_threads", [2, 3])
def test_forward_by_columns_on_fewer_threads_than_the_workspace(n_threads):
    """The column blocks of a few rows' pass are fixed by the network: run on
    one thread (the fallback) or on all, the same bits."""
    units, n = (20, 150, 9, 70, 4), 37
    lay, ds, X, Xd, Y, sw, params = make_problem("tanh", "softmax", "C", np.float64,
                                                 units=units, n=n, chunk=40, seed=9)
    ws = _objective.Workspace(lay, n_threads, np.float64, False)
    outs = []
    for fixed in range(1, n_threads + 1):
        ws.fixed_threads = fixed
        outs.append(ws.forward(params, ds, np.empty((n, 4)), columns=True,
                               check_finite=True))
    for out in outs[1:]:
        np.testing.assert_array_equal(out, outs[0])


def test_a_fallback_reaches_every_workspace_of_the_process():
    """When one runner finds the threads losing, the process's other
    Workspaces go on with one thread too, and try them again when the
    backoff ends."""
    from fastmlp._runtime_threads import hold_one_thread

    lay, ds, X, Xd, Y, sw, params = make_problem("relu", "softmax", "C", np.float64, seed=14)
    ws = _objective.Workspace(lay, 2, np.float64)
    try:
        hold_one_thread(0)
        assert ws.threads == 2
        hold_one_thread(60)
        assert ws.threads == 1
        before = ws.regions_on_threads
        run_loss_grad(ws, params, ds, 0.0, N_ROWS)
        assert ws.regions_on_threads == (before[0], before[1] + 1)
        # a workspace made during the backoff starts on one thread
        assert _objective.Workspace(lay, 2, np.float64).threads == 1
    finally:
        hold_one_thread(0)
    assert ws.threads == 2


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


# ------------------------------------------------- forward by columns --


@pytest.mark.parametrize("n_threads", [1, 2, 3])
@pytest.mark.parametrize("kind", ["C", "F"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_forward_by_columns_matches_reference(dtype, activation, kind, n_threads):
    """columns=True: one chunk with every wide product in 64-column blocks
    (widths 150 and 70: short last blocks; 9: a narrow product), equal to the
    reference and, bit for bit, on every thread count."""
    units, n = (20, 150, 9, 70, 4), 37
    lay, ds, X, Xd, Y, sw, params = make_problem(activation, "softmax", kind, dtype,
                                                 units=units, n=n, chunk=40, seed=8)
    out = np.empty((n, units[-1]), dtype=dtype)
    _objective.Workspace(lay, n_threads, dtype, False).forward(params, ds, out, columns=True)
    assert_close(out, ref.forward(params, list(units), Xd, activation, "softmax"),
                 RTOL[dtype])
    one = np.empty_like(out)
    _objective.Workspace(lay, 1, dtype, False).forward(params, ds, one, columns=True)
    np.testing.assert_array_equal(out, one)


def test_forward_by_columns_refuses_what_it_cannot_split():
    """columns=True takes at most one chunk of dense rows read in place."""
    for kind, kw, n in (("csr", {}, 30), ("C", dict(idx=np.arange(5, dtype=np.intp)), 30),
                        ("C", {}, 41)):
        lay, ds, *_, params = make_problem("relu", "identity", kind, np.float64,
                                           n=n, chunk=40, gather=True)
        rows = kw["idx"].shape[0] if kw else n
        out = np.empty((rows, UNITS[-1]))
        with pytest.raises(ValueError, match="columns=True"):
            _objective.Workspace(lay, 2, np.float64, False).forward(params, ds, out,
                                                                    columns=True, **kw)


@pytest.mark.parametrize("columns", [False, True])
@pytest.mark.parametrize("n_threads", [1, 2, 3])
@pytest.mark.parametrize("kind", ["C", "F"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_forward_checks_the_rows_it_reads(dtype, kind, n_threads, columns):
    """check_finite=True: a NaN or an infinity in any row and column raises
    NonFiniteInput; finite rows give the unchecked pass's values."""
    n = 40 if columns else 203
    lay, ds, X, Xd, Y, sw, params = make_problem("relu", "softmax", kind, dtype, n=n,
                                                 chunk=40, seed=9)
    ws = _objective.Workspace(lay, n_threads, dtype, False)
    want = np.empty((n, UNITS[-1]), dtype=dtype)
    ws.forward(params, ds, want, columns=columns)
    got = np.empty_like(want)
    ws.forward(params, ds, got, columns=columns, check_finite=True)
    np.testing.assert_array_equal(got, want)
    for row, col, bad in ((0, 0, np.nan), (n // 2, 2, np.inf), (n - 1, UNITS[0] - 1, -np.inf)):
        Xb = X.copy(order="K")
        Xb[row, col] = bad
        with pytest.raises(_objective.NonFiniteInput):
            ws.forward(params, _core.Dataset(Xb, None, None, dtype), got, columns=columns,
                       check_finite=True)


def test_forward_checks_only_dense_rows_read_in_place():
    for kind, kw in (("csr", {}), ("C", dict(idx=np.arange(5, dtype=np.intp)))):
        lay, ds, *_, params = make_problem("relu", "identity", kind, np.float64, gather=True)
        out = np.empty((5 if kw else N_ROWS, UNITS[-1]))
        with pytest.raises(ValueError, match="check_finite=True"):
            _objective.Workspace(lay, 1, np.float64, False).forward(params, ds, out,
                                                                    check_finite=True, **kw)
