"""Dataflow plans: how a worker's partition runs what each arriving tensor enables.

A partition with `_Recv`s does not wait for its tensors one by one in a fixed order.  Its nodes
are grouped by the set of `_Recv`s they depend on (`recv_masks`); the group that needs none runs
first (its `_Send`s leave at once), then a loop takes whichever tensor arrives next and runs the
nodes it completes, in plan order (`emit_dataflow`, which writes that loop into the plan's
generated source).  So a node runs as soon as the tensors it needs from other devices are there,
and a `_Send` made ready by an arrival leaves before later work of that arrival.  An arrival
costs work in proportion to what it completes (`_make_fire`, `_readiness`), plus about log2 of
the number of `_Recv`s and units (`_emit_switch`).  Errors while waiting name the first `_Recv`
still waiting (`make_wait`).
"""
from __future__ import annotations

from ..compiler.exec_nodes import ExecNode
from ..framework import errors
from .kernel_errors import translate_error

__all__ = ["recv_masks", "make_wait", "emit_dataflow", "last_uses", "send_runs", "emit_entries"]

#: Ops that cost next to nothing (a view, a reference): `_Send`s with only these between them
#: leave together, as one message per peer (`send_runs`).
CHEAP_OPS = frozenset({"Identity", "Snapshot", "StopGradient", "PreventGradient", "NoOp",
                       "ReadVariableOp", "VariableV2", "VarHandleOp"})


def send_runs(ents, nodes) -> dict[int, int]:
    """Runs of `ents` (positions) holding two `_Send`s or more with only `CHEAP_OPS` between
    them: first `_Send`'s position -> last `_Send`'s.  A plan whose runtime batches sends
    (`ctx.begin_sends`/`flush_sends`, a worker's) sends each run's tensors at its end, one
    message per destination: nothing that costs runs while they wait, so no tensor leaves
    later than a moment after its own `_Send`, and two tensors for the same peer cost one
    message (a ps sending its variables, an add whose inputs live elsewhere)."""
    runs, first, last, count = {}, None, None, 0
    for pos, (i, _, _) in enumerate(list(ents) + [(None, None, None)]):
        op = nodes[i].op if i is not None else None
        if op == "_Send":
            if first is None:
                first, count = pos, 0
            last, count = pos, count + 1
        elif op not in CHEAP_OPS:
            if first is not None and count >= 2:
                runs[first] = last
            first = None
    return runs


def emit_entries(lines, line_to_node, nodes, ents, ind, dels_after, batch: bool) -> None:
    """The source lines of `ents` (indented `ind`), each followed by the `del`s of
    `dels_after` (position -> variables); with `batch`, runs of `_Send`s (`send_runs`) are
    bracketed by `__sb()` ... `__sf()` (the flush's errors name the run's last `_Send`)."""
    runs = send_runs(ents, nodes) if batch else {}
    ends = {}
    for pos, (i, line, _) in enumerate(ents):
        if pos in runs:
            lines.append(ind + "__sb()")
            ends[runs[pos]] = i
        lines.append(ind + line)
        line_to_node[len(lines)] = nodes[i]
        if pos in ends:
            lines.append(ind + "__sf()")
            line_to_node[len(lines)] = nodes[ends[pos]]
        if pos in dels_after:
            lines.append(ind + "del " + ", ".join(dels_after[pos]))


def _sources(n: ExecNode, index: dict) -> list[int]:
    """Positions in the plan of the nodes `n` reads or waits for (data and control inputs)."""
    return [index[s] for s in [s for s, _ in n.inputs] + list(n.control) if s in index]


def recv_masks(nodes: list[ExecNode]) -> list[int]:
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


def make_wait(recv_any, recv_nodes, device):
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


def last_uses(entries) -> dict:
    """variable -> position in `entries` of its last reader."""
    return {a: pos for pos, (_, _, reads) in enumerate(entries) for a in reads}


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


def emit_dataflow(lines, line_to_node, nodes, entries, recv_out, masks, keep, validate,
                  batch=False):
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
    about log2 of the number of `_Recv`s and units (`_make_fire`, `_emit_switch`); `batch`:
    runs of `_Send`s leave together (`emit_entries`).  A variable
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
        for v, last in last_uses(ents).items():
            if v not in keep and len(readers[v]) == 1:
                dels_after.setdefault(last, []).append(v)
        emit_entries(lines, line_to_node, nodes, ents, ind, dels_after, batch)
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
