# The first layer's products with CSR input (_sparse.h: column-blocked, each
# element summed in the plain loop's order). Inline, float32 and float64.

from cython cimport floating

from fastmlp._typedefs cimport intp

cdef extern from "_sparse.h" nogil:
    void fm_csr_nn_d(const double* data, const intp* indices, const intp* indptr,
                     const intp* idx, intp start, intp m, const double* W, int n,
                     double* Z) noexcept
    void fm_csr_nn_f(const float* data, const intp* indices, const intp* indptr,
                     const intp* idx, intp start, intp m, const float* W, int n,
                     float* Z) noexcept
    void fm_csr_tn_d(const double* data, const intp* indices, const intp* indptr,
                     const intp* idx, intp start, intp m, const double* D, int n,
                     double* G) noexcept
    void fm_csr_tn_f(const float* data, const intp* indices, const intp* indptr,
                     const intp* idx, intp start, intp m, const float* D, int n,
                     float* G) noexcept


cdef inline void csr_nn(const floating* data, const intp* indices, const intp* indptr,
                        const intp* idx, intp start, intp m, const floating* W, int n,
                        floating* Z) noexcept nogil:
    """Z (m x n) = X[rows] @ W; row r of the batch is X's row idx[start + r]
    (idx given) or start + r."""
    if floating is double:
        fm_csr_nn_d(data, indices, indptr, idx, start, m, W, n, Z)
    else:
        fm_csr_nn_f(data, indices, indptr, idx, start, m, W, n, Z)


cdef inline void csr_tn(const floating* data, const intp* indices, const intp* indptr,
                        const intp* idx, intp start, intp m, const floating* D, int n,
                        floating* G) noexcept nogil:
    """G (n_features x n) += X[rows]^T @ D, D (m x n); rows as in csr_nn."""
    if floating is double:
        fm_csr_tn_d(data, indices, indptr, idx, start, m, D, n, G)
    else:
        fm_csr_tn_f(data, indices, indptr, idx, start, m, D, n, G)
