/* The products of a forward pass over a few rows (FR_MAX_ROWS at most):
 * Z[:, c0:c1] = A (m x h) @ W[:, c0:c1], W (h x w) row-major and read in
 * place, once per block of up to 4 (6 with AVX-512) rows. A BLAS call spends more on packing
 * W and dispatching than on the arithmetic here (784-256-10, float32, 10
 * rows: 800 KB of W packed on every call).
 *
 * Register tiles of NB rows x NV 32-byte vectors of columns (NB x NV <= 12
 * accumulators: no spill with AVX2's 16 registers), loaded unaligned
 * straight from W's rows; leftover columns one vector at a time (see
 * FR_ROWS). Every output is one sum over its h terms in index order, whatever
 * tile it falls in, so a row's values do not depend on the other rows of the
 * call, on c0/c1 (how threads share the columns) or on the vector width; as
 * in _gemm.h, the only difference between machines is whether the compiler
 * fuses the multiply-adds. Compiled with _elementwise.h's clones (AVX-512,
 * AVX2 + FMA, baseline), the best chosen at load time.
 *
 * A's element (i, k) is A[i * ars + k * aks]: C-order rows (ars = h,
 * aks = 1) or the columns of a Fortran-order X (ars = 1, aks = its rows).
 */
#ifndef FASTMLP_FEWROWS_H
#define FASTMLP_FEWROWS_H

#include <stddef.h>
#include <string.h>

#include "_elementwise.h"   /* FM_CLONES */

#define FR_MAX_ROWS 128
#define FR_INLINE static inline __attribute__((always_inline))

typedef double fr_vd __attribute__((vector_size(32), aligned(8)));
typedef float fr_vf __attribute__((vector_size(32), aligned(4)));

/* rows 0..NB of Z, columns c .. c + NV vectors */
#define FR_TILE(NAME, T, VT, NB, NV)                                           \
FR_INLINE void NAME(const T* restrict A, ptrdiff_t ars, ptrdiff_t aks,         \
                    const T* restrict W, ptrdiff_t ldw, T* restrict Z,         \
                    ptrdiff_t ldz, ptrdiff_t h, ptrdiff_t c)                   \
{                                                                              \
    const int L = (int)(sizeof(VT) / sizeof(T));                               \
    VT acc[NB][NV];                                                            \
    for (int r = 0; r < NB; r++)                                               \
        for (int v = 0; v < NV; v++)                                           \
            acc[r][v] = (VT){0};                                               \
    for (ptrdiff_t k = 0; k < h; k++) {                                        \
        const VT* b = (const VT*)(W + k * ldw + c);                            \
        VT bv[NV];                                                             \
        for (int v = 0; v < NV; v++)                                           \
            bv[v] = b[v];                                                      \
        for (int r = 0; r < NB; r++) {                                         \
            T a = A[r * ars + k * aks];                                        \
            for (int v = 0; v < NV; v++)                                       \
                acc[r][v] += a * bv[v];                                        \
        }                                                                      \
    }                                                                          \
    for (int r = 0; r < NB; r++)                                               \
        for (int v = 0; v < NV; v++)                                           \
            *(VT*)(Z + r * ldz + c + v * L) = acc[r][v];                       \
}

/* rows 0..NB of Z, the n < one vector of columns from c: W's values loaded
 * into a zeroed vector, so each output is the same sum as in a full tile
 * (a scalar loop could be vectorised as an in-order reduction, which rounds
 * every product) */
#define FR_PART(NAME, T, VT, NB)                                               \
FR_INLINE void NAME(const T* restrict A, ptrdiff_t ars, ptrdiff_t aks,         \
                    const T* restrict W, ptrdiff_t ldw, T* restrict Z,         \
                    ptrdiff_t ldz, ptrdiff_t h, ptrdiff_t c, ptrdiff_t n)      \
{                                                                              \
    VT acc[NB];                                                                \
    for (int r = 0; r < NB; r++)                                               \
        acc[r] = (VT){0};                                                      \
    for (ptrdiff_t k = 0; k < h; k++) {                                        \
        VT b = {0};                                                            \
        memcpy(&b, W + k * ldw + c, (size_t)n * sizeof(T));                    \
        for (int r = 0; r < NB; r++)                                           \
            acc[r] += A[r * ars + k * aks] * b;                                \
    }                                                                          \
    for (int r = 0; r < NB; r++)                                               \
        memcpy(Z + r * ldz + c, &acc[r], (size_t)n * sizeof(T));               \
}

/* rows 0..NB of Z, columns c0 .. c1: tiles of NV vectors, then NVM (enough
 * independent sums to keep the multiply-adds busy in a narrow column block),
 * then one; leftover columns by one more vector that ends at c1 (its overlap
 * with the previous one gets the same values again), or, in a range narrower
 * than a vector, through FR_PART */
