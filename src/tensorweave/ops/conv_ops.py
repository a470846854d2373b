"""Convolution and pooling: `conv2d` and its backprops (`conv2d_transpose`, `conv1d`,
`atrous_conv2d`), depthwise and separable convolutions, `max_pool` / `avg_pool` and their
gradient ops -- the sliding-window ops, with TF's geometry.

Geometry follows TF: NHWC or NCHW, SAME output `ceil(in / stride)` with the odd padding
row/column at the bottom/right, VALID output `ceil((in - (k - 1) * dilation) / stride)`; the
shape functions check every attr and dimension when the node is built, with TF's messages.

Kernels: `tensorweave/kernels/cpu/conv.py`; gradients: `tensorweave/autodiff/nn_grad.py` (the
backprop ops are differentiable in turn).
"""
from __future__ import annotations

import numbers

from ..framework import dtypes as _dtypes
from ..framework.convert import constant_value, constant_value_as_shape, convert_to_tensor
from ..framework.graph import Tensor, name_scope
from ..framework.op_registry import register_op
from ..framework.tensor_shape import TensorShape
from . import array_ops
from .op_util import (FLOAT_TYPES, check_dtype, check_types, fmt_shape, op1, op_context,
                      rank_exactly)

__all__ = ["conv1d", "conv2d", "conv2d_transpose", "depthwise_conv2d", "separable_conv2d",
           "atrous_conv2d", "max_pool", "avg_pool",
           # fused gradient ops that TF1 exposes under tf.nn
           "conv2d_backprop_input", "conv2d_backprop_filter", "depthwise_conv2d_native",
           "depthwise_conv2d_native_backprop_input", "depthwise_conv2d_native_backprop_filter"]


# ----------------------------------------------------------------------------------------------
# convolution and pooling: geometry shared by the shape functions
# ----------------------------------------------------------------------------------------------
#: the dtypes max_pool takes (avg_pool takes floats)
_POOL_TYPES = FLOAT_TYPES + (_dtypes.int8, _dtypes.int16, _dtypes.int32, _dtypes.int64,
                             _dtypes.uint8, _dtypes.uint16)
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


def image_data_format(data_format) -> str:
    """"NHWC" (the default) or "NCHW": the layout of a 4-D image tensor."""
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
        where = op_context(op) if op is not None else ""
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
    return ValueError(f"Dimensions must be equal, but are {a} and {b} ({what}) {op_context(op)}")


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
                         f"{fs} {op_context(op)}")


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
        check_types(op, FLOAT_TYPES)
        fmt, padding = _check_attrs(op)
        x, f = op.inputs
        rank_exactly(op, x, 4, " (input)")
        fs = rank_exactly(op, f, 4, " (filter)").as_list()
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
        fs = rank_exactly(op, f, 4, " (filter)").as_list()
        rank_exactly(op, dy, 4, " (out_backprop)")
        out_c = out_channels(op, fs, in_dims[3], "input_sizes")
        _check_out_backprop(op, fmt, padding, in_dims, fs, dy, out_c)
        return [(f.dtype, TensorShape(in_nchw))]

    @register_op(filter_type)
    def _filter_grad_shape(op):
        x, sizes, dy = op.inputs
        _check_float_pair(op, x, dy, "input", "out_backprop")
        fmt, padding = _check_attrs(op)
        fs = _sizes_shape(op, sizes, "filter_sizes")
        rank_exactly(op, x, 4, " (input)")
        rank_exactly(op, dy, 4, " (out_backprop)")
        xd = _nhwc(fmt, x.shape)
        out_c = out_channels(op, fs, xd[3], "input")
        _check_out_backprop(op, fmt, padding, xd, fs, dy, out_c)
        return [(x.dtype, TensorShape(fs))]


_register_conv_shapes("Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter", _conv_filter)
_register_conv_shapes("DepthwiseConv2dNative", "DepthwiseConv2dNativeBackpropInput",
                      "DepthwiseConv2dNativeBackpropFilter", _depthwise_filter)


def _conv_attrs(x, strides, padding, data_format, dilations, use_cudnn=None) -> dict:
    fmt = image_data_format(data_format)
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
        fmt = image_data_format(data_format)
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
        fmt = image_data_format(data_format)
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
        fmt = image_data_format(data_format)
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
    check_types(op, _POOL_TYPES if op.type == "MaxPool" else FLOAT_TYPES)
    x = op.inputs[0]
    rank_exactly(op, x, 4, " (input)")
    return [(x.dtype, _pool_output(op, x.shape))]


@register_op("MaxPoolGrad")
def _max_pool_grad_shape(op):
    check_types(op, _POOL_TYPES)
    x, y, dy = op.inputs
    rank_exactly(op, x, 4, " (orig_input)")
    out = _pool_output(op, x.shape)
    if not out.is_compatible_with(y.shape) or not out.is_compatible_with(dy.shape):
        raise ValueError(f"orig_output and grad must have the pooled shape {fmt_shape(out)} "
                         f"{op_context(op)}")
    return [(x.dtype, x.shape)]


@register_op("MaxPoolGradGrad")
def _max_pool_grad_grad_shape(op):
    check_types(op, _POOL_TYPES)
    x, y, g = op.inputs
    rank_exactly(op, x, 4, " (orig_input)")
    out = _pool_output(op, x.shape)
    if not out.is_compatible_with(y.shape) or not x.shape.is_compatible_with(g.shape):
        raise ValueError(f"orig_output must have the pooled shape {fmt_shape(out)} and grad the "
                         f"input's shape {op_context(op)}")
    return [(x.dtype, out.merge_with(y.shape))]


@register_op("AvgPoolGrad")
def _avg_pool_grad_shape(op):
    sizes, dy = op.inputs
    check_dtype(dy, FLOAT_TYPES, op.type, "grad")
    in_dims = _sizes_shape(op, sizes, "orig_input_shape")
    out = _pool_output(op, TensorShape(in_dims))
    if not out.is_compatible_with(dy.shape):
        raise ValueError(f"grad must have the pooled shape {fmt_shape(out)} {op_context(op)}")
    return [(dy.dtype, TensorShape(in_dims))]


def _pool_attrs(x, ksize, strides, padding, data_format) -> dict:
    fmt = image_data_format(data_format)
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
