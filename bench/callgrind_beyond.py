"""One single-thread adam epoch of bench/test_bench_beyond.py's problem, to
count its instructions under callgrind (wall-clock ratios are noisy on a
shared machine; instruction counts are not):

    OMP_NUM_THREADS=1 valgrind --tool=callgrind --collect-atstart=no \\
        --toggle-collect='*EpochRunner_5run' python bench/callgrind_beyond.py dropout=0.2

Arguments: activation=NAME, loss=NAME (a regressor), dropout=RATE, rows=N
(default 20000; every minibatch has 200 rows, so the ratios of two cases do
not depend on it). The counted part is the epoch (EpochRunner.run) alone: no
import, no data preparation.
"""

import sys
import warnings

import numpy as np

from fastmlp import MLPClassifier, MLPRegressor

D, K, HIDDEN = 784, 10, 256


def main(args):
    opts = dict(a.split("=", 1) for a in args)
    n = int(opts.pop("rows", 20000))
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, D))
    kw = dict(hidden_layer_sizes=(HIDDEN,), solver="adam", max_iter=1, tol=0, random_state=1)
    if "dropout" in opts:
        kw["dropout"] = float(opts.pop("dropout"))
    if "loss" in opts:
        est = MLPRegressor(loss=opts.pop("loss"), **kw)
        y = X[:, :20] @ rng.normal(size=20) + rng.standard_t(3, size=n)
    else:
        est = MLPClassifier(activation=opts.pop("activation", "relu"), **kw)
        y = rng.integers(0, K, size=n)
    if opts:
        raise SystemExit(f"unknown arguments: {opts}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)


if __name__ == "__main__":
    main(sys.argv[1:])
