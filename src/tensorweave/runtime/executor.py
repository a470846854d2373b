"""The in-process executor: compiles a pruned, ordered list of nodes into one Python function.

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
* Dataflow plans: in a worker (a context with `recv_any`), a plan with `_Recv`s does not wait
  for its tensors one by one in a fixed order.  Its nodes are grouped by the set of `_Recv`s
  they depend on; the group that needs none runs first (its `_Send`s leave at once), then a loop
  takes whichever tensor arrives next and runs the nodes it completes, in plan order
  (`_emit_dataflow`).  So a node runs as soon as the tensors it needs from other devices are
  there, and a `_Send` made ready by an arrival leaves before later work of that arrival.
  Errors while waiting name the first `_Recv` still waiting.  An input may only be overwritten
  in place by a reader that runs after all its other readers in every arrival order
  (`_mark_donatable`).
* Variants: `validate=True` checks every output's dtype and shape against the graph (the test
  suite turns this on); `trace=True` records per-node start/end times for `RunMetadata` (traced
  plans run in-process, in one order).
"""
from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

import numpy as np

from ..framework import errors
from ..framework.op_registry import get_op_def
from ..framework.tensor_shape import TensorShape
from ..framework.variable_refs import ref_variable_key
from ..kernels import Backend

__all__ = ["ExecNode", "CompiledStep", "compile_step", "exec_nodes_from_ops", "translate_error"]

_plan_counter = itertools.count()


@dataclass(eq=False)
class ExecNode:
    """A node as the executor and kernel factories see it (graph-independent data)."""

    name: str
    op: str
    attr: dict
    inputs: list                 # [(producer name, output index)] data inputs, in order
    control: list                # [producer name] control inputs
    device: str = ""
    out_dtypes: list = field(default_factory=list)
    out_shapes: list = field(default_factory=list)
    source: tuple | None = None  # (file, line, function) that created the node
    ref_vars: dict = field(default_factory=dict)  # ref input position -> variable store key
    #: input position -> value, for inputs produced by Const nodes: factories may specialise on
    #: them (a reduction's axes, a reshape's shape); the value is still passed at run time.
    const_inputs: dict = field(default_factory=dict)
    #: input positions whose buffer the kernel may overwrite (set by `compile_step`): the value
    #: is a fresh buffer of this plan, not fetched, not viewed by another op, and this node is its
    #: last consumer.  A factory may then return a kernel that writes its output into it
    #: (checking at run time that it is an ndarray of the output's shape and dtype).
    donatable: frozenset = frozenset()
    #: the node's key in per-session state (stateful kernels): its name, prefixed by the
    #: enclosing function call sites when the node lives in a function body
    key: str = ""

    @property
    def input(self) -> list:
        """Input names in NodeDef form ('a', 'a:1', '^c')."""
        return ([n if i == 0 else f"{n}:{i}" for n, i in self.inputs]
                + ["^" + c for c in self.control])

    @property
    def where(self) -> str:
        if not self.source:
            return ""
        f, line, fn = self.source
        return f"{f}:{line} in {fn}"


def exec_nodes_from_ops(ops, device_of=None, fed=frozenset()) -> list[ExecNode]:
    """ExecNodes for Graph `Operation`s (kept in the given order).

    `fed`: (op name, output index) of fed tensors; a fed constant is not a constant input."""
    out = []
    for op in ops:
        refs = {}
        for pos in op.op_def.ref_inputs:
            key = ref_variable_key(op._inputs[pos].op)
            if key is None:
                raise TypeError(f"Input {pos} of {op.type} node {op.name!r} must be a variable "
                                f"(a ref), but comes from {op._inputs[pos].op.type} node "
                                f"{op._inputs[pos].op.name!r}.")
            refs[pos] = key
        out.append(ExecNode(
            name=op._name, op=op._type, attr=op._attrs,
            inputs=[(t._op._name, t._value_index) for t in op._inputs],
            control=[c._name for c in op._control_inputs],
            device=device_of(op) if device_of else op._device,
            out_dtypes=[t._dtype for t in op._outputs],
            out_shapes=[t._shape for t in op._outputs],
            source=op._source, ref_vars=refs,
            const_inputs={i: t._op._attrs["value"] for i, t in enumerate(op._inputs)
                          if t._op._op_def.is_const
                          and (t._op._name, t._value_index) not in fed}))
    return out


