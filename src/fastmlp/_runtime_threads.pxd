# The thread policy decided while a fit or predict runs (see
# _runtime_threads.pyx): one call per parallel region (a segment of sgd/adam
# minibatches, an evaluation, a forward pass), never per part.

from fastmlp._typedefs cimport intp


cdef struct Adapt:
    int parts             # K: a region's parts (fixed for the fit or workspace)
    int forced            # > 0: always this many threads (tests)
    bint blind            # no per-thread CPU clock: all threads, unmeasured
    int threads           # threads in use: parts or 1
    bint waking           # the next region on threads wakes them: judged with an allowance
    intp gap              # unmeasured minibatches between windows
    intp until_window     # unmeasured minibatches left before the next window
    intp window_left      # minibatches left in the current window
    double wall, cpu      # measured seconds in the current window
    double rows           # rows of the current window's regions
    double wall_per_row   # of the last window the threads paid in (0: none yet)
    long long on_threads  # minibatches (regions) run on several threads so far
    long long on_one      # minibatches (regions) run on one thread so far


cdef class ThreadRule:
    # the rule over one runner's regions: a Workspace's evaluations and
    # forward passes, or an EpochRunner's minibatches
    cdef Adapt adapt


cdef void adapt_init(Adapt* a, int parts) noexcept nogil
cdef int adapt_threads(Adapt* a) noexcept nogil
cdef bint adapt_measuring(const Adapt* a) noexcept nogil
cdef intp adapt_segment(const Adapt* a) noexcept nogil
cdef void adapt_after(Adapt* a, intp n_batches, double rows, double wall,
                      const double* cpu) noexcept nogil
