"""Control flow: `cond`, `case`, `while_loop`, and grouping (`group`, `tuple`, `no_op`).

Representation: *functional* control flow.  `cond` is one `If` node and `while_loop` one `While`
node; each holds its branches / condition / body as function attrs (`FunctionDef`: a small graph
with argument placeholders and outputs, see `framework/func_graph.py`).  TF1's alternative,
Switch/Merge/Enter/Exit/NextIteration nodes spread through the graph with frames, was not chosen:

* placement: a loop or a conditional is one node, so the placement pass puts the whole loop on one
  device by placing that node, and runs it where its variables are (no per-frame colocation);
* partitioning: everything a body reads from outside is an explicit input of the node (a
  *capture*), so a body that reads a tensor of another device is an ordinary cross-device edge:
  one Send/Recv before the loop starts, not one per iteration, and no frame crosses devices;
* execution: only the taken branch runs (the `If` kernel calls one compiled branch); a loop is a
  Python loop over a compiled body; nested control flow is a node inside a body;
* gradients: the `If`/`While` gradient builds a gradient function from the forward body and
  runs it in a gradient `If`/`While`.  The forward node is extended to also output, for every
  iteration, the body values that the gradient needs (an "accumulator" per value); the backward
  loop runs the iterations in reverse, reading iteration i's saved values, so nothing is
  recomputed (stateful ops such as dropout keep their forward values).
* serialisation: a body is a GraphDef inside the node's attrs, so graphs stay plain data.

Loop variables may be nested structures of tensors and `TensorArray`s; `shape_invariants` are
checked against each iteration's output shapes when the loop is built, with TF1's error message.
An iteration counter is always the first loop variable (it bounds `maximum_iterations` and tells
the gradient loop how many iterations to replay).  `parallel_iterations` and `swap_memory` are
accepted and ignored: iterations run one after another.
"""
from __future__ import annotations

import builtins

from ..framework import dtypes as _dtypes
from ..framework import nest
from ..framework.convert import convert_to_tensor
from ..framework.func_graph import FunctionDef, build_func_graph
from ..framework.graph import Operation, Tensor, _as_op, get_default_graph, name_scope
from ..framework.op_interfaces import ASSERT_TENSOR_SLOT
from ..framework.op_registry import register_op
from ..framework.tensor_shape import TensorShape, as_shape
from . import array_ops, math_ops
from .array_ops import identity
from .tensor_array_ops import TensorArray

__all__ = ["no_op", "group", "tuple", "with_dependencies", "cond", "case", "while_loop",
           "Assert"]


@register_op("NoOp")
def _noop_shape(op):
    return []


def no_op(name=None) -> Operation:
    """An op that does nothing; useful as a control-dependency anchor."""
    return get_default_graph().create_op("NoOp", [], None, name=name or "NoOp")


def _flatten(xs):
    for x in xs:
        if isinstance(x, (list, builtins.tuple)) and not hasattr(x, "_as_graph_element"):
            yield from _flatten(x)
        elif isinstance(x, dict):
            yield from _flatten(list(x.values()))
        else:
            yield x


def group(*inputs, name=None) -> Operation:
    """A NoOp that runs after all of `inputs` (TF1 `tf.group`)."""
    ops = [_as_op(x) for x in _flatten(inputs) if x is not None]
    with name_scope(name, "group_deps", ops) as scope:
        g = ops[0].graph if ops else get_default_graph()
        with g.control_dependencies(ops):
            return g.create_op("NoOp", [], None, name=scope)


def with_dependencies(dependencies, output_tensor, name=None):
    """`output_tensor` (through an Identity) computed only after `dependencies` have run."""
    with name_scope(name, "control_dependency", list(dependencies) + [output_tensor]) as scope:
        g = get_default_graph()
        with g.control_dependencies(dependencies):
            if isinstance(output_tensor, Operation):
                with g.control_dependencies([output_tensor]):
                    return g.create_op("NoOp", [], None, name=scope)
            return identity(output_tensor, name=scope)


