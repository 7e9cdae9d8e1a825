"""Helpers shared by the benchmarks (bench/ is on sys.path under pytest)."""

import os
import subprocess
import sys
import time
import warnings

from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_info

SKLEARN = "sklearn"
SKLEARN_1BLAS = "sklearn, BLAS 1 thread"
FASTMLP = "fastmlp"


# busy processes get this long to be running before a block is timed
_BUSY_START_S = 0.3


class Busy:
    """n processes spinning on a core each (``python -c "while True: pass"``),
    for the duration of a timed block: start before it, stop() after it."""

    def __init__(self, n):
        self.procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                      for _ in range(n)]
        if n:
            time.sleep(_BUSY_START_S)

    def stop(self):
        for p in self.procs:
            p.kill()
        for p in self.procs:
            p.wait()


def rounds(n):
    """n rounds, capped by FASTMLP_BENCH_ROUNDS for smoke runs."""
    cap = os.getenv("FASTMLP_BENCH_ROUNDS")
    return max(1, min(n, int(cap))) if cap else n


def blas_threads():
    return ", ".join(
        f"{i['internal_api']} {i['num_threads']}"
        for i in threadpool_info()
        if i["user_api"] == "blas"
    )


def time_fit(benchmark, make_model, X, y, n_rounds, warmup_rounds=1, **fit_kw):
    """Time fit in one block of rounds (fit_kw: fit's other arguments);
    returns the last fitted model and records the work it did (a side that
    stops early is not a faster side)."""
    models = []

    def fit():
        models.append(make_model().fit(X, y, **fit_kw))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        benchmark.pedantic(
            fit, rounds=rounds(n_rounds), iterations=1, warmup_rounds=warmup_rounds
        )
    model = models[-1]
    benchmark.extra_info.update(
        n_iter=int(model.n_iter_), loss=float(model.loss_),
        coef_dtype=str(model.coefs_[0].dtype),
    )
    return model
