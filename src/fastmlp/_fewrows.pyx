"""The few-rows product of _fewrows.h, callable from Python: for its tests
against NumPy and for measuring the kernel alone."""

import numpy as np
cimport numpy as cnp

from cython cimport floating

from fastmlp._fewrows cimport few_rows_nn
from fastmlp._typedefs cimport intp

cnp.import_array()


def few_rows_product(A, W, Z, Py_ssize_t c0=0, c1=None):
    """Z[:, c0:c1] = A @ W[:, c0:c1]: A (m, h) C or F order, W (h, w) and
    Z (m, w) C order, one float dtype."""
    cdef cnp.ndarray a = A, b = W, z = Z
    cdef Py_ssize_t m, h, w, hi
    if a.ndim != 2 or b.ndim != 2 or z.ndim != 2:
        raise ValueError("A, W and Z must be 2-D")
    m, h, w = a.shape[0], a.shape[1], b.shape[1]
    hi = w if c1 is None else c1
    if (a.dtype not in (np.float32, np.float64) or b.dtype != a.dtype or z.dtype != a.dtype
            or b.shape[0] != h or z.shape[0] != m or z.shape[1] != w
            or not b.flags.c_contiguous or not z.flags.c_contiguous or not z.flags.writeable
            or not (a.flags.c_contiguous or a.flags.f_contiguous)
            or not 0 <= c0 <= hi <= w):
        raise ValueError("A (m, h), W (h, w), Z (m, w): one float dtype, W and Z C order, "
                         "0 <= c0 <= c1 <= w")
    # (a C-contiguous array of one row or column is F-contiguous too)
    cdef intp ars = h if a.flags.c_contiguous else 1
    cdef intp aks = 1 if a.flags.c_contiguous else m
    if a.dtype == np.float64:
        _product(<double*> cnp.PyArray_DATA(a), ars, aks, <double*> cnp.PyArray_DATA(b),
                 <double*> cnp.PyArray_DATA(z), m, h, w, c0, hi)
    else:
        _product(<float*> cnp.PyArray_DATA(a), ars, aks, <float*> cnp.PyArray_DATA(b),
                 <float*> cnp.PyArray_DATA(z), m, h, w, c0, hi)
    return Z


cdef void _product(const floating* A, intp ars, intp aks, const floating* W, floating* Z,
                   intp m, intp h, intp w, intp c0, intp c1) noexcept:
    with nogil:
        few_rows_nn(A, ars, aks, W, w, Z, w, m, h, c0, c1)
