# The shapes the nogil code reads (NetSpec: the network and its per-thread
# workspace layout; DataSpec: the rows of one call) and the Python objects
# that check their inputs before any nogil code runs (Layout, Dataset).

from fastmlp._typedefs cimport intp

cimport numpy as cnp


# The per-layer tables point into arrays the Layout owns (n_layers entries
# each), so a network may have any number of layers.
cdef struct NetSpec:
    int n_layers              # input, hidden..., output
    const int* units
    const intp* coef_off      # start of W_l (units[l] x units[l+1]) in the packed vector
    const intp* int_off       # start of b_l (units[l+1])
    intp n_coef               # coefficients come first: [0, n_coef)
    intp n_params
    int activation
    int output
    intp chunk                # rows per chunk (buffers are sized for it)
    const intp* act_off       # offset of layer l's chunk buffer in a thread's workspace
    intp tmp_off              # backward temporary (chunk x max hidden width)
    intp xbuf_off             # gathered rows of dense X (chunk x n_features), or -1
    intp sg_off               # scratch of the narrow products, or -1 (none narrow)
    intp work_size            # per-thread workspace length
    const int* acts           # activation of hidden layer l (1 .. n_layers - 2)
    const intp* pre_off       # hidden layer l's kept pre-activations in a thread's workspace, or -1
    double loss_param         # OUT_HUBER: the delta; OUT_QUANTILE: the quantile


cdef struct DataSpec:
    const void* X             # dense values, or CSR values
    const intp* indices       # CSR column indices (NULL for dense)
    const intp* indptr        # CSR row pointers (NULL for dense)
    bint fortran              # dense X stored column-major
    intp n_total              # rows of X
    intp n_features
    const void* Y             # (n_total, n_outputs) C order; NULL in forward-only mode
    const void* sw            # (n_total,) or NULL
    const intp* idx           # rows to use, or NULL for rows start .. start + n
    intp start
    intp n


cdef inline intp row_of(const DataSpec* d, intp r) noexcept nogil:
    """Row of X for the r-th row of the batch."""
    if d.idx != NULL:
        return d.idx[d.start + r]
    return d.start + r


cdef class Layout:
    cdef NetSpec spec
    cdef cnp.ndarray tables            # (4, n_layers) intp: what spec's tables point into
    cdef cnp.ndarray acts_c            # (n_layers,) C int: spec.acts
    cdef cnp.ndarray units_c           # (n_layers,) C int
    cdef readonly object units
    cdef readonly object activations   # per hidden layer
    cdef readonly double loss_param
    cdef readonly object coef_slices   # (start, end, shape) per layer
    cdef readonly object intercept_slices


cdef class Dataset:
    cdef DataSpec base
    cdef readonly object X, Y, sample_weight, dtype
    cdef readonly Py_ssize_t n_samples, n_features

    cdef int select(self, DataSpec* d, Layout lay, object idx, intp start,
                    intp n) except -1


cdef int check_vec(object v, intp size, object dtype, str name) except -1