# ----------------------------------------------------------------------------------------------
# errors
# ----------------------------------------------------------------------------------------------
def _error_class(e: BaseException):
    if isinstance(e, errors.OpError):
        return type(e)
    if isinstance(e, MemoryError):
        return errors.ResourceExhaustedError
    if isinstance(e, NotImplementedError):
        return errors.UnimplementedError
    if isinstance(e, (ValueError, IndexError, TypeError, ZeroDivisionError, FloatingPointError,
                      KeyError, OverflowError)):
        return errors.InvalidArgumentError
    return errors.InternalError


def translate_error(e: BaseException, node: ExecNode | None, device: str):
    """An OpError for exception `e` raised by `node`'s kernel, naming node, type, device, line.

    Without a node, an `OpError` that already names one is returned as it is."""
    msg = e.message if isinstance(e, errors.OpError) else (str(e) or type(e).__name__)
    if node is None:
        if isinstance(e, errors.OpError) and e.node_def is not None:
            return e  # already names its node (a dataflow plan's wait names a _Recv)
        return _error_class(e)(None, None, msg)
    where = f", defined at {node.where}" if node.where else ""
    full = (f"{msg}\n\t [[node {node.name} (op {node.op}) on {node.device or device}{where}]]")
    err = _error_class(e)(node, node.name, full)
    return err


# ----------------------------------------------------------------------------------------------
# compilation
# ----------------------------------------------------------------------------------------------
def _own(x):
    """A copy of a fetched value that may alias variable state, a constant or a feed."""
    t = type(x)
    if t is np.ndarray:
        return x.copy()
    if t is list:  # a TensorArray's element list (variant)
        return list(x)
    return x


def _make_checker(nodes):
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
            a = v if hasattr(v, "dtype") and hasattr(v, "shape") else np.asarray(v)
            if a.dtype != dt.np and not (dt.name == "string" and a.dtype == object):
                raise errors.InternalError(
                    node, node.name,
                    f"Kernel for {node.op} node {node.name!r} output {j} has dtype "
                    f"{a.dtype}, graph says {dt.name}")
            d = get_op_def(node.op)
            if type(a) is np.ndarray and not d.may_alias and not d.is_variable:
                for k, x in enumerate(inputs):
                    if type(x) is np.ndarray and x.size and a.size and np.may_share_memory(a, x) \
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

    def __init__(self, fn, code, line_to_node, nodes, device, source, trace_names=None):
        self._fn = fn
        self._code = code
        self._line_to_node = line_to_node
        self.nodes = nodes
        self.device = device
        self.source = source
        self.trace_names = trace_names

    def __call__(self, *feeds):
        try:
            return self._fn(*feeds)
        except Exception as e:  # noqa: BLE001 - re-raised as an OpError naming the node
            err = self._translate(e)
            if err is e:
                raise  # already names its node (and keeps its own cause)
            raise err from e

    def _translate(self, e: BaseException):
        tb = e.__traceback__
        node = None
        while tb is not None:
            if tb.tb_frame.f_code is self._code:
                node = self._line_to_node.get(tb.tb_lineno)
            tb = tb.tb_next
        return translate_error(e, node, self.device)


def _mark_donatable(nodes: list[ExecNode], fetched: set, masks: list | None = None) -> None:
    """Set each node's `donatable` input positions (see `ExecNode.donatable`).

    `masks` (dataflow plans, `_recv_masks`): a node may only overwrite a buffer whose other
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


def _sources(n: ExecNode, index: dict) -> list[int]:
    """Positions in the plan of the nodes `n` reads or waits for (data and control inputs)."""
    return [index[s] for s in [s for s, _ in n.inputs] + list(n.control) if s in index]


def _recv_masks(nodes: list[ExecNode]) -> list[int]:
    """For each node, the bit set of the `_Recv`s it waits for (directly or through its
    inputs and control inputs); a `_Recv`'s own bit is its rank among the `_Recv`s."""
    index = {n.name: i for i, n in enumerate(nodes)}
    masks = [0] * len(nodes)
    bit = 0
    for i, n in enumerate(nodes):
        if n.op == "_Recv":
            masks[i] = 1 << bit
            bit += 1
            continue
        m = 0
        for j in _sources(n, index):
            m |= masks[j]
        masks[i] = m
    return masks


