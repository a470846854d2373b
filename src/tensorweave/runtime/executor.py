"""The executor: compiles a pruned, ordered list of `ExecNode`s into one Python function.

State and policy
----------------
* Input: `ExecNode`s in a topological order (the graph's creation order), already pruned to what
  the fetches and targets need; the fed tensors; the fetched tensors.
* Compilation happens once per plan.  Each node's kernel factory is called once (stateful kernels
  once per session, shared through the `KernelContext`), `Const` values are bound as constants, and
  the whole step is emitted as straight-line Python source::

      def __step(f0, f1):
          t1 = k1(f0, f1)
          t2 = k2(t1, c0)
          del t1                   # t1's last consumer has run: its buffer is freed now
          return (t2,)

  so running a node costs one call of its kernel and nothing else: no queue, no dict of values,
  no per-node bookkeeping.  Each intermediate is deleted right after its last consumer.
* Errors: a kernel that raises is found from the traceback's line number in the generated code,
  and the error is re-raised as an `OpError` naming the node, its op type, device and the user's
  source line that created it.
* Dataflow plans: in a worker (a context with `recv_any`), a plan with `_Recv`s runs what each
  arriving tensor enables (`runtime/dataflow.py` writes that part of the source).  An input may
  only be overwritten in place by a reader that runs after all its other readers in every
  arrival order (`_mark_donatable`).
* Sends: in a runtime that can send several tensors as one message (`ctx.begin_sends`), a run
  of `_Send`s with only cheap nodes between them leaves as one message per peer
  (`dataflow.send_runs`).
* Variants: `validate=True` checks every output's dtype and shape against the graph (the test
  suite turns this on); `trace=True` compiles a `TracedStep`, whose kernels (and, in a dataflow
  plan, its waits for `_Recv`s) are wrapped to record each node's start and end
  (`time.perf_counter_ns`) and its outputs' bytes, for `RunMetadata.step_stats`.  The source is
  the same as untraced, so a traced step runs in the same (dataflow) order; untraced plans carry
  no timing code at all.
"""
from __future__ import annotations

import itertools
import threading
import time

import numpy as np

from ..compiler.exec_nodes import ExecNode, exec_nodes_from_ops
from ..compiler.prune import prune_ops
from ..framework import errors
from ..framework.op_registry import get_op_def
from ..framework.tensor_shape import TensorShape
from ..kernels import Backend
from .dataflow import emit_dataflow, emit_entries, last_uses, make_wait, recv_masks
from .kernel_errors import PLAN_FILE_PREFIX, register_plan, translate_error

__all__ = ["CompiledStep", "TracedStep", "compile_step", "compile_function"]

_plan_counter = itertools.count()


# ----------------------------------------------------------------------------------------------
# compilation
# ----------------------------------------------------------------------------------------------
def _own(x):
    """A copy of a fetched value that may alias variable state, a constant or a feed: device
    arrays, host arrays (strings are host arrays on every device type) and TensorArray lists
    all have `copy()`; scalars are values."""
    copy = getattr(x, "copy", None)
    return x if copy is None else copy()


def _make_checker(nodes, backend: Backend):
    """`check(i, values, inputs)`: node i's kernel returned `values` of the graph's dtypes and
    shapes, as arrays of its backend (numpy scalars pass: both backends take them), sharing no
    memory with an input unless the op may alias or the input was donated."""
    array_type = backend.allocator.array_type
    may_share = backend.array_module.may_share_memory

    def check(i, values, inputs=()):
        node = nodes[i]
        if len(node.out_dtypes) == 1:
            values = (values,)
        if values is None or len(values) != len(node.out_dtypes):
            raise errors.InternalError(node, node.name,
                                       f"Kernel for {node.op} returned "
                                       f"{0 if values is None else len(values)} "
                                       f"outputs, expected {len(node.out_dtypes)}")
        for j, (v, dt, shp) in enumerate(zip(values, node.out_dtypes, node.out_shapes)):
            if v is None or dt.name == "variant":
                continue
            if dt.name != "string" and not isinstance(v, (array_type, np.generic)):
                raise errors.InternalError(
                    node, node.name, f"Kernel for {node.op} node {node.name!r} output {j} is a "
                    f"{type(v).__module__}.{type(v).__name__}, not an array of the "
                    f"{backend.device_type} backend ({array_type.__name__})")
            a = v if hasattr(v, "dtype") and hasattr(v, "shape") else np.asarray(v)
            if a.dtype != dt.np and not (dt.name == "string" and a.dtype == object):
                raise errors.InternalError(
                    node, node.name,
                    f"Kernel for {node.op} node {node.name!r} output {j} has dtype "
                    f"{a.dtype}, graph says {dt.name}")
            d = get_op_def(node.op)
            if isinstance(a, array_type) and not d.may_alias and not d.is_variable:
                for k, x in enumerate(inputs):
                    if isinstance(x, array_type) and x.size and a.size and may_share(a, x) \
                            and k not in node.donatable:
                        raise errors.InternalError(
                            node, node.name, f"Kernel for {node.op} node {node.name!r} returned "
                            f"output {j} sharing memory with input {k}; register the op "
                            "may_alias=True or return a fresh array")
            if not d.is_variable and \
                    not shp.is_compatible_with(TensorShape(a.shape)):
                # (a variable may legally change shape through assign(validate_shape=False))
                raise errors.InternalError(
                    node, node.name,
                    f"Kernel for {node.op} node {node.name!r} output {j} has shape "
                    f"{a.shape}, graph says {shp}")
    return check


