"""The public estimators, MLPClassifier and MLPRegressor: their parameters,
targets (labels, class weights; real values), predict and partial_fit.

What they share (fit orchestration, the solvers, the forward pass, pickling)
is BaseMultilayerPerceptron in fastmlp._base.
"""

from numbers import Real

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin, _fit_context
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import column_or_1d
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import (
    _check_partial_fit_first_call,
    type_of_target,
    unique_labels,
)
from sklearn.utils.validation import validate_data

from fastmlp import _dask
from fastmlp._base import BaseMultilayerPerceptron, FastmlpVersionWarning
from fastmlp._callbacks import with_callbacks
from fastmlp._predict import check_fitted
from fastmlp._sample_weight import with_class_weight

__all__ = [
    "BaseMultilayerPerceptron", "FastmlpVersionWarning", "MLPClassifier", "MLPRegressor",
]


class MLPClassifier(ClassifierMixin, BaseMultilayerPerceptron):
    """Multi-layer Perceptron classifier: a compiled, multi-threaded drop-in
    for :class:`sklearn.neural_network.MLPClassifier`.

    Same parameters, defaults, fitted attributes and results as scikit-learn's
    class (see its documentation); `loss_curve_` is also recorded for
    ``solver="lbfgs"``, one value per iteration.

    Beyond scikit-learn: ``activation`` also takes ``"gelu"``, ``"silu"``,
    ``"leaky_relu"``, ``"elu"`` and ``"softplus"``, or a list or tuple of
    names, one per hidden layer.
    """

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        class_weight=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.class_weight = class_weight

    _parameter_constraints: dict = {
        **BaseMultilayerPerceptron._parameter_constraints,
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }

    @with_callbacks
    def fit(self, X, y, sample_weight=None):
        """Fit the model to data matrix X and target(s) y.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The class labels (or label indicator matrix for multilabel).
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights; multiplied by the class weights when
            `class_weight` is set.

        Returns
        -------
        self : object
            The fitted model.
        """
        self._validate_params()
        if _dask.any_dask(X, y, sample_weight):
            # class weights on the cluster, with the labels (fastmlp._dask)
            return _dask.fit(self, X, y, sample_weight)
        weights = with_class_weight(self.class_weight, y, sample_weight)
        return self._fit(
            X, y, sample_weight=weights, incremental=False,
            callback_data=(X, y, sample_weight),
        )

    # sklearn stores loss on the instance; the classifier's is fixed
    loss = "log_loss"

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=["csr", "csc"],
            multi_output=True,
            dtype=(np.float64, np.float32),
            reset=reset,
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if (not hasattr(self, "classes_")) or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
            if self._label_binarizer.y_type_ == "multiclass":
                # what transform gives for the labels it was just fitted on
                # (checked in tests/test_multilayer_perceptron.py), without its ~1 ms of
                # repeated target checks: one column per class
                return X, np.asarray(y).reshape(-1, 1) == self.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError(
                        "warm_start can only be used where `y` has the same "
                        "classes as in the previous call to fit. Previously "
                        f"got {self.classes_}, `y` has {classes}"
                    )
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(
                    "`y` has classes not in `self.classes_`. "
                    f"`self.classes_` has {self.classes_}. 'y' has {classes}."
                )
        y = self._label_binarizer.transform(y).astype(bool)
        return X, y

    def predict(self, X):
        """Predict using the multi-layer perceptron classifier.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y : ndarray, shape (n_samples,) or (n_samples, n_classes)
            The predicted classes (a lazy Dask array for Dask input).
        """
        check_fitted(self)
        if _dask.is_dask(X):
            return _dask.predict(self, X, "predict")
        return self._predict(X)

    def _predict(self, X, check_input=True):
        y_pred = self._forward_pass_fast(X, check_input=check_input)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        lb = self._label_binarizer
        if getattr(lb, "sparse_input_", True):
            return lb.inverse_transform(y_pred)
        # LabelBinarizer.inverse_transform's own operations, without its
        # per-call checks: the first largest output, or the threshold
        if lb.y_type_ == "multiclass":
            return lb.classes_[np.argmax(y_pred, axis=1)]
        if lb.y_type_ == "binary":
            threshold = (lb.pos_label + lb.neg_label) / 2.0
            return lb.classes_[(y_pred > threshold).astype(np.intp)]
        return lb.inverse_transform(y_pred)

    def score(self, X, y, sample_weight=None):
        """Mean accuracy on the given test data and labels (sklearn's
        ClassifierMixin.score); on Dask input computed on the cluster."""
        if _dask.any_dask(X, y, sample_weight):
            return _dask.score(self, X, y, sample_weight)
        return super().score(X, y, sample_weight=sample_weight)

    def _score(self, X, y, sample_weight=None):
        from sklearn.metrics import accuracy_score

        return self._score_with_function(X, y, sample_weight, accuracy_score)

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """Update the model with a single iteration over the given data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.
        y : array-like of shape (n_samples,)
            The target values.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.
        classes : array of shape (n_classes,), default=None
            Classes across all calls to partial_fit; required on the first
            call, optional afterwards.

        Returns
        -------
        self : object
            Trained MLP model.
        """
        if _check_partial_fit_first_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        if isinstance(self.class_weight, str):
            raise ValueError(
                "class_weight 'balanced' is not supported for partial_fit. In order "
                "to use 'balanced' weights, use compute_class_weight('balanced', "
                "classes=classes, y=y) and pass the resulting weights as a dict."
            )
        sample_weight = with_class_weight(self.class_weight, y, sample_weight)
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict_log_proba(self, X):
        """Return the log of probability estimates, shape (n_samples, n_classes)."""
        if _dask.is_dask(X):
            return _dask.predict(self, X, "predict_log_proba")
        y_prob = self.predict_proba(X)
        return np.log(y_prob, out=y_prob)

    def predict_proba(self, X):
        """Probability estimates, shape (n_samples, n_classes), classes ordered
        as in `classes_`."""
        check_fitted(self)
        if _dask.is_dask(X):
            return _dask.predict(self, X, "predict_proba")
        y_pred = self._forward_pass_fast(X)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        if y_pred.ndim == 1:
            return np.vstack([1 - y_pred, y_pred]).T
        return y_pred

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, BaseMultilayerPerceptron):
    """Multi-layer Perceptron regressor: a compiled, multi-threaded drop-in
    for :class:`sklearn.neural_network.MLPRegressor`.

    Same parameters, defaults, fitted attributes and results as scikit-learn's
    class, with one deliberate difference: for several outputs and
    ``loss="squared_error"`` the objective is the squared error summed over
    outputs (sklearn reports the mean over outputs but follows the gradient of
    the sum, scikit-learn issue 8349); single-output results are identical.

    Beyond scikit-learn: the activations of MLPClassifier (five more, or one
    per hidden layer); ``loss="absolute_error"``, ``"huber"`` (quadratic up
    to a residual of ``huber_delta``, linear beyond) and ``"quantile"``
    (pinball loss at ``quantile``), named as in HistGradientBoostingRegressor;
    summed over outputs as the squared error is.
    """

    _parameter_constraints: dict = {
        **BaseMultilayerPerceptron._parameter_constraints,
        "loss": [StrOptions({"squared_error", "poisson", "absolute_error", "huber",
                             "quantile"})],
        "huber_delta": [Interval(Real, 0, None, closed="neither")],
        "quantile": [Interval(Real, 0, 1, closed="neither")],
    }

    def __init__(
        self,
        loss="squared_error",
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        huber_delta=1.0,
        quantile=0.5,
    ):
        self.loss = loss
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.huber_delta = huber_delta
        self.quantile = quantile

    def _kernel_output(self):
        if self.loss in ("absolute_error", "huber", "quantile"):
            param = {"huber": self.huber_delta, "quantile": self.quantile}.get(self.loss)
            return (self.loss, float("nan") if param is None else float(param))
        return self.out_activation_

    def predict(self, X):
        """Predict using the multi-layer perceptron model.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            (a lazy Dask array for Dask input)
        """
        check_fitted(self)
        if _dask.is_dask(X):
            return _dask.predict(self, X, "predict")
        return self._predict(X)

    def _predict(self, X, check_input=True):
        y_pred = self._forward_pass_fast(X, check_input=check_input)
        if y_pred.shape[1] == 1:
            return y_pred.ravel()
        return y_pred

    # sklearn 1.9 guards this with `available_if(lambda est: est._check_solver)`
    # (the method, never called, is always truthy), so its lbfgs regressor
    # exposes a partial_fit that silently runs a whole L-BFGS fit; here lbfgs
    # hides it (AttributeError), as the classifier does in both libraries.
    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """Update the model with a single iteration over the given data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.
        y : ndarray of shape (n_samples,)
            The target values.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        self : object
            Trained MLP model.
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def score(self, X, y, sample_weight=None):
        """R^2 of the prediction (sklearn's RegressorMixin.score); on Dask
        input computed on the cluster."""
        if _dask.any_dask(X, y, sample_weight):
            return _dask.score(self, X, y, sample_weight)
        return super().score(X, y, sample_weight=sample_weight)

    def _score(self, X, y, sample_weight=None):
        from sklearn.metrics import r2_score

        return self._score_with_function(X, y, sample_weight, r2_score)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # y of shape (n_samples, n_outputs) is fitted as one network with
        # n_outputs output units (sklearn's MLPRegressor does the same but
        # leaves the tag False, so the common checks skip its multi-output case)
        tags.target_tags.multi_output = True
        return tags

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=["csr", "csc"],
            multi_output=True,
            y_numeric=True,
            dtype=(np.float64, np.float32),
            reset=reset,
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if self.loss == "poisson" and np.any(y < 0):
            # sklearn's MLP would train on a NaN loss here; its PoissonRegressor
            # refuses, and so do we
            raise ValueError(
                "Some value(s) of y are negative which is not allowed for "
                "Poisson regression."
            )
        return X, y
