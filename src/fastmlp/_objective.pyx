"""The objective: chunked, multi-threaded loss + gradient of a dense MLP whose
parameters live in ONE packed vector (sklearn's layout: every coefficient
matrix row-major, then every intercept), and the Workspace that holds the
per-thread buffers of it and of the forward pass (_forward).

Memory beyond the data is per thread: activations of one chunk of rows for
every layer, one temporary for the backward pass, a gather buffer for row
subsets of dense data, and one gradient accumulator per part of the rows (part
0 writes straight into the output gradient). A Workspace of n threads splits
its work into n parts; how many threads run them is decided per call
(_runtime_threads), which never changes a bit. Nothing grows with n_samples.
"""

import numpy as np
cimport numpy as cnp

from cython cimport floating
from cython.parallel cimport parallel
from libc.string cimport memset

from fastmlp._core cimport NetSpec, DataSpec, Layout, Dataset, check_vec, row_of
from fastmlp._dropout cimport DropSpec, drop_forward, drop_backward
from fastmlp._elementwise cimport (
    f_log, f_log1p, activation_backward, softmax_rows, softmax_delta,
)
from fastmlp._forward cimport forward_impl
from fastmlp._gemm cimport SG_NMAX, gemm_rm, narrow_tn, narrow_nt
from fastmlp._layers cimport first_layer, hidden_forward, next_layer, forward_hidden, pre_buffer
from fastmlp._loss cimport machine_eps, softmax_row_loss, output_loss, is_robust, robust_loss
from fastmlp._sparse cimport csr_tn
from fastmlp._runtime_threads cimport (
    Adapt, adapt_init, adapt_threads, adapt_measuring, adapt_after,
)
from fastmlp._openmp cimport (
    fm_thread_cpu_time, omp_get_thread_num, omp_get_num_threads, omp_get_wtime,
)
from fastmlp._typedefs cimport intp, OUT_SOFTMAX

cnp.import_array()

# --------------------------------------------------------- one chunk ----

cdef void first_layer_grad(const NetSpec* net, const DataSpec* d, floating* gacc,
                           const floating* work, intp r0, intp m, bint fresh) noexcept nogil:
    """gacc[W0] += X[chunk]^T @ delta1 (delta1 sits in layer 1's buffer);
    fresh: gacc[W0] holds no sum yet and is overwritten instead."""
    cdef int n_out = net.units[1]
    cdef int nf = <int> d.n_features
    cdef floating* G = gacc + net.coef_off[0]
    cdef const floating* D = work + net.act_off[1]
    cdef const floating* X = <const floating*> d.X
    cdef floating beta = 0 if fresh else 1
    if d.indptr != NULL:
        if fresh:
            memset(G, 0, <intp> nf * n_out * sizeof(floating))
        csr_tn(X, d.indices, d.indptr, d.idx, d.start + r0, m, D, n_out, G)
    elif d.idx != NULL:
        gemm_rm(1, 0, nf, n_out, <int> m, 1, work + net.xbuf_off, nf, D, n_out,
                beta, G, n_out)
    elif d.fortran:
        gemm_rm(0, 0, nf, n_out, <int> m, 1, X + d.start + r0, <int> d.n_total,
                D, n_out, beta, G, n_out)
    else:
        gemm_rm(1, 0, nf, n_out, <int> m, 1, X + (d.start + r0) * nf, nf,
                D, n_out, beta, G, n_out)


cdef double robust_loss_delta(const NetSpec* net, const DataSpec* d,
                              const floating* params, floating* work, floating* gacc,
                              intp r0, intp m) noexcept nogil:
    """output_loss_delta for the robust losses of an identity output: delta =
    the loss's (sub)gradient in p times sw."""
    cdef int L = net.n_layers - 1
    cdef int k = net.units[L]
    cdef floating* Z = work + net.act_off[L]
    cdef const floating* b = params + net.int_off[L - 1]
    cdef floating* gb = gacc + net.int_off[L - 1]
    cdef const floating* Y = <const floating*> d.Y
    cdef const floating* SW = <const floating*> d.sw
    cdef floating param = <floating> net.loss_param
    cdef floating wgt, dlt
    cdef double total = 0, row_loss
    cdef intp i, g
    cdef int j
    for i in range(m):
        g = row_of(d, r0 + i)
        wgt = SW[g] if SW != NULL else 1
        row_loss = 0
        for j in range(k):
            dlt = robust_loss(net.output, Z[i * k + j] + b[j] - Y[g * k + j], param,
                              &row_loss) * wgt
            Z[i * k + j] = dlt
            gb[j] += dlt
        total += wgt * row_loss
    return total