def _make_wait(recv_any, recv_nodes, device):
    """`wait(pending)`: take the first tensor of `pending` (rendezvous key -> `_Recv` rank) to
    arrive, remove its key, and return (rank, value).  A failure (timeout, aborted step) is
    raised naming the first `_Recv` still waiting (`recv_nodes[rank]`)."""
    def wait(pending):
        try:
            key, value = recv_any(pending)
        except Exception as e:  # noqa: BLE001 - re-raised naming a _Recv
            if isinstance(e, errors.OpError) and e.node_def is not None:
                raise
            raise translate_error(e, recv_nodes[min(pending.values())], device) from e
        rank = pending.pop(key)
        n = len(pending)
        if n > 16 and not n & (n - 1):  # at every power of two: O(1) per arrival in all
            rest = dict(pending)  # a dict keeps popped slots, which iterating it walks:
            pending.clear()       # compact it (in place: the plan holds this dict)
            pending.update(rest)
        return rank, value
    return wait


def _make_fire(units_of_group, succ_of_rank, succ_of_group):
    """`fire(rank, miss)`: count the arrival of `_Recv` `rank` and return the units it
    completes, in plan order.  A group is complete once the `_Recv`s its nodes read directly
    have arrived and the groups they read from are complete (`miss`: per group, how many of
    those it still misses, a fresh list per step), so an arrival costs work in proportion to
    the edges it completes, never to the number of `_Recv`s."""
    def fire(rank, miss):
        run = []
        todo = list(succ_of_rank[rank])
        while todo:
            g = todo.pop()
            miss[g] -= 1
            if not miss[g]:
                run += units_of_group[g]
                todo += succ_of_group[g]
        if len(run) > 1:
            run.sort()
        return run
    return fire


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
    filename = f"<tensorweave-plan-{plan_id}>"
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
    dataflow = (not trace and getattr(ctx, "recv_any", None) is not None
                and any(n.op == "_Recv" for n in nodes))
    masks = _recv_masks(nodes) if dataflow else None
    _mark_donatable(nodes, set(fetches) | fed_keys, masks)

    entries: list[tuple[int, str, list]] = []  # (node index, source line, variables it reads)
    recv_out: dict[int, str | None] = {}       # dataflow: _Recv node -> its output variable
    kernels = backend.kernels
    for i, n in enumerate(nodes):
        op_def = get_op_def(n.op)
        if op_def.is_const:
            name = f"c{i}"
            g[name] = n.attr["value"]
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
    if dataflow:
        g["__fire"] = _emit_dataflow(lines, line_to_node, nodes, entries, recv_out, masks,
                                     keep, validate)
        g["__wait"] = _make_wait(ctx.recv_any, [nodes[i] for i in recv_out], ctx.device)
    else:
        _emit_straight(lines, line_to_node, nodes, entries, keep, trace)
    ret = "(" + "".join(v + ", " for v in fetch_vars) + ")"
    if trace:
        lines.append(f"    return {ret}, __tr")
    else:
        lines.append(f"    return {ret}")
    source = "\n".join(lines) + "\n"
    if validate:
        g["__chk"] = _make_checker(nodes)
    if trace:
        g["__pc"] = time.perf_counter_ns
    code = compile(source, filename, "exec")
    exec(code, g)  # noqa: S102 - our own generated source, built from node names we created
    fn = g["__step"]
    trace_names = [nodes[i] for i, _, _ in entries] if trace else None
    return CompiledStep(fn, fn.__code__, line_to_node, nodes, ctx.device, source, trace_names)


def _last_uses(entries) -> dict:
    """variable -> position in `entries` of its last reader."""
    return {a: pos for pos, (_, _, reads) in enumerate(entries) for a in reads}


def _emit_straight(lines, line_to_node, nodes, entries, keep, trace) -> None:
    """The nodes in their order, each intermediate deleted after its last reader."""
    if trace:
        lines.append("    __tr = [__pc()]")
    dels_after: dict[int, list] = {}
    for v, last in _last_uses(entries).items():
        if v not in keep:
            dels_after.setdefault(last, []).append(v)
    for pos, (i, line, _) in enumerate(entries):
        lines.append("    " + line)
        line_to_node[len(lines)] = nodes[i]
        if trace:
            lines.append("    __tr.append(__pc())")
        if pos in dels_after:
            lines.append("    del " + ", ".join(dels_after[pos]))


