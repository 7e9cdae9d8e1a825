"""The stochastic solvers (sgd, adam): the epoch loop and early stopping.

Plain inputs in, a result out: ``fit_stochastic`` takes the data, the packed
parameters (trained in place), the hyper-parameters (``EpochSettings``), the
optimizer state, the RandomState, what the previous fits left
(``TrainingRecord``), a validation scorer and the callbacks' progress hooks,
and returns a ``StochasticResult`` that the estimator applies to itself.

It follows sklearn 1.9's ``BaseMultilayerPerceptron._fit_stochastic`` step by
step: the same draws from the estimator's RandomState in the same order (the
early-stopping split by ``train_test_split``, then one ``sklearn.utils.shuffle``
of the running row order per epoch), the same stopping rules, verbose lines
and warnings. An epoch itself (minibatch gathering, loss and gradient, the
optimizer's update) is one call into the compiled ``EpochRunner``.

The optimizer's state lives in the estimator's ``_optimizer``, a plain
picklable ``StochasticOptimizerState`` (pickled under this module's path
since fastmlp 0.1.0) with sklearn's attribute names for what the tests and
users look at (``learning_rate``, ``t``) and packed numpy buffers for the
moments or velocities, so it survives between ``partial_fit`` calls and
pickling.
"""

import copy
import warnings
from dataclasses import dataclass

import numpy as np
from sklearn import config_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from fastmlp._epochs import EpochRunner
from fastmlp._network import (
    make_dataset,
    make_layout,
    make_threaded_workspace,
    minibatch_chunk_rows,
    unpack,
)
from fastmlp._sample_weight import WeightsSumToZero, check_minibatch_weights
from fastmlp._threads import minibatch_threads

# sklearn's batch_size="auto": min(200, n_samples)
_AUTO_BATCH_SIZE = 200
# sklearn's adaptive schedule: the rate is divided by 5 when the loss stalls,
# and the fit stops once it is at or below 1e-6
_ADAPTIVE_DIVISOR = 5.0
_ADAPTIVE_MIN_RATE = 1e-6


