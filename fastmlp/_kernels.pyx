# cython: boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False, language_level=3
"""Compiled core: chunked, multi-threaded loss + gradient and forward pass of a
dense MLP whose parameters live in ONE packed vector (sklearn's layout: every
coefficient matrix row-major, then every intercept).

Every array handed to the nogil code is checked here first (shapes, dtypes,
contiguity, index ranges) by `_check_*`; the nogil code trusts them.

Memory beyond the data is per thread: activations of one chunk of rows for
every layer, one temporary for the backward pass, a gather buffer for row
subsets of dense data, and one gradient accumulator (thread 0 writes straight
into the output gradient). Nothing grows with n_samples.
"""

import numpy as np
cimport numpy as cnp

from cython cimport floating
from cython.parallel cimport parallel
from libc.math cimport log, INFINITY
from libc.string cimport memset, memcpy
from scipy.linalg.cython_blas cimport dgemm, sgemm

from fastmlp._activations cimport (
    Activation, Output, ACT_IDENTITY, ACT_LOGISTIC, ACT_TANH, ACT_RELU,
    OUT_IDENTITY, OUT_LOGISTIC, OUT_SOFTMAX, OUT_EXP,
    f_exp, f_exp_neg, f_log, f_log1p, f_tanh, f_expit,
)


cnp.import_array()

cdef extern from "_fastmath.h" nogil:
    void fm_softmax_rows_d(double* Z, const double* b, Py_ssize_t m, int k, double* rowsum) noexcept
    void fm_softmax_rows_f(float* Z, const float* b, Py_ssize_t m, int k, float* rowsum) noexcept
    void fm_gather_rows(char* dst, const char* X, const Py_ssize_t* rows, Py_ssize_t m,
                        size_t row_bytes) noexcept
    void fm_softmax_delta_d(double* Z, const double* Y, const double* sw, const Py_ssize_t* rows,
                            Py_ssize_t first, Py_ssize_t m, int k, const double* rowsum,
                            double* gb) noexcept
    void fm_softmax_delta_f(float* Z, const float* Y, const float* sw, const Py_ssize_t* rows,
                            Py_ssize_t first, Py_ssize_t m, int k, const float* rowsum,
                            float* gb) noexcept
    void fm_bias_relu_d(double* Z, const double* b, Py_ssize_t m, int w) noexcept
    void fm_bias_tanh_d(double* Z, const double* b, Py_ssize_t m, int w) noexcept
    void fm_bias_tanh_f(float* Z, const float* b, Py_ssize_t m, int w) noexcept
    void fm_bias_logistic_d(double* Z, const double* b, Py_ssize_t m, int w) noexcept
    void fm_bias_logistic_f(float* Z, const float* b, Py_ssize_t m, int w) noexcept
    void fm_bias_relu_f(float* Z, const float* b, Py_ssize_t m, int w) noexcept
    void fm_relu_back_d(const double* T, double* A, double* gb, Py_ssize_t m, int w) noexcept
    void fm_relu_back_f(const float* T, float* A, float* gb, Py_ssize_t m, int w) noexcept


cdef extern from "_smallgemm.h" nogil:
    # products with a narrow side (n <= SG_NMAX), see the header
    int SG_NMAX
    void fm_sg_nn_d(const double* A, const double* B, double* C, Py_ssize_t m,
                    Py_ssize_t h, int n, double* scratch) noexcept
    void fm_sg_nn_f(const float* A, const float* B, float* C, Py_ssize_t m,
                    Py_ssize_t h, int n, float* scratch) noexcept
    void fm_sg_tn_d(const double* A, const double* D, double* C, Py_ssize_t m,
                    Py_ssize_t h, int n, int accumulate, double* scratch) noexcept
    void fm_sg_tn_f(const float* A, const float* D, float* C, Py_ssize_t m,
                    Py_ssize_t h, int n, int accumulate, float* scratch) noexcept
    void fm_sg_nt_d(const double* D, const double* B, double* C, Py_ssize_t m,
                    Py_ssize_t h, int n, double* scratch) noexcept
    void fm_sg_nt_f(const float* D, const float* B, float* C, Py_ssize_t m,
                    Py_ssize_t h, int n, float* scratch) noexcept


cdef extern from "_omp_compat.h":
    int omp_get_thread_num() noexcept nogil
    int omp_get_max_threads() noexcept nogil
    int omp_get_num_threads() noexcept nogil
    int FASTMLP_OPENMP

cdef enum:
    MAX_LAYERS = 256  # layers including input and output; checked in Layout

ctypedef Py_ssize_t intp


