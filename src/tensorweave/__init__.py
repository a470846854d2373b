"""tensorweave: a TensorFlow-1.x-style dataflow-graph framework in which every device is a worker
process.  `import tensorweave as tw` gives the TF1 (`tf.compat.v1`) graph API: build a graph, run it
with `tw.Session`.

Layout (one concept per module; each package imports only those above it in this list):
  framework/  dtypes, shapes, Graph/Operation/Tensor, op registry, GraphDef, conversion, errors,
              the default-session stack, logging
  ops/        op definitions (shape functions) and Python wrappers, one module per op family
  kernels/    kernel tables, one per backend (cpu/: numpy), keyed by op type
  autodiff/   the gradient table and `gradients`
  compiler/   pruning, placement, partitioning, constant folding
  runtime/    the executor, and the multi-process machinery (wire, shared memory, master)
  client/     Session, ConfigProto, RunOptions
  train/      optimizers, Saver, learning-rate schedules, clusters
"""
from __future__ import annotations

# --- framework ---------------------------------------------------------------------------------
from .framework import dtypes
from .framework import errors
from .framework import nest
from .framework import tf_logging as logging
from .framework.dtypes import *  # noqa: F401,F403
from .framework.dtypes import DType, as_dtype
from .framework.tensor_shape import Dimension, TensorShape, dimension_value
from .framework.graph import (Graph, GraphKeys, Operation, Tensor, add_to_collection,
                              add_to_collections, colocate_with, control_dependencies, device,
                              get_collection, get_collection_ref, get_default_graph, name_scope,
                              reset_default_graph)
from .framework.device_spec import DeviceSpec
from .framework.convert import convert_to_tensor, register_tensor_conversion_function, is_tensor
from .framework.graphdef import GraphDef, NodeDef, import_graph_def
from .framework.indexed_slices import (IndexedSlices, IndexedSlicesValue,
                                       convert_to_tensor_or_indexed_slices)
from .framework.sparse_tensor import (SparseTensor, SparseTensorValue,
                                      convert_to_tensor_or_sparse_tensor)
from .framework.random_seed import get_seed, set_random_seed

# --- ops ---------------------------------------------------------------------------------------
from .ops.constant_op import *  # noqa: F401,F403
from .ops.control_flow_ops import *  # noqa: F401,F403
from .ops.array_ops import *  # noqa: F401,F403
from .ops.slicing_ops import *  # noqa: F401,F403
from .ops.indexing_ops import *  # noqa: F401,F403
from .ops.mask_ops import *  # noqa: F401,F403
from .ops.math_ops import *  # noqa: F401,F403
from .ops.linalg_ops import *  # noqa: F401,F403
from .ops.segment_ops import *  # noqa: F401,F403
from .ops.state_ops import *  # noqa: F401,F403
from .ops.variables import *  # noqa: F401,F403
from .ops.variable_scope import *  # noqa: F401,F403
from .ops.random_ops import *  # noqa: F401,F403
from .ops.init_ops import *  # noqa: F401,F403
from .ops.clip_ops import *  # noqa: F401,F403
from .ops.sparse_ops import *  # noqa: F401,F403
from .ops.tensor_array_ops import TensorArray
from .ops.data_flow_ops import *  # noqa: F401,F403
from .ops import indexed_slices_ops as _indexed_slices_ops  # noqa: F401 - IndexedSlices -> Tensor
from .ops import sendrecv_ops as _sendrecv_ops  # noqa: F401 - registers _Send/_Recv
from .ops import lstm_ops as _lstm_ops  # noqa: F401 - registers the fused LSTM ops
from .ops.rnn import reverse_sequence
from .compiler import constant_folding as _constant_folding  # noqa: F401 - build-time folding

# --- autodiff ----------------------------------------------------------------------------------
from .autodiff import array_grad as _array_grad  # noqa: F401 - registers gradients
from .autodiff import math_grad as _math_grad  # noqa: F401
from .autodiff import nn_grad as _nn_grad  # noqa: F401
from .autodiff import random_grad as _random_grad  # noqa: F401
from .autodiff import state_grad as _state_grad  # noqa: F401
from .autodiff import control_flow_grad as _control_flow_grad  # noqa: F401
from .autodiff import tensor_array_grad as _tensor_array_grad  # noqa: F401
from .autodiff import sparse_grad as _sparse_grad  # noqa: F401
from .autodiff import lstm_grad as _lstm_grad  # noqa: F401
from .autodiff.gradients import AggregationMethod, UnconnectedGradients, gradients, hessians
from .autodiff.registry import NoGradient, NotDifferentiable, RegisterGradient

# --- client ------------------------------------------------------------------------------------
from .client.config import (ConfigProto, GPUOptions, GraphOptions, OptimizerOptions, RunMetadata,
                            RunOptions)
from .client.session import InteractiveSession, Session, get_default_session

# --- namespaces --------------------------------------------------------------------------------
from . import nn  # noqa: E402
from . import train  # noqa: E402
from . import initializers  # noqa: E402
from . import random  # noqa: E402
from . import math  # noqa: E402
from . import test  # noqa: E402
from . import sparse  # noqa: E402

Variable._install_operators()  # noqa: F405 - after the Tensor operators exist

__version__ = "0.1.0"
