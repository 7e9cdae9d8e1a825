"""est.fit on Dask input."""

import numpy as np
from sklearn.utils import check_random_state

from fastmlp._callbacks import FitProgress
from fastmlp._dask.blockwise import fit_stochastic
from fastmlp._dask.objective import DaskObjective
from fastmlp._dask.prepare import _prepare
from fastmlp._network import make_layout
from fastmlp._threads import BLAS_LIMIT


def _layer_units(est, n_features, n_outputs):
    return [n_features] + est._hidden_sizes() + [n_outputs]


def fit(est, X, y, sample_weight=None):
    """est.fit on Dask input (L-BFGS, sgd or adam); returns est."""
    from fastmlp._base import STOCHASTIC_SOLVERS

    from fastmlp import _dask

    client = _dask._client()
    if client is not None:
        _dask._check_worker_versions(client)
    first_pass = not hasattr(est, "coefs_") or not est.warm_start
    data = _prepare(est, X, y, sample_weight, first_pass)
    dtype = data.dtype
    n_outputs = data.Y.shape[1]
    layer_units = _layer_units(est, data.X.shape[1], n_outputs)
    est.n_outputs_ = n_outputs
    est._random_state = check_random_state(est.random_state)
    stochastic = est.solver in STOCHASTIC_SOLVERS

    def initialize():
        est._initialize(np.empty((0, n_outputs)), layer_units, dtype)

    shapes = list(zip(layer_units[:-1], layer_units[1:]))
    if first_pass and not stochastic:
        initialize()
    elif not first_pass and [c.shape for c in est.coefs_] != shapes:
        raise ValueError(
            "The network shape changed since the last fit: hidden_layer_sizes "
            "or the number of features or outputs differ."
        )
    # sklearn's callbacks see the data as fit got it (the Dask collections)
    progress = FitProgress.start(
        est, X, y, sample_weight, task_name="epoch" if stochastic else "lbfgs-iter",
        max_subtasks=est.max_iter if stochastic else est.max_iter + 1,
    )
    with BLAS_LIMIT:
        if stochastic:
            # the weights are drawn after the first epoch's block order, as
            # the first of a sequence of partial_fit calls draws them
            fit_stochastic(est, data, layer_units, initialize if first_pass else None,
                           progress)
        else:
            spec = (tuple(layer_units), est.activation, est.out_activation_, dtype.str)
            layout = make_layout(layer_units, est.activation, est.out_activation_, dtype)
            objective = DaskObjective(data, layout, spec, est.alpha, client)
            try:
                est._run_lbfgs(objective, layout, dtype, progress)
            finally:
                objective.close()
    est._check_weights_finite()
    if progress is not None:
        progress.finish()
    return est
