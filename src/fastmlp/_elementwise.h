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

/* ---- Activations beyond sklearn's four (gelu, silu, leaky_relu, elu,
 * softplus). Each is branch-free (every case computed, one kept) so the loops
 * vectorise; gelu, elu and softplus compute in double for float32 too (one
 * rounding at the end). Arguments past the exp clamp take the limit (0, or
 * the linear part): no overflow and no NaN for any finite z. gelu, silu and
 * softplus have derivatives that their output does not give back, so
 * training keeps the pre-activation z (fm_bias_*_pre) and the backward pass
 * evaluates the derivative at z; leaky_relu and elu read it off the output. */

#define FM_LEAKY_SLOPE 0.01

/* expm1(x) for x <= 0: the Taylor series to degree 15 on [-0.5, 0] (exp(x)
 * - 1 cancels there), exp(x) - 1 below (at most a bit lost). */
static inline double fm_expm1_neg_d(double x)
{
    double s = x < -0.5 ? -0.5 : x;
    double p = 7.647163731819816e-13;           /* 1/15! */
    p = p * s + 1.1470745597729725e-11;
    p = p * s + 1.6059043836821613e-10;
    p = p * s + 2.08767569878681e-09;
    p = p * s + 2.505210838544172e-08;
    p = p * s + 2.755731922398589e-07;
    p = p * s + 2.7557319223985893e-06;
    p = p * s + 2.48015873015873e-05;
    p = p * s + 0.0001984126984126984;
    p = p * s + 0.001388888888888889;
    p = p * s + 0.008333333333333333;
    p = p * s + 0.041666666666666664;
    p = p * s + 0.16666666666666666;
    p = p * s + 0.5;
    p = p * s + 1.0;
    double big = fm_exp_neg_d(x) - 1.0;
    return x < -0.5 ? big : p * s;
}

/* log1p(e) for 0 <= e <= 1: 2 atanh(t / (2 + t)) by its series, with t = e,
 * or t = (e - 1) / 2 plus ln 2 above sqrt(2) - 1, so |t / (2 + t)| <= 0.172
 * and terms to the 23rd power reach the last bit. */
static inline double fm_log1p_unit_d(double e)
{
    int upper = e > 0.41421356237309503;
    double t = upper ? (e - 1.0) * 0.5 : e;
    double s = t / (2.0 + t);
    double s2 = s * s;
    double p = 1.0 / 23;
    p = p * s2 + 1.0 / 21;
    p = p * s2 + 1.0 / 19;
    p = p * s2 + 1.0 / 17;
    p = p * s2 + 1.0 / 15;
    p = p * s2 + 1.0 / 13;
    p = p * s2 + 1.0 / 11;
    p = p * s2 + 1.0 / 9;
    p = p * s2 + 1.0 / 7;
    p = p * s2 + 1.0 / 5;
    p = p * s2 + 1.0 / 3;
    double r = 2.0 * s * s2 * p;                /* the series less its first term */
    double ln2_hi = upper ? 6.93147180369123816490e-01 : 0.0;
    double ln2_lo = upper ? 1.90821492927058770002e-10 : 0.0;
    return ln2_hi + (2.0 * s + (r + ln2_lo));
}

/* The standard normal cdf Phi(z), and *gauss = exp(-z^2 / 2): erf(u) for
 * u = |z| / sqrt(2) < 1, erfc(u) above, with Cephes' rational
 * approximations (ndtr.c, the coefficients scipy's erf/erfc use). */
