"""Dask input: L-BFGS over per-partition sums, block-wise sgd/adam, lazy predict.

One job per module: ``detect`` (is an input a Dask collection; imports no
Dask), ``prepare`` and ``blocks`` (the data checked, binarized and persisted
once per fit), ``objective`` (the L-BFGS objective: per-partition sums),
``blockwise`` (sgd/adam epochs, the model travelling from block to block),
``predict`` (lazy block-wise predict, cluster-side score), ``validation``
(a validation set given as Dask collections). Nothing in this
package imports Dask before such an input arrives. This module: the cluster
the fit runs on, and the version check of its workers.
"""

import sys

from fastmlp._dask.blockwise import fit_blockwise, plan_blocks, validation_scorer
from fastmlp._dask.detect import any_dask, is_dask

# the workers' caches, as the package's names (the tests read them through it)
from fastmlp._dask.objective import _DATASETS as _DATASETS
from fastmlp._dask.objective import _WORKSPACES as _WORKSPACES
from fastmlp._dask.objective import DaskObjective
from fastmlp._dask.predict import predict, score
from fastmlp._dask.prepare import _prepare
from fastmlp._dask.validation import validation_set
from fastmlp._version import __version__


def _client():
    """The dask.distributed Client that dask.compute would use now, or None
    (dask's local schedulers, or a scheduler set by dask.config)."""
    if "distributed" not in sys.modules:
        return None
    from dask.base import get_scheduler
    from distributed import Client

    client = getattr(get_scheduler(), "__self__", None)
    return client if isinstance(client, Client) else None


def _worker_version():
    return __version__


def _check_worker_versions(client):
    """Every worker must run the client's fastmlp (the tasks call its kernels
    and unpickle its objects); checked once per fit."""
    try:
        versions = client.run(_worker_version)
    except Exception as exc:
        raise RuntimeError(
            f"fastmlp could not run on the Dask workers ({type(exc).__name__}: {exc}); "
            f"install fastmlp {__version__} on every worker"
        ) from exc
    if not versions:
        raise RuntimeError("The Dask cluster has no workers.")
    wrong = {w: v for w, v in versions.items() if v != __version__}
    if wrong:
        raise RuntimeError(
            f"The Dask workers must run the client's fastmlp {__version__}; these run "
            f"another version: {wrong}"
        )


def prepare(est, X, y, sample_weight, first_pass, dtype_of=None):
    """The fit's data on the cluster (prepare._prepare), after checking the
    workers' fastmlp: everything checked before the model changes."""
    client = _client()
    if client is not None:
        _check_worker_versions(client)
    data = _prepare(est, X, y, sample_weight, first_pass, dtype_of)
    data.client = client
    return data


__all__ = [
    "DaskObjective", "any_dask", "fit_blockwise", "is_dask", "plan_blocks", "predict",
    "prepare", "score", "validation_scorer", "validation_set",
]
