"""The `checkpoint` state file and finding checkpoints (TF1 `checkpoint_management`).

The state file of a directory (default name `checkpoint`) is TF1's text format, written
atomically::

    model_checkpoint_path: "model.ckpt-3"
    all_model_checkpoint_paths: "model.ckpt-2"
    all_model_checkpoint_paths: "model.ckpt-3"

Paths are stored relative to the directory when the directory was given as a relative path (or
with `save_relative_paths`), absolute otherwise, and `get_checkpoint_state` joins relative ones
with the directory, as TF1 does.  A checkpoint `prefix` exists when its file `prefix.index` does.
"""
from __future__ import annotations

import codecs
import os
import re
import warnings

from . import checkpoint_format

__all__ = ["CheckpointState", "get_checkpoint_state", "update_checkpoint_state",
           "latest_checkpoint", "checkpoint_exists", "remove_checkpoint", "meta_graph_filename",
           "get_checkpoint_mtimes", "generate_checkpoint_state_proto"]


class CheckpointState:
    """TF1's `CheckpointState` proto: the latest checkpoint and all the ones kept."""

    def __init__(self, model_checkpoint_path: str = "", all_model_checkpoint_paths=None,
                 all_model_checkpoint_timestamps=None, last_preserved_timestamp: float = 0.0):
        self.model_checkpoint_path = model_checkpoint_path
        self.all_model_checkpoint_paths = list(all_model_checkpoint_paths or [])
        self.all_model_checkpoint_timestamps = list(all_model_checkpoint_timestamps or [])
        self.last_preserved_timestamp = last_preserved_timestamp

    def __str__(self):
        lines = [f"model_checkpoint_path: {_quote(self.model_checkpoint_path)}"]
        lines += [f"all_model_checkpoint_paths: {_quote(p)}"
                  for p in self.all_model_checkpoint_paths]
        lines += [f"all_model_checkpoint_timestamps: {t!r}"
                  for t in self.all_model_checkpoint_timestamps]
        if self.last_preserved_timestamp:
            lines.append(f"last_preserved_timestamp: {self.last_preserved_timestamp!r}")
        return "\n".join(lines) + "\n"

    def __repr__(self):
        return f"CheckpointState({self.model_checkpoint_path!r}, " \
               f"{self.all_model_checkpoint_paths!r})"

    def __eq__(self, other):
        return isinstance(other, CheckpointState) and str(self) == str(other)


def _quote(s: str) -> str:
    """A text-format string literal (printable ASCII kept, everything else octal-escaped)."""
    out = []
    for b in s.encode("utf-8"):
        c = chr(b)
        if c in "\"\\":
            out.append("\\" + c)
        elif 32 <= b < 127:
            out.append(c)
        else:
            out.append(f"\\{b:03o}")
    return '"' + "".join(out) + '"'


_LINE = re.compile(r'^\s*(\w+)\s*:\s*(?:"((?:[^"\\]|\\.)*)"|([-+0-9.eE]+|inf|nan))\s*$')


def _parse_state(text: str, path: str) -> CheckpointState | None:
    st = CheckpointState()
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _LINE.match(line)
        if m is None:
            warnings.warn(f"{path}:{lineno}: unreadable checkpoint state line {line!r}",
                          stacklevel=3)
            return None
        key, s, num = m.groups()
        if s is not None:
            s = codecs.escape_decode(s.encode("utf-8"))[0].decode("utf-8", "replace")
        if key == "model_checkpoint_path" and s is not None:
            st.model_checkpoint_path = s
        elif key == "all_model_checkpoint_paths" and s is not None:
            st.all_model_checkpoint_paths.append(s)
        elif key == "all_model_checkpoint_timestamps" and num is not None:
            st.all_model_checkpoint_timestamps.append(float(num))
        elif key == "last_preserved_timestamp" and num is not None:
            st.last_preserved_timestamp = float(num)
        else:
            warnings.warn(f"{path}:{lineno}: unknown checkpoint state field {key!r}",
                          stacklevel=3)
            return None
    return st


def _state_path(checkpoint_dir, latest_filename) -> str:
    return os.path.join(checkpoint_dir, latest_filename or "checkpoint")


def generate_checkpoint_state_proto(save_dir, model_checkpoint_path,
                                    all_model_checkpoint_paths=None,
                                    all_model_checkpoint_timestamps=None,
                                    last_preserved_timestamp=None) -> CheckpointState:
    """A CheckpointState with the latest path last in the list (paths relative to a relative
    `save_dir`)."""
    paths = list(all_model_checkpoint_paths or [])
    if not paths or paths[-1] != model_checkpoint_path:
        paths.append(model_checkpoint_path)
    if not os.path.isabs(save_dir):
        if not os.path.isabs(model_checkpoint_path):
            model_checkpoint_path = os.path.relpath(model_checkpoint_path, save_dir)
        paths = [p if os.path.isabs(p) else os.path.relpath(p, save_dir) for p in paths]
    return CheckpointState(model_checkpoint_path, paths, all_model_checkpoint_timestamps,
                           last_preserved_timestamp or 0.0)


