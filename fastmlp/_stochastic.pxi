# Included at the end of _kernels.pyx: whole sgd/adam epochs in compiled code,
# built on loss_grad_impl (same module, so every cdef function is visible).
#
# One call of EpochRunner.run is one epoch: for every minibatch of the given
# row order, the batch's weight sum, loss_grad_impl over the batch's rows (in
# as many parts as the workspace has threads, see batch_loss_grad; dense rows
# are gathered chunk by chunk into the layout's gather buffer, CSR rows are
# read in place) and an in-place sgd or adam update of the packed parameters.
# Nothing is allocated per minibatch; the GIL is taken only now and then to let
# Ctrl-C through (the parameters are always left after a complete update).
#
# The updates follow sklearn's optimizers (_stochastic_optimizers.py)
# operation by operation, including numpy's promotion rules for float32
# parameters (Python-float hyper-parameters act in float32; adam's np.float64
# step size turns its update into float64, added to the float32 parameter in
# float64 and rounded back), so an update is bit-identical to sklearn's given
# the same gradient.

from cpython.exc cimport PyErr_CheckSignals
from libc.math cimport sqrt, pow

cdef enum:
    SOLVER_SGD = 0
    SOLVER_ADAM = 1

# below this many parameters the update runs on one thread
cdef intp PARALLEL_UPDATE_MIN = 1 << 16
# rows x parameters between two looks at pending signals (a few milliseconds)
cdef double SIGNAL_CHECK_WORK = 2e7


cdef struct OptSpec:
    int solver
    bint nesterov
    double learning_rate    # sgd: the current rate (changed between epochs)
    double momentum
    double learning_rate_init
    double beta_1
    double beta_2
    double epsilon
    long long t             # adam: updates done so far


cdef extern from "_stochastic.h" nogil:
    # the element-wise updates, vectorised in C (exactness notes there)
    void fms_sgd_d(double* p, const double* g, double* vel, intp n, double lr,
                   double mom, int nesterov) noexcept
    void fms_sgd_f(float* p, const float* g, float* vel, intp n, float lr,
                   float mom, int nesterov) noexcept
    void fms_adam_d(double* p, const double* g, double* ms, double* vs, intp n,
                    double neg_lr, double b1, double c1, double b2, double c2,
                    double eps) noexcept
    void fms_adam_f(float* p, const float* g, float* ms, float* vs, intp n,
                    double neg_lr, float b1, float c1, float b2, float c2,
                    float eps) noexcept
    int fms_set_level_cap(int cap) noexcept
    double fms_now() noexcept
    double fms_cpu_now() noexcept
    int fms_team_size() noexcept


def _set_update_simd_cap(int cap):
    """Testing hook: cap the instruction set of the adam update (2: AVX-512,
    1: AVX2, 0: plain C; every path gives the same bits). Returns the level
    in use."""
    return fms_set_level_cap(cap)


cdef void update_range(const OptSpec* opt, floating* p, const floating* g, floating* s1,
                       floating* s2, intp lo, intp hi, double lr_t) noexcept nogil:
    # sklearn's hyper-parameters are Python floats: numpy casts them to the
    # parameters' dtype (1 - beta is computed in double first)
    if opt.solver == SOLVER_SGD:
        if floating is double:
            fms_sgd_d(p + lo, g + lo, s1 + lo, hi - lo, opt.learning_rate,
                      opt.momentum, opt.nesterov)
        else:
            fms_sgd_f(p + lo, g + lo, s1 + lo, hi - lo, <float> opt.learning_rate,
                      <float> opt.momentum, opt.nesterov)
    else:
        if floating is double:
            fms_adam_d(p + lo, g + lo, s1 + lo, s2 + lo, hi - lo, -lr_t, opt.beta_1,
                       1 - opt.beta_1, opt.beta_2, 1 - opt.beta_2, opt.epsilon)
        else:
            fms_adam_f(p + lo, g + lo, s1 + lo, s2 + lo, hi - lo, -lr_t,
                       <float> opt.beta_1, <float> (1 - opt.beta_1),
                       <float> opt.beta_2, <float> (1 - opt.beta_2),
                       <float> opt.epsilon)


