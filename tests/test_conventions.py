"""scikit-learn conventions: tags, parameters and cloning, metadata routing of
sample_weight, feature names, and parallel model selection (joblib workers)."""

import inspect
import warnings

import numpy as np
import pytest
import sklearn
import sklearn.neural_network as sk
from joblib import Parallel, cpu_count, delayed, effective_n_jobs
from numpy.testing import assert_allclose, assert_array_equal
from shared_helpers import assert_same_weights
from shared_helpers import weights as _weights
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning, UnsetMetadataPassedError
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

import fastmlp
from fastmlp import MLPClassifier, MLPRegressor
from fastmlp._threads import effective_n_threads

X_DIGITS, Y_DIGITS = load_digits(return_X_y=True)
X = X_DIGITS[:300]
Y = Y_DIGITS[:300]
_rng = np.random.RandomState(0)
SW = _rng.uniform(0.2, 3.0, len(Y))
Y_REG = X[:, 20] - 0.5 * X[:, 30] + 0.1 * _rng.randn(len(Y))

LBFGS = dict(hidden_layer_sizes=(12,), solver="lbfgs", max_iter=30, random_state=0)


@pytest.fixture(autouse=True)
def _no_convergence_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


# ------------------------------------------------------------------- tags --


def test_classifier_tags():
    tags = MLPClassifier().__sklearn_tags__()
    assert tags.estimator_type == "classifier"
    assert tags.input_tags.sparse
    assert tags.input_tags.two_d_array
    assert not tags.input_tags.allow_nan
    assert tags.classifier_tags.multi_class
    assert tags.classifier_tags.multi_label  # y as a label indicator matrix
    # no multiclass-multioutput y (LabelBinarizer refuses it, as in sklearn)
    assert not tags.target_tags.multi_output
    assert tags.target_tags.single_output
    assert tags.target_tags.required
    assert tags.transformer_tags is None and tags.regressor_tags is None
    assert tags.requires_fit and not tags.non_deterministic
    assert not tags.array_api_support
    assert tags == sk.MLPClassifier().__sklearn_tags__()


def test_regressor_tags():
    tags = MLPRegressor().__sklearn_tags__()
    assert tags.estimator_type == "regressor"
    assert tags.input_tags.sparse
    assert not tags.input_tags.allow_nan
    assert tags.target_tags.multi_output  # sklearn's class leaves this False
    assert tags.target_tags.single_output
    assert tags.transformer_tags is None and tags.classifier_tags is None
    skt = sk.MLPRegressor().__sklearn_tags__()
    skt.target_tags.multi_output = True
    assert tags == skt


def test_tags_match_what_fit_accepts():
    import scipy.sparse as sp

    MLPClassifier(**LBFGS).fit(sp.csr_matrix(X), Y)
    multilabel = np.c_[Y % 2, Y > 4, Y == 3].astype(int)
    clf = MLPClassifier(**LBFGS).fit(X, multilabel)
    assert clf.predict(X).shape == multilabel.shape
    y2 = np.c_[Y_REG, -Y_REG]
    reg = MLPRegressor(**LBFGS).fit(sp.csc_matrix(X), y2)
    assert reg.predict(X).shape == y2.shape


