"""What a fitted model carries in and out of the process: pickles that
record the fastmlp version (and warn when another loads them), and the
conversion to and from scikit-learn's own estimators."""

import warnings

from sklearn.exceptions import InconsistentVersionWarning

from fastmlp._interop import from_sklearn, to_sklearn
from fastmlp._version import __version__


class FastmlpVersionWarning(InconsistentVersionWarning):
    """A fastmlp model was unpickled by another fastmlp version than the one
    that pickled it (sklearn's InconsistentVersionWarning, for fastmlp)."""

    def __str__(self):
        return (
            f"Trying to unpickle estimator {self.estimator_name} from fastmlp version "
            f"{self.original_sklearn_version} when using fastmlp version "
            f"{self.current_sklearn_version}. This might lead to breaking code or "
            "invalid results. Use at your own risk."
        )


class ModelIOMixin:
    """Pickling with the fastmlp version, and to_sklearn/from_sklearn."""

    def __getstate__(self):
        state = super().__getstate__()
        return dict(state, _fastmlp_version=__version__)

    def __setstate__(self, state):
        state = dict(state)
        pickle_version = state.pop("_fastmlp_version", "unknown")
        if pickle_version != __version__:
            warnings.warn(
                FastmlpVersionWarning(
                    estimator_name=type(self).__name__,
                    current_sklearn_version=__version__,
                    original_sklearn_version=pickle_version,
                )
            )
        # parameters added since the pickle was written (dropout...) take their defaults
        for name, default in type(self)().get_params(deep=False).items():
            state.setdefault(name, default)
        super().__setstate__(state)

    def to_sklearn(self):
        """The fitted model as a scikit-learn estimator.

        For tools that know only scikit-learn's classes: the result has the
        same parameters and weights, so the same predictions.

        Returns
        -------
        model : sklearn.neural_network.MLPClassifier or MLPRegressor
            A fitted scikit-learn estimator of the same kind.

        Examples
        --------
        >>> from sklearn.datasets import load_iris
        >>> from fastmlp import MLPClassifier
        >>> X, y = load_iris(return_X_y=True)
        >>> clf = MLPClassifier((8,), solver="lbfgs", max_iter=500, random_state=0).fit(X, y)
        >>> sk = clf.to_sklearn()
        >>> type(sk).__module__
        'sklearn.neural_network._multilayer_perceptron'
        >>> bool((sk.predict(X) == clf.predict(X)).all())
        True
        """
        return to_sklearn(self)

    @classmethod
    def from_sklearn(cls, model):
        """A fitted fastmlp estimator from a fitted scikit-learn one.

        Parameters
        ----------
        model : sklearn.neural_network.MLPClassifier or MLPRegressor
            A fitted scikit-learn estimator of the same kind as ``cls``.

        Returns
        -------
        estimator : MLPClassifier or MLPRegressor
            A fitted fastmlp estimator with the same parameters and weights.

        Examples
        --------
        >>> from sklearn.datasets import load_iris
        >>> from sklearn.neural_network import MLPClassifier as SkMLPClassifier
        >>> from fastmlp import MLPClassifier
        >>> X, y = load_iris(return_X_y=True)
        >>> sk = SkMLPClassifier((8,), solver="lbfgs", max_iter=500, random_state=0).fit(X, y)
        >>> clf = MLPClassifier.from_sklearn(sk)
        >>> bool((clf.predict(X) == sk.predict(X)).all())
        True
        """
        return from_sklearn(cls, model)
