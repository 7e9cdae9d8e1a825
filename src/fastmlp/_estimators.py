"""Import alias: fastmlp 0.1.0 pickled its estimators as
``fastmlp._estimators.MLPClassifier`` / ``MLPRegressor``; they live in
fastmlp._classifier and fastmlp._regressor since 0.2, and these names keep
old pickles loading (with FastmlpVersionWarning, as any other version's)."""

from fastmlp._multilayer_perceptron import (
    BaseMultilayerPerceptron,
    FastmlpVersionWarning,
    MLPClassifier,
    MLPRegressor,
)

__all__ = ["BaseMultilayerPerceptron", "FastmlpVersionWarning", "MLPClassifier", "MLPRegressor"]
