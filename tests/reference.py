"""Independent NumPy reference of the MLP objective and its gradient.

Written from the textbook definitions (not from fastmlp's code): full-batch
forward pass, sklearn's clipped log-losses (the binary one from p rounded to
the model's dtype, as sklearn's binary_log_loss), and back-propagation. Squared
error is summed over outputs (fastmlp's consistent objective); for a single
output this equals sklearn's.
"""

import numpy as np
from scipy.special import expit, logsumexp, xlogy

ACTIVATIONS = ["identity", "logistic", "tanh", "relu"]
OUTPUTS = ["identity", "logistic", "softmax", "exp"]


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


def _act(z, name):
    if name == "identity":
        return z
    if name == "logistic":
        return expit(z)
    if name == "tanh":
        return np.tanh(z)
    return np.maximum(z, 0)


def _dact(a, name):
    if name == "identity":
        return np.ones_like(a)
    if name == "logistic":
        return a * (1 - a)
    if name == "tanh":
        return 1 - a**2
    return (a != 0).astype(a.dtype)


def forward(params, units, X, activation, output):
    """Output-layer values after the output function, in float64."""
    coefs, intercepts = unpack(np.asarray(params, np.float64), units)
    A = X.astype(np.float64) if not hasattr(X, "toarray") else X.toarray().astype(np.float64)
    for i, (W, b) in enumerate(zip(coefs, intercepts)):
        Z = A @ W + b
        A = _act(Z, activation) if i < len(coefs) - 1 else Z
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
    acts = [X]
    for i, (W, b) in enumerate(zip(coefs, intercepts)):
        Z = acts[-1] @ W + b
        acts.append(_act(Z, activation) if i < len(coefs) - 1 else Z)
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
    else:
        per = 0.5 * ((P - Y) ** 2).sum(1)
    sw_sum = w.sum()
    reg = sum((W**2).sum() for W in coefs)
    loss = (w @ per + 0.5 * alpha * reg) / sw_sum
    delta = (P - Y) * w[:, None]
    gW, gb = [None] * len(coefs), [None] * len(coefs)
    for i in range(len(coefs) - 1, -1, -1):
        gW[i] = (acts[i].T @ delta + alpha * coefs[i]) / sw_sum
        gb[i] = delta.sum(0) / sw_sum
        if i > 0:
            delta = (delta @ coefs[i].T) * _dact(acts[i], activation)
    return loss, np.concatenate([g.ravel() for g in gW] + gb)