class CompiledStep:
    """A compiled plan: call it with the feed values, get the fetched values back (a tuple)."""

    traced = False

    def __init__(self, fn, code, line_to_node, nodes, device, source):
        self._fn = fn
        self._code = code
        self._line_to_node = line_to_node
        self.nodes = nodes
        self.device = device
        self.source = source

    def __call__(self, *feeds):
        try:
            return self._fn(*feeds)
        except Exception as e:  # noqa: BLE001 - re-raised as an OpError naming the node
            err = self._translate(e)
            if err is e:
                raise  # already names its node (and keeps its own cause)
            raise err from e

    def node_at(self, line: int):
        """The node whose kernel runs at `line` of the generated source, or None."""
        return self._line_to_node.get(line)

    def _translate(self, e: BaseException):
        tb = e.__traceback__
        node = None
        while tb is not None:
            if tb.tb_frame.f_code is self._code:
                node = self._line_to_node.get(tb.tb_lineno)
            tb = tb.tb_next
        return translate_error(e, node, self.device)


class TracedStep(CompiledStep):
    """A compiled plan that also records what each node did: `step(*feeds) -> (fetched values,
    records)`, one record per node run, in the order they ran: `(node index in self.nodes,
    start ns, end ns, (bytes of each output, ...))`, times of `time.perf_counter_ns` (a
    dataflow `_Recv`'s record spans the wait that ended with its tensor: zero when it was
    already there).  Steps may run on several threads at once: each records its own list."""

    traced = True

    def __init__(self, *args, records: threading.local):
        super().__init__(*args)
        self._records = records

    def __call__(self, *feeds):
        rec = self._records.rec = []
        try:
            return super().__call__(*feeds), rec
        finally:
            self._records.rec = None


def _nbytes(v) -> int:
    n = getattr(v, "nbytes", None)
    return n if type(n) is int else 0  # (TensorArray lists, variants: not an array)


def _timed_kernel(fn, i: int, nout: int, records: threading.local, pc=time.perf_counter_ns):
    """Kernel `fn` of node `i` (with `nout` outputs), recording (i, start, end, out bytes)."""
    def timed(*args):
        t0 = pc()
        out = fn(*args)
        t1 = pc()
        sizes = () if nout == 0 else (_nbytes(out),) if nout == 1 else tuple(
            _nbytes(v) for v in out)
        records.rec.append((i, t0, t1, sizes))
        return out
    return timed


def _timed_wait(wait, recv_index: list, records: threading.local, pc=time.perf_counter_ns):
    """A dataflow plan's `__wait`, recording for the `_Recv` whose tensor it returns (rank r:
    node `recv_index[r]`) the span of the wait and the tensor's bytes."""
    def timed(pending):
        t0 = pc()
        rank, value = wait(pending)
        records.rec.append((recv_index[rank], t0, pc(), (_nbytes(value),)))
        return rank, value
    return timed


def _mark_donatable(nodes: list[ExecNode], fetched: set, masks: list | None = None) -> None:
    """Set each node's `donatable` input positions (see `ExecNode.donatable`).

    `masks` (dataflow plans, `recv_masks`): a node may only overwrite a buffer whose other
    consumers always run before it whatever order the tensors arrive in: those that wait for a
    subset of the `_Recv`s it waits for."""
    fresh: dict = {}
    consumers: dict = {}
    defs = [get_op_def(n.op) for n in nodes]
    for i, (n, d) in enumerate(zip(nodes, defs)):
        owns = not (d.is_const or d.may_alias or d.is_variable or d.ref_inputs)
        for j in range(len(n.out_dtypes)):
            fresh[(n.name, j)] = owns
        for pos, key in enumerate(n.inputs):
            if pos not in n.ref_vars:
                consumers.setdefault(key, []).append((i, pos))
    for i, (n, d) in enumerate(zip(nodes, defs)):
        if d.stateful and not d.ref_inputs:
            n.donatable = frozenset()  # kernels with their own state are shared across plans
            continue
        don = []
        for pos, key in enumerate(n.inputs):
            if pos in n.ref_vars or not fresh.get(key) or key in fetched:
                continue
            cs = consumers[key]
            if cs[-1] != (i, pos) or sum(1 for c, _ in cs if c == i) != 1:
                continue
            if any(defs[c].may_alias for c, _ in cs if c != i):  # another op keeps a view
                continue
            if masks is not None and any(masks[c] | masks[i] != masks[i] for c, _ in cs):
                continue
            don.append(pos)
        n.donatable = frozenset(don)


