"""The forward pass of predict: the output-layer values of a batch of rows,
multi-threaded on a grid that depends on the rows and the network only (see
below), through one chunk's layers (_layers) or, for a few rows, _fewrows'
products. Workspace.forward (_objective) is its Python face.
"""

from cython.parallel cimport parallel

from fastmlp._core cimport NetSpec, DataSpec, Layout
from fastmlp._elementwise cimport all_finite, bias_activation, output_rows
from fastmlp._fewrows cimport FR_MAX_ROWS, few_rows_first, few_rows_hidden, few_rows_nn
from fastmlp._gemm cimport SG_NMAX, gemm_rm, narrow_nn
from fastmlp._layers cimport first_layer, forward_hidden
from fastmlp._runtime_threads cimport Adapt, adapt_threads, adapt_measuring, adapt_after
from fastmlp._openmp cimport (
    fm_barrier, fm_thread_cpu_time, omp_get_thread_num, omp_get_num_threads, omp_get_wtime,
)
from fastmlp._typedefs cimport intp


cdef void chunk_forward(const NetSpec* net, const DataSpec* d, const floating* params,
                        floating* work, floating* out, intp r0, intp m) noexcept nogil:
    """Forward pass of one chunk; output-layer values into out (rows r0..r0+m)."""
    cdef int L = net.n_layers - 1
    cdef int k = net.units[L]
    if d.n > FR_MAX_ROWS:
        forward_hidden(net, d, params, work, r0, m)
    elif d.indptr == NULL and d.idx == NULL:
        few_rows_first(net, d, params, work + net.act_off[1], r0, m, 0, net.units[1])
        few_rows_hidden(net, params, work, m)
    else:
        first_layer(net, d, params, work, r0, m)
        few_rows_hidden(net, params, work, m)
    output_rows(net.output, work + net.act_off[L], params + net.int_off[L - 1],
                out + r0 * k, m, k)


# A forward pass over n rows runs on a grid that depends on n and the network
# only, never on the thread count, so predictions are the same bit for bit on
# any number of threads (OpenBLAS sums a product's terms in another order
# when it splits it otherwise: it picks its kernel and blocking by size).
# A few rows (the caller's choice, columns=True): one chunk, every wide
# product in blocks of FWD_COLUMNS columns that the team shares (a few rows
# cost mostly a read of the weights, which this splits). Otherwise an even
# number of equal chunks, which the team shares. A pass over at most
# FR_MAX_ROWS rows makes its products with _fewrows (whose sums BLAS does not
# match bit for bit: chosen by the pass's rows, never by a chunk's).
cdef enum:
    FWD_COLUMNS = 64
    # a batch of one chunk by rows is cut in two from this many rows on (8
    # a thread, as _threads.MIN_ROWS_PER_THREAD); below, one BLAS call
    FWD_SPLIT_ROWS = 16

FORWARD_COLUMNS = FWD_COLUMNS  # for the caller's choice
FEW_ROWS = FR_MAX_ROWS


cdef inline intp forward_chunks(const NetSpec* net, intp n) noexcept nogil:
    """Chunks of a pass over n rows by rows: as few as the chunk size allows,
    and an even number (two or four threads share them evenly) except for a
    batch too small to split."""
    cdef intp k = (n + net.chunk - 1) // net.chunk
    if k > 1 or n >= FWD_SPLIT_ROWS:
        k += k % 2
    return k if k < n else n


def forward_gemm_work(Layout layout, intp n, bint columns):
    """The most multiply-adds of one BLAS call in a forward pass over n rows
    of dense input (whether BLAS could run it on several threads)."""
    cdef const NetSpec* net = &layout.spec
    cdef intp k = 1 if columns else forward_chunks(net, n)
    cdef intp m = (n + k - 1) // k
    cdef intp most = 0, w
    cdef int l
    if n <= FR_MAX_ROWS:
        return 0  # _fewrows' products only
    for l in range(net.n_layers - 1):
        w = net.units[l + 1]
        if l > 0 and w <= SG_NMAX:
            continue
        if columns and w > FWD_COLUMNS:
            w = FWD_COLUMNS
        if m * net.units[l] * w > most:
            most = m * net.units[l] * w
    return most


