"""Gradients of nn ops (TF1's formulas, building graph with tw ops).

Activations use their fused gradient ops (`ReluGrad(grad, output)`, ...), the cross entropies
reuse the `backprop` output their forward op computed, convolutions and pools map to their
backprop ops, and those backprop ops are differentiable in turn (second order, and the
gradient of `conv2d_transpose`).
"""
from __future__ import annotations

from ..framework.graph import apply_op
from ..ops import array_ops, conv_ops, math_ops, nn_ops
from .registry import NoGradient, RegisterGradient


def _shape_of(t):
    """`t`'s shape as a constant when static, else a `Shape` node."""
    if t.shape.is_fully_defined():
        return t.shape.as_list()
    return array_ops.shape(t)


def _zeros(t):
    return array_ops.zeros_like(t)


def _is_zero(g) -> bool:
    """True for the zeros `gradients` fills in for an output nobody differentiated."""
    return g is None or g.op.type == "ZerosLike"


# ----------------------------------------------------------------------------------------------
# activations
# ----------------------------------------------------------------------------------------------
# op type -> (fused gradient op, whether it takes the forward op's output rather than input)
_FUSED = {"Relu": ("ReluGrad", True), "Relu6": ("Relu6Grad", False), "Elu": ("EluGrad", True),
          "Selu": ("SeluGrad", True), "LeakyRelu": ("LeakyReluGrad", False),
          "Softplus": ("SoftplusGrad", False), "Softsign": ("SoftsignGrad", False)}


def _alpha(op) -> dict:
    return {"alpha": op.get_attr("alpha")} if "alpha" in op._attrs else {}


def _register_activation_gradient(op_type, fused, of_output):
    @RegisterGradient(op_type)
    def _grad(op, grad):
        x = op.outputs[0] if of_output else op.inputs[0]
        return nn_ops.fused_grad(fused, grad, x, **_alpha(op))


def _register_piecewise_linear_second_order(fused):
    """ReluGrad-like ops are linear in the incoming gradient and piecewise constant in x."""
    @RegisterGradient(fused)
    def _grad_grad(op, grad):
        x = op.inputs[1]
        return nn_ops.fused_grad(fused, grad, x, **_alpha(op)), _zeros(x)


for _t, (_fused, _of_output) in _FUSED.items():
    _register_activation_gradient(_t, _fused, _of_output)
for _fused in ("ReluGrad", "Relu6Grad", "LeakyReluGrad"):
    _register_piecewise_linear_second_order(_fused)


@RegisterGradient("EluGrad")
def _elu_grad_grad(op, grad):
    # EluGrad(g, y) = g * (y + 1) where y < 0, else g
    g, y = op.inputs
    neg = math_ops.cast(math_ops.less(y, array_ops.zeros_like(y)), y.dtype)
    return nn_ops.fused_grad("EluGrad", grad, y), grad * g * neg


@RegisterGradient("SeluGrad")
def _selu_grad_grad(op, grad):
    # SeluGrad(g, y) = g * (y + scale * alpha) where y < 0, else g * scale
    g, y = op.inputs
    neg = math_ops.cast(math_ops.less(y, array_ops.zeros_like(y)), y.dtype)
    return nn_ops.fused_grad("SeluGrad", grad, y), grad * g * neg


@RegisterGradient("SoftplusGrad")
def _softplus_grad_grad(op, grad):
    # SoftplusGrad(dy, x) = dy / (1 + exp(-x)); d/dx = dy / (exp(-x) + 2 + exp(x))
    dy, x = op.inputs
    ddy = nn_ops.fused_grad("SoftplusGrad", grad, x)
    d2x = grad * dy / (math_ops.exp(math_ops.negative(x)) + 2.0 + math_ops.exp(x))
    return ddy, d2x


# ----------------------------------------------------------------------------------------------
# bias, softmax, losses
# ----------------------------------------------------------------------------------------------
@RegisterGradient("BiasAdd")
def _bias_add_grad(op, grad):
    return grad, nn_ops.bias_add_grad(grad, data_format=op.get_attr("data_format"))


@RegisterGradient("BiasAddGrad")
def _bias_add_grad_grad(op, grad):
    g = op.inputs[0]
    nchw = op.get_attr("data_format") == "NCHW"
    r = g.shape.ndims
    if r is None:
        raise ValueError(f"The gradient of BiasAddGrad node {op.name!r} needs a known rank")
    keep = [1] * r
    keep[1 if nchw else r - 1] = -1
    return array_ops.broadcast_to(array_ops.reshape(grad, keep), _shape_of(g))


@RegisterGradient("Softmax")
def _softmax_grad(op, grad):
    y = op.outputs[0]
    sum_channels = math_ops.reduce_sum(grad * y, -1, keepdims=True)
    return (grad - sum_channels) * y


@RegisterGradient("LogSoftmax")
def _log_softmax_grad(op, grad):
    softmax = math_ops.exp(op.outputs[0])
    return grad - math_ops.reduce_sum(grad, -1, keepdims=True) * softmax


@RegisterGradient("L2Loss")
def _l2_loss_grad(op, grad):
    return op.inputs[0] * grad


def _broadcast_mul(vec, mat):
    """`vec` [n] times each row of `mat` [n, c]."""
    return array_ops.reshape(vec, [-1, 1]) * mat


