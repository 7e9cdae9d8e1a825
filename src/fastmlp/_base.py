"""BaseMultilayerPerceptron: what MLPClassifier and MLPRegressor share.

Weight initialisation, fit orchestration (validated data to the L-BFGS or
sgd/adam solver and back into the fitted attributes) and the forward pass
for predict; the parameters' constraints are in _params, pickling and
sklearn interop in _model_io.
Behaviour follows scikit-learn 1.9's MLPClassifier / MLPRegressor parameter
by parameter; the numerical work is done by the compiled core on one packed
parameter vector (built through fastmlp._network).
"""

from functools import partial

import numpy as np
from sklearn.base import BaseEstimator, _fit_context, is_classifier
from sklearn.utils import check_random_state

from fastmlp import _dask
from fastmlp._callbacks import CallbackSupportMixin, FitProgress
from fastmlp._lbfgs import LbfgsInterrupted, callback_bridge, fit_lbfgs
from fastmlp._model_io import ModelIOMixin
from fastmlp._network import (
    InMemoryData,
    make_dataset,
    make_layout,
    make_workspace,
    nnz_per_row,
    pack,
    unpack,
    unpack_units,
)
from fastmlp._params import PARAMETER_CONSTRAINTS, dropout_rates, hidden_sizes
from fastmlp._predict import forward
from fastmlp._predict import release as release_predict_buffers
from fastmlp._sample_weight import WeightsSumToZero, check_sample_weight
from fastmlp._stochastic import (
    EpochSettings,
    StochasticOptimizerState,
    TrainingRecord,
    fit_stochastic,
)
from fastmlp._threads import BLAS_LIMIT
from fastmlp._validation import LbfgsValidation, check_validation_set, split_or_given

STOCHASTIC_SOLVERS = ("sgd", "adam")

# Glorot uniform initialisation, as sklearn: bound sqrt(factor / (fan_in +
# fan_out)), factor 2 for the logistic activation (Glorot & Bengio's
# recommendation for sigmoid units), 6 for the others
_GLOROT_FACTOR_LOGISTIC = 2.0
_GLOROT_FACTOR = 6.0

def _refit_dtype(x_dtype, coefs):
    """The dtype a fit from existing weights computes in: the wider of the
    data's and the weights', as sklearn's numpy products promote (float32 X
    against the float64 coefs_ of an L-BFGS fit computes in float64)."""
    dtype = np.result_type(x_dtype, *coefs)
    return dtype if dtype in (np.float32, np.float64) else np.dtype(np.float64)


def in_memory(a):
    """A Dask y or sample_weight beside an in-memory X, computed: sklearn's
    np.asarray computes it (the Dask path wants X on Dask, to place the rows)."""
    return np.asarray(a) if _dask.any_dask(a) else a


