"""What runs on each block while the data is prepared: the kernels' form of
X, the one-pass statistics (finiteness, labels, counts), the binarized
targets and the weights."""

import numpy as np
import scipy.sparse as sp
from sklearn.utils.validation import _assert_all_finite


def _kernel_block(block, dtype):
    """A block of X as the kernels read it (C-contiguous, or CSR)."""
    if sp.issparse(block):
        return sp.csr_matrix(block, dtype=dtype)
    return np.ascontiguousarray(block, dtype=dtype)


def _values_finite(block):
    """(has NaN, has inf) of a block (dense or sparse) of a float dtype."""
    values = block.data if sp.issparse(block) else np.asarray(block)
    if values.dtype.kind not in "fc":
        return False, False
    if np.isfinite(values.sum()):
        return False, False
    return bool(np.isnan(values).any()), bool(np.isinf(values).any())


def _block_stats(Xb, yb, swb, classifier):
    """What the client needs from one partition before training: NaN/inf,
    labels and their counts, the smallest target, whether a weight is not
    zero, and the weight sum (per label for a classifier's 1-D labels, which
    the class weights then scale)."""
    stats = {"x": _values_finite(Xb), "sw": (False, False) if swb is None
             else _values_finite(swb)}
    yb = np.asarray(yb)
    stats["y"] = _values_finite(yb)
    sw = None if swb is None else np.asarray(swb, dtype=np.float64).reshape(-1)
    stats["sw_nonzero"] = sw is None or bool(np.any(sw != 0))
    stats["weight"] = float(yb.shape[0]) if sw is None else float(sw.sum())
    if classifier:
        if stats["y"] == (False, False):
            labels, inverse, counts = np.unique(
                yb.ravel(), return_inverse=True, return_counts=True)
            stats["labels"] = (labels, counts)
            if yb.ndim == 1:
                stats["label_weight"] = (counts.astype(np.float64) if sw is None else
                                         np.bincount(inverse, sw, minlength=len(labels)))
    elif yb.size and yb.dtype.kind in "fiub":
        stats["y_min"] = yb.min()
    return stats


def _raise_not_finite(has_nan, dtype, input_name, estimator_name=None):
    """sklearn's own error for a NaN or an infinite entry (check_array's
    message, word for word: raised here on a stand-in of the same dtype)."""
    stand_in = np.array([np.nan if has_nan else np.inf], dtype=dtype)
    _assert_all_finite(stand_in, allow_nan=False, input_name=input_name,
                       estimator_name=estimator_name)


def _label_weights(labels, classes, cw_per_class, sw, dtype):
    """A partition's sample weights times its class weights (in float64, as
    fastmlp._sample_weight.with_class_weight, then the model's dtype)."""
    labels = np.asarray(labels)
    if labels.ndim == 2:
        labels = labels.ravel()
    cw = cw_per_class[np.searchsorted(classes, labels)]
    if sw is not None:
        cw = np.asarray(sw, dtype=np.float64) * cw
    return np.ascontiguousarray(cw, dtype=dtype)


def _binarize_block(labels, lb_type, classes, dtype):
    """A partition's labels as the kernels' targets (LabelBinarizer.transform's
    columns): binary, one column per class, or the multilabel indicator."""
    labels = np.asarray(labels)
    if lb_type == "multilabel-indicator":
        return np.ascontiguousarray(labels, dtype=dtype)
    labels = labels.reshape(-1)
    if lb_type == "binary":
        if len(classes) == 1:
            return np.zeros((labels.shape[0], 1), dtype=dtype)
        return np.ascontiguousarray((labels == classes[1]).reshape(-1, 1), dtype=dtype)
    return np.ascontiguousarray(labels.reshape(-1, 1) == classes, dtype=dtype)


def _target_block(y, dtype):
    y = np.asarray(y, dtype=dtype)
    return np.ascontiguousarray(y.reshape(-1, 1) if y.ndim == 1 else y)


def _weight_block(sw, dtype):
    return np.ascontiguousarray(np.asarray(sw, dtype=dtype).reshape(-1))
