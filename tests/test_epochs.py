"""fastmlp._epochs: the compiled sgd/adam epochs (EpochRunner) on their own:
argument checks, and results that depend on the number of minibatch parts
only, never on the threads that ran them. (Parity with sklearn's solvers is
tested through the estimators in test_stochastic.py.)"""

import os
import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.datasets import load_digits
from sklearn.preprocessing import MinMaxScaler

from fastmlp import _core, _epochs, _objective
from fastmlp._network import make_layout

_digits_X, _digits_y = load_digits(return_X_y=True)
X_DIG = MinMaxScaler().fit_transform(_digits_X[:300])
Y_DIG = _digits_y[:300]
SW_DIG = np.random.RandomState(11).uniform(0.2, 3.0, X_DIG.shape[0])


def test_epoch_runner_checks_its_arrays():
    lay = make_layout([4, 3, 2], "relu", "softmax", np.float64, gather=False)
    ws = _objective.Workspace(lay, 1, np.float64)
    X = np.ones((5, 4))
    Y = np.eye(2)[[0, 1, 0, 1, 0]]
    data = _core.Dataset(X, Y, None, np.float64)
    P = lay.n_params
    ok = [np.zeros(P), np.zeros(P), np.zeros(P), np.zeros(P)]
    _epochs.EpochRunner(ws, data, *ok, "adam", 0.0, 1e-3)
    with pytest.raises(ValueError, match="unknown stochastic solver"):
        _epochs.EpochRunner(ws, data, *ok, "lbfgs", 0.0, 1e-3)
    with pytest.raises(ValueError, match="state2"):
        _epochs.EpochRunner(ws, data, ok[0], ok[1], ok[2], None, "adam", 0.0, 1e-3)
    with pytest.raises(ValueError, match="params"):
        _epochs.EpochRunner(ws, data, np.zeros(P - 1), *ok[1:], "sgd", 0.0, 1e-3)
    with pytest.raises(ValueError, match="grad"):
        _epochs.EpochRunner(ws, data, ok[0], np.zeros(P, np.float32), *ok[2:], "sgd", 0.0, 1e-3)
    with pytest.raises(ValueError, match="forward passes only"):
        _epochs.EpochRunner(_objective.Workspace(lay, 2, np.float64, False), data, *ok,
                             "sgd", 0.0, 1e-3)
    r = _epochs.EpochRunner(ws, data, *ok, "sgd", 0.0, 1e-3)
    with pytest.raises(ValueError, match="gather buffer"):
        r.run(np.arange(5, dtype=np.intp), 5, 2)
    with pytest.raises(ValueError, match="row range beyond X"):
        r.run(None, 6, 2)
    with pytest.raises(ValueError, match="batch_size"):
        r.run(None, 5, 0)
    assert np.isfinite(r.run(None, 5, 2))


def test_minibatch_results_do_not_depend_on_the_threads_that_ran_them():
    # a minibatch is split into as many parts as the workspace has threads,
    # reduced in part order: 1, 2, 3 threads or the adaptive choice give the
    # same bits (so the runner may follow the machine's load freely)
    Y = np.eye(10)[Y_DIG]
    data = _core.Dataset(np.ascontiguousarray(X_DIG), Y, SW_DIG, np.float64)
    idx = np.random.RandomState(0).permutation(300).astype(np.intp)
    lay = make_layout([64, 40, 10], "tanh", "softmax", np.float64, gather=True, chunk=16)
    ws = _objective.Workspace(lay, 3, np.float64)
    P = lay.n_params
    results = []
    for fixed in (1, 2, 3, 0):
        params = np.random.RandomState(1).uniform(-0.2, 0.2, P)
        r = _epochs.EpochRunner(ws, data, params, np.empty(P), np.zeros(P), np.zeros(P),
                                 "adam", 1e-3, 1e-2)
        r.fixed_threads = fixed
        assert 1 <= r.threads <= 3
        losses = [r.run(idx, 300, 64) for _ in range(3)]
        results.append((params, losses))
    for params, losses in results[1:]:
        assert_array_equal(params, results[0][0])
        assert losses == results[0][1]
    with pytest.raises(ValueError, match="fixed_threads"):
        r.fixed_threads = -1


@pytest.mark.parametrize("fixed, parallel", [(1, False), (2, True), (0, None)])
def test_runner_books_every_minibatch_on_the_threads_that_ran_it(fixed, parallel):
    # 300 rows in batches of 64: 5 minibatches an epoch, in segments of
    # several minibatches per parallel region
    Y = np.eye(10)[Y_DIG]
    data = _core.Dataset(np.ascontiguousarray(X_DIG), Y, None, np.float64)
    idx = np.arange(300, dtype=np.intp)
    lay = make_layout([64, 40, 10], "relu", "softmax", np.float64, gather=True, chunk=32)
    P = lay.n_params
    r = _epochs.EpochRunner(_objective.Workspace(lay, 2, np.float64), data,
                             np.random.RandomState(1).uniform(-0.2, 0.2, P), np.empty(P),
                             np.zeros(P), np.zeros(P), "adam", 1e-4, 1e-3)
    r.fixed_threads = fixed
    for _ in range(7):
        r.run(idx, 300, 64)
    on_threads, on_one = r.regions_on_threads
    assert on_threads + on_one == 35
    assert r.t == 35
    if parallel is not None:
        assert (on_threads == 35) == parallel and (on_one == 35) != parallel


_ONE_THREAD_SCRIPT = """
import numpy as np
from fastmlp import _core, _epochs, _objective
rng = np.random.RandomState(0)
units, n = (5, 16, 8, 3), 300
P = sum(a * b for a, b in zip(units[:-1], units[1:])) + sum(units[1:])
X = rng.randn(n, 5)
# sgd/adam epochs: a region of one thread runs every part and slice of a
# three-part minibatch, between the same barriers, to the same bits
lay = _core.Layout(units, 3, 2, 16, True)
Yc = np.eye(3)[rng.randint(0, 3, n)]
ds = _core.Dataset(X, Yc, rng.uniform(0.5, 2, n), np.float64)
idx = rng.permutation(n).astype(np.intp)
out = []
for fixed in (1, 3):
    p = np.random.RandomState(1).uniform(-0.5, 0.5, P)
    r = _epochs.EpochRunner(_objective.Workspace(lay, 3, np.float64), ds, p, np.empty(P),
                             np.zeros(P), np.zeros(P), "adam", 1e-3, 1e-2)
    r.fixed_threads = fixed
    out.append((p, [r.run(idx, n, 40) for _ in range(3)]))
np.testing.assert_array_equal(out[0][0], out[1][0])
assert out[0][1] == out[1][1]
"""


def test_one_openmp_thread_runs_every_part_to_the_same_bits():
    # OMP_THREAD_LIMIT=1: a region of one thread runs every part and slice
    # of a three-part minibatch, between the same barriers
    env = dict(os.environ, OMP_THREAD_LIMIT="1")
    proc = subprocess.run([sys.executable, "-P", "-c", _ONE_THREAD_SCRIPT], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
