"""A validation set: checked as fit checks its data, and evaluated after each
epoch or L-BFGS iteration (the validation loss and score), with L-BFGS's
early stopping on it.

The set is either the one fit was given (``X_val``, ``y_val``,
``sample_weight_val``: scikit-learn's HistGradientBoosting names) or the
rows ``early_stopping`` holds out of X. One evaluation is one compiled
forward pass (the predict path, with its threads) whose outputs give both
figures: the training loss function on those rows (weighted, no L2 term)
in vectorised NumPy, and the estimator's ``score`` from the same outputs.
"""

from functools import cached_property
from types import SimpleNamespace

import numpy as np
import scipy.sparse as sp
from scipy.special import xlogy
from sklearn.base import is_classifier
from sklearn.utils import _safe_indexing
from sklearn.utils.validation import check_consistent_length, validate_data

from fastmlp._network import unpack
from fastmlp._objective import softmax_figures
from fastmlp._predict import forward
from fastmlp._sample_weight import check_sample_weight


def output_loss(kernel_output, P, Y):
    """Per-row training loss (float64) of outputs P against targets Y, as
    _loss.pxd computes it: kernel_output is the estimator's _kernel_output()."""
    P = np.asarray(P, dtype=np.float64)
    if isinstance(kernel_output, tuple):
        loss, param = kernel_output
        r = P - Y
        a = np.abs(r)
        if loss == "absolute_error":
            per = a
        elif loss == "huber":
            per = np.where(a <= param, 0.5 * r * r, param * (a - 0.5 * param))
        else:
            per = np.where(r <= 0, -param * r, (1 - param) * r)
    elif kernel_output in ("softmax", "logistic"):
        eps = np.finfo(P.dtype).eps
        pc = np.clip(P, eps, 1 - eps)
        per = -xlogy(Y, pc)
        if kernel_output == "logistic":
            per -= xlogy(1 - Y, 1 - pc)
    elif kernel_output == "exp":
        per = xlogy(Y, Y / P) - Y + P
    else:
        per = 0.5 * (P - Y) ** 2
    return per.sum(axis=1)


class ValidationSet:
    """Validation rows ready to evaluate: X as predict reads it, y as score
    takes it (a classifier's labels), Y the targets as the kernels read them
    (binarized), sw the weights or None."""

    def __init__(self, X, y, Y, sw, announce=False):
        self.X, self.y, self.Y, self.sw = X, y, np.asarray(Y, dtype=np.float64), sw
        self.sw_sum = Y.shape[0] if sw is None else float(np.sum(sw, dtype=np.float64))
        # verbose prints the loss of a given set only (the early-stopping
        # split's lines stay scikit-learn's)
        self.announce = announce

    @cached_property
    def columns(self):
        """Each row's class column where every row has one class (a
        multiclass classifier's targets), else None: for _softmax_figures,
        found on the first evaluation (Dask's per-partition sets never ask)."""
        Y = self.Y
        if Y.ndim == 2 and Y.shape[1] > 1 and ((Y == 0) | (Y == 1)).all() \
                and (Y.sum(axis=1) == 1).all():
            return Y.argmax(axis=1)
        return None

    def _softmax_figures(self, out):
        """(loss, score) of softmax outputs: only the class column's term of
        a row's loss is non-zero, and the predicted label is the row's label
        exactly where the largest output is its column. Unweighted, in one
        compiled pass (the score exactly the general one's; the loss summed
        in another order); weighted, in NumPy, both bit for bit."""
        if self.sw is None:
            total, hits = softmax_figures(out, self.columns)
            return total / self.sw_sum, hits / len(out)
        eps = np.finfo(np.float64).eps
        at = np.arange(len(out)) * out.shape[1] + self.columns
        p = np.clip(out.ravel().take(at).astype(np.float64, copy=False), eps, 1 - eps)
        hits = np.argmax(out, axis=1) == self.columns
        return (float(np.dot(self.sw, -np.log(p)) / self.sw_sum),
                float(np.average(hits, weights=self.sw)))

    def evaluate(self, est, verbose=False):
        """(validation loss, score) of est's current coefs_/intercepts_."""
        out = forward(est, self.X, check_input=False)
        kernel_output = est._kernel_output()
        if kernel_output == "softmax" and self.columns is not None:
            loss, score = self._softmax_figures(out)
        else:
            per_row = output_loss(kernel_output, out, self.Y)
            total = per_row.sum() if self.sw is None else np.dot(self.sw, per_row)
            loss, score = float(total / self.sw_sum), est._score_output(out, self.y, self.sw)
        if verbose and self.announce:
            print("Validation loss = %.8f, score = %f" % (loss, score))
        return loss, score

    def sums(self, est):
        """This set's parts of the figures, to add up with other parts
        (combine_sums): weighted loss and weight sums, and the score's."""
        out = forward(est, self.X, check_input=False)
        w = np.ones(len(out)) if self.sw is None else self.sw
        pred = est._decode(out)
        sums = {"loss": float(w @ output_loss(est._kernel_output(), out, self.Y)),
                "w": float(w.sum()),
                # (est._score_output's NaN: a regressor's non-finite predictions)
                "finite": is_classifier(est) or bool(np.isfinite(out).all())}
        if is_classifier(est):
            correct = pred == self.y
            sums["hits"] = float(w @ (correct.all(axis=1) if correct.ndim == 2 else correct))
        else:
            Yt, P = self.Y, out.reshape(len(out), -1)
            sums.update(ss_res=w @ (Yt - P) ** 2, wy=w @ Yt, wyy=w @ Yt ** 2)
        return sums


