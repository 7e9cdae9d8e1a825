"""fastmlp: compiled, multi-threaded drop-in replacements for scikit-learn's
MLPClassifier and MLPRegressor."""

from fastmlp._estimators import MLPClassifier, MLPRegressor
from fastmlp._version import __version__

__all__ = ["MLPClassifier", "MLPRegressor", "__version__"]
