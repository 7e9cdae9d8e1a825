"""Memory of predict on 10^6 rows (issue 11): tracemalloc peaks.

    python bench/predict_memory.py

10^6 x 64 float64 rows (512 MB), 10 classes, hidden (256,), the same weights
in both libraries. For each library, the tracemalloc peak of one
predict_proba call beyond what was allocated before it, for the first call
(which also makes fastmlp's per-model chunk buffers) and the next, next to the output's own
size and to n_samples x width of the
hidden layer. numpy's allocations are traced; BLAS's and OpenMP's internal
buffers are not.
"""

import tracemalloc
import warnings

import numpy as np
import sklearn.neural_network as skn

import fastmlp

N, D, H, K = 1_000_000, 64, 256, 10


def main():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N, D))
    coefs = [rng.standard_normal((D, H)) * 0.1, rng.standard_normal((H, K)) * 0.1]
    intercepts = [np.zeros(H), np.zeros(K)]
    out_mb = N * K * 8 / 2**20
    print(f"output {out_mb:.0f} MiB; n_samples x hidden width {N * H * 8 / 2**20:.0f} MiB")
    for cls in (fastmlp.MLPClassifier, skn.MLPClassifier):
        model = cls(hidden_layer_sizes=(H,), max_iter=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X[:200], np.arange(200) % K)
        model.coefs_ = [c.copy() for c in coefs]
        model.intercepts_ = [b.copy() for b in intercepts]
        peaks = []
        for _ in range(2):  # the first call also makes fastmlp's cached buffers
            tracemalloc.start()
            base = tracemalloc.get_traced_memory()[0]
            proba = model.predict_proba(X)
            peaks.append((tracemalloc.get_traced_memory()[1] - base) / 2**20)
            tracemalloc.stop()
            del proba
        print(f"{cls.__module__.split('.')[0]:8s} peak, first call {peaks[0]:7.1f} MiB "
              f"({peaks[0] - out_mb:+.1f} beyond the output); next call {peaks[1]:7.1f} MiB "
              f"({peaks[1] - out_mb:+.1f})")


if __name__ == "__main__":
    main()
