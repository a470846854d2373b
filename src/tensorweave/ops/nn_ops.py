"""Neural-network ops: activations, softmax and losses, bias, convolution, pooling, embeddings.

Definitions (op types with TF1 names, attrs and shape functions) and the TF1 `tf.nn` wrappers.
Kernels live in `tensorweave/kernels/cpu/nn.py` (element-wise, softmax, losses) and
`kernels/cpu/conv.py` (convolution, pooling); gradients in `autodiff/nn_grad.py`.

Every activation's gradient is a *fused* op (`ReluGrad`, `EluGrad`, ...) taking the incoming
gradient and the forward input or output, as in TF1, so a backward step is one kernel call.
Composite functions (`moments`, `batch_normalization`, `l2_normalize`, `dropout`, the sigmoid
cross entropy, `embedding_lookup`) build the same math/array ops under the same name scopes as
TF1.  Convolution geometry follows TF: NHWC, SAME output `ceil(in / stride)` with the odd padding
row/column at the bottom/right, VALID output `ceil((in - (k - 1) * dilation) / stride)`.
"""
from __future__ import annotations

import numbers

import numpy as np

from ..framework import dtypes as _dtypes
from ..framework import errors as _errors
from ..framework.convert import constant_value, constant_value_as_shape, convert_to_tensor
from ..framework.graph import Tensor, apply_op, colocate_with, name_scope
from ..framework.op_registry import register_op
from ..framework.tensor_shape import Dimension, TensorShape
from . import array_ops, math_ops
from .array_ops import top_k  # tf.nn re-exports of the array and math families' ops
from .math_ops import sigmoid, tanh
from .op_util import FLOAT_TYPES, check_dtype, fmt_shape, op1

__all__ = [
    # re-exported from the math and array families, as in tf.nn
    "sigmoid", "tanh", "top_k",
    # activations
    "relu", "relu6", "elu", "selu", "leaky_relu", "softplus", "softsign",
    "crelu", "softmax", "log_softmax", "bias_add", "xw_plus_b", "relu_layer",
    # fused gradient ops that TF1 exposes under tf.nn
    "conv2d_backprop_input", "conv2d_backprop_filter", "depthwise_conv2d_native",
    "depthwise_conv2d_native_backprop_input", "depthwise_conv2d_native_backprop_filter",
    # losses, normalisation, metrics
    "l2_loss", "l2_normalize", "moments", "batch_normalization", "fused_batch_norm", "dropout",
    "local_response_normalization", "lrn", "zero_fraction", "in_top_k",
    "sigmoid_cross_entropy_with_logits", "weighted_cross_entropy_with_logits",
    "softmax_cross_entropy_with_logits", "softmax_cross_entropy_with_logits_v2",
    "sparse_softmax_cross_entropy_with_logits", "log_poisson_loss",
    # convolution and pooling
    "conv1d", "conv2d", "conv2d_transpose", "depthwise_conv2d", "separable_conv2d",
    "atrous_conv2d", "max_pool", "avg_pool",
    # embeddings
    "embedding_lookup",
]

_REAL = FLOAT_TYPES + (_dtypes.int8, _dtypes.int16, _dtypes.int32, _dtypes.int64,
                       _dtypes.uint8, _dtypes.uint16)


def _where(op) -> str:
    return f"for '{op.name}' (op: '{op.type}') with input shapes: " + \
        ", ".join(fmt_shape(t.shape) for t in op.inputs) + "."


def _check_types(op, allowed) -> None:
    x = op.inputs[0]
    if x.dtype not in allowed:
        names = ", ".join(d.name for d in allowed)
        raise TypeError(f"Value passed to '{op.type}' node '{op.name}' has DataType "
                        f"{x.dtype.name} not in list of allowed values: {names}")
    for i, t in enumerate(op.inputs[1:], 1):
        if t.dtype is not x.dtype:
            raise TypeError(f"Input {i} of '{op.type}' node '{op.name}' has type {t.dtype.name} "
                            f"that does not match type {x.dtype.name} of input 0.")


def _rank_at_least(op, t, rank: int, what: str = "") -> TensorShape:
    if t.shape.ndims is not None and t.shape.ndims < rank:
        raise ValueError(f"Shape must be at least rank {rank} but is rank {t.shape.ndims}"
                         f"{what} {_where(op)}")
    return t.shape


def _rank_exactly(op, t, rank: int, what: str = "") -> TensorShape:
    if t.shape.ndims is not None and t.shape.ndims != rank:
        raise ValueError(f"Shape must be rank {rank} but is rank {t.shape.ndims}{what} "
                         f"{_where(op)}")
    return t.shape.with_rank(rank)


def _merge(op, a: TensorShape, b: TensorShape) -> TensorShape:
    if not a.is_compatible_with(b):
        raise ValueError(f"Incompatible shapes {fmt_shape(a)} and {fmt_shape(b)} {_where(op)}")
    return a.merge_with(b)


# ----------------------------------------------------------------------------------------------
# activations (element-wise) and their fused gradients
# ----------------------------------------------------------------------------------------------
def _unary_shape(allowed):
    def shape_fn(op):
        _check_types(op, allowed)
        return [(op.inputs[0].dtype, op.inputs[0].shape)]
    return shape_fn


def _grad_pair_shape(op):
    """Fused gradient ops `XGrad(gradients, features_or_outputs)`: both inputs alike."""
    _check_types(op, FLOAT_TYPES)
    g, x = op.inputs
    return [(g.dtype, _merge(op, g.shape, x.shape))]


for _t in ("Relu", "Relu6"):
    register_op(_t)(_unary_shape(_REAL))
for _t in ("LeakyRelu", "Elu", "Selu", "Softplus", "Softsign"):
    register_op(_t)(_unary_shape(FLOAT_TYPES))
for _t in ("ReluGrad", "Relu6Grad", "EluGrad", "SeluGrad", "LeakyReluGrad", "SoftplusGrad",
           "SoftsignGrad"):
    register_op(_t)(_grad_pair_shape)


def _unary(op_type: str, allowed, doc: str):
    def fn(features, name=None):
        x = convert_to_tensor(features, name="features")
        check_dtype(x, allowed, op_type, "features")
        return op1(op_type, [x], {"T": x.dtype}, name or op_type)
    fn.__name__ = fn.__qualname__ = op_type.lower()
    fn.__doc__ = doc
    return fn


relu = _unary("Relu", _REAL, "TF1 `tf.nn.relu`: max(features, 0).")
elu = _unary("Elu", FLOAT_TYPES, "TF1 `tf.nn.elu`: features if > 0 else exp(features) - 1.")
selu = _unary("Selu", FLOAT_TYPES, "TF1 `tf.nn.selu`: scale * elu with alpha (Klambauer 2017).")
softplus = _unary("Softplus", FLOAT_TYPES, "TF1 `tf.nn.softplus`: log(exp(features) + 1).")
softsign = _unary("Softsign", FLOAT_TYPES, "TF1 `tf.nn.softsign`: features / (|features| + 1).")


def relu6(features, name=None):
    """TF1 `tf.nn.relu6`: min(max(features, 0), 6)."""
    with name_scope(name, "Relu6", [features]) as scope:
        x = convert_to_tensor(features, name="features")
        check_dtype(x, _REAL, "Relu6", "features")
        return op1("Relu6", [x], {"T": x.dtype}, scope)


def leaky_relu(features, alpha=0.2, name=None):
    """TF1 `tf.nn.leaky_relu`: features if > 0 else alpha * features (integers become float32)."""
    with name_scope(name, "LeakyRelu", [features, alpha]) as scope:
        x = convert_to_tensor(features, name="features")
        if x.dtype.is_integer:
            x = math_ops.cast(x, _dtypes.float32)
        if isinstance(alpha, np.ndarray):
            alpha = alpha.item()
        if not isinstance(alpha, numbers.Real):
            raise TypeError(f"leaky_relu: alpha must be a Python number, got {alpha!r}")
        return op1("LeakyRelu", [x], {"T": x.dtype, "alpha": float(alpha)}, scope)


def crelu(features, name=None, axis=-1):
    """TF1 `tf.nn.crelu`: relu of [features, -features] concatenated along `axis`."""
    with name_scope(name, "CRelu", [features]) as scope:
        x = convert_to_tensor(features, name="features")
        c = array_ops.concat([x, math_ops.negative(x)], axis, name="concat")
        return relu(c, name=scope)


