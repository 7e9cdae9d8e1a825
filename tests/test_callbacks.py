"""sklearn's callback API (sklearn.callback) on fastmlp's fits: one task per
fit, one subtask per L-BFGS iteration or sgd/adam epoch, stopping on request."""

import pickle
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from shared_helpers import assert_same_weights, fit_quietly
from shared_helpers import weights as _weights
from sklearn.base import BaseEstimator, clone
from sklearn.callback import CallbackSupportMixin, ScoringMonitor
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

from fastmlp import MLPClassifier, MLPRegressor

X_DIGITS, Y_DIGITS = load_digits(return_X_y=True)
X = X_DIGITS[:240] / 16.0
Y = Y_DIGITS[:240]
Y_REG = X[:, 20] - 0.5 * X[:, 30]
SW = np.random.RandomState(0).uniform(0.2, 3.0, len(Y))

SOLVERS = ["lbfgs", "adam", "sgd"]
STEP = {"lbfgs": "lbfgs-iter", "adam": "epoch", "sgd": "epoch"}


def _params(solver, **kw):
    params = dict(hidden_layer_sizes=(10,), solver=solver, max_iter=6, random_state=0)
    if solver != "lbfgs":
        params["learning_rate_init"] = 0.01
    return dict(params, **kw)


class Recorder:
    """A callback following sklearn's FitCallback protocol that records the
    hooks, the fitted_estimator handed to each end hook (copied), and asks
    the fit to stop after `stop_after` subtasks."""

    def __init__(self, stop_after=None):
        self.stop_after = stop_after
        self.events = []
        self.snapshots = []  # (task_name, task_id, n_iter_, weights, loss_)

    def setup(self, estimator, context):
        self.events.append(("setup", context.task_name))

    def teardown(self, estimator, context):
        self.events.append(("teardown", context.task_name))

    def on_fit_task_begin(self, estimator, context, *, X=None, y=None, metadata=None,
                          fitted_estimator=None):
        self.events.append(("begin", context.task_name, context.task_id))

    def on_fit_task_end(self, estimator, context, *, X=None, y=None, metadata=None,
                        fitted_estimator=None):
        self.events.append(("end", context.task_name, context.task_id))
        if fitted_estimator is not None and context.task_name != "fit":
            self.snapshots.append((
                context.task_name, context.task_id, fitted_estimator.n_iter_,
                [np.array(w) for w in _weights(fitted_estimator)],
                getattr(fitted_estimator, "loss_", None),
                fitted_estimator.predict(X),
            ))
        return (
            self.stop_after is not None
            and context.task_name != "fit"
            and context.task_id + 1 >= self.stop_after
        )


class AutoRecorder(Recorder):
    """Auto-propagated: set on a meta-estimator, it reaches the sub-estimators."""

    max_propagation_depth = None


# ------------------------------------------------------------------ hooks --


def test_set_callbacks():
    est = MLPClassifier()
    cb = Recorder()
    assert est.set_callbacks(cb) is est
    assert est._skl_callbacks == [cb]
    with pytest.raises(TypeError, match="FitCallback protocol"):
        est.set_callbacks(Recorder)  # a class, not an instance
    with pytest.raises(TypeError, match="FitCallback protocol"):
        est.set_callbacks(object())
    est.set_callbacks()
    assert not hasattr(est, "_skl_callbacks")
    assert "callbacks" not in est.get_params()