@pytest.mark.parametrize("solver", ["lbfgs", "adam", "sgd"])
def test_float32_dtypes_as_sklearn(solver):
    """Not a tag for predictors (transformer_tags.preserves_dtype is for
    transformers): float32 input gives sklearn's dtypes. sgd/adam train and
    predict in float32; L-BFGS evaluates in float32 but hands back scipy's
    float64 iterate, so its weights and predictions are float64."""
    X32 = (X / 16).astype(np.float32)
    params = dict(hidden_layer_sizes=(8,), solver=solver, max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pairs = [
            (MLPClassifier(**params).fit(X32, Y), sk.MLPClassifier(**params).fit(X32, Y)),
            (MLPRegressor(**params).fit(X32, Y_REG.astype(np.float32)),
             sk.MLPRegressor(**params).fit(X32, Y_REG.astype(np.float32))),
        ]
    want = np.float64 if solver == "lbfgs" else np.float32
    for ours, theirs in pairs:
        assert [w.dtype for w in _weights(ours)] == [w.dtype for w in _weights(theirs)]
        assert all(w.dtype == want for w in _weights(ours))
        predict = ours.predict_proba if hasattr(ours, "predict_proba") else ours.predict
        their_predict = (theirs.predict_proba if hasattr(theirs, "predict_proba")
                         else theirs.predict)
        assert predict(X32).dtype == their_predict(X32).dtype == want
        assert predict(X32.astype(np.float64)).dtype == np.float64


# ------------------------------------------- get_params, set_params, clone --


@pytest.mark.parametrize("name", ["MLPClassifier", "MLPRegressor"])
def test_params_match_sklearn(name):
    ours = getattr(fastmlp, name)().get_params()
    theirs = getattr(sk, name)().get_params()
    ours.pop("class_weight", None)  # fastmlp's addition (see test_interop)
    assert ours.pop("dropout") == 0.0  # beyond scikit-learn (README), off by default
    if name == "MLPRegressor":  # the robust losses' parameters (README: Beyond scikit-learn)
        assert (ours.pop("huber_delta"), ours.pop("quantile")) == (1.0, 0.5)
    assert ours == theirs


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("MLPClassifier", {"solver": "lbfgs", "alpha": -0.1}),
        ("MLPClassifier", {"solver": "lbfgs", "max_iter": 0}),
        ("MLPClassifier", {"solver": "sgd", "momentum": 1.5}),
        ("MLPClassifier", {"solver": "adam", "early_stopping": True, "n_iter_no_change": 0}),
        ("MLPClassifier", {"solver": "no such solver"}),
        ("MLPRegressor", {"solver": "sgd", "learning_rate": "invscaling", "power_t": -1.0}),
        ("MLPRegressor", {"solver": "adam", "tol": -1.0, "epsilon": 0.0}),
    ],
)
def test_skip_parameter_validation_honoured_as_by_sklearn(name, params):
    """Under config_context(skip_parameter_validation=True) sklearn fits with
    parameters its constraints refuse; fastmlp fits the same model."""
    params = dict(params, hidden_layer_sizes=(4,), random_state=0)
    params.setdefault("max_iter", 5)
    ours, theirs = getattr(fastmlp, name)(**params), getattr(sk, name)(**params)
    y = Y if name == "MLPClassifier" else Y / 9.0
    with pytest.raises(InvalidParameterError):
        clone(ours).fit(X, y)
    with warnings.catch_warnings(), sklearn.config_context(skip_parameter_validation=True):
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(X, y)
        theirs.fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_
    assert_same_weights(ours, theirs, rtol=1e-6, floor="array")


def test_set_params_and_clone():
    est = MLPClassifier(random_state=0)
    assert est.set_params(alpha=0.5, hidden_layer_sizes=(7, 3), solver="lbfgs") is est
    assert est.get_params()["alpha"] == 0.5
    assert est.hidden_layer_sizes == (7, 3)
    with pytest.raises(ValueError, match="Invalid parameter"):
        est.set_params(not_a_param=1)
    est.fit(X, Y)
    copy = clone(est)
    assert copy.get_params() == est.get_params()
    assert not hasattr(copy, "coefs_")
    assert "hidden_layer_sizes=(7, 3)" in repr(copy)
    # a clone fits to the same model
    assert_same_weights(copy.fit(X, Y), est)


def test_nested_params_in_pipeline():
    pipe = Pipeline([("scale", StandardScaler()), ("mlp", MLPRegressor())])
    pipe.set_params(mlp__alpha=0.01, mlp__solver="lbfgs")
    assert pipe.get_params()["mlp__alpha"] == 0.01
    assert pipe.named_steps["mlp"].solver == "lbfgs"
    assert clone(pipe).get_params()["mlp__alpha"] == 0.01


# ------------------------------------------------ metadata routing (weights) --


@pytest.mark.parametrize("est", [MLPClassifier(), MLPRegressor()],
                         ids=["classifier", "regressor"])
def test_request_methods_exist(est):
    """BaseEstimator makes set_{fit,score,partial_fit}_request from the
    sample_weight parameters of fit, score and partial_fit."""
    assert "sample_weight" in inspect.signature(est.set_fit_request).parameters
    assert "sample_weight" in inspect.signature(est.set_score_request).parameters
    assert "sample_weight" in inspect.signature(
        est.set_partial_fit_request).parameters
    with sklearn.config_context(enable_metadata_routing=True):
        est = clone(est)
        assert est.set_fit_request(sample_weight=True) is est
        assert est.set_score_request(sample_weight=False) is est
        routing = est.get_metadata_routing()
        # fit's validation set is metadata too, unrequested by default, as
        # for HistGradientBoosting*
        fit_requests = {"sample_weight": True, "X_val": None, "y_val": None,
                        "sample_weight_val": None}
        assert routing.fit.requests == fit_requests
        assert routing.score.requests == {"sample_weight": False}
        assert clone(est).get_metadata_routing().fit.requests == fit_requests
    assert "classes" in inspect.signature(
        MLPClassifier().set_partial_fit_request).parameters


def _pipe(est):
    return Pipeline([("scale", StandardScaler()), ("mlp", est)])


def _direct(est, X, y, sw):
    """est fitted on X scaled as the pipeline scales it (unweighted scaler)."""
    return clone(est).fit(StandardScaler().fit_transform(X), y, sample_weight=sw)


