"""fastmlp._sample_weight: sample weights accepted and refused exactly as
sklearn's MLP accepts and refuses them (sklearn's _check_sample_weight)."""

import warnings
from decimal import Decimal

import numpy as np
import pytest
from shared_helpers import assert_same_weights
from sklearn.neural_network import MLPRegressor as SkMLPRegressor

from fastmlp import MLPRegressor

_rng = np.random.RandomState(0)
X = _rng.randn(40, 3)
Y = X[:, 0] - X[:, 1]
SW = _rng.uniform(0.5, 2.0, 40).round(2)


def _fit(make, sw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=20,
                    random_state=0).fit(X, Y, sample_weight=sw)


def _forms():
    forms = {
        "object array": SW.astype(object),
        "Decimals": [Decimal(str(w)) for w in SW],
        "numeric strings": [str(w) for w in SW],
    }
    try:
        import pandas as pd
    except ImportError:
        return forms
    forms["pandas object Series"] = pd.Series(SW.astype(object))
    return forms


@pytest.mark.parametrize("form", list(_forms()))
def test_non_float_weights_accepted_as_by_sklearn(form):
    sw = _forms()[form]
    expected = _fit(MLPRegressor, SW)
    assert_same_weights(_fit(MLPRegressor, sw), expected)
    _fit(SkMLPRegressor, sw)  # sklearn accepts it too


@pytest.mark.parametrize("bad", [
    np.array([np.nan] + [1.0] * 39), np.ones((40, 1)), np.ones(39), np.zeros(40),
    np.array(["a"] * 40),
], ids=["nan", "2d", "short", "all zero", "text"])
def test_bad_weights_refused_with_sklearns_error(bad):
    with pytest.raises(ValueError) as ours:
        _fit(MLPRegressor, bad)
    with pytest.raises(ValueError) as theirs:
        _fit(SkMLPRegressor, bad)
    assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize("sw", [
    -np.ones(40), -SW, np.r_[-1.0, np.zeros(39)],
], ids=["all -1", "all negative", "one negative, the others zero"])
def test_lbfgs_fits_weights_of_a_negative_sum_as_sklearn(sw):
    # sklearn's loss and gradient divide by the sum, whatever its sign
    ours, theirs = _fit(MLPRegressor, sw), _fit(SkMLPRegressor, sw)
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-9)
    assert_same_weights(ours, theirs, rtol=1e-7)


def test_lbfgs_weights_summing_to_zero_raise_sklearns_error():
    sw = np.r_[SW[:20], -SW[:20]]
    with pytest.raises(ZeroDivisionError) as ours:
        _fit(MLPRegressor, sw)
    with pytest.raises(ZeroDivisionError) as theirs:
        _fit(SkMLPRegressor, sw)
    assert str(ours.value) == str(theirs.value)