def compile_step(nodes: list[ExecNode], feeds: list[tuple], fetches: list[tuple],
                 ctx, backend: Backend, *, validate: bool = False,
                 trace: bool = False, key_prefix: str = "") -> CompiledStep:
    """Compile `nodes` (ordered, pruned) into a `CompiledStep`.

    `feeds`: (node name, output index) of each fed tensor, in argument order.
    `fetches`: (node name, output index) of each fetched tensor, in result order.
    `key_prefix`: prefixes node names in session state (nodes of a function body).
    """
    if ctx.compile_function is None:  # how the kernels of functional ops compile their bodies
        ctx.compile_function = lambda fdef, prefix, extra_outputs=(): compile_function(
            fdef, ctx, prefix, extra_outputs=extra_outputs)
    for n in nodes:
        n.key = key_prefix + n.name
    plan_id = next(_plan_counter)
    filename = f"{PLAN_FILE_PREFIX}{plan_id}>"
    g: dict = {"__own": _own}
    var_of: dict[tuple, str] = {}
    alias: dict[tuple, bool] = {}
    for i, key in enumerate(feeds):
        var_of[key] = f"f{i}"
        alias[key] = True  # a fed array is the caller's: views of it are copied on fetch

    # which outputs are consumed or fetched (unconsumed outputs are not bound to names)
    used: set = set(fetches)
    for n in nodes:
        for pos, key in enumerate(n.inputs):
            if pos not in n.ref_vars:
                used.add(key)

    fed_keys = set(feeds)
    # dataflow: a worker's plan with _Recvs runs what each arriving tensor enables
    dataflow = (getattr(ctx, "recv_any", None) is not None
                and any(n.op == "_Recv" for n in nodes))
    masks = recv_masks(nodes) if dataflow else None
    _mark_donatable(nodes, set(fetches) | fed_keys, masks)

    entries: list[tuple[int, str, list]] = []  # (node index, source line, variables it reads)
    recv_out: dict[int, str | None] = {}       # dataflow: _Recv node -> its output variable
    kernels = backend.kernels
    for i, n in enumerate(nodes):
        op_def = get_op_def(n.op)
        if op_def.is_const:
            name = f"c{i}"
            value = n.attr["value"]  # a host array: the plan holds it in device memory
            g[name] = value if backend.allocator.on_host else backend.allocator.to_device(value)
            var_of[(n.name, 0)] = name
            alias[(n.name, 0)] = True
            continue
        factory = kernels.get(n.op)
        if factory is None:
            raise errors.UnimplementedError(
                n, n.name, f"No {backend.device_type} kernel registered for op {n.op!r} "
                f"(node {n.name!r}{', defined at ' + n.where if n.where else ''}).")
        try:
            if op_def.stateful:
                # one kernel per node and session (random streams continue across plans);
                # ref-writing kernels keep no state of their own and may differ by donation
                key = (n.key, n.donatable) if n.donatable else n.key
                with ctx.lock:
                    fn = ctx.stateful_kernels.get(key)
                    if fn is None:
                        fn = ctx.stateful_kernels[key] = factory(n, ctx)
            else:
                fn = factory(n, ctx)
        except Exception as e:  # noqa: BLE001 - named and re-raised
            raise translate_error(e, n, ctx.device) from e
        kname = f"k{i}"
        g[kname] = fn
        args = []
        in_alias = bool(op_def.is_variable or (op_def.may_alias and op_def.ref_inputs))
        for pos, key in enumerate(n.inputs):
            if pos in n.ref_vars:
                continue
            try:
                v = var_of[key]
            except KeyError:
                raise errors.InternalError(n, n.name, f"Plan error: input {key} of node "
                                           f"{n.name!r} is not computed before it") from None
            args.append(v)
            if op_def.may_alias and alias.get(key):
                in_alias = True
        nout = len(n.out_dtypes)
        outs = []
        for j in range(nout):
            key = (n.name, j)
            if key in used and key not in fed_keys:  # a fed output keeps the fed value
                vn = f"t{i}" if nout == 1 else f"t{i}_{j}"
                var_of[key] = vn
                alias[key] = in_alias
                outs.append(vn)
            else:
                outs.append("__u")
        if dataflow and n.op == "_Recv":
            recv_out[i] = None if outs[0] == "__u" else outs[0]
            continue  # its tensor is taken by the wait loop
        call = f"{kname}({', '.join(args)})"
        if nout == 0 or all(o == "__u" for o in outs):
            line = call
            if validate and nout:
                line = f"__o = {call}; __chk({i}, __o, ({''.join(a + ', ' for a in args)}))"
        elif nout == 1:
            line = f"{outs[0]} = {call}"
            if validate:
                line += f"; __chk({i}, {outs[0]}, ({''.join(a + ', ' for a in args)}))"
        else:
            if validate:
                line = (f"__o = {call}; __chk({i}, __o, ({''.join(a + ', ' for a in args)})); "
                        f"{', '.join(outs)}, = __o")
            else:
                line = f"{', '.join(outs)}, = {call}"
            if "__u" in outs:
                line += "; del __u"
        entries.append((i, line, [a for a in args if a[0] == "t"]))

    fetch_vars = []
    for key in fetches:
        v = var_of.get(key)
        if v is None:
            raise errors.InternalError(None, None, f"Plan error: fetched tensor {key} is not "
                                       "computed by the plan")
        fetch_vars.append(f"__own({v})" if alias.get(key) else v)
    keep = {v for v in var_of.values() if v in fetch_vars or f"__own({v})" in fetch_vars}

    lines = ["def __step(" + ", ".join(f"f{i}" for i in range(len(feeds))) + "):"]
    line_to_node: dict[int, ExecNode] = {}
    # a runtime that can send several tensors as one message (a worker's)
    batch = getattr(ctx, "begin_sends", None) is not None
    if batch:
        g["__sb"], g["__sf"] = ctx.begin_sends, ctx.flush_sends
    if dataflow:
        g["__fire"] = emit_dataflow(lines, line_to_node, nodes, entries, recv_out, masks,
                                     keep, validate, batch)
        g["__wait"] = make_wait(ctx.recv_any, [nodes[i] for i in recv_out], ctx.device)
    else:
        _emit_straight(lines, line_to_node, nodes, entries, keep, batch)
    ret = "(" + "".join(v + ", " for v in fetch_vars) + ")"
    lines.append(f"    return {ret}")
    source = "\n".join(lines) + "\n"
    if validate:
        g["__chk"] = _make_checker(nodes, backend)
    records = None
    if trace:  # the same source, its kernels and waits timed
        records = threading.local()
        for i, _, _ in entries:
            g[f"k{i}"] = _timed_kernel(g[f"k{i}"], i, len(nodes[i].out_dtypes), records)
        if dataflow:
            g["__wait"] = _timed_wait(g["__wait"], list(recv_out), records)
    code = compile(source, filename, "exec")
    exec(code, g)  # noqa: S102 - our own generated source, built from node names we created
    fn = g["__step"]
    args = (fn, fn.__code__, line_to_node, nodes, ctx.device, source)
    step = TracedStep(*args, records=records) if trace else CompiledStep(*args)
    register_plan(filename, step)
    return step


