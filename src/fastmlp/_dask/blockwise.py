"""sgd/adam on Dask: the model travels to the data.

Every epoch visits the training blocks in an order drawn from the fit's
RandomState; a task trains the model on one block where the block lives (one
``partial_fit`` step over its rows: sklearn's shuffling and minibatches
inside the block, ``_stochastic.fit_stochastic`` with ``incremental``) and
hands the packed weights, the optimizer state, the RandomState and the
block's record on to the next block's task. The client sees them once per
epoch and runs the per-epoch step of the in-memory loop
(``_stochastic.end_epoch``).
"""

import copy
import dataclasses
import warnings

import numpy as np

from fastmlp._dask.predict import _score_arrays
from fastmlp._network import as_kernel_input, unpack_units
from fastmlp._stochastic import (
    StochasticResult,
    TrainingRecord,
    WeightsSumToZero,
    end_epoch,
    fit_stochastic,
)
from fastmlp._threads import BLAS_LIMIT


def plan_blocks(n_blocks, random_state, *, early_stopping, validation_fraction, shuffle):
    """The draws made before the initial weights, as the first of a sequence
    of partial_fit calls over the blocks draws them: the held-out blocks
    (early_stopping), then the first epoch's block order. Returns (training
    blocks, held-out blocks or None, first order)."""
    blocks = np.arange(n_blocks)
    val_blocks = None
    if early_stopping:
        # whole blocks held out, drawn from the fit's RandomState
        n_val = round(validation_fraction * n_blocks)
        if n_val < 1 or n_val >= n_blocks:
            raise ValueError(
                "Early stopping on Dask input holds out whole blocks: with "
                f"{n_blocks} block(s) and validation_fraction={validation_fraction} "
                "there is no validation block or no training block; use more blocks."
            )
        perm = random_state.permutation(n_blocks)
        val_blocks = np.sort(perm[:n_val])
        blocks = np.sort(perm[n_val:])
    first_order = random_state.permutation(blocks) if shuffle else blocks
    return blocks, val_blocks, first_order


def _train_on_block(state, Xb, Yb, swb, layer_units, settings):
    """One partial_fit step over a block, where the block lives: state is
    (packed weights, optimizer state, RandomState, the epoch's record so far),
    returned moved on, with the step's loss. A block that has nothing to
    learn from (no rows, or sample weights all zero) is skipped: loss None.
    Its rows still count in t, as an in-memory epoch counts every row."""
    params, optimizer, random_state, record = state
    if Xb.shape[0] == 0:
        return state, None
    if swb is not None and not np.any(swb):
        # in memory such rows mix into minibatches with weighted rows; here
        # every minibatch of the block would weigh zero
        record = dataclasses.replace(record, t=record.t + Xb.shape[0])
        return (params, optimizer, random_state, record), None
    Xk = as_kernel_input(Xb, Yb.dtype)
    with BLAS_LIMIT:
        result = fit_stochastic(Xk, Yb, swb, params, layer_units, settings, optimizer,
                                random_state, record)
    return (params, optimizer, random_state, result.record), result.record.loss


def _epoch_record(t):
    """A block step's record at the start of an epoch: the blocks of an epoch
    are a sequence of partial_fit calls on a model with no loss curve yet."""
    return TrainingRecord(
        t=t, loss=None, loss_curve=[], no_improvement_count=0, best_loss=np.inf,
        validation_scores=None, best_validation_score=None, best_coefs=None,
        best_intercepts=None,
    )


def _epoch_loss(block_losses, n_rows):
    """The epoch's loss: the row-weighted mean of the losses of the blocks it
    trained on (skipped blocks, loss None, left out)."""
    trained = [(float(loss), r) for loss, r in zip(block_losses, n_rows) if loss is not None]
    if not trained:
        # every training block weighs zero (the held-out blocks hold the
        # weighted rows): no minibatch can be normalised, as in memory
        raise WeightsSumToZero(
            "Weights sum to zero, can't be normalized: the sample weights of every "
            "training block are zero.")
    return np.float64(sum(loss * r for loss, r in trained) / sum(r for _, r in trained))


