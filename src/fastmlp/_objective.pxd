# What _epochs takes from the objective: the raw sums of a row range on one
# thread, the finishing of a gradient range, and the Workspace's buffers.

cimport numpy as cnp
from cython cimport floating

from fastmlp._core cimport NetSpec, DataSpec, Layout, Dataset
from fastmlp._dropout cimport DropSpec
from fastmlp._runtime_threads cimport ThreadRule
from fastmlp._typedefs cimport intp


cdef double rows_loss_grad(const NetSpec* net, const DataSpec* d,
                           const floating* params, floating* acc, floating* work,
                           intp lo, intp hi, intp chunk, const DropSpec* drop) noexcept nogil

# inline: _epochs calls it for every L1-sized block of a slice
cdef inline double finish_range(const NetSpec* net, const floating* params, floating* grad,
                                const floating* gacc, int n_acc, intp lo, intp hi,
                                double alpha, double sw_sum, double reg) noexcept nogil:
    """grad[lo:hi] += the other accumulators' entries (gacc[0 .. n_acc - 2], in
    that order), then the L2 penalty added and the weight sum divided out, as
    sklearn finishes its gradient; returns reg plus the squared coefficients
    in the range, summed in order."""
    cdef intp P = net.n_params, p, ce = net.n_coef if hi > net.n_coef else hi
    cdef int j
    cdef const floating* acc
    cdef floating sw = <floating> sw_sum, a = <floating> alpha
    cdef double s
    for j in range(1, n_acc):
        acc = gacc + (j - 1) * P
        for p in range(lo, hi):
            grad[p] += acc[p]
    for p in range(lo, ce):
        s = params[p]
        reg += s * s
        grad[p] = (grad[p] + a * params[p]) / sw
    for p in range(ce if ce > lo else lo, hi):
        grad[p] = grad[p] / sw
    return reg


cdef class Workspace(ThreadRule):
    cdef readonly Layout layout
    cdef readonly int n_threads
    cdef readonly object dtype
    cdef readonly cnp.ndarray work    # (n_threads, work_size)
    cdef readonly cnp.ndarray gacc    # (n_threads - 1, n_params)
    cdef readonly cnp.ndarray lacc    # (n_threads,) float64
    cdef readonly cnp.ndarray seen_nonfinite  # (n_threads,) intc: a forward pass's input check
    cdef readonly cnp.ndarray cpu     # (n_threads,) float64: a measured region's CPU seconds

    cdef int _prepare(self, DataSpec* d, Dataset data, object params, object idx,
                      intp start, object n) except -1
