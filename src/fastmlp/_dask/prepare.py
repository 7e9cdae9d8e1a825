"""The training data on Dask, checked and persisted once per fit.

Everything the fit needs from the data before training (finiteness, classes
and class counts, the network's shape) is one pass over the persisted data
(``blocks._block_stats``); X is persisted in the kernels' form, the binarized
targets and the weights with X's row chunks.
"""

import warnings

import numpy as np
from sklearn.base import is_classifier
from sklearn.exceptions import DataConversionWarning
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.validation import _check_feature_names

from fastmlp._dask.blocks import (
    _binarize_block,
    _block_stats,
    _kernel_block,
    _label_weights,
    _raise_not_finite,
    _target_block,
    _weight_block,
)
from fastmlp._dask.detect import is_dask


def _as_dask_array(obj):
    """A Dask array (chunk sizes possibly unknown) for a Dask collection."""
    import dask.array as da

    if isinstance(obj, da.Array):
        return obj
    if hasattr(obj, "to_dask_array"):  # DataFrame, Series
        return obj.to_dask_array()
    raise TypeError(f"Expected a Dask array, DataFrame or Series, got {type(obj).__name__}")


def _known_chunks(*arrays):
    """The arrays with their unknown chunk sizes (from DataFrames) computed."""
    out = []
    for a in arrays:
        if a is not None and any(np.isnan(c) for dim in a.chunks for c in dim):
            a = a.compute_chunk_sizes()
        out.append(a)
    return out


def _like_rows(a, X):
    """a (Dask or in-memory, may be None) as a Dask array with X's row
    chunks: rechunked (the partitions of X then line up with it), or wrapped
    when it is in memory."""
    import dask.array as da

    if a is None:
        return None
    if not is_dask(a):
        a = np.asarray(a)
        if a.ndim == 0:  # a scalar weight: every row's
            return da.full(X.shape[0], a, chunks=X.chunks[0], dtype=np.float64)
        if a.shape[:1] != X.shape[:1]:
            return da.from_array(a, chunks=a.shape)  # the length check says what is wrong
        return da.from_array(a, chunks=(X.chunks[0],) + a.shape[1:])
    a = _as_dask_array(a)
    if a.ndim == 2 and a.numblocks[1] > 1:
        a = a.rechunk({1: -1})
    if a.shape[0] == X.shape[0] and a.chunks[0] != X.chunks[0]:
        a = a.rechunk({0: X.chunks[0]})
    return a


def _columns_as_one_chunk(X):
    if X.ndim == 2 and X.numblocks[1] > 1:
        return X.rechunk({1: -1})
    return X


class _Prepared:
    """The persisted training data, one entry per partition: X as the
    kernels read it, the targets Y (n, n_outputs) and the weights (or None),
    all in the model's dtype, with the same row chunks."""

    on_dask = True
    client = None  # the dask.distributed Client the fit runs on, or None

    def __init__(self, X, Y, sw, dtype, keep, weight_sum):
        self.X, self.Y, self.sw, self.dtype = X, Y, sw, dtype
        self.n_features, self.n_outputs = X.shape[1], Y.shape[1]
        # the weights' sum (rounded otherwise than the objective's, which
        # sums each partition in the model's dtype): checked before training
        self.weight_sum = weight_sum
        self.keep = keep  # persisted intermediates: what a lost partition is rebuilt from
        self.x_blocks = list(X.to_delayed().ravel())
        self.y_blocks = list(Y.to_delayed().ravel())
        self.sw_blocks = (list(sw.to_delayed().ravel()) if sw is not None
                          else [None] * len(self.x_blocks))
        self.rows = X.chunks[0]

    def block_futures(self):
        """The distributed Futures of the persisted blocks (X, Y, weights or
        None), in partition order."""
        from dask.core import flatten
        from distributed import futures_of

        out = []
        for a in (self.X, self.Y, self.sw):
            if a is None:
                out.append([None] * len(self.x_blocks))
                continue
            by_key = {f.key: f for f in futures_of(a)}
            out.append([by_key[k] for k in flatten(a.__dask_keys__())])
        return out