class StochasticOptimizerState:
    """State of sklearn's SGDOptimizer / AdamOptimizer over the packed vector.

    Hyper-parameters are frozen at creation, as sklearn's optimizer object
    freezes them: a ``partial_fit`` after ``set_params`` keeps using them.
    """

    def __init__(self, n_params, dtype, *, solver, learning_rate_init, learning_rate,
                 momentum, nesterovs_momentum, power_t, beta_1, beta_2, epsilon):
        """The estimator's parameters of the same names (learning_rate: the
        sgd schedule); the other solver's are ignored."""
        self.solver = solver
        self.learning_rate_init = learning_rate_init
        self.learning_rate = float(learning_rate_init)
        if self.solver == "sgd":
            self.lr_schedule = learning_rate
            self.momentum = momentum
            self.nesterov = nesterovs_momentum
            self.power_t = power_t
            self.velocities = np.zeros(n_params, dtype=dtype)
        else:
            self.beta_1 = beta_1
            self.beta_2 = beta_2
            self.epsilon = epsilon
            self.t = 0
            self.ms = np.zeros(n_params, dtype=dtype)
            self.vs = np.zeros(n_params, dtype=dtype)

    @classmethod
    def from_sklearn(cls, sk_optimizer):
        """The state of a sklearn SGDOptimizer / AdamOptimizer (for a model
        carried over from sklearn: partial_fit goes on where sklearn's would)."""
        state = cls.__new__(cls)
        state.learning_rate_init = sk_optimizer.learning_rate_init
        state.learning_rate = sk_optimizer.learning_rate
        if hasattr(sk_optimizer, "velocities"):
            state.solver = "sgd"
            for name in ("lr_schedule", "momentum", "nesterov", "power_t"):
                setattr(state, name, getattr(sk_optimizer, name))
            state.velocities = np.concatenate([np.ravel(v) for v in sk_optimizer.velocities])
        else:
            state.solver = "adam"
            for name in ("beta_1", "beta_2", "epsilon", "t"):
                setattr(state, name, getattr(sk_optimizer, name))
            state.ms = np.concatenate([np.ravel(m) for m in sk_optimizer.ms])
            state.vs = np.concatenate([np.ravel(v) for v in sk_optimizer.vs])
        return state

    def to_sklearn(self, coefs, intercepts):
        """This state as sklearn's optimizer object for a model with these
        coefs_ / intercepts_ (the shapes of its buffers)."""
        from sklearn.neural_network._stochastic_optimizers import (
            AdamOptimizer,
            SGDOptimizer,
        )

        shapes = [np.shape(w) for w in list(coefs) + list(intercepts)]

        def split(packed):
            out, off = [], 0
            for shape in shapes:
                size = int(np.prod(shape))
                out.append(packed[off:off + size].reshape(shape).copy())
                off += size
            return out

        zeros = [np.zeros(shape) for shape in shapes]
        if self.solver == "sgd":
            opt = SGDOptimizer(zeros, self.learning_rate_init, self.lr_schedule,
                               self.momentum, self.nesterov, self.power_t)
            opt.velocities = split(self.velocities)
        else:
            opt = AdamOptimizer(zeros, self.learning_rate_init, self.beta_1,
                                self.beta_2, self.epsilon)
            opt.t = self.t
            opt.ms, opt.vs = split(self.ms), split(self.vs)
        opt.learning_rate = self.learning_rate
        return opt

    def buffers(self, n_params, dtype):
        """The packed state buffers in the model's dtype (converted in place of
        the old ones if a later call trains in another dtype)."""
        names = ("velocities",) if self.solver == "sgd" else ("ms", "vs")
        out = []
        for name in names:
            buf = getattr(self, name)
            if buf.shape != (n_params,):
                raise ValueError(
                    "The optimizer state does not match the network; fit the model "
                    "again instead of continuing it."
                )
            if buf.dtype != dtype or not buf.flags.c_contiguous or not buf.flags.writeable:
                buf = np.ascontiguousarray(buf, dtype=dtype).copy()
                setattr(self, name, buf)
            out.append(buf)
        return out + [None] * (2 - len(out))

    def make_runner(self, ws, data, params, grad, alpha):
        s1, s2 = self.buffers(params.shape[0], params.dtype)
        if self.solver == "sgd":
            runner = EpochRunner(
                ws, data, params, grad, s1, None, "sgd", alpha,
                float(self.learning_rate_init), momentum=self.momentum,
                nesterov=self.nesterov,
            )
            runner.learning_rate = self.learning_rate
        else:
            runner = EpochRunner(
                ws, data, params, grad, s1, s2, "adam", alpha,
                float(self.learning_rate_init), beta_1=self.beta_1,
                beta_2=self.beta_2, epsilon=self.epsilon, t=self.t,
            )
        return runner

    def sync(self, runner):
        """Take back what the compiled epochs changed (adam's step count and
        its current step size, as sklearn's AdamOptimizer.learning_rate)."""
        if self.solver == "adam":
            self.t = int(runner.t)
            if self.t > 0:
                # only mirrors adam_step in _epochs.pyx, which is what the
                # epochs step with: kept as sklearn's learning_rate attribute
                # (users, to_sklearn); nothing here reads it back
                self.learning_rate = (
                    self.learning_rate_init
                    * np.sqrt(1 - self.beta_2**self.t)
                    / (1 - self.beta_1**self.t)
                )

    def iteration_ends(self, time_step):
        if self.solver == "sgd" and self.lr_schedule == "invscaling":
            self.learning_rate = (
                float(self.learning_rate_init) / (time_step + 1) ** self.power_t
            )

    def trigger_stopping(self, msg, verbose):
        if self.solver != "sgd" or self.lr_schedule != "adaptive":
            if verbose:
                print(msg + " Stopping.")
            return True
        if self.learning_rate <= _ADAPTIVE_MIN_RATE:
            if verbose:
                print(msg + " Learning rate too small. Stopping.")
            return True
        self.learning_rate /= _ADAPTIVE_DIVISOR
        if verbose:
            print(msg + " Setting learning rate to %f" % self.learning_rate)
        return False