def _emit_straight(lines, line_to_node, nodes, entries, keep, batch) -> None:
    """The nodes in their order, each intermediate deleted after its last reader."""
    dels_after: dict[int, list] = {}
    for v, last in last_uses(entries).items():
        if v not in keep:
            dels_after.setdefault(last, []).append(v)
    emit_entries(lines, line_to_node, nodes, entries, "    ", dels_after, batch)


# ----------------------------------------------------------------------------------------------
# functions (bodies of If / While)
# ----------------------------------------------------------------------------------------------
def compile_function(fdef, ctx, key_prefix: str, *, extra_outputs=()):
    """A callable running function `fdef` (a FunctionDef): `f(*args) -> tuple of outputs`.

    `extra_outputs`: names of more tensors of the body to return after its outputs (the
    intermediates a gradient needs).  Placeholders of the body are fed the arguments, in order.
    """
    graph = fdef.graph()
    ins = [graph.get_tensor_by_name(n) for n in fdef.input_names]
    outs = [graph.get_tensor_by_name(n) for n in list(fdef.output_names) + list(extra_outputs)]
    targets = [graph.get_operation_by_name(n) for n in fdef.control_output_names]
    in_keys = {(t.op.name, t.value_index) for t in ins}
    ops = [op for op in prune_ops(outs, targets) if (op.name, 0) not in in_keys]
    for op in ops:
        if op.type == "Placeholder":
            raise errors.InvalidArgumentError(
                None, op.name, f"Function {fdef.name!r} uses placeholder {op.name!r}, which is "
                "not one of its arguments")
    nodes = exec_nodes_from_ops(ops)
    step = compile_step(nodes, [(t.op.name, t.value_index) for t in ins],
                        [(t.op.name, t.value_index) for t in outs], ctx, ctx.backend,
                        validate=ctx.validate, key_prefix=key_prefix)
    return step
