"""Reading checkpoints without a graph: `list_variables`, `load_variable`, `load_checkpoint`
(TF1 `tf.train` checkpoint utilities).  A directory means its latest checkpoint."""
from __future__ import annotations

import os

from . import checkpoint_management
from .checkpoint_format import CheckpointReader

__all__ = ["NewCheckpointReader", "load_checkpoint", "list_variables", "load_variable"]


def NewCheckpointReader(filepattern) -> CheckpointReader:  # noqa: N802 - TF1 name
    """A reader of checkpoint `filepattern` (a checkpoint prefix)."""
    return CheckpointReader(os.fspath(filepattern))


def _checkpoint_prefix(ckpt_dir_or_file) -> str:
    path = os.fspath(ckpt_dir_or_file)
    if os.path.isdir(path):
        prefix = checkpoint_management.latest_checkpoint(path)
        if prefix is None:
            raise ValueError(f"Couldn't find 'checkpoint' file or checkpoints in given "
                             f"directory {path}")
        return prefix
    return path


def load_checkpoint(ckpt_dir_or_file) -> CheckpointReader:
    """A reader of the checkpoint (or of the latest checkpoint of the directory)."""
    return NewCheckpointReader(_checkpoint_prefix(ckpt_dir_or_file))


def list_variables(ckpt_dir_or_file) -> list:
    """[(name, shape)] of every tensor in the checkpoint, sorted by name."""
    shapes = load_checkpoint(ckpt_dir_or_file).get_variable_to_shape_map()
    return [(name, shapes[name]) for name in sorted(shapes)]


def load_variable(ckpt_dir_or_file, name):
    """The value (numpy array) of tensor `name` ('w' or 'w:0') in the checkpoint."""
    if name.endswith(":0"):
        name = name[:-2]
    return load_checkpoint(ckpt_dir_or_file).get_tensor(name)
