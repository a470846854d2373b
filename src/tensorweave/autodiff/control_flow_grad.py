"""Gradients of `If` and `While` (functional control flow).

Both build a *gradient function* from the forward body with `gradients()` while a new FuncGraph is
the default graph.  That FuncGraph resolves the forward-body tensors the gradient reads through
its capture hook:

* a forward argument that is a capture (loop-invariant) -> the same outer tensor, captured;
* a forward constant -> a copy of the constant;
* any other forward value -> an extra output of the forward node: for `If`, the value itself (the
  gradient `If` takes the same branch, so it exists); for `While`, an *accumulator*, the list of
  that value over all iterations, from which the backward loop reads iteration `N - 1 - i`.

The forward node is extended in place (new outputs, listed in its `intermediates`/`accumulate`
attr) the first time a gradient asks for a value; cached plans are invalidated.
"""
from __future__ import annotations

from ..framework import dtypes as _dtypes
from ..framework.convert import convert_to_tensor
from ..framework.func_graph import FuncGraph, FunctionDef
from ..framework.graph import Tensor, get_default_graph
from ..framework.indexed_slices import IndexedSlices
from ..framework.tensor_shape import TensorShape
from ..ops import array_ops, math_ops
from ..ops.constant_op import constant
from ..ops.control_flow_ops import unify_captures
from ..ops.tensor_array_ops import add_n_lists, get_item, zeros_like_list
from .gradients import gradients
from .registry import RegisterGradient


def _trainable(dt) -> bool:
    return dt.is_floating or dt.is_complex or dt is _dtypes.variant


def _zeros_like(t):
    return zeros_like_list(t) if t.dtype is _dtypes.variant else array_ops.zeros_like(t)


def _add_output(op, dtype, shape) -> Tensor:
    t = Tensor(op, len(op._outputs), dtype, shape)
    op._outputs.append(t)
    op._graph._version_ctrl += 1
    return t


def _copy_constant(t):
    return constant(t.op.get_attr("value"), dtype=t.dtype)


# ----------------------------------------------------------------------------------------------
# If
# ----------------------------------------------------------------------------------------------
def _if_intermediate(op, tag: str, t: Tensor) -> Tensor:
    """The output of If node `op` carrying branch `tag`'s value `t` (added if new)."""
    key = f"{tag}:{t.name}"
    inter = op._attrs.setdefault("intermediates", [])
    types = op._attrs.setdefault("intermediate_types", [])
    n_out = len(op._attrs["Tout"])
    if key in inter:
        return op._outputs[n_out + inter.index(key)]
    inter.append(key)
    types.append(t.dtype)
    return _add_output(op, t.dtype, t.shape)


def _hook(fg: FuncGraph, gg: FuncGraph, op, arg_offset: int, resolve):
    """A capture hook for gradient graph `gg` reading forward graph `fg` of node `op`."""
    arg_index = {id(t): i for i, t in enumerate(fg.inputs)}

    def hook(t):
        if t.graph is not fg:
            return None
        i = arg_index.get(id(t))
        if i is not None and resolve.get("invariant", lambda i: False)(i):
            return gg.capture(op.inputs[arg_offset + i])
        if t.op.type == "Const":
            with gg.as_default(), gg.control_dependencies(None), gg.name_scope(None):
                return _copy_constant(t)
        return resolve["value"](t)
    return hook


@RegisterGradient("If")
def _if_grad(op, *grads):
    n_out = len(op._attrs["Tout"])
    grads = list(grads[:n_out])
    outer = get_default_graph()
    branches = (("then", op.get_attr("then_branch").graph()),
                ("else", op.get_attr("else_branch").graph()))
    arg_ts = op.inputs[1:]
    diff = [i for i, t in enumerate(arg_ts) if _trainable(t.dtype)]
    grad_graphs = []
    for tag, fg in branches:
        gg = FuncGraph(f"{fg.name}_grad", outer)

        def value(t, tag=tag, gg=gg):
            return gg.capture(_if_intermediate(op, tag, t))
        gg.capture_hook = _hook(fg, gg, op, 1, {"invariant": lambda i: True, "value": value})
        with gg.as_default():
            ys = [y for y, g in zip(fg.outputs[:n_out], grads) if g is not None]
            gys = [g for g in grads if g is not None]
            xs = [fg.inputs[i] for i in diff]
            gxs = gradients(ys, xs, grad_ys=gys) if ys else [None] * len(xs)
            gg.set_outputs([_densify(g) if g is not None else _zeros_like(x)
                            for g, x in zip(gxs, xs)])
        grad_graphs.append(gg)
    captured = unify_captures(grad_graphs)
    touts = [arg_ts[i].dtype for i in diff]
    shapes = [a.shape.most_specific_compatible_shape(b.shape)
              for a, b in zip(grad_graphs[0].outputs, grad_graphs[1].outputs)]
    attrs = {"then_branch": FunctionDef.from_func_graph(grad_graphs[0]),
             "else_branch": FunctionDef.from_func_graph(grad_graphs[1]),
             "Tcond": _dtypes.bool, "Tin": [t.dtype for t in captured], "Tout": touts,
             "output_shapes": shapes}
    gop = outer.create_op("If", [op.inputs[0]] + captured, attrs, name="If")
    result = [None] * len(op.inputs)
    for k, i in enumerate(diff):
        result[1 + i] = gop.outputs[k]
    return result


