"""sgd/adam on Dask: the model travels to the data.

Every epoch visits the training blocks in an order drawn from the fit's
RandomState; a task trains the model on one block where the block lives (one
``partial_fit`` step over its rows: sklearn's shuffling and minibatches
inside the block) and hands the model, with its optimizer state and
RandomState, on to the next block's task. The client sees the model once per
epoch.
"""

import warnings

import numpy as np

from fastmlp._dask.predict import _score_arrays
from fastmlp._network import as_kernel_input
from fastmlp._threads import BLAS_LIMIT


def _train_on_block(model, Xb, Yb, swb, layer_units):
    """One partial_fit step of model over a block (its rows shuffled and cut
    into minibatches as sklearn's partial_fit does), where the block lives.
    Returns the model, its optimizer state and RandomState moved on, and the
    step's loss, read here: the model is updated in place, so a task reading
    it later could see a later block's loss (the threaded scheduler shares
    it). An empty block has no rows to weigh its loss: 0."""
    n = Xb.shape[0]
    if n == 0:
        return model, 0.0
    Xk = as_kernel_input(Xb, Yb.dtype)
    with BLAS_LIMIT:
        model._fit_stochastic(Xb, Xk, Yb, swb, layer_units, incremental=True)
    return model, model.loss_


def fit_stochastic(est, data, layer_units, initialize=None, progress=None):
    """The epoch loop of sgd/adam over the blocks of data (see the module's
    docstring); the stopping rules and early stopping as in memory, per epoch.

    What is drawn from the fit's RandomState, in this order: the held-out
    blocks (early_stopping), the first epoch's block order, the initial
    weights (initialize, None under warm_start), then per block the
    shuffling inside it (partial_fit's) and per later epoch its block order.
    So without early stopping the weights are those of
    ``order = rs.permutation(n_blocks)`` and ``partial_fit`` over the blocks
    in that order, epoch after epoch, with one shared RandomState ``rs``.
    """
    import dask

    from fastmlp._stochastic import (
        EpochSettings,
        StochasticOptimizerState,
        TrainingRecord,
        _update_no_improvement_count,
    )
    from sklearn.exceptions import ConvergenceWarning

    rs = est._random_state
    n_blocks = len(data.x_blocks)
    n_params = sum(a * b + b for a, b in zip(layer_units[:-1], layer_units[1:]))
    blocks = np.arange(n_blocks)
    val_blocks = None
    if est.early_stopping:
        # whole blocks held out, drawn from the fit's RandomState
        n_val = int(round(est.validation_fraction * n_blocks))
        if n_val < 1 or n_val >= n_blocks:
            raise ValueError(
                "Early stopping on Dask input holds out whole blocks: with "
                f"{n_blocks} block(s) and validation_fraction={est.validation_fraction} "
                "there is no validation block or no training block; use more blocks."
            )
        perm = rs.permutation(n_blocks)
        val_blocks = np.sort(perm[:n_val])
        blocks = np.sort(perm[n_val:])
    first_order = rs.permutation(blocks) if est.shuffle else blocks
    if initialize is not None:
        initialize()
    est._optimizer = StochasticOptimizerState(
        n_params, data.dtype, solver=est.solver,
        learning_rate_init=est.learning_rate_init, learning_rate=est.learning_rate,
        momentum=est.momentum, nesterovs_momentum=est.nesterovs_momentum,
        power_t=est.power_t, beta_1=est.beta_1, beta_2=est.beta_2, epsilon=est.epsilon,
    )
    n_train = int(sum(data.rows[b] for b in blocks))
    settings = EpochSettings(
        activation=est.activation, out_activation=est.out_activation_, alpha=est.alpha,
        batch_size=est.batch_size, max_iter=est.max_iter, shuffle=est.shuffle,
        tol=est.tol, n_iter_no_change=est.n_iter_no_change,
        early_stopping=est.early_stopping, validation_fraction=est.validation_fraction,
        verbose=est.verbose, incremental=False,
    )
    record = TrainingRecord(
        t=est.t_, loss=None, loss_curve=[], no_improvement_count=0,
        best_loss=est.best_loss_, validation_scores=est.validation_scores_,
        best_validation_score=est.best_validation_score_,
        best_coefs=est._best_coefs, best_intercepts=est._best_intercepts,
    )
    if val_blocks is not None:
        # scored where they live, as the model's score on Dask input
        X_val = _concat_blocks(data.X, val_blocks)
        y_val = _concat_blocks(data.keep[0], val_blocks)  # labels as fit got them
        sw_val = _concat_blocks(data.sw, val_blocks) if data.sw is not None else None

    # the model that travels: the estimator's training state, without early
    # stopping (the client does that per epoch) or a stopping rule per block
    model = _travelling_model(est)
    hooks = progress is not None and progress.per_step

    def state():
        # the model after the epochs so far, for callbacks that ask for it
        out = dict(coefs_=[c.copy() for c in model.coefs_],
                   intercepts_=[b.copy() for b in model.intercepts_],
                   n_iter_=len(record.loss_curve))
        if record.loss is not None:
            out["loss_"] = record.loss
        return out

    for epoch in range(settings.max_iter):
        if hooks:
            progress.begin(state)
        if epoch == 0:
            order = first_order
        else:
            order = rs.permutation(blocks) if settings.shuffle else blocks
        model._random_state = rs
        model._no_improvement_count = 0
        model.best_loss_ = np.inf
        model.loss_curve_ = []
        step = model
        losses = []
        for b in order:
            step, loss = dask.delayed(_train_on_block, pure=False, nout=2)(
                step, data.x_blocks[b], data.y_blocks[b], data.sw_blocks[b], layer_units)
            losses.append(loss)
        model, block_losses = dask.compute(step, losses)
        rs = model._random_state
        n_rows = [data.rows[b] for b in order]
        record.loss = np.float64(
            sum(float(l) * r for l, r in zip(block_losses, n_rows) if r) / n_train)
        record.t = model.t_
        record.loss_curve.append(record.loss)
        if settings.verbose:
            print("Iteration %d, loss = %.8f" % (len(record.loss_curve), record.loss))
        optimizer = model._optimizer

        def validation_score():
            return _score_arrays(model, X_val, y_val, sw_val)

        _update_no_improvement_count(record, settings, model.coefs_, model.intercepts_,
                                     validation_score)
        stop_requested = hooks and progress.end(state)
        if record.no_improvement_count > settings.n_iter_no_change:
            if settings.early_stopping:
                msg = ("Validation score did not improve more than tol=%f for %d "
                       "consecutive epochs." % (settings.tol, settings.n_iter_no_change))
            else:
                msg = ("Training loss did not improve more than tol=%f for %d "
                       "consecutive epochs." % (settings.tol, settings.n_iter_no_change))
            if optimizer.trigger_stopping(msg, settings.verbose):
                break
            record.no_improvement_count = 0
        if stop_requested:
            break
        if len(record.loss_curve) == settings.max_iter:
            warnings.warn(
                "Stochastic Optimizer: Maximum iterations (%d) reached and the "
                "optimization hasn't converged yet." % settings.max_iter,
                ConvergenceWarning,
            )
    coefs, intercepts = model.coefs_, model.intercepts_
    if settings.early_stopping:
        coefs, intercepts = record.best_coefs, record.best_intercepts
    est.coefs_, est.intercepts_ = coefs, intercepts
    est._optimizer = model._optimizer
    est._random_state = rs
    est.n_iter_ = len(record.loss_curve)
    est._apply_record(record)


def _travelling_model(est):
    import copy

    model = copy.copy(est)
    # sklearn's callbacks stay on the client (the epochs' hooks run there)
    for name in [n for n in vars(model) if "callback" in n]:
        delattr(model, name)
    model.early_stopping = False
    model.verbose = False
    model.validation_scores_ = None
    model.best_validation_score_ = None
    return model


def _concat_blocks(a, blocks):
    """The given blocks of a persisted Dask array, as one Dask array (the
    held-out blocks of early stopping; they stay where they are)."""
    import dask.array as da

    return da.concatenate([a.blocks[int(b)] for b in blocks])
