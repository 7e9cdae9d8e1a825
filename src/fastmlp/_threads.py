"""Every thread-count rule, and the BLAS limit held during a fit.

The rules here decide how many threads a Workspace gets (the compiled core
runs exactly those) and into how many parts a sgd/adam minibatch is split.
The one rule decided while a fit runs, whether those parts run on several
threads while other processes hold the cores, is compiled
(_runtime_threads.pyx): it is measured every few minibatches.
"""

import functools
import os
import sys
import threading

from joblib import cpu_count
from threadpoolctl import ThreadpoolController

from fastmlp._core import omp_max_threads, openmp_enabled

# rows x parameters (~0.3 MFLOP of loss + gradient) below which a parallel
# region costs more than it saves: one thread
MIN_PARALLEL_WORK = 40000

# a thread gets at least this many rows: chunk sizes are multiples of 8
# (_network.chunk_rows), and a thread with less than one such block of rows
# costs its start and its share of the gradient reduction for next to no work
MIN_ROWS_PER_THREAD = 8

# floating-point work of a minibatch: about 6 flops per row and parameter (a
# multiply-add forward, and two backward: the weight gradient and the delta
# of the layer below)
FLOPS_PER_ROW_AND_PARAM = 6.0

# a forward pass alone: the multiply-add of each row and parameter
FORWARD_FLOPS_PER_ROW_AND_PARAM = 2.0

# work of a minibatch (flops) below which it is one part on one thread (~25 us
# of work: the barriers and the reduction of the parts would cost about what a
# second thread saves; measured on digits with hidden (8,), (16,), (32,)).
# Above it a minibatch is split into one part per thread; the results depend
# on that number of parts only, and the compiled runner itself falls back to
# one thread while other processes hold the cores (see _runtime_threads.pyx).
MIN_PARALLEL_BATCH_FLOPS = 1e6

# each extra part zeroes and then reduces a whole gradient (n_params entries)
# per minibatch; below 16 flops of minibatch work per parameter those passes
# over memory cost more than the part's share of the work (1% CSR with 10000
# features ran up to 3x slower on 2 threads before this rule)
MIN_BATCH_FLOPS_PER_PARAM = 16.0

_controller = None

# GNU libgomp is not fork-safe: a child forked after the parent's OpenMP team
# started deadlocks in its first parallel region. So once this process may
# have started the team (it handed the kernels more than one thread), a
# forked child runs the kernels on one thread, outside any parallel region,
# with the results of a one-thread fit.
_team_may_run = False
_forked_after_team = False


def _after_fork_in_child():
    global _forked_after_team
    _forked_after_team = _forked_after_team or _team_may_run


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def effective_n_threads():
    """OpenMP threads for the kernels, as sklearn's OpenMP estimators choose:
    omp_get_max_threads() (which follows OMP_NUM_THREADS and
    threadpoolctl.threadpool_limits(user_api="openmp")), capped at the number
    of physical cores unless OMP_NUM_THREADS asks for more; 1 in a child
    forked after the OpenMP team may have started."""
    global _team_may_run
    if not openmp_enabled() or _forked_after_team:
        return 1
    n = omp_max_threads()
    if not os.getenv("OMP_NUM_THREADS"):
        n = min(n, _physical_cores())
    worker_threads = _dask_worker_nthreads()
    if worker_threads is not None:
        # a task on a Dask worker (a search's fit under joblib's "dask"
        # backend): no more threads than the worker was given
        n = min(n, worker_threads)
    n = max(1, n)
    _team_may_run = _team_may_run or n > 1
    return n


@functools.cache
def _physical_cores():
    # joblib reads /proc and /sys for it: once per process, not once per predict
    return cpu_count(only_physical_cores=True)


def _dask_worker_nthreads():
    """The threads of the dask.distributed worker running this task, or None
    outside one (distributed not even imported: no worker)."""
    if "distributed" not in sys.modules:
        return None
    from distributed import get_worker

    try:
        return get_worker().state.nthreads
    except ValueError:
        return None


def dask_worker_threads():
    """The threads a Dask task's worker has: the dask.distributed worker's
    threads (1 without OpenMP, or in a child forked after the team may have
    started, as effective_n_threads), or this process's OpenMP threads on
    dask's local schedulers."""
    global _team_may_run
    n = _dask_worker_nthreads()
    if n is None:
        return effective_n_threads()
    if not openmp_enabled() or _forked_after_team:
        return 1
    _team_may_run = _team_may_run or n > 1
    return max(1, n)