#define FR_ROWS(NAME, T, VT, SFX, NB, NV, NVM)                                 \
FR_TILE(NAME##_wide, T, VT, NB, NV)                                            \
FR_TILE(NAME##_mid, T, VT, NB, NVM)                                            \
FR_TILE(NAME##_one, T, VT, NB, 1)                                              \
FR_PART(NAME##_part, T, VT, NB)                                                \
FR_INLINE void NAME(const T* A, ptrdiff_t ars, ptrdiff_t aks, const T* W,      \
                    ptrdiff_t ldw, T* Z, ptrdiff_t ldz, ptrdiff_t h,           \
                    ptrdiff_t c0, ptrdiff_t c1)                                \
{                                                                              \
    const ptrdiff_t L = (ptrdiff_t)(sizeof(VT) / sizeof(T));                   \
    ptrdiff_t c = c0;                                                          \
    for (; c + NV * L <= c1; c += NV * L)                                      \
        NAME##_wide(A, ars, aks, W, ldw, Z, ldz, h, c);                        \
    for (; c + NVM * L <= c1; c += NVM * L)                                    \
        NAME##_mid(A, ars, aks, W, ldw, Z, ldz, h, c);                         \
    for (; c + L <= c1; c += L)                                                \
        NAME##_one(A, ars, aks, W, ldw, Z, ldz, h, c);                         \
    if (c < c1 && c1 - c0 >= L)                                                \
        NAME##_one(A, ars, aks, W, ldw, Z, ldz, h, c1 - L);                    \
    else if (c < c1)                                                           \
        NAME##_part(A, ars, aks, W, ldw, Z, ldz, h, c, c1 - c);                \
}

/* rows in blocks of 4 (NB x NV: 4 x 3, 3 x 4, 2 x 6, 1 x 8 vectors) */
#define FR_RUN4(NAME, T, VT, SFX)                                              \
FR_ROWS(NAME##4, T, VT, SFX, 4, 3, 2)                                             \
FR_ROWS(NAME##3, T, VT, SFX, 3, 4, 2)                                             \
FR_ROWS(NAME##2, T, VT, SFX, 2, 6, 2)                                             \
FR_ROWS(NAME##1, T, VT, SFX, 1, 8, 4)                                             \
FR_INLINE void NAME(const T* A, ptrdiff_t ars, ptrdiff_t aks, const T* W,      \
                    ptrdiff_t ldw, T* Z, ptrdiff_t ldz, ptrdiff_t m,           \
                    ptrdiff_t h, ptrdiff_t c0, ptrdiff_t c1)                   \
{                                                                              \
    ptrdiff_t i = 0;                                                           \
    for (; i + 4 <= m; i += 4)                                                 \
        NAME##4(A + i * ars, ars, aks, W, ldw, Z + i * ldz, ldz, h, c0, c1);   \
    switch (m - i) {                                                           \
    case 3: NAME##3(A + i * ars, ars, aks, W, ldw, Z + i * ldz, ldz, h, c0, c1); break; \
    case 2: NAME##2(A + i * ars, ars, aks, W, ldw, Z + i * ldz, ldz, h, c0, c1); break; \
    case 1: NAME##1(A + i * ars, ars, aks, W, ldw, Z + i * ldz, ldz, h, c0, c1); break; \
    default: break;                                                            \
    }                                                                          \
}

/* rows in blocks of 6 (NB x NV: 6..3 x 4, 2 and 1 x 8 vectors) */
#define FR_RUN6(NAME, T, VT, SFX)                                              \
FR_ROWS(NAME##6, T, VT, SFX, 6, 4, 2)                                             \
FR_ROWS(NAME##5, T, VT, SFX, 5, 4, 2)                                             \
FR_ROWS(NAME##4, T, VT, SFX, 4, 4, 2)                                             \
FR_ROWS(NAME##3, T, VT, SFX, 3, 4, 2)                                             \
FR_ROWS(NAME##2, T, VT, SFX, 2, 8, 4)                                             \
FR_ROWS(NAME##1, T, VT, SFX, 1, 8, 4)                                             \
FR_INLINE void NAME(const T* A, ptrdiff_t ars, ptrdiff_t aks, const T* W,      \
                    ptrdiff_t ldw, T* Z, ptrdiff_t ldz, ptrdiff_t m,           \
                    ptrdiff_t h, ptrdiff_t c0, ptrdiff_t c1)                   \
{                                                                              \
    ptrdiff_t i = 0;                                                           \
    for (; i + 6 <= m; i += 6)                                                 \
        NAME##6(A + i * ars, ars, aks, W, ldw, Z + i * ldz, ldz, h, c0, c1);   \
    switch (m - i) {                                                           \
    case 5: NAME##5(A + i * ars, ars, aks, W, ldw, Z + i * ldz, ldz, h, c0, c1); break; \
    case 4: NAME##4(A + i * ars, ars, aks, W, ldw, Z + i * ldz, ldz, h, c0, c1); break; \
    case 3: NAME##3(A + i * ars, ars, aks, W, ldw, Z + i * ldz, ldz, h, c0, c1); break; \
    case 2: NAME##2(A + i * ars, ars, aks, W, ldw, Z + i * ldz, ldz, h, c0, c1); break; \
    case 1: NAME##1(A + i * ars, ars, aks, W, ldw, Z + i * ldz, ldz, h, c0, c1); break; \
    default: break;                                                            \
    }                                                                          \
}

/* 32-byte vectors everywhere (AVX2's 16 registers; two SSE registers each on
 * the baseline) */
typedef double fr_vd __attribute__((vector_size(32), aligned(8)));
typedef float fr_vf __attribute__((vector_size(32), aligned(4)));

FR_RUN4(fr_y_d, double, fr_vd, d)
FR_RUN4(fr_y_f, float, fr_vf, f)

FM_CLONES static void fr_nn_y_d(const double* A, ptrdiff_t ars, ptrdiff_t aks,
                                const double* W, ptrdiff_t ldw, double* Z, ptrdiff_t ldz,
                                ptrdiff_t m, ptrdiff_t h, ptrdiff_t c0, ptrdiff_t c1)
{
    fr_y_d(A, ars, aks, W, ldw, Z, ldz, m, h, c0, c1);
}

FM_CLONES static void fr_nn_y_f(const float* A, ptrdiff_t ars, ptrdiff_t aks,
                                const float* W, ptrdiff_t ldw, float* Z, ptrdiff_t ldz,
                                ptrdiff_t m, ptrdiff_t h, ptrdiff_t c0, ptrdiff_t c1)
{
    fr_y_f(A, ars, aks, W, ldw, Z, ldz, m, h, c0, c1);
}

/* With AVX-512, 64-byte vectors and AVX-512's 32 registers: twice the
 * multiply-adds per instruction (on cores with 512-bit units, twice the
 * rate). The same sums, so the same values, as the 32-byte tiles, which
 * take a column range narrower than one 64-byte vector (a 10-class output
 * layer: two overlapping 8-float vectors instead of FR_PART's copies). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) \
    && !defined(FASTMLP_NO_CLONES)
#define FR_WIDE 1
typedef double fr_zd __attribute__((vector_size(64), aligned(8)));
typedef float fr_zf __attribute__((vector_size(64), aligned(4)));

FR_RUN6(fr_z_d, double, fr_zd, d)
FR_RUN6(fr_z_f, float, fr_zf, f)

__attribute__((unused, target("arch=x86-64-v4")))
static void fr_nn_z_d(const double* A, ptrdiff_t ars, ptrdiff_t aks, const double* W,
                      ptrdiff_t ldw, double* Z, ptrdiff_t ldz, ptrdiff_t m, ptrdiff_t h,
                      ptrdiff_t c0, ptrdiff_t c1)
{
    if (c1 - c0 < (ptrdiff_t)(sizeof(fr_zd) / sizeof(double)))
        fr_y_d(A, ars, aks, W, ldw, Z, ldz, m, h, c0, c1);  /* see above */
    else
        fr_z_d(A, ars, aks, W, ldw, Z, ldz, m, h, c0, c1);
}

__attribute__((unused, target("arch=x86-64-v4")))
static void fr_nn_z_f(const float* A, ptrdiff_t ars, ptrdiff_t aks, const float* W,
                      ptrdiff_t ldw, float* Z, ptrdiff_t ldz, ptrdiff_t m, ptrdiff_t h,
                      ptrdiff_t c0, ptrdiff_t c1)
{
    if (c1 - c0 < (ptrdiff_t)(sizeof(fr_zf) / sizeof(float)))
        fr_y_f(A, ars, aks, W, ldw, Z, ldz, m, h, c0, c1);
    else
        fr_z_f(A, ars, aks, W, ldw, Z, ldz, m, h, c0, c1);
}

/* whether this CPU runs the x86-64-v4 code (reads of libgcc's CPU model; by
 * feature, which older GCCs name too, rather than by level) */
static inline int fr_avx512(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
        && __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512dq")
        && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx2")
        && __builtin_cpu_supports("fma");
}
#else
#define FR_WIDE 0
static inline int fr_avx512(void) { return 0; }
#endif

static inline __attribute__((unused)) void
fm_fr_nn_d(const double* A, ptrdiff_t ars, ptrdiff_t aks, const double* W, ptrdiff_t ldw,
           double* Z, ptrdiff_t ldz, ptrdiff_t m, ptrdiff_t h, ptrdiff_t c0, ptrdiff_t c1)
{
#if FR_WIDE
    if (fr_avx512()) {
        fr_nn_z_d(A, ars, aks, W, ldw, Z, ldz, m, h, c0, c1);
        return;
    }
#endif
    fr_nn_y_d(A, ars, aks, W, ldw, Z, ldz, m, h, c0, c1);
}

static inline __attribute__((unused)) void
fm_fr_nn_f(const float* A, ptrdiff_t ars, ptrdiff_t aks, const float* W, ptrdiff_t ldw,
           float* Z, ptrdiff_t ldz, ptrdiff_t m, ptrdiff_t h, ptrdiff_t c0, ptrdiff_t c1)
{
#if FR_WIDE
    if (fr_avx512()) {
        fr_nn_z_f(A, ars, aks, W, ldw, Z, ldz, m, h, c0, c1);
        return;
    }
#endif
    fr_nn_y_f(A, ars, aks, W, ldw, Z, ldz, m, h, c0, c1);
}

#endif