cdef struct NetSpec:
    int n_layers              # input, hidden..., output
    int units[MAX_LAYERS]
    intp coef_off[MAX_LAYERS]  # start of W_l (units[l] x units[l+1]) in the packed vector
    intp int_off[MAX_LAYERS]   # start of b_l (units[l+1])
    intp n_coef               # coefficients come first: [0, n_coef)
    intp n_params
    int activation
    int output
    intp chunk                # rows per chunk (buffers are sized for it)
    intp act_off[MAX_LAYERS]  # offset of layer l's chunk buffer in a thread's workspace
    intp tmp_off              # backward temporary (chunk x max hidden width)
    intp xbuf_off             # gathered rows of dense X (chunk x n_features), or -1
    intp sg_off               # scratch of the narrow products, or -1 (none narrow)
    intp work_size            # per-thread workspace length


cdef struct DataSpec:
    const void* X             # dense values, or CSR values
    const intp* indices       # CSR column indices (NULL for dense)
    const intp* indptr        # CSR row pointers (NULL for dense)
    bint fortran              # dense X stored column-major
    intp n_total              # rows of X
    intp n_features
    const void* Y             # (n_total, n_outputs) C order; NULL in forward-only mode
    const void* sw            # (n_total,) or NULL
    const intp* idx           # rows to use, or NULL for rows start .. start + n
    intp start
    intp n


# ---------------------------------------------------------------- BLAS ----

cdef inline void gemm_rm(bint trans_a, bint trans_b, int m, int n, int k,
                         floating alpha, const floating* A, int lda,
                         const floating* B, int ldb, floating beta,
                         floating* C, int ldc) noexcept nogil:
    """Row-major C (m x n) = alpha op(A) op(B) + beta C, via column-major BLAS:
    the same memory read column-major is the transpose, so swap the operands."""
    cdef char ta = b'T' if trans_a else b'N'
    cdef char tb = b'T' if trans_b else b'N'
    if floating is float:
        sgemm(&tb, &ta, &n, &m, &k, &alpha, <float*> B, &ldb, <float*> A, &lda,
              &beta, C, &ldc)
    else:
        dgemm(&tb, &ta, &n, &m, &k, &alpha, <double*> B, &ldb, <double*> A, &lda,
              &beta, C, &ldc)


# --------------------------------------------------------- one chunk ----

cdef inline intp row_of(const DataSpec* d, intp r) noexcept nogil:
    """Row of X for the r-th row of the batch."""
    if d.idx != NULL:
        return d.idx[d.start + r]
    return d.start + r


cdef void first_layer(const NetSpec* net, const DataSpec* d, const floating* params,
                      floating* work, intp r0, intp m) noexcept nogil:
    """Z1 = X[rows r0 .. r0+m of the batch] @ W0 into layer 1's buffer (no bias)."""
    cdef int n_out = net.units[1]
    cdef int nf = <int> d.n_features
    cdef const floating* W = params + net.coef_off[0]
    cdef floating* Z = work + net.act_off[1]
    cdef const floating* X = <const floating*> d.X
    cdef floating* xb
    cdef intp i, p, g
    cdef int j
    cdef floating v
    if d.indptr != NULL:
        memset(Z, 0, m * n_out * sizeof(floating))
        for i in range(m):
            g = row_of(d, r0 + i)
            for p in range(d.indptr[g], d.indptr[g + 1]):
                v = X[p]
                for j in range(n_out):
                    Z[i * n_out + j] += v * W[d.indices[p] * n_out + j]
    elif d.idx != NULL:
        xb = work + net.xbuf_off
        if d.fortran:
            for i in range(m):
                g = d.idx[d.start + r0 + i]
                for j in range(nf):
                    xb[i * nf + j] = X[g + j * d.n_total]
        else:
            fm_gather_rows(<char*> xb, <const char*> X, d.idx + d.start + r0, m,
                           nf * sizeof(floating))
        gemm_rm(0, 0, <int> m, n_out, nf, 1, xb, nf, W, n_out, 0, Z, n_out)
    elif d.fortran:
        gemm_rm(1, 0, <int> m, n_out, nf, 1, X + d.start + r0, <int> d.n_total,
                W, n_out, 0, Z, n_out)
    else:
        gemm_rm(0, 0, <int> m, n_out, nf, 1, X + (d.start + r0) * nf, nf,
                W, n_out, 0, Z, n_out)