@dataclass(frozen=True)
class EpochSettings:
    """The estimator's hyper-parameters that the epoch loop reads (sklearn's
    names; batch_size may be "auto"; incremental: partial_fit, one epoch)."""

    activation: object      # a name, or one per hidden layer
    out_activation: object  # a name, or (loss, its parameter): _base._kernel_output
    alpha: float
    batch_size: object
    max_iter: int
    shuffle: bool
    tol: float
    n_iter_no_change: object
    early_stopping: bool
    validation_fraction: float
    verbose: object
    incremental: bool
    dropout: tuple = ()     # a rate per hidden layer (none: no dropout)


@dataclass
class TrainingRecord:
    """What a stochastic fit carries from the last fit (warm_start,
    partial_fit) and hands to the next: the estimator's attributes of these
    names, with a trailing underscore (best_coefs: ``_best_coefs``)."""

    t: int
    loss: object  # None before any fit
    loss_curve: list
    no_improvement_count: int
    best_loss: object
    validation_scores: object  # a list under early_stopping, else None
    best_validation_score: object
    best_coefs: list
    best_intercepts: list
    validation_loss_curve: object = None  # a list with a validation set


@dataclass
class StochasticResult:
    """The outcome of fit_stochastic: the weights to keep (views of the
    trained packed vector, or the best ones under early_stopping), the epochs
    run and the updated record."""

    coefs: list
    intercepts: list
    n_iter: int
    record: TrainingRecord


def _early_stopping_split(n_total, settings, random_state, stratify):
    """Training and validation row numbers, drawn as sklearn draws the split
    of (X, y[, sample_weight]) itself; stratify: None or the row labels."""
    # sklearn's fit skips the nested parameter validation of the split
    # (so a bad validation_fraction gives the split's own ValueError)
    with config_context(skip_parameter_validation=True):
        train_rows, val_rows = train_test_split(
            np.arange(n_total),
            random_state=random_state,
            test_size=settings.validation_fraction,
            stratify=stratify,
        )
    if val_rows.shape[0] < 2:
        raise ValueError(
            "The validation set is too small. Increase 'validation_fraction' "
            "or the size of your dataset."
        )
    return np.ascontiguousarray(train_rows, dtype=np.intp), val_rows


def _batch_size(settings, n_samples):
    """sklearn's batch size for n_samples training rows, with its warning."""
    if settings.batch_size == "auto":
        return min(_AUTO_BATCH_SIZE, n_samples)
    if settings.batch_size > n_samples:
        warnings.warn(
            "Got `batch_size` less than 1 or larger than "
            "sample size. It is going to be clipped"
        )
    return int(np.clip(settings.batch_size, 1, n_samples))


def _update_no_improvement_count(record, settings, coefs, intercepts, figures):
    """sklearn's BaseMultilayerPerceptron._update_no_improvement_count, on the
    record; figures: None, or the (loss, score) of the current weights on the
    validation set, which under early_stopping decides and otherwise only
    observes."""
    if figures is not None and record.validation_loss_curve is not None:
        record.validation_loss_curve.append(figures[0])
    if settings.early_stopping:
        record.validation_scores.append(figures[1])
        if settings.verbose:
            print("Validation score: %f" % record.validation_scores[-1])
        last_valid_score = record.validation_scores[-1]
        if last_valid_score < (record.best_validation_score + settings.tol):
            record.no_improvement_count += 1
        else:
            record.no_improvement_count = 0
        if last_valid_score > record.best_validation_score:
            record.best_validation_score = last_valid_score
            record.best_coefs = [c.copy() for c in coefs]
            record.best_intercepts = [i.copy() for i in intercepts]
    else:
        if figures is not None:
            record.validation_scores.append(figures[1])
            if (record.best_validation_score is None
                    or figures[1] > record.best_validation_score):
                record.best_validation_score = figures[1]
        if record.loss_curve[-1] > record.best_loss - settings.tol:
            record.no_improvement_count += 1
        else:
            record.no_improvement_count = 0
        if record.loss_curve[-1] < record.best_loss:
            record.best_loss = record.loss_curve[-1]