@pytest.mark.parametrize("est", [MLPClassifier(**LBFGS), MLPRegressor(**LBFGS)],
                         ids=["classifier", "regressor"])
def test_pipeline_routes_sample_weight(est):
    y = Y if isinstance(est, MLPClassifier) else Y_REG
    expected = _direct(est, X, y, SW)
    unweighted = _direct(est, X, y, None)
    assert not np.allclose(expected.coefs_[0], unweighted.coefs_[0])

    # default (no routing): the step__param fit parameter
    plain = _pipe(clone(est)).fit(X, y, mlp__sample_weight=SW)
    assert_same_weights(plain.named_steps["mlp"], expected)

    with sklearn.config_context(enable_metadata_routing=True):
        routed_est = clone(est).set_fit_request(sample_weight=True)
        scaler = StandardScaler().set_fit_request(sample_weight=False)
        pipe = Pipeline([("scale", scaler), ("mlp", routed_est)])
        pipe.fit(X, y, sample_weight=SW)
        assert_same_weights(pipe.named_steps["mlp"], expected)

        # a request left unset is an error, not silently dropped weights
        unset = Pipeline([("scale", scaler), ("mlp", clone(est))])
        with pytest.raises(UnsetMetadataPassedError):
            unset.fit(X, y, sample_weight=SW)
        # requested by no step: an error too
        declined = Pipeline([("scale", scaler),
                             ("mlp", clone(est).set_fit_request(sample_weight=False))])
        with pytest.raises(TypeError, match="not routed to any object"):
            declined.fit(X, y, sample_weight=SW)


def _manual_search(grid_alphas, cv, score_weights):
    """mean test accuracy per alpha of the weighted pipeline, by hand."""
    means = []
    for alpha in grid_alphas:
        scores = []
        for train, test in cv.split(X):
            pipe = _pipe(MLPClassifier(**LBFGS).set_params(alpha=alpha))
            pipe.fit(X[train], Y[train], mlp__sample_weight=SW[train])
            sw = SW[test] if score_weights else None
            scores.append(pipe.score(X[test], Y[test], sample_weight=sw))
        means.append(np.mean(scores))
    return np.array(means)


def test_grid_search_routes_sample_weight():
    alphas = [1e-4, 1.0]
    grid = {"mlp__alpha": alphas}
    cv = KFold(3)
    # default (no routing): fit parameters go to fit, scoring is unweighted
    plain = GridSearchCV(_pipe(MLPClassifier(**LBFGS)), grid, cv=cv)
    plain.fit(X, Y, mlp__sample_weight=SW)

    with sklearn.config_context(enable_metadata_routing=True):
        mlp = MLPClassifier(**LBFGS).set_fit_request(sample_weight=True)
        mlp.set_score_request(sample_weight=True)
        scaler = StandardScaler().set_fit_request(sample_weight=False)
        routed = GridSearchCV(Pipeline([("scale", scaler), ("mlp", mlp)]), grid, cv=cv)
        routed.fit(X, Y, sample_weight=SW)

    assert_allclose(plain.cv_results_["mean_test_score"],
                    _manual_search(alphas, cv, score_weights=False))
    assert_allclose(routed.cv_results_["mean_test_score"],
                    _manual_search(alphas, cv, score_weights=True))
    for search in (plain, routed):
        best = MLPClassifier(**LBFGS).set_params(alpha=search.best_params_["mlp__alpha"])
        assert_same_weights(search.best_estimator_.named_steps["mlp"],
                            _direct(best, X, Y, SW))


# ---------------------------------------------------------- feature names --


def _frame(pd, X):
    return pd.DataFrame(X, columns=[f"px{i}" for i in range(X.shape[1])])


def _warnings_of(call):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        call()
    return [str(w.message) for w in record
            if not issubclass(w.category, ConvergenceWarning)]


def _outcome(call):
    """(exception type and message, or None; warning messages) of call()."""
    error = None
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        try:
            call()
        except Exception as exc:
            error = (type(exc), str(exc))
    msgs = [str(w.message) for w in record if not issubclass(w.category, ConvergenceWarning)]
    return error, msgs


# each case: (pandas, X as a frame) -> (what to fit on, what to call then)
FEATURE_NAME_CASES = {
    "fit frame, predict frame": lambda pd, XF: (XF, lambda m: m.predict(XF)),
    "fit frame, predict array": lambda pd, XF: (XF, lambda m: m.predict(X)),
    "fit array, predict frame": lambda pd, XF: (X, lambda m: m.predict(XF)),
    "fit frame, predict reordered": lambda pd, XF: (
        XF, lambda m: m.predict(XF[XF.columns[::-1]])),
    "fit frame, predict renamed": lambda pd, XF: (
        XF, lambda m: m.predict(XF.rename(columns={"px0": "other"}))),
    "fit frame, predict_proba array": lambda pd, XF: (XF, lambda m: m.predict_proba(X)),
    "fit frame, score array": lambda pd, XF: (XF, lambda m: m.score(X, Y)),
    "fit int columns, predict frame": lambda pd, XF: (
        pd.DataFrame(X), lambda m: m.predict(pd.DataFrame(X))),
    "fit frame, refit renamed": lambda pd, XF: (
        XF, lambda m: m.fit(XF.rename(columns={"px0": "other"}), Y)),
}