cdef void first_layer_grad(const NetSpec* net, const DataSpec* d, floating* gacc,
                           const floating* work, intp r0, intp m, bint fresh) noexcept nogil:
    """gacc[W0] += X[chunk]^T @ delta1 (delta1 sits in layer 1's buffer);
    fresh: gacc[W0] holds no sum yet and is overwritten instead."""
    cdef int n_out = net.units[1]
    cdef int nf = <int> d.n_features
    cdef floating* G = gacc + net.coef_off[0]
    cdef const floating* D = work + net.act_off[1]
    cdef const floating* X = <const floating*> d.X
    cdef intp i, p, g, col
    cdef int j
    cdef floating v
    cdef floating beta = 0 if fresh else 1
    if d.indptr != NULL:
        if fresh:
            memset(G, 0, <intp> nf * n_out * sizeof(floating))
        for i in range(m):
            g = row_of(d, r0 + i)
            for p in range(d.indptr[g], d.indptr[g + 1]):
                v = X[p]
                col = d.indices[p] * n_out
                for j in range(n_out):
                    G[col + j] += v * D[i * n_out + j]
    elif d.idx != NULL:
        gemm_rm(1, 0, nf, n_out, <int> m, 1, work + net.xbuf_off, nf, D, n_out,
                beta, G, n_out)
    elif d.fortran:
        gemm_rm(0, 0, nf, n_out, <int> m, 1, X + d.start + r0, <int> d.n_total,
                D, n_out, beta, G, n_out)
    else:
        gemm_rm(1, 0, nf, n_out, <int> m, 1, X + (d.start + r0) * nf, nf,
                D, n_out, beta, G, n_out)


cdef void hidden_forward(const NetSpec* net, const floating* params, floating* work,
                         int l, intp m) noexcept nogil:
    """Layer l+1 buffer holds Z = A_l W_l; add b_l and apply the activation."""
    cdef int w = net.units[l + 1]
    cdef floating* Z = work + net.act_off[l + 1]
    cdef const floating* b = params + net.int_off[l]
    cdef intp i
    cdef int j
    cdef floating z
    # one loop per activation so each inner loop is branch-free
    if net.activation == ACT_RELU:
        if floating is double:
            fm_bias_relu_d(Z, b, m, w)
        else:
            fm_bias_relu_f(Z, b, m, w)
    elif net.activation == ACT_TANH:
        if floating is double:
            fm_bias_tanh_d(Z, b, m, w)
        else:
            fm_bias_tanh_f(Z, b, m, w)
    elif net.activation == ACT_LOGISTIC:
        if floating is double:
            fm_bias_logistic_d(Z, b, m, w)
        else:
            fm_bias_logistic_f(Z, b, m, w)
    else:
        for i in range(m):
            for j in range(w):
                Z[i * w + j] = Z[i * w + j] + b[j]


cdef void next_layer(const NetSpec* net, const floating* params, floating* work,
                     int l, intp m) noexcept nogil:
    """Z_{l+1} = A_l @ W_l for l >= 1."""
    cdef int n = net.units[l + 1]
    if n <= SG_NMAX:
        if floating is double:
            fm_sg_nn_d(work + net.act_off[l], params + net.coef_off[l],
                       work + net.act_off[l + 1], m, net.units[l], n, work + net.sg_off)
        else:
            fm_sg_nn_f(work + net.act_off[l], params + net.coef_off[l],
                       work + net.act_off[l + 1], m, net.units[l], n, work + net.sg_off)
        return
    gemm_rm(0, 0, <int> m, n, net.units[l], 1,
            work + net.act_off[l], net.units[l],
            params + net.coef_off[l], n, 0,
            work + net.act_off[l + 1], n)


cdef void forward_hidden(const NetSpec* net, const DataSpec* d, const floating* params,
                         floating* work, intp r0, intp m) noexcept nogil:
    """Every layer up to the output's Z (bias not yet added)."""
    cdef int L = net.n_layers - 1
    cdef int l
    first_layer(net, d, params, work, r0, m)
    for l in range(L - 1):
        hidden_forward(net, params, work, l, m)
        next_layer(net, params, work, l + 1, m)


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
    cdef int out = net.output
    cdef floating eps
    cdef floating log_eps, log_1m_eps
    cdef floating z, y, p, e, s, lse, lp, lq, wgt, dlt
    cdef double total = 0, row_loss
    cdef intp i, g
    cdef int j
    if floating is float:
        eps = 1.1920928955078125e-07
    else:
        eps = 2.220446049250313e-16
    log_eps = f_log(eps)
    log_1m_eps = f_log1p(-eps)
    if out == OUT_SOFTMAX:
        # the chunk's rows at once: vectorised exps; rowsum in the free temporary
        if floating is double:
            fm_softmax_rows_d(Z, b, m, k, rowsum)
        else:
            fm_softmax_rows_f(Z, b, m, k, rowsum)
        # the loss where y != 0, row by row; then the deltas and the bias
        # gradient in one vectorised pass (the same values and order as a
        # single loop)
        for i in range(m):
            g = row_of(d, r0 + i)
            wgt = SW[g] if SW != NULL else 1
            row_loss = 0
            # Z holds exp(z - max) from the pre-pass; log p = log(e) - log(sum)
            lse = f_log(rowsum[i])
            for j in range(k):
                y = Y[g * k + j]
                if y != 0:
                    z = Z[i * k + j]
                    lp = (f_log(z) if z > 0 else -INFINITY) - lse
                    if lp < log_eps:
                        lp = log_eps
                    elif lp > log_1m_eps:
                        lp = log_1m_eps
                    row_loss -= y * lp
            total += wgt * row_loss
        if floating is double:
            fm_softmax_delta_d(Z, <const double*> d.Y, <const double*> d.sw,
                               d.idx + d.start + r0 if d.idx != NULL else NULL,
                               d.start + r0, m, k, rowsum, gb)
        else:
            fm_softmax_delta_f(Z, <const float*> d.Y, <const float*> d.sw,
                               d.idx + d.start + r0 if d.idx != NULL else NULL,
                               d.start + r0, m, k, rowsum, gb)
        return total
    for i in range(m):
        g = row_of(d, r0 + i)
        wgt = SW[g] if SW != NULL else 1
        row_loss = 0
        for j in range(k):
            z = Z[i * k + j] + b[j]
            y = Y[g * k + j]
            if out == OUT_LOGISTIC:
                # log p = min(z, 0) - log1p(e), log(1 - p) = min(-z, 0) - log1p(e)
                e = f_exp_neg(-z if z >= 0 else z)
                p = 1 / (1 + e) if z >= 0 else e / (1 + e)
                lq = f_log1p(e)
                lp = (0 if z >= 0 else z) - lq
                lq = (-z if z >= 0 else 0) - lq
                if lp < log_eps:
                    lp = log_eps
                elif lp > log_1m_eps:
                    lp = log_1m_eps
                if lq < log_eps:
                    lq = log_eps
                elif lq > log_1m_eps:
                    lq = log_1m_eps
                if y != 0:
                    row_loss -= y * lp
                if y != 1:
                    row_loss -= (1 - y) * lq
            elif out == OUT_EXP:
                p = f_exp(z)
                if y > 0:
                    row_loss += y * (f_log(y) - z)
                row_loss += p - y
            else:
                p = z
                row_loss += 0.5 * (p - y) * (p - y)
            dlt = (p - y) * wgt
            Z[i * k + j] = dlt
            gb[j] += dlt
        total += wgt * row_loss
    return total


