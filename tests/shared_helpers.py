"""Helpers shared by the test modules (imported as ``from shared_helpers
import ...``: tests/ is on sys.path under pytest's default import mode)."""

import warnings

import numpy as np
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning


def n_params(units):
    """Parameters of a network with layer sizes units (weights, then biases)."""
    return sum(a * b for a, b in zip(units[:-1], units[1:])) + sum(units[1:])


def fit_quietly(est, *args, **kw):
    """est.fit(...) without the ConvergenceWarning of short test fits."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(*args, **kw)


def weights(est):
    """A fitted model's coefficient and intercept arrays, in packing order."""
    return est.coefs_ + est.intercepts_


def packed(est):
    """A fitted model's weights as one flat vector (sklearn's packing order)."""
    return np.concatenate([a.ravel() for a in weights(est)])


def assert_same_weights(actual, desired, rtol=None, *, floor="network"):
    """Every coefficient and intercept of two fitted models, layer by layer.

    rtol=None: bit for bit (the same fit reached another way).
    Else equal to rtol, with an absolute floor for weights near zero:
    floor="network": 1e-10 of the largest weight of `desired`, shapes equal
    (fastmlp against sklearn or the reference, full-batch);
    floor="array": rtol times each array's largest weight in `desired`,
    dtypes equal (the stochastic solvers against sklearn).
    """
    assert len(actual.coefs_) == len(desired.coefs_)
    assert len(actual.intercepts_) == len(desired.intercepts_)
    pairs = list(zip(weights(actual), weights(desired), strict=True))
    if rtol is None:
        for a, d in pairs:
            assert_array_equal(a, d)
    elif floor == "network":
        atol = 1e-10 * np.abs(packed(desired)).max()
        for a, d in pairs:
            assert a.shape == d.shape
            assert_allclose(a, d, rtol=rtol, atol=atol)
    elif floor == "array":
        for a, d in pairs:
            assert a.dtype == d.dtype
            assert_allclose(a, d, rtol=rtol, atol=rtol * np.abs(d).max())
    else:
        raise ValueError(f"floor must be 'network' or 'array', got {floor!r}")
