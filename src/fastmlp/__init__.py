"""fastmlp: compiled, multi-threaded drop-in replacements for scikit-learn's
MLPClassifier and MLPRegressor."""

import os as _os
from importlib.util import find_spec as _find_spec

if _find_spec("fastmlp._core") is None:
    raise ImportError(
        "fastmlp's compiled core (fastmlp._core and the modules beside it) is not built in "
        f"{_os.path.dirname(__file__)}: Python imported fastmlp from a source tree "
        "(src/ on sys.path). Install the package with 'python3 -m pip install .', or "
        "build the source tree for development: "
        "'python3 -m pip install --no-build-isolation -e .'."
    )
try:
    from fastmlp import _epochs  # noqa: F401  (imports the other compiled modules)
except ImportError as _exc:
    raise ImportError(
        f"fastmlp's compiled core failed to load: {_exc}. It needs the OpenMP runtime "
        "it was built with (with GCC: libgomp.so.1, the package libgomp1 on Debian "
        "and Ubuntu)."
    ) from _exc

from fastmlp._classifier import MLPClassifier
from fastmlp._regressor import MLPRegressor
from fastmlp._version import __version__

__all__ = ["MLPClassifier", "MLPRegressor", "__version__"]
