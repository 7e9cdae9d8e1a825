/* Optimizer updates of the stochastic solvers over the packed parameter
 * vector, written so that GCC vectorises them (compiled for AVX-512, AVX2 and
 * the baseline, the best chosen at load time where the toolchain supports it).
 *
 * They must stay bit-identical to sklearn's numpy updates: every operation is
 * element-wise and IEEE-exact in any vector width (+, -, *, /, sqrt), as long
 * as nothing is fused or reordered, hence fp-contract=off (no FMA) and no
 * fast-math.
 *
 * sgd (sklearn's SGDOptimizer):  v = mom * v - lr * g;
 *                                p += nesterov ? mom * v - lr * g : v
 * adam (sklearn's AdamOptimizer): m = b1 * m + (1 - b1) * g;
 *                                v = b2 * v + (1 - b2) * g * g;
 *                                p += -lr_t * m / (sqrt(v) + eps)
 * For float32 parameters numpy computes sgd in float32 (Python-float
 * hyper-parameters are cast), and adam's moments in float32 but its update in
 * float64 (lr_t is an np.float64), added to p in float64 and rounded back.
 */
#ifndef FASTMLP_OPTIMIZERS_H
#define FASTMLP_OPTIMIZERS_H

#include <math.h>
#include <stddef.h>

#include "_clones.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
#endif


#define FM_SGD(NAME, T)                                                        \
FM_CLONES static void NAME(T* restrict p, const T* restrict g, T* restrict vel, \
                            ptrdiff_t n, T lr, T mom, int nesterov)             \
{                                                                               \
    ptrdiff_t i;                                                                \
    if (nesterov) {                                                             \
        for (i = 0; i < n; i++) {                                               \
            T v = mom * vel[i] - lr * g[i];                                     \
            vel[i] = v;                                                         \
            p[i] = p[i] + (mom * v - lr * g[i]);                                \
        }                                                                       \
    } else {                                                                    \
        for (i = 0; i < n; i++) {                                               \
            T v = mom * vel[i] - lr * g[i];                                     \
            vel[i] = v;                                                         \
            p[i] = p[i] + v;                                                    \
        }                                                                       \
    }                                                                           \
}

FM_SGD(fm_sgd_d, double)
FM_SGD(fm_sgd_f, float)

/* adam needs a square root in its loop, which GCC vectorises only under
 * -fno-math-errno for the whole file (a per-function optimize attribute is
 * not enough): plain C for the tails and other machines, intrinsics for
 * AVX-512 and AVX2, chosen at run time. The intrinsics are the same
 * operations in the same order (mul, add, sqrt, div; never an FMA). */
static void fm_adam_d_c(double* restrict p, const double* restrict g,
                         double* restrict ms, double* restrict vs, ptrdiff_t n,
                         double neg_lr, double b1, double c1, double b2, double c2,
                         double eps)
{
    ptrdiff_t i;
    for (i = 0; i < n; i++) {
        double gi = g[i];
        double mi = b1 * ms[i] + c1 * gi;
        double vi = b2 * vs[i] + c2 * (gi * gi);
        ms[i] = mi;
        vs[i] = vi;
        p[i] = p[i] + neg_lr * mi / (sqrt(vi) + eps);
    }
}

static void fm_adam_f_c(float* restrict p, const float* restrict g,
                         float* restrict ms, float* restrict vs, ptrdiff_t n,
                         double neg_lr, float b1, float c1, float b2, float c2,
                         float eps)
{
    ptrdiff_t i;
    for (i = 0; i < n; i++) {
        float gi = g[i];
        float mi = b1 * ms[i] + c1 * gi;
        float vi = b2 * vs[i] + c2 * (gi * gi);
        ms[i] = mi;
        vs[i] = vi;
        p[i] = (float)((double)p[i] + neg_lr * (double)mi / (double)(sqrtf(vi) + eps));
    }
}

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__) \
    && !defined(FASTMLP_NO_CLONES)
#define FM_X86_SIMD 1
#include <immintrin.h>

