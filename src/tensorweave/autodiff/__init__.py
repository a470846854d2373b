"""Reverse-mode differentiation by graph extension: the gradient table and `gradients`."""
