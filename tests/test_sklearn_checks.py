"""scikit-learn's estimator checks (check_estimator), with no expected failure.

The default solver (adam) runs with max_iter=100, as sklearn's own common
tests run its MLPs; L-BFGS runs on a small hidden layer. Each instance passes
every check that applies (sklearn skips check_array_api_input without
SCIPY_ARRAY_API=1, and the classifier's multilabel decision_function check:
there is no decision_function).
"""

import warnings

from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

from fastmlp import MLPClassifier, MLPRegressor

ESTIMATORS = [
    MLPClassifier(max_iter=100),
    MLPRegressor(max_iter=100),
    MLPClassifier(hidden_layer_sizes=(10,), solver="lbfgs", max_iter=100, random_state=0),
    MLPRegressor(hidden_layer_sizes=(10,), solver="lbfgs", max_iter=100, random_state=0),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)
