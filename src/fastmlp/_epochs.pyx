"""Whole sgd/adam epochs in compiled code (whether a minibatch's parts run on
one thread or on several is _runtime_threads' rule).

One call of EpochRunner.run is one epoch: for every minibatch of the given
row order, the batch's weight sum, the raw loss and gradient sums of the
batch's rows (in K parts, K the workspace's thread count; dense rows are
gathered chunk by chunk into the layout's gather buffer, CSR rows are read in
place) and an in-place sgd or adam update of the packed parameters. Nothing
is allocated per minibatch; the GIL is taken only now and then to let Ctrl-C
through (the parameters are always left after a complete update).

The updates follow sklearn's optimizers (_stochastic_optimizers.py)
operation by operation, including numpy's promotion rules for float32
parameters (Python-float hyper-parameters act in float32; adam's np.float64
step size turns its update into float64, added to the float32 parameter in
float64 and rounded back), so an update is bit-identical to sklearn's given
the same gradient.
"""

import numpy as np
cimport numpy as cnp

from cpython.exc cimport PyErr_CheckSignals
from cython cimport floating
from cython.parallel cimport parallel
from libc.math cimport sqrt, pow
from libc.stdint cimport uint32_t, uint64_t

from fastmlp._core cimport NetSpec, DataSpec, Dataset, check_vec, row_of
from fastmlp._dropout cimport DropSpec, fm_drop_key
from fastmlp._runtime_threads cimport (
    Adapt, ThreadRule, adapt_init, adapt_threads, adapt_measuring, adapt_segment, adapt_after,
)
from fastmlp._objective cimport Workspace, rows_loss_grad, finish_range
from fastmlp._optimizers cimport SOLVER_SGD, SOLVER_ADAM, OptSpec, fm_set_level_cap, update_range
from fastmlp._openmp cimport (
    omp_get_thread_num, omp_get_num_threads, omp_get_wtime, fm_barrier,
    fm_thread_cpu_time,
)
from fastmlp._typedefs cimport intp

cnp.import_array()

# rows x parameters between two looks at pending signals (a few milliseconds)
cdef double SIGNAL_CHECK_WORK = 2e7


def _set_update_simd_cap(int cap):
    """Testing hook: cap the instruction set of the adam update (2: AVX-512,
    1: AVX2, 0: plain C; every path gives the same bits). Returns the level
    in use."""
    return fm_set_level_cap(cap)


# ------------------------------------------------ minibatch step ----
#
# A minibatch is split into a fixed number K of parts (the workspace's thread
# count, fixed for the fit). Part k's raw loss and gradient sums go into its
# own accumulator (part 0 straight into grad); then the packed vector is cut
# into K slices and, slice by slice, the parts are added in part order, the L2
# penalty and the weight sum applied and the optimizer's update made. Every
# value depends on K only, never on how many threads ran the parts and slices,
# so the number of threads can follow the machine's load during a fit (see
# Adapt) without changing a bit of the result.
#
# On several threads, a run of minibatches (a segment) is one parallel region:
# each thread takes parts t, t + team, ..., a barrier, then the same slices, a
# barrier, and on to the next minibatch. The threads never leave the region
# between minibatches, so they are not put to sleep and woken up again (a
# region per minibatch cost about as much as it saved on small networks).

# parameters per block of finish_slice (its five arrays: 10 KiB in float64)
cdef intp FINISH_BLOCK = 256


cdef enum:
    # doubles of scratch per minibatch part: Step.lacc and Step.regacc, each
    # for two minibatches in flight (see segment_parallel)
    SUMS_PER_PART = 4


cdef struct Step:
    # what every thread of a segment reads (set before the region)
    const NetSpec* net
    OptSpec* opt
    intp batch_size
    intp n_rows
    int K
    double alpha
    double* lacc          # (2, K): parts' loss sums, by minibatch parity
    double* regacc        # (2, K): slices' sums of squared coefficients
    double* cpu           # (K,): threads' CPU seconds in their work, or NULL
    const DropSpec* drop  # the epoch's dropout, or NULL


