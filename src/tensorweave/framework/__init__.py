"""The graph itself: dtypes, shapes, Graph/Operation/Tensor, the op registry, GraphDef, function
bodies, conversion of Python values, composite tensors and errors."""