def dask_task_threads(worker_threads, n_tasks, n_rows, n_params):
    """OpenMP threads for one Dask task over n_rows rows (loss + gradient) on
    a worker with worker_threads threads, among n_tasks such tasks: the worker
    may run min(worker_threads, n_tasks) of them at once, and each gets an
    equal share of its threads (1 when it runs as many tasks as it has
    threads), so the tasks running at once never exceed the worker's threads.
    Small partitions get fewer, as threads_for_rows gives them."""
    at_once = max(1, min(worker_threads, n_tasks))
    share = max(1, worker_threads // at_once)
    if n_rows * n_params < MIN_PARALLEL_WORK:
        return 1
    return max(1, min(share, -(-n_rows // MIN_ROWS_PER_THREAD)))


def threads_for_rows(n_rows, n_params, forward_only=False):
    """Threads for a Workspace over n_rows rows of a network of n_params
    parameters: one below MIN_PARALLEL_WORK (loss + gradient; a forward pass,
    a third of that work per row, below three times as many rows), else no
    more than the rows can keep busy, MIN_ROWS_PER_THREAD each. The compiled
    core runs exactly the Workspace's threads."""
    work = n_rows * n_params
    if forward_only:
        work *= FORWARD_FLOPS_PER_ROW_AND_PARAM / FLOPS_PER_ROW_AND_PARAM
    most = -(-n_rows // MIN_ROWS_PER_THREAD)
    if work < MIN_PARALLEL_WORK or most <= 1:
        return 1  # (without effective_n_threads' look-ups: ~1 us of a one-row predict)
    return max(1, min(effective_n_threads(), most))


def minibatch_threads(batch_size, layer_units, n_params, avg_nnz=None):
    """Parts (and threads) a sgd/adam minibatch of batch_size rows is split
    into: one part per thread where the minibatch is worth splitting, else 1.

    avg_nnz: None for dense input, else the mean nonzeros per row of the CSR
    input (the first layer then costs nnz x width, not n_features x width).
    The fitted weights depend on this number, so it depends only on the
    problem and on effective_n_threads().
    """
    n_threads = effective_n_threads()
    if avg_nnz is None:
        per_row = n_params
    else:
        per_row = n_params - layer_units[0] * layer_units[1] + avg_nnz * layer_units[1]
    work = FLOPS_PER_ROW_AND_PARAM * batch_size * per_row
    if work < MIN_PARALLEL_BATCH_FLOPS or work < MIN_BATCH_FLOPS_PER_PARAM * n_params:
        n_threads = 1
    return max(1, min(n_threads, -(-batch_size // MIN_ROWS_PER_THREAD)))


def _blas_controller():
    """threadpoolctl's view of the BLAS libraries, found once per process
    (finding them is the costly part)."""
    global _controller
    if _controller is None:
        _controller = ThreadpoolController()
    return _controller


def _limit_is_per_thread(lib):
    """Whether a BLAS library's thread limit holds for the calling thread
    only: MKL's (threadpoolctl sets it with MKL_Set_Num_Threads_Local) and an
    OpenMP-threaded library's (omp_set_num_threads)."""
    return lib.internal_api == "mkl" or getattr(lib, "threading_layer", None) == "openmp"


def _set_threads(changes):
    """Each (library, threads) in changes set."""
    for lib, n in changes:
        lib.set_num_threads(n)
    # recent threadpoolctl lets only the Python thread that set an OpenBLAS
    # pool last change it again while it lives; give that back, as its own
    # limit() does, or the next call from another thread would change nothing
    for cls in {type(lib) for lib, _ in changes}:
        release = getattr(cls, "clear_controlling_thread", None)
        if release is not None:
            release()


def _hold_one_thread(libs):
    """Each of libs set to one thread; returns what to restore: the libraries
    this changed, with their threads before."""
    saved = [(lib, n) for lib, n in ((lib, lib.num_threads) for lib in libs) if n != 1]
    _set_threads([(lib, 1) for lib, _ in saved])
    return saved


def _restore(saved):
    """Each library of saved back to its threads, unless its limit is no
    longer the one thread set here: another holder (threadpoolctl in another
    Python thread) changed it since, and restores it itself."""
    _set_threads([(lib, n) for lib, n in saved if lib.num_threads == 1])


class _SharedBlasLimit:
    """BLAS held to one thread, shared by every fit and predict running at once.

    Most BLAS libraries (OpenBLAS on pthreads, BLIS) have one process-wide
    limit: two overlapping calls from different Python threads that each
    saved and restored it would let the second save the first's limit (1)
    and restore it last, leaving BLAS on one thread for the rest of the
    process. For those the first call in sets the limit and the last one out
    restores the original, only where it set the limit and only while the
    limit is still its one thread (so a value another holder set meanwhile,
    e.g. threadpoolctl's in another thread, stays). A per-thread limit (MKL,
    an OpenMP-threaded BLAS) is set and restored by each call in its own
    thread.

    One interleaving leaks without us: a threadpoolctl limit entered in
    another thread while this one holds saves our one thread as its
    original and, leaving last, restores it. Two threadpoolctl limits leak
    the same way; that holder's protocol, not ours, would have to change.

    It sets each library's threads directly (about 2 us a library), not
    through threadpoolctl's limit() (about 10 us a library), which is much of
    a small predict.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._count = 0
        self._shared = self._per_thread = None
        self._saved = []
        self._local = threading.local()

    def __enter__(self):
        with self._lock:
            if self._shared is None:
                libs = _blas_controller().select(user_api="blas").lib_controllers
                self._shared = [lib for lib in libs if not _limit_is_per_thread(lib)]
                self._per_thread = [lib for lib in libs if _limit_is_per_thread(lib)]
            if self._count == 0:
                self._saved = _hold_one_thread(self._shared)
            self._count += 1
        self._local.__dict__.setdefault("stack", []).append(_hold_one_thread(self._per_thread))
        return self

    def __exit__(self, *exc_info):
        _restore(self._local.stack.pop())
        with self._lock:
            self._count -= 1
            if self._count == 0:
                _restore(self._saved)
                self._saved = []
        return False


# what every fit and predict holds while the compiled core runs
BLAS_LIMIT = _SharedBlasLimit()
