"""The L-BFGS solver over the packed parameter vector, and its callback bridge.

The driver hands scipy.optimize.minimize(method="L-BFGS-B") exactly
what sklearn hands it (same x0, maxiter, maxfun, gtol), so the iterates
follow sklearn's; the objective is one compiled call per evaluation that
writes the gradient into a preallocated vector.
"""

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.optimize
from sklearn.exceptions import ConvergenceWarning

from fastmlp._network import unpack


@dataclass
class LbfgsResult:
    x: np.ndarray
    loss: float
    n_iter: int
    loss_curve: list
    stopped: bool = False  # by on_iteration (a callback), not by convergence


class LbfgsInterrupted(KeyboardInterrupt):
    """Ctrl-C during the minimisation; .result holds the last accepted
    iterate (x0 before the first iteration ends) and the iterations so far."""

    def __init__(self, result):
        super().__init__()
        self.result = result


def _warn_if_not_converged(result, max_iter):
    """sklearn's ConvergenceWarning for L-BFGS, word for word; returns n_iter."""
    n_iter = min(result.nit, max_iter)
    if result.status != 0:
        msg = (
            f"lbfgs failed to converge after {n_iter} iteration(s) "
            f"(status={result.status}):\n{result.message}\n"
        )
        if n_iter == max_iter:
            msg += (
                "\nIncrease the number of iterations to improve the "
                f"convergence (max_iter={max_iter})."
            )
        msg += (
            "\nYou might also want to scale the data as shown in:\n"
            "    https://scikit-learn.org/stable/modules/preprocessing.html"
        )
        # pointing past this helper, fit_lbfgs, the estimator's _run_lbfgs and
        # _fit_lbfgs (in memory and on Dask alike)
        warnings.warn(msg, ConvergenceWarning, stacklevel=5)
    return n_iter


def fit_lbfgs(loss_grad, x0, *, dtype, max_iter, max_fun, tol, verbose,
              on_iteration=None):
    """Minimise the MLP objective from x0 (float64, packed) with L-BFGS-B.

    loss_grad(params, grad): the objective at params (packed, of dtype), its
    gradient written into grad (of dtype); in memory one Workspace.loss_grad
    call, on Dask a sum over partitions (fastmlp._dask).
    on_iteration: None, or called as on_iteration(x, n_iter, loss) after each
    iteration (x: scipy's iterate, valid during the call); a true return
    stops the minimisation there (scipy's StopIteration), without a
    ConvergenceWarning.
    Returns the final packed parameters (float64), loss, iterations and the
    loss after every iteration.
    """
    dtype = np.dtype(dtype)
    n_params = x0.shape[0]
    grad = np.empty(n_params, dtype=dtype)
    if dtype == np.float64:

        def fun(x):
            return loss_grad(x, grad), grad

    else:
        # float32 data evaluates in float32 at scipy's iterate rounded to
        # float32, as sklearn's does (scipy hands its loss float32 iterates when
        # x0 is float32); the gradient goes back as float64. Buffers made once
        x32 = np.empty(n_params, dtype=dtype)
        grad64 = np.empty(n_params, dtype=np.float64)

        def fun(x):
            x32[...] = x
            loss = loss_grad(x32, grad)
            grad64[...] = grad
            return loss, grad64

    loss_curve = []
    stopped = False
    # the last accepted iterate and the losses up to it, replaced in one store
    # so that Ctrl-C never finds the two out of step
    accepted = (np.array(x0, dtype=np.float64), [])

    def callback(intermediate_result):
        nonlocal stopped, accepted
        accepted = (np.array(intermediate_result.x),
                    loss_curve + [float(intermediate_result.fun)])
        loss_curve.append(float(intermediate_result.fun))
        if verbose:
            # the last evaluation is the accepted point of the line search
            print(
                "Iteration %d, loss = %.8f, max |gradient| = %.3e"
                % (len(loss_curve), intermediate_result.fun, np.abs(grad).max())
            )
        if on_iteration is not None and on_iteration(
            intermediate_result.x, len(loss_curve), intermediate_result.fun
        ):
            stopped = True
            raise StopIteration

    try:
        result = scipy.optimize.minimize(
            fun,
            x0,
            method="L-BFGS-B",
            jac=True,
            options={"maxfun": max_fun, "maxiter": max_iter, "gtol": tol},
            callback=callback,
        )
    except KeyboardInterrupt as exc:
        # keep the last accepted iterate, not a line-search trial point
        x, curve = accepted
        raise LbfgsInterrupted(LbfgsResult(
            x=x, loss=np.float64(curve[-1]) if curve else None, n_iter=len(curve),
            loss_curve=curve,
        )) from exc
    if stopped:
        n_iter = min(result.nit, max_iter)
    else:
        n_iter = _warn_if_not_converged(result, max_iter)
    return LbfgsResult(
        x=result.x, loss=np.float64(result.fun), n_iter=n_iter, loss_curve=loss_curve,
        stopped=stopped,
    )


def callback_bridge(progress, x0, layout, validation=None):
    """on_iteration for fit_lbfgs that drives a _callbacks.FitProgress: one
    subtask per iteration, begun here at x0 and then after each iteration
    ends, as sklearn's L-BFGS bridge does (so one more begins than runs;
    progress.close ends it). None where no callback wants per-iteration hooks
    and there is no validation: None, or an on_iteration of its own
    (_validation.LbfgsValidation) run first, whose figures the callbacks see.
    """
    if progress is None or not progress.per_step:
        return validation

    def state(x, n_iter, loss):
        # the estimator as if the fit had stopped at x (called by sklearn only
        # for hooks that take fitted_estimator)
        def attributes():
            # float64, as the fitted coefs_ of an L-BFGS fit
            coefs, intercepts = unpack(np.array(x, dtype=np.float64), layout)
            out = dict(coefs_=coefs, intercepts_=intercepts, n_iter_=n_iter)
            if loss is not None:
                out["loss_"] = np.float64(loss)
            if validation is not None:
                out.update(validation.attributes())
            return out

        return attributes

    def on_iteration(x, n_iter, loss):
        stop = validation is not None and validation(x, n_iter, loss)
        # end the iteration scipy finished, begin the next one
        if progress.end(state(x, n_iter, loss)):
            return True
        progress.begin(state(x, n_iter, loss))
        return stop

    progress.begin(state(x0, 0, None))
    return on_iteration
