"""`Session` and `InteractiveSession`: the client's entry point to running graphs.

`Session.run(fetches, feed_dict)` maps a nested fetch structure to graph elements, then looks up the
*plan* for this (fetches, feed keys) signature -- built once: pruned to what the fetches need,
checked (unfed placeholders, devices), compiled by the executor -- and calls it.  The hot path is:
one dict lookup, one converter call per feed, the compiled step, and rebuilding the fetch
structure.  Variables and random streams live in the session's `KernelContext`, so they persist
across `run` calls and across plans, and are dropped by `close()`.
"""
from __future__ import annotations

import collections
import os
import sys
import threading
import time
import weakref

import numpy as np

from ..framework import dtypes as _dtypes
from ..framework import errors
from ..framework.device_spec import DeviceSpec
from ..framework.graph import Graph, Operation, Tensor, get_default_graph
from ..kernels import get_backend
from ..kernels.context import KernelContext
from ..runtime.executor import compile_step, exec_nodes_from_ops, prune_ops
from .config import (ConfigProto, DeviceStepStats, NodeExecStats, RunMetadata, StepStats)

__all__ = ["Session", "InteractiveSession", "BaseSession", "get_default_session",
           "register_session_run_conversion_functions"]

LOCAL_DEVICE = "/job:localhost/replica:0/task:0/device:CPU:0"
_CHECK_KERNELS = os.environ.get("TENSORWEAVE_CHECK_KERNELS", "") == "1"

# ----------------------------------------------------------------------------------------------
# default session
# ----------------------------------------------------------------------------------------------
_tls = threading.local()


def _session_stack() -> list:
    st = getattr(_tls, "stack", None)
    if st is None:
        st = _tls.stack = []
    return st


def get_default_session():
    """The innermost `with sess.as_default()` session of this thread, or None."""
    st = _session_stack()
    return st[-1] if st else None


def _clear_default_sessions() -> None:
    st = _session_stack()
    st[:] = [s for s in st if not isinstance(s, InteractiveSession)]


def _run_using_default_session(fetches, feed_dict, graph, session=None):
    if session is None:
        session = get_default_session()
        if session is None:
            raise ValueError("Cannot evaluate tensor using `eval()`: No default session is "
                             "registered. Use `with sess.as_default()` or pass an explicit "
                             "session to `eval(session=sess)`")
    if session.graph is not graph:
        raise ValueError("Cannot use the given session to evaluate tensor: the tensor's graph is "
                         "different from the session's graph.")
    return session.run(fetches, feed_dict)


# ----------------------------------------------------------------------------------------------
# fetch structures
# ----------------------------------------------------------------------------------------------
_CONVERSIONS: list = []  # (type, fetch_fn(obj) -> (list, contract_fn), feed_fn(obj, value))


def register_session_run_conversion_functions(tensor_type, fetch_function, feed_function=None,
                                              feed_function_for_partial_run=None) -> None:
    """Teach `Session.run` to fetch/feed a composite type (IndexedSlices, SparseTensor, ...).

    `fetch_function(obj) -> (list_of_fetches, contract(values) -> result)`;
    `feed_function(obj, value) -> [(tensor, value), ...]`.
    """
    _CONVERSIONS.append((tensor_type, fetch_function, feed_function))


def _is_namedtuple(x) -> bool:
    return isinstance(x, tuple) and hasattr(x, "_fields")


def _freeze(fetches):
    """A hashable key describing a nested fetch structure."""
    t = type(fetches)
    if t is list or t is tuple:
        return (t, tuple(_freeze(f) for f in fetches))
    if isinstance(fetches, dict):
        return (t, tuple((k, _freeze(v)) for k, v in fetches.items()))
    if _is_namedtuple(fetches):
        return (t, tuple(_freeze(f) for f in fetches))
    if fetches is None:
        raise TypeError(f"Fetch argument None has invalid type {type(None)}")
    return fetches


