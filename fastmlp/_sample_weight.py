"""Sample weights: checked as sklearn checks them, times the class weights."""

from numbers import Real

import numpy as np
from sklearn.utils.class_weight import compute_sample_weight


def check_sample_weight(sample_weight, X, dtype):
    """sample_weight as a contiguous (n_samples,) array of the model's dtype,
    with sklearn's errors."""
    n = X.shape[0]
    if isinstance(sample_weight, Real):
        sample_weight = np.full(n, sample_weight, dtype=dtype)
    sw = np.asarray(sample_weight)
    if sw.ndim != 1:
        raise ValueError("Sample weights must be 1D array or scalar")
    if sw.shape != (n,):
        raise ValueError(f"sample_weight.shape == {sw.shape}, expected {(n,)}!")
    if sw.dtype.kind not in "biuf":
        raise ValueError(f"sample_weight must be numeric, got dtype {sw.dtype}")
    sw = np.ascontiguousarray(sw, dtype=dtype)
    if not np.isfinite(sw).all():
        raise ValueError("Input sample_weight contains NaN or infinity.")
    if not sw.any():
        # sklearn's _check_sample_weight refuses these up front (the stochastic
        # solvers would otherwise divide by a zero weight sum)
        raise ValueError("Sample weights must contain at least one non-zero number.")
    return sw


def with_class_weight(class_weight, y, sample_weight):
    """sample_weight times the class weights, as sklearn's other classifiers
    apply `class_weight`; unchanged when it is None."""
    if class_weight is None:
        return sample_weight
    y_arr = np.asarray(y)
    if y_arr.ndim == 2 and y_arr.shape[1] == 1:
        y_arr = y_arr.ravel()
    if y_arr.ndim == 1 and isinstance(class_weight, dict):
        # classes missing from the dict weigh 1, as in LogisticRegression
        classes, inverse = np.unique(y_arr, return_inverse=True)
        per_class = np.array([float(class_weight.get(c, 1.0)) for c in classes])
        cw = per_class[inverse]
    else:
        cw = compute_sample_weight(class_weight, y_arr)
    if sample_weight is None:
        return cw
    sample_weight = check_sample_weight(sample_weight, y_arr, np.float64)
    return sample_weight * cw
