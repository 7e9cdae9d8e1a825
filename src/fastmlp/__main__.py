"""`python -m fastmlp`: the lesson fastmlp grew from, side by side with sklearn.

Digits, 75/25 split, an MLP with one hidden layer of 16 and of 64 units
(L-BFGS, max_iter=100, alpha=1e-4, random_state=1) from fastmlp and from
scikit-learn, and an SVC(gamma=0.001): test accuracy, stored numbers,
iterations, and fit times.

Each side is timed in its own block of fits (a warm-up fit, then fits until
the block has run MIN_FITS fits and MIN_SECONDS seconds): OpenBLAS and OpenMP
worker threads keep spinning after their work, so interleaved fits would steal
each other's cores. sklearn runs twice: as installed (BLAS on all cores) and
with BLAS held to one thread; fastmlp twice: on its default threads and held
to one. The machine's load average and core count are printed before and
after: figures measured while other processes hold the cores are not idle
figures. ``--quick`` times one fit per block (seconds instead of half a
minute); each block prints a line as it ends.
"""

import argparse
import os
import sys
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.svm import SVC
from threadpoolctl import threadpool_info, threadpool_limits

from fastmlp import MLPClassifier, __version__
from fastmlp._threads import effective_n_threads

MIN_FITS = 5  # for a median and a spread
MIN_SECONDS = 1.0  # per block: enough fits for a stable median on a busy machine
MAX_FITS = 50


def timed_block(make_model, X, y, quick=False):
    """Fit once to warm up, then time fits in one block (one fit when
    quick); returns the last model and the times in seconds."""
    make_model().fit(X, y)
    min_fits, min_seconds = (1, 0.0) if quick else (MIN_FITS, MIN_SECONDS)
    times = []
    while len(times) < MAX_FITS and (len(times) < min_fits or sum(times) < min_seconds):
        model = make_model()
        t0 = time.perf_counter()
        model.fit(X, y)
        times.append(time.perf_counter() - t0)
    return model, np.array(times)


def mlp_numbers(model):
    """Weights and biases: what the fitted MLP stores to predict."""
    return int(sum(c.size for c in model.coefs_) + sum(b.size for b in model.intercepts_))


def blas_threads():
    return max((i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"),
               default=1)


def _ms(t):
    return f"{t * 1000:.1f}"


def machine_load():
    """The 1-minute load average against the cores, as a sentence."""
    cores = os.cpu_count()
    if not hasattr(os, "getloadavg"):
        return f"{cores} cores (no load average on this system)"
    return f"load average {os.getloadavg()[0]:.2f} on {cores} cores"


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m fastmlp",
        description="The digits lesson: one-hidden-layer MLPs (16 and 64 units, L-BFGS, "
                    "100 iterations) from fastmlp and scikit-learn, and an SVC: accuracy, "
                    "stored numbers and fit times, each side timed in its own block.",
    )
    parser.add_argument("--quick", action="store_true",
                        help="time one fit per block instead of at least "
                             f"{MIN_FITS} fits and {MIN_SECONDS:g} s (a rough, noisier figure)")
    return parser.parse_args(argv)


def progress(name, times):
    print(f"  timed {name}: median {_ms(np.median(times))} ms over {len(times)} fit(s)",
          flush=True)


def main(argv=None):
    quick = parse_args(argv).quick
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=0
    )
    rows, medians = [], {}
    sides = (
        ("sklearn", "", f"BLAS {blas_threads()}", SkMLPClassifier, None),
        ("sklearn", ", BLAS 1 thread", "BLAS 1", SkMLPClassifier, 1),
        ("fastmlp", "", f"OpenMP {effective_n_threads()}", MLPClassifier, None),
        ("fastmlp", ", 1 thread", "OpenMP 1", MLPClassifier, 1),
    )
    load_before = machine_load()
    print(f"fastmlp {__version__}: timing 9 blocks of fits"
          + (" (--quick: one fit each)" if quick else "") + "...", flush=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for width in (16, 64):
            kw = dict(hidden_layer_sizes=(width,), solver="lbfgs", max_iter=100,
                      alpha=1e-4, random_state=1)
            for lib, variant, threads, Model, one_thread in sides:
                # sklearn's threads are BLAS's, fastmlp's OpenMP's
                api = "openmp" if lib == "fastmlp" else "blas"
                with threadpool_limits(one_thread, user_api=api):
                    model, times = timed_block(lambda: Model(**kw), X_train, y_train, quick)
                progress(f"{lib} MLP ({width},){variant}", times)
                medians[lib + variant, width] = np.median(times)
                converged = "yes" if model.n_iter_ < model.max_iter else "no"
                rows.append((f"{lib} MLP ({width},){variant}", threads, model.score(X_test, y_test),
                             mlp_numbers(model), str(model.n_iter_), converged, times))
    svc, times = timed_block(lambda: SVC(gamma=0.001), X_train, y_train, quick)
    progress("SVC(gamma=0.001)", times)
    rows.append(("SVC(gamma=0.001)", f"BLAS {blas_threads()}", svc.score(X_test, y_test),
                 int(svc.support_vectors_.size), "", "", times))

    print()
    print(f"fastmlp {__version__}: digits, {X_train.shape[0]} train / {X_test.shape[0]} "
          "test samples. Each model is timed in its own block: one warm-up fit, then "
          + ("one fit (--quick)." if quick else
             f"at least {MIN_FITS} fits and {MIN_SECONDS:g} s."))
    print(f"Machine: {load_before} before the fits, {machine_load()} after (a load near or "
          "above the cores means other processes held them: not idle figures).")
    head = ("model", "threads", "accuracy", "stored numbers", "iterations", "converged",
            "fit median", "min - max", "fits")
    fmt = "{:<32} {:>9} {:>8} {:>14} {:>10} {:>9} {:>10} {:>18} {:>4}"
    print(fmt.format(*head))
    for name, threads, acc, n_par, n_iter, conv, times in rows:
        spread = f"{_ms(times.min())} - {_ms(times.max())} ms"
        print(fmt.format(name, threads, f"{acc:.4f}", n_par, n_iter, conv,
                         _ms(np.median(times)) + " ms", spread, len(times)))
    print()
    print("fastmlp's speed-up (ratio of median fit times):")
    for width in (16, 64):
        fm = medians["fastmlp", width]
        print(f"  ({width},): {medians['sklearn', width] / fm:.1f}x over sklearn as installed, "
              f"{medians['sklearn, BLAS 1 thread', width] / fm:.1f}x over sklearn with "
              f"BLAS on one thread, {medians['fastmlp, 1 thread', width] / fm:.1f}x over "
              "fastmlp on one thread")
    print("Most of sklearn's time on data this small is BLAS thread start-up inside tiny "
          "matrix products, so the one-thread column is the fair comparison.")
    print("A model that did not converge ran all max_iter=100 iterations: a longer fit "
          "than one that converged early.")
    print("Stored numbers: for an MLP its weights and biases (coefs_ and intercepts_); "
          "for the SVC support_vectors_.size (support vectors x 64 features; its dual "
          "coefficients and intercepts are not counted).")
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
    sys.exit(0)
