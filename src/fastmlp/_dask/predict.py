"""Predict on Dask input: lazy Dask arrays, one in-memory predict per block;
score computed on the cluster."""

import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.base import is_classifier
from sklearn.utils.validation import check_is_fitted

from fastmlp._dask.detect import is_dask
from fastmlp._dask.prepare import _as_dask_array, _known_chunks, _like_rows, _named_2d_array


def _predict_block(block, model, method, tail, out_dtype):
    if block.shape[0] == 0:
        return np.empty((0,) + tail, dtype=out_dtype)
    with warnings.catch_warnings():
        # the feature names were checked on the client, against the DataFrame
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        return getattr(model, method)(block)


def _check_X_for_predict(est, X):
    check_is_fitted(est)
    Xa = _named_2d_array(est, X, reset=False)
    if Xa.shape[1] != est.n_features_in_:
        raise ValueError(
            f"X has {Xa.shape[1]} features, but {type(est).__name__} is expecting "
            f"{est.n_features_in_} features as input."
        )
    return Xa


def predict(est, X, method):
    """getattr(est, method)(X) for a Dask X: a lazy Dask array, one in-memory
    call per block where the block lives (empty blocks give empty results)."""
    return _predict_array(est, _check_X_for_predict(est, X), method)


def _predict_array(est, Xa, method):
    """predict on a checked 2-D Dask array (its columns in one chunk)."""
    import dask

    # the output's dtype and columns, from one row on the client
    x_dtype = np.float32 if Xa.dtype == np.float32 else np.float64
    if sp.issparse(Xa._meta):
        one = sp.csr_matrix((1, Xa.shape[1]), dtype=x_dtype)
    else:
        one = np.zeros((1, Xa.shape[1]), dtype=x_dtype)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        sample = getattr(est, method)(one)
    tail = sample.shape[1:]
    # the model goes into the graph once, not once per block
    model = dask.delayed(est, pure=True)
    kwargs = dict(dtype=sample.dtype, meta=np.empty((0,) * sample.ndim, sample.dtype))
    if sample.ndim == 1:
        return Xa.map_blocks(_predict_block, model, method, tail, sample.dtype,
                             drop_axis=1, chunks=(Xa.chunks[0],), **kwargs)
    return Xa.map_blocks(_predict_block, model, method, tail, sample.dtype,
                         chunks=(Xa.chunks[0], tail), **kwargs)


def score(est, X, y, sample_weight=None):
    """est.score for Dask input: accuracy (classifier) or R^2 (regressor),
    computed on the cluster; a float."""
    Xa = _check_X_for_predict(est, X)
    Xa, = _known_chunks(Xa)
    ya = _like_rows(_known_chunks(_as_dask_array(y))[0] if is_dask(y) else y, Xa)
    swa = sample_weight
    if is_dask(swa):
        swa = _known_chunks(_as_dask_array(swa))[0]
    swa = _like_rows(swa, Xa)
    return _score_arrays(est, Xa, ya, swa)


def _score_arrays(est, Xa, ya, swa):
    """score on checked Dask arrays whose row chunks line up."""
    import dask
    import dask.array as da

    pred = _predict_array(est, Xa, "predict")
    if ya.ndim == 2 and ya.shape[1] == 1 and pred.ndim == 1:
        ya = ya[:, 0]
    w = swa.astype(np.float64) if swa is not None else da.ones(
        Xa.shape[0], chunks=Xa.chunks[0], dtype=np.float64)
    if is_classifier(est):
        correct = pred == ya
        if correct.ndim == 2:
            correct = correct.all(axis=1)
        hits, total = dask.compute((correct * w).sum(), w.sum())
        return float(hits / total)
    Yt = ya.reshape((-1, 1)) if ya.ndim == 1 else ya
    P = pred.reshape((-1, 1)) if pred.ndim == 1 else pred
    Yt = Yt.astype(np.float64)
    wc = w[:, None]
    w_sum = w.sum()
    mean = (wc * Yt).sum(axis=0) / w_sum
    ss_res = (wc * (Yt - P) ** 2).sum(axis=0)
    ss_tot = (wc * (Yt - mean) ** 2).sum(axis=0)
    finite = da.isfinite(P).all()
    ss_res, ss_tot, finite = dask.compute(ss_res, ss_tot, finite)
    if not finite:
        return np.nan
    # sklearn's r2_score (force_finite): a perfect fit scores 1, a constant
    # target with errors 0; the outputs' scores averaged uniformly
    scores = np.ones(ss_res.shape[0])
    valid = (ss_tot != 0) & (ss_res != 0)
    scores[valid] = 1 - ss_res[valid] / ss_tot[valid]
    scores[(ss_res != 0) & (ss_tot == 0)] = 0.0
    return float(np.mean(scores))
