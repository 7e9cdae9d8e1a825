"""The public API documents itself: numpydoc sections that match the
signatures and the fitted attributes, and examples that run (doctests)."""

import ast
import doctest
import inspect
import warnings

import numpy as np
import pytest
from numpydoc.docscrape import ClassDoc, FunctionDoc

import fastmlp
from fastmlp import MLPClassifier, MLPRegressor

ESTIMATORS = [MLPClassifier, MLPRegressor]

# the public methods a user calls, each with its own numpydoc docstring
METHODS = {
    MLPClassifier: ["fit", "partial_fit", "predict", "predict_proba",
                    "predict_log_proba", "score", "to_sklearn", "from_sklearn"],
    MLPRegressor: ["fit", "partial_fit", "predict", "score", "to_sklearn",
                   "from_sklearn"],
}


def _signature_params(func):
    return [name for name in inspect.signature(func).parameters
            if name not in ("self", "cls")]


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_every_constructor_parameter_is_documented_in_order(cls):
    documented = [p.name for p in ClassDoc(cls)["Parameters"]]
    assert documented == _signature_params(cls.__init__)
    for p in ClassDoc(cls)["Parameters"]:
        assert p.type and "".join(p.desc).strip(), p.name
        # the default written in the docstring is the constructor's
        written = ast.literal_eval(p.type.rpartition("default=")[2])
        assert written == inspect.signature(cls).parameters[p.name].default, p.name


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_every_fitted_attribute_is_documented(cls):
    X = np.random.RandomState(0).rand(30, 4)
    y = np.arange(30) % 3
    for solver, kwargs in [("lbfgs", {}), ("adam", {"early_stopping": True})]:
        model = cls(hidden_layer_sizes=(5,), solver=solver, max_iter=3, random_state=0, **kwargs)
        with pytest.warns(Warning):  # ConvergenceWarning after 3 iterations
            model.fit(X, y)
        fitted = {name for name in vars(model)
                  if name.endswith("_") and not name.startswith("_")}
        documented = {a.name for a in ClassDoc(cls)["Attributes"]}
        assert fitted <= documented, fitted - documented


@pytest.mark.parametrize(
    "cls, method", [(cls, m) for cls in ESTIMATORS for m in METHODS[cls]],
    ids=lambda v: getattr(v, "__name__", v),
)
def test_public_methods_document_their_parameters_and_result(cls, method):
    func = getattr(cls, method)
    doc = FunctionDoc(func)
    assert "".join(doc["Summary"]).strip(), method
    assert [p.name for p in doc["Parameters"]] == _signature_params(func)
    assert all(p.type for p in doc["Parameters"])
    assert doc["Returns"], f"{method} documents no return value"


def _examples():
    finder = doctest.DocTestFinder()
    objects = [*ESTIMATORS, *(getattr(cls, m) for cls in ESTIMATORS for m in METHODS[cls])]
    tests = {}  # methods both estimators inherit are found twice
    for obj in objects:
        tests.update((t.name, t) for t in finder.find(obj, globs={}) if t.examples)
    return list(tests.values())


@pytest.mark.parametrize("test", _examples(), ids=lambda t: t.name)
def test_docstring_examples_run(test):
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an example must not warn
        runner.run(test)
    assert runner.failures == 0, f"{test.name}: {runner.failures} example(s) failed"


def test_there_are_examples_for_each_estimator():
    names = {t.name.split(".")[0] for t in _examples()}
    assert names >= {"MLPClassifier", "MLPRegressor"}
    assert fastmlp.MLPClassifier.__doc__.count(">>>") >= 5
