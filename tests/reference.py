"""Independent NumPy reference of the MLP objective and its gradient.

Written from the textbook definitions (not from fastmlp's code): full-batch
forward pass, sklearn's clipped log-losses (the binary one from p rounded to
the model's dtype, as sklearn's binary_log_loss), and back-propagation. Squared
error is summed over outputs (fastmlp's consistent objective); for a single
output this equals sklearn's. Beyond sklearn (issue 24): five more
activations, one activation per hidden layer, and the robust losses of an
identity output (absolute error, Huber, pinball), also summed over outputs.
"""

import numpy as np
from scipy.special import erfc, expit, logsumexp, xlogy

ACTIVATIONS = ["identity", "logistic", "tanh", "relu", "gelu", "silu", "leaky_relu", "elu",
               "softplus"]
OUTPUTS = ["identity", "logistic", "softmax", "exp", "absolute_error", "huber", "quantile"]
# the robust losses' parameters in these tests (huber_delta, quantile)
LOSS_PARAMS = {"huber": 0.8, "quantile": 0.3}


def make_targets(output, n, k, rng):
    """Random (n, k) float64 targets that fit an output: one-hot classes,
    0/1 labels, Poisson counts, or normal values."""
    if output == "softmax":
        return np.eye(k)[rng.randint(0, k, n)]
    if output == "logistic":
        return (rng.rand(n, k) < 0.4).astype(float)
    if output == "exp":
        return rng.poisson(1.5, (n, k)).astype(float)
    return rng.randn(n, k)


def unpack(params, units):
    coefs, intercepts, off = [], [], 0
    for a, b in zip(units[:-1], units[1:]):
        coefs.append(params[off:off + a * b].reshape(a, b))
        off += a * b
    for b in units[1:]:
        intercepts.append(params[off:off + b])
        off += b
    assert off == params.size
    return coefs, intercepts


def act(z, name):
    """The activation `name` at z, from its definition."""
    if name == "identity":
        return z
    if name == "logistic":
        return expit(z)
    if name == "tanh":
        return np.tanh(z)
    if name == "gelu":  # z Phi(z)
        return z * 0.5 * erfc(-z / np.sqrt(2))
    if name == "silu":
        return z * expit(z)
    if name == "leaky_relu":
        return np.where(z > 0, z, 0.01 * z)
    if name == "elu":
        return np.where(z > 0, z, np.expm1(np.minimum(z, 0)))
    if name == "softplus":  # log(1 + e^z)
        return np.logaddexp(0, z)
    return np.maximum(z, 0)


def dact(z, a, name):
    """Its derivative at z (a = act(z); sklearn's four written from a, as sklearn's
    DERIVATIVES are)."""
    if name == "identity":
        return np.ones_like(a)
    if name == "logistic":
        return a * (1 - a)
    if name == "tanh":
        return 1 - a**2
    if name == "gelu":  # Phi(z) + z phi(z)
        return 0.5 * erfc(-z / np.sqrt(2)) + z * np.exp(-z * z / 2) / np.sqrt(2 * np.pi)
    if name == "silu":  # s + z s (1 - s)
        return expit(z) * (1 + z * expit(-z))
    if name == "leaky_relu":
        return np.where(z > 0, 1.0, 0.01)
    if name == "elu":
        return np.where(z > 0, 1.0, np.exp(np.minimum(z, 0)))
    if name == "softplus":
        return expit(z)
    return (a != 0).astype(a.dtype)


def _per_layer(activation, n_hidden):
    return [activation] * n_hidden if isinstance(activation, str) else list(activation)


