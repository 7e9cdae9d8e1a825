/* Matrix products with one narrow side (n <= 16 columns: a classifier's
 * output layer, a narrow hidden layer), row-major, where BLAS spends more
 * time packing and dispatching than multiplying (digits, hidden 64, 10
 * classes: about 45% of peak against 85% for the wide products).
 *
 * The narrow side is padded to whole 32-byte vectors (4 doubles, 8 floats)
 * and kept in registers; every sum runs over its terms in index order (the same order for
 * every vector width, so the only difference between machines is whether
 * the compiler fuses a multiply-add). Compiled with _elementwise.h's clones
 * (AVX-512, AVX2 + FMA, baseline), the best chosen at load time.
 *
 *   fm_sg_nn:  C (m x n)  = A (m x h) @ B (h x n)
 *   fm_sg_tn:  C (h x n) (+)= A^T @ D,  A (m x h), D (m x n)
 *   fm_sg_nt:  C (m x h)  = D (m x n) @ B^T,  B (h x n)
 *
 * scratch: at least 16 * max(m, h) elements (padded or transposed copies of
 * the narrow operand).
 */
#ifndef FASTMLP_GEMM_H
#define FASTMLP_GEMM_H

#include <stddef.h>
#include <string.h>

#include "_elementwise.h"   /* FM_CLONES */

#define SG_NMAX 16
#define SG_INLINE static inline __attribute__((always_inline))

/* 32-byte vectors (4 doubles, 8 floats; two SSE registers on the baseline),
 * loaded and stored unaligned */
typedef double sg_vd __attribute__((vector_size(32), aligned(8)));
typedef float sg_vf __attribute__((vector_size(32), aligned(4)));

/* C (m x n) = A (m x h) @ Bp (h x NV vectors, padded): NB rows at a time */
#define SG_NN(NAME, T, VT, NV, NB)                                              \
SG_INLINE void NAME(const T* restrict A, const T* restrict Bp, T* restrict C,  \
                    ptrdiff_t m, ptrdiff_t h, int n, ptrdiff_t i0)              \
{                                                                               \
    const int W = (int)(sizeof(VT) / sizeof(T));                                \
    for (ptrdiff_t i = i0; i + NB <= m; i += NB) {                              \
        VT acc[NB][NV];                                                         \
        T out[NV * sizeof(VT) / sizeof(T)];                                     \
        for (int r = 0; r < NB; r++)                                            \
            for (int v = 0; v < NV; v++)                                        \
                acc[r][v] = (VT){0};                                            \
        for (ptrdiff_t j = 0; j < h; j++) {                                     \
            const VT* b = (const VT*)(Bp + j * NV * W);                         \
            for (int r = 0; r < NB; r++) {                                      \
                T a = A[(i + r) * h + j];                                       \
                for (int v = 0; v < NV; v++)                                    \
                    acc[r][v] += a * b[v];                                      \
            }                                                                   \
        }                                                                       \
        for (int r = 0; r < NB; r++) {                                          \
            memcpy(out, acc[r], sizeof out);                                    \
            memcpy(C + (i + r) * n, out, (size_t)n * sizeof(T));                \
        }                                                                       \
    }                                                                           \
}

/* C (h x n) (+)= A^T @ Dp, A (m x h), Dp (m x NV vectors, padded): NB rows
 * of C (columns of A) at a time, summed over the m rows in order */
#define SG_TN(NAME, T, VT, NV, NB)                                              \
SG_INLINE void NAME(const T* restrict A, const T* restrict Dp, T* restrict C,  \
                    ptrdiff_t m, ptrdiff_t h, int n, int accumulate, ptrdiff_t j0, \
                    ptrdiff_t j1)                                               \
{                                                                               \
    const int W = (int)(sizeof(VT) / sizeof(T));                                \
    for (ptrdiff_t j = j0; j + NB <= j1; j += NB) {                             \
        VT acc[NB][NV];                                                         \
        T out[NV * sizeof(VT) / sizeof(T)];                                     \
        for (int r = 0; r < NB; r++)                                            \
            for (int v = 0; v < NV; v++)                                        \
                acc[r][v] = (VT){0};                                            \
        for (ptrdiff_t i = 0; i < m; i++) {                                     \
            const VT* d = (const VT*)(Dp + i * NV * W);                         \
            for (int r = 0; r < NB; r++) {                                      \
                T a = A[i * h + j + r];                                         \
                for (int v = 0; v < NV; v++)                                    \
                    acc[r][v] += a * d[v];                                      \
            }                                                                   \
        }                                                                       \
        for (int r = 0; r < NB; r++) {                                          \
            memcpy(out, acc[r], sizeof out);                                    \
            for (int c = 0; c < n; c++)                                         \
                C[(j + r) * n + c] = accumulate ? C[(j + r) * n + c] + out[c]   \
                                                : out[c];                       \
        }                                                                       \
    }                                                                           \
}