def _densify(g):
    return convert_to_tensor(g) if isinstance(g, IndexedSlices) else g


# ----------------------------------------------------------------------------------------------
# While
# ----------------------------------------------------------------------------------------------
def _while_accumulator(op, t: Tensor) -> Tensor:
    """The output of While node `op` holding the list of `t`'s values, one per iteration."""
    acc = op._attrs.setdefault("accumulate", [])
    n = op._attrs["n_loop"]
    if t.name in acc:
        return op._outputs[n + acc.index(t.name)]
    acc.append(t.name)
    return _add_output(op, _dtypes.variant, TensorShape([]))


@RegisterGradient("While")
def _while_grad(op, *grads):
    n = op._attrs["n_loop"]
    if not op._attrs.get("back_prop", True):
        return [None] * len(op.inputs)  # while_loop(back_prop=False): no gradient, as in TF1
    fg = op.get_attr("body").graph()
    m = len(op.inputs) - n
    diff = [j for j in range(1, n) if _trainable(op.inputs[j].dtype)]
    caps = [c for c in range(m) if _trainable(op.inputs[n + c].dtype)]
    shapes = op.get_attr("output_shapes")
    outer = get_default_graph()
    count = op.outputs[0]
    int32 = _dtypes.int32
    i32 = TensorShape([])

    specs = ([(int32, i32)] + [(op.inputs[j].dtype, shapes[j]) for j in diff]
             + [(op.inputs[n + c].dtype, op.inputs[n + c].shape) for c in caps])
    bg = FuncGraph(f"{fg.name}_grad", outer)
    args = [bg.add_placeholder(dt, sh, name=f"arg{k}") for k, (dt, sh) in enumerate(specs)]
    bg.inputs.extend(args)
    i_ph, dy_phs, dcap_phs = args[0], args[1:1 + len(diff)], args[1 + len(diff):]
    state = {}

    def value(t):
        lst = bg.capture(_while_accumulator(op, t))
        with bg.as_default(), bg.control_dependencies(None), bg.name_scope(None):
            if "rev" not in state:
                last = math_ops.subtract(bg.capture(count), constant(1, dtype=int32))
                state["rev"] = math_ops.subtract(last, i_ph, name="reverse_index")
            return get_item(lst, state["rev"], t.dtype, t.shape)
    bg.capture_hook = _hook(fg, bg, op, 0, {"invariant": lambda i: i >= n, "value": value})
    with bg.as_default():
        ys = [fg.outputs[j] for j in diff]
        xs = [fg.inputs[j] for j in diff] + [fg.inputs[n + c] for c in caps]
        gxs = gradients(ys, xs, grad_ys=list(dy_phs)) if ys else [None] * len(xs)
        new_dys = [_densify(g) if g is not None else _zeros_like(d)
                   for g, d in zip(gxs[:len(diff)], dy_phs)]
        new_dcaps = []
        for g, d in zip(gxs[len(diff):], dcap_phs):
            new_dcaps.append(d if g is None else _accumulate(d, _densify(g)))
        bg.set_outputs([math_ops.add(i_ph, constant(1, dtype=int32))] + new_dys + new_dcaps)

    cg = FuncGraph(f"{fg.name}_grad_cond", outer)
    cargs = [cg.add_placeholder(dt, sh, name=f"arg{k}") for k, (dt, sh) in enumerate(specs)]
    cg.inputs.extend(cargs)
    with cg.as_default():
        cg.set_outputs([math_ops.less(cargs[0], cg.capture(count))])
    captured = unify_captures([cg, bg])

    init = [constant(0, dtype=int32, name="grad_counter")]
    for j in diff:
        g = grads[j]
        init.append(_densify(g) if g is not None else _zeros_like(op.outputs[j]))
    for c in caps:
        init.append(_zeros_like(op.inputs[n + c]))
    n_loop = len(specs)
    attrs = {"cond": FunctionDef.from_func_graph(cg), "body": FunctionDef.from_func_graph(bg),
             "T": [dt for dt, _ in specs] + [t.dtype for t in captured], "n_loop": n_loop,
             "output_shapes": [sh for _, sh in specs], "accumulate": [],
             "parallel_iterations": 1, "back_prop": True}
    gop = outer.create_op("While", init + captured, attrs, name="While")
    result = [None] * len(op.inputs)
    for k, j in enumerate(diff):
        result[j] = gop.outputs[1 + k]
    for k, c in enumerate(caps):
        result[n + c] = gop.outputs[1 + len(diff) + k]
    return result


def _accumulate(total, g):
    if total.dtype is _dtypes.variant:
        return add_n_lists([total, g])
    return math_ops.add(total, g)