def tuple(tensors, name=None, control_inputs=None):  # noqa: A001 - TF1 name
    """Tensors equal to `tensors`, each available only after all of them are computed."""
    tensors = list(tensors)
    with name_scope(name, "tuple", tensors) as scope:
        gating = [t.op if isinstance(t, Tensor) else _as_op(t) for t in tensors if t is not None]
        if control_inputs:
            gating += [_as_op(c) for c in control_inputs]
        gate = group(*gating)
        out = []
        for t in tensors:
            if t is None:
                out.append(None)
            elif isinstance(t, Tensor):
                out.append(with_dependencies([gate], t))
            else:
                out.append(with_dependencies([gate], t))
        del scope
        return out


# ----------------------------------------------------------------------------------------------
# If / While ops
# ----------------------------------------------------------------------------------------------
# If/While outputs may be their inputs (a loop that runs zero times) or values also held by a
# gradient's accumulators: `may_alias`, so no kernel overwrites them in place.
@register_op("If", required_attrs=("then_branch", "else_branch", "Tout"), may_alias=True)
def _if_shape(op):
    """Outputs: the branches' outputs, then the `intermediates` a gradient asked for (each is
    a value of one branch, `None` when the other branch ran)."""
    pred = op.inputs[0]
    if pred.dtype is not _dtypes.bool:
        raise TypeError(f"cond predicate must be a bool tensor, got {pred.dtype.name} "
                        f"({pred.name})")
    specs = list(zip(op.get_attr("Tout"), op.get_attr("output_shapes")))
    specs += [(dt, TensorShape(None)) for dt in op._attrs.get("intermediate_types", [])]
    return specs


@register_op("While", required_attrs=("cond", "body", "T", "n_loop"), may_alias=True)
def _while_shape(op):
    n = op.get_attr("n_loop")
    specs = list(zip(op.get_attr("T")[:n], op.get_attr("output_shapes")))
    specs += [(_dtypes.variant, TensorShape([]))] * len(op._attrs.get("accumulate", []))
    return specs


# ----------------------------------------------------------------------------------------------
# building bodies
# ----------------------------------------------------------------------------------------------
def _leaf_to_tensor(x, what):
    if isinstance(x, TensorArray):
        return x.handle
    if isinstance(x, Tensor):
        return x
    if x is None:
        raise ValueError(f"{what} returned None; every output must be a tensor or a value "
                         "convertible to one.")
    return convert_to_tensor(x)


def unify_captures(graphs):
    """Give each FuncGraph the same capture placeholders, in one order; returns outer tensors."""
    outer, seen = [], {}
    for g in graphs:
        for t, _ in g.captures:
            if id(t) not in seen:
                seen[id(t)] = len(outer)
                outer.append(t)
    for g in graphs:
        n_args = len(g.inputs) - len(g.captures)
        mine = {id(t): ph for t, ph in g.captures}
        caps = []
        for t in outer:
            ph = mine.get(id(t))
            if ph is None:
                ph = g.add_placeholder(t.dtype, t.shape, name="capture_unused")
            caps.append(ph)
        g.inputs = g.inputs[:n_args] + caps
        g.captures = [(t, ph) for t, ph in zip(outer, caps)]
    return outer


def _control_captures(graphs):
    out = []
    for g in graphs:
        for c in g.control_captures:
            if c not in out:
                out.append(c)
    return out


