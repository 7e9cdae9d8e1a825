"""Dask input: L-BFGS over per-partition sums, block-wise sgd/adam, lazy predict.

The estimators hand Dask arrays, DataFrames and Series here (``is_dask``);
nothing in this module imports Dask before such an input arrives, so
``import fastmlp`` never needs it.

L-BFGS (``fit``): scipy's L-BFGS-B runs on the client over the same packed
vector as in memory. An evaluation sends the parameters to the cluster once
(the argument of one task that the partitions' tasks depend on; on dask's
local schedulers they are passed by reference), runs one task per partition where the partition lives (the
compiled loss and gradient over its rows, with no penalty and no
normalisation: the unnormalised sums and the partition's weight sum) and adds
the results on the client in partition order, so that the sums do not depend
on the number of workers or on the order in which tasks finish. The client
then adds the L2 term and divides by the weight sum, as
``Workspace.loss_grad`` does in memory. Everything the fit needs from the data
before training (finiteness, classes and class counts, the network's shape)
is one pass over the persisted data.

A worker keeps each (fit, thread)'s Layout and Workspace between evaluations
(``_WORKSPACES``), and each partition's checked Dataset (``_DATASETS``), and gives each task the OpenMP threads
``_threads.dask_task_threads`` allows, so that the tasks running at once on a
worker never use more threads than the worker has.

sgd/adam (``fit_stochastic``): the model travels to the data. Every epoch
visits the training blocks in an order drawn from the fit's RandomState; a
task trains the model on one block where the block lives (one ``partial_fit``
step over its rows: sklearn's shuffling and minibatches inside the block) and
hands the model, with its optimizer state and RandomState, on to the next
block's task. The client sees the model once per epoch.

Predict (``predict``): lazy Dask arrays, one in-memory predict per block.
"""

import sys
import threading
import time
import uuid
import warnings
from collections import OrderedDict

import numpy as np
import scipy.sparse as sp
from sklearn.base import is_classifier
from sklearn.exceptions import DataConversionWarning
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state
from sklearn.utils.validation import (
    _assert_all_finite,
    _check_feature_names,
    check_is_fitted,
)

from fastmlp._callbacks import FitProgress
from fastmlp._network import (
    as_kernel_input,
    chunk_rows,
    make_dataset,
    make_layout,
    make_threaded_workspace,
    nnz_per_row,
)
from fastmlp._threads import BLAS_LIMIT, dask_task_threads, dask_worker_threads
from fastmlp._version import __version__

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


# ------------------------------------------------------------ detection --

def is_dask(obj):
    """Whether obj is a Dask collection (array, DataFrame, Series), without
    importing Dask: such an object cannot exist unless Dask is imported."""
    return obj is not None and type(obj).__module__.split(".", 1)[0] == "dask"


def any_dask(*objs):
    return any(is_dask(obj) for obj in objs)


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


# ----------------------------------------------------------- the inputs --

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
    """What the client needs from one partition before training."""
    stats = {"x": _values_finite(Xb), "sw": (False, False) if swb is None
             else _values_finite(swb)}
    yb = np.asarray(yb)
    stats["y"] = _values_finite(yb)
    if classifier:
        if stats["y"] == (False, False):
            labels, counts = np.unique(yb.ravel(), return_counts=True)
            stats["labels"] = (labels, counts)
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


class _Prepared:
    """The persisted training data, one entry per partition: X as the
    kernels read it, the targets Y (n, n_outputs) and the weights (or None),
    all in the model's dtype, with the same row chunks."""

    def __init__(self, X, Y, sw, dtype, keep):
        self.X, self.Y, self.sw, self.dtype = X, Y, sw, dtype
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


def _prepare(est, X, y, sample_weight, first_pass):
    """Validate, persist and binarize the data on the cluster, as
    _validate_input, check_sample_weight and with_class_weight do in memory;
    sets the estimator's input attributes (n_features_in_,
    feature_names_in_, classes_, _label_binarizer). Returns _Prepared."""
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
    if not first_pass:
        # a refit computes in the wider of the data's and the weights' dtypes
        # (float32 data against an L-BFGS fit's float64 coefs_), as in memory
        from fastmlp._base import _refit_dtype

        dtype = np.dtype(_refit_dtype(dtype, est.coefs_))
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
        return _Prepared(Xk, Y, sw, dtype, keep=(ya, swa))

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
    Y, sw = dask.persist(Y, sw) if sw is not None else (dask.persist(Y)[0], None)
    return _Prepared(Xk, Y, sw, dtype, keep=(ya, swa))


# ------------------------------------------------------ L-BFGS on Dask --

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
            if not weight > 0:
                raise ValueError("The sample weights must sum to a positive number.")
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


def _layer_units(est, n_features, n_outputs):
    return [n_features] + est._hidden_sizes() + [n_outputs]


def fit(est, X, y, sample_weight=None):
    """est.fit on Dask input (L-BFGS, sgd or adam); returns est."""
    from fastmlp._base import STOCHASTIC_SOLVERS

    client = _client()
    if client is not None:
        _check_worker_versions(client)
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
            spec = (tuple(layer_units), est.activation, est._kernel_output(), dtype.str)
            layout = make_layout(layer_units, est.activation, est._kernel_output(), dtype)
            objective = DaskObjective(data, layout, spec, est.alpha, client)
            try:
                est._run_lbfgs(objective, layout, dtype, progress)
            finally:
                objective.close()
    est._check_weights_finite()
    if progress is not None:
        progress.finish()
    return est


# ------------------------------------------------------ sgd/adam on Dask --

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
        activation=est.activation, out_activation=est._kernel_output(), alpha=est.alpha,
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


# --------------------------------------------------------------- predict --

def _predict_block(block, model, method, tail, out_dtype):
    if block.shape[0] == 0:
        return np.empty((0,) + tail, dtype=out_dtype)
    with warnings.catch_warnings():
        # the feature names were checked on the client, against the DataFrame
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        return getattr(model, method)(block)


def _named_2d_array(est, X, reset):
    """X as a 2-D Dask array with all columns in one chunk, after sklearn's
    feature-name check (a Dask DataFrame's names read from its pandas meta)."""
    _check_feature_names(est, X._meta if hasattr(X, "columns") else None, reset=reset)
    Xa = _columns_as_one_chunk(_as_dask_array(X))
    if Xa.ndim != 2:
        raise ValueError(f"Expected a 2-D Dask array for X, got {Xa.ndim} dimension(s).")
    return Xa


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


__all__ = ["any_dask", "fit", "is_dask", "predict", "score"]