__attribute__((target("avx512f")))
static void fm_adam_d_avx512(double* restrict p, const double* restrict g,
                              double* restrict ms, double* restrict vs, ptrdiff_t n,
                              double neg_lr, double b1, double c1, double b2,
                              double c2, double eps)
{
    const __m512d B1 = _mm512_set1_pd(b1), C1 = _mm512_set1_pd(c1);
    const __m512d B2 = _mm512_set1_pd(b2), C2 = _mm512_set1_pd(c2);
    const __m512d L = _mm512_set1_pd(neg_lr), E = _mm512_set1_pd(eps);
    ptrdiff_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m512d gi = _mm512_loadu_pd(g + i);
        __m512d mi = _mm512_add_pd(_mm512_mul_pd(B1, _mm512_loadu_pd(ms + i)),
                                   _mm512_mul_pd(C1, gi));
        __m512d vi = _mm512_add_pd(_mm512_mul_pd(B2, _mm512_loadu_pd(vs + i)),
                                   _mm512_mul_pd(C2, _mm512_mul_pd(gi, gi)));
        _mm512_storeu_pd(ms + i, mi);
        _mm512_storeu_pd(vs + i, vi);
        __m512d u = _mm512_div_pd(_mm512_mul_pd(L, mi),
                                  _mm512_add_pd(_mm512_sqrt_pd(vi), E));
        _mm512_storeu_pd(p + i, _mm512_add_pd(_mm512_loadu_pd(p + i), u));
    }
    fm_adam_d_c(p + i, g + i, ms + i, vs + i, n - i, neg_lr, b1, c1, b2, c2, eps);
}

__attribute__((target("avx2")))
static void fm_adam_d_avx2(double* restrict p, const double* restrict g,
                            double* restrict ms, double* restrict vs, ptrdiff_t n,
                            double neg_lr, double b1, double c1, double b2,
                            double c2, double eps)
{
    const __m256d B1 = _mm256_set1_pd(b1), C1 = _mm256_set1_pd(c1);
    const __m256d B2 = _mm256_set1_pd(b2), C2 = _mm256_set1_pd(c2);
    const __m256d L = _mm256_set1_pd(neg_lr), E = _mm256_set1_pd(eps);
    ptrdiff_t i = 0;
    for (; i + 4 <= n; i += 4) {
        __m256d gi = _mm256_loadu_pd(g + i);
        __m256d mi = _mm256_add_pd(_mm256_mul_pd(B1, _mm256_loadu_pd(ms + i)),
                                   _mm256_mul_pd(C1, gi));
        __m256d vi = _mm256_add_pd(_mm256_mul_pd(B2, _mm256_loadu_pd(vs + i)),
                                   _mm256_mul_pd(C2, _mm256_mul_pd(gi, gi)));
        _mm256_storeu_pd(ms + i, mi);
        _mm256_storeu_pd(vs + i, vi);
        __m256d u = _mm256_div_pd(_mm256_mul_pd(L, mi),
                                  _mm256_add_pd(_mm256_sqrt_pd(vi), E));
        _mm256_storeu_pd(p + i, _mm256_add_pd(_mm256_loadu_pd(p + i), u));
    }
    fm_adam_d_c(p + i, g + i, ms + i, vs + i, n - i, neg_lr, b1, c1, b2, c2, eps);
}

__attribute__((target("avx512f")))
static void fm_adam_f_avx512(float* restrict p, const float* restrict g,
                              float* restrict ms, float* restrict vs, ptrdiff_t n,
                              double neg_lr, float b1, float c1, float b2, float c2,
                              float eps)
{
    /* 8 at a time: moments in float32 (256 bits), the update in float64 */
    const __m256 B1 = _mm256_set1_ps(b1), C1 = _mm256_set1_ps(c1);
    const __m256 B2 = _mm256_set1_ps(b2), C2 = _mm256_set1_ps(c2);
    const __m256 E = _mm256_set1_ps(eps);
    const __m512d L = _mm512_set1_pd(neg_lr);
    ptrdiff_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 gi = _mm256_loadu_ps(g + i);
        __m256 mi = _mm256_add_ps(_mm256_mul_ps(B1, _mm256_loadu_ps(ms + i)),
                                  _mm256_mul_ps(C1, gi));
        __m256 vi = _mm256_add_ps(_mm256_mul_ps(B2, _mm256_loadu_ps(vs + i)),
                                  _mm256_mul_ps(C2, _mm256_mul_ps(gi, gi)));
        _mm256_storeu_ps(ms + i, mi);
        _mm256_storeu_ps(vs + i, vi);
        __m512d den = _mm512_cvtps_pd(_mm256_add_ps(_mm256_sqrt_ps(vi), E));
        __m512d u = _mm512_div_pd(_mm512_mul_pd(L, _mm512_cvtps_pd(mi)), den);
        __m512d pd = _mm512_add_pd(_mm512_cvtps_pd(_mm256_loadu_ps(p + i)), u);
        _mm256_storeu_ps(p + i, _mm512_cvtpd_ps(pd));
    }
    fm_adam_f_c(p + i, g + i, ms + i, vs + i, n - i, neg_lr, b1, c1, b2, c2, eps);
}

