"""sklearn-facing estimators: parameters, validation, fit/predict orchestration.

Behaviour follows scikit-learn 1.9's MLPClassifier / MLPRegressor parameter by
parameter; the numerical work is done by the compiled core on one
packed parameter vector.
"""

import threading
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    RegressorMixin,
    _fit_context,
    is_classifier,
)
from sklearn.exceptions import InconsistentVersionWarning
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state, column_or_1d
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import (
    _check_partial_fit_first_call,
    type_of_target,
    unique_labels,
)
from sklearn.utils.validation import check_is_fitted, validate_data

from fastmlp._core import Dataset
from fastmlp._callbacks import CallbackSupportMixin, FitProgress, with_callbacks
from fastmlp._interop import from_sklearn, to_sklearn
from fastmlp._version import __version__
from fastmlp._network import (
    as_kernel_input,
    make_layout,
    make_workspace,
    pack,
    unpack,
)
from fastmlp._solvers import fit_lbfgs
from fastmlp._stochastic import fit_stochastic
from fastmlp._threads import blas_single_thread

_STOCHASTIC_SOLVERS = ("sgd", "adam")


class _SharedBlasLimit:
    """blas_single_thread() shared by every fit and predict running at once.

    threadpoolctl's limit is process-wide and restores what it saw on entry:
    two overlapping calls from different Python threads would let the second
    save the first's limit (1) and restore it last, leaving BLAS on one
    thread for the rest of the process. Here the first call in sets the limit
    and the last one out restores the original.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._count = 0
        self._limiter = None

    def __enter__(self):
        with self._lock:
            if self._count == 0:
                self._limiter = blas_single_thread()
                self._limiter.__enter__()
            self._count += 1
        return self

    def __exit__(self, *exc_info):
        with self._lock:
            self._count -= 1
            if self._count == 0:
                limiter, self._limiter = self._limiter, None
                limiter.__exit__(None, None, None)
        return False


_BLAS_LIMIT = _SharedBlasLimit()


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


def _check_sample_weight(sample_weight, X, dtype):
    """sample_weight as a contiguous (n_samples,) array of the model's dtype,
    with sklearn's errors."""
    n = X.shape[0]
    if isinstance(sample_weight, Real):
        sample_weight = np.full(n, sample_weight, dtype=dtype)
    sw = np.asarray(sample_weight)
    if sw.ndim != 1:
        raise ValueError("Sample weights must be 1D array or scalar")
    if sw.shape != (n,):
        raise ValueError(f"sample_weight.shape == {sw.shape}, expected {(n,)}!")
    if sw.dtype.kind not in "biuf":
        raise ValueError(f"sample_weight must be numeric, got dtype {sw.dtype}")
    sw = np.ascontiguousarray(sw, dtype=dtype)
    if not np.isfinite(sw).all():
        raise ValueError("Input sample_weight contains NaN or infinity.")
    if not sw.any():
        # sklearn's _check_sample_weight refuses these up front (the stochastic
        # solvers would otherwise divide by a zero weight sum)
        raise ValueError("Sample weights must contain at least one non-zero number.")
    return sw


