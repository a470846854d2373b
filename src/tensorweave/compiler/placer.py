"""The placement pass: every node of a step gets a full device name `/job:J/replica:R/task:T/
device:TYPE:N`, and the pass can say why.

Input: the ops of a step (creation order), the available devices, the default device, the
`allow_soft_placement` flag and `has_kernel(device_type, op_type)`.  Output: a `Placement`
(`device_of`, `explain(name)`, `log_lines()`), checked by `validate` before it is returned.

State.  A union-find over node names builds *colocation groups*; a group is placed as one unit.
Each group carries the merged device request of its members, its *candidate* devices (those that
match the request and have a kernel for every member), and once decided its device and the reason.
Members may lie outside the step: a `loc:@w` label or a ref edge can name a variable that this
step does not run (the session prunes variables reached only by reference); its device request
still binds the group, since that is where the variable's state lives.

Policy, in this order:

1. *Requests*: `op.device` (partial specs such as `/cpu:1`, `/job:ps/task:0`, `/device:GPU:*`)
   is matched field by field against the devices; a partial spec may match several.
2. *Colocation*: a group joins the `_class` labels (`loc:@name`: `colocate_with`, a variable's
   read and initializer, optimizer slots and updates, `colocate_gradients_with_ops`), every ref
   edge (an op writing a variable goes with it), every `variant` edge (a TensorList is a list of
   arrays in the process that made it), a `VariableV2` with the `Identity` that reads it,
   and a functional `If`/`While` node with the variables its bodies assign.  The members' requests
   merge; requests that clash raise `InvalidArgumentError` naming both nodes and both requests
   (with `allow_soft_placement`, a clash of device type or index drops those fields, as TF1),
   except that an op writing a variable by reference whose request clashes with the variable's
   goes to the variable, its request ignored (TF1's "Ignoring device specification ... because
   the input edge ... is a reference connection"; `explain` says so).
3. *Kernels*: a device is a candidate only if its backend has a kernel for every member (and for
   every op in the bodies of `If`/`While` members).  When no requested device qualifies, soft
   placement relaxes the request step by step (any index of the type; any device of the same
   job/replica/task; of the same job; any device) and says so; without it the error is TF1's
   "Cannot assign a device for operation ...".
4. *Choice* among several candidates:
   * a group holding a variable takes the default device when it is a candidate (else the first
     candidate by backend priority, then device order): a variable's state must stay on one
     device in every step, whatever the step's other nodes are;
   * a gradient node (made by `tw.gradients` for a forward op) goes beside its forward op when
     that device is a candidate and the forward op is not a variable's (whose gradients go by
     cost; `Graph._placement_hints`, kept in the live graph only, not in a GraphDef)
     (TF2's colocation of gradients, as a preference: the gradient of
     a layer runs where the layer ran, so a model split over devices keeps its backward pass
     split the same way, and the sums of a tensor's gradients sit where that tensor was made);
   * otherwise, walking the step in topological order, a group with inputs from other groups is
     decided where its first member comes, and goes where moving its inputs and running it
     costs least: bytes from the producers placed by then
     (static shapes; unknown dimensions count 1, unknown rank `UNKNOWN_RANK_ELEMENTS`) at
     `TRANSFER_BYTES_PER_S`, plus a compute estimate (`op_flops`) at the device type's
     `FLOPS_PER_S`.  Ties go to the device of the largest input, then the default device, then
     the backend of higher priority (GPU above CPU), then the first device in the given order;
   * a group without data inputs (constants, placeholders, `NoOp`s) goes, after the walk, to
     the device of its consumers (data or control) when they all are on one device; one without
     consumers goes with the ops it control-depends on when those are on one device (a grouping
     `NoOp` then adds no cross-device control edge); else it takes the default device.

Everything is keyed by names and walked in a fixed order, so the same inputs give the same
placement.
"""
from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..framework import dtypes as _dtypes
from ..framework import errors
from ..framework.device_spec import DeviceSpec
from ..framework.func_graph import FunctionDef
from ..framework.op_registry import get_op_def
from ..framework.variable_refs import variable_key
from ..kernels import backends

__all__ = ["Placement", "place", "validate", "default_has_kernel", "tensor_bytes", "op_flops",
           "UNKNOWN_RANK_ELEMENTS", "TRANSFER_BYTES_PER_S", "FLOPS_PER_S"]