def _emit_switch(lines, ind, var, cases, exhaustive) -> None:
    """A balanced tree of `if var < k` tests over `cases` [(value, emit(ind))], sorted by value,
    so choosing among n cases costs about log2(n) comparisons.  `exhaustive`: `var` is always
    one of the values (otherwise a leaf checks equality and does nothing for other values)."""
    if len(cases) == 1:
        value, emit = cases[0]
        if exhaustive:
            emit(ind)
        else:
            lines.append(f"{ind}if {var} == {value}:")
            emit(ind + "    ")
        return
    mid = len(cases) // 2
    lines.append(f"{ind}if {var} < {cases[mid][0]}:")
    _emit_switch(lines, ind + "    ", var, cases[:mid], exhaustive)
    lines.append(f"{ind}else:")
    _emit_switch(lines, ind + "    ", var, cases[mid:], exhaustive)


def _emit_dataflow(lines, line_to_node, nodes, entries, recv_out, masks, keep, validate):
    """A plan whose nodes wait for tensors of other devices (`_Recv`s), run as the tensors
    arrive rather than in one fixed order::

        <the nodes that need no _Recv>            # their _Sends leave at once
        __pend = {k3.recv_key(): 0, k9.recv_key(): 1}
        __miss = [1, 2]                           # per group: what it still misses
        while __pend:
            __s, __v = __wait(__pend)             # whichever tensor comes first
            if __s < 1:                           # a tree of tests on its rank (a leaf
                if __s == 0:                      # checks equality: a _Recv whose tensor
                    t3 = __v                      # nobody reads has no leaf)
            else:
                if __s == 1:
                    t9 = __v
            __v = None
            for __k in __fire(__s, __miss):       # the units it completes, in plan order
                if __k < 1:
                    ...                           # unit 0's nodes
                else:
                    ...

    A group is the set of nodes waiting for one set of `_Recv`s; a unit is a maximal run of
    consecutive nodes (in plan order) of one group.  The units an arrival completes run in plan
    order, which respects every dependency (a unit reads only units before it in the plan that
    wait for a subset of its `_Recv`s) and lets a `_Send` leave before later unrelated work, as
    in the in-process order.  Each arrival costs work in proportion to what it completes plus
    about log2 of the number of `_Recv`s and units (`_make_fire`, `_emit_switch`).  A variable
    read by one unit is deleted after its last reader there; one read by several units when the
    last of them has run (a counter).  Returns the `__fire` function of the plan (`_make_fire`)."""
    first = [e for e in entries if not masks[e[0]]]        # needs no _Recv: runs first
    units: list[list] = []                                  # the rest, cut into units
    for e in entries:
        if masks[e[0]]:
            if units and masks[units[-1][-1][0]] == masks[e[0]]:
                units[-1].append(e)
            else:
                units.append([e])
    readers: dict[str, set] = {}
    for u, ents in [(-1, first)] + list(enumerate(units)):
        for _, _, reads in ents:
            for a in reads:
                readers.setdefault(a, set()).add(u)
    shared = sorted(v for v, us in readers.items() if len(us) > 1 and v not in keep)
    shared_of_unit: dict[int, list] = {}
    for v in shared:
        for u in readers[v]:
            shared_of_unit.setdefault(u, []).append(v)

    def emit_unit(u, ents, ind):
        dels_after: dict[int, list] = {}
        for v, last in _last_uses(ents).items():
            if v not in keep and len(readers[v]) == 1:
                dels_after.setdefault(last, []).append(v)
        for pos, (i, line, _) in enumerate(ents):
            lines.append(ind + line)
            line_to_node[len(lines)] = nodes[i]
            if pos in dels_after:
                lines.append(ind + "del " + ", ".join(dels_after[pos]))
        for v in sorted(shared_of_unit.get(u, ())):
            lines.append(f"{ind}__n_{v} -= 1")
            lines.append(f"{ind}if not __n_{v}:")
            lines.append(f"{ind}    del {v}")

    for v in shared:
        lines.append(f"    __n_{v} = {len(readers[v])}")
    emit_unit(-1, first, "    ")

    rank = {i: masks[i].bit_length() - 1 for i in recv_out}
    units_of_group, succ_of_rank, succ_of_group, nmiss = _readiness(nodes, masks, units, rank)

    lines.append("    __pend = {" + ", ".join(f"k{i}.recv_key(): {rank[i]}" for i in recv_out)
                 + "}")
    lines.append(f"    __miss = {nmiss!r}")
    lines.append("    while __pend:")
    lines.append("        __s, __v = __wait(__pend)")

    def bind(i, v):
        def emit(ind):
            lines.append(f"{ind}{v} = __v" + (f"; __chk({i}, {v})" if validate else ""))
            line_to_node[len(lines)] = nodes[i]
        return emit
    binds = [(rank[i], bind(i, v)) for i, v in recv_out.items() if v is not None]
    if binds:
        _emit_switch(lines, "        ", "__s", binds, exhaustive=False)
    lines.append("        __v = None")
    if units:
        lines.append("        for __k in __fire(__s, __miss):")
        _emit_switch(lines, "            ", "__k",
                     [(u, lambda ind, u=u, ents=ents: emit_unit(u, ents, ind))
                      for u, ents in enumerate(units)], exhaustive=True)
    return _make_fire(units_of_group, succ_of_rank, succ_of_group)


