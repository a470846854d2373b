"""Neural-network ops: activations, softmax and losses, bias, normalisation, `top_k` and
`in_top_k`.

Definitions (op types with TF1 names, attrs and shape functions) and the TF1 `tf.nn` wrappers.
Kernels live in `tensorweave/kernels/cpu/nn.py` (element-wise, softmax, losses) and
`kernels/cpu/array.py` (`TopKV2`); gradients in `autodiff/nn_grad.py`.  Convolution and pooling
are in `conv_ops`, `embedding_lookup` in `embedding_ops`.

Every activation's gradient is a *fused* op (`ReluGrad`, `EluGrad`, ...) taking the incoming
gradient and the forward input or output, as in TF1, so a backward step is one kernel call.
Composite functions (`moments`, `batch_normalization`, `l2_normalize`, `dropout`, the sigmoid
cross entropy) build the same math/array ops under the same name scopes as TF1.
"""
from __future__ import annotations

import collections
import numbers

import numpy as np

from ..framework import dtypes as _dtypes
from ..framework import errors as _errors
from ..framework.convert import constant_value, convert_to_tensor
from ..framework.graph import Tensor, apply_op, name_scope
from ..framework.op_registry import register_op
from ..framework.tensor_shape import Dimension, TensorShape
from . import array_ops, linalg_ops, math_ops, random_ops
from .constant_op import constant
from .conv_ops import image_data_format
from .math_ops import sigmoid, tanh  # tf.nn re-exports of the math family's ops
from .op_util import (
    FLOAT_TYPES,
    check_dtype,
    check_input_rank,
    check_types,
    const_int,
    fmt_shape,
    merge_compatible,
    op1,
    op_context,
    py_ints,
    rank_at_least,
    rank_exactly,
    shape_error,
)

__all__ = [
    # re-exported from the math family, as in tf.nn
    "sigmoid", "tanh",
    # activations
    "relu", "relu6", "elu", "selu", "leaky_relu", "softplus", "softsign",
    "crelu", "softmax", "log_softmax", "bias_add", "xw_plus_b", "relu_layer",
    # losses, normalisation, metrics
    "l2_loss", "l2_normalize", "moments", "batch_normalization", "fused_batch_norm", "dropout",
    "local_response_normalization", "lrn", "zero_fraction", "in_top_k", "top_k",
    "sigmoid_cross_entropy_with_logits", "weighted_cross_entropy_with_logits",
    "softmax_cross_entropy_with_logits", "softmax_cross_entropy_with_logits_v2",
    "sparse_softmax_cross_entropy_with_logits", "log_poisson_loss",
]

_REAL = FLOAT_TYPES + (_dtypes.int8, _dtypes.int16, _dtypes.int32, _dtypes.int64,
                       _dtypes.uint8, _dtypes.uint16)


# ----------------------------------------------------------------------------------------------
# activations (element-wise) and their fused gradients
# ----------------------------------------------------------------------------------------------
def _unary_shape(allowed):
    def shape_fn(op):
        check_types(op, allowed)
        return [(op.inputs[0].dtype, op.inputs[0].shape)]
    return shape_fn


def _grad_pair_shape(op):
    """Fused gradient ops `XGrad(gradients, features_or_outputs)`: both inputs alike."""
    check_types(op, FLOAT_TYPES)
    g, x = op.inputs
    return [(g.dtype, merge_compatible(op, g.shape, x.shape))]


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
    check_types(op, _dtypes.NUMERIC)
    v, b = op.inputs
    fmt = op.get_attr("data_format")
    s = rank_at_least(op, v, 3 if fmt == "NCHW" else 2)
    rank_exactly(op, b, 1)
    if s.ndims is None:
        return [(v.dtype, s)]
    ax = _channel_axis(fmt, s.ndims)
    if not s[ax].is_compatible_with(b.shape[0]):
        raise ValueError(f"Dimensions must be equal, but are {s[ax]} and {b.shape[0]} "
                         f"{op_context(op)}")
    dims = list(s.dims)
    dims[ax] = s[ax].merge_with(b.shape[0])
    return [(v.dtype, TensorShape(dims))]


@register_op("BiasAddGrad")
def _bias_add_grad_shape(op):
    g = op.inputs[0]
    fmt = op.get_attr("data_format")
    s = rank_at_least(op, g, 2)
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
        mm = linalg_ops.matmul(convert_to_tensor(x, name="x"),
                             convert_to_tensor(weights, name="weights"))
        return bias_add(mm, biases, name=scope)


def relu_layer(x, weights, biases, name=None):
    """TF1 `tf.nn.relu_layer`: relu(matmul(x, weights) + biases)."""
    with name_scope(name, "relu_layer", [x, weights, biases]) as scope:
        mm = linalg_ops.matmul(convert_to_tensor(x, name="x"),
                             convert_to_tensor(weights, name="weights"))
        return relu(bias_add(mm, biases), name=scope)


# ----------------------------------------------------------------------------------------------
# softmax
# ----------------------------------------------------------------------------------------------
@register_op("Softmax")
@register_op("LogSoftmax")
def _softmax_shape(op):
    check_types(op, FLOAT_TYPES)
    x = op.inputs[0]
    rank_at_least(op, x, 1)
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
    check_types(op, FLOAT_TYPES)
    return [(op.inputs[0].dtype, TensorShape([]))]


def l2_loss(t, name=None):
    """TF1 `tf.nn.l2_loss`: sum(t ** 2) / 2."""
    x = convert_to_tensor(t, name="t")
    check_dtype(x, FLOAT_TYPES, "L2Loss", "t")
    return op1("L2Loss", [x], {"T": x.dtype}, name or "L2Loss")