@pytest.mark.parametrize("solver", SOLVERS)
def test_one_subtask_per_iteration(solver):
    cb = Recorder()
    est = fit_quietly(MLPClassifier(**_params(solver)).set_callbacks(cb), X, Y)
    n = est.n_iter_
    assert n == 6
    step = STEP[solver]
    subtasks = []
    for k in range(n):
        subtasks += [("begin", step, k), ("end", step, k)]
    if solver == "lbfgs":
        # as sklearn's LogisticRegression: scipy's callback begins the next
        # iteration, which the last one never runs (an empty task)
        subtasks += [("begin", step, n), ("end", step, n)]
    assert cb.events == (
        [("setup", "fit"), ("begin", "fit", 0)] + subtasks
        + [("end", "fit", 0), ("teardown", "fit")]
    )
    # the fitted_estimator after subtask k is the model after k + 1 iterations
    assert [s[2] for s in cb.snapshots] == list(range(1, n + 1))
    assert [s[4] for s in cb.snapshots] == est.loss_curve_
    name, task_id, n_iter, weights, loss, pred = cb.snapshots[-1]
    for w, v in zip(weights, _weights(est), strict=True):
        assert_array_equal(w, v)
        assert w.dtype == v.dtype
    assert_array_equal(pred, est.predict(X))
    # snapshots are copies: earlier iterations kept their own weights
    assert not np.array_equal(cb.snapshots[0][3][0], weights[0])
    assert not hasattr(est, "_callback_fit_ctx")
    assert not hasattr(est, "_skl_callbacks_to_teardown")


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("Est", [MLPClassifier, MLPRegressor])
def test_callbacks_do_not_change_the_fit(solver, Est):
    y = Y if Est is MLPClassifier else Y_REG
    plain = fit_quietly(Est(**_params(solver)), X, y, sample_weight=SW)
    watched = fit_quietly(Est(**_params(solver)).set_callbacks(Recorder()), X, y,
                         sample_weight=SW)
    assert_same_weights(plain, watched)
    assert plain.loss_curve_ == watched.loss_curve_
    assert plain.n_iter_ == watched.n_iter_


@pytest.mark.parametrize("solver", SOLVERS)
def test_stop_request_ends_the_fit_cleanly(solver):
    """A callback returning True from on_fit_task_end stops after that
    iteration: the model is the one max_iter=3 gives, and no
    ConvergenceWarning says max_iter was reached."""
    cb = Recorder(stop_after=3)
    est = MLPClassifier(**_params(solver, max_iter=50)).set_callbacks(cb)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est.fit(X, Y)
    assert est.n_iter_ == 3
    assert len(est.loss_curve_) == 3
    short = fit_quietly(MLPClassifier(**_params(solver, max_iter=3)), X, Y)
    assert_same_weights(est, short)
    assert est.loss_curve_ == short.loss_curve_
    step = STEP[solver]
    assert cb.events[-4:] == [("begin", step, 2), ("end", step, 2), ("end", "fit", 0),
                              ("teardown", "fit")]
    assert est.score(X, Y) == short.score(X, Y)


def test_stop_request_with_early_stopping_restores_best_weights():
    params = _params("adam", max_iter=40, early_stopping=True, validation_fraction=0.2)
    est = MLPClassifier(**params).set_callbacks(Recorder(stop_after=5)).fit(X, Y)
    assert est.n_iter_ == 5
    assert len(est.validation_scores_) == 5
    short = fit_quietly(MLPClassifier(**dict(params, max_iter=5)), X, Y)
    assert_same_weights(est, short)


def test_failing_callback_still_tears_down():
    class Failing(Recorder):
        def on_fit_task_end(self, estimator, context, **kw):
            super().on_fit_task_end(estimator, context, **kw)
            if context.task_name != "fit" and context.task_id == 1:
                raise RuntimeError("callback failed")

    cb = Failing()
    est = MLPClassifier(**_params("lbfgs")).set_callbacks(cb)
    with pytest.raises(RuntimeError, match="callback failed"):
        est.fit(X, Y)
    assert cb.events[-1] == ("teardown", "fit")
    assert not hasattr(est, "_callback_fit_ctx")
    # the estimator can fit again
    cb2 = Recorder()
    fit_quietly(est.set_callbacks(cb2), X, Y)
    assert cb2.events[-1] == ("teardown", "fit")


def test_invalid_data_fails_before_setup():
    cb = Recorder()
    est = MLPClassifier(**_params("lbfgs")).set_callbacks(cb)
    with pytest.raises(ValueError):
        est.fit(X[:, :0], Y)
    assert cb.events == []


@pytest.mark.parametrize("Est", [MLPClassifier, MLPRegressor])
def test_partial_fit_runs_no_callbacks(Est):
    cb = Recorder()
    est = Est(**_params("adam")).set_callbacks(cb)
    if Est is MLPClassifier:
        est.partial_fit(X, Y, classes=np.unique(Y))
    else:
        est.partial_fit(X, Y_REG)
    assert cb.events == []
    assert est.n_iter_ == 1


def test_warm_start_fit_runs_callbacks_each_time():
    cb = Recorder()
    est = MLPRegressor(**_params("lbfgs", max_iter=3, warm_start=True)).set_callbacks(cb)
    fit_quietly(est, X, Y_REG)
    fit_quietly(est, X, Y_REG)
    assert cb.events.count(("setup", "fit")) == 2
    assert cb.events.count(("teardown", "fit")) == 2