cdef void backward(const NetSpec* net, const DataSpec* d, const floating* params,
                   floating* work, floating* gacc, intp r0, intp m, bint fresh) noexcept nogil:
    """Back-propagate the output delta through every layer into gacc (its
    coefficient blocks overwritten when fresh, else added to)."""
    cdef int L = net.n_layers - 1
    cdef int l, w_in, w_out, act = net.activation
    cdef floating* T = work + net.tmp_off
    cdef floating* A
    cdef floating* gb
    cdef floating dlt
    cdef floating beta = 0 if fresh else 1
    cdef intp i
    cdef int j
    for l in range(L - 1, 0, -1):
        w_in = net.units[l]
        w_out = net.units[l + 1]
        A = work + net.act_off[l]
        # gradW_l += A_l^T delta_{l+1}
        # T = delta_{l+1} W_l^T, then delta_l = T * f'(A_l) written over A_l
        if w_out <= SG_NMAX:
            if floating is double:
                fm_sg_tn_d(A, work + net.act_off[l + 1], gacc + net.coef_off[l], m,
                           w_in, w_out, not fresh, work + net.sg_off)
                fm_sg_nt_d(work + net.act_off[l + 1], params + net.coef_off[l], T, m,
                           w_in, w_out, work + net.sg_off)
            else:
                fm_sg_tn_f(A, work + net.act_off[l + 1], gacc + net.coef_off[l], m,
                           w_in, w_out, not fresh, work + net.sg_off)
                fm_sg_nt_f(work + net.act_off[l + 1], params + net.coef_off[l], T, m,
                           w_in, w_out, work + net.sg_off)
        else:
            gemm_rm(1, 0, w_in, w_out, <int> m, 1, A, w_in, work + net.act_off[l + 1],
                    w_out, beta, gacc + net.coef_off[l], w_out)
            gemm_rm(0, 1, <int> m, w_in, w_out, 1, work + net.act_off[l + 1], w_out,
                    params + net.coef_off[l], w_out, 0, T, w_in)
        gb = gacc + net.int_off[l - 1]
        if act == ACT_RELU:
            if floating is double:
                fm_relu_back_d(T, A, gb, m, w_in)
            else:
                fm_relu_back_f(T, A, gb, m, w_in)
        elif act == ACT_TANH:
            for i in range(m):
                for j in range(w_in):
                    dlt = T[i * w_in + j] * (1 - A[i * w_in + j] * A[i * w_in + j])
                    A[i * w_in + j] = dlt
                    gb[j] += dlt
        elif act == ACT_LOGISTIC:
            for i in range(m):
                for j in range(w_in):
                    dlt = T[i * w_in + j] * (A[i * w_in + j] * (1 - A[i * w_in + j]))
                    A[i * w_in + j] = dlt
                    gb[j] += dlt
        else:
            for i in range(m):
                for j in range(w_in):
                    dlt = T[i * w_in + j]
                    A[i * w_in + j] = dlt
                    gb[j] += dlt
    first_layer_grad(net, d, gacc, work, r0, m, fresh)


