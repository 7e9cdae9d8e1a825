"""Whether an input is a Dask collection, without importing Dask.

The estimators hand Dask arrays, DataFrames and Series to fastmlp._dask;
nothing here imports Dask, so ``import fastmlp`` never needs it.
"""

def is_dask(obj):
    """Whether obj is a Dask collection (array, DataFrame, Series), without
    importing Dask: such an object cannot exist unless Dask is imported."""
    return obj is not None and type(obj).__module__.split(".", 1)[0] == "dask"


def any_dask(*objs):
    return any(is_dask(obj) for obj in objs)
