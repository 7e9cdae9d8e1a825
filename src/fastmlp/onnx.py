"""ONNX export through skl2onnx (optional extra: ``pip install fastmlp[onnx]``).

fastmlp's estimators hold exactly the fitted state of sklearn's, so
skl2onnx's own MLP converters and shape calculators apply unchanged to a
model with sklearn's options; one with activations beyond sklearn's (or one
per hidden layer) has its hidden layers written here, in ONNX operators, and
its output layer by skl2onnx's converter. This module registers them for
fastmlp's classes::

    import fastmlp.onnx                   # registers on import
    from skl2onnx import to_onnx
    onx = to_onnx(model, X[:1].astype(np.float32))
"""

from types import SimpleNamespace

from skl2onnx import update_registered_converter
from skl2onnx.common._apply_operation import apply_add, apply_cast, apply_mul
from skl2onnx.common.data_types import guess_proto_type
from skl2onnx.operator_converters.multilayer_perceptron import (
    convert_sklearn_mlp_classifier,
    convert_sklearn_mlp_regressor,
)
from skl2onnx.proto import onnx_proto
from skl2onnx.shape_calculators.linear_classifier import (
    calculate_linear_classifier_output_shapes,
)
from skl2onnx.shape_calculators.linear_regressor import (
    calculate_linear_regressor_output_shapes,
)

from fastmlp._classifier import MLPClassifier
from fastmlp._regressor import MLPRegressor

# one ONNX operator each (skl2onnx's converters know the first four)
_OPERATORS = {
    "identity": ("Identity", {}), "logistic": ("Sigmoid", {}), "tanh": ("Tanh", {}),
    "relu": ("Relu", {}), "leaky_relu": ("LeakyRelu", {"alpha": 0.01}),
    "elu": ("Elu", {"alpha": 1.0}), "softplus": ("Softplus", {}),
}
_SKL2ONNX_ACTIVATIONS = ("identity", "logistic", "tanh", "relu")


def _constant(scope, container, proto_dtype, value):
    name = scope.get_unique_variable_name("constant")
    container.add_initializer(name, proto_dtype, [], [value])
    return name


def _activation(scope, container, name, z, proto_dtype):
    """The variable holding activation `name` of variable z."""
    out = scope.get_unique_variable_name("next_activations")
    if name in _OPERATORS:
        op, attrs = _OPERATORS[name]
        container.add_node(op, z, out, name=scope.get_unique_operator_name(op), **attrs)
    elif name == "silu":  # z * sigmoid(z)
        s = scope.get_unique_variable_name("sigmoid")
        container.add_node("Sigmoid", z, s, name=scope.get_unique_operator_name("Sigmoid"))
        apply_mul(scope, [z, s], out, container)
    else:  # gelu, exact: z * (1 + erf(z / sqrt 2)) / 2
        u = scope.get_unique_variable_name("scaled")
        apply_mul(scope, [z, _constant(scope, container, proto_dtype, 0.5**0.5)], u, container)
        e = scope.get_unique_variable_name("erf")
        container.add_node("Erf", u, e, name=scope.get_unique_operator_name("Erf"))
        e1 = scope.get_unique_variable_name("erf_plus_one")
        apply_add(scope, [e, _constant(scope, container, proto_dtype, 1.0)], e1, container)
        h = scope.get_unique_variable_name("half_z")
        apply_mul(scope, [z, _constant(scope, container, proto_dtype, 0.5)], h, container)
        apply_mul(scope, [h, e1], out, container)
    return out


def _with_hidden_layers(convert_output):
    """A converter: skl2onnx's for sklearn's activations; otherwise the hidden
    layers in ONNX operators, and the output layer (output function, labels)
    by skl2onnx's converter on a one-layer stand-in for the model."""

    def convert(scope, operator, container):
        model = operator.raw_operator
        activation = model.activation
        if isinstance(activation, str) and activation in _SKL2ONNX_ACTIVATIONS:
            return convert_output(scope, operator, container)
        n_hidden = model.n_layers_ - 2
        if isinstance(activation, str):
            activation = [activation] * n_hidden
        proto_dtype = guess_proto_type(operator.inputs[0].type)
        if proto_dtype != onnx_proto.TensorProto.DOUBLE:
            proto_dtype = onnx_proto.TensorProto.FLOAT
        a = scope.get_unique_variable_name("cast_input")
        apply_cast(scope, operator.inputs[0].full_name, a, container, to=proto_dtype)
        for i in range(n_hidden):
            W = scope.get_unique_variable_name("coefficient")
            b = scope.get_unique_variable_name("intercepts")
            container.add_initializer(W, proto_dtype, model.coefs_[i].shape,
                                      model.coefs_[i].ravel())
            container.add_initializer(b, proto_dtype, [1, len(model.intercepts_[i])],
                                      model.intercepts_[i])
            m = scope.get_unique_variable_name("mul_result")
            container.add_node("MatMul", [a, W], m,
                               name=scope.get_unique_operator_name("MatMul"))
            z = scope.get_unique_variable_name("add_result")
            apply_add(scope, [m, b], z, container, broadcast=1)
            a = _activation(scope, container, activation[i], z, proto_dtype)
        last = SimpleNamespace(
            coefs_=[model.coefs_[-1]], intercepts_=[model.intercepts_[-1]], n_layers_=2,
            activation="identity", out_activation_=model.out_activation_,
            classes_=getattr(model, "classes_", None),
            _label_binarizer=getattr(model, "_label_binarizer", None),
        )
        stand_in = SimpleNamespace(
            raw_operator=last,
            inputs=[SimpleNamespace(full_name=a, type=operator.inputs[0].type)],
            outputs=operator.outputs, output_full_names=operator.output_full_names,
        )
        return convert_output(scope, stand_in, container)

    return convert


def register():
    """Register fastmlp's MLPClassifier and MLPRegressor with skl2onnx."""
    update_registered_converter(
        MLPClassifier,
        "FastmlpMLPClassifier",
        calculate_linear_classifier_output_shapes,
        _with_hidden_layers(convert_sklearn_mlp_classifier),
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
        _with_hidden_layers(convert_sklearn_mlp_regressor),
    )


register()
