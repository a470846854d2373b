"""The gradients pass checks what every gradient function returns: a Tensor, IndexedSlices or
None per input, of the input's dtype and a shape compatible with it, naming the node."""
import pytest

import tensorweave as tw
from tensorweave.autodiff.registry import RegisterGradient
from tensorweave.framework.op_registry import register_op, registered_ops
from tensorweave.ops.op_util import op1, unchanged_shape


def _op(kind, grad_fn):
    op_type = f"TestBadGrad{kind}"
    if op_type not in registered_ops():
        register_op(op_type)(unchanged_shape)
        RegisterGradient(op_type)(grad_fn)
    x = tw.placeholder(tw.float32, [2], name="x")
    return x, op1(op_type, [x], None, f"bad_{kind.lower()}")


def test_a_gradient_of_the_wrong_dtype_names_the_node():
    x, y = _op("Dtype", lambda op, g: tw.cast(g, tw.float64))
    with pytest.raises(TypeError, match=r"TestBadGradDtype node 'bad_dtype' returned dtype "
                                        r"float64 for input 0 \(x:0\) of dtype float32"):
        tw.gradients(tw.reduce_sum(y), x)


def test_a_gradient_of_the_wrong_shape_names_the_node():
    x, y = _op("Shape", lambda op, g: tw.concat([g, g], 0))
    with pytest.raises(ValueError, match=r"TestBadGradShape node 'bad_shape' returned shape "
                                         r"\(4,\) for input 0 \(x:0\) of shape \(2,\)"):
        tw.gradients(tw.reduce_sum(y), x)


def test_a_gradient_of_the_wrong_kind_or_count_names_the_node():
    x, y = _op("Count", lambda op, g: [g, g])
    with pytest.raises(ValueError, match=r"Num gradients 2 generated for op bad_count "
                                         r"\(TestBadGradCount\) do not match num inputs 1"):
        tw.gradients(tw.reduce_sum(y), x)