def end_epoch(record, settings, optimizer, n_iter, coefs, intercepts, validation,
              progress=None, state=None):
    """What follows an epoch whose loss is in record.loss and whose steps are
    in record.t, in sklearn's order: the loss curve and the verbose line, the
    validation figures (validation: None or a callable giving the current
    weights' (loss, score)) and the no-improvement count, the
    learning-rate schedule, the callbacks' end-of-epoch hook (progress, with
    state), the stopping rules and the max_iter warning. n_iter: the epochs
    this call has run. Returns whether the fit stops after this epoch. Shared
    by the in-memory epochs and the block-wise ones on Dask."""
    record.loss_curve.append(record.loss)
    if settings.verbose:
        print("Iteration %d, loss = %.8f" % (n_iter, record.loss))
    figures = None if validation is None else validation()
    _update_no_improvement_count(record, settings, coefs, intercepts, figures)
    optimizer.iteration_ends(record.t)  # the learning-rate schedule
    stop_requested = progress is not None and progress.end(state)
    if record.no_improvement_count > settings.n_iter_no_change:
        # not better than last `n_iter_no_change` iterations by tol
        # stop or decrease learning rate
        if settings.early_stopping:
            msg = (
                "Validation score did not improve more than "
                "tol=%f for %d consecutive epochs."
                % (settings.tol, settings.n_iter_no_change)
            )
        else:
            msg = (
                "Training loss did not improve more than tol=%f"
                " for %d consecutive epochs."
                % (settings.tol, settings.n_iter_no_change)
            )
        if optimizer.trigger_stopping(msg, settings.verbose):
            return True
        record.no_improvement_count = 0

    if settings.incremental or stop_requested:
        return True

    if n_iter == settings.max_iter:
        warnings.warn(
            "Stochastic Optimizer: Maximum iterations (%d) "
            "reached and the optimization hasn't converged yet."
            % settings.max_iter,
            ConvergenceWarning,
        )
    return False


