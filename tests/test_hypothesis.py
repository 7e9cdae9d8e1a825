"""Property-based tests (hypothesis): hostile shapes, layouts and values.

The compiled core (Layout / Dataset / Workspace) and the public estimators
(solver="lbfgs", a few iterations) are driven with random shapes (one sample,
one feature, hidden layers 1 to 1000 wide, more classes than samples), random
strides and memory orders, float32 / float64, dense and sparse input (CSR with
empty rows, explicit zeros, duplicate entries and unsorted indices; CSC) and
extreme values (+-1e30, subnormals), and checked against the NumPy reference
(tests/reference.py): the results agree wherever the reference is finite in
the model's dtype, or a ValueError is raised; never a crash.

Tolerances come from a running error bound computed alongside the reference
(`error_bounds`): each matrix product may be off by rtol times the product of
the absolute values; errors are carried through the layers (forward: how far
each activation moves over its input's error interval; backward: bounds of
the derivatives), a subnormal result may be off by a subnormal ulp per
operation, and fastmlp's fast exp, which returns about
1e-308 (float64) / 1e-38 (float32) where the true value underflows, adds that
much to every probability and logistic activation. A wrong index or a missed
term is off by O(1) relative to these bounds and is still caught.

Examples are drawn from a fixed seed (derandomize=True) so CI sees the same
cases every run; the whole file takes well under a minute.
"""

import warnings

import numpy as np
import pytest
import reference as ref
import scipy.sparse as sp
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from scipy.special import expit, logsumexp
from shared_helpers import n_params
from sklearn.exceptions import ConvergenceWarning

import fastmlp
from fastmlp import _core, _objective
from fastmlp._network import ACTIVATION_CODES, CSR, OUTPUT_CODES