@register_op("SoftmaxCrossEntropyWithLogits")
def _softmax_xent_shape(op):
    check_types(op, FLOAT_TYPES)
    logits, labels = op.inputs
    a = rank_exactly(op, logits, 2, " (logits)")
    b = rank_exactly(op, labels, 2, " (labels)")
    if not a.is_compatible_with(b):
        raise ValueError(f"logits and labels must be the same shape, but logits is "
                         f"{fmt_shape(a)} and labels is {fmt_shape(b)} {op_context(op)}")
    s = a.merge_with(b)
    return [(logits.dtype, TensorShape([s[0]])), (logits.dtype, s)]


@register_op("SparseSoftmaxCrossEntropyWithLogits")
def _sparse_softmax_xent_shape(op):
    logits, labels = op.inputs
    check_dtype(logits, FLOAT_TYPES, op.type, "features")
    check_dtype(labels, (_dtypes.int32, _dtypes.int64), op.type, "labels")
    a = rank_exactly(op, logits, 2, " (logits)")
    b = rank_exactly(op, labels, 1, " (labels)")
    if not a[0].is_compatible_with(b[0]):
        raise ValueError(f"logits and labels must have the same first dimension, got logits "
                         f"shape {fmt_shape(a)} and labels shape {fmt_shape(b)} {op_context(op)}")
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
    ps = rank_exactly(op, p, 2, " (predictions)")
    ts = rank_exactly(op, t, 1, " (targets)")
    if not ps[0].is_compatible_with(ts[0]):
        raise ValueError(f"First dimension of predictions {ps[0]} must match length of "
                         f"targets {ts[0]} {op_context(op)}")
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
    check_types(op, FLOAT_TYPES)
    x = op.inputs[0]
    rank_exactly(op, x, 4, " (input)")
    return [(x.dtype, x.shape)]


@register_op("LRNGrad")
def _lrn_grad_shape(op):
    check_types(op, FLOAT_TYPES)
    s = op.inputs[0].shape
    for t in op.inputs[1:]:
        s = merge_compatible(op, s, t.shape)
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
    xs = rank_exactly(op, x, 4, " (x)")
    c = Dimension(None) if xs.ndims is None else xs[1 if fmt == "NCHW" else 3]
    vec = [scale, offset] + ([mean, var] if not op.get_attr("is_training") else [])
    for t in vec:
        ts = rank_exactly(op, t, 1)
        if not ts[0].is_compatible_with(c):
            raise ValueError(f"scale, offset, mean and variance must have the channel size "
                             f"{c} of x, got {fmt_shape(ts)} {op_context(op)}")
        c = c.merge_with(ts[0])
    v = TensorShape([c])
    return [(x.dtype, xs), (u, v), (u, v), (u, v), (u, v), (u, TensorShape([0]))]


@register_op("FusedBatchNormGradV3")
def _fused_batch_norm_grad_shape(op):
    dy, x, scale = op.inputs[:3]
    u = scale.dtype
    s = merge_compatible(op, dy.shape, x.shape)
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
    mean = constant([], dtype=scale.dtype) if mean is None else \
        convert_to_tensor(mean, name="mean")
    variance = constant([], dtype=scale.dtype) if variance is None else \
        convert_to_tensor(variance, name="variance")
    epsilon = max(float(epsilon), 1.001e-5)
    outs = apply_op("FusedBatchNormV3", [x, scale, offset, mean, variance],
                    {"T": x.dtype, "U": scale.dtype, "epsilon": epsilon,
                     "data_format": image_data_format(data_format),
                     "is_training": bool(is_training)},
                    name or "FusedBatchNormV3").outputs
    return outs[0], outs[1], outs[2]


# ----------------------------------------------------------------------------------------------
# top_k
# ----------------------------------------------------------------------------------------------
TopKOutput = collections.namedtuple("TopKV2", ["values", "indices"])


@register_op("TopKV2")
def _top_k_shape(op):
    x, k = op.inputs
    if not (x.dtype.is_floating or x.dtype.is_integer):
        raise TypeError(f"top_k input must be a real number type, got {x.dtype.name} "
                        f"(node '{op.name}')")
    if k.dtype is not _dtypes.int32:
        raise TypeError(f"top_k k must be int32, got {k.dtype.name} (node '{op.name}')")
    check_input_rank(op, k, 0, "k")
    if x.shape.ndims == 0:
        shape_error(op, "Shape must be at least rank 1 but is rank 0")
    kv = const_int(k)
    if kv is not None and kv < 0:
        shape_error(op, f"Need k >= 0, got {kv}")
    if x.shape.ndims is None:
        return [(x.dtype, TensorShape(None)), (_dtypes.int32, TensorShape(None))]
    dims = x.shape.as_list()
    if kv is not None and dims[-1] is not None and dims[-1] < kv:
        shape_error(op, f"input must have last dimension >= k = {kv} but is {dims[-1]}")
    out = TensorShape(dims[:-1] + [kv])
    return [(x.dtype, out), (_dtypes.int32, out)]


def top_k(input, k=1, sorted=True, name=None):  # noqa: A002 - TF1 argument names
    """TF1 `tf.nn.top_k`: the `k` largest entries of the last dimension and their indices
    (ties: the lower index first)."""
    with name_scope(name, "TopKV2", [input]) as scope:
        x = convert_to_tensor(input, name="input")
        kt = convert_to_tensor(py_ints(k), dtype=_dtypes.int32, name="k")
        return TopKOutput(*apply_op("TopKV2", [x, kt], {"sorted": bool(sorted), "T": x.dtype},
                                    scope).outputs)
