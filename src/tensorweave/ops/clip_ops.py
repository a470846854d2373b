"""Clipping: `clip_by_value`, `clip_by_norm`, `global_norm`, `clip_by_global_norm`,
`clip_by_average_norm` (TF1 composites of math ops; IndexedSlices keep their indices, and the
global-norm functions skip None entries, as TF1's do)."""
from __future__ import annotations

from collections.abc import Sequence

from ..framework.convert import convert_to_tensor
from ..framework.graph import colocate_with, name_scope
from ..framework.indexed_slices import IndexedSlices
from . import array_ops, math_ops
from .nn_ops import l2_loss

__all__ = ["clip_by_value", "clip_by_norm", "global_norm", "clip_by_global_norm",
           "clip_by_average_norm"]


def _values(t, name):
    return convert_to_tensor(t.values if isinstance(t, IndexedSlices) else t, name=name)


def _like(t, values):
    """`values` with the indices of `t` when `t` is IndexedSlices."""
    return IndexedSlices(values, t.indices, t.dense_shape) if isinstance(t, IndexedSlices) \
        else values


def _check_same_shape(values, clipped, what):
    if not values.shape.is_compatible_with(clipped.shape):
        raise ValueError(f"{what} would broadcast {values.name} of shape {values.shape} to "
                         f"{clipped.shape}; clip bounds must broadcast to the tensor's shape.")
    values.shape.merge_with(clipped.shape)


def clip_by_value(t, clip_value_min, clip_value_max, name=None):
    """TF1 `tf.clip_by_value`: min(max(t, clip_value_min), clip_value_max), elementwise."""
    with name_scope(name, "clip_by_value", [t, clip_value_min, clip_value_max]) as scope:
        values = _values(t, "t")
        t_min = math_ops.minimum(values, clip_value_max)
        _check_same_shape(values, t_min, "clip_by_value")
        t_max = math_ops.maximum(t_min, clip_value_min, name=scope)
        _check_same_shape(values, t_max, "clip_by_value")
        return _like(t, t_max)


def clip_by_norm(t, clip_norm, axes=None, name=None):
    """TF1 `tf.clip_by_norm`: t * clip_norm / max(l2norm(t, axes), clip_norm)."""
    with name_scope(name, "clip_by_norm", [t, clip_norm]) as scope:
        values = _values(t, "t")
        l2sum = math_ops.reduce_sum(values * values, axes, keepdims=True)
        pred = l2sum > 0
        # the two-tap where keeps the gradient finite when the norm is 0
        l2sum_safe = array_ops.where(pred, l2sum, array_ops.ones_like(l2sum))
        l2norm = array_ops.where(pred, math_ops.sqrt(l2sum_safe), l2sum)
        intermediate = values * clip_norm
        _check_same_shape(values, intermediate, "clip_by_norm")
        clipped = array_ops.identity(intermediate / math_ops.maximum(l2norm, clip_norm),
                                     name=scope)
        return _like(t, clipped)


def _check_list(t_list):
    if not isinstance(t_list, Sequence) or isinstance(t_list, str):
        raise TypeError("t_list should be a sequence")
    return list(t_list)


def global_norm(t_list, name=None):
    """TF1 `tf.global_norm`: sqrt(sum of ||t||^2 over the list); None entries are ignored."""
    t_list = _check_list(t_list)
    with name_scope(name, "global_norm", [t for t in t_list if t is not None]):
        values = [_values(t, f"t_{i}") if t is not None else None for i, t in enumerate(t_list)]
        half_squared_norms = []
        for v in values:
            if v is not None:
                with colocate_with(v):
                    half_squared_norms.append(l2_loss(v))
        if not half_squared_norms:
            raise ValueError("global_norm needs at least one tensor that is not None")
        half_squared_norm = math_ops.reduce_sum(array_ops.stack(half_squared_norms))
        two = convert_to_tensor(2.0, dtype=half_squared_norm.dtype)
        return math_ops.sqrt(half_squared_norm * two, name="global_norm")


def clip_by_global_norm(t_list, clip_norm, use_norm=None, name=None):
    """TF1 `tf.clip_by_global_norm`: scale every tensor by clip_norm / max(global_norm,
    clip_norm); returns (list of clipped tensors, the global norm).  None entries stay None;
    a non-finite global norm makes every value NaN, as in TF1."""
    t_list = _check_list(t_list)
    if use_norm is None:
        use_norm = global_norm(t_list, name)
    with name_scope(name, "clip_by_global_norm",
                    [t for t in t_list if t is not None] + [clip_norm]) as scope:
        one = convert_to_tensor(1.0, dtype=use_norm.dtype)
        scale_for_finite = clip_norm * math_ops.minimum(1.0 / use_norm, one / clip_norm)
        # a no-op for finite norms; NaN for inf/-inf/NaN norms
        scale = scale_for_finite + (use_norm - use_norm)
        values = [_values(t, f"t_{i}") if t is not None else None for i, t in enumerate(t_list)]
        clipped = []
        for i, v in enumerate(values):
            if v is None:
                clipped.append(None)
                continue
            with colocate_with(v):
                s = scale if scale.dtype is v.dtype else math_ops.cast(scale, v.dtype)
                clipped.append(array_ops.identity(v * s, name=f"{scope}_{i}"))
        return [None if c is None else _like(t, c) for c, t in zip(clipped, t_list)], use_norm


def clip_by_average_norm(t, clip_norm, name=None):
    """TF1 `tf.clip_by_average_norm`: clip by the L2 norm divided by the number of elements."""
    with name_scope(name, "clip_by_average_norm", [t, clip_norm]) as scope:
        t = convert_to_tensor(t, name="t")
        n_element = math_ops.cast(array_ops.size(t), t.dtype)
        l2norm_inv = math_ops.rsqrt(math_ops.reduce_sum(t * t, math_ops.range(array_ops.rank(t))))
        return array_ops.identity(
            t * clip_norm * math_ops.minimum(l2norm_inv * n_element, 1.0 / clip_norm),
            name=scope)