def _to_result(v):
    if type(v) is np.ndarray and v.ndim == 0:
        return v[()]
    return v


class _FetchMapper:
    """Flattens a fetch structure to graph elements and rebuilds results in its shape."""

    def __init__(self, graph: Graph, fetches):
        self.graph = graph
        self.elements: list = []      # unique Tensors/Operations, in first-seen order
        self._index: dict = {}
        self.rebuild = self._build(fetches)

    def _leaf(self, f):
        try:
            el = self.graph.as_graph_element(f, allow_tensor=True, allow_operation=True)
        except TypeError as e:
            raise TypeError(f"Fetch argument {f!r} has invalid type {type(f)}, must be a string "
                            f"or Tensor. ({e})") from None
        except ValueError as e:
            raise ValueError(f"Fetch argument {f!r} cannot be interpreted as a Tensor. ({e})") \
                from None
        except KeyError as e:
            raise ValueError(f"Fetch argument {f!r} cannot be interpreted as a Tensor. "
                             f"({e.args[0]})") from None
        i = self._index.get(el)
        if i is None:
            i = self._index[el] = len(self.elements)
            self.elements.append(el)
        if isinstance(el, Operation):
            return lambda vals: None
        return lambda vals: _to_result(vals[i])

    def _build(self, f):
        if f is None:
            raise TypeError(f"Fetch argument None has invalid type {type(None)}")
        for typ, fetch_fn, _ in _CONVERSIONS:
            if isinstance(f, typ):
                subs, contract = fetch_fn(f)
                fns = [self._build(s) for s in subs]
                return lambda vals: contract([fn(vals) for fn in fns])
        if isinstance(f, (Tensor, Operation, str)) or hasattr(f, "_as_graph_element"):
            return self._leaf(f)
        if _is_namedtuple(f):
            fns = [self._build(x) for x in f]
            typ = type(f)
            return lambda vals: typ(*[fn(vals) for fn in fns])
        if isinstance(f, (list, tuple)):
            fns = [self._build(x) for x in f]
            typ = type(f)
            return lambda vals: typ([fn(vals) for fn in fns])
        if isinstance(f, dict):
            items = [(k, self._build(v)) for k, v in f.items()]
            typ = type(f)
            if typ is collections.defaultdict:
                return lambda vals: collections.defaultdict(
                    f.default_factory, [(k, fn(vals)) for k, fn in items])
            return lambda vals: typ([(k, fn(vals)) for k, fn in items])
        return self._leaf(f)


# ----------------------------------------------------------------------------------------------
# feeds
# ----------------------------------------------------------------------------------------------
def _shape_str(shape) -> str:
    return str(shape) if shape.ndims is not None else "<unknown>"


def _convert_feed(v, t: Tensor) -> np.ndarray:
    dt = t.dtype
    if isinstance(v, Tensor) or hasattr(v, "_as_graph_element"):
        raise TypeError(f"The value of a feed cannot be a tw.Tensor object (feeding {t.name!r}). "
                        "Acceptable feed values include Python scalars, strings, lists, numpy "
                        "ndarrays.")
    if dt is _dtypes.string:
        from ..framework.convert import to_numpy_constant
        try:
            return to_numpy_constant(v, _dtypes.string)
        except (TypeError, ValueError) as e:
            raise ValueError(f"Cannot feed value {v!r} for Tensor {t.name!r} of dtype string: "
                             f"{e}") from None
    try:
        a = np.asarray(v)
    except (ValueError, TypeError) as e:
        raise ValueError(f"Cannot feed value of type {type(v).__name__} for Tensor {t.name!r} "
                         f"of dtype {dt.name}: {e}") from None
    k = a.dtype.kind
    if k in "OSUV":
        raise ValueError(f"Cannot feed value {_short(v)} of type {type(v).__name__} (numpy dtype "
                         f"{a.dtype}) for Tensor {t.name!r}, which has dtype {dt.name}.")
    tk = dt.np.kind
    if tk in "iu" and k in "fc" and a.size and not np.all(np.mod(a.real, 1) == 0):
        raise ValueError(f"Cannot feed non-integer values {_short(v)} for Tensor {t.name!r} of "
                         f"dtype {dt.name}.")
    if tk in "fiub" and k == "c":
        raise ValueError(f"Cannot feed complex values for Tensor {t.name!r} of dtype {dt.name}.")
    if tk in "iu" and k in "iu" and a.size:
        info = np.iinfo(dt.np)
        if a.min() < info.min or a.max() > info.max:
            raise ValueError(f"Feed values {_short(v)} out of range for Tensor {t.name!r} of "
                             f"dtype {dt.name}.")
    return a.astype(dt.np, copy=False)


