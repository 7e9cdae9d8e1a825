"""Whether an input is a Dask collection, without importing Dask.

The estimators hand Dask arrays, DataFrames and Series to fastmlp._dask;
nothing here imports Dask, so ``import fastmlp`` never needs it.
"""

import sys


def is_dask(obj):
    """Whether obj is a Dask collection (array, DataFrame, Series, and the
    dask-expr DataFrames that live outside the ``dask`` package). Such an
    object cannot exist unless Dask is imported, so Dask is asked only then."""
    dask = sys.modules.get("dask")
    return obj is not None and dask is not None and dask.is_dask_collection(obj)


def any_dask(*objs):
    return any(is_dask(obj) for obj in objs)
