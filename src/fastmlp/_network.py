"""Network shape: layer sizes, the packed parameter vector, kernel input, and
the compiled objects every solver and predict share (Layout, Dataset,
Workspace; the sgd/adam EpochRunner is built by _stochastic's optimizer
state, the one user of its solver-specific arguments).

sklearn's packing order is kept (every coefficient matrix row-major, then every
intercept), so scipy's L-BFGS-B sees the same vector as it does in sklearn.
"""

import numpy as np
import scipy.sparse as sp

from fastmlp._core import Dataset, Layout
from fastmlp._objective import Workspace
from fastmlp._threads import threads_for_rows
from fastmlp._typedefs import Activation, Output

# sklearn's names -> the compiled core's codes (ACT_RELU -> "relu", ...)
ACTIVATION_CODES = {a.name[len("ACT_"):].lower(): int(a) for a in Activation}
OUTPUT_CODES = {o.name[len("OUT_"):].lower(): int(o) for o in Output}

# per-thread chunk buffers aim at this many bytes: they stay in L2 while the
# chunk goes through every layer, forward and back
_CHUNK_BYTES = 1 << 20
# a forward pass alone (predict) goes through each layer once: bigger chunks
# in L3 cost less than packing the weights for BLAS once per L2-sized chunk
# (100000 x 784 float32 through (256,): 1.13-1.17x the bare products with
# 200-row chunks, 1.10-1.13x with 800)
_FORWARD_CHUNK_BYTES = 4 << 20
_FORWARD_MAX_CHUNK = 4096
# bounds on the rows per chunk: at least 32, or a chunk's gemm calls and
# loop set-up outweigh its rows; at most 1024, past which a narrow network's
# chunks gain no speed, only per-thread buffer memory
_MIN_CHUNK, _MAX_CHUNK = 32, 1024
# chunk sizes are rounded down to a multiple of this many rows: the narrow
# products (_gemm.h) take rows in blocks of 8 (one 32-byte vector of
# float32), so a chunk leaves no short block behind
_ROW_BLOCK = 8
# CSR input: the first layer's products (_sparse.h) run over column blocks of
# its weights and gradient; a chunk should read each block line about this
# many times (nonzeros per chunk / n_features: 20000 x 10000 at 1% density,
# hidden (256,): 249 ms per float64 evaluation with chunks of 4096 rows, 374
# ms with 1024, 898 ms with 32), within these bounds on rows and per-thread
# chunk buffers
_CSR_BLOCK_READS = 32
_CSR_MAX_CHUNK = 4096
_CSR_CHUNK_BYTES = 16 << 20
# a sgd/adam part may take up to this many times the cache-sized chunk in one
# go rather than leave a short remainder chunk (see minibatch_chunk_rows)
_MINIBATCH_CHUNK_SLACK = 2


