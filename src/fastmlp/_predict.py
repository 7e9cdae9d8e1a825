"""The forward pass of predict, and what it reuses between calls.

A call costs the forward pass plus a few microseconds:
- X: a float ndarray takes a cheap path with the same checks
  as sklearn's validate_data; anything else goes through validate_data.
  Every check the cheap path cannot settle goes to validate_data, so the
  errors and warnings are sklearn's. Its finiteness check runs in the
  kernels, on each chunk of rows as the products are about to read it;
  sklearn's check, with its error, runs when one is not finite.
- The weights: after a fit, coefs_ and intercepts_ are views of one packed
  vector, which the kernels read in place. Edits in place reach it too.
  Arrays a user assigned are packed on every call, so they are never
  stale.
- The Layout and the Workspace: per model, in a module-level dictionary
  keyed by the model's id and emptied when the model is freed (a weak
  reference; a model whose class defines __eq__ has no hash). That keeps
  them out of the model's __dict__, so out of pickles, deepcopy, clone,
  get_params and to_sklearn. A model keeps those of its last few kinds of
  call (_CACHED_WORKSPACES, _CACHED_BYTES), and none of an older network,
  and what its last kind of dense X needed (_plan: dtype, Layout, packed
  vector), valid while coefs_/intercepts_ are that vector's views. A fit
  that evaluated a validation set drops them (release).
- Threads: a Workspace for _threads.threads_for_rows of the call's rows.
  The compiled forward pass splits the work on a grid that depends on the
  rows and the network only, so the results do not depend on the thread
  count. BLAS is held to one thread (_threads.BLAS_LIMIT, ~8 us a call)
  only when one of the call's products could otherwise run on several: the
  products of small calls run on one BLAS thread anyway.
"""

import operator
import threading
import weakref
from collections import OrderedDict
from functools import partial

import numpy as np
from sklearn import get_config
from sklearn.utils.validation import _assert_all_finite, check_is_fitted, validate_data

from fastmlp._forward import FEW_ROWS, FORWARD_COLUMNS, forward_gemm_work
from fastmlp._network import (
    as_kernel_input,
    chunk_rows,
    make_dataset,
    make_layout,
    make_threaded_workspace,
    nnz_per_row,
    pack,
)
from fastmlp._objective import NonFiniteInput
from fastmlp._threads import BLAS_LIMIT, threads_for_rows

# OpenBLAS runs a product of at most this many multiply-adds on one thread
# (SMP_THRESHOLD_MIN x GEMM_MULTITHREAD_THRESHOLD in its interface/gemm.c),
# and a one-row product as a matrix-vector product whose threads split the
# outputs: neither changes a bit with the BLAS limit off
_BLAS_SINGLE_THREAD_WORK = 65536 * 4

# dense X of another dtype than the weights' (float32 rows through the
# float64 weights of an L-BFGS fit) is converted this many rows at a time
_CONVERT_ROWS = 2048

# a model keeps the Workspaces of its last few kinds of call (one and several
# threads, dense and CSR, float32 and float64), the least recently used
# dropped first past this many, or past this many bytes of buffers together;
# the two used last stay whatever their size (a one-row call's and a batch's,
# on any number of threads). CSR input of varying density needs a Layout per
# chunk size, and each would otherwise stay.
_CACHED_WORKSPACES = 4
_CACHED_BYTES = 16 << 20
_ALWAYS_CACHED = 2

_caches = {}  # id(estimator) -> (weak reference to it, _ModelCache)