static inline double fm_ndtr_d(double z, double* gauss)
{
    double u = (z < 0 ? -z : z) / 1.4142135623730951;
    double uu = u * u;
    double e = uu > 708.0 ? 0.0 : fm_exp_neg_d(-uu);
    double s = uu < 1.0 ? uu : 1.0;
    double x = u < 1.0 ? 1.0 : (u > 64.0 ? 64.0 : u);   /* finite in unused cases */
    double t = (((9.60497373987051638749E0 * s + 9.00260197203842689217E1) * s
                 + 2.23200534594684319226E3) * s + 7.00332514112805075473E3) * s
               + 5.55923013010394962768E4;
    double w = ((((s + 3.35617141647503099647E1) * s + 5.21357949780152679795E2) * s
                 + 4.59432382970980127987E3) * s + 2.26290000613890934246E4) * s
               + 4.92673942608635921086E4;
    double erf_small = (u < 1.0 ? u : 1.0) * t / w;
    double p = 2.46196981473530512524E-10;
    p = p * x + 5.64189564831068821977E-1;
    p = p * x + 7.46321056442269912687E0;
    p = p * x + 4.86371970985681366614E1;
    p = p * x + 1.96520832956077098242E2;
    p = p * x + 5.26445194995477358631E2;
    p = p * x + 9.34528527171957607540E2;
    p = p * x + 1.02755188689515710272E3;
    p = p * x + 5.57535335369399327526E2;
    double q = x + 1.32281951154744992508E1;
    q = q * x + 8.67072140885989742329E1;
    q = q * x + 3.54937778887819891062E2;
    q = q * x + 9.75708501743205489753E2;
    q = q * x + 1.82390916687909736289E3;
    q = q * x + 2.24633760818710981792E3;
    q = q * x + 1.65666309194161350182E3;
    q = q * x + 5.57535340817727675546E2;
    double r = 5.64189583547755073984E-1;
    r = r * x + 1.27536670759978104416E0;
    r = r * x + 5.01905042251180477414E0;
    r = r * x + 6.16021097993053585195E0;
    r = r * x + 7.40974269950448939160E0;
    r = r * x + 2.97886665372100240670E0;
    double v = x + 2.26052863220117276590E0;
    v = v * x + 9.39603524938001434673E0;
    v = v * x + 1.20489539808096656605E1;
    v = v * x + 1.70814450747565897222E1;
    v = v * x + 9.60896809063285878198E0;
    v = v * x + 3.36907645100081516050E0;
    double erfc_big = e * (u < 8.0 ? p / q : r / v);
    double lower = u < 1.0 ? 0.5 - 0.5 * erf_small : 0.5 * erfc_big;    /* Phi(-|z|) */
    *gauss = e;
    return z < 0 ? lower : 1.0 - lower;
}

static inline double fm_gelu_d(double z)
{
    double g;
    return z * fm_ndtr_d(z, &g);
}

static inline double fm_gelu_grad_d(double z)
{
    double g;
    double c = fm_ndtr_d(z, &g);
    return c + z * (g * 0.3989422804014327);    /* Phi(z) + z phi(z) */
}

static inline double fm_softplus_d(double z)
{
    double a = z < 0 ? -z : z;
    double e = a > 708.0 ? 0.0 : fm_exp_neg_d(-a);
    return (z > 0 ? z : 0.0) + fm_log1p_unit_d(e);
}

static inline double fm_elu_d(double z)
{
    return z > 0 ? z : fm_expm1_neg_d(z < 0 ? z : 0.0);
}

/* silu(z) = z expit(z) and its derivative s (1 + z (1 - s)), with 1 - s
 * taken as the complementary expit (no cancellation). */
#define FM_SILU(NAME, GRAD, T, EXPN, CLAMP)                                     \
static inline T NAME(T z)                                                       \
{                                                                               \
    T e = EXPN(z < 0 ? z : -z);                                                 \
    T r = (T)1 / ((T)1 + e);                                                    \
    T s = z < CLAMP ? (T)0 : (z >= 0 ? r : e * r);                              \
    return z * s;                                                               \
}                                                                               \
static inline T GRAD(T z)                                                       \
{                                                                               \
    T e = EXPN(z < 0 ? z : -z);                                                 \
    T r = (T)1 / ((T)1 + e);                                                    \
    T s = z < CLAMP ? (T)0 : (z >= 0 ? r : e * r);                              \
    T c = z >= 0 ? e * r : r;                                                   \
    return s * ((T)1 + z * c);                                                  \
}
FM_SILU(fm_silu_d, fm_silu_grad_d, double, fm_exp_neg_d, -708.0)
FM_SILU(fm_silu_f, fm_silu_grad_f, float, fm_exp_neg_f, -87.0f)

static inline double fm_leaky_relu_d(double z) { return z > 0 ? z : FM_LEAKY_SLOPE * z; }
static inline float fm_leaky_relu_f(float z) { return z > 0 ? z : (float)FM_LEAKY_SLOPE * z; }
static inline float fm_gelu_f(float z) { return (float)fm_gelu_d(z); }
static inline float fm_gelu_grad_f(float z) { return (float)fm_gelu_grad_d(z); }
static inline float fm_softplus_f(float z) { return (float)fm_softplus_d(z); }
static inline double fm_softplus_grad_d(double z) { return fm_expit_d(z); }
static inline float fm_softplus_grad_f(float z) { return fm_expit_f(z); }
static inline float fm_elu_f(float z) { return (float)fm_elu_d(z); }