cdef void update_params(OptSpec* opt, floating* p, const floating* g, floating* s1,
                        floating* s2, intp P, int n_threads) noexcept nogil:
    """One optimizer step over the packed vector (element-wise, so the thread
    split does not change any value)."""
    cdef double lr_t = 0
    cdef int nt = n_threads, t
    if opt.solver == SOLVER_ADAM:
        opt.t += 1
        # sklearn: learning_rate_init * np.sqrt(1 - beta_2**t) / (1 - beta_1**t)
        lr_t = (opt.learning_rate_init * sqrt(1 - pow(opt.beta_2, <double> opt.t))
                / (1 - pow(opt.beta_1, <double> opt.t)))
    cdef int team
    if P < PARALLEL_UPDATE_MIN or nt < 2:
        update_range(opt, p, g, s1, s2, 0, P, lr_t)
    else:
        with parallel(num_threads=nt):
            # split over the threads that really run (the team may be smaller)
            t = omp_get_thread_num()
            team = fms_team_size()
            update_range(opt, p, g, s1, s2, (P * t) // team, (P * (t + 1)) // team, lr_t)


# ------------------------------------------------ minibatch gradient ----
#
# A minibatch is split into a fixed number of parts (the workspace's thread
# count, fixed for the fit), each part's raw sums computed by loss_grad_impl
# on one thread into its own accumulator, then reduced in part order: the
# values depend on the number of parts only, never on how many threads ran
# them. So the number of threads can follow the machine's load during a fit
# (see Adapt) without changing a bit of the result.

cdef void part_loss_grad(const NetSpec* net, const DataSpec* d, int k, int K,
                         const floating* params, floating* grad, floating* gacc,
                         floating* work, double* lacc) noexcept nogil:
    """Raw loss and gradient sums (no penalty, not divided) of part k of K of
    the rows of d: into grad (k = 0) or gacc[k - 1], the loss into lacc[k]."""
    cdef DataSpec dk = d[0]
    cdef intp lo = (d.n * k) // K, hi = (d.n * (k + 1)) // K
    cdef floating* out = grad if k == 0 else gacc + (k - 1) * net.n_params
    dk.start = d.start + lo
    dk.n = hi - lo
    # alpha 0 and weight sum 1: loss_grad_impl's final step leaves the sums as
    # they are (x + 0 * w, then / 1)
    lacc[k] = loss_grad_impl(net, &dk, params, out, work, gacc, &lacc[k], 1, 0.0, 1.0)


cdef double batch_loss_grad(const NetSpec* net, const DataSpec* d,
                            const floating* params, floating* grad, floating* work,
                            floating* gacc, double* lacc, int K, int T,
                            double alpha, double sw_sum, double* cpu) noexcept nogil:
    """loss_grad_impl's objective and gradient over the rows of d, computed as
    K parts by T threads (1 <= T <= K); the same bits for every T. cpu: NULL,
    or K slots that get each thread's CPU seconds in its parts (T > 1)."""
    cdef int t, team, k
    cdef intp p, P = net.n_params
    cdef floating* acc
    cdef double loss = 0, reg = 0, s, c0
    cdef floating sw = <floating> sw_sum, a = <floating> alpha
    if K == 1:
        return loss_grad_impl(net, d, params, grad, work, gacc, lacc, 1, alpha, sw_sum)
    if T <= 1:
        for k in range(K):
            part_loss_grad(net, d, k, K, params, grad, gacc, work, lacc)
    else:
        if cpu != NULL:
            memset(cpu, 0, K * sizeof(double))
        with parallel(num_threads=T):
            t = omp_get_thread_num()
            team = fms_team_size()
            if cpu != NULL:
                c0 = fms_cpu_now()
            k = t
            while k < K:
                part_loss_grad(net, d, k, K, params, grad, gacc,
                               work + t * net.work_size, lacc)
                k = k + team
            if cpu != NULL:
                cpu[t] = fms_cpu_now() - c0
    # the parts in order, then the penalty and the weight sum, as
    # loss_grad_impl finishes its thread accumulators
    for k in range(1, K):
        acc = gacc + (k - 1) * P
        for p in range(P):
            grad[p] += acc[p]
    for k in range(K):
        loss += lacc[k]
    for p in range(net.n_coef):
        s = params[p]
        reg += s * s
        grad[p] = (grad[p] + a * params[p]) / sw
    for p in range(net.n_coef, P):
        grad[p] = grad[p] / sw
    return (loss + 0.5 * alpha * reg) / sw_sum


# ----------------------------------------------- threads that pay off ----
#
# One parallel region per minibatch pays on idle cores (1.3-1.5x on two) but
# costs many times over when other processes hold the cores: the threads wait
# for each other at every minibatch's barrier while descheduled (milliseconds
# a minibatch). So while the runner uses all its threads it measures, in
# windows of a few minibatches, each region's wall time against the CPU time
# its threads spent working (what one thread would need). When the threads
# stop clearly beating one thread, every runner of the process goes on with one
# thread for a while (20 ms at first, doubling up to 2 s while the threads keep
# losing) and then tries them again. The results do not depend on any of this.

cdef enum:
    WINDOW = 4            # minibatches per measurement
    GAP_MAX = 12          # unmeasured minibatches between windows while threads pay

cdef double BACKOFF_MIN = 0.02, BACKOFF_MAX = 2.0
# process-wide: until when threads are not tried again, and the next backoff
# (shared by concurrent fits; a race only moves a retry, never a result)
cdef double g_retry_at = 0, g_backoff = 0.02


cdef struct Adapt:
    int parts             # K: the minibatch's parts (fixed for the fit)
    int forced            # > 0: always this many threads (tests)
    bint blind            # no per-thread CPU clock: all threads, unmeasured
    int threads           # threads in use: parts or 1
    intp left             # on all threads: minibatches until this window ends
    intp gap              # unmeasured minibatches before the next window
    double wall, cpu      # measured seconds in the current window


cdef void adapt_start_window(Adapt* a) noexcept nogil:
    a.threads = a.parts
    a.left = WINDOW
    a.gap = 0
    a.wall = a.cpu = 0


cdef void adapt_init(Adapt* a, int parts) noexcept nogil:
    a.parts = parts
    a.forced = 0
    a.blind = False
    adapt_start_window(a)
    if parts > 1 and fms_now() < g_retry_at:
        a.threads = 1


cdef inline int adapt_threads(Adapt* a) noexcept nogil:
    if a.forced > 0:
        return a.forced if a.forced < a.parts else a.parts
    if a.blind:
        return a.parts
    if a.threads == 1 and a.parts > 1 and fms_now() >= g_retry_at:
        adapt_start_window(a)
    return a.threads


cdef inline bint adapt_measuring(const Adapt* a) noexcept nogil:
    return a.forced == 0 and not a.blind and a.threads > 1 and a.left <= WINDOW


cdef void adapt_after(Adapt* a, double wall, const double* cpu) noexcept nogil:
    """Book one minibatch (its region's wall time and its threads' CPU times
    when measuring)."""
    global g_retry_at, g_backoff
    cdef int k
    cdef double c = 0
    if a.parts == 1 or a.forced > 0 or a.blind or a.threads == 1:
        return
    if a.left <= WINDOW:
        for k in range(a.parts):
            if cpu[k] < 0:      # no per-thread CPU clock here: keep the threads
                a.blind = True
                return
            c += cpu[k]
        a.cpu += c
        a.wall += wall
    a.left -= 1
    if a.left > 0 and not (a.left < WINDOW and a.wall > a.cpu):
        return
    if a.wall < 0.9 * a.cpu:
        # the threads pay: stay, and measure again after a gap that grows
        # while they keep paying (the clocks cost ~1 us a minibatch)
        g_backoff = BACKOFF_MIN
        a.left = a.gap + WINDOW
        a.gap = 2 * a.gap + 4 if a.gap < GAP_MAX else GAP_MAX
    else:
        # no better than one thread (or worse already: stop at once)
        a.threads = 1
        g_retry_at = fms_now() + g_backoff
        g_backoff = 2 * g_backoff if g_backoff < BACKOFF_MAX else BACKOFF_MAX
    a.wall = a.cpu = 0


cdef int epoch_impl(const NetSpec* net, DataSpec* d, OptSpec* opt, floating* params,
                    floating* grad, floating* s1, floating* s2, floating* work,
                    floating* gacc, double* lacc, Adapt* adapt, double* cpu,
                    double alpha, intp n_rows, intp batch_size,
                    double* loss_sum) except -1 nogil:
    """Minibatches rows [0, n_rows) of d (through d.idx when set) in order,
    batch_size rows each (the last one shorter), as sklearn's gen_batches."""
    cdef intp start = 0, bs, r, P = net.n_params
    cdef const floating* SW = <const floating*> d.sw
    cdef double sw_sum, loss, work_since_check = 0, t0, wall
    cdef int nt
    cdef bint measure
    while start < n_rows:
        bs = batch_size if n_rows - start > batch_size else n_rows - start
        d.start = start
        d.n = bs
        if SW == NULL:
            sw_sum = <double> bs
        else:
            sw_sum = 0
            for r in range(bs):
                sw_sum += SW[row_of(d, r)]
        nt = adapt_threads(adapt)
        measure = adapt_measuring(adapt)
        t0 = fms_now() if measure else 0
        loss = batch_loss_grad(net, d, params, grad, work, gacc, lacc, adapt.parts, nt,
                               alpha, sw_sum, cpu if measure else NULL)
        wall = fms_now() - t0 if measure else 0
        loss_sum[0] += loss * <double> bs
        update_params(opt, params, grad, s1, s2, P, nt)
        adapt_after(adapt, wall, cpu)
        start += bs
        work_since_check += <double> bs * <double> P
        if work_since_check >= SIGNAL_CHECK_WORK and start < n_rows:
            work_since_check = 0
            with gil:
                PyErr_CheckSignals()
    return 0


cdef class EpochRunner:
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
    cdef Adapt adapt
    cdef object cpu      # (n_threads,) float64: the threads' CPU seconds
    cdef readonly double alpha

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

    @property
    def threads(self):
        """Threads the next minibatch will use (1 to the workspace's count)."""
        return adapt_threads(&self.adapt)

    @property
    def fixed_threads(self):
        """0: the thread count follows the measured speed; n > 0: always n
        (capped at the workspace's count). Results are the same either way."""
        return self.adapt.forced

    @fixed_threads.setter
    def fixed_threads(self, int value):
        if value < 0:
            raise ValueError("fixed_threads must be >= 0")
        self.adapt.forced = value

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

    def run(self, idx, Py_ssize_t n_rows, Py_ssize_t batch_size):
        """One epoch over rows idx[0:n_rows] (rows 0..n_rows-1 of X when idx is
        None) in minibatches of batch_size; returns the sum over minibatches of
        loss * rows, sklearn's accumulated_loss. A pending KeyboardInterrupt is
        raised between two minibatches."""
        cdef DataSpec d
        cdef double loss_sum = 0
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if n_rows < 1:
            raise ValueError("no rows")
        self.data.select(&d, self.ws.layout, idx, 0, n_rows)
        if self.ws.dtype == np.float64:
            self._run64(&d, n_rows, batch_size, &loss_sum)
        else:
            self._run32(&d, n_rows, batch_size, &loss_sum)
        return loss_sum

    cdef int _run64(self, DataSpec* d, intp n_rows, intp batch_size,
                    double* loss_sum) except -1:
        cdef double* p = <double*> cnp.PyArray_DATA(<cnp.ndarray> self.params)
        cdef double* g = <double*> cnp.PyArray_DATA(<cnp.ndarray> self.grad)
        cdef double* s1 = <double*> cnp.PyArray_DATA(<cnp.ndarray> self.state1)
        cdef double* s2 = NULL
        cdef double* work = <double*> cnp.PyArray_DATA(self.ws.work)
        cdef double* gacc = <double*> cnp.PyArray_DATA(self.ws.gacc)
        cdef double* lacc = <double*> cnp.PyArray_DATA(self.ws.lacc)
        if self.opt.solver == SOLVER_ADAM:
            s2 = <double*> cnp.PyArray_DATA(<cnp.ndarray> self.state2)
        with nogil:
            epoch_impl(&self.ws.layout.spec, d, &self.opt, p, g, s1, s2, work, gacc,
                       lacc, &self.adapt,
                       <double*> cnp.PyArray_DATA(<cnp.ndarray> self.cpu),
                       self.alpha, n_rows, batch_size, loss_sum)
        return 0

    cdef int _run32(self, DataSpec* d, intp n_rows, intp batch_size,
                    double* loss_sum) except -1:
        cdef float* p = <float*> cnp.PyArray_DATA(<cnp.ndarray> self.params)
        cdef float* g = <float*> cnp.PyArray_DATA(<cnp.ndarray> self.grad)
        cdef float* s1 = <float*> cnp.PyArray_DATA(<cnp.ndarray> self.state1)
        cdef float* s2 = NULL
        cdef float* work = <float*> cnp.PyArray_DATA(self.ws.work)
        cdef float* gacc = <float*> cnp.PyArray_DATA(self.ws.gacc)
        cdef double* lacc = <double*> cnp.PyArray_DATA(self.ws.lacc)
        if self.opt.solver == SOLVER_ADAM:
            s2 = <float*> cnp.PyArray_DATA(<cnp.ndarray> self.state2)
        with nogil:
            epoch_impl(&self.ws.layout.spec, d, &self.opt, p, g, s1, s2, work, gacc,
                       lacc, &self.adapt,
                       <double*> cnp.PyArray_DATA(<cnp.ndarray> self.cpu),
                       self.alpha, n_rows, batch_size, loss_sum)
        return 0