# ----------------------------------------------------------------------------------------------
# cond / case
# ----------------------------------------------------------------------------------------------
def cond(pred, true_fn=None, false_fn=None, strict=False, name=None, fn1=None, fn2=None):
    """TF1 `tf.cond`: `true_fn()` if `pred` else `false_fn()`; only the taken branch runs."""
    if fn1 is not None:
        if true_fn is not None:
            raise TypeError("cond(): true_fn and fn1 may not be set simultaneously.")
        true_fn = fn1
    if fn2 is not None:
        if false_fn is not None:
            raise TypeError("cond(): false_fn and fn2 may not be set simultaneously.")
        false_fn = fn2
    if not callable(true_fn):
        raise TypeError("true_fn must be callable.")
    if not callable(false_fn):
        raise TypeError("false_fn must be callable.")
    with name_scope(name, "cond", [pred]) as scope:
        pred = convert_to_tensor(pred)
        if pred.dtype is not _dtypes.bool:
            raise TypeError(f"pred must be a bool tensor, got {pred.dtype.name} ({pred.name})")
        if not pred.shape.is_compatible_with([]):
            raise ValueError(f"pred must be a scalar, got shape {pred.shape} ({pred.name})")
        outer = get_default_graph()
        base = scope[:-1].replace("/", "_")
        results = []
        graphs = []
        for branch, fn in (("true", true_fn), ("false", false_fn)):
            g, _, res = build_func_graph(f"{base}_{branch}", lambda fn=fn: fn(), [], outer)
            if not strict:
                res = _unpack_singleton(res)
            results.append(res)
            graphs.append(g)
        try:
            nest.assert_same_structure(results[0], results[1], check_types=False)
        except ValueError:
            raise ValueError("true_fn and false_fn arguments to tw.cond must have the same "
                             "number, type, and overall structure of return values.\n\n"
                             f"true_fn output: {results[0]!r}\nfalse_fn output: {results[1]!r}"
                             ) from None
        flat = []
        for g, res in zip(graphs, results):
            with g.as_default():
                leaves = nest.flatten(res)
                tensors = []
                for x in leaves:
                    if isinstance(x, Operation):
                        g.control_outputs.append(x)
                        tensors.append(None)
                    else:
                        tensors.append(_leaf_to_tensor(x, "cond branch"))
                g.set_outputs([t for t in tensors if t is not None])
            flat.append(leaves)
        touts, shapes = [], []
        for a, b in zip(graphs[0].outputs, graphs[1].outputs):
            if a.dtype is not b.dtype:
                raise TypeError("Outputs of true_fn and false_fn must have the same type: "
                                f"{a.dtype.name}, {b.dtype.name}")
            touts.append(a.dtype)
            shapes.append(a.shape.most_specific_compatible_shape(b.shape))
        if len(graphs[0].outputs) != len(graphs[1].outputs):
            raise ValueError("true_fn and false_fn must return the same number of tensors")
        captured = unify_captures(graphs)
        attrs = {"then_branch": FunctionDef.from_func_graph(graphs[0]),
                 "else_branch": FunctionDef.from_func_graph(graphs[1]),
                 "Tcond": pred.dtype, "Tin": [t.dtype for t in captured], "Tout": touts,
                 "output_shapes": shapes}
        op = outer.create_op("If", [pred] + captured, attrs, name=scope,
                             control_inputs=_control_captures(graphs))
        outs = iter(op.outputs)
        leaves = [op if isinstance(x, Operation) else next(outs) for x in flat[0]]
        return nest.pack_sequence_as(results[0], _wrap_arrays(flat[0], leaves))


def _unpack_singleton(x):
    if isinstance(x, (list, builtins.tuple)) and len(x) == 1 and not hasattr(x, "_fields"):
        return x[0]
    return x


def _wrap_arrays(templates, leaves):
    """Leaves that were TensorArrays in the body come back as TensorArrays of the outer graph."""
    return [tmpl._with_handle(v) if isinstance(tmpl, TensorArray) else v
            for tmpl, v in zip(templates, leaves)]