/* C (m x h) = D (m x n) @ Bt (n x h): NB rows by 4 vectors of columns at a
 * time, summed over the n columns of D in order */
#define SG_NT(NAME, T, VT, NB)                                                  \
SG_INLINE void NAME(const T* restrict D, const T* restrict Bt, T* restrict C,  \
                    ptrdiff_t m, ptrdiff_t h, int n, ptrdiff_t i0)              \
{                                                                               \
    const int W = (int)(sizeof(VT) / sizeof(T));                                \
    for (ptrdiff_t i = i0; i + NB <= m; i += NB) {                              \
        ptrdiff_t j = 0;                                                        \
        for (; j + 4 * W <= h; j += 4 * W) {                                    \
            VT acc[NB][4];                                                      \
            for (int r = 0; r < NB; r++)                                        \
                for (int v = 0; v < 4; v++)                                     \
                    acc[r][v] = (VT){0};                                        \
            for (int c = 0; c < n; c++) {                                       \
                const VT* b = (const VT*)(Bt + c * h + j);                      \
                for (int r = 0; r < NB; r++) {                                  \
                    T a = D[(i + r) * n + c];                                   \
                    for (int v = 0; v < 4; v++)                                 \
                        acc[r][v] += a * b[v];                                  \
                }                                                               \
            }                                                                   \
            for (int r = 0; r < NB; r++)                                        \
                memcpy(C + (i + r) * h + j, acc[r], sizeof acc[r]);             \
        }                                                                       \
        for (; j < h; j++)                                                      \
            for (int r = 0; r < NB; r++) {                                      \
                T s = 0;                                                        \
                for (int c = 0; c < n; c++)                                     \
                    s += D[(i + r) * n + c] * Bt[c * h + j];                    \
                C[(i + r) * h + j] = s;                                         \
            }                                                                   \
    }                                                                           \
}

/* rows of src (rows x n) into dst (rows x np), zero-padded */
#define SG_PAD(NAME, T)                                                         \
SG_INLINE void NAME(T* restrict dst, const T* restrict src, ptrdiff_t rows,    \
                    int n, int np)                                              \
{                                                                               \
    for (ptrdiff_t i = 0; i < rows; i++) {                                      \
        memcpy(dst + i * np, src + i * n, (size_t)n * sizeof(T));               \
        for (int c = n; c < np; c++)                                            \
            dst[i * np + c] = 0;                                                \
    }                                                                           \
}

