"""L-BFGS on Dask: the objective as a sum over the partitions.

scipy's L-BFGS-B runs on the client over the same packed vector as in
memory. An evaluation sends the parameters to the cluster once (the argument
of one task that the partitions' tasks depend on; on dask's local schedulers
they are passed by reference), runs one task per partition where the
partition lives (the compiled loss and gradient over its rows, with no
penalty and no normalisation: the unnormalised sums and the partition's
weight sum) and adds the results on the client in partition order, so that
the sums do not depend on the number of workers or on the order in which
tasks finish. The client then adds the L2 term and divides by the weight
sum, as ``Workspace.loss_grad`` does in memory.

A worker keeps each (fit, thread)'s Layout and Workspace between evaluations
(``_WORKSPACES``), and each partition's checked Dataset (``_DATASETS``), and
gives each task the OpenMP threads ``_threads.dask_task_threads`` allows, so
that the tasks running at once on a worker never use more threads than the
worker has.
"""

import threading
import time
import uuid
from collections import OrderedDict

import numpy as np

from fastmlp._network import (
    as_kernel_input,
    chunk_rows,
    make_dataset,
    make_layout,
    make_threaded_workspace,
    nnz_per_row,
)
from fastmlp._stochastic import WeightsSumToZero
from fastmlp._threads import BLAS_LIMIT, dask_task_threads, dask_worker_threads

# Layouts and Workspaces a worker process keeps between evaluations, per
# (fit, thread, threads): a fit's entries go when it ends (``_forget_fit``);
# a fit that never ends (its client died) is pushed out past this many
_MAX_CACHED_WORKSPACES = 32
_WORKSPACES = OrderedDict()
# and the Dataset of each of its partitions, per (fit, partition): past this
# many, the oldest are made again when next evaluated
_MAX_CACHED_DATASETS = 4096
_DATASETS = OrderedDict()
_WORKSPACES_LOCK = threading.Lock()

# an evaluation cut short by a lost connection (a worker died) runs again
# after a pause in which the scheduler notices the loss, at most this often
_EVALUATION_ATTEMPTS = 3
_RETRY_WAIT_S = 1.0


def _workspace(token, spec, n_threads, csr_nnz=None):
    """The (Layout, Workspace, gradient buffer) this thread of this worker
    uses for the fit `token`, made on its first evaluation (csr_nnz: mean
    nonzeros per row of a CSR partition, whose chunks follow its density)."""
    units, activation, out_activation, dtype = spec
    chunk = None if csr_nnz is None else chunk_rows(units, np.dtype(dtype).itemsize, csr_nnz)
    key = (token, threading.get_ident(), n_threads, chunk)
    with _WORKSPACES_LOCK:
        entry = _WORKSPACES.get(key)
        if entry is not None:
            _WORKSPACES.move_to_end(key)
            return entry
    layout = make_layout(list(units), activation, out_activation, dtype, chunk=chunk)
    ws = make_threaded_workspace(layout, dtype, n_threads)
    entry = (layout, ws, np.empty(layout.n_params, dtype=dtype))
    with _WORKSPACES_LOCK:
        _WORKSPACES[key] = entry
        while len(_WORKSPACES) > _MAX_CACHED_WORKSPACES:
            _WORKSPACES.popitem(last=False)
    return entry


def _same(x):
    return x


def _forget_fit(token):
    """Drop a finished fit's Layouts, Workspaces and partition Datasets from
    this process."""
    with _WORKSPACES_LOCK:
        for cache in (_WORKSPACES, _DATASETS):
            for key in [k for k in cache if k[0] == token]:
                del cache[key]


def _partition_data(token, index, dtype, Xb, Yb, swb):
    """(Dataset, mean nonzeros per row of CSR or None, weight sum) of
    partition `index` for the fit `token`: made on the first evaluation
    (CSR indices converted and range-checked, the weights summed), reused
    while the task gets the same block objects."""
    key = (token, index)
    with _WORKSPACES_LOCK:
        entry = _DATASETS.get(key)
        if entry is not None and all(a is b for a, b in zip(entry[0], (Xb, Yb, swb))):
            _DATASETS.move_to_end(key)
            return entry[1]
    Xk = as_kernel_input(Xb, dtype)
    weight = float(Xb.shape[0]) if swb is None else float(swb.sum(dtype=np.float64))
    value = (make_dataset(Xk, Yb, swb, dtype), nnz_per_row(Xk), weight)
    with _WORKSPACES_LOCK:
        _DATASETS[key] = ((Xb, Yb, swb), value)
        while len(_DATASETS) > _MAX_CACHED_DATASETS:
            _DATASETS.popitem(last=False)
    return value


