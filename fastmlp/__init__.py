"""fastmlp: compiled, multi-threaded drop-in replacements for scikit-learn's
MLPClassifier and MLPRegressor."""

import os as _os

try:
    from fastmlp import _kernels  # noqa: F401  (the compiled core)
except ModuleNotFoundError as _exc:
    if _exc.name != "fastmlp._kernels":
        raise
    raise ImportError(
        "fastmlp's compiled core (fastmlp._kernels) is not built in "
        f"{_os.path.dirname(__file__)}: Python imported fastmlp from a source tree "
        "(the current folder comes first on sys.path). Run from another folder, or "
        "with 'python3 -P' to import the installed package; or build the source tree "
        "for development: 'python3 -m pip install --no-build-isolation -e .'."
    ) from None
except ImportError as _exc:
    raise ImportError(
        f"fastmlp's compiled core failed to load: {_exc}. It links the GNU OpenMP "
        "runtime (libgomp.so.1; on Debian or Ubuntu: apt-get install libgomp1)."
    ) from _exc

from fastmlp._estimators import MLPClassifier, MLPRegressor
from fastmlp._version import __version__

__all__ = ["MLPClassifier", "MLPRegressor", "__version__"]
