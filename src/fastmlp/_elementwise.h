/* Element-wise hot loops of the compiled core, written so that GCC vectorises
 * them, and compiled for several instruction sets (AVX-512, AVX2, baseline)
 * with the best chosen at load time where the toolchain supports it.
 *
 * fm_exp: exp(x) for x <= 0 only (the softmax and logistic arguments), to
 * about 2 ulp: k = round(x / ln2), r = x - k ln2 (two-part ln2), Taylor
 * polynomial of degree 13 (double) / 7 (float) on |r| <= ln2 / 2, scaled by
 * 2^k built in the exponent bits. Arguments below the smallest normal result
 * are clamped (the result is then ~1e-308 / ~1e-38 instead of a subnormal or
 * 0: harmless where it is used, as a probability next to 1). NaN stays NaN.
 */
#ifndef FASTMLP_ELEMENTWISE_H
#define FASTMLP_ELEMENTWISE_H

#include <stdint.h>
#include <string.h>
#include <stddef.h>

#include "_clones.h"

/* No function here looks at floating-point exception flags, and GCC
 * if-converts the clamps below (so the loops over them vectorise) only when it
 * may assume that comparisons do not trap. Values are unchanged by this. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("no-trapping-math")
#endif

static inline double fm_exp_neg_d(double x)
{
    const double shift = 6755399441055744.0; /* 1.5 * 2^52: rounds to integer */
    const double log2e = 1.4426950408889634;
    const double ln2_hi = 6.93147180369123816490e-01;
    const double ln2_lo = 1.90821492927058770002e-10;
    double xc = x < -708.0 ? -708.0 : x;
    double kf = xc * log2e + shift;
    int64_t kbits;
    memcpy(&kbits, &kf, sizeof kbits);
    kf -= shift;
    double r = xc - kf * ln2_hi - kf * ln2_lo;
    double p = 1.6059043836821613e-10;          /* 1/13! */
    p = p * r + 2.08767569878681e-09;           /* 1/12! */
    p = p * r + 2.505210838544172e-08;          /* 1/11! */
    p = p * r + 2.755731922398589e-07;          /* 1/10! */
    p = p * r + 2.7557319223985893e-06;         /* 1/9! */
    p = p * r + 2.48015873015873e-05;           /* 1/8! */
    p = p * r + 0.0001984126984126984;          /* 1/7! */
    p = p * r + 0.001388888888888889;           /* 1/6! */
    p = p * r + 0.008333333333333333;           /* 1/5! */
    p = p * r + 0.041666666666666664;           /* 1/4! */
    p = p * r + 0.16666666666666666;            /* 1/3! */
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    /* the low bits of kbits hold k (two's complement); add the bias */
    int64_t ebits = (int64_t)((uint64_t)(kbits + 1023) << 52);
    double scale;
    memcpy(&scale, &ebits, sizeof scale);
    return p * scale;
}

static inline float fm_exp_neg_f(float x)
{
    const float shift = 12582912.0f; /* 1.5 * 2^23 */
    const float log2e = 1.44269504f;
    const float ln2_hi = 0.693145752f;
    const float ln2_lo = 1.42860677e-06f;
    float xc = x < -87.0f ? -87.0f : x;
    float kf = xc * log2e + shift;
    int32_t kbits;
    memcpy(&kbits, &kf, sizeof kbits);
    kf -= shift;
    float r = xc - kf * ln2_hi - kf * ln2_lo;
    float p = 1.98412698e-4f;                    /* 1/7! */
    p = p * r + 1.38888889e-3f;
    p = p * r + 8.33333333e-3f;
    p = p * r + 4.16666667e-2f;
    p = p * r + 1.66666667e-1f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t ebits = (int32_t)((uint32_t)(kbits + 127) << 23);
    float scale;
    memcpy(&scale, &ebits, sizeof scale);
    return p * scale;
}

/* tanh, Cephes' rational form near 0 (no cancellation) and
 * (1 - e) / (1 + e), e = exp(-2|x|), elsewhere; both computed, one kept, so
 * loops over it vectorise. About 2 ulp. */