__attribute__((target("avx2")))
static void fm_adam_f_avx2(float* restrict p, const float* restrict g,
                            float* restrict ms, float* restrict vs, ptrdiff_t n,
                            double neg_lr, float b1, float c1, float b2, float c2,
                            float eps)
{
    const __m128 B1 = _mm_set1_ps(b1), C1 = _mm_set1_ps(c1);
    const __m128 B2 = _mm_set1_ps(b2), C2 = _mm_set1_ps(c2);
    const __m128 E = _mm_set1_ps(eps);
    const __m256d L = _mm256_set1_pd(neg_lr);
    ptrdiff_t i = 0;
    for (; i + 4 <= n; i += 4) {
        __m128 gi = _mm_loadu_ps(g + i);
        __m128 mi = _mm_add_ps(_mm_mul_ps(B1, _mm_loadu_ps(ms + i)), _mm_mul_ps(C1, gi));
        __m128 vi = _mm_add_ps(_mm_mul_ps(B2, _mm_loadu_ps(vs + i)),
                               _mm_mul_ps(C2, _mm_mul_ps(gi, gi)));
        _mm_storeu_ps(ms + i, mi);
        _mm_storeu_ps(vs + i, vi);
        __m256d den = _mm256_cvtps_pd(_mm_add_ps(_mm_sqrt_ps(vi), E));
        __m256d u = _mm256_div_pd(_mm256_mul_pd(L, _mm256_cvtps_pd(mi)), den);
        __m256d pd = _mm256_add_pd(_mm256_cvtps_pd(_mm_loadu_ps(p + i)), u);
        _mm_storeu_ps(p + i, _mm256_cvtpd_ps(pd));
    }
    fm_adam_f_c(p + i, g + i, ms + i, vs + i, n - i, neg_lr, b1, c1, b2, c2, eps);
}

static int fm_cpu_level = -1;   /* benign race: every thread computes the same */
static int fm_level_cap = 2;    /* lowered by the tests to run every path */

static int fm_simd_level(void)
{
    if (fm_cpu_level < 0) {
        __builtin_cpu_init();
        fm_cpu_level = __builtin_cpu_supports("avx512f") ? 2
                      : __builtin_cpu_supports("avx2") ? 1 : 0;
    }
    return fm_cpu_level < fm_level_cap ? fm_cpu_level : fm_level_cap;
}
#endif

/* Caps the instruction set of the adam update (2: AVX-512, 1: AVX2, 0: plain
 * C); returns the level now in use. */
static int fm_set_level_cap(int cap)
{
#ifdef FM_X86_SIMD
    fm_level_cap = cap;
    return fm_simd_level();
#else
    (void)cap;
    return 0;
#endif
}

static void fm_adam_d(double* p, const double* g, double* ms, double* vs, ptrdiff_t n,
                       double neg_lr, double b1, double c1, double b2, double c2,
                       double eps)
{
#ifdef FM_X86_SIMD
    int level = fm_simd_level();
    if (level == 2) {
        fm_adam_d_avx512(p, g, ms, vs, n, neg_lr, b1, c1, b2, c2, eps);
        return;
    }
    if (level == 1) {
        fm_adam_d_avx2(p, g, ms, vs, n, neg_lr, b1, c1, b2, c2, eps);
        return;
    }
#endif
    fm_adam_d_c(p, g, ms, vs, n, neg_lr, b1, c1, b2, c2, eps);
}

static void fm_adam_f(float* p, const float* g, float* ms, float* vs, ptrdiff_t n,
                       double neg_lr, float b1, float c1, float b2, float c2, float eps)
{
#ifdef FM_X86_SIMD
    int level = fm_simd_level();
    if (level == 2) {
        fm_adam_f_avx512(p, g, ms, vs, n, neg_lr, b1, c1, b2, c2, eps);
        return;
    }
    if (level == 1) {
        fm_adam_f_avx2(p, g, ms, vs, n, neg_lr, b1, c1, b2, c2, eps);
        return;
    }
#endif
    fm_adam_f_c(p, g, ms, vs, n, neg_lr, b1, c1, b2, c2, eps);
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

#endif
