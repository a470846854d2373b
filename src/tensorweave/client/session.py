"""`Session` and `InteractiveSession`: the client's entry point to running graphs.

`Session.run(fetches, feed_dict)` maps a nested fetch structure to graph elements
(`fetch_feed.py`), then looks up the *plan* for this (fetches, feed keys) signature.  A plan is
built once, on one path for every session:

1. prune the graph to what the fetches and targets need (`compiler/prune.py`) and check that
   every placeholder the step needs is fed;
2. place the step on the session's devices (`compiler/placer.py`): on several devices the
   whole graph is placed (cached per graph version, so a variable is on one device in every
   step), on one device the step's ops; then log TF1's placement lines;
3. partition the step into one subgraph per device, with `_Send`/`_Recv` pairs on the edges
   between devices (`compiler/partitioner.py`);
4. compile: a session on a single local device compiles its one partition in this process with
   that device's kernel backend (no IPC: feeds are converted to device arrays, fetches moved back
   to the host); otherwise the master registers each partition with its worker process
   (`runtime/master.py`).

Each pass checks its output (`place` and `partition` validate what they return).  The hot path
of an in-process `run` is one dict lookup, one converter call per feed, the compiled step, and
rebuilding the fetch structure.  Variables and random streams live in the session's
`KernelContext` (or in the workers), so they persist across `run` calls and plans, and are
dropped by `close()`.
"""
from __future__ import annotations

import logging
import os
import threading
import time
import weakref

from threadpoolctl import threadpool_limits


from ..compiler.partitioner import layout, partition
from ..compiler.placer import place
from ..compiler.prune import prune_ops
from ..framework import errors
from ..framework.default_session import (get_default_session, pop_session,
                                         push_session)
from ..framework.graph import Graph, Operation, Tensor, get_default_graph
from ..framework.session_conversions import register_session_run_conversion_functions
from ..kernels import get_backend
from ..kernels.context import KernelContext
from ..runtime.devices import local_devices
from ..runtime.executor import compile_step
from ..runtime.master import Master
from ..runtime.rendezvous import check_step_timeout_ms
from .config import (AllocationDescription, ConfigProto, DeviceStepStats, NodeExecStats,
                     NodeOutput, RunMetadata, StepStats, TensorDescription)
from .fetch_feed import (FetchMapper, feed_converter, feed_tensors, freeze, group_converters,
                         is_composite_fetch, to_result)

__all__ = ["Session", "InteractiveSession", "BaseSession", "get_default_session",
           "register_session_run_conversion_functions"]

_CHECK_KERNELS = os.environ.get("TENSORWEAVE_CHECK_KERNELS", "") == "1"
_placement_log = logging.getLogger("tensorweave.placement")


# ----------------------------------------------------------------------------------------------
# plans
# ----------------------------------------------------------------------------------------------
class _Plan:
    """Everything `run` needs for one (fetches, feed keys) signature."""

    __slots__ = ("step", "convs", "rebuild", "single", "version", "fetch_pos", "placement")

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


class _LocalStep:
    """The `step` of an in-process plan on a device whose arrays are not host arrays: fetched
    values are moved to the host (feeds were moved to the device by the converters)."""

    def __init__(self, compiled, to_host):
        self.compiled = compiled
        self._to_host = to_host
        self.nodes = compiled.nodes
        self.traced = compiled.traced

    def __call__(self, *feeds):
        out = self.compiled(*feeds)
        if self.traced:
            vals, records = out
            return tuple(self._to_host(v) for v in vals), records
        return tuple(self._to_host(v) for v in out)


class _DistStep:
    """The `step` of a plan that runs on workers: `step(*feeds) -> fetched values`."""

    def __init__(self, master, dist):
        self.master = master
        self.dist = dist

    def __call__(self, *feeds):
        return self.master.run(self.dist, feeds)

    def run(self, feeds, timeout_ms: int = 0, stats: dict | None = None):
        return self.master.run(self.dist, feeds, timeout_ms, stats)

    def partition_graphs(self) -> list:
        return [p.graph_def for p in self.master.partitions_of(self.dist)]


def _on_device(conv, to_device):
    return lambda v: to_device(conv(v))


