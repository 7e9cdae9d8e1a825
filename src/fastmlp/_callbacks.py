"""sklearn's callback API (sklearn.callback) for fastmlp's fits.

The estimators mix in sklearn's ``CallbackSupportMixin`` (``set_callbacks``)
and run ``fit`` in sklearn's ``_fit_context`` (teardown hooks always run), as
sklearn's LogisticRegression does. ``FitProgress`` carries one fit's hooks:
the root task ("fit") begins once the data is validated and ends when the
fit returns; below it there is one subtask per L-BFGS iteration
("lbfgs-iter", driven by scipy's callback) or per sgd/adam epoch ("epoch",
driven by the Python epoch loop). A callback whose ``on_fit_task_end``
returns True on a subtask stops the fit there: L-BFGS through scipy's
``StopIteration``, an epoch loop by leaving the loop, with no
ConvergenceWarning; the estimator is then fitted with the weights reached
(the best ones for early_stopping, as when the loop ends by itself).

Without callbacks (and outside a callback-aware meta-estimator) nothing is
set up: ``FitProgress.start`` returns None and the solvers do no extra work.
``partial_fit`` runs no callbacks (one epoch is not a task tree).
"""

from sklearn.callback import CallbackSupportMixin

__all__ = ["CallbackSupportMixin", "FitProgress"]


class FitProgress:
    """The callback hooks of one fit: the root context and the running subtask.

    ``begin`` and ``end`` take the fitted state at that point as a callable
    returning a dict of attributes (``coefs_``, ``intercepts_``, ...): sklearn
    calls it only when a hook asks for ``fitted_estimator``, so the weights
    are copied only then.
    """

    def __init__(self, estimator, context, X, y, metadata, task_name, per_step):
        self._estimator = estimator
        self._context = context
        self._X = X
        self._y = y
        self._metadata = metadata
        self._task_name = task_name
        self._step = None
        # hooks per iteration only when the estimator holds callbacks (a bare
        # context is made for a callback-aware meta-estimator's tree)
        self.per_step = per_step

    @classmethod
    def start(cls, estimator, X, y, sample_weight, *, task_name, max_subtasks):
        """Set up the callbacks and begin the root task; None if there are none.

        X, y and sample_weight are what the caller passed to fit (scorers in
        the hooks then see the data as the user does, feature names included).
        """
        has_callbacks = bool(getattr(estimator, "_skl_callbacks", None))
        if not has_callbacks and not hasattr(estimator, "_parent_callback_ctx"):
            return None
        context = estimator._init_callback_context(max_subtasks=max_subtasks)
        metadata = None if sample_weight is None else {"sample_weight": sample_weight}
        context.call_on_fit_task_begin(estimator=estimator, X=X, y=y, metadata=metadata)
        return cls(estimator, context, X, y, metadata, task_name, has_callbacks)

    def begin(self, state):
        """Begin the next iteration (epoch) from the state ``state()``."""
        if not self.per_step:
            return
        self._step = self._context.subcontext(task_name=self._task_name)
        self._step.call_on_fit_task_begin(
            estimator=self._estimator, X=self._X, y=self._y,
            metadata=self._metadata, reconstruction_attributes=state,
        )

    def end(self, state):
        """End the running iteration at ``state()``; True if a callback asks
        the fit to stop."""
        if self._step is None:
            return False
        step, self._step = self._step, None
        return bool(step.call_on_fit_task_end(
            estimator=self._estimator, X=self._X, y=self._y,
            metadata=self._metadata, reconstruction_attributes=state,
        ))

    def close(self):
        """End a begun iteration that never ran (the one L-BFGS begins after
        its last) as an empty task, so every begin has its end."""
        if self._step is not None:
            step, self._step = self._step, None
            step.call_on_fit_task_end(estimator=self._estimator)

    def finish(self):
        """End the root task: the estimator is fitted."""
        self.close()
        self._context.call_on_fit_task_end(
            estimator=self._estimator, X=self._X, y=self._y,
            metadata=self._metadata, reconstruction_attributes={},
        )