class BaseMultilayerPerceptron(CallbackSupportMixin, BaseEstimator):
    """Shared machinery of MLPClassifier and MLPRegressor.

    ``set_callbacks`` takes sklearn's callbacks (sklearn.callback): one task
    per fit, one subtask per L-BFGS iteration or sgd/adam epoch (see
    fastmlp._callbacks).
    """

    _parameter_constraints: dict = {
        "hidden_layer_sizes": [
            "array-like",
            Interval(Integral, 1, None, closed="left"),
        ],
        "activation": [StrOptions({"identity", "logistic", "tanh", "relu"})],
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
    }

    # ------------------------------------------------------------ set-up --

    def _hidden_sizes(self):
        sizes = self.hidden_layer_sizes
        if not hasattr(sizes, "__iter__"):
            sizes = [sizes]
        sizes = list(sizes)
        if np.any(np.array(sizes) <= 0):
            raise ValueError("hidden_layer_sizes must be > 0, got %s." % sizes)
        return [int(s) for s in sizes]

    def _out_activation(self):
        if not is_classifier(self):
            return "exp" if self.loss == "poisson" else "identity"
        if self._label_binarizer.y_type_ == "multiclass":
            return "softmax"
        return "logistic"

    def _initialize(self, y, layer_units, dtype):
        """Fresh weights drawn exactly as sklearn draws them (Glorot uniform,
        coefficients then intercepts, layer by layer, one RandomState)."""
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = y.shape[1]
        self.n_layers_ = len(layer_units)
        self.out_activation_ = self._out_activation()
        self.coefs_ = []
        self.intercepts_ = []
        factor = 2.0 if self.activation == "logistic" else 6.0
        for fan_in, fan_out in zip(layer_units[:-1], layer_units[1:]):
            bound = np.sqrt(factor / (fan_in + fan_out))
            coef = self._random_state.uniform(-bound, bound, (fan_in, fan_out))
            intercept = self._random_state.uniform(-bound, bound, fan_out)
            self.coefs_.append(coef.astype(dtype, copy=False))
            self.intercepts_.append(intercept.astype(dtype, copy=False))
        self._best_coefs = [c.copy() for c in self.coefs_]
        self._best_intercepts = [i.copy() for i in self.intercepts_]
        if self.solver in _STOCHASTIC_SOLVERS:
            self.loss_curve_ = []
            self._no_improvement_count = 0
            if self.early_stopping:
                self.validation_scores_ = []
                self.best_validation_score_ = -np.inf
                self.best_loss_ = None
            else:
                self.best_loss_ = np.inf
                self.validation_scores_ = None
                self.best_validation_score_ = None

    # --------------------------------------------------------------- fit --

    @with_callbacks
    def fit(self, X, y, sample_weight=None):
        """Fit the model to data matrix X and target(s) y.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The target values (class labels in classification, real numbers in
            regression).
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        self : object
            The fitted model.
        """
        self._validate_params()
        return self._fit(
            X, y, sample_weight=sample_weight, incremental=False,
            callback_data=(X, y, sample_weight),
        )

    def _fit(self, X, y, sample_weight=None, incremental=False, callback_data=None):
        """callback_data: (X, y, sample_weight) as fit got them, for the
        callbacks' hooks; None (partial_fit): no callbacks."""
        hidden = self._hidden_sizes()
        first_pass = not hasattr(self, "coefs_") or (
            not self.warm_start and not incremental
        )
        X, y = self._validate_input(X, y, incremental, reset=first_pass)
        dtype = X.dtype
        if X.shape[0] == 0:
            raise ValueError("Found array with 0 sample(s) while a minimum of 1 is required.")
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype)
        if y.ndim == 1:
            y = y.reshape((-1, 1))
        self.n_outputs_ = y.shape[1]
        layer_units = [X.shape[1]] + hidden + [self.n_outputs_]
        self._random_state = check_random_state(self.random_state)
        if first_pass:
            self._initialize(y, layer_units, dtype)
        elif [c.shape for c in self.coefs_] != list(zip(layer_units[:-1], layer_units[1:])):
            raise ValueError(
                "The network shape changed since the last fit: hidden_layer_sizes "
                "or the number of features or outputs differ."
            )

        Y = np.ascontiguousarray(y, dtype=dtype)
        Xk = as_kernel_input(X, dtype)
        stochastic = self.solver in _STOCHASTIC_SOLVERS
        progress = None
        if callback_data is not None:
            # L-BFGS begins one iteration more than it runs (sklearn's bridge)
            progress = FitProgress.start(
                self, *callback_data,
                task_name="epoch" if stochastic else "lbfgs-iter",
                max_subtasks=self.max_iter if stochastic else self.max_iter + 1,
            )
        with _BLAS_LIMIT:
            if stochastic:
                self._fit_stochastic(
                    X, Xk, Y, sample_weight, layer_units, incremental, progress
                )
            else:
                self._fit_lbfgs(Xk, Y, sample_weight, layer_units, progress)

        for w in self.coefs_ + self.intercepts_:
            if not np.isfinite(w).all():
                raise ValueError(
                    "Solver produced non-finite parameter weights. The input data may"
                    " contain large values and need to be preprocessed."
                )
        if progress is not None:
            progress.finish()
        return self

    def _fit_lbfgs(self, Xk, Y, sample_weight, layer_units, progress=None):
        dtype = Y.dtype
        layout = make_layout(layer_units, self.activation, self.out_activation_, dtype)
        ws = make_workspace(layout, dtype, Y.shape[0])
        data = Dataset(Xk, Y, sample_weight, dtype)
        sw_sum = Y.shape[0] if sample_weight is None else float(sample_weight.sum(dtype=np.float64))
        if not sw_sum > 0:
            raise ValueError("The sample weights must sum to a positive number.")
        x0 = pack(self.coefs_, self.intercepts_, np.float64)
        on_iteration = None
        if progress is not None and progress.per_step:

            def state(x, n_iter, loss):
                # the estimator as if the fit had stopped at x (called by
                # sklearn only for hooks that take fitted_estimator)
                def attributes():
                    coefs, intercepts = unpack(x.astype(dtype), layout)
                    out = dict(coefs_=coefs, intercepts_=intercepts, n_iter_=n_iter)
                    if loss is not None:
                        out["loss_"] = np.float64(loss)
                    return out

                return attributes

            def on_iteration(x, n_iter, loss):
                # end the iteration scipy finished, begin the next one
                if progress.end(state(x, n_iter, loss)):
                    return True
                progress.begin(state(x, n_iter, loss))
                return False

            progress.begin(state(x0, 0, None))
        result = fit_lbfgs(
            ws, data, x0, alpha=self.alpha, sw_sum=sw_sum, max_iter=self.max_iter,
            max_fun=self.max_fun, tol=self.tol, verbose=self.verbose,
            on_iteration=on_iteration,
        )
        if progress is not None:
            progress.close()
        self.n_iter_ = result.n_iter
        self.loss_ = result.loss
        self.loss_curve_ = result.loss_curve
        self.coefs_, self.intercepts_ = unpack(result.x.astype(dtype), layout)

    def _fit_stochastic(self, X, Xk, Y, sample_weight, layer_units, incremental,
                        progress=None):
        fit_stochastic(
            self, X, Xk, Y, sample_weight, layer_units, incremental, progress=progress
        )

    # ----------------------------------------------------------- predict --

    def _forward_pass_fast(self, X, check_input=True):
        """Output-layer values (after the output function) for X."""
        if check_input:
            X = validate_data(self, X, accept_sparse=["csr", "csc"], reset=False)
        param_dtype = np.result_type(*self.coefs_, *self.intercepts_)
        dtype = np.result_type(X.dtype, param_dtype)
        if dtype not in (np.float32, np.float64):
            dtype = np.float64
        n = X.shape[0]
        units = [c.shape[0] for c in self.coefs_] + [self.coefs_[-1].shape[1]]
        if X.shape[1] != units[0]:
            raise ValueError(
                f"X has {X.shape[1]} features, but the network expects {units[0]}."
            )
        out = np.empty((n, units[-1]), dtype=dtype)
        if n == 0:
            return out
        layout = make_layout(units, self.activation, self.out_activation_, dtype)
        ws = make_workspace(layout, dtype, n, with_grad=False)
        params = pack(self.coefs_, self.intercepts_, dtype)
        data = Dataset(as_kernel_input(X, dtype), None, None, dtype)
        with _BLAS_LIMIT:
            ws.forward(params, data, out)
        return out

    def _score_with_function(self, X, y, sample_weight, score_function):
        y_pred = self._predict(X, check_input=False)
        if np.issubdtype(y_pred.dtype, np.floating) and not np.isfinite(y_pred).all():
            return np.nan
        return score_function(y, y_pred, sample_weight=sample_weight)

    def _check_solver(self):
        if self.solver not in _STOCHASTIC_SOLVERS:
            raise AttributeError(
                "partial_fit is only available for stochastic"
                " optimizers. %s is not stochastic." % self.solver
            )
        return True

    # ------------------------------------------------- pickling, interop --

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
        super().__setstate__(state)

    def to_sklearn(self):
        """The fitted model as a :mod:`sklearn.neural_network` estimator with the
        same parameters and weights (so the same predictions), for tools that
        only know scikit-learn's class."""
        return to_sklearn(self)

    @classmethod
    def from_sklearn(cls, model):
        """A fitted fastmlp estimator from a fitted scikit-learn one of the same
        kind (MLPClassifier or MLPRegressor): same parameters and weights."""
        return from_sklearn(cls, model)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


