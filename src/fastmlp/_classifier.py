"""MLPClassifier: its parameters, class weights, predict and partial_fit;
its labels are checked in fastmlp._labels, and what it shares with the
regressor is BaseMultilayerPerceptron in fastmlp._base."""


import numpy as np
from sklearn.base import ClassifierMixin, _fit_context
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import _check_partial_fit_first_call, type_of_target

from fastmlp import _dask
from fastmlp._base import BaseMultilayerPerceptron, in_memory
from fastmlp._labels import validate_input, validation_targets
from fastmlp._predict import check_fitted
from fastmlp._sample_weight import with_class_weight


class MLPClassifier(ClassifierMixin, BaseMultilayerPerceptron):
    """Multi-layer perceptron classifier: a compiled, multi-threaded drop-in
    for :class:`sklearn.neural_network.MLPClassifier`.

    Minimises the log-loss (softmax for several classes, logistic for one or
    several binary outputs) with L-BFGS or stochastic gradient descent. The
    parameters, defaults, fitted attributes, errors and results are
    scikit-learn's; ``class_weight`` is added.

    Parameters
    ----------
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
        rows (stratified, except for multilabel targets), or use the set given
        to ``fit`` (``X_val``), and stop when the validation score has not
        improved by ``tol`` for ``n_iter_no_change`` epochs, keeping the best
        weights. ``"lbfgs"`` does so per iteration with ``X_val`` only.

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

    class_weight : dict, "balanced" or None, default=None
        Weights of the classes, multiplied into ``sample_weight``, as in
        scikit-learn's other classifiers (not in scikit-learn's MLP).
        ``"balanced"`` weighs each class by
        ``n_samples / (n_classes * np.bincount(y))``; it is not available in
        ``partial_fit``. Not available with a 2-D (multilabel) ``y`` on Dask
        input.

    dropout : float or list of float, default=0.0
        Inverted dropout on the hidden layers' activations while training
        with ``"sgd"`` or ``"adam"`` (not in scikit-learn's MLP): each unit
        is zeroed with this probability, in [0, 1) (a list: one rate per
        hidden layer), and the others scaled by ``1 / (1 - rate)``;
        ``predict`` uses every unit. ``"lbfgs"`` takes only 0.

    Attributes
    ----------
    classes_ : ndarray or list of ndarray
        The class labels (one array per output for multilabel targets).

    loss_ : float
        The loss at the end of the fit (with the L2 penalty).

    best_loss_ : float or None
        The lowest training loss reached by ``"sgd"`` or ``"adam"``; None
        with ``early_stopping`` (see ``best_validation_score_``).

    loss_curve_ : list of float
        The loss after each iteration: each epoch of ``"sgd"``/``"adam"``
        and, unlike scikit-learn, each L-BFGS iteration too.

    validation_scores_ : list of float or None
        The score (accuracy) on the validation set (``X_val``, or the rows
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
        Name of the output function ("softmax" or "logistic").

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
    sklearn.neural_network.MLPClassifier : The scikit-learn estimator this class
        replaces.
    MLPRegressor : fastmlp's regressor.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.model_selection import train_test_split
    >>> from fastmlp import MLPClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    >>> clf = MLPClassifier(hidden_layer_sizes=(16,), solver="lbfgs", max_iter=100,
    ...                     random_state=1).fit(X_train / 16, y_train)
    >>> clf.predict(X_test[:5] / 16)
    array([2, 8, 2, 6, 6])
    >>> clf.predict_proba(X_test[:1] / 16).shape
    (1, 10)
    >>> round(clf.score(X_test / 16, y_test), 2)
    0.96
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
        dropout=0.0,
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
        self.dropout = dropout

    _parameter_constraints: dict = {
        **BaseMultilayerPerceptron._parameter_constraints,
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }

    # sklearn stores loss on the instance; the classifier's is fixed
    loss = "log_loss"

    # the labels of fit and of its validation set (fastmlp._labels)
    _validate_input = validate_input
    _validation_targets = validation_targets

    def predict(self, X):
        """Predict using the multi-layer perceptron classifier.

        Parameters
        ----------
        X : {array-like, sparse matrix, Dask collection} of shape (n_samples, n_features)
            The input samples.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_classes)
            The predicted classes (a lazy Dask array for Dask input).
        """
        check_fitted(self)
        if _dask.is_dask(X):
            return _dask.predict(self, X, "predict")
        return self._predict(X)

    def _predict(self, X, check_input=True):
        return self._decode(self._forward_pass_fast(X, check_input=check_input))

    def _decode(self, y_pred):
        """The labels of the forward pass's outputs."""
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        lb = self._label_binarizer
        if getattr(lb, "sparse_input_", True):
            return lb.inverse_transform(y_pred)
        # LabelBinarizer.inverse_transform's own operations, without its
        # per-call checks: the first largest output, or the threshold (a
        # single class, its one label whatever the output, goes through it)
        if lb.y_type_ == "multiclass":
            return lb.classes_[np.argmax(y_pred, axis=1)]
        if lb.y_type_ == "binary" and len(lb.classes_) == 2:
            threshold = (lb.pos_label + lb.neg_label) / 2.0
            return lb.classes_[(y_pred > threshold).astype(np.intp)]
        return lb.inverse_transform(y_pred)

    def score(self, X, y, sample_weight=None):
        """Mean accuracy of ``predict(X)`` against ``y``.

        Parameters
        ----------
        X : {array-like, sparse matrix, Dask collection} of shape (n_samples, n_features)
            The input samples.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The true labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        score : float
            The (weighted) mean accuracy; on Dask input computed on the
            cluster.
        """
        if _dask.is_dask(X):
            return _dask.score(self, X, y, sample_weight)
        return super().score(X, in_memory(y), sample_weight=in_memory(sample_weight))

    @staticmethod
    def _score_function(y, y_pred, sample_weight=None):
        # accuracy_score's value (the weighted mean of the hits) without its
        # target checks (~1 ms a call, once per epoch: y is checked already)
        correct = np.asarray(y) == y_pred
        if correct.ndim == 2:
            correct = correct.all(axis=1)
        return float(np.average(correct, weights=sample_weight))

    def _training_weights(self, y, sample_weight):
        # (on Dask the class weights are applied on the cluster, with the
        # labels: fastmlp._dask.prepare)
        return with_class_weight(self.class_weight, y, sample_weight)

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
        """Logarithm of the class probabilities.

        Parameters
        ----------
        X : {array-like, sparse matrix, Dask collection} of shape (n_samples, n_features)
            The input samples.

        Returns
        -------
        log_y_prob : ndarray of shape (n_samples, n_classes)
            ``log(predict_proba(X))``, classes ordered as in ``classes_`` (a
            lazy Dask array for Dask input).
        """
        if _dask.is_dask(X):
            return _dask.predict(self, X, "predict_log_proba")
        y_prob = self.predict_proba(X)
        return np.log(y_prob, out=y_prob)

    def predict_proba(self, X):
        """Class probabilities.

        Parameters
        ----------
        X : {array-like, sparse matrix, Dask collection} of shape (n_samples, n_features)
            The input samples.

        Returns
        -------
        y_prob : ndarray of shape (n_samples, n_classes)
            The probability of each class, ordered as in ``classes_`` (a lazy
            Dask array for Dask input).
        """
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
