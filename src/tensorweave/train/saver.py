"""`Saver` (TF1 `tf.train.Saver`): save variables to checkpoints and restore them.

Saving fetches the variables' values with `sess.run` and writes them in tensorweave's checkpoint
format (`checkpoint_format`), then records the checkpoint in the directory's `checkpoint` state
file and deletes the oldest ones beyond `max_to_keep`.  Restoring reads the file, checks every
variable (present: else `NotFoundError`; same dtype and shape: else `InvalidArgumentError`), and
runs graph ops the Saver built once under the name scope `save/`: one placeholder and one `Assign`
(colocated with its variable) per variable, grouped into `save/restore_all`.  Because both
directions go through `Session.run`, the same Saver works wherever the variables live.

Order of a save, so that a crash at any point leaves the previous checkpoint usable: data file
(atomic) -> meta graph (atomic) -> state file (atomic) -> deletion of old checkpoints.

`import_meta_graph` adds a saved meta graph (`meta_graph.py`) to the default graph, rebuilds its
collections (Variables included) and returns a `Saver` bound to the imported restore ops.
"""
from __future__ import annotations

import os
import time

import numpy as np

from ..framework import errors
from ..framework.graph import GraphKeys, Tensor, get_collection, get_default_graph, name_scope
from ..framework.graphdef import import_graph_def
from ..ops import control_flow_ops, state_ops
from ..ops.constant_op import placeholder
from ..ops.variables import Variable
from . import checkpoint_format, checkpoint_management, training_util
from .meta_graph import MetaGraphDef, SaverDef, export_meta_graph

__all__ = ["Saver", "import_meta_graph"]


def _is_variable_ref(t) -> bool:
    return isinstance(t, Tensor) and state_ops.is_ref(t)


def _saveables(var_list) -> list:
    """[(key, Variable or ref Tensor)] sorted by key, with TF1's checks."""
    if isinstance(var_list, dict):
        items = list(var_list.items())
    else:
        items = []
        for v in var_list:
            if not isinstance(v, (Variable, Tensor)):
                raise TypeError(f"Variable to save is not a Variable: {v!r}")
            items.append((v.op.name, v))
    seen = set()
    out = []
    for key, v in items:
        if not isinstance(key, str):
            raise TypeError(f"Checkpoint keys must be strings, got {key!r}")
        if isinstance(v, Tensor) and not _is_variable_ref(v):
            raise TypeError(f"Variable to save is not a Variable: {v!r} ({v.op.type} node)")
        if not isinstance(v, (Variable, Tensor)):
            raise TypeError(f"Variable to save is not a Variable: {v!r}")
        if key in seen:
            raise ValueError(f"At least two variables have the same name: {key}")
        seen.add(key)
        out.append((key, v))
    return sorted(out, key=lambda kv: kv[0])


def _ref(v) -> Tensor:
    return v._ref() if isinstance(v, Variable) else v