cdef double output_loss_delta(const NetSpec* net, const DataSpec* d,
                              const floating* params, floating* work, floating* gacc,
                              intp r0, intp m) noexcept nogil:
    """Fused output layer: bias, output function, weighted loss, and
    delta = (p - y) * sw written over Z; bias gradient summed on the way.
    Returns the chunk's weighted loss sum (sklearn's clipped log-loss)."""
    cdef int L = net.n_layers - 1
    cdef int k = net.units[L]
    cdef floating* Z = work + net.act_off[L]
    cdef const floating* b = params + net.int_off[L - 1]
    cdef floating* gb = gacc + net.int_off[L - 1]
    cdef floating* rowsum = work + net.tmp_off
    cdef const floating* Y = <const floating*> d.Y
    cdef const floating* SW = <const floating*> d.sw
    cdef floating log_eps = f_log(machine_eps(Z[0]))
    cdef floating log_1m_eps = f_log1p(-machine_eps(Z[0]))
    cdef floating p, wgt, dlt
    cdef double total = 0, row_loss
    cdef intp i, g
    cdef int j
    if is_robust(net.output):
        return robust_loss_delta(net, d, params, work, gacc, r0, m)
    if net.output == OUT_SOFTMAX:
        # the chunk's rows at once: vectorised exps; rowsum in the free temporary
        softmax_rows(Z, b, m, k, rowsum)
        # the loss row by row; then the deltas and the bias gradient in one
        # vectorised pass (the same values and order as a single loop)
        for i in range(m):
            g = row_of(d, r0 + i)
            wgt = SW[g] if SW != NULL else 1
            total += wgt * softmax_row_loss(Z + i * k, Y + g * k, k, f_log(rowsum[i]),
                                            log_eps, log_1m_eps)
        softmax_delta(Z, d.Y, d.sw, d.idx + d.start + r0 if d.idx != NULL else NULL,
                      d.start + r0, m, k, rowsum, gb)
        return total
    for i in range(m):
        g = row_of(d, r0 + i)
        wgt = SW[g] if SW != NULL else 1
        row_loss = 0
        for j in range(k):
            p = output_loss(net.output, Z[i * k + j] + b[j], Y[g * k + j], &row_loss)
            dlt = (p - Y[g * k + j]) * wgt
            Z[i * k + j] = dlt
            gb[j] += dlt
        total += wgt * row_loss
    return total


cdef void backward(const NetSpec* net, const DataSpec* d, const floating* params,
                   floating* work, floating* gacc, intp r0, intp m, bint fresh,
                   const DropSpec* drop) noexcept nogil:
    """Back-propagate the output delta through every layer into gacc (its
    coefficient blocks overwritten when fresh, else added to), through the
    forward pass's dropout masks (drop: NULL without)."""
    cdef int L = net.n_layers - 1
    cdef int l, w_in, w_out
    cdef floating* T = work + net.tmp_off
    cdef floating* A
    cdef floating beta = 0 if fresh else 1
    for l in range(L - 1, 0, -1):
        w_in = net.units[l]
        w_out = net.units[l + 1]
        A = work + net.act_off[l]
        # gradW_l += A_l^T delta_{l+1}
        # T = delta_{l+1} W_l^T, then delta_l = T * f'(A_l) written over A_l
        if w_out <= SG_NMAX:
            narrow_tn(A, work + net.act_off[l + 1], gacc + net.coef_off[l], m,
                      w_in, w_out, not fresh, work + net.sg_off)
            narrow_nt(work + net.act_off[l + 1], params + net.coef_off[l], T, m,
                      w_in, w_out, work + net.sg_off)
        else:
            gemm_rm(1, 0, w_in, w_out, <int> m, 1, A, w_in, work + net.act_off[l + 1],
                    w_out, beta, gacc + net.coef_off[l], w_out)
            gemm_rm(0, 1, <int> m, w_in, w_out, 1, work + net.act_off[l + 1], w_out,
                    params + net.coef_off[l], w_out, 0, T, w_in)
        if drop != NULL and drop.threshold[l] != 0:
            drop_backward(drop, net.acts[l], T, A, m, w_in, l, d.start + r0)
        activation_backward(net.acts[l], T, A, gacc + net.int_off[l - 1], m, w_in,
                            pre_buffer(net, work, l))
    first_layer_grad(net, d, gacc, work, r0, m, fresh)