def _short(v) -> str:
    r = repr(v)
    return r if len(r) < 60 else r[:57] + "..."


def _feed_converter(t: Tensor):
    npdt = t.dtype.np
    shape = t.shape
    full = tuple(shape.as_list()) if shape.is_fully_defined() else None
    dims = shape.as_tuple_or_none()
    name = t.name

    def bad_shape(s):
        return ValueError(f"Cannot feed value of shape {s} for Tensor {name!r}, which has shape "
                          f"{_shape_str(shape)!r}")

    if full is not None:
        def conv(v):
            a = v if type(v) is np.ndarray and v.dtype == npdt else _convert_feed(v, t)
            if a.shape != full:
                raise bad_shape(a.shape)
            return a
    elif dims is not None:
        nd = len(dims)
        known = [(i, d) for i, d in enumerate(dims) if d is not None]

        def conv(v):
            a = v if type(v) is np.ndarray and v.dtype == npdt else _convert_feed(v, t)
            s = a.shape
            if len(s) != nd:
                raise bad_shape(s)
            for i, d in known:
                if s[i] != d:
                    raise bad_shape(s)
            return a
    else:
        def conv(v):
            return v if type(v) is np.ndarray and v.dtype == npdt else _convert_feed(v, t)
    return conv


# ----------------------------------------------------------------------------------------------
# plans
# ----------------------------------------------------------------------------------------------
class _Plan:
    """Everything `run` needs for one (fetches, feed keys) signature."""

    __slots__ = ("step", "convs", "rebuild", "single", "version", "fetch_pos", "trace",
                 "nodes")

    def __call__(self, feed_values):
        if self.convs:
            args = [c(v) for c, v in zip(self.convs, feed_values)]
            out = self.step(*args)
        else:
            out = self.step()
        return out

    def feed_args(self, feed_values) -> list:
        return [c(v) for c, v in zip(self.convs, feed_values)]


class _ExpandingPlan(_Plan):
    """A plan with a composite feed key (a SparseTensor): each converter returns the list of
    its key's component values, flattened into the step's arguments.  Plain-feed plans keep
    `_Plan.__call__`, so their cost is unchanged."""

    __slots__ = ()

    def feed_args(self, feed_values) -> list:
        return [a for c, v in zip(self.convs, feed_values) for a in c(v)]

    def __call__(self, feed_values):
        return self.step(*self.feed_args(feed_values))


def _composite_feed_fn(key):
    """The registered feed function for a composite feed key, or None for a plain one."""
    for typ, _, feed_fn in _CONVERSIONS:
        if feed_fn is not None and isinstance(key, typ):
            return feed_fn
    return None


def _group_converters(convs, groups) -> list:
    """One converter per feed key, each returning a list (one value for a plain key)."""
    out, i = [], 0
    for g in groups:
        if g is None:
            out.append(lambda v, c=convs[i]: (c(v),))
            i += 1
        else:
            key, feed_fn, n = g
            out.append(_expanding_converter(key, feed_fn, convs[i:i + n]))
            i += n
    return out


def _expanding_converter(key, feed_fn, convs):
    """A feed converter for composite `key`: its value split into component values."""
    def conv(v):
        pairs = feed_fn(key, v)
        if len(pairs) != len(convs):
            raise ValueError(f"Feeding {key!r} gave {len(pairs)} component values; "
                             f"expected {len(convs)}.")
        return [c(x) for c, (_, x) in zip(convs, pairs)]
    return conv


