"""Hash the fitted weights of a fixed set of fits: the A/B check for changes
that must not move a single bit (a build-system change, a refactor).

    python3 -P bench/weight_hashes.py > new.txt        # the fastmlp importable now
    PYTHONPATH=/path/to/old python3 -P bench/weight_hashes.py > old.txt
    diff old.txt new.txt                                # no output: bit-identical

Run both sides on the same machine in the same session: the hashes depend on
the CPU's vector path and on the BLAS kernel, so they are never committed.
The set crosses solver (lbfgs, sgd, adam), task (binary, multiclass,
multilabel, regression), dtype (float32, float64), input (dense, CSR) and
OpenMP threads (1, 2); each line is one fit: its name, then the SHA-256 of its
coefficients, intercepts and loss curve.
"""

import hashlib
import itertools
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

import fastmlp
from fastmlp import MLPClassifier, MLPRegressor


def _data(task, dtype, sparse, rng):
    X = rng.standard_normal((2000, 60))
    X[rng.random(X.shape) < 0.7] = 0.0  # zeros, so CSR has structure
    if task == "binary":
        y = (X[:, 0] + X[:, 1] > 0).astype(int)
    elif task == "multiclass":
        y = np.argmax(X[:, :4], axis=1)
    elif task == "multilabel":
        y = (X[:, :3] > 0).astype(int)
    else:
        y = X[:, :2] @ np.array([1.5, -2.0]) + 0.1 * rng.standard_normal(2000)
    X = X.astype(dtype)
    return (sp.csr_matrix(X) if sparse else X), y


def _digest(model):
    h = hashlib.sha256()
    for a in list(model.coefs_) + list(model.intercepts_):
        h.update(np.ascontiguousarray(a).tobytes())
    h.update(np.asarray(model.loss_curve_, dtype=np.float64).tobytes())
    return h.hexdigest()


def main():
    rng = np.random.default_rng(0)
    print(f"# fastmlp {fastmlp.__version__} from {fastmlp.__file__}")
    grid = itertools.product(
        ("lbfgs", "sgd", "adam"),
        ("binary", "multiclass", "multilabel", "regression"),
        (np.float32, np.float64),
        (False, True),
        (1, 2),
    )
    for solver, task, dtype, sparse, threads in grid:
        X, y = _data(task, dtype, sparse, rng)
        Model = MLPRegressor if task == "regression" else MLPClassifier
        model = Model(hidden_layer_sizes=(64, 32), solver=solver, max_iter=5,
                      batch_size=200, random_state=0)
        with warnings.catch_warnings(), threadpool_limits(threads, user_api="openmp"):
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X, y)
        name = f"{solver}-{task}-{np.dtype(dtype).name}-{'csr' if sparse else 'dense'}-{threads}t"
        print(name, _digest(model))


if __name__ == "__main__":
    main()