def test_clone_and_pickle_keep_callbacks():
    cb = Recorder()
    est = MLPClassifier(**_params("lbfgs")).set_callbacks(cb)
    assert clone(est)._skl_callbacks == [cb]
    fit_quietly(est, X, Y)
    again = pickle.loads(pickle.dumps(est))
    assert_array_equal(again.predict(X), est.predict(X))
    assert len(again._skl_callbacks) == 1


# -------------------------------------------------- sklearn's callbacks --


@pytest.mark.parametrize("solver", SOLVERS)
def test_scoring_monitor(solver):
    monitor = ScoringMonitor(scoring="accuracy")
    est = fit_quietly(MLPClassifier(**_params(solver)).set_callbacks(monitor), X, Y)
    log = monitor.get_logs().data
    assert log[0]["task_name"] == "fit" and log[0]["task_id_path"] == (0,)
    assert log[0]["accuracy"] == est.score(X, Y)
    steps = [row for row in log if row["task_name"] == STEP[solver]]
    assert [row["task_id_path"] for row in steps] == [(0, k) for k in range(6)]
    assert steps[-1]["accuracy"] == est.score(X, Y)
    assert len({row["accuracy"] for row in steps}) > 1


def test_scoring_monitor_weighted_and_feature_names():
    """The hooks get the data as fit got it (a frame keeps its feature names:
    no warning while scoring) and sample_weight as metadata (weighted scores)."""
    pd = pytest.importorskip("pandas")
    Xf = pd.DataFrame(X, columns=[f"px{i}" for i in range(X.shape[1])])
    monitor = ScoringMonitor(scoring="r2")
    est = MLPRegressor(**_params("lbfgs")).set_callbacks(monitor)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(Xf, Y_REG, sample_weight=SW)
    log = monitor.get_logs().data
    assert_allclose(log[0]["r2"], est.score(Xf, Y_REG, sample_weight=SW), rtol=1e-12)
    assert log[0]["r2"] != est.score(Xf, Y_REG)


def test_progress_bar(capsys):
    pytest.importorskip("rich")
    from sklearn.callback import ProgressBar

    est = MLPClassifier(**_params("adam", max_iter=4)).set_callbacks(ProgressBar())
    fit_quietly(est, X, Y)
    out = capsys.readouterr().out
    assert "MLPClassifier - fit" in out
    assert "100%" in out


class _Meta(CallbackSupportMixin, BaseEstimator):
    """A minimal callback-aware meta-estimator: fits clones of `estimator`
    one after the other, propagating its callbacks (as sklearn's will)."""

    def __init__(self, estimator, n_fits=2):
        self.estimator = estimator
        self.n_fits = n_fits

    def fit(self, X, y):
        ctx = self._init_callback_context(max_subtasks=self.n_fits)
        ctx.call_on_fit_task_begin(estimator=self, X=X, y=y)
        self.estimators_ = []
        try:
            for _ in range(self.n_fits):
                sub = clone(self.estimator)
                sub_ctx = ctx.subcontext(task_name="member")
                with sub_ctx.propagate_callback_context(sub):
                    sub_ctx.call_on_fit_task_begin(estimator=self, X=X, y=y)
                    sub.fit(X, y)
                    sub_ctx.call_on_fit_task_end(estimator=self, X=X, y=y)
                self.estimators_.append(sub)
            ctx.call_on_fit_task_end(estimator=self, X=X, y=y)
        finally:
            for cb in self._skl_callbacks_to_teardown:
                cb.teardown(estimator=self, context=ctx)
        return self


def test_auto_propagated_callback_reaches_the_mlp():
    cb = AutoRecorder()
    meta = _Meta(MLPClassifier(**_params("lbfgs", max_iter=2))).set_callbacks(cb)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        meta.fit(X, Y)
    # set up once, by the meta-estimator; the MLPs' fits hang below its tasks
    assert cb.events.count(("setup", "fit")) == 1
    assert cb.events.count(("teardown", "fit")) == 1
    iters = [e for e in cb.events if e[1] == "lbfgs-iter"]
    assert len(iters) == 2 * 2 * 3  # 2 fits, (2 iterations + 1 empty), begin and end
    assert not hasattr(meta.estimators_[0], "_skl_callbacks")
    assert not hasattr(meta.estimators_[0], "_parent_callback_ctx")
