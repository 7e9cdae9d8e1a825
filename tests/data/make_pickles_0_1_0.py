"""Write the fastmlp 0.1.0 pickles that tests/test_interop.py loads.

Run with a fastmlp 0.1.0 build importable (not the source tree), e.g.

    cd /tmp && PYTHONPATH=/path/to/fastmlp-0.1.0 python3 -P \
        /path/to/tests/data/make_pickles_0_1_0.py /path/to/tests/data

(in a venv that holds an editable install of another fastmlp, meson-python's
finder comes first on sys.meta_path and wins over PYTHONPATH: drop it first).

Each file holds one tuple (model, X, expected): a fitted model, a few rows
and what the model predicted for them when it was pickled. 0.1.0 pickles the
estimators as ``fastmlp._estimators.MLP*`` and adam's state as
``fastmlp._stochastic.StochasticOptimizerState``: both paths must keep loading.
"""

import pathlib
import pickle
import sys
import warnings

import numpy as np

import fastmlp
from fastmlp import MLPClassifier, MLPRegressor


def main(out):
    assert fastmlp.__version__ == "0.1.0", fastmlp.__version__
    rng = np.random.RandomState(0)
    X = rng.standard_normal((60, 4))
    y_class = np.argmax(X[:, :3], axis=1)
    y_reg = X[:, 0] - 2.0 * X[:, 1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: tiny fits on purpose
        clf = MLPClassifier(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=50, random_state=0)
        clf.fit(X, y_class)
        reg = MLPRegressor(hidden_layer_sizes=(5,), solver="adam", max_iter=20, random_state=0)
        reg.fit(X, y_reg)
    X_check = X[:10]
    for name, model, expected in (
        ("mlpclassifier_lbfgs_0_1_0.pkl", clf, clf.predict_proba(X_check)),
        ("mlpregressor_adam_0_1_0.pkl", reg, reg.predict(X_check)),
    ):
        with open(pathlib.Path(out) / name, "wb") as f:
            pickle.dump((model, X_check, expected), f, protocol=4)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).parent)
