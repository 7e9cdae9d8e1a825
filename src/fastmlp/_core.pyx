"""Layout and Dataset: the network's and the data's shapes for the nogil code,
and every check of shapes, dtypes, contiguity and index ranges that must pass
before nogil code trusts them. Also what the build says about OpenMP.
"""

import numpy as np
cimport numpy as cnp

from libc.string cimport memset
from libc.limits cimport INT_MAX  # BLAS takes 32-bit sizes

from fastmlp._elementwise cimport keeps_pre
from fastmlp._gemm cimport SG_NMAX
from fastmlp._openmp cimport FASTMLP_OPENMP, omp_get_max_threads
from fastmlp._typedefs import Activation, Output
from fastmlp._typedefs cimport OUT_HUBER, OUT_QUANTILE

cnp.import_array()

_FLOAT64, _FLOAT32 = np.dtype(np.float64), np.dtype(np.float32)

ACTIVATIONS = frozenset(int(a) for a in Activation)
OUTPUTS = frozenset(int(o) for o in Output)


def openmp_enabled():
    """Whether the compiled core was built with OpenMP."""
    return bool(FASTMLP_OPENMP)


def omp_max_threads():
    """omp_get_max_threads() of the OpenMP runtime this module is linked to:
    follows OMP_NUM_THREADS and threadpoolctl's openmp limits."""
    return omp_get_max_threads()


cdef class Layout:
    """Shape of a network and of its per-thread workspace.

    units: layer sizes [n_features, hidden..., n_outputs]; activation and
    output are codes of _typedefs.Activation / Output (activation: one code,
    or one per hidden layer); chunk: rows per chunk; gather: reserve a buffer
    for row subsets of dense data; loss_param: OUT_HUBER's delta (> 0) or
    OUT_QUANTILE's quantile (in (0, 1)), unused otherwise.
    """
    def __init__(self, units, activation, int output, Py_ssize_t chunk, bint gather,
                 double loss_param=float("nan")):
        units = [int(u) for u in units]
        if len(units) < 2:
            raise ValueError(f"a network needs at least 2 layers, got {len(units)}")
        if min(units) < 1:
            raise ValueError(f"every layer needs at least one unit, got {units}")
        if max(units) > INT_MAX or chunk < 1 or chunk * max(units) > INT_MAX:
            raise ValueError("layer too wide for BLAS's 32-bit sizes")
        single = hasattr(activation, "__index__")
        acts = [int(activation)] * (len(units) - 2) if single else [int(a) for a in activation]
        if len(acts) != len(units) - 2:
            raise ValueError(f"{len(acts)} activations for {len(units) - 2} hidden layers")
        if not set(acts) <= ACTIVATIONS or (single and int(activation) not in ACTIVATIONS) \
                or output not in OUTPUTS:
            raise ValueError("unknown activation or output code")
        if output == OUT_HUBER and not loss_param > 0:
            raise ValueError("the huber loss needs a delta > 0")
        if output == OUT_QUANTILE and not 0 < loss_param < 1:
            raise ValueError("the quantile loss needs a quantile in (0, 1)")
        self.units = tuple(units)
        cdef NetSpec* s = &self.spec
        cdef int L = len(units) - 1, l
        cdef intp off = 0, max_hidden = 1
        self.units_c = np.asarray(units, dtype=np.intc)
        self.tables = np.zeros((4, L + 1), dtype=np.intp)
        cdef intp[:, ::1] t = self.tables
        cdef intp* coef_off = &t[0, 0]
        cdef intp* int_off = &t[1, 0]
        cdef intp* act_off = &t[2, 0]
        cdef intp* pre_off = &t[3, 0]
        self.acts_c = np.asarray([0] + acts + [0], dtype=np.intc)
        self.activations = tuple(acts)
        self.loss_param = loss_param
        s.acts = <const int*> cnp.PyArray_DATA(self.acts_c)
        s.pre_off = pre_off
        s.loss_param = loss_param
        s.units = <const int*> cnp.PyArray_DATA(self.units_c)
        s.coef_off = coef_off
        s.int_off = int_off
        s.act_off = act_off
        s.n_layers = len(units)
        coef_slices = []
        for l in range(L):
            coef_off[l] = off
            coef_slices.append((off, off + units[l] * units[l + 1], (units[l], units[l + 1])))
            off += units[l] * units[l + 1]
        s.n_coef = off
        intercept_slices = []
        for l in range(L):
            int_off[l] = off
            intercept_slices.append((off, off + units[l + 1]))
            off += units[l + 1]
        s.n_params = off
        self.coef_slices = tuple(coef_slices)
        self.intercept_slices = tuple(intercept_slices)
        s.activation = int(activation) if single else (acts[0] if acts else 0)
        s.output = output
        s.chunk = chunk
        off = 0
        act_off[0] = -1
        for l in range(1, L + 1):
            act_off[l] = off
            off += chunk * units[l]
            if l < L and units[l] > max_hidden:
                max_hidden = units[l]
        s.tmp_off = off
        off += chunk * max_hidden
        if gather:
            s.xbuf_off = off
            off += chunk * units[0]
        else:
            s.xbuf_off = -1
        # the narrow products (layers past the first with at most SG_NMAX
        # units) copy their narrow operand, padded or transposed
        s.sg_off = -1
        for l in range(1, L):
            if units[l + 1] <= SG_NMAX:
                s.sg_off = off
                off += SG_NMAX * max(chunk, max(units[1:L]))
                break
        # what the backward pass of gelu, silu and softplus reads
        for l in range(L + 1):
            pre_off[l] = -1
            if 0 < l < L and keeps_pre(acts[l - 1]):
                pre_off[l] = off
                off += chunk * units[l]
        s.work_size = off

    @property
    def n_params(self):
        return self.spec.n_params

    @property
    def n_coef(self):
        return self.spec.n_coef

    @property
    def work_size(self):
        return self.spec.work_size

    @property
    def chunk(self):
        return self.spec.chunk

    @property
    def gather(self):
        return self.spec.xbuf_off >= 0

    @property
    def activation(self):
        return self.spec.activation

    @property
    def output(self):
        return self.spec.output