static inline double fm_tanh_d(double x)
{
    double a = x < 0 ? -x : x;
    double s = x * x;
    double p = (-9.64399179425052238628E-1 * s - 9.92877231001918586564E1) * s
               - 1.61468768441708447952E3;
    double q = ((s + 1.12811678491632931402E2) * s + 2.23548839060100448583E3) * s
               + 4.84406305325125486048E3;
    double small = x + x * s * (p / q);
    double e = fm_exp_neg_d(-2.0 * a);
    double big = (1.0 - e) / (1.0 + e);
    big = x < 0 ? -big : big;
    return a < 0.625 ? small : big;
}

static inline float fm_tanh_f(float x)
{
    float a = x < 0 ? -x : x;
    float z = x * x;
    float small = ((((-5.70498872745E-3f * z + 2.06390887954E-2f) * z
                     - 5.37397155531E-2f) * z + 1.33314422036E-1f) * z
                   - 3.33332819422E-1f) * z * x + x;
    float e = fm_exp_neg_f(-2.0f * a);
    float big = (1.0f - e) / (1.0f + e);
    big = x < 0 ? -big : big;
    return a < 0.625f ? small : big;
}

static inline double fm_expit_d(double x)
{
    double e = fm_exp_neg_d(x < 0 ? x : -x);
    double r = 1.0 / (1.0 + e);
    return x >= 0 ? r : e * r;
}

static inline float fm_expit_f(float x)
{
    float e = fm_exp_neg_f(x < 0 ? x : -x);
    float r = 1.0f / (1.0f + e);
    return x >= 0 ? r : e * r;
}

/* z = f(z + b) over an m x w block, for f = tanh and logistic. */
#define FM_BIAS_ACT(NAME, T, F)                                                 \
FM_CLONES static void NAME(T* Z, const T* b, ptrdiff_t m, int w)               \
{                                                                               \
    for (ptrdiff_t i = 0; i < m; i++)                                           \
        for (int j = 0; j < w; j++)                                             \
            Z[i * w + j] = F(Z[i * w + j] + b[j]);                              \
}
FM_BIAS_ACT(fm_bias_tanh_d, double, fm_tanh_d)
FM_BIAS_ACT(fm_bias_tanh_f, float, fm_tanh_f)
FM_BIAS_ACT(fm_bias_logistic_d, double, fm_expit_d)
FM_BIAS_ACT(fm_bias_logistic_f, float, fm_expit_f)

/* Softmax pre-pass of m rows of width k (row stride k), in place:
 * z += b, then z = exp(z - max(row)); rowsum[i] = sum of the row's exps.
 * Rows are short (one per class): the exps run as one flat loop over the
 * whole block so they vectorise without per-row remainders. */
#define FM_SOFTMAX_ROWS(NAME, T, EXPF)                                          \
FM_CLONES static void NAME(T* Z, const T* b, ptrdiff_t m, int k, T* rowsum)    \
{                                                                               \
    for (ptrdiff_t i = 0; i < m; i++) {                                         \
        T* z = Z + i * k;                                                       \
        T mx = z[0] + b[0];                                                     \
        for (int j = 0; j < k; j++) {                                           \
            z[j] += b[j];                                                       \
            mx = z[j] > mx ? z[j] : mx;                                         \
        }                                                                       \
        for (int j = 0; j < k; j++)                                             \
            z[j] -= mx;                                                         \
    }                                                                           \
    ptrdiff_t n = m * (ptrdiff_t)k;                                             \
    for (ptrdiff_t i = 0; i < n; i++)                                           \
        Z[i] = EXPF(Z[i]);                                                      \
    for (ptrdiff_t i = 0; i < m; i++) {                                         \
        T s = 0;                                                                \
        for (int j = 0; j < k; j++)                                             \
            s += Z[i * k + j];                                                  \
        rowsum[i] = s;                                                          \
    }                                                                           \
}
FM_SOFTMAX_ROWS(fm_softmax_rows_d, double, fm_exp_neg_d)
FM_SOFTMAX_ROWS(fm_softmax_rows_f, float, fm_exp_neg_f)

/* dst row i = row rows[i] of the C-contiguous X (row_bytes each), the rows
 * a few ahead prefetched: the source rows are scattered, and one at a time
 * each copy would wait for its cache misses. */