class Saver:
    """Saves and restores variables (TF1 `tf.train.Saver`)."""

    def __init__(self, var_list=None, reshape=False, sharded=False, max_to_keep=5,
                 keep_checkpoint_every_n_hours=10000.0, name=None, restore_sequentially=False,
                 saver_def=None, builder=None, defer_build=False, allow_empty=False,
                 write_version=SaverDef.V2, pad_step_number=False, save_relative_paths=False,
                 filename=None):
        if defer_build and var_list:
            raise ValueError("If `var_list` is provided then build cannot be deferred. Either "
                             "set defer_build=False or var_list=None.")
        self._var_list = var_list
        self._reshape = reshape
        self._sharded = sharded
        self._max_to_keep = max_to_keep
        self._keep_checkpoint_every_n_hours = keep_checkpoint_every_n_hours
        self._name = name
        self._restore_sequentially = restore_sequentially
        self.saver_def = saver_def
        self._builder = builder
        self._allow_empty = allow_empty
        self._write_version = write_version
        self._pad_step_number = pad_step_number
        self._save_relative_paths = save_relative_paths
        self._filename = filename
        self._is_built = False
        self._is_empty = False
        self._last_checkpoints: list = []        # [(prefix, time)]
        self._checkpoints_to_be_deleted: list = []
        self._next_checkpoint_time = time.time() + keep_checkpoint_every_n_hours * 3600
        self._graph = None
        if saver_def is not None:
            self._from_saver_def(saver_def)
        elif not defer_build:
            self.build()

    # --- building ---------------------------------------------------------------------------
    def build(self) -> None:
        """Build the restore ops (done by the constructor unless `defer_build`)."""
        if self._is_built:
            return
        self._is_built = True
        graph = get_default_graph()
        self._graph = graph
        var_list = self._var_list
        if var_list is None:
            var_list = get_collection(GraphKeys.GLOBAL_VARIABLES) + get_collection(
                GraphKeys.SAVEABLE_OBJECTS)
        items = _saveables(var_list)
        if not items:
            if self._allow_empty:
                self._is_empty = True
                self.saver_def = SaverDef(max_to_keep=self._max_to_keep)
                return
            raise ValueError("No variables to save")
        tensors, prev = [], None
        with name_scope(self._name, "save") as scope:
            assigns = []
            for key, v in items:
                ref = _ref(v)
                shape = ref.shape
                ph = placeholder(ref.dtype.base_dtype, shape=shape, name="restore_value")
                deps = [prev] if self._restore_sequentially and prev is not None else []
                with graph.control_dependencies(deps), graph.colocate_with(ref):
                    assign = state_ops.assign(
                        ref, ph, validate_shape=shape.is_fully_defined(), name="Assign")
                prev = assign.op
                assigns.append(assign)
                tensors.append((key, ref.name, ph.name))
            restore = control_flow_ops.group(*assigns, name="restore_all")
        del scope
        self.saver_def = SaverDef(restore_op_name=restore.name, max_to_keep=self._max_to_keep,
                                  sharded=self._sharded,
                                  keep_checkpoint_every_n_hours=self._keep_checkpoint_every_n_hours,
                                  version=self._write_version, tensors=tensors)
        self._bind()

    def _from_saver_def(self, saver_def) -> None:
        if isinstance(saver_def, dict):
            saver_def = SaverDef.from_dict(saver_def)
        self.saver_def = saver_def
        self._max_to_keep = saver_def.max_to_keep
        self._keep_checkpoint_every_n_hours = saver_def.keep_checkpoint_every_n_hours
        self._graph = get_default_graph()
        self._is_built = True
        self._is_empty = not saver_def.tensors
        if not self._is_empty:
            self._bind()

    def _bind(self) -> None:
        """Look up the save fetches and restore feeds named by the SaverDef."""
        g = self._graph
        sd = self.saver_def
        self._keys = [k for k, _, _ in sd.tensors]
        self._save_fetches = [g.get_tensor_by_name(t) for _, t, _ in sd.tensors]
        self._restore_feeds = [g.get_tensor_by_name(p) for _, _, p in sd.tensors]
        self._restore_op = g.get_operation_by_name(sd.restore_op_name)

    def as_saver_def(self) -> SaverDef:
        return self.saver_def

    def to_proto(self, export_scope=None) -> SaverDef:
        return self.saver_def

    # --- checkpoint bookkeeping -------------------------------------------------------------
    @property
    def last_checkpoints(self) -> list:
        """The checkpoints kept by this Saver, oldest first."""
        return [p for p, _ in self._last_checkpoints]

    def set_last_checkpoints(self, last_checkpoints) -> None:
        if not isinstance(last_checkpoints, list):
            raise AssertionError(f"last_checkpoints must be a list: {last_checkpoints}")
        self._last_checkpoints = [(p, None) for p in last_checkpoints]

    def set_last_checkpoints_with_time(self, last_checkpoints_with_time) -> None:
        self._last_checkpoints = list(last_checkpoints_with_time)

    def recover_last_checkpoints(self, checkpoint_paths) -> None:
        """Adopt the existing ones of `checkpoint_paths` (after a restart), with their mtimes."""
        existing = [p for p in checkpoint_paths if checkpoint_management.checkpoint_exists(p)]
        mtimes = checkpoint_management.get_checkpoint_mtimes(existing)
        self.set_last_checkpoints_with_time(list(zip(existing, mtimes)))

    def _record_last_checkpoint(self, path) -> None:
        if not self._max_to_keep:
            return
        self._last_checkpoints = [p for p in self._last_checkpoints if p[0] != path]
        self._last_checkpoints.append((path, time.time()))
        while len(self._last_checkpoints) > self._max_to_keep:
            self._checkpoints_to_be_deleted.append(self._last_checkpoints.pop(0))

    def _maybe_delete_old_checkpoints(self, meta_graph_suffix) -> None:
        while self._checkpoints_to_be_deleted:
            path, stamp = self._checkpoints_to_be_deleted.pop(0)
            if stamp is not None and stamp > self._next_checkpoint_time:
                # keep one checkpoint every keep_checkpoint_every_n_hours
                self._next_checkpoint_time += self._keep_checkpoint_every_n_hours * 3600
                continue
            checkpoint_management.remove_checkpoint(path, self._write_version,
                                                    meta_graph_suffix)

    # --- save / restore ---------------------------------------------------------------------
    def save(self, sess, save_path, global_step=None, latest_filename=None,
             meta_graph_suffix="meta", write_meta_graph=True, write_state=True,
             strip_default_attrs=False, save_debug_info=False):
        """Save the variables to `save_path[-global_step]`; returns that prefix (None when the
        Saver has no variables)."""
        if not self._is_built:
            raise RuntimeError("`build()` should be called before save if defer_build==True")
        if not hasattr(sess, "run") or not hasattr(sess, "graph"):
            raise TypeError(f"'sess' must be a Session; {sess}")
        save_path = os.fspath(save_path)
        if latest_filename is None:
            latest_filename = "checkpoint"
        if os.path.split(latest_filename)[0]:
            raise ValueError("'latest_filename' must not contain path components")
        if global_step is not None:
            if not isinstance(global_step, (int, np.integer)):
                global_step = training_util.global_step(sess, global_step)
            step = f"{int(global_step):08d}" if self._pad_step_number else str(int(global_step))
            checkpoint_prefix = f"{save_path}-{step}"
        else:
            checkpoint_prefix = save_path
        save_dir = os.path.dirname(save_path)
        if save_dir and not os.path.isdir(save_dir):
            raise ValueError(f"Parent directory of {save_path} doesn't exist, can't save.")
        if self._is_empty:
            return None
        values = sess.run(self._save_fetches)
        checkpoint_format.write_checkpoint(checkpoint_prefix, dict(zip(self._keys, values)))
        if write_meta_graph:
            export_meta_graph(checkpoint_management.meta_graph_filename(checkpoint_prefix,
                                                                        meta_graph_suffix),
                              graph=sess.graph, saver_def=self.saver_def,
                              strip_default_attrs=strip_default_attrs)
        if write_state:
            self._record_last_checkpoint(checkpoint_prefix)
            checkpoint_management.update_checkpoint_state(
                save_dir or os.curdir, checkpoint_prefix,
                all_model_checkpoint_paths=self.last_checkpoints,
                latest_filename=latest_filename,
                save_relative_paths=self._save_relative_paths)
            self._maybe_delete_old_checkpoints(meta_graph_suffix)
        return checkpoint_prefix

    def restore(self, sess, save_path) -> None:
        """Set the variables to their values in checkpoint `save_path` (a `save` result)."""
        if self._is_empty:
            return
        if save_path is None:
            raise ValueError("Can't load save_path when it is None.")
        save_path = os.fspath(save_path)
        if not checkpoint_management.checkpoint_exists(save_path):
            raise ValueError(f"The passed save_path is not a valid checkpoint: {save_path}")
        reader = checkpoint_format.CheckpointReader(save_path)
        for key, feed in zip(self._keys, self._restore_feeds):
            dtype, shape = reader.entry(key)
            if dtype is not feed.dtype:
                raise errors.InvalidArgumentError(
                    None, None, f"tensor_name = {key}; expected dtype {feed.dtype.name} does "
                    f"not equal original dtype {dtype.name} (checkpoint {save_path})")
            want = feed.shape
            if self._reshape and want.is_fully_defined():
                ok = int(np.prod(shape, dtype=np.int64)) == want.num_elements()
            else:
                ok = want.is_compatible_with(shape)
            if not ok:
                raise errors.InvalidArgumentError(
                    None, None, f"Restoring variable {key} from checkpoint {save_path}: Assign "
                    f"requires shapes of both tensors to match. lhs shape= {want.as_list()} "
                    f"rhs shape= {list(shape)}")
        values = reader.get_tensors(self._keys)
        feed_dict = {}
        for feed, value in zip(self._restore_feeds, values):
            if self._reshape and feed.shape.is_fully_defined():
                value = value.reshape(feed.shape.as_list())
            feed_dict[feed] = value
        sess.run(self._restore_op, feed_dict)

    def export_meta_graph(self, filename=None, collection_list=None, as_text=False,
                          export_scope=None, clear_devices=False,
                          clear_extraneous_savers=False, strip_default_attrs=False,
                          save_debug_info=False):
        return export_meta_graph(filename, graph=self._graph or get_default_graph(),
                                 saver_def=self.saver_def, collection_list=collection_list,
                                 clear_devices=clear_devices,
                                 strip_default_attrs=strip_default_attrs)