def fused_grad(op_type: str, gradients, x, **attrs) -> Tensor:
    """`op_type(gradients, x)`: the fused gradient ops used by `nn_grad` (ReluGrad, ...)."""
    return op1(op_type, [gradients, x], {"T": x.dtype, **attrs}, op_type)


# ----------------------------------------------------------------------------------------------
# bias_add
# ----------------------------------------------------------------------------------------------
def _channel_axis(data_format: str, rank: int) -> int:
    return 1 if data_format.startswith("NC") else rank - 1


@register_op("BiasAdd")
def _bias_add_shape(op):
    _check_types(op, _dtypes.NUMERIC)
    v, b = op.inputs
    fmt = op.get_attr("data_format")
    s = _rank_at_least(op, v, 3 if fmt == "NCHW" else 2)
    _rank_exactly(op, b, 1)
    if s.ndims is None:
        return [(v.dtype, s)]
    ax = _channel_axis(fmt, s.ndims)
    if not s[ax].is_compatible_with(b.shape[0]):
        raise ValueError(f"Dimensions must be equal, but are {s[ax]} and {b.shape[0]} "
                         f"{_where(op)}")
    dims = list(s.dims)
    dims[ax] = s[ax].merge_with(b.shape[0])
    return [(v.dtype, TensorShape(dims))]


@register_op("BiasAddGrad")
def _bias_add_grad_shape(op):
    g = op.inputs[0]
    fmt = op.get_attr("data_format")
    s = _rank_at_least(op, g, 2)
    if s.ndims is None:
        return [(g.dtype, TensorShape([None]))]
    return [(g.dtype, TensorShape([s[_channel_axis(fmt, s.ndims)]]))]


def _bias_format(data_format) -> str:
    if data_format is None:
        return "NHWC"
    if isinstance(data_format, bytes):
        data_format = data_format.decode()
    if data_format.startswith("NC"):
        return "NCHW"
    if data_format.startswith("N") and data_format.endswith("C"):
        return "NHWC"
    raise ValueError(f"data_format must be of the form `N...C` or `NC...`, got {data_format!r}")


def bias_add(value, bias, data_format=None, name=None):
    """TF1 `tf.nn.bias_add`: `value` plus the 1-D `bias` along the channel dimension."""
    with name_scope(name, "BiasAdd", [value, bias]) as scope:
        fmt = _bias_format(data_format)
        v = convert_to_tensor(value, name="input")
        b = convert_to_tensor(bias, dtype=v.dtype, name="bias")
        return op1("BiasAdd", [v, b], {"T": v.dtype, "data_format": fmt}, scope)


def bias_add_grad(out_backprop, data_format="NHWC", name=None) -> Tensor:
    """The sum of `out_backprop` over all but the channel dimension (op `BiasAddGrad`)."""
    g = convert_to_tensor(out_backprop)
    return op1("BiasAddGrad", [g], {"T": g.dtype, "data_format": _bias_format(data_format)},
               name or "BiasAddGrad")


def xw_plus_b(x, weights, biases, name=None):
    """TF1 `tf.nn.xw_plus_b`: matmul(x, weights) + biases."""
    with name_scope(name, "xw_plus_b", [x, weights, biases]) as scope:
        mm = math_ops.matmul(convert_to_tensor(x, name="x"),
                             convert_to_tensor(weights, name="weights"))
        return bias_add(mm, biases, name=scope)


def relu_layer(x, weights, biases, name=None):
    """TF1 `tf.nn.relu_layer`: relu(matmul(x, weights) + biases)."""
    with name_scope(name, "relu_layer", [x, weights, biases]) as scope:
        mm = math_ops.matmul(convert_to_tensor(x, name="x"),
                             convert_to_tensor(weights, name="weights"))
        return relu(bias_add(mm, biases), name=scope)


# ----------------------------------------------------------------------------------------------
# softmax
# ----------------------------------------------------------------------------------------------
@register_op("Softmax")
@register_op("LogSoftmax")
def _softmax_shape(op):
    _check_types(op, FLOAT_TYPES)
    x = op.inputs[0]
    _rank_at_least(op, x, 1)
    return [(x.dtype, x.shape)]


def _softmax(logits, op_type: str, axis, dim, name, default_name):
    if dim is not None:
        if axis is not None:
            raise ValueError("Cannot specify both 'axis' and 'dim'.")
        axis = dim
    if axis is None:
        axis = -1
    x = convert_to_tensor(logits, name="logits")
    r = x.shape.ndims
    if isinstance(axis, Tensor):
        raise NotImplementedError(f"{default_name}: axis must be a Python int here, not a "
                                  "Tensor")
    axis = int(axis)
    if axis == -1 or (r is not None and axis == r - 1):
        return op1(op_type, [x], {"T": x.dtype}, name or op_type)
    if r is None:
        raise ValueError(f"{default_name} over axis {axis} needs a known rank; {x.name} has "
                         "unknown rank")
    if not -r <= axis < r:
        raise _errors.InvalidArgumentError(
            None, None, f"`dim` must be in the range [{-r}, {r}) where {r} is the number of "
            f"dimensions in the input. Received: dim={axis}")
    axis %= r
    perm = list(range(r))
    perm[axis], perm[-1] = perm[-1], perm[axis]
    t = array_ops.transpose(x, perm)
    out = op1(op_type, [t], {"T": x.dtype}, op_type)
    return array_ops.transpose(out, perm, name=name)


def softmax(logits, axis=None, name=None, dim=None):
    """TF1 `tf.nn.softmax`: exp(logits) / sum(exp(logits), axis) (numerically stable)."""
    return _softmax(logits, "Softmax", axis, dim, name, "softmax")


def log_softmax(logits, axis=None, name=None, dim=None):
    """TF1 `tf.nn.log_softmax`: logits - log(sum(exp(logits), axis))."""
    return _softmax(logits, "LogSoftmax", axis, dim, name, "log_softmax")


# ----------------------------------------------------------------------------------------------
# losses
# ----------------------------------------------------------------------------------------------
@register_op("L2Loss")
def _l2_loss_shape(op):
    _check_types(op, FLOAT_TYPES)
    return [(op.inputs[0].dtype, TensorShape([]))]


def l2_loss(t, name=None):
    """TF1 `tf.nn.l2_loss`: sum(t ** 2) / 2."""
    x = convert_to_tensor(t, name="t")
    check_dtype(x, FLOAT_TYPES, "L2Loss", "t")
    return op1("L2Loss", [x], {"T": x.dtype}, name or "L2Loss")


@register_op("SoftmaxCrossEntropyWithLogits")
def _softmax_xent_shape(op):
    _check_types(op, FLOAT_TYPES)
    logits, labels = op.inputs
    a = _rank_exactly(op, logits, 2, " (logits)")
    b = _rank_exactly(op, labels, 2, " (labels)")
    if not a.is_compatible_with(b):
        raise ValueError(f"logits and labels must be the same shape, but logits is "
                         f"{fmt_shape(a)} and labels is {fmt_shape(b)} {_where(op)}")
    s = a.merge_with(b)
    return [(logits.dtype, TensorShape([s[0]])), (logits.dtype, s)]


@register_op("SparseSoftmaxCrossEntropyWithLogits")
def _sparse_softmax_xent_shape(op):
    logits, labels = op.inputs
    check_dtype(logits, FLOAT_TYPES, op.type, "features")
    check_dtype(labels, (_dtypes.int32, _dtypes.int64), op.type, "labels")
    a = _rank_exactly(op, logits, 2, " (logits)")
    b = _rank_exactly(op, labels, 1, " (labels)")
    if not a[0].is_compatible_with(b[0]):
        raise ValueError(f"logits and labels must have the same first dimension, got logits "
                         f"shape {fmt_shape(a)} and labels shape {fmt_shape(b)} {_where(op)}")
    n = a[0].merge_with(b[0])
    return [(logits.dtype, TensorShape([n])), (logits.dtype, TensorShape([n, a[1]]))]


def _ensure_xent_args(name, sentinel, labels, logits):
    if sentinel is not None:
        raise ValueError(f"Only call `{name}` with named arguments (labels=..., logits=..., ...)")
    if labels is None or logits is None:
        raise ValueError("Both labels and logits must be provided.")


def _flatten_outer_dims(x):
    """`x` as a matrix [-1, last dim] (a no-op for matrices)."""
    s = x.shape
    if s.ndims == 2:
        return x
    if s.ndims is not None and s[-1].value is not None:
        return array_ops.reshape(x, [-1, s[-1].value])
    last = array_ops.shape(x)[-1:]
    return array_ops.reshape(x, array_ops.concat([[-1], last], 0))