def _device_ok(dev: str) -> bool:
    if not dev:
        return True
    s = DeviceSpec.from_string(dev)
    return (s.job in (None, "localhost") and s.replica in (None, 0) and s.task in (None, 0)
            and s.device_type in (None, "CPU") and s.device_index in (None, 0))


class BaseSession:
    """Common implementation of `Session` and `InteractiveSession`."""

    def __init__(self, target: str = "", graph: Graph | None = None,
                 config: ConfigProto | None = None):
        if graph is None:
            graph = get_default_graph()
        if not isinstance(graph, Graph):
            raise TypeError(f"graph must be a tw.Graph, but got {type(graph).__name__}")
        if config is not None and not isinstance(config, ConfigProto):
            raise TypeError(f"config must be a tw.ConfigProto, but got {type(config).__name__}")
        self._graph = graph
        self._config = config if config is not None else ConfigProto()
        self._target = target or ""
        self._closed = False
        self._plans: dict = {}
        self._lock = threading.RLock()
        self._ctx = KernelContext(LOCAL_DEVICE)
        self._ctx.validate = _CHECK_KERNELS
        self._ctx.backend = get_backend("CPU")
        self._backend = get_backend("CPU")
        self._logged_placement: set = set()
        self._default_ctx = None
        if self._config.intra_op_parallelism_threads:
            _limit_blas_threads(self._config.intra_op_parallelism_threads)
        self._master = None
        if target not in ("", None, "local"):
            from ..runtime.master import Master
            self._master = Master.connect(target, self._config)
        elif _wants_workers(self._config):
            from ..runtime.master import Master
            self._master = Master.local(self._config)

    # --- properties -------------------------------------------------------------------------
    @property
    def graph(self) -> Graph:
        return self._graph

    @property
    def graph_def(self):
        return self._graph.as_graph_def()

    @property
    def sess_str(self) -> str:
        return self._target

    def list_devices(self):
        if self._master is not None:
            return [_DeviceAttributes(d.name, d.device_type, d.memory_limit_bytes,
                                      d.incarnation) for d in self._master.devices]
        import psutil
        return [_DeviceAttributes(LOCAL_DEVICE, "CPU", psutil.virtual_memory().total, 1)]

    # --- context management -----------------------------------------------------------------
    def as_default(self):
        return _DefaultSessionContext(self)

    def __enter__(self):
        if self._default_ctx is None:
            self._default_ctx = (self._graph.as_default(), self.as_default())
            self._default_ctx[0].__enter__()
            self._default_ctx[1].__enter__()
        return self

    def __exit__(self, exc_type, exc, tb):
        if self._default_ctx is not None:
            g, s = self._default_ctx
            self._default_ctx = None
            s.__exit__(exc_type, exc, tb)
            g.__exit__(exc_type, exc, tb)
        self.close()

    def close(self) -> None:
        """Release the session's state (variables, plans)."""
        if not self._closed:
            self._closed = True
            self._plans.clear()
            self._ctx.reset()
            if self._master is not None:
                self._master.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    # --- running ----------------------------------------------------------------------------
    def run(self, fetches, feed_dict=None, options=None, run_metadata=None):
        """Run the graph to compute `fetches` (a nested structure) with `feed_dict` values."""
        if self._closed:
            raise RuntimeError("Attempted to use a closed Session.")
        fkey = tuple(feed_dict) if feed_dict else ()
        t = type(fetches)
        key = (fetches if t is Tensor or t is Operation or t is str else _freeze(fetches), fkey)
        trace = options is not None and (options.trace_level or options.output_partition_graphs)
        if trace:
            key = key + ("trace",)
        plan = self._plans.get(key)
        if plan is None or plan.version != self._graph._version_ctrl:
            plan = self._build_plan(key, fetches, feed_dict, bool(trace))
        vals = feed_dict.values() if feed_dict else ()
        if self._master is not None and options is not None:
            return self._run_distributed(plan, vals, options, run_metadata)
        if trace:
            return self._run_traced(plan, vals, options, run_metadata)
        out = plan(vals)
        if plan.single:
            return _to_result(out[0]) if plan.fetch_pos is not None else None
        return plan.rebuild(self._positions(plan, out))

    @staticmethod
    def _positions(plan, out):
        if plan.fetch_pos is None:
            return out
        return [None if p is None else out[p] for p in plan.fetch_pos]

    def _run_traced(self, plan, vals, options, run_metadata):
        start = time.time()
        out, stamps = plan.step(*plan.feed_args(vals))
        if run_metadata is not None:
            if not isinstance(run_metadata, RunMetadata):
                raise TypeError("run_metadata must be a tw.RunMetadata")
            t0 = stamps[0]
            stats = []
            for node, (a, b) in zip(plan.step.trace_names, zip(stamps, stamps[1:])):
                stats.append(NodeExecStats(
                    node_name=node.name, op_type=node.op,
                    all_start_micros=int(start * 1e6 + (a - t0) / 1e3),
                    op_start_rel_micros=0, op_end_rel_micros=(b - a) // 1000,
                    all_end_rel_micros=(b - a) // 1000,
                    timeline_label=f"{node.name} = {node.op}()"))
            if options.trace_level:
                run_metadata.step_stats = StepStats(dev_stats=[DeviceStepStats(
                    device=LOCAL_DEVICE, node_stats=stats)])
            if options.output_partition_graphs:
                from ..framework.graphdef import GraphDef, NodeDef
                run_metadata.partition_graphs = [GraphDef([
                    NodeDef(n.name, n.op, n.input, n.device or LOCAL_DEVICE, n.attr)
                    for n in plan.step.nodes])]
        if plan.single:
            return _to_result(out[0]) if plan.fetch_pos is not None else None
        return plan.rebuild(self._positions(plan, out))

    def _build_plan(self, key, fetches, feed_dict, trace: bool) -> _Plan:
        with self._lock:
            graph = self._graph
            version = graph._version_ctrl
            mapper = _FetchMapper(graph, fetches)
            feed_tensors = []
            groups = []  # per feed key: None (plain) or (key, feed_fn, its component count)
            for k, v in (feed_dict or {}).items():
                feed_fn = _composite_feed_fn(k)
                subs = [k] if feed_fn is None else [t for t, _ in feed_fn(k, v)]
                groups.append(None if feed_fn is None else (k, feed_fn, len(subs)))
                for sub in subs:
                    try:
                        ft = graph.as_graph_element(sub, allow_tensor=True,
                                                    allow_operation=False)
                    except (TypeError, ValueError, KeyError) as e:
                        msg = e.args[0] if e.args else str(e)
                        raise TypeError(f"Cannot interpret feed_dict key as Tensor: {msg}") \
                            from None
                    feed_tensors.append(ft)
            fed = {}
            for i, ft in enumerate(feed_tensors):
                if (ft.op.name, ft.value_index) in fed and any(groups):
                    raise ValueError(f"Tensor {ft.name!r} is fed twice in one feed_dict (as a "
                                     "key and as a component of a composite key).")
                fed[(ft.op.name, ft.value_index)] = i
            fetch_tensors = [e for e in mapper.elements if isinstance(e, Tensor)]
            targets = [e for e in mapper.elements if isinstance(e, Operation)]
            ops = prune_ops(fetch_tensors, targets, fed)
            self._check_placeholders(ops)
            if self._master is not None:
                # placed, partitioned and registered on the workers, run there
                step = _DistStep(self._master, self._master.build(
                    ops, feed_tensors, fetch_tensors, targets, log=self._placement_log()))
                nodes = []
            else:
                self._check_and_log(ops, fed)
                nodes = exec_nodes_from_ops(ops, fed=fed)
                feed_keys = [(ft.op.name, ft.value_index) for ft in feed_tensors]
                fetch_keys = [(ft.op.name, ft.value_index) for ft in fetch_tensors]
                step = compile_step(nodes, feed_keys, fetch_keys, self._ctx, self._backend,
                                    validate=_CHECK_KERNELS, trace=trace)
            convs = [_feed_converter(ft) for ft in feed_tensors]
            if any(groups):
                plan = _ExpandingPlan()
                convs = _group_converters(convs, groups)
            else:
                plan = _Plan()
            plan.step = step
            plan.nodes = nodes
            plan.convs = convs
            plan.rebuild = mapper.rebuild
            plan.version = version
            plan.trace = trace
            pos, k = [], 0
            for e in mapper.elements:
                if isinstance(e, Tensor):
                    pos.append(k)
                    k += 1
                else:
                    pos.append(None)
            single = isinstance(fetches, (Tensor, Operation, str)) or (
                hasattr(fetches, "_as_graph_element") and len(mapper.elements) == 1
                and not isinstance(fetches, (list, tuple, dict)))
            plan.single = bool(single) and len(mapper.elements) == 1 and not any(
                isinstance(fetches, typ) for typ, _, _ in _CONVERSIONS)
            if plan.single:
                plan.fetch_pos = 0 if fetch_tensors else None
            else:
                plan.fetch_pos = None if all(p is not None for p in pos) and pos == list(
                    range(len(pos))) else pos
            self._plans[key] = plan
            return plan

    def _placement_log(self):
        """A printer of TF1's `name (Type): device` lines, each node once per session."""
        if not self._config.log_device_placement:
            return None

        def log(line):
            if line not in self._logged_placement:
                self._logged_placement.add(line)
                print(line, file=sys.stderr)
        return log

    def _run_distributed(self, plan, vals, options, run_metadata):
        args = [c(v) for c, v in zip(plan.convs, vals)]
        out = plan.step.run(args, int(options.timeout_in_ms or 0))
        if run_metadata is not None and options.output_partition_graphs:
            run_metadata.partition_graphs = plan.step.partition_graphs()
        if plan.single:
            return _to_result(out[0]) if plan.fetch_pos is not None else None
        return plan.rebuild(self._positions(plan, out))

    @property
    def placement(self):
        """The placement of the last plan run on workers (for `explain(node)`), else None."""
        for plan in reversed(list(self._plans.values())):
            if isinstance(plan.step, _DistStep):
                return plan.step.dist.placement
        return None

    @staticmethod
    def _check_placeholders(ops) -> None:
        """InvalidArgumentError naming the first placeholder the step needs but was not fed."""
        for op in ops:
            if op._op_def.name == "Placeholder":
                shape = op._attrs.get("shape")
                dt = op._attrs.get("dtype")
                shp = ("" if shape is None or shape.ndims is None
                       else " and shape [" + ",".join("?" if d is None else str(d)
                                                      for d in shape.as_list()) + "]")
                raise errors.InvalidArgumentError(
                    None, op.name, f"You must feed a value for placeholder tensor {op.name!r} "
                    f"with dtype {dt.name if dt is not None else '?'}{shp}\n\t [[node {op.name} "
                    f"(op {op.type}), defined at {op.source_line}]]")

    def _check_and_log(self, ops, fed) -> None:
        """In-process sessions: every node must fit the one CPU device (or soft placement)."""
        soft = self._config.allow_soft_placement
        for op in ops:
            if not soft and not _device_ok(op._device):
                raise errors.InvalidArgumentError(
                    None, op.name, f"Cannot assign a device for operation {op.name}: Operation "
                    f"was explicitly assigned to {op._device} but available devices are "
                    f"[ {LOCAL_DEVICE} ]. Make sure the device specification refers to a valid "
                    "device, or set allow_soft_placement=True in the ConfigProto.")
        if self._config.log_device_placement:
            for op in ops:
                if op.name not in self._logged_placement:
                    self._logged_placement.add(op.name)
                    print(f"{op.name} ({op.type}): {LOCAL_DEVICE}", file=sys.stderr)

    # --- TF1 extras -------------------------------------------------------------------------
    def make_callable(self, fetches, feed_list=None, accept_options=False):
        """A function `f(*feed_values)` running `fetches` with `feed_list` (TF1 API)."""
        feed_list = list(feed_list or [])

        def call(*args, **kwargs):
            if len(args) != len(feed_list):
                raise TypeError(f"Expected {len(feed_list)} feed values, got {len(args)}")
            return self.run(fetches, dict(zip(feed_list, args)), **kwargs)
        return call

    @staticmethod
    def reset(target, containers=None, config=None) -> None:
        """TF1 `Session.reset`: drop the variables (all containers) held by every task of the
        cluster at `target`.  (In-process sessions hold their own state: nothing to do.)"""
        if target in ("", None, "local"):
            return
        from ..runtime.master import Master
        m = Master.connect(target, config or ConfigProto())
        try:
            for w in m.workers.values():
                w.client.call({"op": "reset"}, timeout_s=10.0)
        finally:
            m.close()