def update_checkpoint_state(save_dir, model_checkpoint_path, all_model_checkpoint_paths=None,
                            latest_filename=None, all_model_checkpoint_timestamps=None,
                            last_preserved_timestamp=None, save_relative_paths=False) -> None:
    """Atomically (re)write the state file of `save_dir`."""
    if save_relative_paths:
        model_checkpoint_path = (os.path.relpath(model_checkpoint_path, save_dir)
                                 if os.path.isabs(model_checkpoint_path)
                                 else model_checkpoint_path)
        all_model_checkpoint_paths = [os.path.relpath(p, save_dir) if os.path.isabs(p) else p
                                      for p in all_model_checkpoint_paths or []]
    ckpt = generate_checkpoint_state_proto(save_dir, model_checkpoint_path,
                                           all_model_checkpoint_paths,
                                           all_model_checkpoint_timestamps,
                                           last_preserved_timestamp)
    path = _state_path(save_dir, latest_filename)
    if os.path.normpath(path) == os.path.normpath(os.path.join(save_dir,
                                                               ckpt.model_checkpoint_path)):
        raise RuntimeError(f"Save path '{model_checkpoint_path}' conflicts with path used for "
                           "checkpoint state.  Please use a different save path.")
    checkpoint_format.atomic_write(path, [str(ckpt).encode("utf-8")])


def get_checkpoint_state(checkpoint_dir, latest_filename=None) -> CheckpointState | None:
    """The CheckpointState of `checkpoint_dir`, or None when there is no (readable) state file."""
    checkpoint_dir = os.fspath(checkpoint_dir)
    path = _state_path(checkpoint_dir, latest_filename)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        warnings.warn(f"{path}: checkpoint state file is not text", stacklevel=2)
        return None
    ckpt = _parse_state(text, path)
    if ckpt is None:
        return None
    if not ckpt.model_checkpoint_path:
        warnings.warn(f"{path}: invalid checkpoint state (no model_checkpoint_path)",
                      stacklevel=2)
        return None
    if not os.path.isabs(ckpt.model_checkpoint_path):
        ckpt.model_checkpoint_path = os.path.join(checkpoint_dir, ckpt.model_checkpoint_path)
    ckpt.all_model_checkpoint_paths = [
        p if os.path.isabs(p) else os.path.join(checkpoint_dir, p)
        for p in ckpt.all_model_checkpoint_paths]
    return ckpt


def checkpoint_exists(checkpoint_prefix) -> bool:
    """Whether the checkpoint `checkpoint_prefix` (e.g. a `save` result) is on disk."""
    return os.path.isfile(checkpoint_format.checkpoint_file(os.fspath(checkpoint_prefix)))


def latest_checkpoint(checkpoint_dir, latest_filename=None) -> str | None:
    """The prefix of the newest checkpoint recorded in `checkpoint_dir`, if its file exists."""
    ckpt = get_checkpoint_state(checkpoint_dir, latest_filename)
    if ckpt and ckpt.model_checkpoint_path and checkpoint_exists(ckpt.model_checkpoint_path):
        return ckpt.model_checkpoint_path
    if ckpt and ckpt.model_checkpoint_path:
        warnings.warn(f"Couldn't match files for checkpoint {ckpt.model_checkpoint_path}",
                      stacklevel=2)
    return None


def meta_graph_filename(checkpoint_filename, meta_graph_suffix="meta") -> str:
    """`model.ckpt-123` -> `model.ckpt-123.meta`."""
    basename = re.sub(r"-[\d\?]+-of-\d+$", "", os.fspath(checkpoint_filename))
    return ".".join([basename, meta_graph_suffix])


def remove_checkpoint(checkpoint_prefix, checkpoint_format_version=2,
                      meta_graph_suffix="meta") -> None:
    """Delete the files of one checkpoint (data and meta graph); missing ones are ignored."""
    for path in (checkpoint_format.checkpoint_file(checkpoint_prefix),
                 meta_graph_filename(checkpoint_prefix, meta_graph_suffix)):
        try:
            os.remove(path)
        except FileNotFoundError:
            pass


def get_checkpoint_mtimes(checkpoint_prefixes) -> list:
    """Modification times of the checkpoints that exist."""
    return [os.path.getmtime(checkpoint_format.checkpoint_file(p)) for p in checkpoint_prefixes
            if checkpoint_exists(p)]