cdef double batch_weight(const DataSpec* d, const floating* like) noexcept nogil:
    """The sum of the sample weights of d's rows (like: only the dtype)."""
    cdef const floating* SW = <const floating*> d.sw
    cdef double s = 0
    cdef intp r
    if SW == NULL:
        return <double> d.n
    for r in range(d.n):
        s += SW[row_of(d, r)]
    return s


cdef double part_loss_grad(const NetSpec* net, const DataSpec* d, int k, int K,
                           const floating* params, floating* grad, floating* gacc,
                           floating* work, const DropSpec* drop) noexcept nogil:
    """Raw sums of part k of K of the rows of d into grad (k = 0) or
    gacc[k - 1]; returns its loss sum."""
    cdef DataSpec dk = d[0]
    cdef intp lo = (d.n * k) // K, hi = (d.n * (k + 1)) // K
    dk.start = d.start + lo
    dk.n = hi - lo
    return rows_loss_grad(net, &dk, params,
                          grad if k == 0 else gacc + (k - 1) * net.n_params, work,
                          0, dk.n, net.chunk, drop)


cdef double finish_slice(const NetSpec* net, OptSpec* opt, int k, int K,
                         floating* params, floating* grad, const floating* gacc,
                         floating* s1, floating* s2, double alpha, double sw_sum,
                         double lr_t) noexcept nogil:
    """Slice k of K of the packed vector: the gradient finished as
    loss_grad_impl finishes it (parts in part order, penalty, weight sum),
    then the optimizer's update, in blocks that stay in L1 between the two.
    Returns the slice's sum of squared coefficients (before the update)."""
    cdef intp P = net.n_params, b0, b1
    cdef intp lo = (P * k) // K, hi = (P * (k + 1)) // K
    cdef double reg = 0
    b0 = lo
    while b0 < hi:
        b1 = b0 + FINISH_BLOCK if hi - b0 > FINISH_BLOCK else hi
        reg = finish_range(net, params, grad, gacc, K, b0, b1, alpha, sw_sum, reg)
        update_range(opt, params, grad, s1, s2, b0, b1, lr_t)
        b0 = b1
    return reg


cdef inline double adam_step(const OptSpec* opt, long long t) noexcept nogil:
    # sklearn: learning_rate_init * np.sqrt(1 - beta_2**t) / (1 - beta_1**t)
    if opt.solver != SOLVER_ADAM:
        return 0
    return (opt.learning_rate_init * sqrt(1 - pow(opt.beta_2, <double> t))
            / (1 - pow(opt.beta_1, <double> t)))


cdef inline double batch_loss(const Step* s, int parity, double sw_sum) noexcept nogil:
    """The minibatch's objective from its parts' and slices' sums."""
    cdef double loss = 0, reg = 0
    cdef int k
    for k in range(s.K):
        loss += s.lacc[parity * s.K + k]
        reg += s.regacc[parity * s.K + k]
    return (loss + 0.5 * s.alpha * reg) / sw_sum


cdef inline void batch_rows(const Step* s, DataSpec* d, intp start) noexcept nogil:
    d.start = start
    d.n = s.batch_size if s.n_rows - start > s.batch_size else s.n_rows - start


cdef void segment_serial(const Step* s, DataSpec* d, floating* params, floating* grad,
                         floating* s1, floating* s2, floating* work, floating* gacc,
                         intp start, intp n_batches, double* loss_sum) noexcept nogil:
    """Minibatches start, start + batch_size, ... (n_batches of them) on the
    calling thread, every part and slice in turn."""
    cdef intp b
    cdef int k, K = s.K
    cdef double sw_sum, lr_t
    for b in range(n_batches):
        batch_rows(s, d, start + b * s.batch_size)
        sw_sum = batch_weight(d, params)
        for k in range(K):
            s.lacc[k] = part_loss_grad(s.net, d, k, K, params, grad, gacc, work, s.drop)
        s.opt.t += 1
        lr_t = adam_step(s.opt, s.opt.t)
        for k in range(K):
            s.regacc[k] = finish_slice(s.net, s.opt, k, K, params, grad, gacc, s1, s2,
                                       s.alpha, sw_sum, lr_t)
        loss_sum[0] += batch_loss(s, 0, sw_sum) * <double> d.n