def _limit_blas_threads(n: int) -> None:
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency
        return
    threadpool_limits(limits=int(n), user_api="blas")


class _DeviceAttributes:
    def __init__(self, name, device_type, memory_limit_bytes, incarnation):
        self.name = name
        self.device_type = device_type
        self.memory_limit_bytes = memory_limit_bytes
        self.incarnation = incarnation

    def __repr__(self):
        return (f"_DeviceAttributes({self.name}, {self.device_type}, {self.memory_limit_bytes}, "
                f"{self.incarnation})")


class _DefaultSessionContext:
    def __init__(self, sess):
        self._sess = sess

    def __enter__(self):
        _session_stack().append(self._sess)
        return self._sess

    def __exit__(self, *exc):
        st = _session_stack()
        if st and st[-1] is self._sess:
            st.pop()
        elif self._sess in st:
            st.remove(self._sess)


def _wants_workers(config) -> bool:
    """Whether a local session runs on worker processes: more than one CPU device, any GPU
    device asked for in `device_count`, or `experimental={"use_worker_processes": True}`."""
    dc = {str(k).upper(): int(v) for k, v in dict(config.device_count).items()}
    return (dc.get("CPU", 1) > 1 or dc.get("GPU", 0) > 0
            or bool(dict(config.experimental or {}).get("use_worker_processes")))