@pytest.mark.parametrize("case", list(FEATURE_NAME_CASES))
def test_feature_names_like_sklearn(case, pd):
    fit_X, call = FEATURE_NAME_CASES[case](pd, _frame(pd, X))
    outcomes = []
    for module in (sk, fastmlp):
        est = module.MLPClassifier(**LBFGS).fit(fit_X, Y)
        names = getattr(est, "feature_names_in_", None)
        error, msgs = _outcome(lambda: call(est))
        # the messages name the class: both are called MLPClassifier
        outcomes.append((None if names is None else list(names), error, msgs))
    assert outcomes[0] == outcomes[1]


def test_feature_names_in_and_mismatch_warning(pd):
    XF = _frame(pd, X)
    est = MLPRegressor(**LBFGS).fit(XF, Y_REG)
    assert_array_equal(est.feature_names_in_, XF.columns.to_numpy(dtype=object))
    assert est.n_features_in_ == X.shape[1]
    msgs = _warnings_of(lambda: est.predict(X))
    assert msgs == ["X does not have valid feature names, but MLPRegressor was "
                    "fitted with feature names"]
    with pytest.raises(ValueError, match="Feature names must be in the same order"):
        est.predict(XF[XF.columns[::-1]])
    plain = MLPRegressor(**LBFGS).fit(X, Y_REG)
    assert not hasattr(plain, "feature_names_in_")
    msgs = _warnings_of(lambda: plain.predict(XF))
    assert msgs == ["X has feature names, but MLPRegressor was fitted without "
                    "feature names"]
    # the same model from a frame and from its values (the frame's values
    # arrive column-major: the same sums to rounding)
    for a, b in zip(_weights(est), _weights(plain)):
        assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_partial_fit_keeps_feature_names(pd):
    XF = _frame(pd, X)
    est = MLPClassifier(hidden_layer_sizes=(8,), random_state=0)
    est.partial_fit(XF, Y, classes=np.unique(Y))
    assert_array_equal(est.feature_names_in_, XF.columns)
    assert _warnings_of(lambda: est.partial_fit(XF, Y)) == []
    assert _warnings_of(lambda: est.partial_fit(X, Y)) == [
        "X does not have valid feature names, but MLPClassifier was fitted with "
        "feature names"]


# ------------------------------------------------ parallel model selection --


@pytest.mark.parametrize("n_jobs", [2, -1])
def test_loky_workers_do_not_oversubscribe(n_jobs):
    """Inside joblib's loky workers fastmlp's OpenMP team follows the limit
    joblib sets (OMP_NUM_THREADS = cpu_count() // n_workers in each worker),
    so n_workers workers run at most cpu_count() compute threads together."""
    n_workers = effective_n_jobs(n_jobs)
    threads = Parallel(n_jobs=n_jobs, backend="loky")(
        delayed(effective_n_threads)() for _ in range(2 * n_workers))
    assert min(threads) >= 1
    assert max(threads) * n_workers <= cpu_count()


def _search(n_jobs):
    search = GridSearchCV(
        _pipe(MLPClassifier(**LBFGS)),
        {"mlp__alpha": [1e-4, 1e-1], "mlp__hidden_layer_sizes": [(8,), (12,)]},
        cv=KFold(3),
        n_jobs=n_jobs,
    )
    return search.fit(X, Y)


def test_grid_search_n_jobs_2_equals_n_jobs_1():
    one, two = _search(1), _search(2)
    assert one.best_params_ == two.best_params_
    # workers run one OpenMP thread where the parent may run more: the
    # gradient sums are grouped differently, so equal to rounding only
    assert_allclose(two.cv_results_["mean_test_score"],
                    one.cv_results_["mean_test_score"], rtol=1e-6)
    for a, b in zip(_weights(one.best_estimator_[-1]), _weights(two.best_estimator_[-1])):
        assert_allclose(a, b, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("est", [MLPClassifier(**LBFGS), MLPRegressor(**LBFGS)],
                         ids=["classifier", "regressor"])
def test_cross_val_score_n_jobs_all_equals_n_jobs_1(est):
    y = Y if isinstance(est, MLPClassifier) else Y_REG
    one = cross_val_score(_pipe(est), X, y, cv=KFold(4), n_jobs=1)
    every = cross_val_score(_pipe(est), X, y, cv=KFold(4), n_jobs=-1)
    assert_allclose(every, one, rtol=1e-6)