class BaseSession:
    """Common implementation of `Session` and `InteractiveSession`."""

    _interactive = False

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
        self._logged_placement: set = set()
        self._placed = None          # (graph version, Placement) of the whole graph (devices)
        self._default_ctx = None
        if self._config.intra_op_parallelism_threads:
            _limit_blas_threads(self._config.intra_op_parallelism_threads)
        self._master = None
        self._device = None          # the one device of an in-process session
        if target not in ("", None, "local"):
            self._master = Master.connect(target, self._config)
        else:
            devices = _in_process_devices(self._config)
            if len(devices) == 1:
                self._device = devices[0]
            else:
                self._master = Master.local(self._config)
        if self._master is not None:
            self._devices = list(self._master.devices)
            self._default_device = self._master.default_device
            self._ctx = None
        else:
            self._devices = [self._device]
            self._default_device = self._device.name
            self._backend = get_backend(self._device.device_type)
            self._ctx = KernelContext(self._device.name, self._backend)
            self._ctx.validate = _CHECK_KERNELS
            self._ctx.step = threading.local()  # (a step's deadline, for blocking kernels)
        self._op_timeout = 0 if self._ctx is None else int(
            getattr(self._config, "operation_timeout_in_ms", 0) or 0)

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
        return [_DeviceAttributes(d.name, d.device_type, d.memory_limit_bytes, d.incarnation)
                for d in self._devices]

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
            if self._ctx is not None:
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
        key = (fetches if t is Tensor or t is Operation or t is str else freeze(fetches), fkey)
        trace = options is not None and (options.trace_level or options.output_partition_graphs)
        if trace:
            key = key + ("trace",)
        plan = self._plans.get(key)
        if plan is None or plan.version != self._graph._version_ctrl:
            plan = self._build_plan(key, fetches, feed_dict, bool(trace))
        vals = feed_dict.values() if feed_dict else ()
        if self._master is not None and options is not None:
            return self._run_distributed(plan, vals, options, run_metadata)
        if self._op_timeout or options is not None:
            timeout_ms = (options.timeout_in_ms if options is not None else 0) or self._op_timeout
            if timeout_ms:
                return self._run_with_deadline(
                    (lambda: self._run_traced(plan, vals, options, run_metadata)) if trace
                    else (lambda: self._result(plan, plan(vals))), timeout_ms)
        if trace:
            return self._run_traced(plan, vals, options, run_metadata)
        out = plan(vals)
        if plan.single:  # (the common case, inline)
            return to_result(out[0]) if plan.fetch_pos is not None else None
        return self._result(plan, out)

    @staticmethod
    def _result(plan, out):
        """The fetched values `out` (the step's order) in the shape of the plan's fetches."""
        if plan.single:
            return to_result(out[0]) if plan.fetch_pos is not None else None
        if plan.fetch_pos is not None:
            out = [None if p is None else out[p] for p in plan.fetch_pos]
        return plan.rebuild(out)

    def _run_traced(self, plan, vals, options, run_metadata):
        _check_run_metadata(run_metadata)
        offset = time.time_ns() - time.perf_counter_ns()   # perf_counter -> wall clock
        out, records = plan.step(*plan.feed_args(vals))
        if run_metadata is not None:
            if options.trace_level:
                nodes = plan.step.nodes
                tid = threading.get_native_id()
                stats = [_node_stats(nodes[i].name, nodes[i].op, t0 + offset, t1 + offset,
                                     sizes, tid) for i, t0, t1, sizes in records]
                run_metadata.step_stats = StepStats(dev_stats=[DeviceStepStats(
                    device=self._device.name, node_stats=stats,
                    thread_names={tid: threading.current_thread().name})])
            if options.output_partition_graphs:
                run_metadata.partition_graphs = [p.graph_def for p in plan.step.partitions]
        return self._result(plan, out)

    def _build_plan(self, key, fetches, feed_dict, trace: bool) -> _Plan:
        with self._lock:
            graph = self._graph
            version = graph._version_ctrl
            mapper = FetchMapper(graph, fetches)
            feeds, groups = feed_tensors(graph, feed_dict)
            fed = {(ft.op.name, ft.value_index) for ft in feeds}
            fetch_tensors = [e for e in mapper.elements if isinstance(e, Tensor)]
            targets = [e for e in mapper.elements if isinstance(e, Operation)]
            ops = prune_ops(fetch_tensors, targets, fed)
            self._check_placeholders(ops)
            placement = self._placement(ops)
            self._log_placement(placement, ops)
            parts = partition(ops, placement.device_of, feeds, fetch_tensors, targets)
            lay = layout(parts, feeds, fetch_tensors)
            if self._master is not None:
                step = _DistStep(self._master, self._master.register(
                    parts, lay, len(fetch_tensors), placement))
            else:
                step = self._compile_local(parts, feeds, fetch_tensors, trace)
            convs = [feed_converter(ft) for ft in feeds]
            if self._master is None and not self._backend.allocator.on_host:
                convs = [_on_device(c, self._backend.allocator.to_device) for c in convs]
            if any(groups):
                plan = _ExpandingPlan()
                convs = group_converters(convs, groups)
            else:
                plan = _Plan()
            plan.step = step
            plan.convs = convs
            plan.rebuild = mapper.rebuild
            plan.version = version
            plan.placement = placement
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
            plan.single = bool(single) and len(mapper.elements) == 1 and \
                not is_composite_fetch(fetches)
            if plan.single:
                plan.fetch_pos = 0 if fetch_tensors else None
            else:
                plan.fetch_pos = None if all(p is not None for p in pos) and pos == list(
                    range(len(pos))) else pos
            self._plans[key] = plan
            return plan

    def _compile_local(self, parts, feeds, fetches, trace):
        """The in-process step of a single-device session: its one partition, compiled here.

        The step takes every feed (in the plan's order) and returns every fetch; a fetched
        tensor that is fed returns (a copy of) the fed value."""
        dev = self._device.name
        if set(parts) - {dev}:
            raise errors.InternalError(None, None, f"Plan error: partitions for {sorted(parts)} "
                                       f"in a session on {dev} alone")
        part = parts.get(dev)
        feed_keys = []
        for i, t in enumerate(feeds):
            ph = part.feeds.get(t.name) if part is not None else None
            feed_keys.append((ph, 0) if ph is not None else (f"\0feed{i}", 0))
        feed_pos = {t.name: i for i, t in enumerate(feeds)}
        fetch_keys = [feed_keys[feed_pos[t.name]] if t.name in feed_pos
                      else (t.op.name, t.value_index) for t in fetches]
        nodes = part.run_nodes() if part is not None else []
        compiled = compile_step(nodes, feed_keys, fetch_keys, self._ctx, self._backend,
                                validate=_CHECK_KERNELS, trace=trace)
        step = compiled
        if not self._backend.allocator.on_host:
            step = _LocalStep(compiled, self._backend.allocator.to_host)
        if trace:
            step.partitions = list(parts.values())
        return step

    def _placement(self, ops):
        """Where the step's `ops` run.

        On several devices: the placement of the whole graph (as TF1: every step prunes the
        same placement, so a variable is on one device in all steps whatever each step runs),
        recomputed when the graph has grown.  On one device every op of any step can only go
        to that device, so placing the step's ops gives the same placement at a cost in
        proportion to the step (a graph that grows between runs, as `x.eval()` in a loop does,
        is not placed again as a whole), and a node the step does not run is not checked."""
        if len(self._devices) == 1:
            return place(ops, self._devices, default_device=self._default_device,
                         allow_soft_placement=bool(self._config.allow_soft_placement))
        graph = self._graph
        with graph._lock:  # the version these ops are: a node added meanwhile is placed later
            version, every_op = graph._version, graph.get_operations()
        if self._placed is not None and self._placed[0] == version:
            return self._placed[1]
        placement = place(every_op, self._devices, default_device=self._default_device,
                          allow_soft_placement=bool(self._config.allow_soft_placement))
        self._placed = (version, placement)
        return placement

    def _log_placement(self, placement, ops) -> None:
        """TF1's `name (Type): device` lines (`log_device_placement`), each node once per
        session, as INFO records of the `tensorweave.placement` logger."""
        if not self._config.log_device_placement:
            return
        if _placement_log.level == logging.NOTSET:  # asked for: shown unless set otherwise
            _placement_log.setLevel(logging.INFO)
        names = {op.name for op in ops}
        for line in placement.log_lines():
            name = line.split(" ", 1)[0]
            if name in names and line not in self._logged_placement:
                self._logged_placement.add(line)
                _placement_log.info("%s", line)

    def _run_with_deadline(self, run, timeout_ms):
        """`run()`, an in-process step with a timeout (`RunOptions.timeout_in_ms`, else
        `ConfigProto.operation_timeout_in_ms`): kernels that block (a dequeue on an empty
        queue) give up at the deadline (`KernelContext.step_deadline`)."""
        check_step_timeout_ms(timeout_ms)
        step = self._ctx.step
        outer = getattr(step, "deadline", None)
        step.deadline = time.monotonic() + timeout_ms / 1000.0
        try:
            return run()
        finally:
            step.deadline = outer

    def _run_distributed(self, plan, vals, options, run_metadata):
        _check_run_metadata(run_metadata)
        args = [c(v) for c, v in zip(plan.convs, vals)]
        traces = {} if run_metadata is not None and options.trace_level else None
        out = plan.step.run(args, int(options.timeout_in_ms or 0), traces)
        if traces is not None:   # device -> what its worker recorded (checked by rpc.REPLIES)
            run_metadata.step_stats = StepStats(dev_stats=[_device_stats(d, tr)
                                                           for d, tr in traces.items()])
        if run_metadata is not None and options.output_partition_graphs:
            run_metadata.partition_graphs = plan.step.partition_graphs()
        return self._result(plan, out)

    @property
    def placement(self):
        """The placement of the last plan built (for `explain(node)`), else None."""
        for plan in reversed(list(self._plans.values())):
            return plan.placement
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
        m = Master.connect(target, config or ConfigProto())
        try:
            for w in m.workers.values():
                w.client.call({"op": "reset"}, timeout_s=10.0)
        finally:
            m.close()


