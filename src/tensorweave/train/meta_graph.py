"""Meta graphs (`prefix.meta`): the GraphDef plus collections and the SaverDef, as msgpack.

`export_meta_graph` writes {"format", "version", "graph_def", "saver_def", "collections"} where a
collection is a list of items, each `{"variable": {...}}` (the names of a Variable's ops, as TF1's
VariableDef), `{"tensor": name}`, `{"operation": name}` or a plain string/number; items of other
kinds are left out, as TF1 does.  `import_meta_graph` adds the graph to the default graph, rebuilds
the collections (Variables included) and returns a `Saver` bound to the imported restore ops.
Nothing read executes code.
"""
from __future__ import annotations

import msgpack

from ..framework.graph import Operation, Tensor, get_default_graph
from ..framework.graphdef import GraphDef, import_graph_def, unpack
from ..ops.variables import Variable
from . import checkpoint_format
from .saver import Saver, SaverDef

__all__ = ["MetaGraphDef", "export_meta_graph", "import_meta_graph"]

_FORMAT = "tensorweave.MetaGraphDef"
_VERSION = 1


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