#: Elements assumed for a tensor of unknown rank.
UNKNOWN_RANK_ELEMENTS = 16
#: Cross-device copy rate on one host (a fresh shared-memory segment, as measured here).
TRANSFER_BYTES_PER_S = 1.4e9
#: Rough arithmetic rate per device type, for the compute term of the cost.
FLOPS_PER_S = {"CPU": 2e10, "GPU": 2e12}
#: Ops the executor runs itself on any device (no kernel table entry).
RUNTIME_OPS = frozenset({"Placeholder", "_Send", "_Recv"})

_FIELDS = ("job", "replica", "task", "device_type", "device_index")
_FIELD_WORDS = {"job": "jobs", "replica": "replicas", "task": "tasks",
                "device_type": "types", "device_index": "ids"}
# Soft placement drops these request fields, one stage after the other.
_SOFT_STAGES = (("device_index",), ("device_type", "device_index"),
                ("replica", "task", "device_type", "device_index"), _FIELDS)
_MAX_LISTED = 6


# ----------------------------------------------------------------------------------------------
# estimates
# ----------------------------------------------------------------------------------------------
def _elements(t) -> int:
    dims = t.shape.as_tuple_or_none()
    if dims is None:
        return UNKNOWN_RANK_ELEMENTS
    return math.prod(1 if d is None else d for d in dims)


def tensor_bytes(t) -> int:
    """Estimated size of tensor `t` from its static shape and dtype."""
    try:
        size = int(t.dtype.size)
    except Exception:  # noqa: BLE001 - variant and other opaque dtypes: a pointer's worth
        size = 8
    return _elements(t) * size


def _dim(t, i: int) -> int:
    dims = t.shape.as_tuple_or_none()
    if not dims or len(dims) < abs(i):
        return 1
    return dims[i] or 1


def _matmul_flops(op) -> int:
    a = op._inputs[0]
    trans = op._attrs.get("transpose_a") or op._attrs.get("adj_x")
    return 2 * _dim(a, -2 if trans else -1) * _elements(op._outputs[0])


