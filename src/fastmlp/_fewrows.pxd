# The products of a forward pass over a few dense rows (FR_MAX_ROWS at most):
# every product through _fewrows.h, which reads the weights in place, once
# per 4 or 6 rows, instead of a BLAS call that packs them on every call (or
# _gemm.h's narrow products, which pad them). Each output is the same sum as
# in the narrow products, so a narrow layer gives the same values. Inline,
# float32 and float64; predict only (a fit's products stay BLAS's).

from cython cimport floating

from fastmlp._core cimport NetSpec, DataSpec
from fastmlp._elementwise cimport bias_activation
from fastmlp._typedefs cimport intp

cdef extern from "_fewrows.h" nogil:
    int FR_MAX_ROWS  # most rows of a forward pass that takes these products
    void fm_fr_nn_d(const double* A, intp ars, intp aks, const double* W, intp ldw,
                    double* Z, intp ldz, intp m, intp h, intp c0, intp c1) noexcept
    void fm_fr_nn_f(const float* A, intp ars, intp aks, const float* W, intp ldw,
                    float* Z, intp ldz, intp m, intp h, intp c0, intp c1) noexcept


cdef inline void few_rows_nn(const floating* A, intp ars, intp aks, const floating* W,
                             intp ldw, floating* Z, intp ldz, intp m, intp h, intp c0,
                             intp c1) noexcept nogil:
    """Z[:m, c0:c1] = A (m x h; element (i, k) at A[i * ars + k * aks]) @ W[:, c0:c1]
    (W: h rows of ldw, Z: rows of ldz)."""
    if floating is double:
        fm_fr_nn_d(A, ars, aks, W, ldw, Z, ldz, m, h, c0, c1)
    else:
        fm_fr_nn_f(A, ars, aks, W, ldw, Z, ldz, m, h, c0, c1)


cdef inline void few_rows_first(const NetSpec* net, const DataSpec* d, const floating* params,
                                floating* Z, intp r0, intp m, intp c0, intp c1) noexcept nogil:
    """Z[:, c0:c1] = X[rows r0 .. r0+m of the batch] @ W0[:, c0:c1], X dense
    (C or F order) without idx."""
    cdef const floating* X = <const floating*> d.X
    cdef intp nf = d.n_features
    if d.fortran:
        few_rows_nn(X + d.start + r0, 1, d.n_total, params + net.coef_off[0], net.units[1],
                    Z, net.units[1], m, nf, c0, c1)
    else:
        few_rows_nn(X + (d.start + r0) * nf, nf, 1, params + net.coef_off[0], net.units[1],
                    Z, net.units[1], m, nf, c0, c1)


cdef inline void few_rows_hidden(const NetSpec* net, const floating* params, floating* work,
                                 intp m) noexcept nogil:
    """The rest of _objective.forward_hidden for m <= FR_MAX_ROWS rows whose
    first-layer Z is in place: every layer up to the output's Z (bias not yet
    added)."""
    cdef int L = net.n_layers - 1
    cdef int l, h, w
    for l in range(1, L):
        # (forward only: no pre-activations kept for a backward pass)
        bias_activation(net.acts[l], work + net.act_off[l], params + net.int_off[l - 1],
                        m, net.units[l], <floating*> NULL)
        h = net.units[l]
        w = net.units[l + 1]
        few_rows_nn(work + net.act_off[l], h, 1, params + net.coef_off[l], w,
                    work + net.act_off[l + 1], w, m, h, 0, w)
