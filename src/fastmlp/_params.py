"""The constructor parameters both estimators share: their constraints
(sklearn's _parameter_constraints, with the activations and the dropout
beyond sklearn's), and the hidden layers' sizes checked as fit checks them."""

import operator
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, InvalidParameterError, Options, StrOptions

# sklearn's four activations, then those beyond sklearn (issue 24)
ACTIVATIONS = ("identity", "logistic", "tanh", "relu", "gelu", "silu", "leaky_relu", "elu",
               "softplus")


class _ActivationPerLayer(Options):
    """A list or tuple of activation names, one per hidden layer (the count is
    checked against hidden_layer_sizes when fitting)."""

    def __init__(self):
        super().__init__(str, set(ACTIVATIONS))

    def is_satisfied_by(self, val):
        return isinstance(val, (list, tuple)) and all(
            isinstance(a, str) and a in self.options for a in val)

    def __str__(self):
        return f"a list or tuple of names among {sorted(self.options)}, one per hidden layer"


class _RatePerLayer(Options):
    """A list or tuple of dropout rates in [0, 1), one per hidden layer (the
    count is checked against hidden_layer_sizes when fitting)."""

    def __init__(self):
        super().__init__(Real, set())

    def is_satisfied_by(self, val):
        return isinstance(val, (list, tuple)) and all(
            isinstance(r, Real) and not isinstance(r, bool) and 0 <= r < 1 for r in val)

    def __str__(self):
        return "a list or tuple of rates in [0, 1), one per hidden layer"


def dropout_rates(est, n_hidden):
    """est.dropout as one rate per hidden layer; raises, at fit, for a list
    of the wrong length (InvalidParameterError) and for dropout with L-BFGS,
    whose objective must be deterministic (ValueError)."""
    rates = est.dropout
    if isinstance(rates, (list, tuple)):
        if len(rates) != n_hidden:
            raise InvalidParameterError(
                f"The 'dropout' parameter of {type(est).__name__} must give one rate per "
                f"hidden layer: got {len(rates)} rates for {n_hidden} hidden layers "
                f"(hidden_layer_sizes={est.hidden_layer_sizes!r})."
            )
        rates = tuple(float(r) for r in rates)
    else:
        rates = (float(rates),) * n_hidden
    if est.solver == "lbfgs" and any(rates):
        raise ValueError(
            f"dropout={est.dropout!r} needs solver='sgd' or 'adam': L-BFGS needs a "
            "deterministic objective. Use dropout=0.0 with solver='lbfgs'."
        )
    return rates


PARAMETER_CONSTRAINTS = {
    "hidden_layer_sizes": [
        "array-like",
        Interval(Integral, 1, None, closed="left"),
    ],
    "activation": [StrOptions(set(ACTIVATIONS)), _ActivationPerLayer()],
    "solver": [StrOptions({"lbfgs", "sgd", "adam"})],
    "alpha": [Interval(Real, 0, None, closed="left")],
    "batch_size": [
        StrOptions({"auto"}),
        Interval(Integral, 1, None, closed="left"),
    ],
    "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
    "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
    "power_t": [Interval(Real, 0, None, closed="left")],
    "max_iter": [Interval(Integral, 1, None, closed="left")],
    "shuffle": ["boolean"],
    "random_state": ["random_state"],
    "tol": [Interval(Real, 0, None, closed="left")],
    "verbose": ["verbose"],
    "warm_start": ["boolean"],
    "momentum": [Interval(Real, 0, 1, closed="both")],
    "nesterovs_momentum": ["boolean"],
    "early_stopping": ["boolean"],
    "validation_fraction": [Interval(Real, 0, 1, closed="left")],
    "beta_1": [Interval(Real, 0, 1, closed="left")],
    "beta_2": [Interval(Real, 0, 1, closed="left")],
    "epsilon": [Interval(Real, 0, None, closed="neither")],
    "n_iter_no_change": [
        Interval(Integral, 1, None, closed="left"),
        Options(Real, {np.inf}),
    ],
    "max_fun": [Interval(Integral, 1, None, closed="left")],
    "dropout": [Interval(Real, 0, 1, closed="left"), _RatePerLayer()],
}


def _layer_size(size):
    """A hidden layer's size as an int, refused as sklearn refuses it: its
    weights are drawn with the size as a numpy shape, which takes neither
    floats (3.5, 3.0) nor booleans."""
    if isinstance(size, (bool, np.bool_)):
        raise TypeError("an integer is required")
    return operator.index(size)


def hidden_sizes(est):
    """hidden_layer_sizes as a list of ints, checked (with one activation per
    hidden layer when a list is given) as fit checks them."""
    sizes = est.hidden_layer_sizes
    if not hasattr(sizes, "__iter__"):
        sizes = [sizes]
    sizes = list(sizes)
    if np.any(np.array(sizes) <= 0):
        raise ValueError("hidden_layer_sizes must be > 0, got %s." % sizes)
    sizes = [_layer_size(s) for s in sizes]
    if not isinstance(est.activation, str) and len(est.activation) != len(sizes):
        raise InvalidParameterError(
            f"The 'activation' parameter of {type(est).__name__} must name one "
            f"activation per hidden layer: got {len(est.activation)} names for "
            f"{len(sizes)} hidden layers (hidden_layer_sizes={est.hidden_layer_sizes!r})."
        )
    dropout_rates(est, len(sizes))
    return sizes