def _partition_sums(token, spec, n_partitions, index, params, Xb, Yb, swb):
    """Partition `index`'s unnormalised sums at params: (loss sum, gradient
    sum, weight sum), without the L2 term. Runs where the partition lives."""
    dtype = np.dtype(spec[3])
    n = Xb.shape[0]
    if n == 0:
        return 0.0, None, 0.0
    n_threads = dask_task_threads(dask_worker_threads(), n_partitions, n, params.shape[0])
    data, csr_nnz, weight = _partition_data(token, index, dtype, Xb, Yb, swb)
    _, ws, grad = _workspace(token, spec, n_threads, csr_nnz)
    with BLAS_LIMIT:
        loss = ws.loss_grad(params, grad, data, 0.0, 1.0)
    # a copy: the buffer serves this thread's next partition
    return float(loss), grad.copy(), weight


class DaskObjective:
    """loss_grad(params, grad) for _lbfgs.fit_lbfgs: the sum over the
    partitions, one Dask round trip per evaluation."""

    def __init__(self, data, layout, spec, alpha, client):
        self.data, self.layout, self.spec = data, layout, spec
        self.alpha, self.client = alpha, client
        self.token = uuid.uuid4().hex
        self.sw_sum = None
        self.n_evaluations = 0
        self._futures = None
        self._total = None  # the sum of the partitions' gradients (float64)

    def partial_sums(self, params):
        """Every partition's (loss, gradient, weight) sums, in partition order.

        An evaluation is a pure function of params and the data, so one that
        a lost connection cut short (a worker died while the parameters went
        out) runs again, whole; dask itself recomputes lost partitions."""
        for attempt in range(_EVALUATION_ATTEMPTS):
            try:
                return self._partial_sums(params)
            except OSError as exc:  # distributed's CommClosedError among them
                if self.client is None or attempt + 1 == _EVALUATION_ATTEMPTS:
                    raise RuntimeError(
                        f"A Dask evaluation of the loss failed {attempt + 1} time(s) on "
                        f"lost connections to workers ({type(exc).__name__}: {exc}); "
                        "the fit stops without a model"
                    ) from exc
                time.sleep(_RETRY_WAIT_S)

    def _partial_sums(self, params):
        import dask

        d = self.data
        n = len(d.x_blocks)
        if self.client is not None:
            # the parameters go out once, as the argument of one task whose
            # result every partition's task reads (Dask moves it between
            # workers, and recomputes it if its worker dies: a broadcast
            # scatter blocked for minutes on a killed worker), then one task
            # per partition on the futures of its persisted blocks (no graph
            # to build or optimise), all gathered in partition order: one
            # round trip
            client = self.client
            if self._futures is None:
                self._futures = d.block_futures()
            params = client.submit(_same, params, pure=False)
            tasks = [
                client.submit(_partition_sums, self.token, self.spec, n, i, params,
                              xf, yf, sf, pure=False)
                for i, (xf, yf, sf) in enumerate(zip(*self._futures))
            ]
            return client.gather(tasks)
        tasks = [
            dask.delayed(_partition_sums, pure=False)(
                self.token, self.spec, n, i, params, xb, yb, sb)
            for i, (xb, yb, sb) in enumerate(zip(d.x_blocks, d.y_blocks, d.sw_blocks))
        ]
        return dask.compute(*tasks)

    def __call__(self, params, grad):
        parts = self.partial_sums(params)
        self.n_evaluations += 1
        loss = 0.0
        weight = 0.0
        if self._total is None:
            self._total = np.empty(params.shape[0], dtype=np.float64)
        total = self._total
        total[...] = 0.0
        for part_loss, part_grad, part_weight in parts:  # partition order
            loss += part_loss
            weight += part_weight
            if part_grad is not None:
                np.add(total, part_grad, out=total)
        if self.sw_sum is None:
            if weight == 0:
                # as in memory; a negative sum fits (sklearn divides by it)
                raise WeightsSumToZero("Weights sum to zero, can't be normalized")
            self.sw_sum = weight
        # the L2 term on the coefficients (not the intercepts), then the
        # normalisation, as Workspace.loss_grad does in memory
        penalty = 0.0
        for start, end, _ in self.layout.coef_slices:
            coefs = np.asarray(params[start:end], dtype=np.float64)
            penalty += float(np.dot(coefs, coefs))
            total[start:end] += self.alpha * coefs
        np.divide(total, self.sw_sum, out=grad, casting="same_kind")
        return (loss + 0.5 * self.alpha * penalty) / self.sw_sum

    def close(self):
        if self.client is not None:
            try:
                self.client.run(_forget_fit, self.token)
            except Exception:  # a worker gone: its cache went with it
                pass
        else:
            _forget_fit(self.token)