def _conv_flops(op, filt, big) -> int:
    """2 * (elements of the big activation tensor) * kh * kw * in_channels."""
    return 2 * _elements(big) * max(1, _elements(filt) // _dim(filt, -1))


_FLOPS = {
    "MatMul": _matmul_flops,
    "BatchMatMul": _matmul_flops,
    "BatchMatMulV2": _matmul_flops,
    "Conv2D": lambda op: _conv_flops(op, op._inputs[1], op._outputs[0]),
    "Conv2DBackpropInput": lambda op: _conv_flops(op, op._inputs[1], op._inputs[2]),
    "Conv2DBackpropFilter": lambda op: _conv_flops(op, op._outputs[0], op._inputs[2]),
}


def op_flops(op) -> int:
    """Estimated arithmetic of one run of `op`: a formula for the heavy ops, else one operation
    per element read or written."""
    fn = _FLOPS.get(op.type)
    if fn is not None:
        try:
            return int(fn(op))
        except (IndexError, TypeError):
            pass
    return sum(_elements(t) for t in op._inputs) + sum(_elements(t) for t in op._outputs)


# ----------------------------------------------------------------------------------------------
# kernels and devices
# ----------------------------------------------------------------------------------------------
def default_has_kernel(device_type: str, op_type: str) -> bool:
    """Whether the kernel backend of `device_type` runs `op_type` (constants, placeholders and
    Send/Recv are run by the executor itself, on every device)."""
    if op_type in RUNTIME_OPS:
        return True
    try:
        if get_op_def(op_type).is_const:
            return True
    except ValueError:
        return False
    b = backends().get(device_type.upper())
    return b is not None and op_type in b.kernels


def _priority(device_type: str) -> int:
    b = backends().get(device_type)
    return b.priority if b is not None else {"GPU": 1}.get(device_type, 0)


@dataclass(frozen=True)
class _Dev:
    name: str
    spec: DeviceSpec
    type: str
    order: int
    priority: int


def _as_devs(devices) -> list[_Dev]:
    out, seen = [], set()
    for d in devices:
        name = d if isinstance(d, str) else d.name
        spec = DeviceSpec.from_string(name)
        if any(getattr(spec, f) is None for f in _FIELDS):
            raise ValueError(f"Device {name!r} is not a full device name "
                             "(/job:J/replica:R/task:T/device:TYPE:N)")
        name = spec.to_string()
        if name in seen:
            continue
        seen.add(name)
        out.append(_Dev(name, spec, spec.device_type, len(out), _priority(spec.device_type)))
    if not out:
        raise ValueError("place() needs at least one device")
    return out


def _matches(spec: DeviceSpec | None, dev: _Dev) -> bool:
    if spec is None:
        return True
    return all(getattr(spec, f) is None or getattr(spec, f) == getattr(dev.spec, f)
               for f in _FIELDS)


def _ref_source(op):
    """The name of the variable `op` takes by reference (an assign, an optimizer update), or
    None."""
    if op is None:
        return None
    for pos in op.op_def.ref_inputs:
        if pos < len(op._inputs) and op._inputs[pos].op.op_def.is_variable:
            return op._inputs[pos].op.name
    return None


def _request(op) -> DeviceSpec | None:
    dev = getattr(op, "device", "") if op is not None else ""
    return DeviceSpec.from_string(dev) if dev else None


def _where(op) -> str:
    try:
        return f", defined at {op.source_line}"
    except Exception:  # noqa: BLE001 - imported nodes may have no source
        return ""


def _listing(names) -> str:
    names = list(names)
    more = ", ..." if len(names) > _MAX_LISTED else ""
    return ", ".join(names[:_MAX_LISTED]) + more


# ----------------------------------------------------------------------------------------------
# functional ops: what their bodies need
# ----------------------------------------------------------------------------------------------
def _function_defs(op) -> list:
    out = []
    for v in op._attrs.values():
        if isinstance(v, FunctionDef):
            out.append(v)
        elif isinstance(v, (list, tuple)):
            out += [x for x in v if isinstance(x, FunctionDef)]
    return out


class _Bodies:
    """Op types and captured variables of functional ops' bodies (recursively), cached."""

    def __init__(self):
        self._cache: dict[int, tuple[frozenset, frozenset]] = {}

    def of(self, op) -> tuple[frozenset, frozenset]:
        types, keys = set(), set()
        for fdef in _function_defs(op):
            t, k = self._of_fdef(fdef)
            types |= t
            keys |= k
        return frozenset(types), frozenset(keys)

    def _of_fdef(self, fdef) -> tuple[frozenset, frozenset]:
        hit = self._cache.get(id(fdef))
        if hit is not None:
            return hit
        self._cache[id(fdef)] = (frozenset(), frozenset())   # guards against recursion
        graph = fdef.func_graph if fdef.func_graph is not None else fdef.graph()
        types, keys = set(), set()
        for body_op in graph.get_operations():
            types.add(body_op.type)
            if body_op.op_def.is_variable:
                keys.add(variable_key(body_op.name, body_op._attrs))
            t, k = self.of(body_op)
            types |= t
            keys |= k
        hit = self._cache[id(fdef)] = (frozenset(types), frozenset(keys))
        return hit


# ----------------------------------------------------------------------------------------------
# the result
# ----------------------------------------------------------------------------------------------
@dataclass
class Placement:
    """Where each op of a step runs, and why."""

    device_of: dict                        # op name -> full device name
    devices: tuple                         # the available devices' names
    default_device: str
    groups: dict = field(default_factory=dict)     # op name -> members of its colocation group
    reasons: dict = field(default_factory=dict)    # op name -> why it went there
    types: dict = field(default_factory=dict)      # op name -> op type

    def explain(self, op_name: str) -> str:
        """`'name (Type) on /job:...: why'`."""
        if op_name not in self.device_of:
            raise KeyError(f"{op_name!r} is not part of this placement")
        return (f"{op_name} ({self.types.get(op_name, '?')}) on {self.device_of[op_name]}: "
                f"{self.reasons.get(op_name, '')}")

    def log_lines(self) -> list[str]:
        """TF1's `log_device_placement` lines, `name (Type): device`, in step order."""
        return [f"{n} ({self.types.get(n, '?')}): {d}" for n, d in self.device_of.items()]


# ----------------------------------------------------------------------------------------------
# the pass
# ----------------------------------------------------------------------------------------------
_VARIANT = _dtypes.variant


class _Group:
    __slots__ = ("members", "step_ops", "own", "spec", "spec_src", "notes",
                 "candidates", "soft_note", "device", "reason", "anchor", "types", "has_inputs",
                 "holds_variable")

    def __init__(self, members):
        self.members = members           # [(name, Operation | None)], in creation order
        self.step_ops = []               # the members this step runs
        self.spec = None                 # merged request (DeviceSpec) or None
        self.spec_src = {}               # request field -> member name that set it
        self.own = {}                    # member name -> its own request (DeviceSpec)
        self.notes = []                  # soft-placement notes about dropped requests
        self.candidates = []
        self.soft_note = ""
        self.device = None
        self.reason = ""
        self.anchor = members[0][0]
        self.types = {}                  # op type -> first member (name) of that type
        self.has_inputs = False
        self.holds_variable = False


class _Placer:
    def __init__(self, ops, devices, default_device, soft, has_kernel):
        self.ops = list(ops)
        self.devs = _as_devs(devices)
        self.soft = bool(soft)
        self._has_kernel = has_kernel or default_has_kernel
        self._kernel_cache: dict = {}
        self.default = self._resolve_default(default_device)
        self.step = {}
        for op in self.ops:
            self.step.setdefault(op.name, op)
        self.bodies = _Bodies()
        self.order = _topological(list(self.step.values()))

    # --- helpers ------------------------------------------------------------------------------
    def has_kernel(self, device_type: str, op_type: str) -> bool:
        key = (device_type, op_type)
        hit = self._kernel_cache.get(key)
        if hit is None:
            hit = self._kernel_cache[key] = bool(self._has_kernel(device_type, op_type))
        return hit

    def _resolve_default(self, default_device) -> _Dev:
        if default_device is None:        # TF1: the first device of the preferred type
            best = max(d.priority for d in self.devs)
            return next(d for d in self.devs if d.priority == best)
        name = default_device if isinstance(default_device, str) else default_device.name
        spec = DeviceSpec.from_string(name) if name else None
        for d in self.devs:
            if _matches(spec, d):
                return d
        raise ValueError(f"default device {name!r} is not one of the available devices "
                         f"[{', '.join(d.name for d in self.devs)}]")

    # --- 1-2: groups and their requests -----------------------------------------------------
    def build_groups(self) -> list[_Group]:
        parent: dict[str, str] = {}
        known: dict[str, object] = {}      # name -> Operation (None for a label naming nothing)
        graph = self.ops[0].graph if self.ops else None

        def find(x):
            parent.setdefault(x, x)
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        def union(a, b):
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)

        def lookup(name):
            if name not in known:
                op = self.step.get(name)
                if op is None and graph is not None:
                    op = graph._nodes_by_name.get(name)
                known[name] = op
                if op is not None and name not in self.step:
                    pending.append(op)    # outside the step: follow its own labels
            return known[name]

        def labels(op):
            for label in op._attrs.get("_class") or ():
                label = label.decode() if isinstance(label, bytes) else str(label)
                if label.startswith("loc:@"):
                    yield label[5:]

        var_by_key = None
        pending = []
        for op in self.step.values():
            known[op.name] = op
            find(op.name)
        for op in self.step.values():
            for other in labels(op):
                lookup(other)
                union(op.name, other)
            for pos in op.op_def.ref_inputs:
                if pos < len(op._inputs):
                    src = op._inputs[pos].op
                    lookup(src.name)
                    union(op.name, src.name)
            for t in op._inputs:
                if t.dtype is _VARIANT and t.op.name in self.step:
                    union(op.name, t.op.name)      # a TensorList lives in its process
            if op.type == "Identity" and op._inputs and op._inputs[0].op.op_def.is_variable:
                src = op._inputs[0].op
                lookup(src.name)
                union(op.name, src.name)
            if _function_defs(op):
                _, keys = self.bodies.of(op)
                if keys:
                    if var_by_key is None:
                        var_by_key = {variable_key(v.name, v._attrs): v
                                      for v in graph.get_operations() if v.op_def.is_variable}
                    for k in sorted(keys):
                        v = var_by_key.get(k)
                        if v is not None:
                            lookup(v.name)
                            union(op.name, v.name)
        while pending:
            op = pending.pop()
            for other in labels(op):
                lookup(other)
                union(op.name, other)

        def key(name):
            op = known.get(name)
            return (op._id if op is not None else math.inf, name)

        by_root: dict[str, list] = {}
        for name in sorted(known, key=key):
            by_root.setdefault(find(name), []).append((name, known[name]))
        self.group_of: dict[str, _Group] = {}
        groups = []
        for members in by_root.values():
            g = _Group(members)
            g.step_ops = [op for n, op in members if n in self.step]
            if not g.step_ops:
                continue
            for n, op in members:
                if op is not None:
                    g.types.setdefault(op.type, n)
                    for t in sorted(self.bodies.of(op)[0]):
                        g.types.setdefault(t, n)
                    if op.op_def.is_variable and not g.holds_variable:
                        g.holds_variable = True
                        g.anchor = n
            for op in g.step_ops:
                self.group_of[op.name] = g
            groups.append(g)
        for g in groups:
            if not g.holds_variable:
                g.anchor = g.step_ops[0].name
            g.has_inputs = any(self.step.get(t.op.name) is not None
                               and self.group_of.get(t.op.name) is not g
                               for op in g.step_ops for t in op._inputs)
            self._merge_requests(g)
        return groups

    def _merge_requests(self, g: _Group) -> None:
        spec, src, own = DeviceSpec(), {}, {}
        # a variable's request binds first; an op writing it by reference whose own request
        # clashes with it is moved to it, as TF1 does (its request is ignored, and said so)
        members = sorted(g.members, key=lambda m: not (m[1] is not None
                                                       and m[1].op_def.is_variable))
        for name, op in members:
            req = _request(op)
            if req is None:
                continue
            own[name] = req
            var = _ref_source(op)
            if var is not None and any(
                    getattr(req, f) is not None and getattr(spec, f) is not None
                    and getattr(req, f) != getattr(spec, f) for f in _FIELDS):
                g.notes.append(f"ignoring device specification '{req}' of {name} because its "
                               f"input edge from {var} is a reference connection and already "
                               f"has the device '{spec}'")
                continue
            for f in _FIELDS:
                v = getattr(req, f)
                if v is None:
                    continue
                cur = getattr(spec, f)
                if cur is None:
                    setattr(spec, f, v)
                    src[f] = name
                    continue
                if cur == v:
                    continue
                other = src[f]
                if self.soft and f in ("device_type", "device_index"):
                    dropped = ("device_type", "device_index") if f == "device_type" else (f,)
                    for d in dropped:
                        setattr(spec, d, None)
                        src.pop(d, None)
                    g.notes.append(f"the requests '{own[other]}' of {other} and '{req}' of {name}"
                                   f" clash in {_FIELD_WORDS[f]}; soft placement ignores both")
                    break
                a_op = dict(g.members)[other]
                hint = ("request compatible devices for them, or set allow_soft_placement=True "
                        "to let device type/index clashes be ignored"
                        if f in ("device_type", "device_index")
                        else "request the same job/replica/task for them")
                raise errors.InvalidArgumentError(
                    None, name,
                    f"Cannot colocate nodes {other!r} and {name!r}: Cannot merge devices with "
                    f"incompatible {_FIELD_WORDS[f]}: '{own[other]}' (requested by {other!r}"
                    f"{_where(a_op)}) and '{req}' (requested by {name!r}{_where(op)}). They are in "
                    f"one colocation group ({_listing(n for n, _ in g.members)}); {hint}.")
        g.spec = spec if src else None
        g.spec_src = src
        g.own = own

    # --- 3: candidates ----------------------------------------------------------------------
    def _supported(self, g: _Group, devs) -> list[_Dev]:
        return [d for d in devs if all(self.has_kernel(d.type, t) for t in g.types)]

    def candidates(self, g: _Group) -> None:
        matching = [d for d in self.devs if _matches(g.spec, d)]
        cands = self._supported(g, matching)
        if cands:
            g.candidates = cands
            return
        if not self.soft or g.spec is None:
            raise self._no_device_error(g, matching)
        problem = self._problem(g, matching)
        for drop in _SOFT_STAGES:
            spec = g.spec.copy()
            for f in drop:
                setattr(spec, f, None)
            cands = self._supported(g, [d for d in self.devs if _matches(spec, d)])
            if cands:
                g.candidates = cands
                g.soft_note = problem
                return
        raise self._no_device_error(g, matching)

    def _missing_kernel(self, g: _Group, device_type: str):
        for t, name in g.types.items():
            if not self.has_kernel(device_type, t):
                return t, name
        return None, None

    def _problem(self, g: _Group, matching) -> str:
        if not matching:
            return f"no available device matches '{g.spec}'"
        t, name = self._missing_kernel(g, matching[0].type)
        node = f" (node {name})" if len(g.members) > 1 else ""
        return f"no {matching[0].type} kernel for {t}{node}"

    def _types_with_kernel(self, op_type: str) -> list[str]:
        return sorted({d.type for d in self.devs if self.has_kernel(d.type, op_type)})

    def _no_device_error(self, g: _Group, matching) -> errors.InvalidArgumentError:
        members = dict(g.members)
        avail = ", ".join(d.name for d in self.devs)
        coloc = (f" It is in the colocation group of {g.anchor} ({_listing(members)})."
                 if len(members) > 1 else "")
        if g.spec is None or matching:
            # the requested devices exist (or nothing was requested): a kernel is missing
            types = sorted({d.type for d in (matching or self.devs)})
            for dt in types:
                t, name = self._missing_kernel(g, dt)
                if t is not None:
                    break
            op = members[name]
            has = self._types_with_kernel(t)
            if g.spec is None:
                what = (f"a kernel for {t}" if len(members) == 1
                        else f"kernels for every node of its group, {t} included")
                msg = (f"Cannot assign a device for operation {name} ({t}{_where(op)}): no "
                       f"available device has {what} ({t} has kernels for device types {has}); "
                       f"available devices are [ {avail} ].")
            else:
                who = g.spec_src.get("device_type") or next(iter(g.spec_src.values()))
                by = "" if who == name else f" (requested by {who!r}, which it is colocated with)"
                msg = (f"Cannot assign a device for operation {name} ({t}{_where(op)}): Could "
                       f"not satisfy explicit device specification '{g.spec}'{by} because no "
                       f"supported kernel for {'/'.join(types)} devices is available; {t} has "
                       f"kernels for device types {has}. Set allow_soft_placement=True to let "
                       "it fall back, or request a device type that has the kernel.")
            return errors.InvalidArgumentError(None, name, msg + coloc)
        # no device matches the request: name the member whose own request matches nothing
        own = g.own
        culprit = next((n for n, r in own.items() if not any(_matches(r, d) for d in self.devs)),
                       None)
        if culprit is None:
            culprit = g.spec_src.get("device_index") or next(iter(g.spec_src.values()))
            what = f"'{g.spec}' (the merged requests of its colocation group)"
        else:
            what = str(own[culprit])
        op = members[culprit]
        msg = (f"Cannot assign a device for operation {culprit} ({op.type}{_where(op)}): "
               f"Operation was explicitly assigned to {what} but available devices are "
               f"[ {avail} ]. Make sure the device specification refers to a valid device, or "
               "set allow_soft_placement=True.")
        return errors.InvalidArgumentError(None, culprit, msg + coloc)

    # --- 4: choice ----------------------------------------------------------------------------
    def _requested(self, g: _Group) -> str:
        if g.spec is None or g.soft_note:
            return ""
        n = len(g.candidates)
        return (f"explicitly requested {g.spec}"
                + (f" ({n} matching devices with its kernels)" if n > 1 else ""))

    def _tie_break(self, g: _Group, tied: list[_Dev], largest: _Dev | None) -> tuple[_Dev, str]:
        if len(tied) == 1:
            return tied[0], ""
        if largest is not None and largest in tied:
            return largest, "tie broken by the device of its largest input"
        if self.default in tied:
            return self.default, "tie broken by the default device"
        best = max(d.priority for d in tied)
        top = [d for d in tied if d.priority == best]
        if len(top) < len(tied):
            return top[0], f"tie broken by backend priority ({top[0].type})"
        return tied[0], "tie broken by device order"

    def decide_fixed(self, g: _Group) -> bool:
        """Groups whose device does not depend on the walk: one candidate, or a variable."""
        if len(g.candidates) == 1:
            d = g.candidates[0]
            if g.spec is not None:
                why = self._requested(g)
            elif len(self.devs) == 1:
                why = "the only available device"
            else:
                why = f"the only device with kernels for {_listing(sorted(g.types))}"
            self._set(g, d, why)
            return True
        if g.holds_variable:
            if self.default in g.candidates:
                d, how = self.default, "the default device"
            else:
                d, how = self._tie_break(g, g.candidates, None)
            req = self._requested(g)
            self._set(g, d, (req + "; " if req else "") + f"holds variable {g.anchor}, whose "
                      f"state stays on one device in every step: {how}")
            return True
        return False

    def _hinted_device(self, g: _Group) -> tuple[_Dev | None, str]:
        """The device of the op(s) the group's ops were made for (a gradient node's forward
        op, `Graph._placement_hints`) when they agree and it is a candidate."""
        hints = getattr(self.ops[0].graph, "_placement_hints", None) if self.ops else None
        if not hints:
            return None, ""
        devs, names = set(), []
        for op in g.step_ops:
            h = hints.get(op.name)
            hg = self.group_of.get(h) if h is not None else None
            if hg is None or hg.device is None or hg.holds_variable:
                # (a variable's read: the sum of its gradients is smaller than its parts, and
                # goes by cost to where they are, not to the ps)
                return None, ""
            devs.add(hg.device)
            names.append(h)
        if len(devs) != 1 or next(iter(devs)) not in g.candidates:
            return None, ""
        return next(iter(devs)), names[0]

    def decide_by_cost(self, g: _Group) -> None:
        hinted, fwd = self._hinted_device(g)
        if hinted is not None:
            self._set(g, hinted, "; ".join(x for x in (
                self._requested(g), f"beside {fwd}, the op it is the gradient of" +
                (" (colocate_gradients_with_ops would make it a constraint)")) if x))
            return
        per_dev: dict[str, int] = {}
        seen = set()
        total, largest, largest_bytes = 0, None, -1
        for op in g.step_ops:
            for t in op._inputs:
                p = self.group_of.get(t.op.name)
                if p is None or p is g or p.device is None or t.name in seen:
                    continue
                seen.add(t.name)
                b = tensor_bytes(t)
                total += b
                per_dev[p.device.name] = per_dev.get(p.device.name, 0) + b
                if b > largest_bytes:
                    largest, largest_bytes = p.device, b
        flops = sum(op_flops(op) for op in g.step_ops)
        costs = [((total - per_dev.get(d.name, 0)) / TRANSFER_BYTES_PER_S
                  + flops / FLOPS_PER_S.get(d.type, FLOPS_PER_S["CPU"]), d)
                 for d in g.candidates]
        best = min(c for c, _ in costs)
        tied = [d for c, d in costs if math.isclose(c, best, rel_tol=1e-9, abs_tol=1e-15)]
        d, how = self._tie_break(g, tied, largest)
        here = per_dev.get(d.name, 0)
        why = (f"cost: {here} of its {total} input bytes are on {d.name}" if total
               else "cost: none of its inputs is placed yet")
        speeds = {FLOPS_PER_S.get(c.type, FLOPS_PER_S["CPU"]) for c in g.candidates}
        if len(speeds) > 1:
            if FLOPS_PER_S.get(d.type, FLOPS_PER_S["CPU"]) == max(speeds):
                why += f"; its compute (~{flops} flops) runs fastest on {d.type}"
            else:
                why += (f"; moving its inputs would cost more than computing its ~{flops} flops "
                        "on a faster device saves")
        self._set(g, d, "; ".join(x for x in (self._requested(g), why, how) if x))

    def _neighbour_devices(self, g: _Group, neighbours) -> tuple[dict, list]:
        devs, names = {}, []
        for c in neighbours:
            cg = self.group_of.get(c.name)
            if cg is None or cg is g or cg.device is None:
                continue
            devs[cg.device.name] = cg.device
            names.append(c.name)
        return devs, names

    def decide_by_consumers(self, g: _Group) -> None:
        """A group without data inputs: with its consumers (data or control) when they are on
        one device; with no consumers, with the ops it waits for; else the default device."""
        devs, names = self._neighbour_devices(
            g, [c for op in g.step_ops for t in op._outputs for c in t._consumers]
            + [c for op in g.step_ops for c in op._control_outputs])
        what = "its consumers"
        if not devs:
            devs, names = self._neighbour_devices(
                g, [c for op in g.step_ops for c in op._control_inputs])
            what = "the ops it waits for"
        req = self._requested(g)
        if len(devs) == 1 and next(iter(devs.values())) in g.candidates:
            d = next(iter(devs.values()))
            why = f"no inputs; {what} ({_listing(dict.fromkeys(names))}) are on {d.name}"
        else:
            state = (f"{what} are on {len(devs)} devices" if devs
                     else "no consumers in this step")
            if self.default in g.candidates:
                d, how = self.default, "the default device"
            else:
                d, how = self._tie_break(g, g.candidates, None)
            why = f"no inputs and {state}: {how}"
        self._set(g, d, (req + "; " if req else "") + why)

    def _set(self, g: _Group, d: _Dev, why: str) -> None:
        g.device = d
        if g.soft_note:
            why = (f"soft placement: {g.soft_note}, fell back to {d.name}"
                   + (f" ({why})" if why else ""))
        if g.notes:
            why += "; " + "; ".join(g.notes)
        g.reason = why

    # --- the pass -----------------------------------------------------------------------------
    def run(self) -> Placement:
        groups = self.build_groups()
        for g in groups:
            self.candidates(g)
        for g in groups:
            self.decide_fixed(g)
        deferred, queued = [], set()
        for op in self.order:
            g = self.group_of[op.name]
            if g.device is not None:
                continue
            if not g.has_inputs:
                if id(g) not in queued:
                    queued.add(id(g))
                    deferred.append(g)
                continue
            self.decide_by_cost(g)
        for g in deferred:
            self.decide_by_consumers(g)
        device_of, reasons, types, members = {}, {}, {}, {}
        for op in self.order:
            g = self.group_of[op.name]
            device_of[op.name] = g.device.name
            types[op.name] = op.type
            names = tuple(n for n, _ in g.members)
            members[op.name] = names
            if len(names) == 1:
                reasons[op.name] = g.reason
            elif op.name == g.anchor:
                reasons[op.name] = f"{g.reason} (colocation group: {_listing(names)})"
            else:
                reasons[op.name] = (f"colocated with {g.anchor} (group of {_listing(names)}); "
                                    f"{g.reason}")
        return Placement(device_of, tuple(d.name for d in self.devs), self.default.name,
                         members, reasons, types)


