# Element-wise work of the compiled core, inline, float32 and float64:
# activations forward (with the bias) and backward, the output functions, the
# softmax pre-pass and deltas, and the scalar maths they use. The vectorised
# loops are C (_elementwise.h; the activations beyond sklearn's four in
# _activations.h); the functions here pick the dtype's twin.
# Derivatives are written in terms of the stored activation, as sklearn's
# DERIVATIVES are.

from cython cimport floating
from libc.math cimport exp, expf, log, logf, log1p, log1pf, isfinite, INFINITY, NAN

from fastmlp._typedefs cimport (
    intp, ACT_IDENTITY, ACT_LOGISTIC, ACT_TANH, ACT_RELU, ACT_GELU, ACT_SILU, ACT_LEAKY_RELU,
    ACT_ELU, ACT_SOFTPLUS, OUT_LOGISTIC, OUT_SOFTMAX, OUT_EXP,
)

cdef extern from "_elementwise.h" nogil:
    double fm_exp_neg_d(double x) noexcept
    float fm_exp_neg_f(float x) noexcept
    void fm_softmax_rows_d(double* Z, const double* b, intp m, int k, double* rowsum) noexcept
    void fm_softmax_rows_f(float* Z, const float* b, intp m, int k, float* rowsum) noexcept
    void fm_gather_rows(char* dst, const char* X, const intp* rows, intp m,
                        size_t row_bytes) noexcept
    int fm_all_finite_d(const double* x, intp n) noexcept
    int fm_all_finite_f(const float* x, intp n) noexcept
    void fm_softmax_delta_d(double* Z, const double* Y, const double* sw, const intp* rows,
                            intp first, intp m, int k, const double* rowsum,
                            double* gb) noexcept
    void fm_softmax_delta_f(float* Z, const float* Y, const float* sw, const intp* rows,
                            intp first, intp m, int k, const float* rowsum,
                            float* gb) noexcept
    void fm_bias_relu_d(double* Z, const double* b, intp m, int w) noexcept
    void fm_bias_relu_f(float* Z, const float* b, intp m, int w) noexcept
    void fm_bias_tanh_d(double* Z, const double* b, intp m, int w) noexcept
    void fm_bias_tanh_f(float* Z, const float* b, intp m, int w) noexcept
    void fm_bias_logistic_d(double* Z, const double* b, intp m, int w) noexcept
    void fm_bias_logistic_f(float* Z, const float* b, intp m, int w) noexcept
    void fm_relu_back_d(const double* T, double* A, double* gb, intp m, int w) noexcept
    void fm_relu_back_f(const float* T, float* A, float* gb, intp m, int w) noexcept

cdef extern from "_activations.h" nogil:
    void fm_bias_gelu_d(double* Z, const double* b, intp m, int w) noexcept
    void fm_bias_gelu_f(float* Z, const float* b, intp m, int w) noexcept
    void fm_bias_silu_d(double* Z, const double* b, intp m, int w) noexcept
    void fm_bias_silu_f(float* Z, const float* b, intp m, int w) noexcept
    void fm_bias_softplus_d(double* Z, const double* b, intp m, int w) noexcept
    void fm_bias_softplus_f(float* Z, const float* b, intp m, int w) noexcept
    void fm_bias_leaky_relu_d(double* Z, const double* b, intp m, int w) noexcept
    void fm_bias_leaky_relu_f(float* Z, const float* b, intp m, int w) noexcept
    void fm_bias_elu_d(double* Z, const double* b, intp m, int w) noexcept
    void fm_bias_elu_f(float* Z, const float* b, intp m, int w) noexcept
    void fm_bias_gelu_pre_d(double* Z, const double* b, intp m, int w, double* P) noexcept
    void fm_bias_gelu_pre_f(float* Z, const float* b, intp m, int w, float* P) noexcept
    void fm_gelu_back_d(const double* T, double* A, double* gb, intp m, int w,
                       const double* P) noexcept
    void fm_gelu_back_f(const float* T, float* A, float* gb, intp m, int w,
                       const float* P) noexcept
    void fm_bias_silu_pre_d(double* Z, const double* b, intp m, int w, double* P) noexcept
    void fm_bias_silu_pre_f(float* Z, const float* b, intp m, int w, float* P) noexcept
    void fm_silu_back_d(const double* T, double* A, double* gb, intp m, int w,
                       const double* P) noexcept
    void fm_silu_back_f(const float* T, float* A, float* gb, intp m, int w,
                       const float* P) noexcept
    void fm_bias_softplus_pre_d(double* Z, const double* b, intp m, int w, double* P) noexcept
    void fm_bias_softplus_pre_f(float* Z, const float* b, intp m, int w, float* P) noexcept
    void fm_softplus_back_d(const double* T, double* A, double* gb, intp m, int w,
                       const double* P) noexcept
    void fm_softplus_back_f(const float* T, float* A, float* gb, intp m, int w,
                       const float* P) noexcept
    void fm_leaky_relu_back_d(const double* T, double* A, double* gb, intp m, int w) noexcept
    void fm_leaky_relu_back_f(const float* T, float* A, float* gb, intp m, int w) noexcept
    void fm_elu_back_d(const double* T, double* A, double* gb, intp m, int w) noexcept
    void fm_elu_back_f(const float* T, float* A, float* gb, intp m, int w) noexcept