def case(pred_fn_pairs, default=None, exclusive=False, strict=False, name="case"):
    """TF1 `tf.case`: the fn of the first true predicate (all checked if `exclusive`)."""
    if isinstance(pred_fn_pairs, dict):
        pairs = list(pred_fn_pairs.items())
    else:
        pairs = list(pred_fn_pairs)
    for p in pairs:
        if not isinstance(p, builtins.tuple) or len(p) != 2 or not callable(p[1]):
            raise TypeError("pred_fn_pairs must be a list of (predicate, callable) pairs")
    if not pairs and default is None:
        raise ValueError("case needs at least one (pred, fn) pair or a default")
    with name_scope(name, "case", [p for p, _ in pairs]) as scope:
        preds = [convert_to_tensor(p) for p, _ in pairs]
        for p in preds:
            if p.dtype is not _dtypes.bool:
                raise TypeError(f"case predicates must be bool tensors, got {p.dtype.name}")
        if default is None:
            *pairs, (last_pred, last_fn) = list(zip(preds, [f for _, f in pairs]))
            default = last_fn
            preds = [p for p, _ in pairs]
        fns = [f for _, f in pairs]
        if exclusive and len(preds) > 1:
            count = math_ops.reduce_sum(math_ops.cast(array_ops.stack(preds), _dtypes.int32))
            guard = Assert(math_ops.less_equal(count, 1),
                           ["More than one condition evaluated as True but exclusive=True. "
                            "Conditions:", array_ops.stack(preds)], name="exclusive")
            preds = [with_dependencies([guard], p) for p in preds]

        def chain(i):
            if i == len(preds):
                return default()
            return cond(preds[i], fns[i], lambda: chain(i + 1), strict=strict,
                        name=f"case_{i}")
        with name_scope(scope):
            return chain(0)


# ----------------------------------------------------------------------------------------------
# while_loop
# ----------------------------------------------------------------------------------------------
def while_loop(cond, body, loop_vars, shape_invariants=None, parallel_iterations=10,
               back_prop=True, swap_memory=False, name=None, maximum_iterations=None,
               return_same_structure=False):
    """TF1 `tf.while_loop`: repeat `loop_vars = body(*loop_vars)` while `cond(*loop_vars)`."""
    if not callable(cond):
        raise TypeError("cond must be callable.")
    if not callable(body):
        raise TypeError("body must be callable.")
    if parallel_iterations < 1:
        raise TypeError("parallel_iterations must be a positive integer.")
    if not isinstance(loop_vars, (list, builtins.tuple)) or not loop_vars:
        raise ValueError("loop_vars must be a non-empty list or tuple of tensors")
    with name_scope(name, "while", [x for x in nest.flatten(loop_vars)
                                    if isinstance(x, Tensor)]) as scope:
        outer = get_default_graph()
        templates = nest.flatten(loop_vars)
        flat = [_leaf_to_tensor(x, "loop_vars") for x in templates]
        if shape_invariants is not None:
            nest.assert_same_structure(loop_vars, shape_invariants, check_types=False)
            invariants = [as_shape(s) if not isinstance(s, TensorShape) else s
                          for s in _flatten_invariants(loop_vars, shape_invariants)]
        else:
            invariants = [t.shape for t in flat]
        # a TensorArray's handle is a scalar variant whatever the invariants say (as in TF1)
        invariants = [t.shape if isinstance(tmpl, TensorArray) else inv
                      for t, tmpl, inv in zip(flat, templates, invariants)]
        for t, inv in zip(flat, invariants):
            if not inv.is_compatible_with(t.shape):
                raise ValueError(f"The shape invariant specified for {t.name} is not compatible "
                                 "with the initial shape of the loop variable. It enters the "
                                 f"loop with shape {t.shape}, but the specified shape invariant "
                                 f"is {inv}.")
        counter = convert_to_tensor(0, dtype=_dtypes.int32, name="iteration_counter")
        max_iter = None
        if maximum_iterations is not None:
            max_iter = convert_to_tensor(maximum_iterations, dtype=_dtypes.int32,
                                         name="maximum_iterations")
        specs = [(_dtypes.int32, TensorShape([]))] + [(t.dtype, inv) for t, inv in
                                                      zip(flat, invariants)]
        base = scope[:-1].replace("/", "_")

        def pack(args):
            leaves = [tmpl._with_handle(a) if isinstance(tmpl, TensorArray) else a
                      for tmpl, a in zip(templates, args)]
            return nest.pack_sequence_as(loop_vars, leaves)

        def cond_fn(i, *args):
            r = cond(*pack(args))
            r = convert_to_tensor(r)
            if r.dtype is not _dtypes.bool or not r.shape.is_compatible_with([]):
                raise TypeError(f"while_loop cond must return a scalar bool tensor, got {r}")
            if max_iter is not None:
                r = math_ops.logical_and(math_ops.less(i, max_iter), r)
            return r

        def body_fn(i, *args):
            packed = pack(args)
            res = body(*packed)
            if not nest.is_sequence(res):
                res = [res]
            try:
                nest.assert_same_structure(list(loop_vars), list(res), check_types=False)
            except ValueError:
                raise ValueError("The body of tw.while_loop must return the same structure as "
                                 f"loop_vars.\nloop_vars: {loop_vars!r}\nbody returned: {res!r}"
                                 ) from None
            outs = [_leaf_to_tensor(x, "while_loop body") for x in nest.flatten(res)]
            for t_in, t_out, inv in zip(flat, outs, invariants):
                if t_out.dtype is not t_in.dtype:
                    raise TypeError(f"Loop variable {t_in.name} enters the loop with type "
                                    f"{t_in.dtype.name}, but has type {t_out.dtype.name} after "
                                    "one iteration.")
                if not inv.is_compatible_with(t_out.shape):
                    raise ValueError(
                        f"Input tensor '{t_in.name}' enters the loop with shape "
                        f"{inv}, but has shape {t_out.shape} after one "
                        "iteration. To allow the shape to vary across iterations, use the "
                        "`shape_invariants` argument of tw.while_loop to specify a "
                        "less-specific shape.")
            return [math_ops.add(i, 1)] + outs

        cg, _, cres = build_func_graph(f"{base}_cond", cond_fn, specs, outer)
        cg.set_outputs([cres])
        bg, _, bres = build_func_graph(f"{base}_body", body_fn, specs, outer)
        bg.set_outputs(list(bres))
        captured = unify_captures([cg, bg])
        n = len(specs)
        attrs = {"cond": FunctionDef.from_func_graph(cg), "body": FunctionDef.from_func_graph(bg),
                 "T": [d for d, _ in specs] + [t.dtype for t in captured], "n_loop": n,
                 "output_shapes": [s for _, s in specs], "accumulate": [],
                 "parallel_iterations": int(parallel_iterations), "back_prop": bool(back_prop)}
        op = outer.create_op("While", [counter] + flat + captured, attrs, name=scope,
                             control_inputs=_control_captures([cg, bg]))
        result = pack(op.outputs[1:n])
        if len(loop_vars) == 1 and not return_same_structure:
            return result[0]
        return result