def _check_run_metadata(run_metadata) -> None:
    if run_metadata is not None and not isinstance(run_metadata, RunMetadata):
        raise TypeError(f"run_metadata must be a tw.RunMetadata, not "
                        f"{type(run_metadata).__name__}")


def _node_stats(name: str, op: str, start_ns: int, end_ns: int, sizes, thread_id: int
                ) -> NodeExecStats:
    """The stats of a node that ran from `start_ns` to `end_ns` (wall clock, ns since the
    epoch) and made outputs of `sizes` bytes.  The micro fields are the nanos truncated, so
    `all_start_micros + all_end_rel_micros` is the end truncated."""
    start_us, end_us = start_ns // 1000, end_ns // 1000
    return NodeExecStats(
        node_name=name, op_type=op, all_start_micros=start_us, op_start_rel_micros=0,
        op_end_rel_micros=end_us - start_us, all_end_rel_micros=end_us - start_us,
        all_start_nanos=start_ns, op_end_rel_nanos=end_ns - start_ns,
        all_end_rel_nanos=end_ns - start_ns, timeline_label=f"{name} = {op}()",
        thread_id=thread_id,
        output=[NodeOutput(slot=j, tensor_description=TensorDescription(
            allocation_description=AllocationDescription(requested_bytes=n)))
            for j, n in enumerate(sizes)])


