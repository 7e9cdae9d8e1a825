"""ONNX export through skl2onnx (optional extra: ``pip install fastmlp[onnx]``).

fastmlp's estimators hold exactly the fitted state of sklearn's, so
skl2onnx's own MLP converters and shape calculators apply unchanged; this
module registers them for fastmlp's classes::

    import fastmlp.onnx                   # registers on import
    from skl2onnx import to_onnx
    onx = to_onnx(model, X[:1].astype(np.float32))
"""

from skl2onnx import update_registered_converter
from skl2onnx.operator_converters.multilayer_perceptron import (
    convert_sklearn_mlp_classifier,
    convert_sklearn_mlp_regressor,
)
from skl2onnx.shape_calculators.linear_classifier import (
    calculate_linear_classifier_output_shapes,
)
from skl2onnx.shape_calculators.linear_regressor import (
    calculate_linear_regressor_output_shapes,
)

from fastmlp._multilayer_perceptron import MLPClassifier, MLPRegressor


def register():
    """Register fastmlp's MLPClassifier and MLPRegressor with skl2onnx."""
    update_registered_converter(
        MLPClassifier,
        "FastmlpMLPClassifier",
        calculate_linear_classifier_output_shapes,
        convert_sklearn_mlp_classifier,
        options={
            "zipmap": [True, False, "columns"],
            "output_class_labels": [False, True],
            "nocl": [True, False],
        },
    )
    update_registered_converter(
        MLPRegressor,
        "FastmlpMLPRegressor",
        calculate_linear_regressor_output_shapes,
        convert_sklearn_mlp_regressor,
    )


register()
