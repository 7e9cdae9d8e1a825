# Loss and delta of the output layer per output function, inline, float32 and
# float64, as sklearn's LOSS_FUNCTIONS compute them: log-losses on
# probabilities clipped to [eps, 1 - eps] (eps: the dtype's machine epsilon),
# squared error halved, Poisson deviance. Losses are summed in double.

from cython cimport floating
from libc.math cimport INFINITY

from fastmlp._typedefs cimport (
    OUT_LOGISTIC, OUT_EXP, OUT_ABSOLUTE_ERROR, OUT_HUBER, OUT_QUANTILE,
)
from fastmlp._elementwise cimport f_exp, f_exp_neg, f_log


cdef inline floating machine_eps(floating like) noexcept nogil:
    """np.finfo(dtype).eps, sklearn's clip of log-loss probabilities."""
    if floating is float:
        return 1.1920928955078125e-07
    else:
        return 2.220446049250313e-16


cdef inline floating clip_log(floating lp, floating log_eps, floating log_1m_eps) noexcept nogil:
    """log p with p clipped to [eps, 1 - eps] (NaN stays NaN)."""
    if lp < log_eps:
        return log_eps
    elif lp > log_1m_eps:
        return log_1m_eps
    return lp


cdef inline double softmax_row_loss(const floating* e, const floating* y, int k,
                                    floating lse, floating log_eps,
                                    floating log_1m_eps) noexcept nogil:
    """-sum_j y_j log p_j of one row, where e holds exp(z - max) and lse the
    log of its sum (log p = log e - lse), over the classes with y_j != 0."""
    cdef double row_loss = 0
    cdef floating lp
    cdef int j
    for j in range(k):
        if y[j] != 0:
            lp = (f_log(e[j]) if e[j] > 0 else -INFINITY) - lse
            lp = clip_log(lp, log_eps, log_1m_eps)
            row_loss -= y[j] * lp
    return row_loss


cdef inline floating output_loss(int out, floating z, floating y,
                                 double* row_loss) noexcept nogil:
    """p = out(z) for an element-wise output (identity, logistic, exp); the
    element's loss is added to row_loss. Returns p (delta = p - y)."""
    cdef floating e, p, pc, eps
    if out == OUT_LOGISTIC:
        e = f_exp_neg(-z if z >= 0 else z)
        p = 1 / (1 + e) if z >= 0 else e / (1 + e)
        # sklearn's binary_log_loss: p clipped to [eps, 1 - eps] in the
        # dtype, then log(p) and log(1 - p) of that rounded p. (log(1 - p)
        # from min(-z, 0) - log1p(e) would be exact, but where p rounds to
        # near 1 sklearn's loss, and its L-BFGS path, differ from it.)
        eps = machine_eps(p)
        pc = eps if p < eps else (1 - eps if p > 1 - eps else p)
        if y != 0:
            row_loss[0] -= y * f_log(pc)
        if y != 1:
            row_loss[0] -= (1 - y) * f_log(1 - pc)
    elif out == OUT_EXP:
        p = f_exp(z)
        if y > 0:
            row_loss[0] += y * (f_log(y) - z)
        row_loss[0] += p - y
    else:
        p = z
        row_loss[0] += 0.5 * (p - y) * (p - y)
    return p


cdef inline bint is_robust(int out) noexcept nogil:
    """The losses beyond sklearn's of an identity output (robust_loss)."""
    return out == OUT_ABSOLUTE_ERROR or out == OUT_HUBER or out == OUT_QUANTILE


cdef inline floating robust_loss(int out, floating r, floating param,
                                 double* row_loss) noexcept nogil:
    """At the residual r = p - y: the element's loss added to row_loss; returns
    its (sub)gradient in p. As sklearn's HistGradientBoostingRegressor losses:
    absolute error |r| (gradient sign(r)); Huber (param: delta), r^2 / 2 up to
    |r| = delta and delta (|r| - delta / 2) beyond; pinball (param: the
    quantile q), -q r where y >= p (gradient -q) and (1 - q) r elsewhere."""
    cdef floating a = r if r >= 0 else -r
    if out == OUT_ABSOLUTE_ERROR:
        row_loss[0] += a
        return 1 if r > 0 else (-1 if r < 0 else 0)
    if out == OUT_HUBER:
        if a <= param:
            row_loss[0] += 0.5 * r * r
            return r
        row_loss[0] += param * (a - 0.5 * param)
        return param if r > 0 else -param
    if r <= 0:
        row_loss[0] -= param * r
        return -param
    row_loss[0] += (1 - param) * r
    return 1 - param
