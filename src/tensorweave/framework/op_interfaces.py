"""What an op's definition and its kernels must agree on, kept below both.

Ops (`ops/`, `train/`) and kernels (`kernels/`) never import each other, so the facts both read
live here: the input layout of the fused optimizer updates (`train/training_ops.py` defines the
ops, `kernels/cpu/training.py` runs them) and the marker of a tensor's place in an `Assert`'s
message template (`ops/control_flow_ops.py` writes it, `kernels/cpu/control.py` reads it).
"""
from __future__ import annotations

__all__ = ["TRAINING_SIGNATURES", "ASSERT_TENSOR_SLOT"]

#: op type -> (input names, number of leading ref inputs, name of the gradient input, sparse?)
TRAINING_SIGNATURES = {
    "ApplyGradientDescent": (("var", "alpha", "delta"), 1, "delta", False),
    "ApplyMomentum": (("var", "accum", "lr", "grad", "momentum"), 2, "grad", False),
    "SparseApplyMomentum": (("var", "accum", "lr", "grad", "indices", "momentum"), 2, "grad",
                            True),
    "ApplyAdam": (("var", "m", "v", "beta1_power", "beta2_power", "lr", "beta1", "beta2",
                   "epsilon", "grad"), 3, "grad", False),
    "SparseApplyAdam": (("var", "m", "v", "beta1_power", "beta2_power", "lr", "beta1", "beta2",
                         "epsilon", "grad", "indices"), 3, "grad", True),
    "ApplyRMSProp": (("var", "ms", "mom", "lr", "rho", "momentum", "epsilon", "grad"), 3, "grad",
                     False),
    "SparseApplyRMSProp": (("var", "ms", "mom", "lr", "rho", "momentum", "epsilon", "grad",
                            "indices"), 3, "grad", True),
    "ApplyCenteredRMSProp": (("var", "mg", "ms", "mom", "lr", "rho", "momentum", "epsilon",
                              "grad"), 4, "grad", False),
    "SparseApplyCenteredRMSProp": (("var", "mg", "ms", "mom", "lr", "rho", "momentum", "epsilon",
                                    "grad", "indices"), 4, "grad", True),
    "ApplyAdagrad": (("var", "accum", "lr", "grad"), 2, "grad", False),
    "SparseApplyAdagrad": (("var", "accum", "lr", "grad", "indices"), 2, "grad", True),
}

#: an `Assert` template item standing for the next data tensor (other items are text)
ASSERT_TENSOR_SLOT = "\x00tensor"