class _ModelCache:
    """Per model: Layouts by (units, activations, dtype, CSR chunk), all of
    one network; a Workspace per (layout, threads), used by one call at a
    time, the least recently used dropped first; the packed vector that the
    current coefs_/intercepts_ are views of."""

    def __init__(self):
        self.network = None  # (units, activation, out_activation) of the layouts
        self.layouts = {}
        self.workspaces = OrderedDict()  # (id(layout), n_threads) -> Workspace
        self.lock = threading.Lock()
        self.views = None  # (coefs_ list, intercepts_ list, packed) when they are views
        self.plan = None  # (key, what _plan found) for calls of one kind of X

    def holds(self, coefs, intercepts):
        """Whether coefs and intercepts are the views of the packed vector seen
        last (their shapes were checked then)."""
        views = self.views
        return (views is not None and len(coefs) == len(views[0])
                and len(intercepts) == len(views[1])
                and all(map(operator.is_, coefs, views[0]))
                and all(map(operator.is_, intercepts, views[1])))

    def layout(self, units, activation, out_activation, dtype, nnz_per_row=None):
        """(Layout, the most rows a call splits by columns: 0 for CSR or
        when no layer is wider than one column block)."""
        # CSR chunks depend on the density: keyed by the chunk it gives
        csr_chunk = (None if nnz_per_row is None
                     else chunk_rows(units, dtype.itemsize, nnz_per_row, forward_only=True))
        key = (units, activation if isinstance(activation, str) else tuple(activation),
               out_activation, dtype, csr_chunk)
        found = self.layouts.get(key)
        if found is None:
            if key[:3] != self.network:
                # another network (a refit, assigned weights): the old one's
                # layouts and workspaces are never used again
                self.network = key[:3]
                self.layouts = {}
                self.workspaces = OrderedDict()
                self.plan = None
            chunk = csr_chunk or chunk_rows(units, dtype.itemsize, forward_only=True)
            # no layer wider than one block: nothing to split by columns
            splits = csr_chunk is None and max(units[1:]) > FORWARD_COLUMNS
            column_rows = chunk_rows(units, dtype.itemsize) if splits else 0
            found = self.layouts[key] = (
                make_layout(units, activation, out_activation, dtype, chunk=chunk), column_rows
            )
        return found

    def workspace(self, layout, n_threads, dtype):
        """(Workspace, whether it is the shared one to give back)."""
        key = (id(layout), n_threads)
        if self.lock.acquire(blocking=False):
            workspaces = self.workspaces
            ws = workspaces.get(key)
            if ws is not None and ws.layout is layout:
                workspaces.move_to_end(key)
                return ws, True
            ws = workspaces[key] = make_threaded_workspace(
                layout, dtype, n_threads, with_grad=False)
            self._trim(workspaces)
            return ws, True
        # another thread predicts with this model right now
        return make_threaded_workspace(layout, dtype, n_threads, with_grad=False), False

    def _trim(self, workspaces):
        """Drop the least recently used workspaces past the bounds, and the
        layouts no workspace left uses."""
        held = sum(ws.nbytes for ws in workspaces.values())
        while len(workspaces) > _ALWAYS_CACHED and (len(workspaces) > _CACHED_WORKSPACES
                                                    or held > _CACHED_BYTES):
            held -= workspaces.popitem(last=False)[1].nbytes
        used = {id(ws.layout) for ws in workspaces.values()}
        self.layouts = {k: v for k, v in self.layouts.items() if id(v[0]) in used}
        plan = self.plan
        if plan is not None and id(plan[1][2]) not in used:
            self.plan = None


def _cache(est):
    entry = _caches.get(id(est))
    if entry is not None and entry[0]() is est:
        return entry[1]
    cache = _ModelCache()
    _caches[id(est)] = (weakref.ref(est, partial(_forget, id(est))), cache)
    return cache


def release(est):
    """Drop est's Layouts and Workspaces: a fit's validation passes leave
    buffers sized for the network's largest calls (megabytes), which a kept
    model would hold, and the next predict makes its own."""
    entry = _caches.get(id(est))
    if entry is not None and entry[0]() is est:
        del _caches[id(est)]


def _forget(key, ref):
    """A model was freed: its cache goes (unless a newer model holds its id)."""
    entry = _caches.get(key)
    if entry is not None and entry[0] is ref:
        _caches.pop(key, None)


def check_fitted(est):
    """sklearn's check_is_fitted, with its NotFittedError, without its scan of
    every attribute when coefs_ is there (which makes it fitted for sklearn)."""
    if "coefs_" not in vars(est):
        check_is_fitted(est)


