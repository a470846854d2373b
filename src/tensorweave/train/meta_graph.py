"""Meta graphs (`prefix.meta`): the GraphDef plus collections and the SaverDef, as msgpack.

`export_meta_graph` writes {"format", "version", "graph_def", "saver_def", "collections"} where a
collection is a list of items, each `{"variable": {...}}` (the names of a Variable's ops, as TF1's
VariableDef), `{"tensor": name}`, `{"operation": name}` or a plain string/number; items of other
kinds are left out, as TF1 does.  `SaverDef` is the saver part: the names of a Saver's ops.
Reading one back (`import_meta_graph`, which returns a Saver) is in `saver.py`, as in TF1.
Nothing read executes code.
"""
from __future__ import annotations

import msgpack

from ..framework.graph import Operation, Tensor, get_default_graph
from ..framework.graphdef import GraphDef, unpack
from ..ops.variables import Variable
from . import checkpoint_format

__all__ = ["MetaGraphDef", "SaverDef", "export_meta_graph"]

_FORMAT = "tensorweave.MetaGraphDef"
_VERSION = 1


class SaverDef:
    """TF1's `SaverDef`: what a Saver needs to find its ops again (e.g. after import)."""

    V1, V2 = 1, 2

    def __init__(self, filename_tensor_name="", save_tensor_name="", restore_op_name="",
                 max_to_keep=5, sharded=False, keep_checkpoint_every_n_hours=10000.0,
                 version=V2, tensors=None):
        self.filename_tensor_name = filename_tensor_name
        self.save_tensor_name = save_tensor_name
        self.restore_op_name = restore_op_name
        self.max_to_keep = max_to_keep
        self.sharded = sharded
        self.keep_checkpoint_every_n_hours = keep_checkpoint_every_n_hours
        self.version = version
        #: [(checkpoint key, variable tensor name, restore placeholder name or "")]
        self.tensors = list(tensors or [])

    def to_dict(self) -> dict:
        return dict(vars(self), tensors=[list(t) for t in self.tensors])

    @classmethod
    def from_dict(cls, d: dict) -> SaverDef:
        if not isinstance(d, dict) or set(d) - set(vars(cls())):
            raise ValueError(f"Malformed SaverDef {str(d)[:80]!r}")
        sd = cls(**d)
        if not all(isinstance(t, (list, tuple)) and len(t) == 3
                   and all(isinstance(x, str) for x in t) for t in sd.tensors):
            raise ValueError("Malformed SaverDef tensor list")
        sd.tensors = [tuple(t) for t in sd.tensors]
        return sd


class MetaGraphDef:
    """A graph with its collections and saver (TF1 `MetaGraphDef`)."""

    def __init__(self, graph_def=None, saver_def=None, collection_def=None):
        self.graph_def = graph_def if graph_def is not None else GraphDef()
        self.saver_def = saver_def
        self.collection_def = dict(collection_def or {})

    def SerializeToString(self) -> bytes:  # noqa: N802 - TF1 name
        return msgpack.packb({
            "format": _FORMAT, "version": _VERSION, "graph_def": self.graph_def.to_dict(),
            "saver_def": self.saver_def.to_dict() if self.saver_def is not None else None,
            "collections": self.collection_def}, use_bin_type=True)

    @classmethod
    def FromString(cls, data: bytes) -> MetaGraphDef:  # noqa: N802 - TF1 name
        d = unpack(data, "MetaGraphDef")
        if not isinstance(d, dict) or d.get("format") != _FORMAT:
            raise ValueError("Not a serialised tensorweave MetaGraphDef")
        if not isinstance(d.get("version"), int) or d["version"] > _VERSION:
            raise ValueError(f"MetaGraphDef version {d.get('version')!r} is not supported")
        cols = d.get("collections") or {}
        if not isinstance(cols, dict) or not all(isinstance(v, list) for v in cols.values()):
            raise ValueError("Malformed MetaGraphDef collections")
        sd = d.get("saver_def")
        return cls(GraphDef.from_dict(d.get("graph_def")),
                   SaverDef.from_dict(sd) if sd is not None else None, cols)


def _encode_item(item):
    if isinstance(item, Variable):
        return {"variable": {"variable_name": item.name,
                             "initializer_name": item.initializer.name,
                             "snapshot_name": item.value().name,
                             "initial_value_name": item.initial_value.name,
                             "trainable": bool(item.trainable)}}
    if isinstance(item, Tensor):
        return {"tensor": item.name}
    if isinstance(item, Operation):
        return {"operation": item.name}
    if isinstance(item, (str, bytes, int, float, bool)):
        return {"value": item}
    return None


def export_meta_graph(filename=None, meta_info_def=None, graph_def=None, saver_def=None,
                      collection_list=None, as_text=False, graph=None, export_scope=None,
                      clear_devices=False, clear_extraneous_savers=False,
                      strip_default_attrs=False, save_debug_info=False, **kwargs):
    """A MetaGraphDef of `graph` (default graph), written atomically to `filename` if given."""
    graph = graph or get_default_graph()
    if graph_def is None:
        graph_def = graph.as_graph_def()
    if clear_devices:
        for n in graph_def.node:
            n.device = ""
    keys = graph.get_all_collection_keys() if collection_list is None else collection_list
    cols = {}
    for key in keys:
        if not isinstance(key, str):
            continue
        items = [_encode_item(x) for x in graph.get_collection(key)]
        items = [x for x in items if x is not None]
        if items:
            cols[key] = items
    meta = MetaGraphDef(graph_def, saver_def, cols)
    if filename is not None:
        checkpoint_format.atomic_write(str(filename), [meta.SerializeToString()])
    return meta
