"""
Speed-up against scikit-learn
=============================

The same fits timed with fastmlp and with scikit-learn, each in its own block of repetitions
(threads that linger after one library's work would otherwise slow the other). scikit-learn runs
with its BLAS held to one thread, its fastest setting on data this small. The weights agree.

The numbers come from the machine that builds this page; ``bench/`` holds the full benchmark
suite (``python3 bench/report.py``).
"""

import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from threadpoolctl import threadpool_limits

from fastmlp import MLPClassifier

X, y = load_digits(return_X_y=True)
X = X / 16


def median_fit_time(cls, repeats=5, **params):
    times = []
    for _ in range(repeats):
        model = cls(**params, random_state=1)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X, y)
        times.append(time.perf_counter() - start)
    return np.median(times), model


cases = {"lbfgs (16,)": dict(hidden_layer_sizes=(16,), solver="lbfgs", max_iter=100),
         "lbfgs (64,)": dict(hidden_layer_sizes=(64,), solver="lbfgs", max_iter=100),
         "adam (64,)": dict(hidden_layer_sizes=(64,), solver="adam", max_iter=20)}
speedup = {}
for name, params in cases.items():
    t_fast, fast = median_fit_time(MLPClassifier, **params)
    with threadpool_limits(1, user_api="blas"):
        t_sk, sk = median_fit_time(SkMLPClassifier, **params)
    gap = max(np.abs(a - b).max() for a, b in zip(fast.coefs_, sk.coefs_))
    speedup[name] = t_sk / t_fast
    print(f"{name}: fastmlp {1e3 * t_fast:.1f} ms, scikit-learn {1e3 * t_sk:.1f} ms, "
          f"{speedup[name]:.1f}x; largest weight difference {gap:.1e}")

# %%
fig, ax = plt.subplots(figsize=(5, 3))
ax.barh(list(speedup), list(speedup.values()), color="tab:green")
ax.axvline(1, color="k", lw=0.8)
ax.set_xlabel("scikit-learn time / fastmlp time (median fit)")
fig.tight_layout()
plt.show()
