"""How far float32 L-BFGS fits drift, in scikit-learn and in fastmlp.

Both evaluate the loss in float32 at scipy's iterate rounded to float32 and
hand back float64 weights; each rounds its float32 sums in its own order. This
prints, after 1 to 200 iterations, the relative distance (2-norm of all weights)
and the training labels that differ between: fastmlp float32 and sklearn
float32, sklearn float32 and sklearn float64, and fastmlp float64 and sklearn
float64; then sklearn's and fastmlp's dense against CSR float32 fits.

    python bench/float32_lbfgs.py
"""

import warnings

import numpy as np
import scipy.sparse as sp
import sklearn.neural_network as skn
from sklearn.exceptions import ConvergenceWarning

import fastmlp


def flat(model):
    return np.concatenate([np.asarray(w, np.float64).ravel()
                           for w in model.coefs_ + model.intercepts_])


def distance(a, b):
    return np.linalg.norm(flat(a) - flat(b)) / np.linalg.norm(flat(b))


def main():
    warnings.simplefilter("ignore", ConvergenceWarning)
    rng = np.random.RandomState(0)
    X = rng.randn(1000, 20)
    y = rng.randint(0, 3, 1000)

    def fit(lib, dtype, n_iter):
        return lib.MLPClassifier(hidden_layer_sizes=(16,), solver="lbfgs", max_iter=n_iter,
                                 tol=0, random_state=0).fit(X.astype(dtype), y)

    def labels(a, b):
        return int((a.predict(X) != b.predict(X)).sum())

    print("1000x20 random data, 3 classes, hidden (16,): relative distance (labels that differ)")
    print(f"{'iterations':>10}  {'fastmlp32~sklearn32':>20}  {'sklearn32~sklearn64':>20}"
          f"  {'fastmlp64~sklearn64':>20}")
    for n_iter in (1, 5, 10, 20, 50, 100, 200):
        f32, s32 = fit(fastmlp, np.float32, n_iter), fit(skn, np.float32, n_iter)
        f64, s64 = fit(fastmlp, np.float64, n_iter), fit(skn, np.float64, n_iter)
        cells = [f"{distance(a, b):.1e} ({labels(a, b)})"
                 for a, b in ((f32, s32), (s32, s64), (f64, s64))]
        print(f"{n_iter:>10}  " + "  ".join(f"{c:>20}" for c in cells))

    Xs = rng.rand(40, 4).astype(np.float32)
    Xs[Xs < 0.3] = 0
    ys = rng.randint(0, 2, 40)
    print("40x4 float32, 30% zeros, binary, hidden (8,), max_iter=200: dense ~ CSR")
    for lib in (skn, fastmlp):
        kw = dict(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=200, random_state=0)
        dense = lib.MLPClassifier(**kw).fit(Xs, ys)
        csr = lib.MLPClassifier(**kw).fit(sp.csr_matrix(Xs), ys)
        print(f"  {lib.__name__:24s} {distance(dense, csr):.1e}"
              f"  (iterations {dense.n_iter_} and {csr.n_iter_})")


if __name__ == "__main__":
    main()
