"""Op definitions (shape functions, flags) and their TF1 Python wrappers, one module per family."""
