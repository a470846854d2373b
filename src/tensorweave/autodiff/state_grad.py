"""Variable state ops are not differentiable: gradients stop at assignments and reads of refs."""
from __future__ import annotations

from .registry import NoGradient

for _t in ("Assign", "AssignAdd", "AssignSub", "ScatterUpdate", "ScatterAdd", "ScatterSub",
           "ScatterMul", "ScatterDiv", "ScatterMax", "ScatterMin", "IsVariableInitialized",
           "VariableValueOr", "CountUpTo", "ReportUninitialized", "VariableV2", "NoOp", "Const",
           "Placeholder", "Assert"):
    NoGradient(_t)

NoGradient("TestSleep")
NoGradient("TestBarrier")
NoGradient("TestHoldInterpreter")
NoGradient("_Send")
for _t in ("FIFOQueueV2", "QueueEnqueueV2", "QueueEnqueueManyV2", "QueueDequeueV2",
           "QueueDequeueManyV2", "QueueDequeueUpToV2", "QueueCloseV2", "QueueSizeV2",
           "QueueIsClosedV2", "ConditionalAccumulator", "AccumulatorApplyGradient",
           "AccumulatorTakeGradient", "AccumulatorNumAccumulated", "AccumulatorSetGlobalStep"):
    NoGradient(_t)
NoGradient("_Recv")