cdef void dropout_forward(const NetSpec* net, const DataSpec* d, const floating* params,
                          floating* work, intp r0, intp m, const DropSpec* drop) noexcept nogil:
    """forward_hidden with each hidden layer's activations through its mask
    (rows at positions d.start + r0 ... of the epoch's order) before they
    feed the next layer."""
    cdef int L = net.n_layers - 1
    cdef int l
    first_layer(net, d, params, work, r0, m)
    for l in range(L - 1):
        hidden_forward(net, params, work, l, m)
        if drop.threshold[l + 1] != 0:
            drop_forward(drop, work + net.act_off[l + 1], m, net.units[l + 1], l + 1,
                         d.start + r0)
        next_layer(net, params, work, l + 1, m)


cdef double chunk_loss_grad(const NetSpec* net, const DataSpec* d,
                            const floating* params, floating* work, floating* gacc,
                            intp r0, intp m, bint fresh, const DropSpec* drop) noexcept nogil:
    cdef double loss
    if drop == NULL:
        forward_hidden(net, d, params, work, r0, m)
    else:
        dropout_forward(net, d, params, work, r0, m, drop)
    loss = output_loss_delta(net, d, params, work, gacc, r0, m)
    backward(net, d, params, work, gacc, r0, m, fresh, drop)
    return loss


cdef double rows_loss_grad(const NetSpec* net, const DataSpec* d,
                           const floating* params, floating* acc, floating* work,
                           intp lo, intp hi, intp chunk, const DropSpec* drop) noexcept nogil:
    """Raw loss and gradient sums (no penalty, not divided) of rows lo..hi of
    d on the calling thread, chunk rows at a time: the gradient into acc
    (overwritten); returns the loss sum. drop: the hidden layers' dropout
    (training with sgd/adam), or NULL."""
    cdef intp r0 = lo, m
    cdef double loss = 0
    if hi <= lo:
        memset(acc, 0, net.n_params * sizeof(floating))
        return 0
    # the first chunk's products overwrite the coefficient blocks; only the
    # intercepts, summed with +=, start from zero
    memset(acc + net.n_coef, 0, (net.n_params - net.n_coef) * sizeof(floating))
    while r0 < hi:
        m = chunk if hi - r0 > chunk else hi - r0
        loss += chunk_loss_grad(net, d, params, work, acc, r0, m, r0 == lo, drop)
        r0 += m
    return loss


# ------------------------------------------------------- whole batch ----

cdef inline intp chunk_for(const NetSpec* net, intp n, int nt) noexcept nogil:
    """Rows per chunk: small batches split evenly over the threads."""
    cdef intp chunk = (n + nt - 1) // nt
    if chunk > net.chunk:
        chunk = net.chunk
    return chunk if chunk > 0 else 1