def _xent_v2(labels, logits, axis, name, default_name):
    with name_scope(name, default_name, [logits, labels]) as scope:
        logits = convert_to_tensor(logits, name="logits")
        labels = convert_to_tensor(labels, name="labels")
        half = logits.dtype is _dtypes.float16
        precise = math_ops.cast(logits, _dtypes.float32) if half else logits
        labels = math_ops.cast(labels, precise.dtype)
        shape = logits.shape
        if shape.ndims == 0:
            raise ValueError(f"{default_name}: logits cannot be scalars")
        if not shape.is_compatible_with(labels.shape):
            raise ValueError(f"logits and labels must have the same shape, but logits is "
                             f"{fmt_shape(shape)} and labels is {fmt_shape(labels.shape)} "
                             f"(in {default_name})")
        r = shape.ndims
        if axis not in (-1, None) and not (r is not None and int(axis) % r == r - 1):
            if r is None:
                raise ValueError(f"{default_name} over axis {axis} needs a known rank")
            axis = int(axis) % r
            perm = [i for i in range(r) if i != axis] + [axis]
            precise = array_ops.transpose(precise, perm)
            labels = array_ops.transpose(labels, perm)
        moved = precise.shape
        cost, _ = apply_op("SoftmaxCrossEntropyWithLogits",
                           [_flatten_outer_dims(precise), _flatten_outer_dims(labels)],
                           {"T": precise.dtype}, scope).outputs
        if moved.ndims != 2:
            if moved.ndims is not None and moved[:-1].is_fully_defined():
                cost = array_ops.reshape(cost, moved[:-1].as_list())
            else:
                cost = array_ops.reshape(cost, array_ops.shape(precise)[:-1])
            if shape.ndims is not None:
                out_dims = shape.as_list()
                del out_dims[-1 if axis in (-1, None) else int(axis) % r]
                cost.set_shape(out_dims)
        return math_ops.cast(cost, _dtypes.float16) if half else cost


def softmax_cross_entropy_with_logits_v2(labels, logits, axis=None, name=None, dim=None):
    """TF1 `tf.nn.softmax_cross_entropy_with_logits_v2`: -sum(labels * log_softmax(logits)).

    Gradients flow into both `labels` and `logits`.
    """
    if dim is not None:
        if axis is not None:
            raise ValueError("Cannot specify both 'axis' and 'dim'.")
        axis = dim
    return _xent_v2(labels, logits, -1 if axis is None else axis, name,
                    "softmax_cross_entropy_with_logits")


def softmax_cross_entropy_with_logits(_sentinel=None, labels=None, logits=None, dim=-1,
                                      name=None, axis=None):
    """TF1 `tf.nn.softmax_cross_entropy_with_logits` (v1): no gradient flows into `labels`."""
    _ensure_xent_args("softmax_cross_entropy_with_logits", _sentinel, labels, logits)
    if axis is not None:
        dim = axis
    with name_scope(name, "softmax_cross_entropy_with_logits_sg", [logits, labels]) as scope:
        labels = array_ops.stop_gradient(labels, name="labels_stop_gradient")
    return _xent_v2(labels, logits, dim, scope, "softmax_cross_entropy_with_logits")


def sparse_softmax_cross_entropy_with_logits(_sentinel=None, labels=None, logits=None,
                                             name=None):
    """TF1 `tf.nn.sparse_softmax_cross_entropy_with_logits`: -log_softmax(logits)[labels].

    `labels` (int32/int64) has the shape of `logits` without its last dimension; a label
    outside [0, num_classes) raises `InvalidArgumentError` when the step runs.
    """
    _ensure_xent_args("sparse_softmax_cross_entropy_with_logits", _sentinel, labels, logits)
    with name_scope(name, "SparseSoftmaxCrossEntropyWithLogits", [labels, logits]):
        labels = convert_to_tensor(labels)
        logits = convert_to_tensor(logits)
        half = logits.dtype is _dtypes.float16
        precise = math_ops.cast(logits, _dtypes.float32) if half else logits
        ls, gs = labels.shape, logits.shape
        if gs.ndims == 0:
            raise ValueError(f"Logits cannot be scalars - received shape {gs}.")
        if gs.ndims is not None and ls.ndims is not None and ls.ndims != gs.ndims - 1:
            raise ValueError(f"Rank mismatch: Rank of labels (received {ls.ndims}) should equal "
                             f"rank of logits minus 1 (received {gs.ndims}).")
        if gs.ndims is not None and not ls.is_compatible_with(gs[:-1]):
            raise ValueError(f"Shape mismatch: The shape of labels (received {ls}) should equal "
                             f"the shape of logits except for the last dimension (received "
                             f"{gs}).")
        if gs.ndims == 2:
            cost = apply_op("SparseSoftmaxCrossEntropyWithLogits", [precise, labels],
                            {"T": precise.dtype, "Tlabels": labels.dtype}, name).outputs[0]
        else:
            flat_logits = _flatten_outer_dims(precise)
            flat_labels = array_ops.reshape(labels, [-1])
            cost = apply_op("SparseSoftmaxCrossEntropyWithLogits", [flat_logits, flat_labels],
                            {"T": precise.dtype, "Tlabels": labels.dtype}, name).outputs[0]
            target = ls.as_list() if ls.is_fully_defined() else array_ops.shape(labels)
            cost = array_ops.reshape(cost, target)
            cost.set_shape(ls)
        return math_ops.cast(cost, _dtypes.float16) if half else cost


def _logistic_inputs(logits, labels) -> tuple:
    logits = convert_to_tensor(logits, name="logits")
    labels = convert_to_tensor(labels, name="labels")
    if not logits.shape.is_compatible_with(labels.shape):
        raise ValueError(f"logits and labels must have the same shape "
                         f"({logits.shape} vs {labels.shape})")
    return logits, labels


def sigmoid_cross_entropy_with_logits(_sentinel=None, labels=None, logits=None, name=None):
    """TF1 `tf.nn.sigmoid_cross_entropy_with_logits`, in TF's overflow-free form:
    max(x, 0) - x * z + log(1 + exp(-|x|))."""
    _ensure_xent_args("sigmoid_cross_entropy_with_logits", _sentinel, labels, logits)
    with name_scope(name, "logistic_loss", [logits, labels]) as scope:
        logits, labels = _logistic_inputs(logits, labels)
        zeros = array_ops.zeros_like(logits, dtype=logits.dtype)
        cond = math_ops.greater_equal(logits, zeros)
        relu_logits = array_ops.where(cond, logits, zeros)
        neg_abs_logits = array_ops.where(cond, math_ops.negative(logits), logits)
        return math_ops.add(relu_logits - logits * labels,
                            math_ops.log1p(math_ops.exp(neg_abs_logits)), name=scope)


def weighted_cross_entropy_with_logits(labels=None, logits=None, pos_weight=None, name=None,
                                       targets=None):
    """TF1 `tf.nn.weighted_cross_entropy_with_logits`: the sigmoid cross entropy with the
    positive term weighted by `pos_weight`, in TF's overflow-free form."""
    if targets is not None:
        if labels is not None:
            raise ValueError("Cannot specify both 'labels' and 'targets'.")
        labels = targets
    with name_scope(name, "logistic_loss", [logits, labels]) as scope:
        logits, labels = _logistic_inputs(logits, labels)
        log_weight = 1 + (pos_weight - 1) * labels
        return math_ops.add(
            (1 - labels) * logits,
            log_weight * (math_ops.log1p(math_ops.exp(math_ops.negative(math_ops.abs(logits))))
                          + relu(math_ops.negative(logits))), name=scope)


def log_poisson_loss(targets, log_input, compute_full_loss=False, name=None):
    """TF1 `tf.nn.log_poisson_loss`: exp(log_input) - log_input * targets (+ Stirling's term
    for targets > 1 when `compute_full_loss`)."""
    with name_scope(name, "log_poisson_loss", [targets, log_input]):
        log_input = convert_to_tensor(log_input, name="log_input")
        targets = convert_to_tensor(targets, name="targets")
        if not targets.shape.is_compatible_with(log_input.shape):
            raise ValueError(f"log_input and targets must have the same shape "
                             f"({log_input.shape} vs {targets.shape})")
        result = math_ops.exp(log_input) - log_input * targets
        if compute_full_loss:
            from .constant_op import constant
            point_five = constant(0.5, dtype=targets.dtype)
            two_pi = constant(2 * np.pi, dtype=targets.dtype)
            stirling = (targets * math_ops.log(targets)) - targets + \
                (point_five * math_ops.log(two_pi * targets))
            zeros = array_ops.zeros_like(targets, dtype=targets.dtype)
            ones = array_ops.ones_like(targets, dtype=targets.dtype)
            cond = math_ops.logical_and(targets >= zeros, targets <= ones)
            result += array_ops.where(cond, zeros, stirling)
        return result