class MLPClassifier(ClassifierMixin, BaseMultilayerPerceptron):
    """Multi-layer Perceptron classifier: a compiled, multi-threaded drop-in
    for :class:`sklearn.neural_network.MLPClassifier`.

    Same parameters, defaults, fitted attributes and results as scikit-learn's
    class (see its documentation); `loss_curve_` is also recorded for
    ``solver="lbfgs"``, one value per iteration.
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
        weights = self._with_class_weight(y, sample_weight)
        return self._fit(
            X, y, sample_weight=weights, incremental=False,
            callback_data=(X, y, sample_weight),
        )

    def _with_class_weight(self, y, sample_weight):
        """sample_weight times the class weights, as sklearn's other
        classifiers apply `class_weight`; unchanged when it is None."""
        if self.class_weight is None:
            return sample_weight
        y_arr = np.asarray(y)
        if y_arr.ndim == 2 and y_arr.shape[1] == 1:
            y_arr = y_arr.ravel()
        if y_arr.ndim == 1 and isinstance(self.class_weight, dict):
            # classes missing from the dict weigh 1, as in LogisticRegression
            classes, inverse = np.unique(y_arr, return_inverse=True)
            per_class = np.array([float(self.class_weight.get(c, 1.0)) for c in classes])
            cw = per_class[inverse]
        else:
            cw = compute_sample_weight(self.class_weight, y_arr)
        if sample_weight is None:
            return cw
        sample_weight = _check_sample_weight(sample_weight, y_arr, np.float64)
        return sample_weight * cw

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
                # (checked in tests/test_estimators.py), without its ~1 ms of
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
            The predicted classes.
        """
        check_is_fitted(self)
        return self._predict(X)

    def _predict(self, X, check_input=True):
        y_pred = self._forward_pass_fast(X, check_input=check_input)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        return self._label_binarizer.inverse_transform(y_pred)

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
        sample_weight = self._with_class_weight(y, sample_weight)
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict_log_proba(self, X):
        """Return the log of probability estimates, shape (n_samples, n_classes)."""
        y_prob = self.predict_proba(X)
        return np.log(y_prob, out=y_prob)

    def predict_proba(self, X):
        """Probability estimates, shape (n_samples, n_classes), classes ordered
        as in `classes_`."""
        check_is_fitted(self)
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
    """

    _parameter_constraints: dict = {
        **BaseMultilayerPerceptron._parameter_constraints,
        "loss": [StrOptions({"squared_error", "poisson"})],
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

    def predict(self, X):
        """Predict using the multi-layer perceptron model.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        """
        check_is_fitted(self)
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
