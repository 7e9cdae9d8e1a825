# What the Workspace (_objective) takes from the forward pass.

from cython cimport floating

from fastmlp._core cimport NetSpec, DataSpec
from fastmlp._runtime_threads cimport Adapt


cdef void forward_impl(const NetSpec* net, const DataSpec* d, const floating* params,
                       floating* work, floating* out, int n_threads, Adapt* adapt,
                       double* cpu, bint columns, int* seen_nonfinite) noexcept nogil
