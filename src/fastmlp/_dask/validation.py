"""A validation set on Dask (fit's X_val, y_val, sample_weight_val as Dask
collections beside a Dask X): checked in one pass over its persisted
partitions, then evaluated with one reduction per epoch or L-BFGS
iteration: each partition's weighted loss and score sums, added on the
client."""

import numpy as np
from sklearn.base import is_classifier

from fastmlp._dask.blocks import _block_stats, _kernel_block, _raise_not_finite
from fastmlp._dask.blockwise import _without_callbacks
from fastmlp._dask.detect import is_dask
from fastmlp._dask.prepare import _as_dask_array, _known_chunks, _like_rows, _named_2d_array
from fastmlp._validation import ValidationSet, combine_sums


def _block_sums(model, Xb, yb, swb):
    """One partition's sums (ValidationSet.sums) with the model's weights."""
    if Xb.shape[0] == 0:  # an empty partition adds nothing
        zeros = np.zeros(model.n_outputs_)
        return dict(loss=0.0, w=0.0, finite=True, hits=0.0, ss_res=zeros, wy=zeros,
                    wyy=zeros)
    y, Y = model._validation_targets(np.asarray(yb))
    sw = None if swb is None else np.asarray(swb, dtype=np.float64)
    return ValidationSet(Xb, y, Y, sw).sums(model)


class DaskValidationSet:
    """ValidationSet's evaluate over persisted Dask partitions."""

    announce = True

    def __init__(self, X, y, sw):
        self.keep = (X, y, sw)  # the persisted arrays: their partitions stay while held
        self.blocks = list(zip(X.to_delayed().ravel(), y.to_delayed().ravel(),
                               sw.to_delayed().ravel() if sw is not None
                               else [None] * X.numblocks[0]))

    def evaluate(self, est, verbose=False):
        import dask

        model = dask.delayed(_without_callbacks(est), pure=True)
        sums = dask.compute(*[dask.delayed(_block_sums, pure=True)(model, xb, yb, sb)
                              for xb, yb, sb in self.blocks])
        loss, score = combine_sums(est, sums)
        if verbose:
            print("Validation loss = %.8f, score = %f" % (loss, score))
        return loss, score


def validation_set(est, X_val, y_val, sample_weight_val, data):
    """The validation set fit was given on Dask, checked as the in-memory one
    (fastmlp._validation.check_validation_set), persisted."""
    import dask

    if X_val is None or y_val is None:
        raise ValueError("X_val and y_val must both be provided.")
    if not data.on_dask or not is_dask(X_val):
        raise ValueError("X_val, y_val and sample_weight_val may be Dask collections only "
                         "when X is one too; pass X_val as a Dask array or DataFrame.")
    Xa = _named_2d_array(est, X_val, reset=False)
    if Xa.shape[1] != est.n_features_in_:
        raise ValueError(f"X_val has {Xa.shape[1]} features, but {type(est).__name__} is "
                         f"expecting {est.n_features_in_} features as input.")
    Xk, = _known_chunks(Xa.map_blocks(_kernel_block, data.dtype, dtype=data.dtype))
    ya = _like_rows(_known_chunks(_as_dask_array(y_val))[0] if is_dask(y_val) else y_val, Xk)
    swa = sample_weight_val
    if is_dask(swa):
        swa = _known_chunks(_as_dask_array(swa))[0]
    swa = _like_rows(swa, Xk)
    lengths = [Xk.shape[0], ya.shape[0]] + ([] if swa is None else [swa.shape[0]])
    if len(set(lengths)) > 1:
        raise ValueError(
            "Found input variables with inconsistent numbers of samples: %r" % lengths)
    Xk, ya, swa = dask.persist(Xk, ya, swa)
    sw_blocks = swa.to_delayed().ravel() if swa is not None else [None] * Xk.numblocks[0]
    stats = dask.compute(*[
        dask.delayed(_block_stats, pure=True)(xb, yb, sb, is_classifier(est))
        for xb, yb, sb in zip(Xk.to_delayed().ravel(), ya.to_delayed().ravel(), sw_blocks)])
    for key, name, dt in (("x", "X_val", data.dtype), ("y", "y_val", ya.dtype),
                          ("sw", "sample_weight_val", np.float64)):
        if any(s[key][0] or s[key][1] for s in stats):
            _raise_not_finite(any(s[key][0] for s in stats), dt, name)
    if swa is not None and not sum(s["weight"] for s in stats) > 0:
        raise ValueError("sample_weight_val must sum to a positive number.")
    if is_classifier(est):
        # the labels held against y's classes, on a stand-in with them all
        labels = np.unique(np.concatenate([s["labels"][0] for s in stats]))
        est._validation_targets(labels if ya.ndim == 1 else
                                np.tile(labels.reshape(-1, 1), (1, ya.shape[1])))
    elif est.loss == "poisson" and min(s.get("y_min", 0) for s in stats) < 0:
        raise ValueError("Some value(s) of y_val are negative which is not allowed "
                         "for Poisson regression.")
    n_out = 1 if ya.ndim == 1 else ya.shape[1]
    if not is_classifier(est) and n_out != data.n_outputs:
        raise ValueError(f"y_val has {n_out} output(s), but y has {data.n_outputs}.")
    return DaskValidationSet(Xk, ya, swa)
