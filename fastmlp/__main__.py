"""`python -m fastmlp`: the lesson fastmlp grew from, side by side with sklearn.

Digits, 75/25 split, an MLP with one hidden layer of 16 and of 64 units
(L-BFGS, max_iter=100, alpha=1e-4, random_state=1) from fastmlp and from
scikit-learn, and an SVC(gamma=0.001): test accuracy, stored parameters, fit
time and fastmlp's speed-up.
"""

import sys
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.svm import SVC

from fastmlp import MLPClassifier, __version__


def _timed_fit(model, X, y, repeats):
    """Fit `repeats` times; keep the last model and the median time."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        model.fit(X, y)
        times.append(time.perf_counter() - t0)
    return model, float(np.median(times))


def mlp_params(model):
    return int(sum(c.size for c in model.coefs_) + sum(b.size for b in model.intercepts_))


def main(repeats=3):
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=0
    )
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for width in (16, 64):
            kw = dict(
                hidden_layer_sizes=(width,), solver="lbfgs", max_iter=100,
                alpha=1e-4, random_state=1,
            )
            sk, t_sk = _timed_fit(SkMLPClassifier(**kw), X_train, y_train, repeats)
            fm, t_fm = _timed_fit(MLPClassifier(**kw), X_train, y_train, repeats)
            rows.append((f"sklearn MLP ({width},)", sk.score(X_test, y_test),
                         mlp_params(sk), t_sk, ""))
            rows.append((f"fastmlp MLP ({width},)", fm.score(X_test, y_test),
                         mlp_params(fm), t_fm, f"{t_sk / t_fm:.1f}x"))
    svc, t_svc = _timed_fit(SVC(gamma=0.001), X_train, y_train, repeats)
    rows.append(("SVC(gamma=0.001)", svc.score(X_test, y_test),
                 int(svc.support_vectors_.size), t_svc, ""))

    print(f"fastmlp {__version__}: digits, {X_train.shape[0]} train / "
          f"{X_test.shape[0]} test samples, median of {repeats} fits")
    head = ("model", "test accuracy", "stored parameters", "fit time", "speed-up")
    print(f"{head[0]:<22} {head[1]:>13} {head[2]:>18} {head[3]:>10} {head[4]:>9}")
    for name, acc, n_par, t, speed in rows:
        print(f"{name:<22} {acc:>13.4f} {n_par:>18d} {t * 1000:>8.1f}ms {speed:>9}")
    print("speed-up: sklearn's MLPClassifier fit time / fastmlp's, same parameters.")
    return rows


if __name__ == "__main__":
    main()
    sys.exit(0)