def _xent_grad_grad(logits, grad_grad):
    """The part of a cross entropy's logits gradient coming from its `backprop` output."""
    softmax = nn_ops.softmax(logits)
    inner = math_ops.reduce_sum(grad_grad * softmax, -1, keepdims=True)
    return (grad_grad - inner) * softmax


@RegisterGradient("SoftmaxCrossEntropyWithLogits")
def _softmax_xent_grad(op, grad_loss, grad_grad):
    logits = op.inputs[0]
    grad = _broadcast_mul(grad_loss, op.outputs[1])
    if not _is_zero(grad_grad):
        grad = grad + _xent_grad_grad(logits, grad_grad)
    return grad, _broadcast_mul(grad_loss, math_ops.negative(nn_ops.log_softmax(logits)))


@RegisterGradient("SparseSoftmaxCrossEntropyWithLogits")
def _sparse_softmax_xent_grad(op, grad_loss, grad_grad):
    grad = _broadcast_mul(grad_loss, op.outputs[1])
    if not _is_zero(grad_grad):
        grad = grad + _xent_grad_grad(op.inputs[0], grad_grad)
    return grad, None


# ----------------------------------------------------------------------------------------------
# convolution
# ----------------------------------------------------------------------------------------------
def _conv_kw(op) -> dict:
    return {"strides": op.get_attr("strides"), "padding": op.get_attr("padding"),
            "data_format": op.get_attr("data_format"),
            "dilations": op.get_attr("dilations")}


def _register_conv_gradients(fwd_type, input_type, filter_type, conv, backprop_input,
                             backprop_filter):
    """The three gradients of a convolution family: the forward op's input and filter
    gradients are its two backprop ops, and each backprop op is linear in both its tensor
    inputs, so its gradients are the other backprop op and the forward op."""

    @RegisterGradient(fwd_type)
    def _forward_grad(op, grad):
        x, f = op.inputs
        kw = _conv_kw(op)
        return (backprop_input(_shape_of(x), f, grad, **kw),
                backprop_filter(x, _shape_of(f), grad, **kw))

    @RegisterGradient(input_type)
    def _backprop_input_grad(op, grad):
        _, f, dy = op.inputs
        kw = _conv_kw(op)
        return None, backprop_filter(grad, _shape_of(f), dy, **kw), conv(grad, f, **kw)

    @RegisterGradient(filter_type)
    def _backprop_filter_grad(op, grad):
        x, _, dy = op.inputs
        kw = _conv_kw(op)
        return backprop_input(_shape_of(x), grad, dy, **kw), None, conv(x, grad, **kw)


_register_conv_gradients("Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter",
                         conv_ops.conv2d, conv_ops.conv2d_backprop_input,
                         conv_ops.conv2d_backprop_filter)
_register_conv_gradients("DepthwiseConv2dNative", "DepthwiseConv2dNativeBackpropInput",
                         "DepthwiseConv2dNativeBackpropFilter", conv_ops.depthwise_conv2d_native,
                         conv_ops.depthwise_conv2d_native_backprop_input,
                         conv_ops.depthwise_conv2d_native_backprop_filter)


# ----------------------------------------------------------------------------------------------
# pooling
# ----------------------------------------------------------------------------------------------
def _pool_kw(op) -> dict:
    return {"ksize": op.get_attr("ksize"), "strides": op.get_attr("strides"),
            "padding": op.get_attr("padding"), "data_format": op.get_attr("data_format")}


@RegisterGradient("MaxPool")
def _max_pool_grad(op, grad):
    return conv_ops.max_pool_grad(op.inputs[0], op.outputs[0], grad, **_pool_kw(op))


@RegisterGradient("MaxPoolGrad")
def _max_pool_grad_grad(op, grad):
    x, y, _ = op.inputs
    return _zeros(x), _zeros(y), conv_ops.max_pool_grad_grad(x, y, grad, **_pool_kw(op))


@RegisterGradient("MaxPoolGradGrad")
def _max_pool_grad_grad_grad(op, grad):
    x, y, _ = op.inputs
    return _zeros(x), _zeros(y), conv_ops.max_pool_grad(x, y, grad, **_pool_kw(op))


@RegisterGradient("AvgPool")
def _avg_pool_grad(op, grad):
    return conv_ops.avg_pool_grad(_shape_of(op.inputs[0]), grad, **_pool_kw(op))


@RegisterGradient("AvgPoolGrad")
def _avg_pool_grad_grad(op, grad):
    return None, conv_ops.avg_pool(grad, **_pool_kw(op))


# ----------------------------------------------------------------------------------------------
# normalisation, metrics
# ----------------------------------------------------------------------------------------------
@RegisterGradient("LRN")
def _lrn_grad(op, grad):
    a = {k: op.get_attr(k) for k in ("depth_radius", "bias", "alpha", "beta")}
    x, y = op.inputs[0], op.outputs[0]
    return apply_op("LRNGrad", [grad, x, y], {"T": x.dtype, **a}, "LRNGrad").outputs[0]


@RegisterGradient("FusedBatchNormV3")
def _fused_batch_norm_grad(op, dy, *_unused):
    x, scale = op.inputs[0], op.inputs[1]
    attrs = {k: op.get_attr(k) for k in ("T", "U", "epsilon", "data_format", "is_training")}
    dx, dscale, doffset = apply_op(
        "FusedBatchNormGradV3", [dy, x, scale] + op.outputs[3:6], attrs,
        "FusedBatchNormGradV3").outputs[:3]
    return dx, dscale, doffset, None, None


NoGradient("InTopKV2")
