"""Memory kept by predict between calls (issue 20): RSS growth.

    python bench/predict_cache_memory.py

Two cases, each library in its own process:
- 300 predict_proba calls on 200-row CSR batches of 300 densities (0.2% to
  30% of 2000 features; hidden (64,), 5 classes): each density gives its
  own CSR chunk size, so its own chunk buffers;
- one model refitted to hidden sizes 100 to 219 (L-BFGS, 2 iterations,
  200 x 20 rows, 3 classes) and scored after each fit.
Prints each case's growth of the resident set (/proc/self/statm).
"""

import subprocess
import sys
import warnings


def rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def run(library):
    import numpy as np
    import scipy.sparse as sp

    if library == "fastmlp":
        from fastmlp import MLPClassifier
    else:
        from sklearn.neural_network import MLPClassifier
    warnings.simplefilter("ignore")
    rng = np.random.default_rng(0)
    X = sp.random(300, 2000, density=0.05, format="csr", random_state=0)
    clf = MLPClassifier(hidden_layer_sizes=(64,), solver="lbfgs", max_iter=3,
                        random_state=0).fit(X, rng.integers(0, 5, 300))
    batches = [sp.random(200, 2000, density=d, format="csr", random_state=i)
               for i, d in enumerate(np.linspace(0.002, 0.3, 300))]
    before = rss_mib()
    for Xb in batches:
        clf.predict_proba(Xb)
    csr = rss_mib() - before
    X, y = rng.normal(size=(200, 20)), rng.integers(0, 3, 200)
    model = MLPClassifier(solver="lbfgs", max_iter=2, random_state=0)
    before = rss_mib()
    for h in range(100, 220):
        model.set_params(hidden_layer_sizes=(h,)).fit(X, y).score(X, y)
    refits = rss_mib() - before
    print(f"{library:8s} 300 CSR densities: RSS {csr:+6.1f} MiB; "
          f"120 refits: RSS {refits:+6.1f} MiB")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        run(sys.argv[1])
    else:
        for library in ("fastmlp", "sklearn"):
            subprocess.run([sys.executable, __file__, library], check=True)