cdef void layer_columns(const NetSpec* net, const DataSpec* d, const floating* params,
                        floating* work, int l, intp m, int t, int team) noexcept nogil:
    """Thread t's share of layer l over the chunk's m rows: its column blocks
    of Z = A_l @ W_l (A_0: X), then bias and activation for a hidden layer;
    a narrow product is thread 0's alone."""
    cdef int L = net.n_layers - 1
    cdef int h = net.units[l], w = net.units[l + 1]
    cdef int nb = (w + FWD_COLUMNS - 1) // FWD_COLUMNS
    cdef int b, c0, cw, lda = h
    cdef bint trans = 0
    cdef intp i
    cdef const floating* A = work + net.act_off[l]
    cdef const floating* W = params + net.coef_off[l]
    cdef const floating* bias = params + net.int_off[l]
    cdef floating* Z = work + net.act_off[l + 1]
    if l > 0 and w <= SG_NMAX:
        if t == 0:
            if d.n <= FR_MAX_ROWS:
                few_rows_nn(A, h, 1, W, w, Z, w, m, h, 0, w)
            else:
                narrow_nn(A, W, Z, m, h, w, work + net.sg_off)
            if l < L - 1:
                bias_activation(net.acts[l + 1], Z, bias, m, w, <floating*> NULL)
        return
    if l == 0:
        A = <const floating*> d.X
        if d.fortran:
            A = A + d.start
            lda = <int> d.n_total
            trans = 1
        else:
            A = A + d.start * h
    for b in range((nb * t) // team, (nb * (t + 1)) // team):
        c0 = b * FWD_COLUMNS
        cw = FWD_COLUMNS if w - c0 > FWD_COLUMNS else w - c0
        if d.n <= FR_MAX_ROWS and l > 0:
            few_rows_nn(A, h, 1, W, w, Z, w, m, h, c0, c0 + cw)
        elif d.n <= FR_MAX_ROWS:
            few_rows_first(net, d, params, Z, 0, m, c0, c0 + cw)
        else:
            gemm_rm(trans, 0, <int> m, cw, h, 1, A, lda, W + c0, w, 0, Z + c0, w)
        if l < L - 1:
            for i in range(m):
                bias_activation(net.acts[l + 1], Z + i * w + c0, bias + c0, 1, cw,
                                <floating*> NULL)


cdef bint rows_finite(const floating* X, const DataSpec* d, intp r0, intp m) noexcept nogil:
    """Whether rows r0 .. r0+m of d's dense X, read in place, are finite."""
    cdef intp j
    if d.fortran:
        for j in range(d.n_features):
            if not all_finite(X + d.start + r0 + j * d.n_total, m):
                return 0
        return 1
    return all_finite(X + (d.start + r0) * d.n_features, m * d.n_features)


cdef void columns_forward(const NetSpec* net, const DataSpec* d, const floating* params,
                          floating* work, floating* out, int t, int team,
                          int* seen_nonfinite, double* cpu) noexcept nogil:
    """Thread t's part of the forward pass of d's rows as one chunk in
    column blocks (work: the team's one chunk buffer), layer by layer; with
    seen_nonfinite (this thread's flag), thread t first checks its share of
    the rows; with cpu (this thread's), the CPU seconds of its work are added
    to it: its CPU time less the wall time of its waits at the barriers
    (a thread's CPU clock costs microseconds a read in a virtual machine,
    the wall clock a tenth of that)."""
    cdef int L = net.n_layers - 1
    cdef int l
    cdef intp r0 = (d.n * t) // team
    cdef double c0 = fm_thread_cpu_time() if cpu != NULL else 0
    cdef double waited = 0, w0 = 0
    if seen_nonfinite != NULL and not rows_finite(<const floating*> d.X, d, r0,
                                                  (d.n * (t + 1)) // team - r0):
        seen_nonfinite[0] = 1
    for l in range(L):
        layer_columns(net, d, params, work, l, d.n, t, team)
        if team > 1:
            if cpu != NULL:
                w0 = omp_get_wtime()
            # (one thread: no region, and a barrier would bind to a caller's)
            fm_barrier()
            if cpu != NULL:
                waited += omp_get_wtime() - w0
    if t == 0:
        output_rows(net.output, work + net.act_off[L], params + net.int_off[L - 1],
                    out, d.n, net.units[L])
    if cpu != NULL:
        # (a wait while descheduled is wall time but no CPU time: never below 0)
        c0 = fm_thread_cpu_time() - c0 - waited
        cpu[0] += c0 if c0 > 0 else 0


cdef void rows_forward(const NetSpec* net, const DataSpec* d, const floating* params,
                       floating* work, floating* out, intp k, intp c0, intp c1,
                       int* seen_nonfinite) noexcept nogil:
    """Chunks c0 .. c1 of k equal chunks of d's rows; with seen_nonfinite
    (this thread's flag), each chunk's rows are checked first, while the
    products are about to read them."""
    cdef intp c, r0, m
    for c in range(c0, c1):
        r0 = (d.n * c) // k
        m = (d.n * (c + 1)) // k - r0
        if seen_nonfinite != NULL and not rows_finite(<const floating*> d.X, d, r0, m):
            seen_nonfinite[0] = 1
        chunk_forward(net, d, params, work, out, r0, m)


cdef void forward_impl(const NetSpec* net, const DataSpec* d, const floating* params,
                       floating* work, floating* out, int n_threads, Adapt* adapt,
                       double* cpu, bint columns, int* seen_nonfinite) noexcept nogil:
    """Output-layer values of d's rows into out, on the grid above, on the
    threads adapt gives (up to n_threads); with seen_nonfinite (one flag per
    thread, zeroed), a thread that reads a non-finite input value sets its
    flag."""
    cdef intp k = forward_chunks(net, d.n)
    cdef int T = adapt_threads(adapt) if n_threads > 1 else 1
    cdef bint measure = False
    cdef double t0 = 0
    # firstprivate in the region (see loss_grad_impl)
    cdef int t = 0, team = 1
    cdef int* seen = NULL
    cdef double* my_cpu = NULL
    cdef double c0 = 0
    cdef int j
    if T <= 1:
        if columns:
            columns_forward(net, d, params, work, out, 0, 1, seen_nonfinite, NULL)
        else:
            rows_forward(net, d, params, work, out, k, 0, k, seen_nonfinite)
        adapt.on_one += 1
        return
    measure = adapt_measuring(adapt)
    if measure:
        for j in range(n_threads):
            cpu[j] = 0
    t0 = omp_get_wtime()
    with parallel(num_threads=T):
        t = omp_get_thread_num()
        team = omp_get_num_threads()
        seen = NULL if seen_nonfinite == NULL else seen_nonfinite + t
        my_cpu = cpu + t if measure else NULL
        if columns:
            columns_forward(net, d, params, work, out, t, team, seen, my_cpu)
        else:
            if measure:
                c0 = fm_thread_cpu_time()
            rows_forward(net, d, params, work + t * net.work_size, out, k,
                         (k * t) // team, (k * (t + 1)) // team, seen)
            if measure:
                cpu[t] = fm_thread_cpu_time() - c0
    adapt_after(adapt, 1, <double> d.n, omp_get_wtime() - t0, cpu)
    adapt.on_threads += 1