cdef double chunk_loss_grad(const NetSpec* net, const DataSpec* d,
                            const floating* params, floating* work, floating* gacc,
                            intp r0, intp m, bint fresh) noexcept nogil:
    cdef double loss
    forward_hidden(net, d, params, work, r0, m)
    loss = output_loss_delta(net, d, params, work, gacc, r0, m)
    backward(net, d, params, work, gacc, r0, m, fresh)
    return loss


cdef double rows_loss_grad(const NetSpec* net, const DataSpec* d,
                           const floating* params, floating* acc, floating* work,
                           intp lo, intp hi, intp chunk) noexcept nogil:
    """Raw loss and gradient sums (no penalty, not divided) of rows lo..hi of
    d on the calling thread, chunk rows at a time: the gradient into acc
    (overwritten); returns the loss sum."""
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
        loss += chunk_loss_grad(net, d, params, work, acc, r0, m, r0 == lo)
        r0 += m
    return loss


cdef void chunk_forward(const NetSpec* net, const DataSpec* d, const floating* params,
                        floating* work, floating* out, intp r0, intp m) noexcept nogil:
    """Forward pass of one chunk; output-layer values into out (rows r0..r0+m)."""
    cdef int L = net.n_layers - 1
    cdef int k = net.units[L]
    cdef floating* Z = work + net.act_off[L]
    cdef const floating* b = params + net.int_off[L - 1]
    cdef floating* o = out + r0 * k
    cdef floating mx, s, z
    cdef intp i
    cdef int j
    forward_hidden(net, d, params, work, r0, m)
    for i in range(m):
        if net.output == OUT_SOFTMAX:
            mx = -INFINITY
            for j in range(k):
                z = Z[i * k + j] + b[j]
                o[i * k + j] = z
                if z > mx:
                    mx = z
            s = 0
            for j in range(k):
                z = f_exp(o[i * k + j] - mx)
                o[i * k + j] = z
                s = s + z
            for j in range(k):
                o[i * k + j] = o[i * k + j] / s
        else:
            for j in range(k):
                z = Z[i * k + j] + b[j]
                if net.output == OUT_LOGISTIC:
                    z = f_expit(z)
                elif net.output == OUT_EXP:
                    z = f_exp(z)
                o[i * k + j] = z


# ------------------------------------------------------- whole batch ----

cdef inline int threads_for(const NetSpec* net, intp n, int n_threads) noexcept nogil:
    """Threads worth starting: at most one per chunk, one for tiny batches."""
    # below ~0.3 MFLOP a parallel region costs more than it saves
    if n * net.n_params < 40000:
        return 1
    if n_threads > n:
        n_threads = <int> n
    return n_threads if n_threads > 0 else 1