def _variable_from_def(graph, d, scope):
    """A Variable wrapping already-imported ops (TF1 `Variable(variable_def=...)`)."""
    with graph.as_default():
        return Variable(variable_def=d, import_scope=scope[:-1] if scope else None)


def import_meta_graph(meta_graph_or_file, clear_devices=False, import_scope=None, **kwargs):
    """Import a meta graph into the default graph; returns its Saver (None without variables)."""
    meta = meta_graph_or_file
    if not isinstance(meta, MetaGraphDef):
        with open(meta, "rb") as f:
            meta = MetaGraphDef.FromString(f.read())
    graph = get_default_graph()
    graph_def = meta.graph_def
    if clear_devices:
        for n in graph_def.node:
            n.device = ""
    import_graph_def(graph_def, name=import_scope or "")
    scope = (import_scope + "/") if import_scope else ""
    variables = {}
    for key, items in meta.collection_def.items():
        for it in items:
            if not isinstance(it, dict) or len(it) != 1:
                raise ValueError(f"Malformed collection item in {key!r}: {it!r}")
            (kind, value), = it.items()
            if kind == "variable":
                vname = value["variable_name"]
                if vname not in variables:
                    variables[vname] = _variable_from_def(graph, value, scope)
                graph.add_to_collection(key, variables[vname])
            elif kind == "tensor":
                graph.add_to_collection(key, graph.get_tensor_by_name(scope + value))
            elif kind == "operation":
                graph.add_to_collection(key, graph.get_operation_by_name(scope + value))
            elif kind == "value":
                graph.add_to_collection(key, value)
            else:
                raise ValueError(f"Unknown collection item kind {kind!r} in {key!r}")
    sd = meta.saver_def
    if sd is not None and sd.tensors:
        if scope:
            sd = SaverDef.from_dict(dict(sd.to_dict(), restore_op_name=scope + sd.restore_op_name,
                                         tensors=[(k, scope + t, scope + p)
                                                  for k, t, p in sd.tensors]))
        return Saver(saver_def=sd)
    return Saver() if variables else None
