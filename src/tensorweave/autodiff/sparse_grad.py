"""Gradients of the sparse ops and of the CTC ops (whose labels are sparse), as in TF1.

Indices and shapes get no gradient; values get the incoming gradient gathered at their indices.
`CTCLoss` reuses the gradient its kernel computed (its second output), scaled per example; that
output is wrapped so a second derivative raises TF1's "Gradient explicitly disabled" LookupError.
The decoders are not differentiable.
"""
from __future__ import annotations

from ..framework import dtypes as _dtypes
from ..framework.sparse_tensor import SparseTensor
from ..ops import array_ops, indexing_ops, math_ops, sparse_ops
from .registry import NoGradient, RegisterGradient

NoGradient("CTCGreedyDecoder")
NoGradient("CTCBeamSearchDecoder")


@RegisterGradient("SparseToDense")
def _sparse_to_dense_grad(op, grad):
    indices, _, values, _ = op.inputs
    idx = indices if indices.shape.ndims == 2 else array_ops.reshape(indices, [-1, 1])
    gathered = indexing_ops.gather_nd(grad, idx)
    values_grad = gathered if values.shape.ndims != 0 else math_ops.reduce_sum(gathered)
    default_grad = math_ops.reduce_sum(grad) - math_ops.reduce_sum(gathered)
    return None, None, values_grad, default_grad


@RegisterGradient("SparseReorder")
def _sparse_reorder_grad(op, _, values_grad):
    """The values came out permuted: send each gradient back to its entry's input position."""
    indices, _, shape = op.inputs
    positions = math_ops.range(array_ops.shape(indices)[0])
    reordered = sparse_ops.sparse_reorder(SparseTensor(indices, positions, shape))
    return None, indexing_ops.gather(values_grad, array_ops.invert_permutation(reordered.values)), \
        None


@RegisterGradient("SparseTensorDenseMatMul")
def _sparse_dense_matmul_grad(op, grad):
    """C = op(A) op(B): dB from A's transpose times grad; dA's values from the rows of grad
    and op(B) each value multiplies."""
    a_indices, a_values, a_shape, b = op.inputs
    adj_a, adj_b = op.get_attr("adjoint_a"), op.get_attr("adjoint_b")
    cplx = a_values.dtype.is_complex
    b_grad = sparse_ops.sparse_dense_matmul_op(a_indices, a_values, a_shape, grad,
                                               adjoint_a=not adj_a)
    if adj_b:
        b_grad = array_ops.transpose(b_grad, conjugate=cplx)
    rows, cols = a_indices[:, 0], a_indices[:, 1]
    op_b = array_ops.transpose(b, conjugate=cplx) if adj_b else b
    if not adj_a:
        parts_g, parts_b = indexing_ops.gather(grad, rows), indexing_ops.gather(op_b, cols)
        if cplx:
            parts_b = math_ops.conj(parts_b)
    else:
        parts_g, parts_b = indexing_ops.gather(grad, cols), indexing_ops.gather(op_b, rows)
        if cplx:
            parts_g = math_ops.conj(parts_g)
    return None, math_ops.reduce_sum(parts_g * parts_b, axis=1), None, b_grad


@RegisterGradient("SparseReduceSum")
def _sparse_reduce_sum_grad(op, out_grad):
    """Each value gets the gradient of the output entry it was summed into."""
    indices, _, shape, axes = op.inputs
    rank = array_ops.size(shape)
    axes = math_ops.floormod(array_ops.reshape(axes, [-1]) + rank, rank)
    reduced = math_ops.reduce_any(math_ops.equal(array_ops.expand_dims(math_ops.range(rank), 1),
                                                 array_ops.expand_dims(axes, 0)), axis=1)
    kept_shape = array_ops.where_v2(reduced, array_ops.ones_like(shape), shape)
    grad = array_ops.reshape(out_grad, kept_shape)
    kept = math_ops.cast(math_ops.logical_not(reduced), _dtypes.int64)
    return None, indexing_ops.gather_nd(grad, indices * kept), None, None


_CTC_SECOND_ORDER = "_CTCLossGradientHasNoGradient"


@RegisterGradient(_CTC_SECOND_ORDER)
def _ctc_second_order(op, grad):
    raise LookupError("Gradient explicitly disabled. Reason: Currently there is no way to take "
                      "the second derivative of ctc_loss due to the fused implementation's "
                      "interaction with tw.gradients()")


@RegisterGradient("CTCLoss")
def _ctc_loss_grad(op, grad_loss, _):
    with op.graph.gradient_override_map({"Identity": _CTC_SECOND_ORDER}):
        grad = array_ops.identity(op.outputs[1])
    return array_ops.expand_dims(grad_loss, -1) * grad, None, None, None