def _device_stats(device: str, trace: dict) -> DeviceStepStats:
    """A worker's trace of one step (`{"thread": [id, name], "nodes": [[name, op, start ns,
    end ns, [output bytes...]], ...]}`, as `rpc.REPLIES` checked it) as its DeviceStepStats."""
    tid, tname = trace["thread"]
    return DeviceStepStats(device=device, thread_names={tid: tname}, node_stats=[
        _node_stats(name, op, start, end, sizes, tid)
        for name, op, start, end, sizes in trace["nodes"]])


def _in_process_devices(config) -> list:
    """The local devices a session without a target asks for: `device_count` as TF1 reads it,
    except that GPUs count only when asked for; forcing worker processes
    (`experimental={"use_worker_processes": True}`) makes even one device a worker's."""
    dc = {str(k).upper(): v for k, v in dict(config.device_count).items()}  # (checked there)
    dc.setdefault("GPU", 0)
    devices = local_devices(dc)
    if bool(dict(config.experimental or {}).get("use_worker_processes")):
        return devices + [None]  # more than one: run on workers
    return devices


def _limit_blas_threads(n: int) -> None:
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
        push_session(self._sess)
        return self._sess

    def __exit__(self, *exc):
        pop_session(self._sess)


class Session(BaseSession):
    """TF1 `tf.Session(target='', graph=None, config=None)`."""


class InteractiveSession(BaseSession):
    """A session that installs itself as the default session on construction."""

    _interactive = True
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