def fit_blockwise(data, params, layer_units, settings, optimizer, random_state, record,
                  plan, *, validation_scorer=None, given_validation=False, progress=None):
    """_stochastic.fit_stochastic's contract over the blocks of data (a
    prepare._Prepared): params, optimizer and random_state end as the epochs
    left them (params once per epoch), record is not modified, and the
    result is a StochasticResult. plan: plan_blocks's draws.
    validation_scorer(held-out blocks) returns a callable giving the current
    weights' (loss, score) on them (early_stopping), or (given_validation:
    None) on the set fit was given.

    What is drawn from the fit's RandomState, in this order: plan_blocks's
    draws, the initial weights (by the caller), then per block the shuffling
    inside it (partial_fit's) and per later epoch its block order. So without
    early stopping the weights are those of ``order = rs.permutation(n_blocks)``
    and ``partial_fit`` over the blocks in that order, epoch after epoch, with
    one shared RandomState ``rs``.

    A block whose sample weights are all zero is skipped (_train_on_block).
    Ctrl-C ends the fit with the epochs finished so far, with sklearn's
    "Training interrupted by user." warning, as in memory.
    """
    import dask

    blocks, val_blocks, first_order = plan
    record = TrainingRecord(**vars(record))
    record.loss_curve = list(record.loss_curve)
    for name in ("validation_scores", "validation_loss_curve"):
        if getattr(record, name) is not None:
            setattr(record, name, list(getattr(record, name)))
    validation = (validation_scorer(None) if given_validation else
                  validation_scorer(val_blocks) if settings.early_stopping else None)
    # a block's step: partial_fit's, with the stopping rules left to the client
    block_settings = dataclasses.replace(
        settings, early_stopping=False, verbose=False, incremental=True)
    coefs, intercepts = unpack_units(params, layer_units)
    hooks = progress is not None and progress.per_step
    n_iter = 0

    def state():
        # the model after the epochs so far, for callbacks that ask for it
        out = dict(coefs_=[c.copy() for c in coefs],
                   intercepts_=[b.copy() for b in intercepts], n_iter_=n_iter)
        if record.loss is not None:
            out["loss_"] = record.loss
        return out

    try:
        for epoch in range(settings.max_iter):
            if hooks:
                progress.begin(state)
            if epoch == 0:
                order = first_order
            else:
                order = random_state.permutation(blocks) if settings.shuffle else blocks
            step = (params.copy(), copy.deepcopy(optimizer), random_state,
                    _epoch_record(record.t))
            losses = []
            for b in order:
                step, loss = dask.delayed(_train_on_block, pure=False, nout=2)(
                    step, data.x_blocks[b], data.y_blocks[b], data.sw_blocks[b],
                    layer_units, block_settings)
                losses.append(loss)
            # the model changes only once a whole epoch is back (Ctrl-C while
            # waiting keeps the epochs before it)
            step, block_losses = dask.compute(step, losses)
            new_params, new_optimizer, new_random_state, block_record = step
            record.loss = _epoch_loss(block_losses, [data.rows[b] for b in order])
            params[...] = new_params
            vars(optimizer).update(vars(new_optimizer))
            if new_random_state is not random_state:  # it came back from a worker
                random_state.set_state(new_random_state.get_state())
            n_iter += 1
            record.t = block_record.t
            if end_epoch(record, settings, optimizer, n_iter, coefs, intercepts,
                         validation, progress if hooks else None, state):
                break
    except KeyboardInterrupt:
        warnings.warn("Training interrupted by user.")
    if settings.early_stopping:
        coefs, intercepts = record.best_coefs, record.best_intercepts
    return StochasticResult(coefs, intercepts, n_iter, record)


def _without_callbacks(est):
    """A shallow copy of est for the graph: sklearn's callbacks stay on the
    client."""
    model = copy.copy(est)
    for name in [n for n in vars(model) if "callback" in n]:
        delattr(model, name)
    return model


def validation_scorer(est, data):
    """fit_blockwise's validation_scorer for est: the held-out blocks scored
    where they live, as the model's score on Dask input, with est's weights
    at the time of the call."""
    def scorer(val_blocks):
        X_val = _concat_blocks(data.X, val_blocks)
        y_val = _concat_blocks(data.keep[0], val_blocks)  # labels as fit got them
        sw_val = _concat_blocks(data.sw, val_blocks) if data.sw is not None else None
        # (loss, score), as end_epoch takes them; the loss is not computed here
        return lambda: (None, _score_arrays(_without_callbacks(est), X_val, y_val, sw_val))
    return scorer


def _concat_blocks(a, blocks):
    """The given blocks of a persisted Dask array, as one Dask array (the
    held-out blocks of early stopping; they stay where they are)."""
    import dask.array as da

    return da.concatenate([a.blocks[int(b)] for b in blocks])