def chunk_rows(units, itemsize, nnz_per_row=None, forward_only=False):
    """Rows per chunk so one chunk's activations, temporary and input fit the
    cache budget (a bigger one for a forward pass alone); for CSR input
    (nnz_per_row: its mean nonzeros per row), enough rows to read each column
    block of the first layer many times."""
    budget, most = ((_FORWARD_CHUNK_BYTES, _FORWARD_MAX_CHUNK) if forward_only
                    else (_CHUNK_BYTES, _MAX_CHUNK))
    per_row = (sum(units) + max(units[1:-1], default=1)) * itemsize
    rows = budget // max(per_row, 1)
    rows = int(min(max(rows, _MIN_CHUNK), most))
    if nnz_per_row is not None:
        # the input is not buffered; the chunk's buffers may outgrow L2, since
        # the first layer's weights and gradient dominate the traffic
        per_row = (sum(units[1:]) + max(units[1:-1], default=1)) * itemsize
        want = _CSR_BLOCK_READS * units[0] / max(nnz_per_row, 1.0)
        rows = int(min(max(rows, want), _CSR_MAX_CHUNK, _CSR_CHUNK_BYTES // per_row))
        rows = max(rows, _MIN_CHUNK)
    return rows - rows % _ROW_BLOCK if rows > _ROW_BLOCK else rows


def nnz_per_row(Xk):
    """Mean stored values per row of CSR kernel input, or of a CSR/CSC
    matrix (its kernel input's, without converting it); None for dense."""
    indptr = getattr(Xk, "indptr", None)
    if indptr is None:
        return None
    return indptr[-1] / max(Xk.shape[0], 1)


def minibatch_chunk_rows(units, itemsize, batch_size, n_parts):
    """Rows per chunk for sgd/adam minibatches split into n_parts parts: one
    chunk per part and minibatch where the cache budget allows (a short
    remainder chunk costs a whole pass over the first layer's gradient),
    else chunks of equal size."""
    per_part = -(-batch_size // n_parts)
    most = _MINIBATCH_CHUNK_SLACK * chunk_rows(units, itemsize)
    return -(-per_part // -(-per_part // most))


def make_layout(units, activation, out_activation, dtype, gather=False, chunk=None,
                nnz_per_row=None):
    """activation: a name, or one per hidden layer; out_activation: a name, or
    (loss, its parameter) for the robust losses of an identity output."""
    if chunk is None:
        chunk = chunk_rows(units, np.dtype(dtype).itemsize, nnz_per_row)
    codes = (ACTIVATION_CODES[activation] if isinstance(activation, str)
             else [ACTIVATION_CODES[a] for a in activation])
    if isinstance(out_activation, tuple):
        loss, param = out_activation
        return Layout(units, codes, OUTPUT_CODES[loss], chunk, gather, param)
    return Layout(units, codes, OUTPUT_CODES[out_activation], chunk, gather)


def make_workspace(layout, dtype, n_rows, with_grad=True):
    """Workspace for n_rows rows, with the threads _threads.threads_for_rows
    gives them."""
    return Workspace(layout, threads_for_rows(n_rows, layout.n_params), dtype, with_grad)


def make_threaded_workspace(layout, dtype, n_threads, with_grad=True):
    """Workspace for exactly n_threads threads (sgd/adam: one per part;
    predict: the threads it decided; with_grad=False: forward passes only)."""
    return Workspace(layout, n_threads, dtype, with_grad)


def make_dataset(X, Y, sample_weight, dtype):
    """X (from as_kernel_input), targets (None to predict) and weights (or
    None) as the compiled core reads them."""
    return Dataset(X, Y, sample_weight, dtype)


class CSR:
    """CSR arrays with intp indices (scipy would shrink them back to int32)."""

    format = "csr"

    def __init__(self, data, indices, indptr, shape):
        self.data, self.indices, self.indptr, self.shape = data, indices, indptr, shape


def as_kernel_input(X, dtype):
    """X as the kernels read it, without copying what can be read in place:
    C- or F-contiguous dense, or CSR with intp indices."""
    if sp.issparse(X):
        X = X.tocsr() if X.format != "csr" else X
        data = np.ascontiguousarray(X.data, dtype=dtype)
        indices = np.ascontiguousarray(X.indices, dtype=np.intp)
        indptr = np.ascontiguousarray(X.indptr, dtype=np.intp)
        return CSR(data, indices, indptr, X.shape)
    X = np.asarray(X, dtype=dtype)
    if not (X.flags.c_contiguous or X.flags.f_contiguous):
        X = np.ascontiguousarray(X)
    return X


def pack(coefs, intercepts, dtype):
    return np.concatenate(
        [np.asarray(c, dtype=dtype).ravel() for c in coefs]
        + [np.asarray(b, dtype=dtype).ravel() for b in intercepts]
    )


def unpack_units(packed, units):
    """coefs_ and intercepts_ as views into `packed`, for layer sizes `units`
    (the same views as unpack with a Layout of these units)."""
    coefs, intercepts, off = [], [], 0
    for fan_in, fan_out in zip(units[:-1], units[1:]):
        coefs.append(packed[off:off + fan_in * fan_out].reshape((fan_in, fan_out)))
        off += fan_in * fan_out
    for fan_out in units[1:]:
        intercepts.append(packed[off:off + fan_out])
        off += fan_out
    return coefs, intercepts


def unpack(packed, layout):
    """coefs_ and intercepts_ as views into `packed` (layout: its slices)."""
    coefs = [packed[s:e].reshape(shape) for s, e, shape in layout.coef_slices]
    intercepts = [packed[s:e] for s, e in layout.intercept_slices]
    return coefs, intercepts


class InMemoryData:
    """The training data in memory, validated: X as fit validated it (the
    validation rows are scored from it), Xk as the kernels read it, the
    targets Y (n_samples, n_outputs) and the weights (or None) in the model's
    dtype. fastmlp._dask.prepare's result answers the same questions on Dask."""

    on_dask = False

    def __init__(self, X, Y, sample_weight):
        self.dtype = Y.dtype
        self.X, self.Xk, self.Y, self.sw = X, as_kernel_input(X, Y.dtype), Y, sample_weight
        self.n_features, self.n_outputs = X.shape[1], Y.shape[1]
        self.weight_sum = (Y.shape[0] if sample_weight is None
                           else float(sample_weight.sum(dtype=np.float64)))