class _DistStep:
    """The `step` of a plan that runs on workers: `step(*feeds) -> fetched values`."""

    def __init__(self, master, dist):
        self.master = master
        self.dist = dist

    def __call__(self, *feeds):
        return self.master.run(self.dist, feeds)

    def run(self, feeds, timeout_ms: int = 0):
        return self.master.run(self.dist, feeds, timeout_ms)

    def partition_graphs(self) -> list:
        return [p.graph_def for p in self.master.partitions_of(self.dist)]


class Session(BaseSession):
    """TF1 `tf.Session(target='', graph=None, config=None)`."""


class InteractiveSession(BaseSession):
    """A session that installs itself as the default session on construction."""

    _active: weakref.WeakSet = weakref.WeakSet()

    def __init__(self, target: str = "", graph: Graph | None = None,
                 config: ConfigProto | None = None):
        super().__init__(target, graph, config)
        self._ctx_mgr = self.as_default()
        self._ctx_mgr.__enter__()
        self._graph_ctx = None
        if self._graph is not get_default_graph():
            self._graph_ctx = self._graph.as_default()
            self._graph_ctx.__enter__()

    def close(self) -> None:
        if not self._closed:
            super().close()
            try:
                self._ctx_mgr.__exit__(None, None, None)
                if self._graph_ctx is not None:
                    self._graph_ctx.__exit__(None, None, None)
            except (IndexError, ValueError):
                pass