def combine_sums(est, parts):
    """(loss, score) from the ValidationSet.sums of the parts of a set: the
    score as est.score (R^2 from the weighted moments of y)."""
    w = sum(p["w"] for p in parts)
    loss = sum(p["loss"] for p in parts) / w
    if not all(p["finite"] for p in parts):
        return loss, np.nan
    if is_classifier(est):
        return loss, sum(p["hits"] for p in parts) / w
    ss_res, wy, wyy = (sum(p[k] for p in parts) for k in ("ss_res", "wy", "wyy"))
    ss_tot = wyy - wy ** 2 / w
    # sklearn's r2_score (force_finite), the outputs' scores averaged
    scores = np.ones(ss_res.shape[0])
    valid = (ss_tot != 0) & (ss_res != 0)
    scores[valid] = 1 - ss_res[valid] / ss_tot[valid]
    scores[(ss_res != 0) & (ss_tot == 0)] = 0.0
    return loss, float(np.mean(scores))


def check_validation_set(est, X_val, y_val, sample_weight_val, data):
    """The validation set fit was given, checked as fit checks X, y and
    sample_weight (after them: feature names and classes are known), as a
    ValidationSet in the model's dtype; None when none was given."""
    if X_val is None and y_val is None:
        if sample_weight_val is not None:
            raise ValueError(
                "sample_weight_val is provided, but X_val and y_val were not provided.")
        return None
    if y_val is None:
        raise ValueError("X_val is provided, but y_val was not provided.")
    if X_val is None:
        raise ValueError("y_val is provided, but X_val was not provided.")
    X_val = validate_data(est, X_val, accept_sparse=["csr", "csc"],
                          dtype=(np.float64, np.float32), reset=False)
    X_val = X_val.astype(data.dtype, copy=False)
    if sp.issparse(X_val) and X_val.format != "csr":
        X_val = X_val.tocsr()
    y_val, Y_val = est._validation_targets(y_val)
    check_consistent_length(X_val, y_val)
    if Y_val.shape[1] != data.n_outputs:
        raise ValueError(
            f"y_val has {Y_val.shape[1]} output(s), but y has {data.n_outputs}.")
    sw = None
    if sample_weight_val is not None:
        sw = check_sample_weight(sample_weight_val, X_val, np.float64)
        if not sw.sum() > 0:
            raise ValueError("sample_weight_val must sum to a positive number.")
    return ValidationSet(X_val, y_val, Y_val, sw, announce=True)


def split_or_given(est, data, vset, val_rows):
    """fit_stochastic's validation_scorer: a callable giving the (loss, score)
    of est's weights of the moment on the given set vset (val_rows None) or
    on the held-out rows of data (InMemoryData) as fit got them."""
    if val_rows is not None:
        Y_val = data.Y[val_rows]
        y_val = (est._label_binarizer.inverse_transform(Y_val.astype(bool))
                 if is_classifier(est) else Y_val)
        vset = ValidationSet(_safe_indexing(data.X, val_rows), y_val, Y_val,
                             None if data.sw is None else data.sw[val_rows])
    return lambda: vset.evaluate(est, est.verbose)


class LbfgsValidation:
    """fit_lbfgs's on_iteration for a validation set: evaluates each iterate
    (set as est's coefs_/intercepts_, float64 as an L-BFGS fit's), records the
    figures and, under early_stopping, stops after n_iter_no_change
    iterations without a tol improvement, keeping the best iterate."""

    def __init__(self, est, vset, layout, early_stopping):
        self.est, self.vset = est, vset
        self.record = SimpleNamespace(validation_loss_curve=[], validation_scores=[],
                                      best_validation_score=None)
        self.early_stopping = early_stopping
        self.x = np.empty(layout.n_params, dtype=np.float64)
        self.coefs, self.intercepts = unpack(self.x, layout)
        self.best_x = None
        self.no_improvement_count = 0

    def apply(self, layout):
        """The figures on the estimator after the fit, and under
        early_stopping the best iterate's weights (as sgd/adam's)."""
        est, record = self.est, self.record
        est.validation_loss_curve_ = record.validation_loss_curve
        est.validation_scores_ = record.validation_scores
        est.best_validation_score_ = record.best_validation_score
        if self.early_stopping and self.best_x is not None:
            est.coefs_, est.intercepts_ = unpack(self.best_x, layout)

    def attributes(self):
        """The figures so far, as the fitted attributes (for callbacks)."""
        record = self.record
        return dict(validation_loss_curve_=list(record.validation_loss_curve),
                    validation_scores_=list(record.validation_scores),
                    best_validation_score_=record.best_validation_score)

    def __call__(self, x, n_iter, loss):
        est, record = self.est, self.record
        self.x[...] = x
        est.coefs_, est.intercepts_ = self.coefs, self.intercepts
        val_loss, score = self.vset.evaluate(est, est.verbose)
        record.validation_loss_curve.append(val_loss)
        record.validation_scores.append(score)
        best = record.best_validation_score
        self.no_improvement_count = (
            self.no_improvement_count + 1 if best is not None and score < best + est.tol else 0)
        if best is None or score > best:
            record.best_validation_score = score
            self.best_x = self.x.copy()
        if not self.early_stopping:
            return False
        if self.no_improvement_count > est.n_iter_no_change:
            if est.verbose:
                print("Validation score did not improve more than tol=%f for %d "
                      "consecutive iterations. Stopping." % (est.tol, est.n_iter_no_change))
            return True
        return False