def _topological(ops) -> list:
    """`ops` in a topological order (data and control edges), ties kept in the given order."""
    pos = {op.name: i for i, op in enumerate(ops)}
    indeg = [0] * len(ops)
    succ: list[list[int]] = [[] for _ in ops]
    for i, op in enumerate(ops):
        preds = {pos[t.op.name] for t in op._inputs if t.op.name in pos}
        preds |= {pos[c.name] for c in op._control_inputs if c.name in pos}
        preds.discard(i)
        indeg[i] = len(preds)
        for p in preds:
            succ[p].append(i)
    heap = [i for i, n in enumerate(indeg) if n == 0]
    heapq.heapify(heap)
    out = []
    while heap:
        i = heapq.heappop(heap)
        out.append(i)
        for j in succ[i]:
            indeg[j] -= 1
            if indeg[j] == 0:
                heapq.heappush(heap, j)
    if len(out) < len(ops):            # a cycle: keep the rest in the given order
        done = set(out)
        out += [i for i in range(len(ops)) if i not in done]
    return [ops[i] for i in out]


def place(ops: Iterable, devices: Iterable, *, default_device,
          allow_soft_placement: bool = False,
          has_kernel: Callable[[str, str], bool] | None = None) -> Placement:
    """Give every op of `ops` a full device name (see the module docstring for the rules).

    `devices`: `tensorweave.runtime.devices.Device`s or full device names; `default_device`: one
    of them (or a partial spec: the first device it matches; None: the first device of the
    highest-priority backend, GPU before CPU); `has_kernel(device_type, op_type)`
    defaults to the kernel backends' tables.  Raises `InvalidArgumentError` for requests that
    cannot be met; the result is checked with `validate` before it is returned.
    """
    placer = _Placer(ops, devices, default_device, allow_soft_placement, has_kernel)
    placement = placer.run()
    validate(placement, placer.ops, has_kernel=placer.has_kernel)
    return placement