__attribute__((unused))
static void fm_gather_rows(char* restrict dst, const char* restrict X,
                           const ptrdiff_t* rows, ptrdiff_t m, size_t row_bytes)
{
    const ptrdiff_t ahead = 4;
    for (ptrdiff_t i = 0; i < m && i < ahead; i++)
        for (size_t off = 0; off < row_bytes; off += 64)
            __builtin_prefetch(X + rows[i] * row_bytes + off);
    for (ptrdiff_t i = 0; i < m; i++) {
        if (i + ahead < m) {
            const char* next = X + rows[i + ahead] * row_bytes;
            for (size_t off = 0; off < row_bytes; off += 64)
                __builtin_prefetch(next + off);
        }
        memcpy(dst + (size_t)i * row_bytes, X + rows[i] * row_bytes, row_bytes);
    }
}

/* Whether all n values are finite: no value has every exponent bit set
 * (inf and NaN). Bit tests, so the loop vectorises (an OR reduction). */
#define FM_ALL_FINITE(NAME, T, U, EXP)                                          \
FM_CLONES static int NAME(const T* x, ptrdiff_t n)                              \
{                                                                               \
    U bad = 0;                                                                  \
    for (ptrdiff_t i = 0; i < n; i++) {                                         \
        U b;                                                                    \
        memcpy(&b, x + i, sizeof b);                                            \
        bad |= (U)((b & EXP) == EXP);                                           \
    }                                                                           \
    return bad == 0;                                                            \
}
FM_ALL_FINITE(fm_all_finite_d, double, uint64_t, 0x7FF0000000000000ULL)
FM_ALL_FINITE(fm_all_finite_f, float, uint32_t, 0x7F800000U)

/* Softmax deltas after the pre-pass, in place: row i of Z (exps, rowsum[i]
 * their sum) becomes (e / sum - y) * w for its data row g (rows[i], or
 * first + i when rows is NULL; w = sw[g], or 1 when sw is NULL); then gb += the
 * column sums of the deltas, row by row. */
#define FM_SOFTMAX_DELTA(NAME, T)                                               \
FM_CLONES static void NAME(T* restrict Z, const T* restrict Y, const T* sw,    \
                           const ptrdiff_t* rows, ptrdiff_t first, ptrdiff_t m, \
                           int k, const T* rowsum, T* restrict gb)             \
{                                                                               \
    for (ptrdiff_t i = 0; i < m; i++) {                                         \
        ptrdiff_t g = rows != NULL ? rows[i] : first + i;                       \
        T w = sw != NULL ? sw[g] : (T)1;                                        \
        T s = rowsum[i];                                                        \
        T* restrict z = Z + i * k;                                              \
        const T* restrict y = Y + g * k;                                        \
        for (int j = 0; j < k; j++)                                             \
            z[j] = (z[j] / s - y[j]) * w;                                       \
    }                                                                           \
    for (ptrdiff_t i = 0; i < m; i++)                                           \
        for (int j = 0; j < k; j++)                                             \
            gb[j] += Z[i * k + j];                                              \
}
FM_SOFTMAX_DELTA(fm_softmax_delta_d, double)
FM_SOFTMAX_DELTA(fm_softmax_delta_f, float)

/* z = relu(z + b) over an m x w block. */
#define FM_BIAS_RELU(NAME, T)                                                   \
FM_CLONES static void NAME(T* Z, const T* b, ptrdiff_t m, int w)               \
{                                                                               \
    for (ptrdiff_t i = 0; i < m; i++)                                           \
        for (int j = 0; j < w; j++) {                                           \
            T z = Z[i * w + j] + b[j];                                          \
            Z[i * w + j] = z < 0 ? 0 : z;                                       \
        }                                                                       \
}
FM_BIAS_RELU(fm_bias_relu_d, double)
FM_BIAS_RELU(fm_bias_relu_f, float)

/* delta = T * relu'(A), written over A; gb += column sums of delta. */
#define FM_RELU_BACK(NAME, T_)                                                  \
FM_CLONES static void NAME(const T_* T, T_* A, T_* gb, ptrdiff_t m, int w)     \
{                                                                               \
    for (ptrdiff_t i = 0; i < m; i++)                                           \
        for (int j = 0; j < w; j++) {                                           \
            T_ d = A[i * w + j] != 0 ? T[i * w + j] : (T_)0;                    \
            A[i * w + j] = d;                                                   \
            gb[j] += d;                                                         \
        }                                                                       \
}
FM_RELU_BACK(fm_relu_back_d, double)
FM_RELU_BACK(fm_relu_back_f, float)

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

#endif