cdef void segment_parallel(const Step* s, const DataSpec* d0, floating* params,
                           floating* grad, floating* s1, floating* s2, floating* work,
                           floating* gacc, intp start, intp n_batches, int T,
                           double* loss_sum) noexcept nogil:
    """The same minibatches in one parallel region of (up to) T threads, the
    same values as segment_serial. With s.cpu set, each thread adds the CPU
    seconds of its work (not its waits) to s.cpu[t]."""
    cdef int K = s.K
    cdef DataSpec d
    cdef long long t0 = s.opt.t
    # firstprivate in the region (see loss_grad_impl)
    cdef int t = 0, team = 1, k = 0, parity = 0
    cdef intp b = 0
    cdef double sw_sum = 1, lr_t = 0, c0 = 0
    cdef floating* my_work = work
    with parallel(num_threads=T):
        t = omp_get_thread_num()
        team = omp_get_num_threads()
        my_work = work + t * s.net.work_size
        d = d0[0]
        for b in range(n_batches):
            parity = b & 1
            batch_rows(s, &d, start + b * s.batch_size)
            if s.cpu != NULL:
                c0 = fm_thread_cpu_time()
            k = t
            while k < K:
                s.lacc[parity * K + k] = part_loss_grad(s.net, &d, k, K, params, grad,
                                                        gacc, my_work, s.drop)
                k = k + team
            if s.cpu != NULL:
                s.cpu[t] += fm_thread_cpu_time() - c0
            fm_barrier()
            if s.cpu != NULL:
                c0 = fm_thread_cpu_time()
            # every thread: the same weight sum and step size
            sw_sum = batch_weight(&d, params)
            lr_t = adam_step(s.opt, t0 + b + 1)
            k = t
            while k < K:
                s.regacc[parity * K + k] = finish_slice(
                    s.net, s.opt, k, K, params, grad, gacc, s1, s2, s.alpha, sw_sum, lr_t)
                k = k + team
            if s.cpu != NULL:
                s.cpu[t] += fm_thread_cpu_time() - c0
            fm_barrier()
            # the sums of this minibatch are rewritten two minibatches on, after
            # the next barrier: thread 0 reads them before reaching it
            if t == 0:
                loss_sum[0] += batch_loss(s, parity, sw_sum) * <double> d.n
    s.opt.t = t0 + n_batches


cdef int epoch_impl(const NetSpec* net, DataSpec* d, OptSpec* opt, floating* params,
                    floating* grad, floating* s1, floating* s2, floating* work,
                    floating* gacc, double* scratch, Adapt* adapt, double* cpu,
                    double alpha, intp n_rows, intp batch_size, const DropSpec* drop,
                    double* loss_sum) except -1 nogil:
    """Minibatches rows [0, n_rows) of d (through d.idx when set) in order,
    batch_size rows each (the last one shorter), as sklearn's gen_batches.
    scratch: SUMS_PER_PART * K doubles; drop: the epoch's dropout, or NULL."""
    cdef Step s
    cdef intp start = 0, n_batches, left, most, k
    cdef double t0, per_batch, since_check = 0
    cdef int nt
    cdef bint measure
    s.net = net
    s.opt = opt
    s.batch_size = batch_size
    s.n_rows = n_rows
    s.K = adapt.parts
    s.alpha = alpha
    s.drop = drop
    s.lacc = scratch
    s.regacc = scratch + 2 * s.K
    # minibatches between two looks at pending signals (a few milliseconds)
    per_batch = <double> batch_size * <double> net.n_params
    most = <intp> (SIGNAL_CHECK_WORK / per_batch) if per_batch < SIGNAL_CHECK_WORK else 1
    while start < n_rows:
        left = (n_rows - start + batch_size - 1) // batch_size
        n_batches = left if left < most else most
        nt = adapt_threads(adapt)
        if nt <= 1 or s.K == 1:
            s.cpu = NULL
            segment_serial(&s, d, params, grad, s1, s2, work, gacc, start, n_batches,
                           loss_sum)
            adapt.on_one += n_batches
        else:
            if adapt_segment(adapt) < n_batches:
                n_batches = adapt_segment(adapt)
            measure = adapt_measuring(adapt)
            s.cpu = cpu if measure else NULL
            if measure:
                for k in range(s.K):
                    cpu[k] = 0
            t0 = omp_get_wtime()
            segment_parallel(&s, d, params, grad, s1, s2, work, gacc, start, n_batches,
                             nt, loss_sum)
            adapt_after(adapt, n_batches, <double> (n_batches * batch_size),
                        omp_get_wtime() - t0, cpu)
            adapt.on_threads += n_batches
        start += n_batches * batch_size
        since_check += <double> n_batches * per_batch
        if since_check >= SIGNAL_CHECK_WORK and start < n_rows:
            since_check = 0
            with gil:
                PyErr_CheckSignals()
    return 0