@register_op("InTopKV2")
def _in_top_k_shape(op):
    p, t, k = op.inputs
    check_dtype(p, (_dtypes.float32,), op.type, "predictions")
    check_dtype(t, (_dtypes.int32, _dtypes.int64), op.type, "targets")
    if k.dtype is not t.dtype:
        raise TypeError(f"k of '{op.name}' (op: '{op.type}') must have the targets' dtype "
                        f"{t.dtype.name}, got {k.dtype.name}")
    ps = _rank_exactly(op, p, 2, " (predictions)")
    ts = _rank_exactly(op, t, 1, " (targets)")
    if not ps[0].is_compatible_with(ts[0]):
        raise ValueError(f"First dimension of predictions {ps[0]} must match length of "
                         f"targets {ts[0]} {_where(op)}")
    return [(_dtypes.bool, TensorShape([ps[0].merge_with(ts[0])]))]


def in_top_k(predictions, targets, k, name=None):
    """TF1 `tf.nn.in_top_k`: whether each target is among the `k` largest predictions (ties at
    the boundary count as in; a row with a non-finite prediction or a bad target is False)."""
    with name_scope(name, "in_top_k"):
        p = convert_to_tensor(predictions, name="predictions")
        t = convert_to_tensor(targets, name="targets")
        k = convert_to_tensor(k, dtype=t.dtype, name="k")
        return op1("InTopKV2", [p, t, k], {"T": t.dtype}, name or "InTopKV2")


# ----------------------------------------------------------------------------------------------
# normalisation, moments, dropout
# ----------------------------------------------------------------------------------------------
def l2_normalize(x, axis=None, epsilon=1e-12, name=None, dim=None):
    """TF1 `tf.nn.l2_normalize`: x / sqrt(max(sum(x ** 2, axis), epsilon))."""
    if dim is not None:
        if axis is not None:
            raise ValueError("Cannot specify both 'axis' and 'dim'.")
        axis = dim
    with name_scope(name, "l2_normalize", [x]) as scope:
        x = convert_to_tensor(x, name="x")
        square_sum = math_ops.reduce_sum(math_ops.square(x), axis, keepdims=True)
        x_inv_norm = math_ops.rsqrt(math_ops.maximum(square_sum, epsilon))
        return math_ops.multiply(x, x_inv_norm, name=scope)


def moments(x, axes, shift=None, name=None, keep_dims=None, keepdims=None):
    """TF1 `tf.nn.moments`: (mean, variance) of `x` over `axes` (float16 computed in float32)."""
    if keep_dims is not None:
        if keepdims is not None:
            raise ValueError("Cannot specify both 'keepdims' and 'keep_dims'.")
        keepdims = keep_dims
    keepdims = bool(keepdims)
    with name_scope(name, "moments", [x, axes]):
        x = convert_to_tensor(x, name="x")
        y = math_ops.cast(x, _dtypes.float32) if x.dtype is _dtypes.float16 else x
        mean = math_ops.reduce_mean(y, axes, keepdims=True, name="mean")
        variance = math_ops.reduce_mean(
            math_ops.squared_difference(y, array_ops.stop_gradient(mean)), axes,
            keepdims=True, name="variance")
        if not keepdims:
            mean = array_ops.squeeze(mean, axes)
            variance = array_ops.squeeze(variance, axes)
        if x.dtype is _dtypes.float16:
            return math_ops.cast(mean, _dtypes.float16), math_ops.cast(variance, _dtypes.float16)
        return mean, variance


def batch_normalization(x, mean, variance, offset, scale, variance_epsilon, name=None):
    """TF1 `tf.nn.batch_normalization`: (x - mean) * scale / sqrt(variance + eps) + offset."""
    with name_scope(name, "batchnorm", [x, mean, variance, scale, offset]):
        x = convert_to_tensor(x, name="x")
        inv = math_ops.rsqrt(variance + variance_epsilon)
        if scale is not None:
            inv *= scale
        shift = offset - mean * inv if offset is not None else math_ops.negative(mean) * inv
        return x * math_ops.cast(inv, x.dtype) + math_ops.cast(shift, x.dtype)


def dropout(x, keep_prob=None, noise_shape=None, seed=None, name=None, rate=None):
    """TF1 `tf.nn.dropout`: x / keep_prob * floor(keep_prob + uniform[0, 1)), each element
    (or each `noise_shape` slice) kept with probability `keep_prob = 1 - rate`."""
    if rate is not None:
        if keep_prob is not None:
            raise ValueError("Cannot specify both 'rate' and 'keep_prob'.")
        if isinstance(rate, numbers.Real):
            if not 0 <= rate < 1:
                raise ValueError(f"rate must be a scalar tensor or a float in the range [0, 1), "
                                 f"got {rate:g}")
            keep_prob = 1.0 - rate
        else:
            keep_prob = 1 - convert_to_tensor(rate)
    if keep_prob is None:
        raise ValueError("You must provide a rate to dropout.")
    with name_scope(name, "dropout", [x]):
        x = convert_to_tensor(x, name="x")
        if not x.dtype.is_floating:
            raise ValueError(f"x has to be a floating point tensor since it's going to be scaled."
                             f" Got a {x.dtype.name} tensor instead.")
        if isinstance(keep_prob, numbers.Real) and not 0 < keep_prob <= 1:
            raise ValueError(f"keep_prob must be a scalar tensor or a float in the range (0, 1], "
                             f"got {keep_prob}")
        keep_prob = convert_to_tensor(keep_prob, dtype=x.dtype, name="keep_prob")
        if not keep_prob.shape.is_compatible_with(TensorShape([])):
            raise ValueError(f"keep_prob must be a scalar, got shape {keep_prob.shape}")
        kv = constant_value(keep_prob)
        if kv is not None and float(kv) == 1.0:
            return x
        if noise_shape is None:
            noise_shape = x.shape.as_list() if x.shape.is_fully_defined() else \
                array_ops.shape(x)
        from . import random_ops
        random_tensor = keep_prob + random_ops.random_uniform(noise_shape, seed=seed,
                                                              dtype=x.dtype)
        binary_tensor = math_ops.floor(random_tensor)
        ret = math_ops.realdiv(x, keep_prob, name="div") * binary_tensor
        ret.set_shape(x.shape)
        return ret


def zero_fraction(value, name=None):
    """TF1 `tf.nn.zero_fraction`: the fraction of zeros in `value`, as a float32 scalar."""
    with name_scope(name, "zero_fraction", [value]):
        value = convert_to_tensor(value, name="value")
        zero = array_ops.zeros_like(value)
        is_zero = math_ops.cast(math_ops.equal(value, zero), _dtypes.float32)
        return array_ops.identity(math_ops.reduce_mean(is_zero), name="fraction")


@register_op("LRN")
def _lrn_shape(op):
    _check_types(op, FLOAT_TYPES)
    x = op.inputs[0]
    _rank_exactly(op, x, 4, " (input)")
    return [(x.dtype, x.shape)]


@register_op("LRNGrad")
def _lrn_grad_shape(op):
    _check_types(op, FLOAT_TYPES)
    s = op.inputs[0].shape
    for t in op.inputs[1:]:
        s = _merge(op, s, t.shape)
    return [(op.inputs[0].dtype, s)]


def local_response_normalization(input, depth_radius=5, bias=1, alpha=1, beta=0.5,  # noqa: A002
                                 name=None):
    """TF1 `tf.nn.local_response_normalization` (`lrn`): input / (bias + alpha * sqr_sum) **
    beta, sqr_sum summing squares over channels within `depth_radius` (NHWC)."""
    x = convert_to_tensor(input, name="input")
    return op1("LRN", [x], {"T": x.dtype, "depth_radius": int(depth_radius),
                            "bias": float(bias), "alpha": float(alpha), "beta": float(beta)},
               name or "LRN")


lrn = local_response_normalization


_FBN_FLOATS = (_dtypes.float16, _dtypes.float32)


