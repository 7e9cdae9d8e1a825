# cython: language_level=3
"""Inline element-wise functions of the compiled core, float32 and float64.

Hidden activations act in place on the pre-activation; derivatives are written
in terms of the stored activation, as sklearn's DERIVATIVES are.
"""
from cython cimport floating
from libc.math cimport exp, expf, log, logf, log1p, log1pf, tanh, tanhf

cdef extern from "_fastmath.h" nogil:
    double fm_exp_neg_d(double x) noexcept
    float fm_exp_neg_f(float x) noexcept

cdef enum Activation:
    ACT_IDENTITY = 0
    ACT_LOGISTIC = 1
    ACT_TANH = 2
    ACT_RELU = 3

cdef enum Output:
    OUT_IDENTITY = 0   # squared error
    OUT_LOGISTIC = 1   # binary / multilabel log-loss
    OUT_SOFTMAX = 2    # multiclass log-loss
    OUT_EXP = 3        # Poisson deviance


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


cdef inline floating f_tanh(floating x) noexcept nogil:
    if floating is float:
        return tanhf(x)
    else:
        return tanh(x)


cdef inline floating f_exp_neg(floating x) noexcept nogil:
    """exp(x) for x <= 0, vectorisable (see _fastmath.h)."""
    if floating is float:
        return fm_exp_neg_f(x)
    else:
        return fm_exp_neg_d(x)


cdef inline floating f_expit(floating x) noexcept nogil:
    """1 / (1 + exp(-x)) without overflow, branch-free."""
    cdef floating e = f_exp_neg(-x if x >= 0 else x)
    cdef floating r = 1 / (1 + e)
    return r if x >= 0 else e * r


cdef inline floating f_activate(floating z, int act) noexcept nogil:
    if act == ACT_RELU:
        # keeps NaN, as np.maximum does
        return 0 if z < 0 else z
    elif act == ACT_TANH:
        return f_tanh(z)
    elif act == ACT_LOGISTIC:
        return f_expit(z)
    return z


cdef inline floating f_derivative(floating a, int act) noexcept nogil:
    """d activation / dz, from the activation a itself."""
    if act == ACT_RELU:
        return 0 if a == 0 else 1
    elif act == ACT_TANH:
        return 1 - a * a
    elif act == ACT_LOGISTIC:
        return a * (1 - a)
    return 1
