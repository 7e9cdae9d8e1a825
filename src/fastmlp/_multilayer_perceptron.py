"""Import alias: fastmlp 0.2 development builds pickled their estimators
as ``fastmlp._multilayer_perceptron.MLPClassifier`` / ``MLPRegressor``; they
live in fastmlp._classifier and fastmlp._regressor, and these names keep
those pickles loading."""

from fastmlp._base import BaseMultilayerPerceptron
from fastmlp._classifier import MLPClassifier
from fastmlp._model_io import FastmlpVersionWarning
from fastmlp._regressor import MLPRegressor

__all__ = [
    "BaseMultilayerPerceptron", "FastmlpVersionWarning", "MLPClassifier", "MLPRegressor",
]
