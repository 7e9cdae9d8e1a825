"""Sample weights: checked as sklearn checks them, times the class weights,
and the check that no sgd/adam minibatch weighs nothing."""

import numpy as np
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.validation import _check_sample_weight


def check_sample_weight(sample_weight, X, dtype):
    """sample_weight as a contiguous (n_samples,) array of the model's dtype,
    checked by sklearn's own _check_sample_weight (as sklearn's MLP does): the
    same conversions (object arrays, Decimals, numeric strings) and errors."""
    sw = _check_sample_weight(sample_weight, X)
    return np.ascontiguousarray(sw, dtype=dtype)


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


class WeightsSumToZero(ZeroDivisionError):
    """A minibatch whose sample weights sum to zero (sklearn's np.average
    raises ZeroDivisionError there too)."""


def check_minibatch_weights(sample_weight, rows, n_samples, batch_size, epoch):
    """Raise WeightsSumToZero before an epoch one of whose minibatches (rows,
    or rows 0..n_samples-1 when None, batch_size at a time) weighs zero."""
    sw = sample_weight[:n_samples] if rows is None else sample_weight[rows]
    sums = np.add.reduceat(sw, np.arange(0, n_samples, batch_size), dtype=np.float64)
    zero = np.flatnonzero(sums == 0)
    if zero.size:
        first = int(zero[0]) * batch_size
        raise WeightsSumToZero(
            f"Weights sum to zero, can't be normalized: the sample weights of "
            f"minibatch {int(zero[0]) + 1} of epoch {epoch} (its rows {first} to "
            f"{min(first + batch_size, n_samples) - 1} in that epoch's order) sum to 0."
        )