# ------------------------------------------------------------ scalars ----

cdef inline floating f_exp(floating x) noexcept nogil:
    if floating is float:
        return expf(x)
    else:
        return exp(x)


cdef inline floating f_log(floating x) noexcept nogil:
    if floating is float:
        return logf(x)
    else:
        return log(x)


cdef inline floating f_log1p(floating x) noexcept nogil:
    if floating is float:
        return log1pf(x)
    else:
        return log1p(x)


cdef inline floating exp_neg_clamp(floating like) noexcept nogil:
    """f_exp_neg's arguments below this give its value at this (_elementwise.h)."""
    if floating is float:
        return -87.0
    else:
        return -708.0


cdef inline floating f_exp_neg(floating x) noexcept nogil:
    """exp(x) for x <= 0, vectorisable (see _elementwise.h)."""
    if floating is float:
        return fm_exp_neg_f(x)
    else:
        return fm_exp_neg_d(x)


cdef inline floating f_expit(floating x) noexcept nogil:
    """1 / (1 + exp(-x)) without overflow."""
    cdef floating e, d, r
    if x < exp_neg_clamp(x):
        # past f_exp_neg's clamp expit(x) is exp(x) to the last bit: the
        # subnormal value, then 0 (log 0 = -inf, as sklearn's expit gives)
        return f_exp(x)
    e = f_exp_neg(-x if x >= 0 else x)
    d = 1 + e    # rounded to the dtype before the division
    r = 1 / d
    return r if x >= 0 else e * r


# ------------------------------------------------------------- input ----

cdef inline bint all_finite(const floating* x, intp n) noexcept nogil:
    """Whether the n values are finite (no inf, no NaN)."""
    if floating is double:
        return fm_all_finite_d(x, n)
    else:
        return fm_all_finite_f(x, n)


# ------------------------------------------------------- hidden layers ----

cdef inline bint keeps_pre(int act) noexcept nogil:
    """Whether training keeps act's pre-activation: its derivative is not a
    function of its output."""
    return act == ACT_GELU or act == ACT_SILU or act == ACT_SOFTPLUS


cdef inline void bias_activation(int act, floating* Z, const floating* b, intp m,
                                 int w, floating* pre) noexcept nogil:
    """Z (m x w) = act(Z + b), in place; one loop per activation, so each
    inner loop is branch-free. pre (m x w, or NULL): where the activations
    that keep_pre keep Z + b for the backward pass."""
    cdef intp i
    cdef int j
    if act == ACT_RELU:
        if floating is double:
            fm_bias_relu_d(Z, b, m, w)
        else:
            fm_bias_relu_f(Z, b, m, w)
    elif act == ACT_TANH:
        if floating is double:
            fm_bias_tanh_d(Z, b, m, w)
        else:
            fm_bias_tanh_f(Z, b, m, w)
    elif act == ACT_LOGISTIC:
        if floating is double:
            fm_bias_logistic_d(Z, b, m, w)
        else:
            fm_bias_logistic_f(Z, b, m, w)
    elif act == ACT_LEAKY_RELU:
        if floating is double:
            fm_bias_leaky_relu_d(Z, b, m, w)
        else:
            fm_bias_leaky_relu_f(Z, b, m, w)
    elif act == ACT_ELU:
        if floating is double:
            fm_bias_elu_d(Z, b, m, w)
        else:
            fm_bias_elu_f(Z, b, m, w)
    elif act == ACT_GELU:
        if floating is double:
            if pre != NULL:
                fm_bias_gelu_pre_d(Z, b, m, w, pre)
            else:
                fm_bias_gelu_d(Z, b, m, w)
        else:
            if pre != NULL:
                fm_bias_gelu_pre_f(Z, b, m, w, pre)
            else:
                fm_bias_gelu_f(Z, b, m, w)
    elif act == ACT_SILU:
        if floating is double:
            if pre != NULL:
                fm_bias_silu_pre_d(Z, b, m, w, pre)
            else:
                fm_bias_silu_d(Z, b, m, w)
        else:
            if pre != NULL:
                fm_bias_silu_pre_f(Z, b, m, w, pre)
            else:
                fm_bias_silu_f(Z, b, m, w)
    elif act == ACT_SOFTPLUS:
        if floating is double:
            if pre != NULL:
                fm_bias_softplus_pre_d(Z, b, m, w, pre)
            else:
                fm_bias_softplus_d(Z, b, m, w)
        else:
            if pre != NULL:
                fm_bias_softplus_pre_f(Z, b, m, w, pre)
            else:
                fm_bias_softplus_f(Z, b, m, w)
    else:
        for i in range(m):
            for j in range(w):
                Z[i * w + j] = Z[i * w + j] + b[j]