def _prepare(est, X, y, sample_weight, first_pass, dtype_of=None):
    """Validate, persist and binarize the data on the cluster, as
    _validate_input, check_sample_weight and with_class_weight do in memory;
    sets the estimator's input attributes (n_features_in_,
    feature_names_in_, classes_, _label_binarizer) and nothing else.
    dtype_of(float dtype of X): the model's dtype (default: X's). Returns
    _Prepared."""
    import dask
    import dask.array as da

    classifier = is_classifier(est)
    name = type(est).__name__
    if not is_dask(X):
        raise TypeError(
            f"X is a {type(X).__name__} while y or sample_weight is a Dask collection: "
            "pass X as a Dask array or DataFrame too (its partitions say where the rows live)"
        )
    Xa = _named_2d_array(est, X, reset=first_pass)
    dtype = np.dtype(np.float32 if Xa.dtype == np.float32 else np.float64)
    if dtype_of is not None:
        dtype = np.dtype(dtype_of(dtype))
    ya = _as_dask_array(y) if is_dask(y) else y
    swa = _as_dask_array(sample_weight) if is_dask(sample_weight) else sample_weight

    # the data as the kernels read it, persisted once; unknown chunk sizes
    # (DataFrames) computed on the persisted partitions
    Xk = Xa.map_blocks(_kernel_block, dtype, dtype=dtype)
    to_persist = [Xk] + [a for a in (ya, swa) if is_dask(a)]
    persisted = list(dask.persist(*to_persist))
    Xk = persisted.pop(0)
    if is_dask(ya):
        ya = persisted.pop(0)
    if is_dask(swa):
        swa = persisted.pop(0)
    Xk, = _known_chunks(Xk)
    ya, swa = _known_chunks(*[a if is_dask(a) else None for a in (ya, swa)])
    ya = _like_rows(ya if ya is not None else y, Xk)
    swa = _like_rows(swa if swa is not None else sample_weight, Xk)
    if swa is not None and swa.ndim != 1:
        raise ValueError("Sample weights must be 1D array or scalar")
    lengths = [Xk.shape[0], ya.shape[0]] + ([] if swa is None else [swa.shape[0]])
    if len(set(lengths)) > 1:
        raise ValueError(
            "Found input variables with inconsistent numbers of samples: %r" % lengths
        )
    if Xk.shape[0] == 0:
        raise ValueError(f"Found array with 0 sample(s) (shape={Xk.shape}) while a "
                         f"minimum of 1 is required by {name}.")
    if ya.ndim == 2 and ya.shape[1] == 1:
        warnings.warn(
            "A column-vector y was passed when a 1d array was expected. Please change "
            "the shape of y to (n_samples, ), for example using ravel().",
            DataConversionWarning, stacklevel=4,
        )
        ya = ya[:, 0]
    if ya.ndim == 2 and ya.shape[1] == 0:
        raise ValueError("y has 0 outputs")
    ya, swa = dask.persist(ya, swa) if swa is not None else (dask.persist(ya)[0], None)

    # one pass: finiteness, labels and their counts, the smallest target
    x_blocks = Xk.to_delayed().ravel()
    y_blocks = ya.to_delayed().ravel()
    sw_blocks = swa.to_delayed().ravel() if swa is not None else [None] * len(x_blocks)
    stats = dask.compute(*[
        dask.delayed(_block_stats, pure=True)(xb, yb, sb, classifier)
        for xb, yb, sb in zip(x_blocks, y_blocks, sw_blocks)
    ])
    for key, input_name, dt, estimator_name in (
        ("x", "X", dtype, name), ("y", "y", ya.dtype, None),
        ("sw", "sample_weight", np.float64, None),
    ):
        has_nan = any(s[key][0] for s in stats)
        has_inf = any(s[key][1] for s in stats)
        if has_nan or has_inf:
            _raise_not_finite(has_nan, dt, input_name, estimator_name)
    if swa is not None and not any(s["sw_nonzero"] for s in stats):
        # check_sample_weight's error, before anything changes (in memory too)
        raise ValueError("Sample weights must contain at least one non-zero number.")
    weight_sum = sum(s["weight"] for s in stats)

    est.n_features_in_ = Xk.shape[1]
    if not classifier:
        mins = [s["y_min"] for s in stats if "y_min" in s]
        if est.loss == "poisson" and mins and min(mins) < 0:
            raise ValueError(
                "Some value(s) of y are negative which is not allowed for "
                "Poisson regression."
            )
        Y = ya.map_blocks(_target_block, dtype, dtype=dtype,
                          chunks=(ya.chunks[0], (1 if ya.ndim == 1 else ya.shape[1],)),
                          new_axis=1 if ya.ndim == 1 else None)
        sw = swa.map_blocks(_weight_block, dtype, dtype=dtype) if swa is not None else None
        Y, sw = dask.persist(Y, sw) if sw is not None else (dask.persist(Y)[0], None)
        return _Prepared(Xk, Y, sw, dtype, keep=(ya, swa), weight_sum=weight_sum)

    all_labels = np.concatenate([s["labels"][0] for s in stats])
    classes = np.unique(all_labels)
    if ya.ndim == 2:
        # a label binarizer fitted on a stand-in with y's values and columns
        # says what sklearn says of y (multilabel, or refused)
        stand_in = np.tile(classes.reshape(-1, 1), (1, ya.shape[1])).astype(ya.dtype)
    else:
        stand_in = classes
    if first_pass or not hasattr(est, "classes_"):
        lb = LabelBinarizer()
        lb.fit(stand_in)
        est._label_binarizer = lb
        est.classes_ = lb.classes_
    elif est.warm_start and set(classes) != set(est.classes_) and ya.ndim == 1:
        raise ValueError(
            "warm_start can only be used where `y` has the same classes as in the "
            f"previous call to fit. Previously got {est.classes_}, `y` has {classes}"
        )
    lb = est._label_binarizer
    Y = ya.map_blocks(
        _binarize_block, lb.y_type_, lb.classes_, dtype, dtype=dtype,
        chunks=(ya.chunks[0], (1 if lb.y_type_ == "binary" else len(lb.classes_),)),
        new_axis=1 if ya.ndim == 1 else None,
    )
    sw = swa.map_blocks(_weight_block, dtype, dtype=dtype) if swa is not None else None
    class_weight = getattr(est, "class_weight", None)
    if class_weight is not None:
        if ya.ndim == 2:
            raise ValueError("class_weight with a 2-D y (multilabel) is not supported "
                             "on Dask input; pass sample_weight instead")
        counts = np.zeros(len(classes), dtype=np.int64)
        for s in stats:
            labels, c = s["labels"]
            counts[np.searchsorted(classes, labels)] += c
        if isinstance(class_weight, dict):
            # classes missing from the dict weigh 1 (with_class_weight)
            per_class = np.array([float(class_weight.get(c, 1.0)) for c in classes])
        else:  # "balanced": sklearn's compute_class_weight
            per_class = counts.sum() / (len(classes) * counts.astype(np.float64))
        sw = da.map_blocks(_label_weights, ya, classes, per_class, swa, dtype,
                           dtype=dtype)
        weight_sum = sum(float(per_class[np.searchsorted(classes, s["labels"][0])]
                               @ s["label_weight"]) for s in stats)
    Y, sw = dask.persist(Y, sw) if sw is not None else (dask.persist(Y)[0], None)
    return _Prepared(Xk, Y, sw, dtype, keep=(ya, swa), weight_sum=weight_sum)


def _named_2d_array(est, X, reset):
    """X as a 2-D Dask array with all columns in one chunk, after sklearn's
    feature-name check (a Dask DataFrame's names read from its pandas meta)."""
    _check_feature_names(est, X._meta if hasattr(X, "columns") else None, reset=reset)
    Xa = _columns_as_one_chunk(_as_dask_array(X))
    if Xa.ndim != 2:
        raise ValueError(f"Expected a 2-D Dask array for X, got {Xa.ndim} dimension(s).")
    return Xa