cdef double loss_grad_impl(const NetSpec* net, const DataSpec* d,
                           const floating* params, floating* grad, floating* work,
                           floating* gacc, double* lacc, int n_parts, Adapt* adapt,
                           double* cpu, double alpha, double sw_sum) noexcept nogil:
    """Loss (sklearn's objective) at params; full gradient into grad.

    Rows are split into n_parts contiguous parts, each walked in chunks of at
    most net.chunk rows; part k accumulates into gacc[k - 1] (part 0 into
    grad), reduced afterwards in part order. The parts run on the threads
    adapt gives (thread t takes parts t, t + team, ...), so the result
    depends on n_parts only: bit-identical on any number of threads.
    """
    cdef int K = n_parts
    cdef int k, T = adapt_threads(adapt) if K > 1 else 1
    cdef intp P = net.n_params, chunk = chunk_for(net, d.n, K)
    cdef double loss = 0, reg, t0 = 0
    cdef bint measure = False
    # Cython makes the region's variables firstprivate: give them values
    cdef int t = 0, team = 1, j = 0
    cdef double c0 = 0
    if T <= 1:
        for k in range(K):
            lacc[k] = rows_loss_grad(net, d, params, grad if k == 0 else gacc + (k - 1) * P,
                                     work, (d.n * k) // K, (d.n * (k + 1)) // K, chunk, NULL)
        adapt.on_one += 1
    else:
        measure = adapt_measuring(adapt)
        if measure:
            for k in range(K):
                cpu[k] = 0
        t0 = omp_get_wtime()
        with parallel(num_threads=T):
            # the team may be smaller than asked (OMP_THREAD_LIMIT, nesting,
            # OMP_DYNAMIC): its threads take all the parts anyway
            t = omp_get_thread_num()
            team = omp_get_num_threads()
            if measure:
                c0 = fm_thread_cpu_time()
            j = t
            while j < K:
                lacc[j] = rows_loss_grad(net, d, params, grad if j == 0 else gacc + (j - 1) * P,
                                         work + t * net.work_size, (d.n * j) // K,
                                         (d.n * (j + 1)) // K, chunk, NULL)
                j = j + team
            if measure:
                cpu[t] = fm_thread_cpu_time() - c0
        adapt_after(adapt, 1, <double> d.n, omp_get_wtime() - t0, cpu)
        adapt.on_threads += 1
    for k in range(K):
        loss += lacc[k]
    reg = finish_range(net, params, grad, gacc, K, 0, P, alpha, sw_sum, 0.0)
    return (loss + 0.5 * alpha * reg) / sw_sum


# ------------------------------------------------------ Python facing ----

class NonFiniteInput(ValueError):
    """Workspace.forward(check_finite=True) read a NaN or an infinity."""


cdef class Workspace(ThreadRule):
    """Per-thread buffers of one fit or predict, allocated once: work
    (n_threads, work_size), gacc (n_threads - 1, n_params; none for forward
    passes only), lacc (n_threads,) float64."""

    def __init__(self, Layout layout, int n_threads, dtype, bint with_grad=True):
        if n_threads < 1:
            raise ValueError("n_threads must be >= 1")
        if layout.spec.units == NULL:
            raise ValueError("the Layout was not initialised")
        self.layout = layout
        self.n_threads = n_threads
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError("dtype must be float32 or float64")
        self.work = np.empty((n_threads, layout.spec.work_size), dtype=self.dtype)
        rows = n_threads - 1 if with_grad else 0
        self.gacc = np.empty((rows, layout.spec.n_params), dtype=self.dtype)
        self.lacc = np.zeros(n_threads, dtype=np.float64)
        self.seen_nonfinite = np.zeros(n_threads, dtype=np.intc)
        self.cpu = np.zeros(n_threads, dtype=np.float64)
        adapt_init(&self.adapt, n_threads)

    @property
    def nbytes(self):
        return self.work.nbytes + self.gacc.nbytes + self.lacc.nbytes

    cdef int _prepare(self, DataSpec* d, Dataset data, object params, object idx,
                      intp start, object n) except -1:
        if data.dtype != self.dtype:
            raise ValueError("data and workspace dtypes differ")
        if n is None:
            n = (idx.shape[0] if idx is not None else data.n_samples) - start
        data.select(d, self.layout, idx, start, n)
        check_vec(params, self.layout.spec.n_params, self.dtype, "params")
        return 0

    def loss_grad(self, params, grad, Dataset data, double alpha, double sw_sum,
                  idx=None, Py_ssize_t start=0, n=None):
        """Loss (sklearn's objective) at `params`, packed in the model's dtype;
        writes the gradient into `grad`. Rows: idx[start:start+n], or
        X[start:start+n] without idx (default: all rows). sw_sum: the sum of
        those rows' sample weights (their count without weights)."""
        cdef DataSpec d
        cdef int nt = self.n_threads
        if self.gacc.shape[0] != nt - 1:
            raise ValueError("this workspace was made for forward passes only")
        if data.Y is None:
            raise ValueError("loss_grad needs Y")
        self._prepare(&d, data, params, idx, start, n)
        check_vec(grad, self.layout.spec.n_params, self.dtype, "grad")
        if sw_sum == 0 or sw_sum != sw_sum:
            raise ValueError("the sample weights must not sum to zero or NaN")
        if d.n == 0:
            raise ValueError("no rows")
        if self.dtype == np.float64:
            return _loss_grad(self, &d, <double*> cnp.PyArray_DATA(params),
                              <double*> cnp.PyArray_DATA(grad), alpha, sw_sum)
        return _loss_grad(self, &d, <float*> cnp.PyArray_DATA(params),
                          <float*> cnp.PyArray_DATA(grad), alpha, sw_sum)

    def forward(self, params, Dataset data, out, idx=None, Py_ssize_t start=0, n=None,
                bint columns=False, bint check_finite=False):
        """Output-layer values (after the output function) of the rows into
        out, a writeable C-contiguous (n, n_outputs) array of the model's dtype.
        columns: the rows as one chunk, wide products split by columns (dense
        rows without idx, at most one chunk of them). check_finite: also check
        that every input value is finite, while the rows are read anyway
        (dense rows without idx): NonFiniteInput when one is not."""
        cdef DataSpec d
        cdef NetSpec* net = &self.layout.spec
        cdef cnp.ndarray o = out
        cdef int* seen = NULL
        cdef int t
        self._prepare(&d, data, params, idx, start, n)
        if o.ndim != 2 or o.dtype != self.dtype or not o.flags.c_contiguous \
                or not o.flags.writeable or o.shape[0] != d.n \
                or o.shape[1] != net.units[net.n_layers - 1]:
            raise ValueError("out must be a writeable C-contiguous (n, n_outputs) array")
        if columns and (d.indptr != NULL or d.idx != NULL or d.n > net.chunk):
            raise ValueError("columns=True takes at most one chunk of dense rows without idx")
        if check_finite and (d.indptr != NULL or d.idx != NULL):
            raise ValueError("check_finite=True takes dense rows without idx")
        if d.n == 0:
            return out
        if check_finite:
            seen = <int*> cnp.PyArray_DATA(self.seen_nonfinite)
            memset(seen, 0, self.n_threads * sizeof(int))
        if self.dtype == np.float64:
            _forward(self, &d, <double*> cnp.PyArray_DATA(params),
                     <double*> cnp.PyArray_DATA(o), columns, seen)
        else:
            _forward(self, &d, <float*> cnp.PyArray_DATA(params),
                     <float*> cnp.PyArray_DATA(o), columns, seen)
        for t in range(self.n_threads if check_finite else 0):
            if seen[t]:
                raise NonFiniteInput("the input holds NaN or infinity")
        return out


cdef double _loss_grad(Workspace ws, DataSpec* d, const floating* params, floating* grad,
                       double alpha, double sw_sum) noexcept:
    cdef floating* work = <floating*> cnp.PyArray_DATA(ws.work)
    cdef floating* gacc = <floating*> cnp.PyArray_DATA(ws.gacc)
    cdef double* lacc = <double*> cnp.PyArray_DATA(ws.lacc)
    cdef double* cpu = <double*> cnp.PyArray_DATA(ws.cpu)
    cdef double r
    with nogil:
        r = loss_grad_impl(&ws.layout.spec, d, params, grad, work, gacc, lacc, ws.n_threads,
                           &ws.adapt, cpu, alpha, sw_sum)
    return r


cdef void _forward(Workspace ws, DataSpec* d, const floating* params, floating* out,
                   bint columns, int* seen_nonfinite) noexcept:
    cdef floating* work = <floating*> cnp.PyArray_DATA(ws.work)
    cdef double* cpu = <double*> cnp.PyArray_DATA(ws.cpu)
    with nogil:
        forward_impl(&ws.layout.spec, d, params, work, out, ws.n_threads, &ws.adapt, cpu,
                     columns, seen_nonfinite)


def softmax_figures(const floating[:, ::1] out, const intp[::1] columns):
    """(sum of the rows' log-losses, rows predicted right) of softmax outputs
    out whose row i's class is column columns[i]: the log of the class's
    output clipped to [eps, 1 - eps] (eps: float64's, as the validation loss
    takes it), and a hit where the row's first largest output (np.argmax:
    the first NaN if any) is that column. One pass, in double."""
    cdef intp n = out.shape[0], k = out.shape[1], i, j, best, hits = 0
    cdef double loss = 0, p, v, top, eps = 2.220446049250313e-16
    if columns.shape[0] != n or (n and (np.min(columns) < 0 or np.max(columns) >= k)):
        raise ValueError("columns must give a column of out for each of its rows")
    with nogil:
        for i in range(n):
            p = out[i, columns[i]]
            if p < eps:
                p = eps
            elif p > 1 - eps:
                p = 1 - eps
            loss -= f_log(p)
            best = 0
            top = out[i, 0]
            if top == top:
                for j in range(1, k):
                    v = out[i, j]
                    if v != v or v > top:
                        best, top = j, v
                        if v != v:
                            break
            hits += best == columns[i]
    return loss, hits
