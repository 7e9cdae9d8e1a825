"""MLPRegressor: its parameters (the losses beyond sklearn's too), real
targets, predict and partial_fit; what it shares with the classifier is
BaseMultilayerPerceptron in fastmlp._base."""

from numbers import Real

import numpy as np
from sklearn.base import RegressorMixin, _fit_context
from sklearn.utils import column_or_1d
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_array, validate_data

from fastmlp import _dask
from fastmlp._base import BaseMultilayerPerceptron, in_memory
from fastmlp._predict import check_fitted


class MLPRegressor(RegressorMixin, BaseMultilayerPerceptron):
    """Multi-layer perceptron regressor: a compiled, multi-threaded drop-in
    for :class:`sklearn.neural_network.MLPRegressor`.

    Minimises the squared error (or the Poisson deviance) with L-BFGS or
    stochastic gradient descent. The parameters, defaults, fitted
    attributes, errors and results are scikit-learn's, with one deliberate
    difference: with several outputs and ``loss="squared_error"`` the loss
    is summed over the outputs (scikit-learn reports their mean but follows
    the gradient of the sum, scikit-learn issue 8349); single-output results
    are identical.

    Parameters
    ----------
    loss : {"squared_error", "poisson", "absolute_error", "huber", "quantile"}, \
            default="squared_error"
        The loss: half the squared error, or half the Poisson deviance with
        an exponential output (``y`` must then be non-negative: negative
        targets raise ``ValueError``). Beyond scikit-learn's MLP, with the
        names of its HistGradientBoostingRegressor: ``"absolute_error"``,
        ``"huber"`` (quadratic up to a residual of ``huber_delta``, linear
        beyond) and ``"quantile"`` (the pinball loss at ``quantile``). With
        several outputs every loss is summed over them.

    hidden_layer_sizes : array-like of shape (n_layers - 2,) or int, default=(100,)
        Units of each hidden layer, in order.

    activation : str or list of str, default="relu"
        Activation of the hidden layers. scikit-learn's four:
        ``"identity"`` (``x``), ``"logistic"`` (``1 / (1 + exp(-x))``),
        ``"tanh"`` and ``"relu"`` (``max(0, x)``); beyond scikit-learn,
        ``"gelu"`` (exact, erf form), ``"silu"`` (``x * sigmoid(x)``),
        ``"leaky_relu"`` (slope 0.01 below 0), ``"elu"`` (alpha 1) and
        ``"softplus"`` (``log(1 + exp(x))``). A list or tuple gives one name
        per hidden layer (its length must be ``len(hidden_layer_sizes)``).
        ``to_sklearn`` refuses a model that uses the new options.

    solver : {"lbfgs", "sgd", "adam"}, default="adam"
        The optimizer of the weights.

        - ``"lbfgs"``: scipy's L-BFGS-B (``scipy.optimize.minimize``), driven
          exactly as scikit-learn drives it; each evaluation of the loss and
          its gradient runs in fastmlp's compiled, multi-threaded kernels.
          On small data sets it often converges faster and better.
        - ``"sgd"``: stochastic gradient descent with momentum.
        - ``"adam"``: Kingma and Ba's Adam.

        ``"sgd"`` and ``"adam"`` run whole epochs in compiled code, with
        scikit-learn's shuffling and minibatches.

    alpha : float, default=0.0001
        Strength of the L2 penalty, divided by the sum of the sample weights
        (the number of samples without them) when added to the loss.

    batch_size : int or "auto", default="auto"
        Minibatch size of ``"sgd"`` and ``"adam"``; ``"auto"`` means
        ``min(200, n_samples)``. Ignored by ``"lbfgs"``, which uses every row
        at each evaluation.

    learning_rate : {"constant", "invscaling", "adaptive"}, default="constant"
        Step-size schedule of ``"sgd"``.

        - ``"constant"``: ``learning_rate_init`` throughout.
        - ``"invscaling"``: ``learning_rate_init / t ** power_t`` at time
          step ``t``.
        - ``"adaptive"``: ``learning_rate_init`` while the training loss
          keeps falling; each time two consecutive epochs fail to improve it
          (or the validation score, with ``early_stopping``) by ``tol``, the
          rate is divided by 5.

    learning_rate_init : float, default=0.001
        Initial step size of ``"sgd"`` and ``"adam"``.

    power_t : float, default=0.5
        Exponent of the ``"invscaling"`` schedule (``"sgd"`` only).

    max_iter : int, default=200
        Most iterations: L-BFGS iterations, or epochs (passes over the data)
        for ``"sgd"`` and ``"adam"``.

    shuffle : bool, default=True
        Whether ``"sgd"`` and ``"adam"`` shuffle the rows each epoch.

    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, the ``early_stopping`` split and the
        minibatch shuffling. With the same value, fastmlp's weights follow
        scikit-learn's to rounding. Results never depend on the number of
        threads or on the machine's load.

    tol : float, default=1e-4
        Stop when the loss (or the validation score, with
        ``early_stopping``) has not improved by at least ``tol`` for
        ``n_iter_no_change`` consecutive epochs (``"sgd"``, ``"adam"``, unless
        ``learning_rate="adaptive"``); L-BFGS's own tolerance on the
        gradient.

    verbose : bool, default=False
        Print progress: one line per epoch, and (unlike scikit-learn) one
        line per L-BFGS iteration with the loss and the largest gradient
        entry.

    warm_start : bool, default=False
        Start ``fit`` from the current weights instead of new ones. Changing
        ``hidden_layer_sizes`` between such fits raises ``ValueError``.

    momentum : float, default=0.9
        Momentum of ``"sgd"``, in [0, 1].

    nesterovs_momentum : bool, default=True
        Whether ``"sgd"`` uses Nesterov's momentum (when ``momentum > 0``).

    early_stopping : bool, default=False
        For ``"sgd"`` and ``"adam"``: hold out ``validation_fraction`` of the
        rows, or use the set given to ``fit`` (``X_val``), and stop when the
        validation score has not improved by ``tol`` for ``n_iter_no_change``
        epochs, keeping the best weights. ``"lbfgs"`` does so per iteration
        with ``X_val`` only.

    validation_fraction : float, default=0.1
        Share of the rows held out by ``early_stopping``, in [0, 1).

    beta_1 : float, default=0.9
        Decay rate of Adam's first-moment estimates, in [0, 1).

    beta_2 : float, default=0.999
        Decay rate of Adam's second-moment estimates, in [0, 1).

    epsilon : float, default=1e-8
        Adam's numerical-stability term.

    n_iter_no_change : int, default=10
        Epochs without a ``tol`` improvement before ``"sgd"`` or ``"adam"``
        stop.

    max_fun : int, default=15000
        Most loss evaluations of ``"lbfgs"`` (at least one per iteration).

    huber_delta : float, default=1.0
        Where ``loss="huber"`` turns from quadratic to linear in the
        residual; greater than 0.

    quantile : float, default=0.5
        The quantile that ``loss="quantile"`` estimates, in (0, 1).

    dropout : float or list of float, default=0.0
        Inverted dropout on the hidden layers' activations while training
        with ``"sgd"`` or ``"adam"`` (not in scikit-learn's MLP): each unit
        is zeroed with this probability, in [0, 1) (a list: one rate per
        hidden layer), and the others scaled by ``1 / (1 - rate)``;
        ``predict`` uses every unit. ``"lbfgs"`` takes only 0.

    Attributes
    ----------
    loss_ : float
        The loss at the end of the fit (with the L2 penalty).

    best_loss_ : float or None
        The lowest training loss reached by ``"sgd"`` or ``"adam"``; None
        with ``early_stopping`` (see ``best_validation_score_``).

    loss_curve_ : list of float
        The loss after each iteration: each epoch of ``"sgd"``/``"adam"``
        and, unlike scikit-learn, each L-BFGS iteration too.

    validation_scores_ : list of float or None
        The score (R^2) on the validation set (``X_val``, or the rows
        ``early_stopping`` holds out) after each epoch or L-BFGS iteration;
        None without one (``"lbfgs"``: not set).

    best_validation_score_ : float or None
        The best of ``validation_scores_``; None without a validation set.

    validation_loss_curve_ : list of float
        The training loss function (weighted by ``sample_weight_val``, no L2
        term) on the validation set after each epoch or L-BFGS iteration;
        only set with a validation set.

    t_ : int
        Training rows seen by the solver (the optimizer's time step).

    coefs_ : list of ndarray
        ``coefs_[i]`` is the weight matrix from layer ``i`` to layer
        ``i + 1``, of shape (units of layer i, units of layer i + 1).

    intercepts_ : list of ndarray
        ``intercepts_[i]`` is the bias vector of layer ``i + 1``.

    n_features_in_ : int
        Number of features seen during ``fit``.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Feature names seen during ``fit``, when ``X`` has string column
        names.

    n_iter_ : int
        Iterations (L-BFGS) or epochs (``"sgd"``, ``"adam"``) run.

    n_layers_ : int
        Number of layers, input and output included.

    n_outputs_ : int
        Number of outputs.

    out_activation_ : str
        Name of the output function ("identity", or "exp" with the Poisson loss).

    Notes
    -----
    The data, threads and memory:

    - ``X`` may be a dense array, a SciPy CSR/CSC matrix, a pandas
      DataFrame, or a Dask array or DataFrame (``fit``, ``predict*`` and
      ``score`` then run on the cluster; install the ``dask`` extra).
    - float32 ``X`` trains in float32 with ``"sgd"``/``"adam"``, as in
      scikit-learn; L-BFGS evaluates in float32 and returns float64
      ``coefs_``.
    - The OpenMP thread count follows ``OMP_NUM_THREADS`` and
      ``threadpoolctl.threadpool_limits(user_api="openmp")``; while other
      processes hold the cores, fastmlp runs on fewer threads without
      changing a bit of its results.
    - Memory beyond the data does not grow with the number of rows: the
      kernels work on chunks of rows.

    Fitted models convert both ways with ``to_sklearn`` and
    ``from_sklearn``, report progress through scikit-learn's callback API
    (``set_callbacks``), and export to ONNX after ``import fastmlp.onnx``.
    The README lists every deliberate difference from scikit-learn.

    See Also
    --------
    sklearn.neural_network.MLPRegressor : The scikit-learn estimator this class
        replaces.
    MLPClassifier : fastmlp's classifier.

    Examples
    --------
    >>> from sklearn.datasets import make_regression
    >>> from sklearn.model_selection import train_test_split
    >>> from fastmlp import MLPRegressor
    >>> X, y = make_regression(n_samples=200, n_features=20, random_state=1)
    >>> X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=1)
    >>> reg = MLPRegressor(hidden_layer_sizes=(32,), solver="lbfgs", max_iter=500,
    ...                    random_state=1).fit(X_train, y_train)
    >>> reg.predict(X_test[:2]).shape
    (2,)
    >>> reg.score(X_test, y_test) > 0.99
    True
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
        dropout=0.0,
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
        self.dropout = dropout

    def _kernel_output(self):
        if self.loss in ("absolute_error", "huber", "quantile"):
            param = {"huber": self.huber_delta, "quantile": self.quantile}.get(self.loss)
            return (self.loss, float("nan") if param is None else float(param))
        return self.out_activation_

    def predict(self, X):
        """Predict using the multi-layer perceptron model.

        Parameters
        ----------
        X : {array-like, sparse matrix, Dask collection} of shape (n_samples, n_features)
            The input samples.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The predicted values (a lazy Dask array for Dask input).
        """
        check_fitted(self)
        if _dask.is_dask(X):
            return _dask.predict(self, X, "predict")
        return self._predict(X)

    def _predict(self, X, check_input=True):
        return self._decode(self._forward_pass_fast(X, check_input=check_input))

    @staticmethod
    def _decode(y_pred):
        return y_pred.ravel() if y_pred.shape[1] == 1 else y_pred

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
        """Coefficient of determination (R^2) of ``predict(X)`` against ``y``.

        Parameters
        ----------
        X : {array-like, sparse matrix, Dask collection} of shape (n_samples, n_features)
            The input samples.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The true values.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        score : float
            R^2, as scikit-learn's ``RegressorMixin.score``; on Dask input
            computed on the cluster.
        """
        if _dask.is_dask(X):
            return _dask.score(self, X, y, sample_weight)
        return super().score(X, in_memory(y), sample_weight=in_memory(sample_weight))

    @staticmethod
    def _score_function(y, y_pred, sample_weight=None):
        from sklearn.metrics import r2_score

        return r2_score(y, y_pred, sample_weight=sample_weight)

    def _validation_targets(self, y_val):
        """y_val checked as y: (as score takes it, (n_val, n_outputs))."""
        y_val = check_array(y_val, ensure_2d=False, dtype="numeric", input_name="y_val")
        if y_val.ndim == 2 and y_val.shape[1] == 1:
            y_val = column_or_1d(y_val, warn=True)
        if self.loss == "poisson" and np.any(y_val < 0):
            raise ValueError("Some value(s) of y_val are negative which is not allowed "
                             "for Poisson regression.")
        return y_val, y_val.reshape(len(y_val), -1)

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
