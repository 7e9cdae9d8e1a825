"""The dropout masks callable from Python, for their tests (training applies
them inside the kernels: _objective)."""

import numpy as np
cimport numpy as cnp

from libc.stdint cimport uint32_t, uint64_t

from fastmlp._dropout cimport DropSpec, drop_forward, fm_drop_key
from fastmlp._typedefs cimport intp

cnp.import_array()


def dropout_mask(uint64_t seed, uint64_t epoch, int layer, intp pos0, intp m, int w,
                 double rate, dtype=np.float64):
    """What training multiplies hidden layer `layer`'s activations by (0 or
    1 / (1 - rate)) for the rows at positions pos0 .. pos0 + m of epoch
    `epoch`'s row order, as an (m, w) array of dtype."""
    if not 0 <= rate < 1 or layer < 0 or m < 0 or w < 0 or pos0 < 0:
        raise ValueError("need 0 <= rate < 1 and non-negative layer, pos0, m, w")
    cdef cnp.ndarray A = np.ones((m, w), dtype=dtype)
    cdef DropSpec dr
    # per-layer tables, as the EpochRunner's
    rates = np.full(layer + 1, rate)
    thresholds = np.asarray(np.floor(rates * 2.0**32), dtype=np.uint32)
    dr.key = fm_drop_key(seed, epoch)
    dr.threshold = <const uint32_t*> cnp.PyArray_DATA(thresholds)
    dr.rate = <const double*> cnp.PyArray_DATA(rates)
    if A.dtype == np.float64:
        drop_forward(&dr, <double*> cnp.PyArray_DATA(A), m, w, layer, pos0)
    elif A.dtype == np.float32:
        drop_forward(&dr, <float*> cnp.PyArray_DATA(A), m, w, layer, pos0)
    else:
        raise ValueError("dtype must be float32 or float64")
    return A
