/* The first layer's products with CSR input, row-major:
 *
 *   fm_csr_nn:  Z (m x n)   = X[rows] @ W,  W (nf x n)
 *   fm_csr_tn:  G (nf x n) += X[rows]^T @ D, D (m x n)
 *
 * Each nonzero of X reads (or updates) one row of W (G): with a wide layer
 * (256 float64 = 2 KiB per row) and random columns those rows come from L3
 * or memory, and W and G together outgrow L3 (10000 x 256 float64 is 20 MB
 * each). So both products run over column blocks of SP_BLOCK bytes, summed
 * in vector registers: one block of W (nf x 256 bytes) stays in cache while
 * every row of the chunk reads it, and so does one block of G while every row
 * updates it; a chunk of many rows reads each block line many times. (Blocks
 * of 64 and 128 bytes ran slower: each block re-reads the chunk's indices.)
 *
 * Every element is summed in the order of the plain loops (nonzeros in CSR
 * order; rows in order), a multiply then an add (fp-contract=off: no FMA,
 * whatever the instruction set), so blocking and vectorising change no
 * result: the CSR forward pass keeps the bits of fastmlp 0.1.0. Rows of the batch:
 * row r is X's row idx[start + r] when idx is given, else start + r.
 */
#ifndef FASTMLP_SPARSE_H
#define FASTMLP_SPARSE_H

#include <stddef.h>

#include "_gemm.h"   /* sg_vd, sg_vf, SG_INLINE; FM_CLONES via _elementwise.h */

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
#endif

#define SP_BLOCK 256  /* bytes of a row per column block: 8 32-byte vectors */

#define SP_TYPE(T, VT, SFX)                                                     \
FM_CLONES static void fm_csr_nn_##SFX(                                          \
    const T* restrict data, const ptrdiff_t* restrict indices,                  \
    const ptrdiff_t* restrict indptr, const ptrdiff_t* restrict idx,            \
    ptrdiff_t start, ptrdiff_t m, const T* restrict W, int n, T* restrict Z)    \
{                                                                               \
    enum { VW = sizeof(VT) / sizeof(T), NV = SP_BLOCK / sizeof(VT) };           \
    int j0 = 0;                                                                 \
    for (; j0 + NV * VW <= n; j0 += NV * VW) {                                  \
        for (ptrdiff_t i = 0; i < m; i++) {                                     \
            ptrdiff_t g = idx ? idx[start + i] : start + i;                     \
            VT acc[NV];                                                         \
            for (int v = 0; v < NV; v++)                                        \
                acc[v] = (VT){0};                                               \
            for (ptrdiff_t p = indptr[g]; p < indptr[g + 1]; p++) {             \
                const VT* w = (const VT*)(W + indices[p] * n + j0);             \
                T x = data[p];                                                  \
                for (int v = 0; v < NV; v++)                                    \
                    acc[v] += x * w[v];                                         \
            }                                                                   \
            for (int v = 0; v < NV; v++)                                        \
                ((VT*)(Z + i * n + j0))[v] = acc[v];                            \
        }                                                                       \
    }                                                                           \
    if (j0 == n)                                                                \
        return;                                                                 \
    for (ptrdiff_t i = 0; i < m; i++) {                                         \
        ptrdiff_t g = idx ? idx[start + i] : start + i;                         \
        for (int j = j0; j < n; j++)                                            \
            Z[i * n + j] = 0;                                                   \
        for (ptrdiff_t p = indptr[g]; p < indptr[g + 1]; p++) {                 \
            const T* w = W + indices[p] * n;                                    \
            T x = data[p];                                                      \
            for (int j = j0; j < n; j++)                                        \
                Z[i * n + j] += x * w[j];                                       \
        }                                                                       \
    }                                                                           \
}                                                                               \
                                                                                \
FM_CLONES static void fm_csr_tn_##SFX(                                          \
    const T* restrict data, const ptrdiff_t* restrict indices,                  \
    const ptrdiff_t* restrict indptr, const ptrdiff_t* restrict idx,            \
    ptrdiff_t start, ptrdiff_t m, const T* restrict D, int n, T* restrict G)    \
{                                                                               \
    enum { VW = sizeof(VT) / sizeof(T), NV = SP_BLOCK / sizeof(VT) };           \
    int j0 = 0;                                                                 \
    for (; j0 + NV * VW <= n; j0 += NV * VW) {                                  \
        for (ptrdiff_t i = 0; i < m; i++) {                                     \
            ptrdiff_t g = idx ? idx[start + i] : start + i;                     \
            VT d[NV];                                                           \
            for (int v = 0; v < NV; v++)                                        \
                d[v] = ((const VT*)(D + i * n + j0))[v];                        \
            for (ptrdiff_t p = indptr[g]; p < indptr[g + 1]; p++) {             \
                VT* gr = (VT*)(G + indices[p] * n + j0);                        \
                T x = data[p];                                                  \
                for (int v = 0; v < NV; v++)                                    \
                    gr[v] += x * d[v];                                          \
            }                                                                   \
        }                                                                       \
    }                                                                           \
    if (j0 == n)                                                                \
        return;                                                                 \
    for (ptrdiff_t i = 0; i < m; i++) {                                         \
        ptrdiff_t g = idx ? idx[start + i] : start + i;                         \
        for (ptrdiff_t p = indptr[g]; p < indptr[g + 1]; p++) {                 \
            T* gr = G + indices[p] * n;                                         \
            T x = data[p];                                                      \
            for (int j = j0; j < n; j++)                                        \
                gr[j] += x * D[i * n + j];                                      \
        }                                                                       \
    }                                                                           \
}

SP_TYPE(double, sg_vd, d)
SP_TYPE(float, sg_vf, f)

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

#endif
