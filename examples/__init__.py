"""TF1-style example programs, ported by changing the import line only."""
