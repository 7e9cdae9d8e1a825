# The thread policy of sgd/adam minibatches (see _minibatch_threads.pyx): one
# call per segment of minibatches, never per minibatch part.

from fastmlp._typedefs cimport intp


cdef struct Adapt:
    int parts             # K: the minibatch's parts (fixed for the fit)
    int forced            # > 0: always this many threads (tests)
    bint blind            # no per-thread CPU clock: all threads, unmeasured
    int threads           # threads in use: parts or 1
    intp gap              # unmeasured minibatches between windows
    intp until_window     # unmeasured minibatches left before the next window
    intp window_left      # minibatches left in the current window
    double wall, cpu      # measured seconds in the current window
    long long on_threads  # minibatches run on several threads so far
    long long on_one      # minibatches run on one thread so far


cdef void adapt_init(Adapt* a, int parts) noexcept nogil
cdef int adapt_threads(Adapt* a) noexcept nogil
cdef bint adapt_measuring(const Adapt* a) noexcept nogil
cdef intp adapt_segment(const Adapt* a) noexcept nogil
cdef void adapt_after(Adapt* a, intp n_batches, double wall, const double* cpu) noexcept nogil