def _readiness(nodes, masks, units, rank):
    """What `_make_fire` counts: the units grouped by the set of `_Recv`s they wait for, and
    for each `_Recv` rank and each group, the groups that read it directly (mask-0 nodes are
    always there; a constant with a control input passes on what that input waits for).
    Returns (units of each group, successors of each rank, successors of each group, how many
    predecessors each group has)."""
    group_of_mask: dict[int, int] = {}
    units_of_group: list[list] = []
    group_of_node: dict[int, int] = {}
    for u, ents in enumerate(units):
        gi = group_of_mask.setdefault(masks[ents[0][0]], len(group_of_mask))
        if gi == len(units_of_group):
            units_of_group.append([])
        units_of_group[gi].append(u)
        for e in ents:
            group_of_node[e[0]] = gi
    index = {n.name: i for i, n in enumerate(nodes)}
    passed: dict[int, set] = {}   # constants with control inputs (in plan order: no recursion)

    def direct(i) -> set:
        out = set()
        for j in _sources(nodes[i], index):
            if not masks[j]:
                continue
            if j in rank:
                out.add(("r", rank[j]))
            elif j in group_of_node:
                out.add(("g", group_of_node[j]))
            else:
                out |= passed[j]
        return out

    needs: list[set] = [set() for _ in units_of_group]
    for i in range(len(nodes)):
        if i in group_of_node:
            needs[group_of_node[i]] |= direct(i)
        elif masks[i] and i not in rank:
            passed[i] = direct(i)
    succ_of_rank: list[list] = [[] for _ in rank]
    succ_of_group: list[list] = [[] for _ in units_of_group]
    for gi, ns in enumerate(needs):
        ns.discard(("g", gi))
        for kind, x in sorted(ns):
            (succ_of_group if kind == "g" else succ_of_rank)[x].append(gi)
    return units_of_group, succ_of_rank, succ_of_group, [len(ns) for ns in needs]


# ----------------------------------------------------------------------------------------------
# functions (bodies of If / While)
# ----------------------------------------------------------------------------------------------
def prune_ops(outputs, targets=(), fed=frozenset()) -> list:
    """The ops that `outputs` (tensors) and `targets` (ops) need, in creation order.

    `fed`: (op name, output index) of tensors given from outside, whose producers need not run.
    A variable reached only through a reference (an assign's input 0) does not run either."""
    needed: dict[int, object] = {}
    stack = [t.op for t in outputs if (t.op.name, t.value_index) not in fed] + list(targets)
    while stack:
        op = stack.pop()
        if op._id in needed:
            continue
        needed[op._id] = op
        ref_pos = op._op_def.ref_inputs
        for pos, t in enumerate(op._inputs):
            if fed and (t._op._name, t._value_index) in fed:
                continue
            if pos in ref_pos and t._op._op_def.is_variable:
                continue
            stack.append(t._op)
        stack.extend(op._control_inputs)
    return [needed[i] for i in sorted(needed)]


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