SETTINGS = dict(
    derandomize=True,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

RTOL = {np.float64: 1e-10, np.float32: 1e-4}
# the smallest value fastmlp's exp returns (its argument is clamped there)
EXP_FLOOR = {np.float64: np.exp(-708.0), np.float32: float(np.exp(np.float32(-87.0)))}
LIPSCHITZ = {"identity": 1.0, "logistic": 0.25, "tanh": 1.0, "relu": 1.0,
             "gelu": 1.13, "silu": 1.1, "leaky_relu": 1.0, "elu": 1.0, "softplus": 1.0}
# max |f''| of the activations whose derivative the kernels evaluate at the
# pre-activation (its error moves the derivative by at most this factor)
CURVATURE = {"gelu": 0.8, "silu": 0.5, "softplus": 0.25}
BOUNDED_ACTIVATIONS = list(LIPSCHITZ)
# the error bounds here are derived for sklearn's outputs; the robust losses
# are checked against the reference in test_loss and test_objective
BOUNDED_OUTPUTS = ["identity", "logistic", "softmax", "exp"]

WIDTHS = st.one_of(
    st.integers(1, 8), st.sampled_from([1, 2, 31, 64, 65, 257, 1000])
)
EXTREMES = ["none", "huge", "subnormal", "mixed"]


# ------------------------------------------------------------- helpers --


def extreme_values(mode, dtype, rng, shape):
    """Values to plant in X (or Y): +-1e30, subnormals of the dtype, or both."""
    tiny = np.finfo(dtype).smallest_subnormal
    huge = [1e30, -1e30]
    small = [tiny, -tiny, 7 * tiny, np.finfo(dtype).tiny / 3]
    pool = {"huge": huge, "subnormal": small, "mixed": huge + small + [0.0]}[mode]
    return rng.choice(np.asarray(pool, dtype=np.float64), size=shape)


def make_dense(n, nf, extreme, dtype, rng):
    """Random X with some entries replaced by extremes; rounded to dtype."""
    X = rng.randn(n, nf)
    X[rng.rand(n, nf) < 0.3] = 0
    if extreme != "none":
        mask = rng.rand(n, nf) < 0.25
        mask.flat[rng.randint(mask.size)] = True
        X[mask] = extreme_values(extreme, dtype, rng, mask.sum())
    return X.astype(dtype)


def hostile_csr(Xt, rng, empty_rows=True, explicit_zeros=True, duplicates=True,
                unsorted=True):
    """CSR arrays (intp) holding the values of dense Xt (dtype kept), with
    empty rows, stored zeros, duplicate (column, 0) entries and unsorted
    column indices within rows."""
    n, nf = Xt.shape
    Xt = Xt.copy()
    if empty_rows and n > 1:
        Xt[rng.rand(n) < 0.3] = 0
    data, indices, indptr = [], [], [0]
    for row in Xt:
        (cols,) = np.nonzero(row)
        cols = list(cols)
        vals = list(row[cols])
        if explicit_zeros:
            for c in np.nonzero((row == 0) & (rng.rand(nf) < 0.3))[0]:
                cols.append(c)
                vals.append(0.0)
        if duplicates and cols and rng.rand() < 0.5:
            j = rng.randint(len(cols))
            cols.append(cols[j])
            vals.append(0.0)  # a zero duplicate: the sum stays exact
        order = rng.permutation(len(cols)) if unsorted else np.argsort(cols, kind="stable")
        data.extend(np.asarray(vals, dtype=Xt.dtype)[order] if cols else [])
        indices.extend(np.asarray(cols, dtype=np.intp)[order] if cols else [])
        indptr.append(len(indices))
    return (
        np.asarray(data, dtype=Xt.dtype),
        np.asarray(indices, dtype=np.intp),
        np.asarray(indptr, dtype=np.intp),
    )


def make_Y(output, n, k, extreme, dtype, rng):
    Y = ref.make_targets(output, n, k, rng)
    if output == "identity" and extreme in ("huge", "mixed"):
        Y[rng.rand(n, k) < 0.2] = 1e30
    return np.ascontiguousarray(Y, dtype=dtype)


def strided_view(base_shape, dtype, rng, order, row_step, col_step, flip, transpose):
    """An (n, nf)-shaped view with the given steps/order into a larger array
    of garbage; returns (view, the array the view's values must be copied
    from)."""
    n, nf = base_shape
    if transpose:
        n, nf = nf, n
    big = rng.randn(n * row_step + 1, nf * col_step + 1).astype(dtype)
    big = np.asfortranarray(big) if order == "F" else big
    view = big[: n * row_step : row_step, : nf * col_step : col_step]
    if flip:
        view = view[::-1]
    if transpose:
        view = view.T
    return view


def forward_cache(params, units, Xd, activation):
    """Reference forward pass keeping every activation, in float64."""
    coefs, intercepts = ref.unpack(np.asarray(params, np.float64), units)
    acts, zs = [Xd], []
    with np.errstate(all="ignore"):
        for i, (W, b) in enumerate(zip(coefs, intercepts)):
            Z = acts[-1] @ W + b
            zs.append(Z)
            if i < len(coefs) - 1:
                acts.append(ref.act(Z, activation))
    return coefs, intercepts, acts, zs


def error_bounds(params, units, Xd, Y, sw, alpha, activation, output, dtype):
    """Largest magnitude any intermediate may reach (to tell whether the
    computation is finite in `dtype`), and elementwise error bounds of the
    loss, the packed gradient and the forward output (see the module doc)."""
    rtol, floor = RTOL[dtype], EXP_FLOOR[dtype]
    # gradual underflow: every operation may be off by a subnormal ulp
    sub = float(np.finfo(dtype).smallest_subnormal)
    coefs, intercepts, acts, zs = forward_cache(params, units, Xd, activation)
    n = Xd.shape[0]
    w = np.ones(n) if sw is None else np.asarray(sw, np.float64)
    with np.errstate(all="ignore"):
        big = np.abs(Xd).max(initial=0)
        EA, EZS = [np.zeros_like(Xd)], [None]
        # forward: error of every activation, and of the output-layer Z
        for i, (W, b) in enumerate(zip(coefs, intercepts)):
            S = np.abs(acts[i]) @ np.abs(W) + np.abs(b)
            big = max(big, S.max(initial=0))
            EZ = EA[i] @ np.abs(W) + rtol * S + (W.shape[0] + 2) * sub
            if i < len(coefs) - 1:
                # gelu, silu, softplus, elu: a value past the exp clamp is the
                # limit, off by at most |z| e^z there
                extra = {"logistic": floor, "tanh": 2 * floor, "relu": 0.0, "identity": 0.0,
                         "leaky_relu": 0.0}.get(activation, 1000 * floor)
                EA.append(spread(zs[i], EZ, activation) + extra)
                EZS.append(EZ)
        Z = zs[-1]
        k = Z.shape[1]
        if output == "softmax":
            P = np.exp(Z - logsumexp(Z, axis=1, keepdims=True))
            # |d log p_i| <= 2 max_j |dz_j|, and p and 1 - p move by at most
            # that factor
            e2 = 2 * EZ.max(axis=1, keepdims=True)
            EP = np.minimum(np.minimum(e2, 1.0), np.expm1(e2) * np.minimum(P, 1 - P))
            EP = EP + (k + 1) * floor + rtol * P
        elif output == "logistic":
            P = expit(Z)
            EP = spread(Z, EZ, "logistic") + floor + rtol * P
        elif output == "exp":
            P = np.exp(Z)
            EP = np.where(P > 0, P * np.expm1(EZ), 0.0) + rtol * P
        else:
            P = Z
            EP = EZ
        R = P - Y
        big = max(big, np.abs(P).max(initial=0), np.abs(R).max(initial=0))
        D = R * w[:, None]
        ED = EP * w[:, None] + rtol * np.abs(D) + 2 * sub
        big = max(big, np.abs(D).max(initial=0))
        sw_sum = w.sum()
        # loss
        if output == "softmax":
            E_terms = np.abs(Y) * (2 * EZ.max(axis=1, keepdims=True))
        elif output == "logistic":
            E_terms = (np.abs(Y) + np.abs(1 - Y)) * EZ
        elif output == "exp":
            E_terms = np.abs(Y) * EZ + EP
        else:
            E_terms = np.abs(R) * EP
        loss_ref, _ = ref.loss_grad(params, list(units), Xd, Y, sw, alpha, activation,
                                    output, np.finfo(dtype).eps)
        e_loss = (w @ E_terms.sum(1)) / sw_sum + rtol * (abs(loss_ref) + 1e-300) * 4
        # backward
        eW, eb = [None] * len(coefs), [None] * len(coefs)
        for i in range(len(coefs) - 1, -1, -1):
            A, W = np.abs(acts[i]), np.abs(coefs[i])
            S = A.T @ np.abs(D) + alpha * W
            big = max(big, S.max(initial=0))
            eW[i] = (A.T @ ED + EA[i].T @ np.abs(D) + rtol * S + (n + 2) * sub) / sw_sum
            eb[i] = (ED.sum(0) + rtol * np.abs(D).sum(0) + (n + 2) * sub) / sw_sum
            if i > 0:
                T = D @ coefs[i].T
                ST = np.abs(D) @ W.T
                big = max(big, ST.max(initial=0))
                ET = ED @ W.T + rtol * ST + (W.shape[1] + 2) * sub
                a = acts[i]
                if activation == "relu":
                    # the sign of Z may differ where |Z| is within its error
                    flip = (np.abs(zs[i - 1]) <= 4 * EA[i]).astype(float)
                    E_d = flip
                elif activation == "tanh":
                    E_d = 2 * np.abs(a) * EA[i]
                elif activation == "logistic":
                    E_d = EA[i]
                elif activation == "leaky_relu":
                    E_d = 0.99 * (np.abs(zs[i - 1]) <= 4 * EA[i]).astype(float)
                elif activation == "elu":
                    # a + 1 from the stored a: its error, and an ulp of 1
                    E_d = EA[i] + np.finfo(dtype).eps
                elif activation in CURVATURE:
                    E_d = CURVATURE[activation] * EZS[i] + 1000 * floor
                else:
                    E_d = 0.0
                D = T * ref.dact(zs[i - 1], a, activation)
                ED = ET * LIPSCHITZ[activation] + ST * E_d + rtol * np.abs(D)
        e_grad = np.concatenate([e.ravel() for e in eW] + eb)
    finite = np.isfinite(big) and big < np.finfo(dtype).max / 8
    return finite, e_loss, e_grad, EP


def spread(Z, EZ, activation):
    """max |f(Z +- EZ) - f(Z)|: the error of f(Z) given that of Z (f monotone)."""
    if activation in ("identity", "relu"):
        return EZ
    if activation not in ("logistic", "tanh"):  # not all monotone: their Lipschitz bound
        return LIPSCHITZ[activation] * EZ
    f = expit if activation == "logistic" else np.tanh
    F = f(Z)
    return np.maximum(np.abs(f(Z + EZ) - F), np.abs(f(Z - EZ) - F))


def assert_within(actual, desired, bound, factor=4.0, what=""):
    actual = np.asarray(actual, np.float64)
    desired = np.asarray(desired, np.float64)
    assert actual.shape == desired.shape
    assert np.isfinite(actual).all(), what
    err = np.abs(actual - desired)
    bound = np.nan_to_num(np.asarray(bound, np.float64), nan=np.inf)
    # relative agreement with a floor from the error bound
    with np.errstate(over="ignore"):
        ok = err <= factor * bound + 1e-300
    if not ok.all():
        i = np.flatnonzero(~ok.ravel())[:5]
        raise AssertionError(
            f"{what}: {ok.size - ok.sum()} of {ok.size} entries off; at {i}: "
            f"got {actual.ravel()[i]}, want {desired.ravel()[i]}, "
            f"bound {np.broadcast_to(bound, actual.shape).ravel()[i]}"
        )


# ----------------------------------------------------------- kernels --


@st.composite
def kernel_problems(draw):
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    activation = draw(st.sampled_from(BOUNDED_ACTIVATIONS))
    output = draw(st.sampled_from(BOUNDED_OUTPUTS))
    n = draw(st.one_of(st.just(1), st.integers(1, 40), st.integers(100, 300)))
    nf = draw(st.one_of(st.just(1), st.integers(1, 6)))
    hidden = draw(st.lists(WIDTHS, min_size=0, max_size=3))
    if n_params([nf] + hidden + [1]) > 1_200_000:
        hidden = hidden[:1]
    if draw(st.booleans()):
        # a wider network over more rows, split over 2-3 threads
        n = draw(st.integers(150, 300))
        hidden = [max(hidden[0], 64)] + hidden[1:] if hidden else [64]
        n_threads = draw(st.integers(2, 3))
    else:
        n_threads = draw(st.integers(1, 3))
    k = draw(st.one_of(st.integers(1, 3), st.integers(n, n + 4)))  # more classes than rows
    kind = draw(st.sampled_from(["C", "F", "csr", "csr-clean", "strided"]))
    extreme = draw(st.sampled_from(EXTREMES))
    return dict(
        dtype=dtype, activation=activation, output=output, n=n, nf=nf,
        units=(nf, *hidden, k), kind=kind, extreme=extreme,
        weighted=draw(st.booleans()),
        chunk=draw(st.sampled_from([1, 3, 8, 64, 1024])),
        n_threads=n_threads,
        alpha=draw(st.sampled_from([0.0, 1e-4, 0.3])),
        subset=draw(st.sampled_from(["all", "idx", "slice"])),
        seed=draw(st.integers(0, 2**31 - 1)),
        strides=draw(st.tuples(
            st.sampled_from(["C", "F"]), st.integers(1, 3), st.integers(1, 3),
            st.booleans(), st.booleans(),
        )),
    )


def build_kernel_input(p, rng):
    """(X for the kernel or None if it must be refused, dense float64 copy)."""
    dtype, n, nf = p["dtype"], p["n"], p["nf"]
    Xt = make_dense(n, nf, p["extreme"], dtype, rng)
    if p["kind"].startswith("csr"):
        clean = p["kind"] == "csr-clean"
        data, indices, indptr = hostile_csr(
            Xt, rng, empty_rows=not clean, explicit_zeros=not clean,
            duplicates=not clean, unsorted=not clean,
        )
        X = CSR(data, indices, indptr, (n, nf))
        Xd = sp.csr_matrix((data.astype(np.float64), indices, indptr), shape=(n, nf)).toarray()
        return X, Xd
    if p["kind"] == "strided":
        order, rs, cs, flip, transpose = p["strides"]
        view = strided_view((n, nf), dtype, rng, order, rs, cs, flip, transpose)
        view[...] = Xt
        return view, Xt.astype(np.float64)
    X = np.asfortranarray(Xt) if p["kind"] == "F" else Xt
    return X, Xt.astype(np.float64)


@settings(max_examples=400, **SETTINGS)
@given(p=kernel_problems())
def test_kernel_loss_grad_and_forward_match_reference(p):
    dtype, units, n = p["dtype"], p["units"], p["n"]
    rng = np.random.RandomState(p["seed"] % (2**32))
    X, Xd = build_kernel_input(p, rng)
    Y = make_Y(p["output"], n, units[-1], p["extreme"], dtype, rng)
    sw = rng.uniform(0.1, 3.0, n).astype(dtype) if p["weighted"] else None
    if sw is not None and n > 1:
        sw[rng.rand(n) < 0.2] = 0  # zero weights are allowed
        sw[0] = max(sw[0], 0.5)
    params = rng.uniform(-0.5, 0.5, n_params(units)).astype(dtype)
    lay = _core.Layout(units, ACTIVATION_CODES[p["activation"]],
                          OUTPUT_CODES[p["output"]], p["chunk"], p["subset"] == "idx")

    contiguous = isinstance(X, CSR) or X.flags.c_contiguous or X.flags.f_contiguous
    if not contiguous:
        # the kernel reads only C- or F-contiguous dense X
        with pytest.raises(ValueError, match="contiguous"):
            _core.Dataset(X, Y, sw, dtype)
        with pytest.raises(ValueError, match="contiguous"):
            _core.Dataset(X, None, None, dtype)
        X = np.ascontiguousarray(X)
    ds = _core.Dataset(X, Y, sw, dtype)

    # rows used
    if p["subset"] == "idx":
        idx = rng.randint(0, n, rng.randint(1, 2 * n + 1)).astype(np.intp)
        rows, kw = idx, dict(idx=idx)
    elif p["subset"] == "slice":
        start = rng.randint(0, n)
        cnt = rng.randint(1, n - start + 1)
        rows, kw = np.arange(start, start + cnt), dict(start=start, n=cnt)
    else:
        rows, kw = np.arange(n), {}
    sw_rows = None if sw is None else sw[rows].astype(np.float64)
    sw_sum = float(len(rows) if sw is None else sw_rows.sum())
    assume(sw_sum > 0)

    ws = _objective.Workspace(lay, p["n_threads"], dtype)
    grad = np.full(lay.n_params, np.nan, dtype=dtype)
    with np.errstate(all="ignore"):
        loss = ws.loss_grad(params, grad, ds, p["alpha"], sw_sum, **kw)
    out = np.full((len(rows), units[-1]), np.nan, dtype=dtype)
    fws = _objective.Workspace(lay, p["n_threads"], dtype, False)
    with np.errstate(all="ignore"):
        fws.forward(params, _core.Dataset(X, None, None, dtype), out, **kw)
    assert isinstance(loss, float)

    Xr, Yr = Xd[rows], Y[rows].astype(np.float64)
    with np.errstate(all="ignore"):
        ref_loss, ref_grad = ref.loss_grad(params, list(units), Xr, Yr, sw_rows, p["alpha"],
                                           p["activation"], p["output"], np.finfo(dtype).eps)
        ref_out = ref.forward(params, list(units), Xr, p["activation"], p["output"])
    finite, e_loss, e_grad, e_out = error_bounds(
        params, units, Xr, Yr, sw_rows, p["alpha"], p["activation"], p["output"], dtype
    )
    ref_finite = (np.isfinite(ref_loss) and np.isfinite(ref_grad).all()
                  and np.isfinite(ref_out).all())
    event(f"input {p['kind']}, extremes {p['extreme']}")
    event(f"widest layer {'> 256' if max(units) > 256 else '<= 256'}")
    event(f"more outputs than rows: {units[-1] > len(rows)}")
    event(f"threads: {p['n_threads']}")
    if not (finite and ref_finite):
        event("overflows in the model's dtype: only checked not to crash")
        return  # overflow in the model's dtype: anything but a crash will do
    if not (np.isfinite(e_grad).all() and np.isfinite(e_out).all()):
        event("some error bounds infinite (those entries unchecked)")
    assert_within(loss, ref_loss, e_loss, what="loss")
    assert_within(grad, ref_grad, e_grad, what="gradient")
    assert_within(out, ref_out, e_out, what="forward")


@settings(max_examples=60, **SETTINGS)
@given(
    dtype=st.sampled_from([np.float64, np.float32]),
    shape=st.tuples(st.integers(1, 6), st.integers(1, 6)),
    order=st.sampled_from(["C", "F"]),
    row_step=st.integers(1, 3),
    col_step=st.integers(1, 3),
    flip=st.booleans(),
    transpose=st.booleans(),
    y_order=st.sampled_from(["C", "F", "strided"]),
)
def test_kernel_dataset_accepts_only_contiguous(dtype, shape, order, row_step, col_step,
                                                flip, transpose, y_order):
    """Any view: accepted (and read correctly) iff C- or F-contiguous, else a
    ValueError; Y and sample weights likewise must be C-contiguous."""
    rng = np.random.RandomState(0)
    n, nf = shape
    X = strided_view(shape, dtype, rng, order, row_step, col_step, flip, transpose)
    assert X.shape == (n, nf)
    units = (nf, 3, 2)
    lay = _core.Layout(units, 2, 0, 4, False)
    params = rng.uniform(-1, 1, n_params(units)).astype(dtype)
    if X.flags.c_contiguous or X.flags.f_contiguous:
        out = np.empty((n, 2), dtype=dtype)
        _objective.Workspace(lay, 2, dtype, False).forward(
            params, _core.Dataset(X, None, None, dtype), out)
        want = ref.forward(params, list(units), X.astype(np.float64), "tanh", "identity")
        np.testing.assert_allclose(out, want, rtol=RTOL[dtype], atol=RTOL[dtype])
    else:
        with pytest.raises(ValueError):
            _core.Dataset(X, None, None, dtype)
    Xc = np.ascontiguousarray(X)
    Yb = rng.randn(2 * n, 4).astype(dtype)
    Y = {"C": Yb[:n, :2].copy(), "F": np.asfortranarray(Yb[:n, :2]),
         "strided": Yb[::2, :2]}[y_order]
    if Y.flags.c_contiguous:
        _core.Dataset(Xc, Y, None, dtype)
    else:
        with pytest.raises(ValueError):
            _core.Dataset(Xc, Y, None, dtype)
    sw = np.ones(2 * n, dtype)[::2]
    if sw.flags.c_contiguous:  # a single row is contiguous whatever the step
        _core.Dataset(Xc, np.ascontiguousarray(Y), sw, dtype)
    else:
        with pytest.raises(ValueError):
            _core.Dataset(Xc, np.ascontiguousarray(Y), sw, dtype)
    with pytest.raises(ValueError):
        _core.Dataset(sp.csc_matrix(Xc), np.ascontiguousarray(Y), None, dtype)


# -------------------------------------------------------- estimators --


@st.composite
def estimator_problems(draw):
    task = draw(st.sampled_from(["binary", "multiclass", "multilabel", "squared_error",
                                 "poisson"]))
    n = draw(st.one_of(st.just(1), st.integers(2, 30)))
    if task in ("binary", "multiclass"):
        n = max(n, 3)
    return dict(
        task=task, n=n,
        nf=draw(st.one_of(st.just(1), st.integers(1, 5))),
        hidden=draw(st.lists(WIDTHS, min_size=0, max_size=2)),
        k=draw(st.integers(1, n + 3)),  # multilabel: more labels than samples
        activation=draw(st.sampled_from(BOUNDED_ACTIVATIONS)),
        dtype=draw(st.sampled_from([np.float64, np.float32])),
        variant=draw(st.sampled_from(["C", "F", "rows", "cols", "flip", "transpose",
                                      "list", "csr", "csr-hostile", "csc", "coo"])),
        extreme=draw(st.sampled_from(EXTREMES)),
        weighted=draw(st.booleans()),
        max_iter=draw(st.integers(1, 4)),
        strided_targets=draw(st.booleans()),
        seed=draw(st.integers(0, 2**31 - 1)),
    )


def x_variant(Xt, variant, rng):
    """The values of Xt in another container, order or set of strides."""
    dtype = Xt.dtype
    n, nf = Xt.shape
    if variant == "C":
        return Xt.copy()
    if variant == "F":
        return np.asfortranarray(Xt)
    if variant in ("rows", "cols", "flip", "transpose"):
        order = "F" if rng.rand() < 0.5 else "C"
        steps = {"rows": (3, 1), "cols": (1, 2)}.get(variant, (2, 2))
        V = strided_view((n, nf), dtype, rng, order, *steps, variant == "flip",
                         variant == "transpose")
        V[...] = Xt
        return V
    if variant == "list":
        return Xt.tolist()
    if variant == "csr-hostile":
        data, indices, indptr = hostile_csr(Xt, rng, empty_rows=False)
        m = sp.csr_matrix((data, indices.astype(np.int32), indptr.astype(np.int32)),
                          shape=(n, nf))
        m.has_sorted_indices = False
        return m
    return {"csr": sp.csr_matrix, "csc": sp.csc_matrix, "coo": sp.coo_matrix}[variant](Xt)


def make_target(p, Xt, rng):
    n, task = p["n"], p["task"]
    if task == "binary":
        y = rng.randint(0, 2, n)
        y[:2] = [0, 1]
    elif task == "multiclass":
        y = rng.randint(0, 4, n)
        y[:3] = [0, 1, 2]
    elif task == "multilabel":
        y = (rng.rand(n, max(p["k"], 2)) < 0.5).astype(int)
    elif task == "poisson":
        y = rng.poisson(1.0, n).astype(float)
    else:
        y = rng.randn(n)
        if p["extreme"] in ("huge", "mixed"):
            y[rng.rand(n) < 0.2] = 1e30
    return y


@settings(max_examples=150, **SETTINGS)
@given(p=estimator_problems())
def test_estimators_fit_predict_match_reference(p):
    """fit on any container / order / strides: the same model as on a
    C-contiguous copy; loss_ is the reference objective at the fitted weights,
    predictions are the reference forward pass (or a ValueError, or non-finite
    results exactly where the reference overflows)."""
    rng = np.random.RandomState(p["seed"] % (2**32))
    if p["variant"] == "list":
        p["dtype"] = np.float64  # Python floats are validated into float64
    dtype, n = p["dtype"], p["n"]
    Xt = make_dense(n, p["nf"], p["extreme"], dtype, rng)
    y = make_target(p, Xt, rng)
    sw = rng.uniform(0.5, 2.0, n) if p["weighted"] else None
    Xv = x_variant(Xt, p["variant"], rng)
    if p["strided_targets"]:
        # y and sample_weight as strided views: accepted as well
        yb = np.repeat(np.asarray(y)[::-1], 2, axis=0)
        y = yb[::-2]
        assert np.shares_memory(y, yb)
        if sw is not None:
            sw = np.repeat(sw, 3)[::3]
    kw = dict(hidden_layer_sizes=p["hidden"], activation=p["activation"], solver="lbfgs",
              max_iter=p["max_iter"], random_state=p["seed"] % 1000, alpha=1e-3)
    cls = fastmlp.MLPClassifier
    if p["task"] == "squared_error":
        cls = fastmlp.MLPRegressor
    elif p["task"] == "poisson":
        cls = fastmlp.MLPRegressor
        kw["loss"] = "poisson"

    def fit(X):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            with np.errstate(all="ignore"):
                return cls(**kw).fit(X, y, sample_weight=sw)

    event(f"{p['task']}, X as {p['variant']}, extremes {p['extreme']}")
    try:
        model = fit(Xv)
    except ValueError as e:
        event("ValueError: non-finite weights")
        # the only acceptable refusal here: weights that overflowed
        assert p["extreme"] != "none", e
        assert "non-finite parameter weights" in str(e)
        with pytest.raises(ValueError, match="non-finite parameter weights"):
            fit(Xt)
        return
    base = fit(Xt)
    weights = model.coefs_ + model.intercepts_
    assert all(np.isfinite(w).all() for w in weights)
    for a, b in zip(weights, base.coefs_ + base.intercepts_):
        # L-BFGS hands back float64 weights whatever X's dtype, as sklearn's
        assert a.dtype == b.dtype == np.float64
        if p["extreme"] == "none":
            np.testing.assert_allclose(a, b, rtol=RTOL[dtype] * 100,
                                       atol=RTOL[dtype] * 100)
    assert model.n_iter_ == base.n_iter_ or p["extreme"] != "none"

    units = [p["nf"], *p["hidden"], model.n_outputs_]
    params = np.concatenate([w.ravel() for w in weights]).astype(np.float64)
    Xd = Xt.astype(np.float64)
    with np.errstate(all="ignore"):
        want = ref.forward(params, units, Xd, model.activation, model.out_activation_)
        if cls is fastmlp.MLPClassifier:
            Y = model._label_binarizer.transform(y).astype(np.float64)
        else:
            Y = np.asarray(y, np.float64).reshape(n, -1)
        ref_loss, _ = ref.loss_grad(params, units, Xd, Y, sw, kw["alpha"], model.activation,
                                    model.out_activation_, np.finfo(dtype).eps)
    finite, e_loss, _, e_out = error_bounds(params, units, Xd, Y, sw, kw["alpha"],
                                            model.activation, model.out_activation_, dtype)
    with np.errstate(all="ignore"):
        got = model.predict_proba(Xv) if cls is fastmlp.MLPClassifier else model.predict(Xv)
    if cls is fastmlp.MLPClassifier and model.n_outputs_ == 1:
        want = np.hstack([1 - want, want])
        e_out = np.hstack([e_out, e_out])
    got = np.asarray(got).reshape(want.shape)
    # float64 weights: float64 predictions, as sklearn's (the loss_ was
    # evaluated in X's dtype, and is checked with that dtype's bounds)
    assert got.dtype == np.float64
    if not (finite and np.isfinite(want).all()):
        event("overflows in the model's dtype: only checked not to crash")
    else:
        assert_within(got, want, e_out, what="predictions")
        if np.isfinite(ref_loss) and np.isfinite(model.loss_):
            assert_within(model.loss_, ref_loss, e_loss, what="loss_")
    # predicting from the other containers gives the same numbers
    for other in ("C", "csr"):
        with np.errstate(all="ignore"):
            again = (model.predict_proba if cls is fastmlp.MLPClassifier
                     else model.predict)(x_variant(Xt, other, rng))
        again = np.asarray(again).reshape(got.shape)
        if np.isfinite(got).all():
            # the sums run in another order: equal within twice the bound
            assert_within(again, got, 2 * e_out + RTOL[dtype] * np.abs(got), what=other)
        else:
            np.testing.assert_array_equal(np.isfinite(again), np.isfinite(got))