#define SG_TYPE(T, VT, SFX)                                                     \
SG_NN(sg_nn1a_##SFX, T, VT, 1, 8)                                               \
SG_NN(sg_nn1b_##SFX, T, VT, 1, 1)                                               \
SG_NN(sg_nn2a_##SFX, T, VT, 2, 4)                                               \
SG_NN(sg_nn2b_##SFX, T, VT, 2, 1)                                               \
SG_NN(sg_nn3a_##SFX, T, VT, 3, 3)                                               \
SG_NN(sg_nn3b_##SFX, T, VT, 3, 1)                                               \
SG_NN(sg_nn4a_##SFX, T, VT, 4, 3)                                               \
SG_NN(sg_nn4b_##SFX, T, VT, 4, 1)                                               \
SG_TN(sg_tn1a_##SFX, T, VT, 1, 8)                                               \
SG_TN(sg_tn1b_##SFX, T, VT, 1, 1)                                               \
SG_TN(sg_tn2a_##SFX, T, VT, 2, 4)                                               \
SG_TN(sg_tn2b_##SFX, T, VT, 2, 1)                                               \
SG_TN(sg_tn3a_##SFX, T, VT, 3, 3)                                               \
SG_TN(sg_tn3b_##SFX, T, VT, 3, 1)                                               \
SG_TN(sg_tn4a_##SFX, T, VT, 4, 3)                                               \
SG_TN(sg_tn4b_##SFX, T, VT, 4, 1)                                               \
SG_NT(sg_nt3_##SFX, T, VT, 3)                                                   \
SG_NT(sg_nt1_##SFX, T, VT, 1)                                                   \
SG_PAD(sg_pad_##SFX, T)                                                         \
                                                                                \
FM_CLONES static void fm_sg_nn_##SFX(const T* A, const T* B, T* C, ptrdiff_t m, \
                                     ptrdiff_t h, int n, T* scratch)            \
{                                                                               \
    const int W = (int)(sizeof(VT) / sizeof(T));                                \
    int nv = (n + W - 1) / W;                                                   \
    ptrdiff_t mm;                                                               \
    sg_pad_##SFX(scratch, B, h, n, nv * W);                                     \
    switch (nv) {                                                               \
    case 1: mm = m - m % 8; sg_nn1a_##SFX(A, scratch, C, mm, h, n, 0);          \
            sg_nn1b_##SFX(A, scratch, C, m, h, n, mm); break;                   \
    case 2: mm = m - m % 4; sg_nn2a_##SFX(A, scratch, C, mm, h, n, 0);          \
            sg_nn2b_##SFX(A, scratch, C, m, h, n, mm); break;                   \
    case 3: mm = m - m % 3; sg_nn3a_##SFX(A, scratch, C, mm, h, n, 0);          \
            sg_nn3b_##SFX(A, scratch, C, m, h, n, mm); break;                   \
    default: mm = m - m % 3; sg_nn4a_##SFX(A, scratch, C, mm, h, n, 0);         \
            sg_nn4b_##SFX(A, scratch, C, m, h, n, mm); break;                   \
    }                                                                           \
}                                                                               \
                                                                                \
FM_CLONES static void fm_sg_tn_##SFX(const T* A, const T* D, T* C, ptrdiff_t m, \
                                     ptrdiff_t h, int n, int accumulate,        \
                                     T* scratch)                                \
{                                                                               \
    const int W = (int)(sizeof(VT) / sizeof(T));                                \
    int nv = (n + W - 1) / W;                                                   \
    ptrdiff_t hh;                                                               \
    sg_pad_##SFX(scratch, D, m, n, nv * W);                                     \
    switch (nv) {                                                               \
    case 1: hh = h - h % 8; sg_tn1a_##SFX(A, scratch, C, m, h, n, accumulate, 0, hh); \
            sg_tn1b_##SFX(A, scratch, C, m, h, n, accumulate, hh, h); break;       \
    case 2: hh = h - h % 4; sg_tn2a_##SFX(A, scratch, C, m, h, n, accumulate, 0, hh); \
            sg_tn2b_##SFX(A, scratch, C, m, h, n, accumulate, hh, h); break;       \
    case 3: hh = h - h % 3; sg_tn3a_##SFX(A, scratch, C, m, h, n, accumulate, 0, hh); \
            sg_tn3b_##SFX(A, scratch, C, m, h, n, accumulate, hh, h); break;       \
    default: hh = h - h % 3; sg_tn4a_##SFX(A, scratch, C, m, h, n, accumulate, 0, hh); \
            sg_tn4b_##SFX(A, scratch, C, m, h, n, accumulate, hh, h); break;       \
    }                                                                           \
}                                                                               \
                                                                                \
FM_CLONES static void fm_sg_nt_##SFX(const T* D, const T* B, T* C, ptrdiff_t m, \
                                     ptrdiff_t h, int n, T* scratch)            \
{                                                                               \
    ptrdiff_t mm = m - m % 3;                                                   \
    for (ptrdiff_t j = 0; j < h; j++)                                           \
        for (int c = 0; c < n; c++)                                             \
            scratch[c * h + j] = B[j * n + c];                                  \
    sg_nt3_##SFX(D, scratch, C, mm, h, n, 0);                                   \
    sg_nt1_##SFX(D, scratch, C, m, h, n, mm);                                   \
}

SG_TYPE(double, sg_vd, d)
SG_TYPE(float, sg_vf, f)

#endif
