"""Python driver of the stochastic solvers (sgd, adam): once per epoch.

It follows sklearn 1.9's ``BaseMultilayerPerceptron._fit_stochastic`` step by
step: the same draws from the estimator's RandomState in the same order (the
early-stopping split by ``train_test_split``, then one ``sklearn.utils.shuffle``
of the running row order per epoch), the same stopping rules, verbose lines
and warnings. An epoch itself (minibatch gathering, loss and gradient, the
optimizer's update) is one call into the compiled ``EpochRunner``.

The optimizer's state lives in ``est._optimizer``, a plain picklable object
with sklearn's attribute names for what the tests and users look at
(``learning_rate``, ``t``) and packed numpy buffers for the moments or
velocities, so it survives between ``partial_fit`` calls and pickling.
"""

import warnings

import numpy as np
from sklearn import config_context
from sklearn.base import is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import _safe_indexing

from fastmlp._core import Dataset
from fastmlp._epochs import EpochRunner
from fastmlp._objective import Workspace
from fastmlp._network import chunk_rows, make_layout, pack, unpack
from fastmlp._threads import effective_n_threads

# floating-point work of a minibatch (about 6 flops per row and parameter,
# forward and back) below which it is one part on one thread (~25 us of work:
# the barriers and the reduction of the parts would cost about what a second
# thread saves; measured on digits with hidden (8,), (16,), (32,)). Above it a
# minibatch is split into one part per thread; the results depend on that
# number of parts only, and the compiled runner itself falls back to one
# thread while other processes hold the cores (see _minibatch_threads.pyx).
_MIN_PARALLEL_BATCH_FLOPS = 1e6


class StochasticOptimizerState:
    """State of sklearn's SGDOptimizer / AdamOptimizer over the packed vector.

    Hyper-parameters are frozen at creation, as sklearn's optimizer object
    freezes them: a ``partial_fit`` after ``set_params`` keeps using them.
    """

    def __init__(self, est, n_params, dtype):
        self.solver = est.solver
        self.learning_rate_init = est.learning_rate_init
        self.learning_rate = float(est.learning_rate_init)
        if self.solver == "sgd":
            self.lr_schedule = est.learning_rate
            self.momentum = est.momentum
            self.nesterov = est.nesterovs_momentum
            self.power_t = est.power_t
            self.velocities = np.zeros(n_params, dtype=dtype)
        else:
            self.beta_1 = est.beta_1
            self.beta_2 = est.beta_2
            self.epsilon = est.epsilon
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
        if self.learning_rate <= 1e-6:
            if verbose:
                print(msg + " Learning rate too small. Stopping.")
            return True
        self.learning_rate /= 5.0
        if verbose:
            print(msg + " Setting learning rate to %f" % self.learning_rate)
        return False


def _update_no_improvement_count(est, early_stopping, X_val, y_val, sw_val):
    """sklearn's BaseMultilayerPerceptron._update_no_improvement_count."""
    if early_stopping:
        val_score = est._score(X_val, y_val, sample_weight=sw_val)
        est.validation_scores_.append(val_score)
        if est.verbose:
            print("Validation score: %f" % est.validation_scores_[-1])
        last_valid_score = est.validation_scores_[-1]
        if last_valid_score < (est.best_validation_score_ + est.tol):
            est._no_improvement_count += 1
        else:
            est._no_improvement_count = 0
        if last_valid_score > est.best_validation_score_:
            est.best_validation_score_ = last_valid_score
            est._best_coefs = [c.copy() for c in est.coefs_]
            est._best_intercepts = [i.copy() for i in est.intercepts_]
    else:
        if est.loss_curve_[-1] > est.best_loss_ - est.tol:
            est._no_improvement_count += 1
        else:
            est._no_improvement_count = 0
        if est.loss_curve_[-1] < est.best_loss_:
            est.best_loss_ = est.loss_curve_[-1]