@register_op("FusedBatchNormV3")
def _fused_batch_norm_shape(op):
    x, scale, offset, mean, var = op.inputs
    check_dtype(x, _FBN_FLOATS + (_dtypes.float64,), op.type, "x")
    u = scale.dtype
    for t, nm in ((scale, "scale"), (offset, "offset"), (mean, "mean"), (var, "variance")):
        if t.dtype is not u or u not in (_dtypes.float32, _dtypes.float64):
            raise TypeError(f"{nm} of '{op.name}' (op: '{op.type}') must be float32 (float64 "
                            f"for float64 x) like scale, got {t.dtype.name}")
    fmt = op.get_attr("data_format")
    xs = _rank_exactly(op, x, 4, " (x)")
    c = Dimension(None) if xs.ndims is None else xs[1 if fmt == "NCHW" else 3]
    vec = [scale, offset] + ([mean, var] if not op.get_attr("is_training") else [])
    for t in vec:
        ts = _rank_exactly(op, t, 1)
        if not ts[0].is_compatible_with(c):
            raise ValueError(f"scale, offset, mean and variance must have the channel size "
                             f"{c} of x, got {fmt_shape(ts)} {_where(op)}")
        c = c.merge_with(ts[0])
    v = TensorShape([c])
    return [(x.dtype, xs), (u, v), (u, v), (u, v), (u, v), (u, TensorShape([0]))]


@register_op("FusedBatchNormGradV3")
def _fused_batch_norm_grad_shape(op):
    dy, x, scale = op.inputs[:3]
    u = scale.dtype
    s = _merge(op, dy.shape, x.shape)
    v = scale.shape
    return [(x.dtype, s), (u, v), (u, v), (u, TensorShape([0])), (u, TensorShape([0]))]


def fused_batch_norm(x, scale, offset, mean=None, variance=None, epsilon=0.001,
                     data_format="NHWC", is_training=True, name=None):
    """TF1 `tf.nn.fused_batch_norm`: (y, batch_mean, batch_variance) of a 4-D `x`.

    Training normalises with the batch's (biased) variance and returns the Bessel-corrected
    variance for the moving average, as TF does; inference uses the given mean and variance.
    """
    x = convert_to_tensor(x, name="input")
    scale = convert_to_tensor(scale, name="scale")
    offset = convert_to_tensor(offset, name="offset")
    if is_training and (mean is not None or variance is not None):
        raise ValueError("Both 'mean' and 'variance' must be None if is_training is True.")
    if not is_training and (mean is None or variance is None):
        raise ValueError("mean and variance must be given when is_training is False.")
    from .constant_op import constant
    mean = constant([], dtype=scale.dtype) if mean is None else \
        convert_to_tensor(mean, name="mean")
    variance = constant([], dtype=scale.dtype) if variance is None else \
        convert_to_tensor(variance, name="variance")
    epsilon = max(float(epsilon), 1.001e-5)
    outs = apply_op("FusedBatchNormV3", [x, scale, offset, mean, variance],
                    {"T": x.dtype, "U": scale.dtype, "epsilon": epsilon,
                     "data_format": _format(data_format), "is_training": bool(is_training)},
                    name or "FusedBatchNormV3").outputs
    return outs[0], outs[1], outs[2]


# ----------------------------------------------------------------------------------------------
# convolution and pooling: geometry shared by the shape functions
# ----------------------------------------------------------------------------------------------
_PADDINGS = ("SAME", "VALID")


def _check_padding(padding) -> str:
    if isinstance(padding, bytes):
        padding = padding.decode()
    if padding not in _PADDINGS:
        raise ValueError(f"padding must be either VALID or SAME: {padding!r}")
    return padding


def _get_sequence(value, n: int, channel_index: int, name: str) -> list:
    """TF1's expansion of an int / length-1 / length-n list into a full length-(n+2) list."""
    if value is None:
        return [1] * (n + 2)
    if isinstance(value, numbers.Integral):
        value = [int(value)]
    value = [int(v) for v in value]
    if len(value) == n + 2:
        return value
    if len(value) == 1:
        value = value * n
    elif len(value) != n:
        raise ValueError(f"{name} should be of length 1, {n} or {n + 2} but was {len(value)}")
    if channel_index == 1:
        return [1, 1] + value
    return [1] + value + [1]


def _format(data_format) -> str:
    if data_format is None:
        return "NHWC"
    if isinstance(data_format, bytes):
        data_format = data_format.decode()
    if data_format not in ("NHWC", "NCHW"):
        raise ValueError(f"data_format must be 'NHWC' or 'NCHW', got {data_format!r}")
    return data_format


def _spatial(fmt: str, seq) -> tuple:
    """(H, W) entries of a 4-list in `fmt` order."""
    return (seq[2], seq[3]) if fmt == "NCHW" else (seq[1], seq[2])


def _nonspatial(fmt: str, seq) -> tuple:
    return (seq[0], seq[1]) if fmt == "NCHW" else (seq[0], seq[3])