def fit_stochastic(Xk, Y, sample_weight, params, layer_units, settings, optimizer,
                   random_state, record, *, stratify=None, validation_scorer=None,
                   given_validation=False, progress=None):
    """sklearn's _fit_stochastic over the compiled epochs.

    Xk: the input as the kernels read it (_network.as_kernel_input); Y:
    (n_samples, n_outputs) targets in the model's dtype (binarized for a
    classifier); sample_weight: None or the model's dtype. params: the packed
    weights (_network.pack), trained in place: weights the caller viewed
    through unpack hold the weights reached so far whenever Python runs
    (Ctrl-C, callbacks, validation scoring). settings: EpochSettings;
    optimizer: a StochasticOptimizerState (updated in place); random_state:
    the estimator's RandomState; record: the TrainingRecord the last fit left
    (not modified: the result holds the new one).

    validation_scorer(val_rows) returns a callable giving the (loss, score)
    of the current weights on those rows; given_validation: on the set fit
    was given instead (val_rows None; no rows held out), which decides under
    early_stopping and otherwise observes. Under early_stopping without it,
    stratify is None or the row labels the split keeps the proportions of.
    progress: None or a
    _callbacks.FitProgress, whose begin/end hooks bracket every epoch (end
    returning True stops the fit after that epoch, without the max_iter
    warning; a begun epoch cut short by Ctrl-C is left to progress.close).

    A minibatch whose weights sum to zero raises WeightsSumToZero before its
    epoch runs, with params and optimizer back as they were passed.
    """
    dtype = Y.dtype
    record = TrainingRecord(**vars(record))
    record.loss_curve = list(record.loss_curve)
    for name in ("validation_scores", "validation_loss_curve"):
        if getattr(record, name) is not None:
            setattr(record, name, list(getattr(record, name)))
    early_stopping = settings.early_stopping
    n_total = Y.shape[0]
    validation, train_rows = None, None
    if given_validation:
        validation = validation_scorer(None)
    elif early_stopping:
        train_rows, val_rows = _early_stopping_split(
            n_total, settings, random_state, stratify
        )
        validation = validation_scorer(val_rows)

    n_samples = n_total if train_rows is None else train_rows.shape[0]
    sample_idx = np.arange(n_samples, dtype=int)
    batch_size = _batch_size(settings, n_samples)

    n_params = params.shape[0]
    sparse = hasattr(Xk, "indptr")
    avg_nnz = Xk.indptr[-1] / max(Xk.shape[0], 1) if sparse else None
    n_threads = minibatch_threads(batch_size, layer_units, n_params, avg_nnz)
    chunk = minibatch_chunk_rows(layer_units, dtype.itemsize, batch_size, n_threads)
    layout = make_layout(
        layer_units, settings.activation, settings.out_activation, dtype,
        gather=not sparse, chunk=chunk,
    )

    coefs, intercepts = unpack(params, layout)
    grad = np.empty_like(params)
    ws = make_threaded_workspace(layout, dtype, n_threads)
    data = make_dataset(Xk, Y, sample_weight, dtype)
    runner = optimizer.make_runner(ws, data, params, grad, settings.alpha)
    if any(settings.dropout):  # the seed drawn only then: else sklearn's draws
        runner.set_dropout(settings.dropout, int(random_state.randint(2**63, dtype=np.int64)))

    hooks = progress is not None and progress.per_step
    n_iter = 0
    # to put back if a minibatch turns out to weigh nothing
    params_before = params.copy() if sample_weight is not None else None
    optimizer_before = copy.deepcopy(vars(optimizer)) if sample_weight is not None else None

    def state():
        # the model at this point, for callbacks that ask for it: copies,
        # since the packed vector goes on changing in place
        out = dict(
            coefs_=[c.copy() for c in coefs],
            intercepts_=[b.copy() for b in intercepts],
            n_iter_=n_iter,
        )
        if record.loss is not None:
            out["loss_"] = record.loss
        if record.validation_loss_curve is not None:
            out.update(validation_loss_curve_=list(record.validation_loss_curve),
                       validation_scores_=list(record.validation_scores),
                       best_validation_score_=record.best_validation_score)
        return out

    try:
        for _ in range(settings.max_iter):
            if hooks:
                progress.begin(state)
            if settings.shuffle:
                # sklearn.utils.shuffle(sample_idx, random_state=...) draws
                # exactly this (one RandomState.shuffle of arange), without
                # its per-call validation
                perm = np.arange(n_samples)
                random_state.shuffle(perm)
                sample_idx = sample_idx[perm]
                rows = sample_idx if train_rows is None else train_rows[sample_idx]
                rows = np.ascontiguousarray(rows, dtype=np.intp)
            else:
                rows = train_rows
            if sample_weight is not None:
                try:
                    check_minibatch_weights(sample_weight, rows, n_samples, batch_size,
                                             n_iter + 1)
                except WeightsSumToZero:
                    params[...] = params_before
                    vars(optimizer).update(optimizer_before)
                    raise
            if optimizer.solver == "sgd":
                runner.learning_rate = optimizer.learning_rate
            try:
                accumulated_loss = runner.run(rows, n_samples, batch_size, n_iter)
            finally:
                optimizer.sync(runner)

            n_iter += 1
            # a numpy.float64, as sklearn's (its accumulator becomes one)
            record.loss = np.float64(accumulated_loss) / n_samples
            record.t += n_samples
            if end_epoch(record, settings, optimizer, n_iter, coefs, intercepts,
                         validation, progress if hooks else None, state):
                break
    except KeyboardInterrupt:
        warnings.warn("Training interrupted by user.")

    if early_stopping:
        # restore best weights
        coefs, intercepts = record.best_coefs, record.best_intercepts
    return StochasticResult(coefs, intercepts, n_iter, record)
