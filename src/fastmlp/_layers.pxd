# One chunk's forward pass through the layers, inline (a fit's objective and
# predict's forward pass both run it): the first layer's product (dense rows in
# place or gathered, or CSR), then bias, activation and the next product, layer
# by layer, up to the output's Z (its bias not yet added).

from cython cimport floating

from fastmlp._core cimport NetSpec, DataSpec
from fastmlp._elementwise cimport fm_gather_rows, bias_activation
from fastmlp._gemm cimport SG_NMAX, gemm_rm, narrow_nn
from fastmlp._sparse cimport csr_nn
from fastmlp._typedefs cimport intp


cdef inline void first_layer(const NetSpec* net, const DataSpec* d, const floating* params,
                             floating* work, intp r0, intp m) noexcept nogil:
    """Z1 = X[rows r0 .. r0+m of the batch] @ W0 into layer 1's buffer (no bias)."""
    cdef int n_out = net.units[1]
    cdef int nf = <int> d.n_features
    cdef const floating* W = params + net.coef_off[0]
    cdef floating* Z = work + net.act_off[1]
    cdef const floating* X = <const floating*> d.X
    cdef floating* xb
    cdef intp i, g
    cdef int j
    if d.indptr != NULL:
        csr_nn(X, d.indices, d.indptr, d.idx, d.start + r0, m, W, n_out, Z)
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


cdef inline floating* pre_buffer(const NetSpec* net, floating* work, int l) noexcept nogil:
    """Where hidden layer l keeps its pre-activations (gelu, silu, softplus), or NULL."""
    return work + net.pre_off[l] if net.pre_off[l] >= 0 else NULL


cdef inline void hidden_forward(const NetSpec* net, const floating* params, floating* work,
                                int l, intp m) noexcept nogil:
    """Layer l+1 buffer holds Z = A_l W_l; add b_l and apply the activation."""
    bias_activation(net.acts[l + 1], work + net.act_off[l + 1], params + net.int_off[l], m,
                    net.units[l + 1], pre_buffer(net, work, l + 1))


cdef inline void next_layer(const NetSpec* net, const floating* params, floating* work,
                            int l, intp m) noexcept nogil:
    """Z_{l+1} = A_l @ W_l for l >= 1."""
    cdef int n = net.units[l + 1]
    if n <= SG_NMAX:
        narrow_nn(work + net.act_off[l], params + net.coef_off[l],
                  work + net.act_off[l + 1], m, net.units[l], n, work + net.sg_off)
        return
    gemm_rm(0, 0, <int> m, n, net.units[l], 1,
            work + net.act_off[l], net.units[l],
            params + net.coef_off[l], n, 0,
            work + net.act_off[l + 1], n)


cdef inline void forward_hidden(const NetSpec* net, const DataSpec* d, const floating* params,
                                floating* work, intp r0, intp m) noexcept nogil:
    """Every layer up to the output's Z (bias not yet added)."""
    cdef int L = net.n_layers - 1
    cdef int l
    first_layer(net, d, params, work, r0, m)
    for l in range(L - 1):
        hidden_forward(net, params, work, l, m)
        next_layer(net, params, work, l + 1, m)
