"""Network shape: layer sizes, the packed parameter vector and the workspace.

sklearn's packing order is kept (every coefficient matrix row-major, then every
intercept), so scipy's L-BFGS-B sees the same vector as it does in sklearn.
"""

import numpy as np
import scipy.sparse as sp

from fastmlp._core import Dataset, Layout
from fastmlp._objective import Workspace
from fastmlp._threads import effective_n_threads
from fastmlp._typedefs import Activation, Output

# sklearn's names -> the compiled core's codes (ACT_RELU -> "relu", ...)
ACTIVATION_CODES = {a.name[len("ACT_"):].lower(): int(a) for a in Activation}
OUTPUT_CODES = {o.name[len("OUT_"):].lower(): int(o) for o in Output}

# per-thread chunk buffers aim at this many bytes: they stay in L2 while the
# chunk goes through every layer, forward and back
_CHUNK_BYTES = 1 << 20
_MIN_CHUNK, _MAX_CHUNK = 32, 1024


def chunk_rows(units, itemsize):
    """Rows per chunk so one chunk's activations, temporary and input fit the
    cache budget."""
    per_row = (sum(units) + max(units[1:-1], default=1)) * itemsize
    rows = _CHUNK_BYTES // max(per_row, 1)
    rows = int(min(max(rows, _MIN_CHUNK), _MAX_CHUNK))
    return rows - rows % 8 if rows > 8 else rows


def make_layout(units, activation, out_activation, dtype, gather=False, chunk=None):
    if chunk is None:
        chunk = chunk_rows(units, np.dtype(dtype).itemsize)
    return Layout(
        units, ACTIVATION_CODES[activation], OUTPUT_CODES[out_activation], chunk, gather
    )


def make_workspace(layout, dtype, n_rows, with_grad=True):
    """Workspace with no more threads than the rows can keep busy."""
    n_threads = max(1, min(effective_n_threads(), -(-n_rows // 8)))
    return Workspace(layout, n_threads, dtype, with_grad)


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


def unpack(packed, layout):
    """coefs_ and intercepts_ as views into `packed`."""
    coefs = [packed[s:e].reshape(shape) for s, e, shape in layout.coef_slices]
    intercepts = [packed[s:e] for s, e in layout.intercept_slices]
    return coefs, intercepts
