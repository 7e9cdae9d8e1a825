"""fastmlp._fewrows: the products of a forward pass over a few rows.

The kernel against NumPy's float64 product to rounding, over odd shapes,
float32 and float64, C and F order; every output one sum that depends on
neither the other rows nor the column range; predict on a few rows against
the BLAS path and against sklearn, on any number of threads.
"""

import warnings

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from fastmlp import MLPClassifier, MLPRegressor
from fastmlp._fewrows import few_rows_product
from fastmlp._forward import FEW_ROWS

ROWS = (1, 2, 3, 4, 5, 6, 7, 13, 64, 65, 300)
COLUMNS = (1, 2, 7, 8, 15, 16, 17, 31, 33, 64, 100, 257, 1000)


def _product(A, W, c0=0, c1=None):
    Z = np.full((A.shape[0], W.shape[1]), np.nan, dtype=W.dtype)
    return few_rows_product(A, W, Z, c0, c1)


def _within_rounding(Z, A, W):
    """|Z - A @ W| within the error bound of a sum of h products, each
    rounded once (h eps sum |a w|), against the float64 product."""
    A64, W64 = A.astype(np.float64), W.astype(np.float64)
    bound = A.shape[1] * np.finfo(W.dtype).eps * (np.abs(A64) @ np.abs(W64))
    err = np.abs(Z.astype(np.float64) - A64 @ W64)
    assert np.all(err <= bound), float(np.max(err - bound))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("h", [1, 5, 64, 129, 784])
def test_product_against_numpy(dtype, order, h):
    rng = np.random.default_rng(h)
    for m in ROWS:
        A = np.asarray(rng.standard_normal((m, h)), dtype=dtype, order=order)
        for w in COLUMNS:
            W = rng.standard_normal((h, w)).astype(dtype)
            Z = _product(A, W)
            _within_rounding(Z, A, W)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_each_output_is_one_sum(dtype):
    """A row's values are the same alone or among other rows, in C or F
    order, and a column range gives the whole product's values (how threads
    share the columns)."""
    rng = np.random.default_rng(0)
    for m, h, w in ((7, 64, 100), (13, 129, 33), (5, 784, 256), (65, 3, 17)):
        A = rng.standard_normal((m, h)).astype(dtype)
        W = rng.standard_normal((h, w)).astype(dtype)
        whole = _product(A, W)
        np.testing.assert_array_equal(_product(np.asfortranarray(A), W), whole)
        for i in range(m):
            np.testing.assert_array_equal(_product(A[i:i + 1], W)[0], whole[i])
        for c0, c1 in ((0, 1), (3, 10), (w - 9, w), (1, w - 1), (w // 2, w)):
            if 0 <= c0 <= c1 <= w:
                Z = _product(A, W, c0, c1)
                np.testing.assert_array_equal(Z[:, c0:c1], whole[:, c0:c1])
                # nothing outside the range is written
                assert np.isnan(Z[:, :c0]).all() and np.isnan(Z[:, c1:]).all()


def test_product_refuses_bad_operands():
    A = np.ones((3, 4))
    W = np.ones((4, 5))
    for args in ((A, W.astype(np.float32), np.empty((3, 5))),
                 (A, np.ones((5, 5)), np.empty((3, 5))),
                 (A, np.asfortranarray(W), np.empty((3, 5))),
                 (A, W, np.empty((3, 6))),
                 (A[:, ::2], np.ones((2, 5)), np.empty((3, 5))),
                 (A.astype(np.int64), W.astype(np.int64), np.empty((3, 5), np.int64))):
        with pytest.raises(ValueError):
            few_rows_product(*args)
    for c0, c1 in ((-1, 5), (3, 2), (0, 6)):
        with pytest.raises(ValueError):
            few_rows_product(A, W, np.empty((3, 5)), c0, c1)


def _random_fit(est, n_features, n_outputs, dtype):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, n_features)).astype(dtype)
    if isinstance(est, MLPClassifier):
        y = rng.integers(0, n_outputs, 300)
    else:
        y = rng.normal(size=(300, n_outputs)).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(X, y), X