def validate(placement: Placement, ops: Iterable, *,
             has_kernel: Callable[[str, str], bool] | None = None) -> None:
    """Check a placement: every op is on an available device that has its kernel (and kernels
    for its bodies' ops), ops writing a variable are on its device, and each `loc:@` group of the
    step is on one device.  Raises `InternalError` naming the node."""
    has_kernel = has_kernel or default_has_kernel
    avail = set(placement.devices)
    bodies = _Bodies()
    group_dev: dict[str, tuple[str, str]] = {}
    for op in ops:
        dev = placement.device_of.get(op.name)
        where = f" ({op.type}{_where(op)})"
        if dev is None:
            raise errors.InternalError(None, op.name, f"Placement error: {op.name!r}{where} "
                                       "has no device")
        if dev not in avail:
            raise errors.InternalError(None, op.name, f"Placement error: {op.name!r}{where} is "
                                       f"on {dev}, which is not an available device")
        dtype = DeviceSpec.from_string(dev).device_type
        for t in (op.type, *sorted(bodies.of(op)[0])):
            if not has_kernel(dtype, t):
                raise errors.InternalError(None, op.name, f"Placement error: {op.name!r}{where} "
                                           f"is on {dev}, which has no {dtype} kernel for {t}")
        for pos in op.op_def.ref_inputs:
            if pos < len(op._inputs):
                src = op._inputs[pos].op.name
                sdev = placement.device_of.get(src)
                if sdev is not None and sdev != dev:
                    raise errors.InternalError(
                        None, op.name, f"Placement error: {op.name!r}{where} on {dev} writes "
                        f"variable {src!r} on {sdev}")
        for label in op.colocation_groups():
            label = label.decode() if isinstance(label, bytes) else str(label)
            first = group_dev.setdefault(label, (op.name, dev))
            if first[1] != dev:
                raise errors.InternalError(
                    None, op.name, f"Placement error: {op.name!r}{where} on {dev} and "
                    f"{first[0]!r} on {first[1]} share colocation group {label}")
