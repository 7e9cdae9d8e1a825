# cython: boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False, language_level=3
# What _epochs takes from the objective: the raw sums of a row range on one
# thread, the finishing of a gradient slice, and the Workspace's buffers.

cimport numpy as cnp
from cython cimport floating

from fastmlp._core cimport NetSpec, DataSpec, Layout, Dataset
from fastmlp._typedefs cimport intp


cdef double rows_loss_grad(const NetSpec* net, const DataSpec* d,
                           const floating* params, floating* acc, floating* work,
                           intp lo, intp hi, intp chunk) noexcept nogil

cdef double finish_range(const NetSpec* net, const floating* params, floating* grad,
                         const floating* gacc, int n_acc, intp lo, intp hi,
                         double alpha, double sw_sum, double reg) noexcept nogil


cdef class Workspace:
    cdef readonly Layout layout
    cdef readonly int n_threads
    cdef readonly object dtype
    cdef readonly cnp.ndarray work    # (n_threads, work_size)
    cdef readonly cnp.ndarray gacc    # (n_threads - 1, n_params)
    cdef readonly cnp.ndarray lacc    # (n_threads,) float64

    cdef int _prepare(self, DataSpec* d, Dataset data, object params, object idx,
                      intp start, object n) except -1