def out_size(n, k, stride: int, dilation: int, padding: str, op=None):
    """TF's output size of one spatial dimension (None when `n` or `k` is unknown)."""
    if n is None or k is None:
        return None
    if padding == "SAME":
        return -(-n // stride)
    eff = (k - 1) * dilation + 1
    if n < eff:
        where = _where(op) if op is not None else ""
        raise ValueError(f"Negative dimension size caused by subtracting {eff} from {n} {where}")
    return (n - eff) // stride + 1


def _check_attrs(op, names=("strides", "dilations")) -> tuple:
    fmt = op.get_attr("data_format")
    for nm in names:
        v = op._attrs.get(nm)
        if v is None:
            continue
        if len(v) != 4:
            raise ValueError(f"{nm} attr of '{op.name}' (op: '{op.type}') must have 4 entries, "
                             f"got {list(v)}")
        if any(int(s) < 1 for s in v):
            raise ValueError(f"{nm} attr of '{op.name}' (op: '{op.type}') must be positive, got "
                             f"{list(v)}")
        if _nonspatial(fmt, v) != (1, 1):
            what = "pooling" if nm == "ksize" else nm
            raise ValueError(f"Current implementation does not yet support {what} in the batch "
                             f"and depth dimensions ({nm}={list(v)} for '{op.name}' "
                             f"(op: '{op.type}')).")
    return fmt, _check_padding(op.get_attr("padding"))


def _nhwc(fmt: str, s: TensorShape) -> list:
    d = s.as_list() if s.ndims is not None else [None] * 4
    return [d[0], d[2], d[3], d[1]] if fmt == "NCHW" else d


def _from_nhwc(fmt: str, d: list) -> TensorShape:
    return TensorShape([d[0], d[3], d[1], d[2]] if fmt == "NCHW" else d)


def _conv_output(op, fmt, padding, in_dims, kh, kw, out_channels) -> TensorShape:
    sh, sw = _spatial(fmt, op.get_attr("strides"))
    dh, dw = _spatial(fmt, op._attrs.get("dilations") or [1, 1, 1, 1])
    oh = out_size(in_dims[1], kh, sh, dh, padding, op)
    ow = out_size(in_dims[2], kw, sw, dw, padding, op)
    return _from_nhwc(fmt, [in_dims[0], oh, ow, out_channels])


def _channel_mismatch(op, a, b, what) -> ValueError:
    return ValueError(f"Dimensions must be equal, but are {a} and {b} ({what}) {_where(op)}")


# ----------------------------------------------------------------------------------------------
# Conv2D and its backprops
# ----------------------------------------------------------------------------------------------
def _check_float_pair(op, a, b, an: str, bn: str) -> None:
    if a.dtype not in FLOAT_TYPES or b.dtype is not a.dtype:
        raise TypeError(f"'{op.name}' (op: '{op.type}') needs float {an} and {bn} of one dtype, "
                        f"got {a.dtype.name} and {b.dtype.name}")


def _sizes_shape(op, t, what) -> list:
    if not t.dtype.is_integer:
        raise TypeError(f"{what} of '{op.name}' (op: '{op.type}') must be int32, got "
                        f"{t.dtype.name}")
    s = constant_value_as_shape(t)
    if s.ndims is not None and s.ndims != 4:
        raise ValueError(f"{what} of '{op.name}' (op: '{op.type}') must have 4 entries, got "
                         f"{fmt_shape(s)}")
    return s.with_rank(4).as_list()


def _check_out_backprop(op, fmt, padding, in_dims, fs, dy, out_channels):
    expect = _conv_output(op, fmt, padding, in_dims, fs[0], fs[1], out_channels)
    if not expect.is_compatible_with(dy.shape):
        raise ValueError(f"out_backprop shape {fmt_shape(dy.shape)} does not match the output "
                         f"{fmt_shape(expect)} of a convolution of input {in_dims} with filter "
                         f"{fs} {_where(op)}")


def _conv_filter(op, fs, in_channels, what: str):
    """Output channels of a Conv2D filter [kh, kw, in, out] (checking `in`)."""
    if in_channels is not None and fs[2] is not None and in_channels != fs[2]:
        raise _channel_mismatch(op, in_channels, fs[2], f"{what} depth vs filter in_channels; a "
                                "conv2d filter is [height, width, in_channels, out_channels]")
    return fs[3]


def _depthwise_filter(op, fs, in_channels, what: str):
    """Output channels of a depthwise filter [kh, kw, in, multiplier] (checking `in`)."""
    if in_channels is not None and fs[2] is not None and in_channels != fs[2]:
        raise _channel_mismatch(op, in_channels, fs[2], f"{what} depth vs filter in_channels; a "
                                "depthwise filter is [height, width, in_channels, "
                                "channel_multiplier]")
    return None if fs[2] is None or fs[3] is None else fs[2] * fs[3]


def _register_conv_shapes(fwd_type, input_type, filter_type, out_channels):
    """Shape functions of a convolution family: the forward op (input, filter), its input
    gradient (input_sizes, filter, out_backprop) and its filter gradient (input, filter_sizes,
    out_backprop); `out_channels(op, filter dims, input depth, what)` checks the filter."""

    @register_op(fwd_type)
    def _forward_shape(op):
        _check_types(op, FLOAT_TYPES)
        fmt, padding = _check_attrs(op)
        x, f = op.inputs
        _rank_exactly(op, x, 4, " (input)")
        fs = _rank_exactly(op, f, 4, " (filter)").as_list()
        xd = _nhwc(fmt, x.shape)
        out_c = out_channels(op, fs, xd[3], "input")
        return [(x.dtype, _conv_output(op, fmt, padding, xd, fs[0], fs[1], out_c))]

    @register_op(input_type)
    def _input_grad_shape(op):
        sizes, f, dy = op.inputs
        _check_float_pair(op, f, dy, "filter", "out_backprop")
        fmt, padding = _check_attrs(op)
        in_nchw = _sizes_shape(op, sizes, "input_sizes")
        in_dims = _nhwc(fmt, TensorShape(in_nchw))
        fs = _rank_exactly(op, f, 4, " (filter)").as_list()
        _rank_exactly(op, dy, 4, " (out_backprop)")
        out_c = out_channels(op, fs, in_dims[3], "input_sizes")
        _check_out_backprop(op, fmt, padding, in_dims, fs, dy, out_c)
        return [(f.dtype, TensorShape(in_nchw))]

    @register_op(filter_type)
    def _filter_grad_shape(op):
        x, sizes, dy = op.inputs
        _check_float_pair(op, x, dy, "input", "out_backprop")
        fmt, padding = _check_attrs(op)
        fs = _sizes_shape(op, sizes, "filter_sizes")
        _rank_exactly(op, x, 4, " (input)")
        _rank_exactly(op, dy, 4, " (out_backprop)")
        xd = _nhwc(fmt, x.shape)
        out_c = out_channels(op, fs, xd[3], "input")
        _check_out_backprop(op, fmt, padding, xd, fs, dy, out_c)
        return [(x.dtype, TensorShape(fs))]


_register_conv_shapes("Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter", _conv_filter)
_register_conv_shapes("DepthwiseConv2dNative", "DepthwiseConv2dNativeBackpropInput",
                      "DepthwiseConv2dNativeBackpropFilter", _depthwise_filter)


def _conv_attrs(x, strides, padding, data_format, dilations, use_cudnn=None) -> dict:
    fmt = _format(data_format)
    ci = 1 if fmt == "NCHW" else 3
    attrs = {"T": x.dtype, "strides": _get_sequence(strides, 2, ci, "strides"),
             "padding": _check_padding(padding), "data_format": fmt,
             "dilations": _get_sequence(dilations, 2, ci, "dilations")}
    if use_cudnn is not None:
        attrs["use_cudnn_on_gpu"] = bool(use_cudnn)
    return attrs


def _sizes_tensor(sizes):
    if isinstance(sizes, TensorShape):
        sizes = sizes.as_list()
    return convert_to_tensor(sizes, dtype_hint=_dtypes.int32)


def conv2d(input, filter=None, strides=None, padding=None, use_cudnn_on_gpu=True,  # noqa: A002
           data_format="NHWC", dilations=[1, 1, 1, 1], name=None, filters=None):  # noqa: B006
    """TF1 `tf.nn.conv2d`: 2-D cross-correlation of `input` [batch, H, W, in] with `filter`
    [kh, kw, in, out]; `strides`/`dilations` are ints or lists of 1, 2 or 4 entries."""
    if filters is not None:
        if filter is not None:
            raise ValueError("Cannot specify both 'filter' and 'filters'.")
        filter = filters  # noqa: A001
    x = convert_to_tensor(input, name="input")
    f = convert_to_tensor(filter, dtype=x.dtype, name="filter")
    return op1("Conv2D", [x, f], _conv_attrs(x, strides, padding, data_format, dilations,
                                             use_cudnn_on_gpu), name or "Conv2D")


def _backprop_input(op_type, input_sizes, filter, out_backprop, attrs, name):  # noqa: A002
    f = convert_to_tensor(filter, name="filter")
    dy = convert_to_tensor(out_backprop, dtype=f.dtype, name="out_backprop")
    return op1(op_type, [_sizes_tensor(input_sizes), f, dy], attrs(f), name or op_type)


def _backprop_filter(op_type, input, filter_sizes, out_backprop, attrs, name):  # noqa: A002
    x = convert_to_tensor(input, name="input")
    dy = convert_to_tensor(out_backprop, dtype=x.dtype, name="out_backprop")
    return op1(op_type, [x, _sizes_tensor(filter_sizes), dy], attrs(x), name or op_type)


def conv2d_backprop_input(input_sizes, filter, out_backprop, strides, padding,  # noqa: A002
                          use_cudnn_on_gpu=True, data_format="NHWC", dilations=[1, 1, 1, 1],  # noqa: B006
                          name=None):
    """TF1 `tf.nn.conv2d_backprop_input`: the gradient of conv2d with respect to its input."""
    return _backprop_input("Conv2DBackpropInput", input_sizes, filter, out_backprop,
                           lambda t: _conv_attrs(t, strides, padding, data_format, dilations,
                                                 use_cudnn_on_gpu), name)


def conv2d_backprop_filter(input, filter_sizes, out_backprop, strides, padding,  # noqa: A002
                           use_cudnn_on_gpu=True, data_format="NHWC",
                           dilations=[1, 1, 1, 1], name=None):  # noqa: B006
    """TF1 `tf.nn.conv2d_backprop_filter`: the gradient of conv2d with respect to its filter."""
    return _backprop_filter("Conv2DBackpropFilter", input, filter_sizes, out_backprop,
                            lambda t: _conv_attrs(t, strides, padding, data_format, dilations,
                                                  use_cudnn_on_gpu), name)


def conv2d_transpose(value=None, filter=None, output_shape=None, strides=None,  # noqa: A002
                     padding="SAME", data_format="NHWC", name=None, input=None,  # noqa: A002
                     filters=None, dilations=None):
    """TF1 `tf.nn.conv2d_transpose`: the gradient of conv2d with respect to its input, used as
    a layer; `filter` is [kh, kw, out_channels, in_channels]."""
    if input is not None:
        value = input
    if filters is not None:
        filter = filters  # noqa: A001
    with name_scope(name, "conv2d_transpose", [value, filter, output_shape]) as scope:
        fmt = _format(data_format)
        value = convert_to_tensor(value, name="value")
        f = convert_to_tensor(filter, dtype=value.dtype, name="filter")
        axis = 1 if fmt == "NCHW" else 3
        fs, vs = f.shape, value.shape
        if fs.ndims == 4 and vs.ndims == 4 and not fs[3].is_compatible_with(vs[axis]):
            raise ValueError(f"input channels does not match filter's input channels, "
                             f"{vs[axis]} != {fs[3]}")
        sizes = _sizes_tensor(output_shape)
        if sizes.shape.ndims is not None and not sizes.shape.is_compatible_with([4]):
            raise ValueError(f"output_shape must have shape (4,), got {sizes.shape}")
        osv = constant_value(sizes)
        if osv is not None and fs.ndims == 4 and not fs[2].is_compatible_with(int(osv[axis])):
            raise ValueError(f"output_shape does not match filter's output channels, "
                             f"{int(osv[axis])} != {fs[2]}")
        _check_padding(padding)
        return op1("Conv2DBackpropInput", [sizes, f, value],
                   _conv_attrs(value, strides, padding, fmt, dilations), scope)


def conv1d(value=None, filters=None, stride=None, padding=None, use_cudnn_on_gpu=None,
           data_format=None, name=None, input=None, dilations=None):  # noqa: A002
    """TF1 `tf.nn.conv1d`: `value` [batch, width, in] with `filters` [k, in, out], through
    conv2d on a height-1 image."""
    if input is not None:
        value = input
    with name_scope(name, "conv1d", [value, filters]) as scope:
        if data_format is None or data_format in ("NHWC", "NWC"):
            fmt, spatial = "NHWC", 1
        elif data_format in ("NCHW", "NCW"):
            fmt, spatial = "NCHW", 2
        else:
            raise ValueError(f"data_format must be \"NWC\" or \"NCW\", got {data_format!r}")
        value = array_ops.expand_dims(convert_to_tensor(value, name="value"), spatial)
        filters = array_ops.expand_dims(convert_to_tensor(filters, dtype=value.dtype,
                                                          name="filters"), 0)
        stride = _get_sequence(stride, 1, 1 if fmt == "NCHW" else 2, "stride")
        stride = [1, 1, 1, stride[2]] if fmt == "NCHW" else [1, 1, stride[1], 1]
        dil = _get_sequence(dilations, 1, 1 if fmt == "NCHW" else 2, "dilations")
        dil = [1, 1, 1, dil[2]] if fmt == "NCHW" else [1, 1, dil[1], 1]
        result = conv2d(value, filters, stride, padding,
                        use_cudnn_on_gpu=True if use_cudnn_on_gpu is None else use_cudnn_on_gpu,
                        data_format=fmt, dilations=dil)
        return array_ops.squeeze(result, [spatial], name=scope)


# ----------------------------------------------------------------------------------------------
# depthwise convolution
# ----------------------------------------------------------------------------------------------
def depthwise_conv2d_native(input, filter, strides, padding, data_format="NHWC",  # noqa: A002
                            dilations=[1, 1, 1, 1], name=None):  # noqa: B006
    """TF1 `tf.nn.depthwise_conv2d_native`: each input channel convolved with its own
    `channel_multiplier` filters; output channel `c * multiplier + m`."""
    x = convert_to_tensor(input, name="input")
    f = convert_to_tensor(filter, dtype=x.dtype, name="filter")
    return op1("DepthwiseConv2dNative", [x, f],
               _conv_attrs(x, strides, padding, data_format, dilations),
               name or "DepthwiseConv2dNative")


def depthwise_conv2d_native_backprop_input(input_sizes, filter, out_backprop,  # noqa: A002
                                           strides, padding, data_format="NHWC",
                                           dilations=[1, 1, 1, 1], name=None):  # noqa: B006
    """TF1 `tf.nn.depthwise_conv2d_native_backprop_input`."""
    return _backprop_input("DepthwiseConv2dNativeBackpropInput", input_sizes, filter,
                           out_backprop, lambda t: _conv_attrs(t, strides, padding, data_format,
                                                               dilations), name)


def depthwise_conv2d_native_backprop_filter(input, filter_sizes, out_backprop,  # noqa: A002
                                            strides, padding, data_format="NHWC",
                                            dilations=[1, 1, 1, 1], name=None):  # noqa: B006
    """TF1 `tf.nn.depthwise_conv2d_native_backprop_filter`."""
    return _backprop_filter("DepthwiseConv2dNativeBackpropFilter", input, filter_sizes,
                            out_backprop, lambda t: _conv_attrs(t, strides, padding,
                                                                data_format, dilations), name)


def depthwise_conv2d(input, filter, strides, padding, rate=None, name=None,  # noqa: A002
                     data_format=None, dilations=None):
    """TF1 `tf.nn.depthwise_conv2d`; `rate` (atrous) becomes the op's dilations, which gives
    TF's space-to-batch result; strides must then be 1."""
    if dilations is not None:
        if rate is not None:
            raise ValueError("Cannot specify both 'rate' and 'dilations'.")
        rate = dilations
    with name_scope(name, "depthwise", [input, filter]) as scope:
        x = convert_to_tensor(input, name="tensor_in")
        f = convert_to_tensor(filter, dtype=x.dtype, name="filter_in")
        fmt = _format(data_format)
        rate = [1, 1] if rate is None else _get_sequence(rate, 2, 1 if fmt == "NCHW" else 3,
                                                         "rate")
        rate = list(_spatial(fmt, rate)) if len(rate) == 4 else list(rate)
        if any(r < 1 for r in rate):
            raise ValueError(f"dilation_rate must be positive, got {rate}")
        ci = 1 if fmt == "NCHW" else 3
        st = _get_sequence(strides, 2, ci, "strides")
        if max(rate) > 1 and max(_spatial(fmt, st)) > 1:
            raise ValueError("strides > 1 not supported in conjunction with dilation_rate > 1")
        return op1("DepthwiseConv2dNative", [x, f],
                   _conv_attrs(x, st, padding, fmt, rate), scope)


def separable_conv2d(input, depthwise_filter, pointwise_filter, strides, padding,  # noqa: A002
                     rate=None, name=None, data_format=None, dilations=None):
    """TF1 `tf.nn.separable_conv2d`: a depthwise convolution followed by a 1x1 convolution
    mixing its channels (`pointwise_filter` [1, 1, in * multiplier, out])."""
    if dilations is not None:
        rate = dilations
    with name_scope(name, "separable_conv2d", [input, depthwise_filter,
                                               pointwise_filter]) as scope:
        x = convert_to_tensor(input, name="tensor_in")
        dw = convert_to_tensor(depthwise_filter, dtype=x.dtype, name="depthwise_filter")
        pw = convert_to_tensor(pointwise_filter, dtype=x.dtype, name="pointwise_filter")
        ps = pw.shape
        if ps.ndims not in (None, 4) or (ps.ndims == 4 and not (
                ps[0].is_compatible_with(1) and ps[1].is_compatible_with(1))):
            raise ValueError(f"pointwise_filter must be [1, 1, in_channels * multiplier, "
                             f"out_channels], got shape {ps}")
        fmt = _format(data_format)
        rate = [1, 1] if rate is None else rate
        depthwise = depthwise_conv2d(x, dw, strides, padding, rate=rate, name="depthwise",
                                     data_format=fmt)
        return conv2d(depthwise, pw, [1, 1, 1, 1], padding="VALID", data_format=fmt,
                      name=scope)


def atrous_conv2d(value, filters, rate, padding, name=None):
    """TF1 `tf.nn.atrous_conv2d`: conv2d with the filter dilated by `rate` (stride 1)."""
    if int(rate) < 1:
        raise ValueError(f"rate {rate} cannot be less than one")
    with name_scope(name, "convolution", [value, filters]) as scope:
        return conv2d(value, filters, [1, 1, 1, 1], padding, dilations=[1, rate, rate, 1],
                      name=scope)


# ----------------------------------------------------------------------------------------------
# pooling
# ----------------------------------------------------------------------------------------------
def _pool_output(op, x_shape) -> TensorShape:
    fmt, padding = _check_attrs(op, ("ksize", "strides"))
    xd = _nhwc(fmt, x_shape)
    kh, kw = _spatial(fmt, op.get_attr("ksize"))
    sh, sw = _spatial(fmt, op.get_attr("strides"))
    oh = out_size(xd[1], kh, sh, 1, padding, op)
    ow = out_size(xd[2], kw, sw, 1, padding, op)
    return _from_nhwc(fmt, [xd[0], oh, ow, xd[3]])


@register_op("MaxPool")
@register_op("AvgPool")
def _pool_shape(op):
    _check_types(op, _REAL if op.type == "MaxPool" else FLOAT_TYPES)
    x = op.inputs[0]
    _rank_exactly(op, x, 4, " (input)")
    return [(x.dtype, _pool_output(op, x.shape))]


@register_op("MaxPoolGrad")
def _max_pool_grad_shape(op):
    _check_types(op, _REAL)
    x, y, dy = op.inputs
    _rank_exactly(op, x, 4, " (orig_input)")
    out = _pool_output(op, x.shape)
    if not out.is_compatible_with(y.shape) or not out.is_compatible_with(dy.shape):
        raise ValueError(f"orig_output and grad must have the pooled shape {fmt_shape(out)} "
                         f"{_where(op)}")
    return [(x.dtype, x.shape)]


@register_op("MaxPoolGradGrad")
def _max_pool_grad_grad_shape(op):
    _check_types(op, _REAL)
    x, y, g = op.inputs
    _rank_exactly(op, x, 4, " (orig_input)")
    out = _pool_output(op, x.shape)
    if not out.is_compatible_with(y.shape) or not x.shape.is_compatible_with(g.shape):
        raise ValueError(f"orig_output must have the pooled shape {fmt_shape(out)} and grad the "
                         f"input's shape {_where(op)}")
    return [(x.dtype, out.merge_with(y.shape))]


@register_op("AvgPoolGrad")
def _avg_pool_grad_shape(op):
    sizes, dy = op.inputs
    check_dtype(dy, FLOAT_TYPES, op.type, "grad")
    in_dims = _sizes_shape(op, sizes, "orig_input_shape")
    out = _pool_output(op, TensorShape(in_dims))
    if not out.is_compatible_with(dy.shape):
        raise ValueError(f"grad must have the pooled shape {fmt_shape(out)} {_where(op)}")
    return [(dy.dtype, TensorShape(in_dims))]


def _pool_attrs(x, ksize, strides, padding, data_format) -> dict:
    fmt = _format(data_format)
    ci = 1 if fmt == "NCHW" else 3
    return {"T": x.dtype, "ksize": _get_sequence(ksize, 2, ci, "ksize"),
            "strides": _get_sequence(strides, 2, ci, "strides"),
            "padding": _check_padding(padding), "data_format": fmt}


def _pool(op_type, default_name, value, ksize, strides, padding, data_format, name, input):
    if input is not None:
        value = input
    with name_scope(name, default_name, [value]) as scope:
        x = convert_to_tensor(value, name="input")
        return op1(op_type, [x], _pool_attrs(x, ksize, strides, padding, data_format), scope)


def max_pool(value, ksize, strides, padding, data_format="NHWC", name=None,
             input=None):  # noqa: A002
    """TF1 `tf.nn.max_pool`: the maximum over each `ksize` window (SAME pads with -inf)."""
    return _pool("MaxPool", "MaxPool", value, ksize, strides, padding, data_format, name, input)


def avg_pool(value, ksize, strides, padding, data_format="NHWC", name=None,
             input=None):  # noqa: A002
    """TF1 `tf.nn.avg_pool`: the mean over each window's in-bounds elements."""
    return _pool("AvgPool", "AvgPool", value, ksize, strides, padding, data_format, name, input)


def max_pool_grad(orig_input, orig_output, grad, ksize, strides, padding, data_format="NHWC",
                  name=None) -> Tensor:
    """Op `MaxPoolGrad`: `grad` routed to the first maximum of each window."""
    x = convert_to_tensor(orig_input)
    attrs = _pool_attrs(x, ksize, strides, padding, data_format)
    return op1("MaxPoolGrad", [x, orig_output, grad], attrs, name or "MaxPoolGrad")


def max_pool_grad_grad(orig_input, orig_output, grad, ksize, strides, padding,
                       data_format="NHWC", name=None) -> Tensor:
    """Op `MaxPoolGradGrad`: for each window, `grad` (input-shaped) at its first maximum."""
    x = convert_to_tensor(orig_input)
    attrs = _pool_attrs(x, ksize, strides, padding, data_format)
    return op1("MaxPoolGradGrad", [x, orig_output, grad], attrs, name or "MaxPoolGradGrad")


def avg_pool_grad(orig_input_shape, grad, ksize, strides, padding, data_format="NHWC",
                  name=None) -> Tensor:
    """Op `AvgPoolGrad`: `grad` spread evenly over each window's in-bounds elements."""
    g = convert_to_tensor(grad)
    attrs = _pool_attrs(g, ksize, strides, padding, data_format)
    return op1("AvgPoolGrad", [_sizes_tensor(orig_input_shape), g], attrs,
               name or "AvgPoolGrad")


# ----------------------------------------------------------------------------------------------
# embedding_lookup
# ----------------------------------------------------------------------------------------------
def _clip(params, ids, max_norm):
    if max_norm is None:
        return params
    from . import clip_ops
    ids_rank, params_rank = ids.shape.ndims, params.shape.ndims
    if ids_rank is None or params_rank is None:
        raise ValueError("embedding_lookup with max_norm needs ids and params of known rank")
    return clip_ops.clip_by_norm(params, max_norm, axes=list(range(ids_rank, params_rank)))


def embedding_lookup(params, ids, partition_strategy="mod", name=None, validate_indices=True,
                     max_norm=None):
    """TF1 `tf.nn.embedding_lookup`: rows `ids` of `params` (one tensor, or a list of shards
    split by the 'mod' or 'div' strategy); the gradient is an `IndexedSlices`."""
    if params is None or (isinstance(params, (list, tuple)) and not params):
        raise ValueError("Need at least one param")
    if not isinstance(params, (list, tuple)):
        params = [params]
    if partition_strategy not in ("mod", "div"):
        raise ValueError(f"Unrecognized partition strategy: {partition_strategy}")
    with name_scope(name, "embedding_lookup", list(params) + [ids]) as scope:
        np_ = len(params)
        params = [p if hasattr(p, "_as_graph_element") and not isinstance(p, Tensor)
                  else convert_to_tensor(p, name="params") for p in params]
        ids = convert_to_tensor(ids, name="ids")
        if np_ == 1:
            with colocate_with(params[0]):
                result = _clip(array_ops.gather(params[0], ids, name=scope), ids, max_norm)
            return array_ops.identity(result)
        flat_ids = array_ops.reshape(ids, [-1])
        original_indices = math_ops.range(array_ops.size(flat_ids))
        if partition_strategy == "mod":
            p_assignments = flat_ids % np_
            new_ids = flat_ids // np_
        else:
            dim_0 = Dimension(0)
            for p in params:
                dim_0 += convert_to_tensor(p).shape[0]
            if dim_0.value is not None:
                from .constant_op import constant
                num_total_ids = constant(dim_0.value, flat_ids.dtype)
            else:
                sizes = [math_ops.cast(array_ops.shape(convert_to_tensor(p))[0], flat_ids.dtype)
                         for p in params]
                num_total_ids = math_ops.add_n(sizes)
            ids_per_partition = num_total_ids // np_
            extras = num_total_ids % np_
            p_assignments = math_ops.maximum(flat_ids // (ids_per_partition + 1),
                                             (flat_ids - extras) // ids_per_partition)
            new_ids = array_ops.where(p_assignments < extras,
                                      flat_ids % (ids_per_partition + 1),
                                      (flat_ids - extras) % ids_per_partition)
        # TF1 partitions the ids with DynamicPartition and stitches the rows back with
        # DynamicStitch; here each shard's ids and positions are boolean masks and the rows go
        # back to their positions with an unsorted segment sum (positions are unique).
        p_assignments = math_ops.cast(p_assignments, _dtypes.int32)
        partitioned, positions = [], []
        for p in range(np_):
            mask = math_ops.equal(p_assignments, p)
            pids = array_ops.boolean_mask(new_ids, mask)
            positions.append(array_ops.boolean_mask(original_indices, mask))
            with colocate_with(params[p]):
                partitioned.append(_clip(array_ops.gather(params[p], pids), pids, max_norm))
        ret = math_ops.unsorted_segment_sum(array_ops.concat(partitioned, 0),
                                            array_ops.concat(positions, 0),
                                            array_ops.size(flat_ids), name=scope)
        elem = convert_to_tensor(params[0]).shape[1:]
        for p in params[1:]:
            elem = elem.merge_with(convert_to_tensor(p).shape[1:])
        if ids.shape.is_fully_defined() and elem.is_fully_defined():
            ret = array_ops.reshape(ret, ids.shape.as_list() + elem.as_list())
        else:
            ret = array_ops.reshape(ret, array_ops.concat(
                [array_ops.shape(ids), array_ops.shape(ret)[1:]], 0))
        ret.set_shape(ids.shape.concatenate(elem))
        return ret
