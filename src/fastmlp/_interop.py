"""Conversion between fastmlp's estimators and scikit-learn's.

Both sides store the same fitted state (weights as lists of arrays, the label
binarizer, counters and curves), so conversion copies that state across; any
tool that knows sklearn's MLP (inspection, plotting, ONNX converters, model
registries) can then work on a fastmlp model and back.

This module imports none of fastmlp's estimators (they import it): the kind
of model, classifier or regressor, comes from sklearn's ClassifierMixin, so
a user's subclass converts as its base class does.
"""

import copy

import numpy as np
from sklearn.base import ClassifierMixin, is_classifier
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.neural_network import MLPRegressor as SkMLPRegressor
from sklearn.utils.validation import check_is_fitted

# fitted attributes shared by both implementations (present ones are copied)
_FITTED = (
    "coefs_", "intercepts_", "n_iter_", "loss_", "n_layers_", "n_outputs_",
    "out_activation_", "classes_", "_label_binarizer", "n_features_in_",
    "feature_names_in_", "t_", "loss_curve_", "best_loss_", "validation_scores_",
    "best_validation_score_", "_no_improvement_count", "_best_coefs",
    "_best_intercepts",
)


def _copy_state(src, dst):
    for name in _FITTED:
        if hasattr(src, name):
            value = getattr(src, name)
            if name in ("coefs_", "intercepts_", "_best_coefs", "_best_intercepts"):
                value = [np.array(v, copy=True) for v in value]
            else:
                value = copy.deepcopy(value)
            setattr(dst, name, value)
    # the sgd/adam state (moments, velocities, step count, current rate), so
    # partial_fit goes on where the other library would: sklearn's optimizer
    # object goes across as it is (fastmlp converts it on its next
    # partial_fit), fastmlp's packed state as sklearn's object
    optimizer = getattr(src, "_optimizer", None)
    if optimizer is not None:
        if hasattr(optimizer, "to_sklearn"):
            optimizer = optimizer.to_sklearn(src.coefs_, src.intercepts_)
        else:
            optimizer = copy.deepcopy(optimizer)
        dst._optimizer = optimizer
    return dst


def _shared_params(src, dst_class):
    names = dst_class().get_params(deep=False)
    return {k: v for k, v in src.get_params(deep=False).items() if k in names}


# what sklearn's MLPs can represent (the options beyond them: issue 24)
_SKLEARN_ACTIVATIONS = ("identity", "logistic", "tanh", "relu")
_SKLEARN_LOSSES = ("log_loss", "squared_error", "poisson")


def _beyond_sklearn(model):
    """The option of `model` that sklearn's MLPs do not have, named, or None."""
    activation = model.activation
    if not isinstance(activation, str):
        return f"per-layer activations (activation={activation!r})"
    if activation not in _SKLEARN_ACTIVATIONS:
        return f"the {activation!r} activation"
    if model.loss not in _SKLEARN_LOSSES:
        return f"the {model.loss!r} loss"
    return None


def to_sklearn(model):
    """A fitted sklearn.neural_network estimator with `model`'s weights."""
    check_is_fitted(model)
    feature = _beyond_sklearn(model)
    if feature is not None:
        raise ValueError(
            f"scikit-learn's MLPs cannot represent {feature}: this model has no "
            "sklearn equivalent (fastmlp.onnx exports it)"
        )
    sk_class = SkMLPClassifier if is_classifier(model) else SkMLPRegressor
    return _copy_state(model, sk_class(**_shared_params(model, sk_class)))


def from_sklearn(cls, sk_model):
    """A fitted fastmlp estimator of class `cls` from a fitted sklearn one."""
    expected = SkMLPClassifier if issubclass(cls, ClassifierMixin) else SkMLPRegressor
    if not isinstance(sk_model, expected):
        raise TypeError(
            f"{cls.__name__}.from_sklearn expects a fitted "
            f"sklearn.neural_network.{expected.__name__}, got {type(sk_model).__name__}"
        )
    check_is_fitted(sk_model)
    return _copy_state(sk_model, cls(**_shared_params(sk_model, cls)))