cdef class Dataset:
    """X, Y and sample weights, checked once and described for the nogil code.

    X: C- or F-contiguous 2-D array, or a CSR matrix with intp indices (column
    indices in range, sorted or not); Y: C-contiguous (n_samples, n_outputs)
    or None (forward only); sample_weight: (n_samples,) or None. Every float
    array has `dtype`. The object keeps references to them alive.
    """
    def __init__(self, X, Y=None, sample_weight=None, dtype=np.float64):
        cdef cnp.ndarray a
        cdef DataSpec* d = &self.base
        # (the checks of a predict's ndarray X in C calls, not attribute
        # look-ups: a fraction of a one-row predict otherwise)
        dtype = np.dtype(dtype)
        if not (dtype is _FLOAT64 or dtype is _FLOAT32 or dtype in (np.float32, np.float64)):
            raise ValueError("dtype must be float32 or float64")
        self.dtype = dtype
        memset(d, 0, sizeof(DataSpec))
        if type(X) is not np.ndarray and hasattr(X, "indptr"):
            if X.format != "csr":
                raise ValueError("sparse X must be CSR")
            n_total, nf = X.shape
            data, indices, indptr = X.data, X.indices, X.indptr
            if data.dtype != dtype or indices.dtype != np.intp or indptr.dtype != np.intp:
                raise ValueError("CSR arrays must be (float of the model, intp, intp)")
            if not (data.flags.c_contiguous and indices.flags.c_contiguous
                    and indptr.flags.c_contiguous):
                raise ValueError("CSR arrays must be contiguous")
            if indptr.ndim != 1 or indptr.shape[0] != n_total + 1 or indptr[0] != 0 \
                    or indptr[n_total] > data.shape[0] or indptr[n_total] > indices.shape[0]:
                raise ValueError("malformed CSR indptr")
            if n_total and np.any(np.diff(indptr) < 0):
                raise ValueError("malformed CSR indptr")
            nnz = indptr[n_total]
            if nnz and (indices[:nnz].min() < 0 or indices[:nnz].max() >= nf):
                raise ValueError("CSR column index out of range")
            d.X = cnp.PyArray_DATA(<cnp.ndarray> data)
            d.indices = <const intp*> cnp.PyArray_DATA(<cnp.ndarray> indices)
            d.indptr = <const intp*> cnp.PyArray_DATA(<cnp.ndarray> indptr)
            d.fortran = False
            self.X = (data, indices, indptr)
        else:
            a = X
            if cnp.PyArray_NDIM(a) != 2 or not (a.dtype is dtype or a.dtype == dtype):
                raise ValueError("X must be a 2-D array of the model's float dtype")
            n_total, nf = a.shape[0], a.shape[1]
            if cnp.PyArray_IS_C_CONTIGUOUS(a):
                d.fortran = False
            elif cnp.PyArray_IS_F_CONTIGUOUS(a):
                d.fortran = True
            else:
                raise ValueError("dense X must be C- or F-contiguous")
            if n_total > INT_MAX or nf > INT_MAX:
                raise ValueError("X too large for BLAS's 32-bit sizes")
            d.X = cnp.PyArray_DATA(a)
            self.X = a
        d.n_total = n_total
        d.n_features = nf
        self.n_samples = n_total
        self.n_features = nf
        if Y is not None:
            a = Y
            if a.ndim != 2 or a.dtype != dtype or not a.flags.c_contiguous \
                    or a.shape[0] != n_total:
                raise ValueError("Y must be C-contiguous (n_samples, n_outputs) "
                                 "of the model's dtype")
            d.Y = cnp.PyArray_DATA(a)
        self.Y = Y
        if sample_weight is not None:
            a = sample_weight
            if a.ndim != 1 or a.dtype != dtype or not a.flags.c_contiguous \
                    or a.shape[0] != n_total:
                raise ValueError("sample_weight must be contiguous (n_samples,) "
                                 "of the model's dtype")
            d.sw = cnp.PyArray_DATA(a)
        self.sample_weight = sample_weight

    cdef int select(self, DataSpec* d, Layout lay, object idx, intp start,
                    intp n) except -1:
        """d = this data restricted to rows idx[start:start+n] (or start..start+n),
        checked against the layout."""
        cdef cnp.ndarray a
        d[0] = self.base
        if self.Y is not None and self.Y.shape[1] != lay.spec.units[lay.spec.n_layers - 1]:
            raise ValueError(f"Y has {self.Y.shape[1]} columns, the network has "
                             f"{lay.spec.units[lay.spec.n_layers - 1]} outputs")
        if self.n_features != lay.spec.units[0]:
            raise ValueError(f"X has {self.n_features} features, the network expects "
                             f"{lay.spec.units[0]}")
        if n < 0 or start < 0:
            raise ValueError("negative row range")
        if idx is not None:
            a = idx
            if a.ndim != 1 or a.dtype != np.intp or not a.flags.c_contiguous:
                raise ValueError("idx must be a contiguous intp array")
            if start + n > a.shape[0]:
                raise ValueError("row range beyond idx")
            if n and (a[start:start + n].min() < 0
                      or a[start:start + n].max() >= self.n_samples):
                raise ValueError("row index out of range")
            if d.indptr == NULL and not lay.gather:
                raise ValueError("this layout has no gather buffer for row subsets")
            d.idx = <const intp*> cnp.PyArray_DATA(a)
        elif start + n > self.n_samples:
            raise ValueError("row range beyond X")
        d.start = start
        d.n = n
        return 0


cdef int check_vec(object v, intp size, object dtype, str name) except -1:
    cdef cnp.ndarray a = v
    if (cnp.PyArray_NDIM(a) != 1 or not (a.dtype is dtype or a.dtype == dtype)
            or not cnp.PyArray_IS_C_CONTIGUOUS(a) or cnp.PyArray_DIM(a, 0) != size):
        raise ValueError(f"{name} must be a contiguous ({size},) array of {dtype}")
    if name != "params" and not cnp.PyArray_ISWRITEABLE(a):
        raise ValueError(f"{name} must be writeable")
    return 0