class BaseMultilayerPerceptron(ModelIOMixin, CallbackSupportMixin, BaseEstimator):
    """Shared machinery of MLPClassifier and MLPRegressor.

    ``set_callbacks`` takes sklearn's callbacks (sklearn.callback): one task
    per fit, one subtask per L-BFGS iteration or sgd/adam epoch (see
    fastmlp._callbacks).
    """

    _parameter_constraints: dict = dict(PARAMETER_CONSTRAINTS)

    # ------------------------------------------------------------ set-up --

    def _glorot_factor(self, layer):
        """sklearn's factor for the weights into layer + 1: from the
        activation; with one per hidden layer, that of the layer they feed
        (the output layer's: the last hidden layer's)."""
        act = self.activation
        if not isinstance(act, str):
            act = act[min(layer, len(act) - 1)] if len(act) else "identity"
        return _GLOROT_FACTOR_LOGISTIC if act == "logistic" else _GLOROT_FACTOR

    def _kernel_output(self):
        """What the kernels compute the loss of: out_activation_ (a
        regressor's robust losses: (loss, its parameter))."""
        return self.out_activation_

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
        for layer, (fan_in, fan_out) in enumerate(zip(layer_units[:-1], layer_units[1:])):
            bound = np.sqrt(self._glorot_factor(layer) / (fan_in + fan_out))
            coef = self._random_state.uniform(-bound, bound, (fan_in, fan_out))
            intercept = self._random_state.uniform(-bound, bound, fan_out)
            self.coefs_.append(coef.astype(dtype, copy=False))
            self.intercepts_.append(intercept.astype(dtype, copy=False))
        self._best_coefs = [c.copy() for c in self.coefs_]
        self._best_intercepts = [i.copy() for i in self.intercepts_]
        # (a validation set's figures are set by the fit that has one)
        for name in ("validation_loss_curve_",) + (
                () if self.solver in STOCHASTIC_SOLVERS
                else ("validation_scores_", "best_validation_score_")):
            vars(self).pop(name, None)
        if self.solver in STOCHASTIC_SOLVERS:
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

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None, *, X_val=None, y_val=None,
            sample_weight_val=None):
        """Fit the model to data matrix X and target(s) y.

        Parameters
        ----------
        X : {array-like, sparse matrix, Dask collection} of shape (n_samples, n_features)
            The training data; float32 data trains in float32 (``"sgd"``,
            ``"adam"``).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The target values (class labels in classification, real numbers in
            regression).
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights; a classifier multiplies them by the class
            weights when ``class_weight`` is set.
        X_val : {array-like, sparse matrix} of shape (n_val, n_features), default=None
            A validation set, evaluated after every epoch or L-BFGS
            iteration (``validation_loss_curve_``, ``validation_scores_``);
            with ``early_stopping=True`` it decides when to stop, for every
            solver, instead of ``validation_fraction`` of X.
        y_val : array-like of shape (n_val,) or (n_val, n_outputs), default=None
            The validation targets (a classifier's labels must be among
            those of ``y``); required with ``X_val``.
        sample_weight_val : array-like of shape (n_val,), default=None
            The validation rows' weights (class weights do not apply).

        Returns
        -------
        self : object
            The fitted model.
        """
        weights = sample_weight
        if not _dask.is_dask(X):
            y, sample_weight = in_memory(y), in_memory(sample_weight)
            weights = self._training_weights(y, sample_weight)
        return self._fit(
            X, y, sample_weight=weights, incremental=False,
            callback_data=(X, y, sample_weight),
            validation=(X_val, y_val, sample_weight_val),
        )

    def _training_weights(self, y, sample_weight):
        """The weights the fit trains with (the classifier's class weights)."""
        return sample_weight

    def _fit(self, X, y, sample_weight=None, incremental=False, callback_data=None,
             validation=(None, None, None)):
        """The fit, in memory or on Dask alike: everything validated, then the
        weights initialised, the solver run under the BLAS limit, the result
        checked and applied. callback_data: (X, y, sample_weight) as fit got
        them, for the callbacks' hooks; None (partial_fit): no callbacks.
        validation: fit's (X_val, y_val, sample_weight_val)."""
        hidden = hidden_sizes(self)
        first_pass = not hasattr(self, "coefs_") or (
            not self.warm_start and not incremental
        )
        # a fit that fails on a minibatch weighing nothing leaves the model as
        # it was before the call: the attributes go back (training works on new
        # packed arrays and puts the optimizer's state back in place)
        state_before = dict(vars(self))
        if _dask.any_dask(X, y, sample_weight):
            data = _dask.prepare(
                self, X, y, sample_weight, first_pass,
                dtype_of=None if first_pass else lambda dt: _refit_dtype(dt, self.coefs_))
        else:
            data = self._in_memory_data(X, y, sample_weight, incremental, first_pass)
        try:
            vset = (_dask.validation_set(self, *validation, data)
                    if _dask.any_dask(*validation) else
                    check_validation_set(self, *validation, data))
        except BaseException:
            # a bad validation set leaves the model as it was
            vars(self).clear()
            vars(self).update(state_before)
            raise
        stochastic = self.solver in STOCHASTIC_SOLVERS
        if not stochastic and data.weight_sum == 0:
            # sklearn's np.average raises here; a negative sum fits, as in sklearn
            raise WeightsSumToZero("Weights sum to zero, can't be normalized")
        self.n_outputs_ = data.n_outputs
        layer_units = [data.n_features] + hidden + [self.n_outputs_]
        self._random_state = check_random_state(self.random_state)
        plan = None
        if data.on_dask and stochastic:
            # drawn before the weights, as the first of a sequence of
            # partial_fit calls over the blocks draws them
            plan = _dask.plan_blocks(
                len(data.x_blocks), self._random_state,
                early_stopping=self.early_stopping and vset is None,
                validation_fraction=self.validation_fraction, shuffle=self.shuffle)
        if first_pass:
            self._initialize(np.empty((0, self.n_outputs_)), layer_units, data.dtype)
        elif [c.shape for c in self.coefs_] != list(zip(layer_units[:-1], layer_units[1:])):
            raise ValueError(
                "The network shape changed since the last fit: hidden_layer_sizes "
                "or the number of features or outputs differ."
            )

        progress = None
        if callback_data is not None:
            # L-BFGS begins one iteration more than it runs (sklearn's bridge)
            progress = FitProgress.start(
                self, *callback_data,
                task_name="epoch" if stochastic else "lbfgs-iter",
                max_subtasks=self.max_iter if stochastic else self.max_iter + 1,
            )
        # the validation passes predict through the model's own cache
        validated = vset is not None or (stochastic and self.early_stopping)
        with BLAS_LIMIT:
            try:
                if stochastic:
                    self._fit_stochastic(data, layer_units, incremental, progress, plan,
                                         vset, continued=not first_pass)
                elif self.solver == "lbfgs":
                    # (another solver, with parameter validation skipped, trains
                    # nothing: sklearn's fit too); warm_start continues the loss
                    # curve, as sgd/adam's
                    self._fit_lbfgs(data, layer_units, progress, vset,
                                    [] if first_pass else getattr(self, "loss_curve_", []))
            except WeightsSumToZero:
                # (on Dask the partitions' own sum, rounded otherwise, may be
                # the one found zero)
                vars(self).clear()
                vars(self).update(state_before)
                raise
            finally:
                if validated:
                    release_predict_buffers(self)

        self._check_weights_finite()
        if progress is not None:
            progress.finish()
        return self

    def _in_memory_data(self, X, y, sample_weight, incremental, first_pass):
        """X, y and sample_weight validated as sklearn validates them (sets
        the input attributes: n_features_in_, classes_...), as InMemoryData."""
        X, y = self._validate_input(X, y, incremental, reset=first_pass)
        dtype = X.dtype if first_pass else _refit_dtype(X.dtype, self.coefs_)
        if X.shape[0] == 0:
            raise ValueError("Found array with 0 sample(s) while a minimum of 1 is required.")
        if sample_weight is not None:
            # checked in X's dtype (sklearn's rounding), then read in the model's
            sample_weight = check_sample_weight(sample_weight, X, X.dtype).astype(
                dtype, copy=False)
        if y.ndim == 1:
            y = y.reshape((-1, 1))
        return InMemoryData(X, np.ascontiguousarray(y, dtype=dtype), sample_weight)

    def _check_weights_finite(self):
        for w in self.coefs_ + self.intercepts_:
            if not np.isfinite(w).all():
                raise ValueError(
                    "Solver produced non-finite parameter weights. The input data may"
                    " contain large values and need to be preprocessed."
                )

    def _fit_lbfgs(self, data, layer_units, progress=None, vset=None, earlier_curve=()):
        """L-BFGS over data's objective: one compiled call per evaluation in
        memory, a sum over the partitions on Dask; vset: a ValidationSet;
        earlier_curve: the loss curve the new iterations' losses follow
        (warm_start)."""
        dtype = data.dtype
        if data.on_dask:
            layout = make_layout(layer_units, self.activation, self._kernel_output(), dtype)
            spec = (tuple(layer_units), self.activation, self._kernel_output(), dtype.str)
            loss_grad = _dask.DaskObjective(data, layout, spec, self.alpha, data.client)
            close = loss_grad.close
        else:
            layout = make_layout(layer_units, self.activation, self._kernel_output(), dtype,
                                 nnz_per_row=nnz_per_row(data.Xk))
            ws = make_workspace(layout, dtype, data.Y.shape[0])
            dataset = make_dataset(data.Xk, data.Y, data.sw, dtype)
            alpha, sw_sum = self.alpha, data.weight_sum

            def loss_grad(params, grad):
                return ws.loss_grad(params, grad, dataset, alpha, sw_sum)

            close = None
        try:
            self._run_lbfgs(loss_grad, layout, dtype, progress, vset, earlier_curve)
        finally:
            if close is not None:
                close()

    def _run_lbfgs(self, loss_grad, layout, dtype, progress=None, vset=None, earlier_curve=()):
        """L-BFGS from the current weights over the objective loss_grad
        (fit_lbfgs's; shared by the in-memory fit and the Dask one); vset: a
        ValidationSet evaluated at each iterate (early_stopping: on it)."""
        x0 = pack(self.coefs_, self.intercepts_, np.float64)
        validation = vset and LbfgsValidation(self, vset, layout, self.early_stopping)
        on_iteration = callback_bridge(progress, x0, layout, validation)
        try:
            result = fit_lbfgs(
                loss_grad, x0, dtype=dtype, max_iter=self.max_iter,
                max_fun=self.max_fun, tol=self.tol, verbose=self.verbose,
                on_iteration=on_iteration,
            )
        except LbfgsInterrupted as interrupted:
            # Ctrl-C: the model keeps the iterations done, and the interrupt goes on
            self._apply_lbfgs(interrupted.result, layout, validation, earlier_curve)
            raise
        if progress is not None:
            progress.close()
        self._apply_lbfgs(result, layout, validation, earlier_curve)

    def _apply_lbfgs(self, result, layout, validation=None, earlier_curve=()):
        self.n_iter_ = result.n_iter
        if result.loss is not None:
            self.loss_ = result.loss
        self.loss_curve_ = list(earlier_curve) + result.loss_curve
        # float64 whatever the data's dtype, as sklearn's L-BFGS hands back
        # scipy's float64 iterate
        self.coefs_, self.intercepts_ = unpack(np.asarray(result.x, dtype=np.float64), layout)
        if validation is not None:
            validation.apply(layout)

    def _fit_stochastic(self, data, layer_units, incremental, progress=None, plan=None,
                        vset=None, continued=False):
        """sgd/adam: the optimizer state, the settings and the record of the
        last fit to _stochastic.fit_stochastic (in memory) or
        _dask.fit_blockwise (plan: its draws before the weights), and the
        result back here. vset: the ValidationSet fit was given, or None;
        continued: from the weights of an earlier fit."""
        dtype = data.dtype
        n_params = sum(a * b + b for a, b in zip(layer_units[:-1], layer_units[1:]))
        if not incremental or not hasattr(self, "_optimizer"):
            self._optimizer = StochasticOptimizerState(
                n_params, dtype, solver=self.solver,
                learning_rate_init=self.learning_rate_init,
                learning_rate=self.learning_rate, momentum=self.momentum,
                nesterovs_momentum=self.nesterovs_momentum, power_t=self.power_t,
                beta_1=self.beta_1, beta_2=self.beta_2, epsilon=self.epsilon,
            )
        elif not isinstance(self._optimizer, StochasticOptimizerState):
            # carried over from sklearn (from_sklearn)
            self._optimizer = StochasticOptimizerState.from_sklearn(self._optimizer)
        # early_stopping in partial_fit doesn't make sense
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")

        settings = EpochSettings(
            activation=self.activation, out_activation=self._kernel_output(),
            alpha=self.alpha, batch_size=self.batch_size, max_iter=self.max_iter,
            shuffle=self.shuffle, tol=self.tol, n_iter_no_change=self.n_iter_no_change,
            early_stopping=self.early_stopping,
            validation_fraction=self.validation_fraction, verbose=self.verbose,
            incremental=incremental, dropout=dropout_rates(self, len(layer_units) - 2),
        )
        record = TrainingRecord(
            t=self.t_, loss=getattr(self, "loss_", None), loss_curve=self.loss_curve_,
            no_improvement_count=self._no_improvement_count, best_loss=self.best_loss_,
            validation_scores=self.validation_scores_,
            best_validation_score=self.best_validation_score_,
            best_coefs=self._best_coefs, best_intercepts=self._best_intercepts,
            validation_loss_curve=getattr(self, "validation_loss_curve_", None),
        )
        if vset is not None or (self.early_stopping and not data.on_dask):
            # (on Dask the early-stopping split's loss is not recorded)
            if record.validation_loss_curve is None or not self.warm_start:
                record.validation_loss_curve = []
            if record.validation_scores is None:
                record.validation_scores = []
        # sklearn updates its weights in place, so they keep their dtype: float32
        # weights continued on float64 rows compute in float64 and stay float32
        weight_dtype = np.result_type(*self.coefs_, *self.intercepts_)
        # and their shapes (intercepts assigned as (1, n) rows stay rows)
        intercept_shapes = [np.shape(b) for b in self.intercepts_]
        # sklearn: an early-stopping fit leaves coefs_ as the very arrays of
        # its best weights, so a warm_start fit from them trains those best
        # weights in place until its validation score first improves (then
        # they are copied): with no improvement the fit ends on its last
        # weights, not on the previous fit's best
        best_are_current = continued and self.early_stopping and all(
            np.array_equal(a, b) for a, b in zip(
                self._best_coefs + self._best_intercepts, self.coefs_ + self.intercepts_))
        # the packed vector is trained in place; coefs_ / intercepts_ view it,
        # so they hold the weights reached so far whenever Python runs
        # (validation scoring, Ctrl-C, an exception)
        params = pack(self.coefs_, self.intercepts_, dtype)
        self.coefs_, self.intercepts_ = unpack_units(params, layer_units)
        if best_are_current:
            record.best_coefs, record.best_intercepts = self.coefs_, self.intercepts_
        if data.on_dask:
            result = _dask.fit_blockwise(
                data, params, layer_units, settings, self._optimizer, self._random_state,
                record, plan, progress=progress, validation_scorer=(
                    _dask.validation_scorer(self, data) if vset is None
                    else partial(split_or_given, self, data, vset)),
                given_validation=vset is not None,
            )
        else:
            result = fit_stochastic(
                data.Xk, data.Y, data.sw, params, layer_units, settings, self._optimizer,
                self._random_state, record, stratify=self._stratify(data.Y),
                validation_scorer=partial(split_or_given, self, data, vset),
                given_validation=vset is not None, progress=progress,
            )
        record = result.record
        self.coefs_, self.intercepts_ = result.coefs, result.intercepts
        if weight_dtype == np.float32 and dtype != weight_dtype:
            self.coefs_, self.intercepts_ = unpack_units(
                pack(self.coefs_, self.intercepts_, weight_dtype), layer_units)
            record.best_coefs = [c.astype(weight_dtype) for c in record.best_coefs]
            record.best_intercepts = [b.astype(weight_dtype) for b in record.best_intercepts]
        self.intercepts_ = [b.reshape(shape) if b.shape != shape and b.size == np.prod(shape)
                            else b for b, shape in zip(self.intercepts_, intercept_shapes)]
        self.n_iter_ = result.n_iter
        self._apply_record(record)

    def _stratify(self, Y):
        """The row labels whose proportions the early-stopping split keeps
        (sklearn's: a classifier's single output), or None."""
        if self.early_stopping and is_classifier(self) and self.n_outputs_ == 1:
            return Y.astype(bool)
        return None

    def _apply_record(self, record):
        """An sgd/adam fit record's attributes on the model: the loss curve,
        the step count and the early-stopping state."""
        if record.loss is not None:
            self.loss_ = record.loss
        self.t_ = record.t
        self.loss_curve_ = record.loss_curve
        self._no_improvement_count = record.no_improvement_count
        self.best_loss_ = record.best_loss
        self.validation_scores_ = record.validation_scores
        self.best_validation_score_ = record.best_validation_score
        if record.validation_loss_curve is not None:
            self.validation_loss_curve_ = record.validation_loss_curve
        self._best_coefs = record.best_coefs
        self._best_intercepts = record.best_intercepts

    # ----------------------------------------------------------- predict --

    def _forward_pass_fast(self, X, check_input=True):
        """Output-layer values (after the output function) for X."""
        return forward(self, X, check_input=check_input)

    def _score(self, X, y, sample_weight=None):
        """sklearn's _score: the score of predict(X) against y, NaN for
        non-finite predictions."""
        return self._score_output(self._forward_pass_fast(X, check_input=False), y,
                                  sample_weight)

    def _score_output(self, out, y, sample_weight=None):
        """_score from the forward pass's outputs out."""
        y_pred = self._decode(out)
        if np.issubdtype(y_pred.dtype, np.floating) and not np.isfinite(y_pred).all():
            return np.nan
        return self._score_function(y, y_pred, sample_weight=sample_weight)

    def _check_solver(self):
        if self.solver not in STOCHASTIC_SOLVERS:
            raise AttributeError(
                "partial_fit is only available for stochastic"
                " optimizers. %s is not stochastic." % self.solver
            )
        return True

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