def robust_loss(output, r, param):
    """(loss, gradient in p) per element at residuals r = p - y, as
    HistGradientBoostingRegressor's losses define them."""
    if output == "absolute_error":
        return np.abs(r), np.sign(r)
    if output == "huber":
        small = np.abs(r) <= param
        return (np.where(small, 0.5 * r * r, param * (np.abs(r) - 0.5 * param)),
                np.where(small, r, param * np.sign(r)))
    # pinball: q (y - p) where y >= p, else (1 - q) (p - y)
    return (np.where(r <= 0, -param * r, (1 - param) * r),
            np.where(r <= 0, -param, 1 - param))


def forward(params, units, X, activation, output):
    """Output-layer values after the output function, in float64."""
    coefs, intercepts = unpack(np.asarray(params, np.float64), units)
    acts = _per_layer(activation, len(coefs) - 1)
    A = X.astype(np.float64) if not hasattr(X, "toarray") else X.toarray().astype(np.float64)
    for i, (W, b) in enumerate(zip(coefs, intercepts)):
        Z = A @ W + b
        A = act(Z, acts[i]) if i < len(coefs) - 1 else Z
    return _out(A, output)[0]


def _out(Z, output):
    if output == "softmax":
        logp = Z - logsumexp(Z, axis=1, keepdims=True)
        return np.exp(logp), logp
    if output == "logistic":
        return expit(Z), None
    if output == "exp":
        return np.exp(Z), None
    return Z, None


def loss_grad(params, units, X, Y, sw, alpha, activation, output, eps):
    """(loss, packed gradient) in float64; eps: the clip of the log-losses."""
    params = np.asarray(params, np.float64)
    coefs, intercepts = unpack(params, units)
    X = X.toarray() if hasattr(X, "toarray") else np.asarray(X)
    X = X.astype(np.float64)
    Y = np.asarray(Y, np.float64)
    n = X.shape[0]
    w = np.ones(n) if sw is None else np.asarray(sw, np.float64)
    names = _per_layer(activation, len(coefs) - 1)
    acts, pre = [X], [None]
    for i, (W, b) in enumerate(zip(coefs, intercepts)):
        Z = acts[-1] @ W + b
        pre.append(Z)
        acts.append(act(Z, names[i]) if i < len(coefs) - 1 else Z)
    Z = acts[-1]
    P, logp = _out(Z, output)
    if output == "softmax":
        per = -(Y * np.clip(logp, np.log(eps), np.log1p(-eps))).sum(1)
    elif output == "logistic":
        # sklearn's binary_log_loss: p in the model's dtype (eps tells which),
        # clipped to [eps, 1 - eps], then log(p) and log(1 - p) of that p
        dtype = np.float32 if eps == np.finfo(np.float32).eps else np.float64
        pc = np.clip(expit(Z).astype(dtype), dtype(eps), dtype(1 - eps))
        per = -(xlogy(Y, pc) + xlogy(1 - Y, (1 - pc).astype(np.float64))).sum(1)
    elif output == "exp":
        ylogy = np.where(Y > 0, Y * np.log(np.where(Y > 0, Y, 1)), 0)
        per = (ylogy - Y * Z - Y + P).sum(1)
    elif output in ("absolute_error", "huber", "quantile"):
        el, dp = robust_loss(output, P - Y, LOSS_PARAMS.get(output))
        per = el.sum(1)
    else:
        per = 0.5 * ((P - Y) ** 2).sum(1)
    sw_sum = w.sum()
    reg = sum((W**2).sum() for W in coefs)
    loss = (w @ per + 0.5 * alpha * reg) / sw_sum
    delta = (dp if output in ("absolute_error", "huber", "quantile") else P - Y) * w[:, None]
    gW, gb = [None] * len(coefs), [None] * len(coefs)
    for i in range(len(coefs) - 1, -1, -1):
        gW[i] = (acts[i].T @ delta + alpha * coefs[i]) / sw_sum
        gb[i] = delta.sum(0) / sw_sum
        if i > 0:
            delta = (delta @ coefs[i].T) * dact(pre[i], acts[i], names[i - 1])
    return loss, np.concatenate([g.ravel() for g in gW] + gb)
