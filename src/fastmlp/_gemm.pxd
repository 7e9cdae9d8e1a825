# Row-major matrix products of the compiled core: BLAS gemm from scipy's
# cython_blas for the wide ones, the narrow-layer products of _gemm.h (one
# side of at most SG_NMAX columns) for the rest. Inline, float32 and float64.

from cython cimport floating
from scipy.linalg.cython_blas cimport dgemm, sgemm

from fastmlp._typedefs cimport intp

cdef extern from "_gemm.h" nogil:
    int SG_NMAX     # widest narrow side the products of _gemm.h take
    void fm_sg_nn_d(const double* A, const double* B, double* C, intp m,
                    intp h, int n, double* scratch) noexcept
    void fm_sg_nn_f(const float* A, const float* B, float* C, intp m,
                    intp h, int n, float* scratch) noexcept
    void fm_sg_tn_d(const double* A, const double* D, double* C, intp m,
                    intp h, int n, int accumulate, double* scratch) noexcept
    void fm_sg_tn_f(const float* A, const float* D, float* C, intp m,
                    intp h, int n, int accumulate, float* scratch) noexcept
    void fm_sg_nt_d(const double* D, const double* B, double* C, intp m,
                    intp h, int n, double* scratch) noexcept
    void fm_sg_nt_f(const float* D, const float* B, float* C, intp m,
                    intp h, int n, float* scratch) noexcept


cdef inline void gemm_rm(bint trans_a, bint trans_b, int m, int n, int k,
                         floating alpha, const floating* A, int lda,
                         const floating* B, int ldb, floating beta,
                         floating* C, int ldc) noexcept nogil:
    """Row-major C (m x n) = alpha op(A) op(B) + beta C, via column-major BLAS:
    the same memory read column-major is the transpose, so swap the operands.
    (scipy's signatures lack const: cast it away at the call.)"""
    cdef char ta = b'T' if trans_a else b'N'
    cdef char tb = b'T' if trans_b else b'N'
    if floating is float:
        sgemm(&tb, &ta, &n, &m, &k, &alpha, <float*> B, &ldb, <float*> A, &lda,
              &beta, C, &ldc)
    else:
        dgemm(&tb, &ta, &n, &m, &k, &alpha, <double*> B, &ldb, <double*> A, &lda,
              &beta, C, &ldc)


cdef inline void narrow_nn(const floating* A, const floating* B, floating* C, intp m,
                           intp h, int n, floating* scratch) noexcept nogil:
    """C (m x n) = A (m x h) @ B (h x n), n <= SG_NMAX."""
    if floating is double:
        fm_sg_nn_d(A, B, C, m, h, n, scratch)
    else:
        fm_sg_nn_f(A, B, C, m, h, n, scratch)


cdef inline void narrow_tn(const floating* A, const floating* D, floating* C, intp m,
                           intp h, int n, bint accumulate, floating* scratch) noexcept nogil:
    """C (h x n) = A^T @ D (+= when accumulate), A (m x h), D (m x n), n <= SG_NMAX."""
    if floating is double:
        fm_sg_tn_d(A, D, C, m, h, n, accumulate, scratch)
    else:
        fm_sg_tn_f(A, D, C, m, h, n, accumulate, scratch)


cdef inline void narrow_nt(const floating* D, const floating* B, floating* C, intp m,
                           intp h, int n, floating* scratch) noexcept nogil:
    """C (m x h) = D (m x n) @ B^T, B (h x n), n <= SG_NMAX."""
    if floating is double:
        fm_sg_nt_d(D, B, C, m, h, n, scratch)
    else:
        fm_sg_nt_f(D, B, C, m, h, n, scratch)
