"""fastmlp._network: packing, chunk sizes and the factories of compiled objects."""

import itertools

import numpy as np
import pytest

from fastmlp._network import (
    chunk_rows,
    make_layout,
    minibatch_chunk_rows,
    pack,
    unpack,
    unpack_units,
)


@pytest.mark.parametrize("units", [[3, 1], [5, 16, 8, 3], [64, 100, 1]])
def test_unpack_units_views_like_the_layout(units):
    rng = np.random.RandomState(0)
    coefs = [rng.randn(a, b) for a, b in zip(units[:-1], units[1:])]
    intercepts = [rng.randn(b) for b in units[1:]]
    params = pack(coefs, intercepts, np.float64)
    layout = make_layout(units, "relu", "identity", np.float64)
    for got, want in zip([*itertools.chain(*unpack_units(params, units))],
                         [*itertools.chain(*unpack(params, layout))], strict=True):
        assert got.shape == want.shape
        assert np.shares_memory(got, params)
        np.testing.assert_array_equal(got, want)
    c, b = unpack_units(params, units)
    for x, y in zip(c + b, coefs + intercepts, strict=True):
        np.testing.assert_array_equal(x, y)


def test_chunk_sizes():
    units = [64, 256, 10]
    rows = chunk_rows(units, 8)
    assert rows % 8 == 0
    # one chunk per part when it fits the slack, else equal chunks
    assert minibatch_chunk_rows(units, 8, 200, 2) == 100
    big = minibatch_chunk_rows(units, 8, 100000, 1)
    n_chunks = -(-100000 // big)
    assert big <= 2 * rows
    assert n_chunks * big - 100000 < n_chunks  # equal to a row
