"""Hash the fitted weights of a fixed set of fits: the A/B check for changes
that must not move a single bit (a build-system change, a refactor).

    python3 bench/weight_hashes.py > new.txt        # the fastmlp importable now
    PYTHONPATH=/path/to/old python3 bench/weight_hashes.py > old.txt
    diff old.txt new.txt                                # no output: bit-identical

Run both sides on the same machine in the same session: the hashes depend on
the CPU's vector path and on the BLAS kernel, so they are never committed.
The set crosses solver (lbfgs, sgd, adam), task (binary, multiclass,
multilabel, regression), dtype (float32, float64), input (dense, CSR), OpenMP
threads (1, 2), hidden activation and two shapes of hidden layers; each line is one fit: its
name, then the SHA-256 of its
coefficients, intercepts and loss curve, and of its predictions
(predict_proba for a classifier) on the training data.
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


def _digest(model, X):
    h = hashlib.sha256()
    for a in list(model.coefs_) + list(model.intercepts_):
        h.update(np.ascontiguousarray(a).tobytes())
    h.update(np.asarray(model.loss_curve_, dtype=np.float64).tobytes())
    out = model.predict_proba(X) if hasattr(model, "predict_proba") else model.predict(X)
    h.update(np.ascontiguousarray(out).tobytes())
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
        ("relu", "tanh", "logistic", "identity"),
        ((64, 32), (12,)),  # wide products; narrow ones (<= 16 units) past the first
    )
    for solver, task, dtype, sparse, threads, activation, hidden in grid:
        X, y = _data(task, dtype, sparse, rng)
        Model = MLPRegressor if task == "regression" else MLPClassifier
        model = Model(hidden_layer_sizes=hidden, activation=activation, solver=solver,
                      max_iter=5, batch_size=200, random_state=0)
        with warnings.catch_warnings(), threadpool_limits(threads, user_api="openmp"):
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X, y)
        name = (f"{solver}-{task}-{np.dtype(dtype).name}-{'csr' if sparse else 'dense'}"
                f"-{threads}t-{activation}-{'x'.join(map(str, hidden))}")
        print(name, _digest(model, X))


if __name__ == "__main__":
    main()
