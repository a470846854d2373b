"""`tw.sparse`: the TF1 `tf.sparse` namespace (`tw.sparse.to_dense`, `tw.sparse.reorder`, ...).

The ops live in `tensorweave.ops.sparse_ops`; this module gives them their `tf.sparse` names.
"""
from __future__ import annotations

from .framework.sparse_tensor import SparseTensor, SparseTensorValue
from .ops.sparse_ops import from_dense
from .ops.sparse_ops import sparse_placeholder as placeholder
from .ops.sparse_ops import sparse_reduce_sum as reduce_sum
from .ops.sparse_ops import sparse_reorder as reorder
from .ops.sparse_ops import sparse_tensor_dense_matmul as sparse_dense_matmul
from .ops.sparse_ops import sparse_tensor_to_dense as to_dense

matmul = sparse_dense_matmul  # TF1's other name for it

__all__ = ["SparseTensor", "SparseTensorValue", "from_dense", "placeholder", "reduce_sum",
           "reorder", "sparse_dense_matmul", "matmul", "to_dense"]