cdef class EpochRunner(ThreadRule):
    """Runs epochs of sgd or adam over a Dataset, updating `params` in place.

    ws: a Workspace with gradient accumulators (its layout built with
    gather=True when dense rows are taken through an index array); params,
    grad: contiguous (n_params,) arrays of the model's dtype; state1/state2:
    the optimizer's buffers of the same shape (sgd: velocities, None; adam:
    first and second moments), updated in place. The runner holds references
    to all of them; `t` (adam's step count) and `learning_rate` (sgd's
    current rate) are read and set from Python between epochs.
    """
    cdef readonly Workspace ws
    cdef readonly Dataset data
    cdef readonly object params, grad, state1, state2
    cdef OptSpec opt
    cdef object cpu      # (n_threads,) float64: the threads' CPU seconds
    cdef object scratch  # (SUMS_PER_PART * n_threads,) float64: loss and penalty sums
    cdef readonly double alpha
    cdef DropSpec drop
    cdef object drop_tables  # (thresholds, rates) per layer, which drop points into
    cdef bint dropping       # some layer drops units
    cdef uint64_t drop_seed

    def __init__(self, Workspace ws, Dataset data, params, grad, state1, state2,
                 str solver, double alpha, double learning_rate, double momentum=0.9,
                 bint nesterov=True, double beta_1=0.9, double beta_2=0.999,
                 double epsilon=1e-8, long long t=0):
        cdef intp P = ws.layout.spec.n_params
        if ws.gacc.shape[0] != ws.n_threads - 1:
            raise ValueError("this workspace was made for forward passes only")
        if data.dtype != ws.dtype:
            raise ValueError("data and workspace dtypes differ")
        if data.Y is None:
            raise ValueError("training needs Y")
        if data.n_features != ws.layout.spec.units[0]:
            raise ValueError(f"X has {data.n_features} features, the network expects "
                             f"{ws.layout.spec.units[0]}")
        check_vec(params, P, ws.dtype, "params")
        if not params.flags.writeable:
            raise ValueError("params must be writeable")
        check_vec(grad, P, ws.dtype, "grad")
        check_vec(state1, P, ws.dtype, "state1")
        if solver == "sgd":
            self.opt.solver = SOLVER_SGD
        elif solver == "adam":
            self.opt.solver = SOLVER_ADAM
            check_vec(state2, P, ws.dtype, "state2")
        else:
            raise ValueError(f"unknown stochastic solver {solver!r}")
        if t < 0:
            raise ValueError("t must be >= 0")
        self.ws = ws
        self.data = data
        self.params = params
        self.grad = grad
        self.state1 = state1
        self.state2 = state2
        self.alpha = alpha
        self.opt.nesterov = nesterov
        self.opt.learning_rate = learning_rate
        self.opt.learning_rate_init = learning_rate
        self.opt.momentum = momentum
        self.opt.beta_1 = beta_1
        self.opt.beta_2 = beta_2
        self.opt.epsilon = epsilon
        self.opt.t = t
        adapt_init(&self.adapt, ws.n_threads)
        self.cpu = np.zeros(ws.n_threads, dtype=np.float64)
        self.scratch = np.zeros(SUMS_PER_PART * ws.n_threads, dtype=np.float64)

    def set_dropout(self, rates, seed):
        """Inverted dropout on the hidden layers' activations from the next
        epoch on: rates, one per hidden layer, each in [0, 1) (0: none);
        seed: the fit's, in [0, 2**64), which with the epoch keys the masks."""
        cdef int L = self.ws.layout.spec.n_layers
        r = np.zeros(L, dtype=np.float64)
        r[1:L - 1] = rates  # (a wrong count: numpy's ValueError)
        if not np.all((r >= 0) & (r < 1)):
            raise ValueError(f"dropout rates must be in [0, 1), got {rates!r}")
        if not 0 <= seed < 2**64:
            raise ValueError("the dropout seed must be in [0, 2**64)")
        thresholds = np.asarray(np.floor(r * 2.0**32), dtype=np.uint32)
        self.drop_tables = (thresholds, r)
        self.dropping = thresholds.any()
        self.drop_seed = seed
        self.drop.threshold = <const uint32_t*> cnp.PyArray_DATA(thresholds)
        self.drop.rate = <const double*> cnp.PyArray_DATA(r)

    @property
    def t(self):
        return self.opt.t

    @t.setter
    def t(self, long long value):
        if value < 0:
            raise ValueError("t must be >= 0")
        self.opt.t = value

    @property
    def learning_rate(self):
        return self.opt.learning_rate

    @learning_rate.setter
    def learning_rate(self, double value):
        self.opt.learning_rate = value

    def run(self, idx, Py_ssize_t n_rows, Py_ssize_t batch_size, uint64_t epoch=0):
        """One epoch over rows idx[0:n_rows] (rows 0..n_rows-1 of X when idx is
        None) in minibatches of batch_size; returns the sum over minibatches of
        loss * rows, sklearn's accumulated_loss. A pending KeyboardInterrupt is
        raised between two minibatches. epoch: keys the dropout masks."""
        cdef DataSpec d
        cdef double loss_sum = 0
        self.drop.key = fm_drop_key(self.drop_seed, epoch)
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if n_rows < 1:
            raise ValueError("no rows")
        self.data.select(&d, self.ws.layout, idx, 0, n_rows)
        if self.ws.dtype == np.float64:
            _run_epoch(self, &d, <double*> cnp.PyArray_DATA(<cnp.ndarray> self.params),
                       n_rows, batch_size, &loss_sum)
        else:
            _run_epoch(self, &d, <float*> cnp.PyArray_DATA(<cnp.ndarray> self.params),
                       n_rows, batch_size, &loss_sum)
        return loss_sum


cdef int _run_epoch(EpochRunner r, DataSpec* d, floating* params, intp n_rows,
                    intp batch_size, double* loss_sum) except -1:
    """EpochRunner.run in the dtype of params (every array of the runner has it)."""
    cdef floating* s2 = NULL
    if r.opt.solver == SOLVER_ADAM:
        s2 = <floating*> cnp.PyArray_DATA(<cnp.ndarray> r.state2)
    with nogil:
        epoch_impl(&r.ws.layout.spec, d, &r.opt, params,
                   <floating*> cnp.PyArray_DATA(<cnp.ndarray> r.grad),
                   <floating*> cnp.PyArray_DATA(<cnp.ndarray> r.state1), s2,
                   <floating*> cnp.PyArray_DATA(r.ws.work),
                   <floating*> cnp.PyArray_DATA(r.ws.gacc),
                   <double*> cnp.PyArray_DATA(<cnp.ndarray> r.scratch), &r.adapt,
                   <double*> cnp.PyArray_DATA(<cnp.ndarray> r.cpu),
                   r.alpha, n_rows, batch_size,
                   &r.drop if r.dropping else NULL, loss_sum)
    return 0
