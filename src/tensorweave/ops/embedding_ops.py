"""Embeddings: `embedding_lookup`, the rows `ids` of a parameter tensor or of a list of shards
(TF1's 'mod' and 'div' partition strategies), optionally clipped to `max_norm`.

Built from gathers colocated with each shard; the gradient reaching the parameters is an
`IndexedSlices` (the gradient of `gather`), so optimizers update only the rows looked up.
"""
from __future__ import annotations

from ..framework import dtypes as _dtypes
from ..framework.convert import convert_to_tensor
from ..framework.graph import Tensor, colocate_with, name_scope
from ..framework.tensor_shape import Dimension
from . import array_ops, clip_ops, math_ops
from .constant_op import constant
from .indexing_ops import gather
from .mask_ops import boolean_mask
from .segment_ops import unsorted_segment_sum

__all__ = ["embedding_lookup"]


def _clip(params, ids, max_norm):
    if max_norm is None:
        return params
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
                result = _clip(gather(params[0], ids, name=scope), ids, max_norm)
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
            pids = boolean_mask(new_ids, mask)
            positions.append(boolean_mask(original_indices, mask))
            with colocate_with(params[p]):
                partitioned.append(_clip(gather(params[p], pids), pids, max_norm))
        ret = unsorted_segment_sum(array_ops.concat(partitioned, 0),
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