NETS = [
    # (estimator, features, outputs): the rows path (no layer wider than a
    # column block), the column-block path, several layers, narrow layers
    (lambda act: MLPClassifier(hidden_layer_sizes=(64,), activation=act, solver="adam", max_iter=2,
                               random_state=0), 64, 10),
    (lambda act: MLPClassifier(hidden_layer_sizes=(256,), activation=act, solver="adam", max_iter=2,
                               random_state=0), 784, 10),
    (lambda act: MLPClassifier(hidden_layer_sizes=(130, 20, 70), activation=act, solver="adam",
                               max_iter=2, random_state=0), 33, 2),
    (lambda act: MLPRegressor(hidden_layer_sizes=(65, 9), activation=act, solver="adam", max_iter=2,
                              random_state=0), 17, 40),
]


@pytest.mark.parametrize("net", range(len(NETS)))
@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_few_rows_predict_as_the_blas_path_and_sklearn(net, activation, dtype):
    """A few rows give the values of the same rows in a batch that goes
    through BLAS, and sklearn's (float64) to rounding."""
    make, n_features, n_outputs = NETS[net]
    est, X = _random_fit(make(activation), n_features, n_outputs, dtype)
    method = "predict_proba" if isinstance(est, MLPClassifier) else "predict"
    big = getattr(est, method)(X)  # 300 rows: BLAS
    # sklearn with the same weights in float64: the reference
    sk = est.to_sklearn()
    sk.coefs_ = [c.astype(np.float64) for c in sk.coefs_]
    sk.intercepts_ = [b.astype(np.float64) for b in sk.intercepts_]
    ref = getattr(sk, method)(X.astype(np.float64))
    tol = ({"rtol": 2e-5, "atol": 1e-6} if dtype == np.float32
           else {"rtol": 1e-12, "atol": 1e-14})
    for n in (1, 2, 3, 5, 16, 17, 31, FEW_ROWS):
        for rows in (np.ascontiguousarray(X[:n]), np.asfortranarray(X[:n])):
            got = getattr(est, method)(rows)
            np.testing.assert_allclose(got, big[:n], **tol, err_msg=f"{n} rows")
            np.testing.assert_allclose(got, ref[:n], **tol, err_msg=f"{n} rows")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_few_rows_do_not_depend_on_the_thread_count(dtype, monkeypatch):
    """The rows path (one chunk below 16 rows, two from 16) and the
    column-block path give the same bits on 1, 2 and 3 threads."""
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    for hidden, n_features in (((64,), 64), ((256,), 784), ((100, 70), 20)):
        est, X = _random_fit(MLPClassifier(hidden_layer_sizes=hidden, solver="adam", max_iter=2,
                                           random_state=0), n_features, 10, dtype)
        for n in (1, 2, 8, 9, 15, 16, 17, 33, FEW_ROWS, FEW_ROWS + 1):
            rows = np.ascontiguousarray(X[:n])
            with threadpool_limits(1, user_api="openmp"):
                one = est.predict_proba(rows)
            for t in (2, 3):
                with threadpool_limits(t, user_api="openmp"):
                    np.testing.assert_array_equal(est.predict_proba(rows), one,
                                                  err_msg=f"{n} rows, {t} threads")


@pytest.mark.parametrize("activation", ["gelu", "silu", "leaky_relu", "elu", "softplus",
                                        ["gelu", "relu", "softplus"]])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_few_rows_predict_with_the_new_activations(activation, dtype):
    """The activations beyond sklearn's (and one per layer) through the
    few-rows products give the values of the same rows through BLAS."""
    hidden = (130, 20, 70) if isinstance(activation, list) else (256,)
    make = MLPClassifier(hidden_layer_sizes=hidden, activation=activation, solver="adam",
                         max_iter=2, random_state=0)
    est, X = _random_fit(make, 784, 10, dtype)
    big = est.predict_proba(X)  # 300 rows: BLAS
    tol = 2e-5 if dtype == np.float32 else 1e-12
    for n in (1, 7, FEW_ROWS):
        np.testing.assert_allclose(est.predict_proba(X[:n]), big[:n], rtol=tol, atol=tol)