def _check_X(est, X):
    """X validated as sklearn's predict validates it, and whether the forward
    pass must still check that it is finite: the cheap path for a float
    ndarray with the expected features (the kernels read C and F order in
    place, other strides a block of rows at a time), validate_data for
    everything else."""
    if (type(X) is np.ndarray and X.ndim == 2 and X.dtype in (np.float64, np.float32)
            and X.shape[0] > 0
            and X.shape[1] == getattr(est, "n_features_in_", -1)
            and not hasattr(est, "feature_names_in_")):
        # the kernels check each chunk of rows as they read it; sklearn's
        # check, with its error, only when one is not finite
        return X, not get_config()["assume_finite"]
    return validate_data(est, X, accept_sparse=["csr", "csc"], reset=False), False


def _packed_weights(cache, held, coefs, intercepts, dtype, n_params):
    """The packed parameter vector of dtype: the one coefs and intercepts are
    views of (held: cache.holds them), or a new one packed from them."""
    if held:
        packed = cache.views[2]
        if packed.dtype == dtype:
            return packed
        return packed.astype(dtype)
    cache.views = None
    packed = _viewed_vector(coefs, intercepts, n_params)
    if packed is not None:
        cache.views = (list(coefs), list(intercepts), packed)
        if packed.dtype == dtype:
            return packed
    return pack(coefs, intercepts, dtype)


def _viewed_vector(coefs, intercepts, n_params):
    """The 1-D array whose memory coefs and intercepts view, in the packed
    order and with packed shapes, or None."""
    base = getattr(coefs[0], "base", None)
    if (type(base) is not np.ndarray or base.ndim != 1 or base.shape[0] != n_params
            or not base.flags.c_contiguous or base.dtype not in (np.float32, np.float64)):
        return None
    start = base.__array_interface__["data"][0]
    off = 0
    for a in list(coefs) + list(intercepts):
        if (type(a) is not np.ndarray or a.base is not base or a.dtype != base.dtype
                or not a.flags.c_contiguous
                or a.__array_interface__["data"][0] != start + off * base.itemsize):
            return None
        off += a.size
    return base if off == n_params else None


def _check_weights(coefs, intercepts):
    """Every shape against one network: W_l (units[l], units[l+1]) and b_l
    (units[l+1],), each layer's input the previous one's output. (Packed,
    wrong shapes of the right total size would predict silently.) Returns
    the intercepts as (units[l+1],) arrays: sklearn adds b_l to the layer's
    (rows, units[l+1]) values in place, so it takes any b_l that broadcasts
    to (1, units[l+1]), a (1, units[l+1]) row among them."""
    if len(coefs) != len(intercepts) or not coefs:
        raise ValueError(f"coefs_ and intercepts_ must have one array per layer, got "
                         f"{len(coefs)} and {len(intercepts)}")
    flat = []
    for l, (W, b) in enumerate(zip(coefs, intercepts)):
        fits = np.ndim(W) == 2 and not (l and np.shape(W)[0] != np.shape(coefs[l - 1])[1])
        if fits and np.shape(b) != (np.shape(W)[1],):
            try:
                b = np.broadcast_to(b, (1, np.shape(W)[1])).reshape(-1)
            except ValueError:
                fits = False
        if not fits:
            raise ValueError(
                f"coefs_[{l}] of shape {np.shape(W)} and intercepts_[{l}] of shape "
                f"{np.shape(b)} do not fit the network "
                f"{[np.shape(c) for c in coefs]} / {[np.shape(c) for c in intercepts]}"
            )
        flat.append(b)
    return flat


def _blas_may_thread(layout, n_rows, columns):
    """Whether BLAS could run one of the products of a pass over n_rows rows
    on several threads."""
    return (n_rows > 1
            and forward_gemm_work(layout, n_rows, columns) > _BLAS_SINGLE_THREAD_WORK)