cdef double finish_range(const NetSpec* net, const floating* params, floating* grad,
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


cdef double loss_grad_impl(const NetSpec* net, const DataSpec* d,
                           const floating* params, floating* grad, floating* work,
                           floating* gacc, double* lacc, int n_threads,
                           double alpha, double sw_sum) noexcept nogil:
    """Loss (sklearn's objective) at params; full gradient into grad.

    Rows are split into n_threads contiguous blocks (static schedule), each
    walked in chunks of at most net.chunk rows; thread t accumulates into
    gacc[t - 1] (thread 0 into grad), reduced afterwards in thread order,
    so a given thread count gives bit-identical results run to run.
    """
    cdef int nt = threads_for(net, d.n, n_threads)
    cdef int tt
    cdef int team_size[1]
    cdef intp P = net.n_params, chunk
    cdef double loss = 0, reg
    # Cython makes the region's variables firstprivate: give them values
    cdef int t = 0, team = 1
    cdef intp lo = 0, hi = 0
    cdef floating* my_acc = grad
    cdef floating* my_work = work
    # rows per chunk: split small batches evenly over the threads
    chunk = (d.n + nt - 1) // nt
    if chunk > net.chunk:
        chunk = net.chunk
    if chunk < 1:
        chunk = 1
    if nt == 1:
        lacc[0] = rows_loss_grad(net, d, params, grad, work, 0, d.n, chunk)
    else:
        with parallel(num_threads=nt):
            # the team may be smaller than asked (OMP_THREAD_LIMIT, nesting,
            # OMP_DYNAMIC): split the rows over the threads that really run
            t = omp_get_thread_num()
            team = omp_get_num_threads()
            if t == 0:
                team_size[0] = team
            my_work = work + t * net.work_size
            my_acc = grad if t == 0 else gacc + (t - 1) * P
            lo = (d.n * t) // team
            hi = (d.n * (t + 1)) // team
            lacc[t] = rows_loss_grad(net, d, params, my_acc, my_work, lo, hi, chunk)
        nt = team_size[0]
    for tt in range(nt):
        loss += lacc[tt]
    reg = finish_range(net, params, grad, gacc, nt, 0, P, alpha, sw_sum, 0.0)
    return (loss + 0.5 * alpha * reg) / sw_sum


cdef void forward_impl(const NetSpec* net, const DataSpec* d, const floating* params,
                       floating* work, floating* out, int n_threads) noexcept nogil:
    cdef int nt = threads_for(net, d.n, n_threads)
    cdef intp chunk
    # firstprivate in the region (see loss_grad_impl)
    cdef int t = 0, team = 1
    cdef intp lo = 0, hi = 0, r0 = 0, m = 0
    chunk = (d.n + nt - 1) // nt
    if chunk > net.chunk:
        chunk = net.chunk
    if chunk < 1:
        chunk = 1
    if nt == 1:
        r0 = 0
        while r0 < d.n:
            m = chunk if d.n - r0 > chunk else d.n - r0
            chunk_forward(net, d, params, work, out, r0, m)
            r0 += m
    else:
        with parallel(num_threads=nt):
            t = omp_get_thread_num()
            team = omp_get_num_threads()
            lo = (d.n * t) // team
            hi = (d.n * (t + 1)) // team
            r0 = lo
            while r0 < hi:
                m = chunk if hi - r0 > chunk else hi - r0
                chunk_forward(net, d, params, work + t * net.work_size, out, r0, m)
                r0 = r0 + m


# ------------------------------------------------------ Python facing ----

def openmp_enabled():
    """Whether the compiled core was built with OpenMP."""
    return bool(FASTMLP_OPENMP)


def omp_max_threads():
    """omp_get_max_threads() of the OpenMP runtime this module is linked to:
    follows OMP_NUM_THREADS and threadpoolctl's openmp limits."""
    return omp_get_max_threads()


cdef class Layout:
    """Shape of a network and of its per-thread workspace.

    units: layer sizes [n_features, hidden..., n_outputs]; activation and
    output are the enum codes of _activations.pxd; chunk: rows per chunk;
    gather: reserve a buffer for row subsets of dense data.
    """
    cdef NetSpec spec
    cdef readonly object units
    cdef readonly object coef_slices   # (start, end, shape) per layer
    cdef readonly object intercept_slices

    def __init__(self, units, int activation, int output, Py_ssize_t chunk, bint gather):
        units = [int(u) for u in units]
        if not 2 <= len(units) <= MAX_LAYERS:
            raise ValueError(f"a network needs 2 to {MAX_LAYERS} layers, got {len(units)}")
        if min(units) < 1:
            raise ValueError(f"every layer needs at least one unit, got {units}")
        if max(units) > 2**31 - 1 or chunk < 1 or chunk * max(units) > 2**31 - 1:
            raise ValueError("layer too wide for BLAS's 32-bit sizes")
        if not 0 <= activation <= 3 or not 0 <= output <= 3:
            raise ValueError("unknown activation or output code")
        self.units = tuple(units)
        cdef NetSpec* s = &self.spec
        cdef int L = len(units) - 1, l
        cdef intp off = 0, width = 0, max_hidden = 1
        s.n_layers = len(units)
        coef_slices = []
        for l in range(L + 1):
            s.units[l] = units[l]
        for l in range(L):
            s.coef_off[l] = off
            coef_slices.append((off, off + units[l] * units[l + 1], (units[l], units[l + 1])))
            off += units[l] * units[l + 1]
        s.n_coef = off
        intercept_slices = []
        for l in range(L):
            s.int_off[l] = off
            intercept_slices.append((off, off + units[l + 1]))
            off += units[l + 1]
        s.n_params = off
        self.coef_slices = tuple(coef_slices)
        self.intercept_slices = tuple(intercept_slices)
        s.activation = activation
        s.output = output
        s.chunk = chunk
        off = 0
        s.act_off[0] = -1
        for l in range(1, L + 1):
            s.act_off[l] = off
            off += chunk * units[l]
            if l < L and units[l] > max_hidden:
                max_hidden = units[l]
        s.tmp_off = off
        off += chunk * max_hidden
        if gather:
            s.xbuf_off = off
            off += chunk * units[0]
        else:
            s.xbuf_off = -1
        # the narrow products (layers past the first with at most SG_NMAX
        # units) copy their narrow operand, padded or transposed
        s.sg_off = -1
        for l in range(1, L):
            if units[l + 1] <= SG_NMAX:
                s.sg_off = off
                off += SG_NMAX * max(chunk, max(units[1:L]))
                break
        s.work_size = off

    @property
    def n_params(self):
        return self.spec.n_params

    @property
    def n_coef(self):
        return self.spec.n_coef

    @property
    def work_size(self):
        return self.spec.work_size

    @property
    def chunk(self):
        return self.spec.chunk

    @property
    def gather(self):
        return self.spec.xbuf_off >= 0

    @property
    def activation(self):
        return self.spec.activation

    @property
    def output(self):
        return self.spec.output


cdef class Dataset:
    """X, Y and sample weights, checked once and described for the nogil code.

    X: C- or F-contiguous 2-D array, or a CSR matrix with intp indices (column
    indices in range, sorted or not); Y: C-contiguous (n_samples, n_outputs)
    or None (forward only); sample_weight: (n_samples,) or None. Every float
    array has `dtype`. The object keeps references to them alive.
    """
    cdef DataSpec base
    cdef readonly object X, Y, sample_weight, dtype
    cdef readonly Py_ssize_t n_samples, n_features

    def __init__(self, X, Y=None, sample_weight=None, dtype=np.float64):
        cdef cnp.ndarray a
        cdef DataSpec* d = &self.base
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise ValueError("dtype must be float32 or float64")
        self.dtype = dtype
        memset(d, 0, sizeof(DataSpec))
        if hasattr(X, "indptr"):
            if X.format != "csr":
                raise ValueError("sparse X must be CSR")
            n_total, nf = X.shape
            data, indices, indptr = X.data, X.indices, X.indptr
            if data.dtype != dtype or indices.dtype != np.intp or indptr.dtype != np.intp:
                raise ValueError("CSR arrays must be (float of the model, intp, intp)")
            if not (data.flags.c_contiguous and indices.flags.c_contiguous
                    and indptr.flags.c_contiguous):
                raise ValueError("CSR arrays must be contiguous")
            if indptr.ndim != 1 or indptr.shape[0] != n_total + 1 or indptr[0] != 0 \
                    or indptr[n_total] > data.shape[0] or indptr[n_total] > indices.shape[0]:
                raise ValueError("malformed CSR indptr")
            if n_total and np.any(np.diff(indptr) < 0):
                raise ValueError("malformed CSR indptr")
            nnz = indptr[n_total]
            if nnz and (indices[:nnz].min() < 0 or indices[:nnz].max() >= nf):
                raise ValueError("CSR column index out of range")
            d.X = cnp.PyArray_DATA(<cnp.ndarray> data)
            d.indices = <const intp*> cnp.PyArray_DATA(<cnp.ndarray> indices)
            d.indptr = <const intp*> cnp.PyArray_DATA(<cnp.ndarray> indptr)
            d.fortran = False
            self.X = (data, indices, indptr)
        else:
            a = X
            if a.ndim != 2 or a.dtype != dtype:
                raise ValueError("X must be a 2-D array of the model's float dtype")
            n_total, nf = a.shape[0], a.shape[1]
            if a.flags.c_contiguous:
                d.fortran = False
            elif a.flags.f_contiguous:
                d.fortran = True
            else:
                raise ValueError("dense X must be C- or F-contiguous")
            if n_total > 2**31 - 1 or nf > 2**31 - 1:
                raise ValueError("X too large for BLAS's 32-bit sizes")
            d.X = cnp.PyArray_DATA(a)
            self.X = a
        d.n_total = n_total
        d.n_features = nf
        self.n_samples = n_total
        self.n_features = nf
        if Y is not None:
            a = Y
            if a.ndim != 2 or a.dtype != dtype or not a.flags.c_contiguous \
                    or a.shape[0] != n_total:
                raise ValueError("Y must be C-contiguous (n_samples, n_outputs) "
                                 "of the model's dtype")
            d.Y = cnp.PyArray_DATA(a)
        self.Y = Y
        if sample_weight is not None:
            a = sample_weight
            if a.ndim != 1 or a.dtype != dtype or not a.flags.c_contiguous \
                    or a.shape[0] != n_total:
                raise ValueError("sample_weight must be contiguous (n_samples,) "
                                 "of the model's dtype")
            d.sw = cnp.PyArray_DATA(a)
        self.sample_weight = sample_weight

    cdef int select(self, DataSpec* d, Layout lay, object idx, intp start,
                    intp n) except -1:
        """d = this data restricted to rows idx[start:start+n] (or start..start+n),
        checked against the layout."""
        cdef cnp.ndarray a
        d[0] = self.base
        if self.Y is not None and self.Y.shape[1] != lay.spec.units[lay.spec.n_layers - 1]:
            raise ValueError(f"Y has {self.Y.shape[1]} columns, the network has "
                             f"{lay.spec.units[lay.spec.n_layers - 1]} outputs")
        if self.n_features != lay.spec.units[0]:
            raise ValueError(f"X has {self.n_features} features, the network expects "
                             f"{lay.spec.units[0]}")
        if n < 0 or start < 0:
            raise ValueError("negative row range")
        if idx is not None:
            a = idx
            if a.ndim != 1 or a.dtype != np.intp or not a.flags.c_contiguous:
                raise ValueError("idx must be a contiguous intp array")
            if start + n > a.shape[0]:
                raise ValueError("row range beyond idx")
            if n and (a[start:start + n].min() < 0
                      or a[start:start + n].max() >= self.n_samples):
                raise ValueError("row index out of range")
            if d.indptr == NULL and not lay.gather:
                raise ValueError("this layout has no gather buffer for row subsets")
            d.idx = <const intp*> cnp.PyArray_DATA(a)
        elif start + n > self.n_samples:
            raise ValueError("row range beyond X")
        d.start = start
        d.n = n
        return 0


cdef int check_vec(object v, intp size, object dtype, str name) except -1:
    cdef cnp.ndarray a = v
    if a.ndim != 1 or a.dtype != dtype or not a.flags.c_contiguous or a.shape[0] != size:
        raise ValueError(f"{name} must be a contiguous ({size},) array of {dtype}")
    if not a.flags.writeable and name != "params":
        raise ValueError(f"{name} must be writeable")
    return 0


cdef class Workspace:
    """Per-thread buffers of one fit or predict, allocated once."""
    cdef readonly Layout layout
    cdef readonly int n_threads
    cdef readonly object dtype
    cdef readonly cnp.ndarray work    # (n_threads, work_size)
    cdef readonly cnp.ndarray gacc    # (n_threads - 1, n_params)
    cdef readonly cnp.ndarray lacc    # (n_threads,) float64

    def __init__(self, Layout layout, int n_threads, dtype, bint with_grad=True):
        if n_threads < 1:
            raise ValueError("n_threads must be >= 1")
        self.layout = layout
        self.n_threads = n_threads
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError("dtype must be float32 or float64")
        self.work = np.empty((n_threads, layout.spec.work_size), dtype=self.dtype)
        rows = n_threads - 1 if with_grad else 0
        self.gacc = np.empty((rows, layout.spec.n_params), dtype=self.dtype)
        self.lacc = np.zeros(n_threads, dtype=np.float64)

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
        if not sw_sum > 0:
            raise ValueError("the sample weights must sum to a positive number")
        if d.n == 0:
            raise ValueError("no rows")
        if self.dtype == np.float64:
            return self._lg64(&d, params, grad, nt, alpha, sw_sum)
        return self._lg32(&d, params, grad, nt, alpha, sw_sum)

    cdef double _lg64(self, DataSpec* d, const double[::1] params, double[::1] grad,
                      int nt, double alpha, double sw_sum):
        cdef double* gacc = <double*> cnp.PyArray_DATA(self.gacc)
        cdef double* work = <double*> cnp.PyArray_DATA(self.work)
        cdef double* lacc = <double*> cnp.PyArray_DATA(self.lacc)
        cdef double r
        with nogil:
            r = loss_grad_impl(&self.layout.spec, d, &params[0], &grad[0], work, gacc,
                               lacc, nt, alpha, sw_sum)
        return r

    cdef double _lg32(self, DataSpec* d, const float[::1] params, float[::1] grad,
                      int nt, double alpha, double sw_sum):
        cdef float* gacc = <float*> cnp.PyArray_DATA(self.gacc)
        cdef float* work = <float*> cnp.PyArray_DATA(self.work)
        cdef double* lacc = <double*> cnp.PyArray_DATA(self.lacc)
        cdef double r
        with nogil:
            r = loss_grad_impl(&self.layout.spec, d, &params[0], &grad[0], work, gacc,
                               lacc, nt, alpha, sw_sum)
        return r

    def forward(self, params, Dataset data, out, idx=None, Py_ssize_t start=0, n=None):
        """Output-layer values (after the output function) of the rows into
        out, a writeable C-contiguous (n, n_outputs) array of the model's dtype."""
        cdef DataSpec d
        cdef NetSpec* net = &self.layout.spec
        cdef cnp.ndarray o = out
        self._prepare(&d, data, params, idx, start, n)
        if o.ndim != 2 or o.dtype != self.dtype or not o.flags.c_contiguous \
                or not o.flags.writeable or o.shape[0] != d.n \
                or o.shape[1] != net.units[net.n_layers - 1]:
            raise ValueError("out must be a writeable C-contiguous (n, n_outputs) array")
        if d.n == 0:
            return out
        if self.dtype == np.float64:
            self._fw64(&d, params, out)
        else:
            self._fw32(&d, params, out)
        return out

    cdef void _fw64(self, DataSpec* d, const double[::1] params, double[:, ::1] out):
        cdef double* work = <double*> cnp.PyArray_DATA(self.work)
        with nogil:
            forward_impl(&self.layout.spec, d, &params[0], work, &out[0, 0], self.n_threads)

    cdef void _fw32(self, DataSpec* d, const float[::1] params, float[:, ::1] out):
        cdef float* work = <float*> cnp.PyArray_DATA(self.work)
        with nogil:
            forward_impl(&self.layout.spec, d, &params[0], work, &out[0, 0], self.n_threads)


# ------------------------------------------- stochastic solvers (epochs) ----

include "_stochastic.pxi"
