"""Thread counts for the compiled core and the BLAS limit held during a fit."""

import os

from joblib import cpu_count
from threadpoolctl import ThreadpoolController

from fastmlp._core import omp_max_threads, openmp_enabled

_controller = None


def effective_n_threads():
    """OpenMP threads for the kernels, as sklearn's OpenMP estimators choose:
    omp_get_max_threads() (which follows OMP_NUM_THREADS and
    threadpoolctl.threadpool_limits(user_api="openmp")), capped at the number
    of physical cores unless OMP_NUM_THREADS asks for more."""
    if not openmp_enabled():
        return 1
    n = omp_max_threads()
    if not os.getenv("OMP_NUM_THREADS"):
        n = min(n, cpu_count(only_physical_cores=True))
    return max(1, n)


def blas_single_thread():
    """Context manager holding every BLAS library to one thread.

    Our OpenMP threads call BLAS on small, cache-sized blocks; a multi-threaded
    BLAS under them oversubscribes the cores and, for OpenBLAS built with
    pthreads, is many times slower. The controller is built once per process
    (finding the libraries is the costly part) and used once per fit/predict.
    """
    global _controller
    if _controller is None:
        _controller = ThreadpoolController()
    return _controller.limit(limits=1, user_api="blas")