cdef inline void activation_backward(int act, const floating* T, floating* A,
                                     floating* gb, intp m, int w,
                                     const floating* pre) noexcept nogil:
    """delta = T * act'(A) written over A (m x w, A the stored activation;
    pre: the pre-activations bias_activation kept, for those that need them);
    gb += the column sums of delta."""
    cdef intp i
    cdef int j
    cdef floating dlt
    if act == ACT_RELU:
        if floating is double:
            fm_relu_back_d(T, A, gb, m, w)
        else:
            fm_relu_back_f(T, A, gb, m, w)
    elif act == ACT_TANH:
        for i in range(m):
            for j in range(w):
                dlt = T[i * w + j] * (1 - A[i * w + j] * A[i * w + j])
                A[i * w + j] = dlt
                gb[j] += dlt
    elif act == ACT_LOGISTIC:
        for i in range(m):
            for j in range(w):
                dlt = T[i * w + j] * (A[i * w + j] * (1 - A[i * w + j]))
                A[i * w + j] = dlt
                gb[j] += dlt
    elif act == ACT_LEAKY_RELU:
        if floating is double:
            fm_leaky_relu_back_d(T, A, gb, m, w)
        else:
            fm_leaky_relu_back_f(T, A, gb, m, w)
    elif act == ACT_ELU:
        if floating is double:
            fm_elu_back_d(T, A, gb, m, w)
        else:
            fm_elu_back_f(T, A, gb, m, w)
    elif act == ACT_GELU:
        if floating is double:
            fm_gelu_back_d(T, A, gb, m, w, pre)
        else:
            fm_gelu_back_f(T, A, gb, m, w, pre)
    elif act == ACT_SILU:
        if floating is double:
            fm_silu_back_d(T, A, gb, m, w, pre)
        else:
            fm_silu_back_f(T, A, gb, m, w, pre)
    elif act == ACT_SOFTPLUS:
        if floating is double:
            fm_softplus_back_d(T, A, gb, m, w, pre)
        else:
            fm_softplus_back_f(T, A, gb, m, w, pre)
    else:
        for i in range(m):
            for j in range(w):
                dlt = T[i * w + j]
                A[i * w + j] = dlt
                gb[j] += dlt


# -------------------------------------------------------- output layer ----

cdef inline void output_rows(int out, const floating* Z, const floating* b, floating* o,
                             intp m, int k) noexcept nogil:
    """o (m x k) = out(Z + b), row by row (softmax with the row's max
    subtracted first)."""
    cdef floating mx, s, z
    cdef intp i
    cdef int j
    for i in range(m):
        if out == OUT_SOFTMAX:
            mx = -INFINITY
            for j in range(k):
                z = Z[i * k + j] + b[j]
                o[i * k + j] = z
                if z > mx:
                    mx = z
            s = 0
            for j in range(k):
                z = f_exp(o[i * k + j] - mx)
                o[i * k + j] = z
                s = s + z
            for j in range(k):
                o[i * k + j] = o[i * k + j] / s
        else:
            for j in range(k):
                z = Z[i * k + j] + b[j]
                if out == OUT_LOGISTIC:
                    # an infinite pre-activation may be an overflow of terms
                    # of both signs (inf - inf, which a fused multiply-add
                    # keeps as inf): NaN, as sklearn gives, not a sure 0 or 1
                    z = f_expit(z) if isfinite(z) else NAN
                elif out == OUT_EXP:
                    z = f_exp(z)
                o[i * k + j] = z


cdef inline void softmax_rows(floating* Z, const floating* b, intp m, int k,
                              floating* rowsum) noexcept nogil:
    """Z = exp(Z + b - row max) in place; rowsum[i] = the sum of row i."""
    if floating is double:
        fm_softmax_rows_d(Z, b, m, k, rowsum)
    else:
        fm_softmax_rows_f(Z, b, m, k, rowsum)


cdef inline void softmax_delta(floating* Z, const void* Y, const void* sw, const intp* rows,
                               intp first, intp m, int k, const floating* rowsum,
                               floating* gb) noexcept nogil:
    """Z (exps from softmax_rows) = (p - y) * sw for data rows rows[i] (or
    first + i); gb += the column sums."""
    if floating is double:
        fm_softmax_delta_d(Z, <const double*> Y, <const double*> sw, rows, first, m, k,
                           rowsum, gb)
    else:
        fm_softmax_delta_f(Z, <const float*> Y, <const float*> sw, rows, first, m, k,
                           rowsum, gb)