/* z = f(z + b) over an m x w block, the sum z kept in P (m x w). */
#define FM_BIAS_ACT_PRE(NAME, T, F)                                             \
FM_CLONES static void NAME(T* Z, const T* b, ptrdiff_t m, int w, T* P)         \
{                                                                               \
    for (ptrdiff_t i = 0; i < m; i++)                                           \
        for (int j = 0; j < w; j++) {                                           \
            T z = Z[i * w + j] + b[j];                                          \
            P[i * w + j] = z;                                                   \
            Z[i * w + j] = F(z);                                                \
        }                                                                       \
}
FM_BIAS_ACT(fm_bias_gelu_d, double, fm_gelu_d)
FM_BIAS_ACT(fm_bias_gelu_f, float, fm_gelu_f)
FM_BIAS_ACT(fm_bias_silu_d, double, fm_silu_d)
FM_BIAS_ACT(fm_bias_silu_f, float, fm_silu_f)
FM_BIAS_ACT(fm_bias_softplus_d, double, fm_softplus_d)
FM_BIAS_ACT(fm_bias_softplus_f, float, fm_softplus_f)
FM_BIAS_ACT(fm_bias_leaky_relu_d, double, fm_leaky_relu_d)
FM_BIAS_ACT(fm_bias_leaky_relu_f, float, fm_leaky_relu_f)
FM_BIAS_ACT(fm_bias_elu_d, double, fm_elu_d)
FM_BIAS_ACT(fm_bias_elu_f, float, fm_elu_f)
FM_BIAS_ACT_PRE(fm_bias_gelu_pre_d, double, fm_gelu_d)
FM_BIAS_ACT_PRE(fm_bias_gelu_pre_f, float, fm_gelu_f)
FM_BIAS_ACT_PRE(fm_bias_silu_pre_d, double, fm_silu_d)
FM_BIAS_ACT_PRE(fm_bias_silu_pre_f, float, fm_silu_f)
FM_BIAS_ACT_PRE(fm_bias_softplus_pre_d, double, fm_softplus_d)
FM_BIAS_ACT_PRE(fm_bias_softplus_pre_f, float, fm_softplus_f)

/* delta = T * f'(P) (P: the kept pre-activations), written over A; gb +=
 * column sums of delta. */
#define FM_ACT_BACK_PRE(NAME, T_, G)                                            \
FM_CLONES static void NAME(const T_* T, T_* A, T_* gb, ptrdiff_t m, int w,     \
                           const T_* P)                                         \
{                                                                               \
    for (ptrdiff_t i = 0; i < m; i++)                                           \
        for (int j = 0; j < w; j++) {                                           \
            T_ d = T[i * w + j] * G(P[i * w + j]);                              \
            A[i * w + j] = d;                                                   \
            gb[j] += d;                                                         \
        }                                                                       \
}
FM_ACT_BACK_PRE(fm_gelu_back_d, double, fm_gelu_grad_d)
FM_ACT_BACK_PRE(fm_gelu_back_f, float, fm_gelu_grad_f)
FM_ACT_BACK_PRE(fm_silu_back_d, double, fm_silu_grad_d)
FM_ACT_BACK_PRE(fm_silu_back_f, float, fm_silu_grad_f)
FM_ACT_BACK_PRE(fm_softplus_back_d, double, fm_softplus_grad_d)
FM_ACT_BACK_PRE(fm_softplus_back_f, float, fm_softplus_grad_f)

/* delta = T * f'(A) from the activation A itself, written over A: leaky_relu
 * (1 where A > 0, else the slope; A and z have one sign) and elu (1 where A >
 * 0, else exp(z) = A + 1). */
#define FM_ACT_BACK_OUT(NAME, T_, G)                                            \
FM_CLONES static void NAME(const T_* T, T_* A, T_* gb, ptrdiff_t m, int w)     \
{                                                                               \
    for (ptrdiff_t i = 0; i < m; i++)                                           \
        for (int j = 0; j < w; j++) {                                           \
            T_ d = T[i * w + j] * G(A[i * w + j]);                              \
            A[i * w + j] = d;                                                   \
            gb[j] += d;                                                         \
        }                                                                       \
}
static inline double fm_leaky_relu_grad_d(double a) { return a > 0 ? 1.0 : FM_LEAKY_SLOPE; }
static inline float fm_leaky_relu_grad_f(float a) { return a > 0 ? 1.0f : (float)FM_LEAKY_SLOPE; }
static inline double fm_elu_grad_d(double a) { return a > 0 ? 1.0 : a + 1.0; }
static inline float fm_elu_grad_f(float a) { return a > 0 ? 1.0f : a + 1.0f; }
FM_ACT_BACK_OUT(fm_leaky_relu_back_d, double, fm_leaky_relu_grad_d)
FM_ACT_BACK_OUT(fm_leaky_relu_back_f, float, fm_leaky_relu_grad_f)
FM_ACT_BACK_OUT(fm_elu_back_d, double, fm_elu_grad_d)
FM_ACT_BACK_OUT(fm_elu_back_f, float, fm_elu_grad_f)

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

#endif