def _flatten_invariants(loop_vars, invariants):
    """Flatten shape invariants along loop_vars (a TensorShape is a leaf, not a sequence)."""
    out = []

    def walk(lv, inv):
        if nest.is_sequence(lv):
            kids_lv = [lv[k] for k in sorted(lv)] if isinstance(lv, dict) else list(lv)
            kids_inv = [inv[k] for k in sorted(inv)] if isinstance(inv, dict) else list(inv)
            for a, b in zip(kids_lv, kids_inv):
                walk(a, b)
        else:
            out.append(inv)
    walk(loop_vars, invariants)
    return out


# ----------------------------------------------------------------------------------------------
# Assert
# ----------------------------------------------------------------------------------------------
@register_op("Assert", stateful=True)
def _assert_shape(op):
    c = op.inputs[0]
    if c.dtype is not _dtypes.bool or not c.shape.is_compatible_with([]):
        raise ValueError(f"Assert condition must be a scalar bool tensor, got {c}")
    return []


def Assert(condition, data, summarize=None, name=None):  # noqa: N802 - TF1 name
    """TF1 `tf.Assert`: an op that fails (InvalidArgumentError showing `data`) when `condition`
    is false at run time.  String items of `data` are kept as text, others are tensors."""
    with name_scope(name, "Assert", [condition]) as scope:
        condition = convert_to_tensor(condition)
        template, tensors = [], []
        for d in data:
            if isinstance(d, str):
                template.append(d)
            else:
                template.append(ASSERT_TENSOR_SLOT)
                tensors.append(convert_to_tensor(d))
        attrs = {"summarize": int(summarize or 3), "template": template}
        return get_default_graph().create_op("Assert", [condition] + tensors, attrs, name=scope)
