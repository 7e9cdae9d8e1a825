/* Activations beyond sklearn's four (gelu, silu, leaky_relu, elu, softplus):
 * their forward (with the bias) and backward loops, vectorised and cloned as
 * _elementwise.h's, from whose exp and expit they are built.
 * Each is branch-free (every case computed, one kept) so the loops
 * vectorise; gelu, elu and softplus compute in double for float32 too (one
 * rounding at the end). Arguments past the exp clamp take the limit (0, or
 * the linear part): no overflow and no NaN for any finite z. gelu, silu and
 * softplus have derivatives that their output does not give back, so
 * training keeps the pre-activation z (fm_bias_*_pre) and the backward pass
 * evaluates the derivative at z; leaky_relu and elu read it off the output. */
#ifndef FASTMLP_ACTIVATIONS_H
#define FASTMLP_ACTIVATIONS_H

#include "_elementwise.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("no-trapping-math")
#endif

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