def fit_stochastic(est, X, Xk, Y, sample_weight, layer_units, incremental,
                   progress=None):
    """sklearn's _fit_stochastic over the compiled epochs.

    X: the validated input (dense or CSR/CSC, for the validation set); Xk: X
    as the kernels read it; Y: (n_samples, n_outputs) targets in the model's
    dtype (binarized for a classifier); sample_weight: None or the model's
    dtype. progress: None or a _callbacks.FitProgress, whose begin/end hooks
    bracket every epoch (end returning True stops the fit after that epoch,
    without the max_iter warning; a begun epoch cut short by Ctrl-C is left
    to progress.close).
    """
    dtype = Y.dtype
    n_params = sum(a * b + b for a, b in zip(layer_units[:-1], layer_units[1:]))
    if not incremental or not hasattr(est, "_optimizer"):
        est._optimizer = StochasticOptimizerState(est, n_params, dtype)
    elif not isinstance(est._optimizer, StochasticOptimizerState):
        est._optimizer = StochasticOptimizerState.from_sklearn(est._optimizer)
    opt = est._optimizer

    # early_stopping in partial_fit doesn't make sense
    if est.early_stopping and incremental:
        raise ValueError("partial_fit does not support early_stopping=True")
    early_stopping = est.early_stopping
    n_total = Y.shape[0]
    if early_stopping:
        # split row numbers: the same draws as splitting (X, y[, sw]) itself
        should_stratify = is_classifier(est) and est.n_outputs_ == 1
        stratify = Y.astype(bool) if should_stratify else None
        # sklearn's fit skips the nested parameter validation of the split
        # (so a bad validation_fraction gives the split's own ValueError)
        with config_context(skip_parameter_validation=True):
            train_rows, val_rows = train_test_split(
                np.arange(n_total),
                random_state=est._random_state,
                test_size=est.validation_fraction,
                stratify=stratify,
            )
        if val_rows.shape[0] < 2:
            raise ValueError(
                "The validation set is too small. Increase 'validation_fraction' "
                "or the size of your dataset."
            )
        X_val = _safe_indexing(X, val_rows)
        y_val = Y[val_rows]
        if is_classifier(est):
            y_val = est._label_binarizer.inverse_transform(y_val.astype(bool))
        sw_val = None if sample_weight is None else sample_weight[val_rows]
        train_rows = np.ascontiguousarray(train_rows, dtype=np.intp)
    else:
        train_rows = None
        X_val = y_val = sw_val = None

    n_samples = n_total if train_rows is None else train_rows.shape[0]
    sample_idx = np.arange(n_samples, dtype=int)

    if est.batch_size == "auto":
        batch_size = min(200, n_samples)
    else:
        if est.batch_size > n_samples:
            warnings.warn(
                "Got `batch_size` less than 1 or larger than "
                "sample size. It is going to be clipped"
            )
        batch_size = int(np.clip(est.batch_size, 1, n_samples))

    # parts (and at most as many threads) only where a minibatch is worth
    # splitting
    n_threads = effective_n_threads()
    work = 6.0 * batch_size * n_params
    if hasattr(Xk, "indptr"):
        # sparse rows: the first layer costs nnz x width, not n_features x width
        n_first = layer_units[0] * layer_units[1]
        avg_nnz = Xk.indptr[-1] / max(Xk.shape[0], 1)
        work = 6.0 * batch_size * (n_params - n_first + avg_nnz * layer_units[1])
    # each extra thread zeroes and reduces a whole gradient per minibatch
    if work < _MIN_PARALLEL_BATCH_FLOPS or work < 16.0 * n_params:
        n_threads = 1
    n_threads = max(1, min(n_threads, -(-batch_size // 8)))
    # one chunk per thread and minibatch where the cache budget allows (a
    # short remainder chunk costs a whole pass over the first layer's
    # gradient), else chunks of equal size
    per_thread = -(-batch_size // n_threads)
    most = 2 * chunk_rows(layer_units, dtype.itemsize)
    chunk = -(-per_thread // -(-per_thread // most))
    layout = make_layout(
        layer_units, est.activation, est.out_activation_, dtype,
        gather=not hasattr(Xk, "indptr"), chunk=chunk,
    )

    # the packed vector is trained in place; coefs_ / intercepts_ view it, so
    # they hold the weights reached so far whenever Python runs (Ctrl-C too)
    params = pack(est.coefs_, est.intercepts_, dtype)
    est.coefs_, est.intercepts_ = unpack(params, layout)
    grad = np.empty_like(params)
    ws = Workspace(layout, n_threads, dtype)
    data = Dataset(Xk, Y, sample_weight, dtype)
    runner = opt.make_runner(ws, data, params, grad, est.alpha)

    hooks = progress is not None and progress.per_step

    def state():
        # the model at this point, for callbacks that ask for it: copies,
        # since the packed vector goes on changing in place
        out = dict(
            coefs_=[c.copy() for c in est.coefs_],
            intercepts_=[b.copy() for b in est.intercepts_],
            n_iter_=est.n_iter_,
        )
        if getattr(est, "loss_", None) is not None:
            out["loss_"] = est.loss_
        return out

    try:
        est.n_iter_ = 0
        for it in range(est.max_iter):
            if hooks:
                progress.begin(state)
            if est.shuffle:
                # sklearn.utils.shuffle(sample_idx, random_state=...) draws
                # exactly this (one RandomState.shuffle of arange), without
                # its per-call validation
                perm = np.arange(n_samples)
                est._random_state.shuffle(perm)
                sample_idx = sample_idx[perm]
                rows = sample_idx if train_rows is None else train_rows[sample_idx]
                rows = np.ascontiguousarray(rows, dtype=np.intp)
            else:
                rows = train_rows
            if opt.solver == "sgd":
                runner.learning_rate = opt.learning_rate
            try:
                accumulated_loss = runner.run(rows, n_samples, batch_size)
            finally:
                opt.sync(runner)

            est.n_iter_ += 1
            # a numpy.float64, as sklearn's (its accumulator becomes one)
            est.loss_ = np.float64(accumulated_loss) / n_samples
            est.t_ += n_samples
            est.loss_curve_.append(est.loss_)
            if est.verbose:
                print("Iteration %d, loss = %.8f" % (est.n_iter_, est.loss_))

            # update no_improvement_count based on training loss or
            # validation score according to early_stopping
            _update_no_improvement_count(est, early_stopping, X_val, y_val, sw_val)

            # for learning rate that needs to be updated at iteration end
            opt.iteration_ends(est.t_)

            stop_requested = hooks and progress.end(state)

            if est._no_improvement_count > est.n_iter_no_change:
                # not better than last `n_iter_no_change` iterations by tol
                # stop or decrease learning rate
                if early_stopping:
                    msg = (
                        "Validation score did not improve more than "
                        "tol=%f for %d consecutive epochs."
                        % (est.tol, est.n_iter_no_change)
                    )
                else:
                    msg = (
                        "Training loss did not improve more than tol=%f"
                        " for %d consecutive epochs." % (est.tol, est.n_iter_no_change)
                    )
                is_stopping = opt.trigger_stopping(msg, est.verbose)
                if is_stopping:
                    break
                else:
                    est._no_improvement_count = 0

            if incremental or stop_requested:
                break

            if est.n_iter_ == est.max_iter:
                warnings.warn(
                    "Stochastic Optimizer: Maximum iterations (%d) "
                    "reached and the optimization hasn't converged yet."
                    % est.max_iter,
                    ConvergenceWarning,
                )
    except KeyboardInterrupt:
        warnings.warn("Training interrupted by user.")

    if early_stopping:
        # restore best weights
        est.coefs_ = est._best_coefs
        est.intercepts_ = est._best_intercepts