def _plan(est, cache, X):
    """(dtype, units, Layout, the most rows a call splits by columns, the
    packed parameters) of a call with X. Remembered per model while
    coefs_/intercepts_ are the views of the packed vector the kernels read,
    for X of one dtype and the same activations, so a call with the same
    kind of input skips the weight checks and the dtype and layout look-ups
    (a few microseconds of a one-row call)."""
    coefs, intercepts = est.coefs_, est.intercepts_
    held = cache.holds(coefs, intercepts)
    activation = est.activation
    key = (X.dtype, activation if type(activation) is str else tuple(activation),
           est.out_activation_)
    plan = cache.plan
    if held and plan is not None and plan[0] == key and type(X) is np.ndarray:
        return plan[1]
    if not held:
        intercepts = _check_weights(coefs, intercepts)
    # (a packed vector has one dtype: its views')
    param_dtype = cache.views[2].dtype if held else np.result_type(*coefs, *intercepts)
    dtype = np.result_type(X.dtype, param_dtype)
    if dtype not in (np.float32, np.float64):
        dtype = np.float64
    dtype = np.dtype(dtype)
    units = tuple([c.shape[0] for c in coefs] + [coefs[-1].shape[1]])
    dense_in_place = type(X) is np.ndarray and X.dtype == dtype
    layout, column_rows = cache.layout(units, activation, est.out_activation_, dtype,
                                       nnz_per_row(X))
    params = _packed_weights(cache, held, coefs, intercepts, dtype, layout.n_params)
    found = (dtype, units, layout, column_rows, params)
    # only the views' own vector: edits in place reach it, a converted copy
    # would go stale
    cache.plan = ((key, found) if dense_in_place and cache.views is not None
                  and params is cache.views[2] else None)
    return found


def forward(est, X, check_input=True):
    """Output-layer values (after the output function) of est for X."""
    check_finite = False
    if check_input:
        X, check_finite = _check_X(est, X)
    cache = _cache(est)
    dtype, units, layout, column_rows, params = _plan(est, cache, X)
    n = X.shape[0]
    if X.shape[1] != units[0]:
        raise ValueError(f"X has {X.shape[1]} features, but the network expects {units[0]}.")
    out = np.empty((n, units[-1]), dtype=dtype)
    if n == 0:
        return out
    # rows are independent: rows of another dtype, or strided ones (a column
    # slice of a wider array), go through a block at a time, never a
    # converted copy of the whole of X
    blocks = None
    if type(X) is np.ndarray and (X.dtype != dtype
                                  or not (X.flags.c_contiguous or X.flags.f_contiguous)):
        blocks = [(a, min(n, a + _CONVERT_ROWS)) for a in range(0, n, _CONVERT_ROWS)]
        if len(blocks) > 1 and blocks[-1][1] - blocks[-1][0] <= FEW_ROWS:
            # a pass over so few rows has its own products: the last rows
            # join the block before, so every row gets the whole X's values
            blocks[-2:] = [(blocks[-2][0], n)]
        first = blocks[0][1]
    else:
        X = X if type(X) is np.ndarray else as_kernel_input(X, dtype)
        first = n
    n_threads = threads_for_rows(first, layout.n_params, forward_only=True)
    ws, shared = cache.workspace(layout, n_threads, dtype)
    # few dense rows: every wide product split by columns (see _forward);
    # the choice depends on the rows, never on the threads
    columns = n <= column_rows
    try:
        # (the last block may be cut into bigger chunks than the first)
        if (n > FEW_ROWS
                and any(_blas_may_thread(layout, b - a, columns)
                        for a, b in ({blocks[0], blocks[-1]} if blocks else [(0, n)]))):
            with BLAS_LIMIT:
                _run(ws, params, X, blocks, out, dtype, columns, check_finite)
        else:
            _run(ws, params, X, blocks, out, dtype, columns, check_finite)
    except NonFiniteInput:
        _assert_all_finite(X, allow_nan=False, input_name="X",
                           estimator_name=type(est).__name__)
        raise
    finally:
        if shared:
            cache.lock.release()
    return out


def _run(ws, params, X, blocks, out, dtype, columns, check_finite):
    """The forward pass of X's rows into out: X as the kernels read it, or
    (blocks) converted a block of rows at a time."""
    if blocks is None:
        ws.forward(params, make_dataset(X, None, None, dtype), out, columns=columns,
                   check_finite=check_finite)
        return
    for a, b in blocks:
        # (a block's converted rows are freed before the next is made)
        ws.forward(params, make_dataset(as_kernel_input(X[a:b], dtype), None, None, dtype),
                   out[a:b], columns=columns, check_finite=check_finite)
