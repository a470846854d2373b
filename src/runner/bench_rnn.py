"""The `rnn` benchmark suite (`python -m runner bench rnn`): one SGD training step of a two-layer
LSTM language model, tensorweave against a hand-written numpy implementation of the same model
and step, measured in the same run (interleaved repetitions, medians).

Model (the PTB "small" shape at hidden 256): vocabulary 1000, embedding 256, two LSTM layers of
256 units (TF1 gates i, j, f, o, forget bias 1), 35 time steps, batch 32, softmax over the
vocabulary and the mean sparse softmax cross entropy over all 35 x 32 positions.  One step is
forward, backward and the SGD update of every weight (the embedding's through its sparse,
`IndexedSlices` gradient).  tensorweave builds it on its fastest path, one fused `BlockLSTM` op
per layer (`LSTMBlockFusedCell`), time-major; the numpy baseline writes the same forward and
backward directly (one matmul for the inputs of all steps, one recurrent matmul per step, one
matmul for the weight gradient over all steps).  Both start from the same weights and batch, so
their first-step losses must agree.

Two more rows put the figure in context, measured in the same run:

* the step's matrix products alone (`_matmul_floor`): every matmul the step needs, with the same
  shapes, one after another in numpy (OpenBLAS) into preallocated outputs -- the time no numpy
  implementation of this step can go below;
* PyTorch's `nn.LSTM` language model of the same shape (embedding, two layers, linear, cross
  entropy, SGD), only when `torch` is importable (it is not a dependency), here or by the
  Python that the environment variable `TW_TORCH_PYTHON` names.  It runs in a child
  process (its OpenMP threads would otherwise spin beside ours), in blocks interleaved with
  tensorweave's.
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import numpy as np

from .bench import Result, _median_interleaved

__all__ = ["bench_lstm_lm"]

VOCAB, HIDDEN, STEPS, BATCH, LAYERS, LR = 1000, 256, 35, 32, 2, 0.5


def _lm_params(rng):
    """Embedding, (kernel, bias) per layer, softmax weights and bias, all float32."""
    def u(*shape):
        return rng.uniform(-0.1, 0.1, shape).astype(np.float32)
    return {"embedding": u(VOCAB, HIDDEN),
            "layers": [(u(2 * HIDDEN, 4 * HIDDEN), np.zeros(4 * HIDDEN, np.float32))
                       for _ in range(LAYERS)],
            "softmax_w": u(HIDDEN, VOCAB), "softmax_b": np.zeros(VOCAB, np.float32)}


# ----------------------------------------------------------------------------------------------
# the numpy baseline
# ----------------------------------------------------------------------------------------------
def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _np_lstm_forward(x, w, b):
    """x [T, B, I] -> h [T, B, H] and what the backward pass needs."""
    T, B, I = x.shape
    H = b.shape[0] // 4
    bias = b.copy()
    bias[2 * H:3 * H] += 1.0                                   # forget bias
    xw = (x.reshape(T * B, I) @ w[:I] + bias).reshape(T, B, 4 * H)
    w_h = w[I:]
    gates = np.empty((T, B, 4 * H), np.float32)               # i, j, f, o activations
    c = np.empty((T, B, H), np.float32)
    tc = np.empty((T, B, H), np.float32)
    h = np.empty((T, B, H), np.float32)
    h_prev = np.zeros((B, H), np.float32)
    c_prev = np.zeros((B, H), np.float32)
    for t in range(T):
        z = xw[t] + h_prev @ w_h
        g = gates[t]
        g[:, :H] = _sigmoid(z[:, :H])
        g[:, H:2 * H] = np.tanh(z[:, H:2 * H])
        g[:, 2 * H:] = _sigmoid(z[:, 2 * H:])
        c[t] = g[:, 2 * H:3 * H] * c_prev + g[:, :H] * g[:, H:2 * H]
        tc[t] = np.tanh(c[t])
        h[t] = g[:, 3 * H:] * tc[t]
        h_prev, c_prev = h[t], c[t]
    return h, (x, w, gates, c, tc, h)


def _np_lstm_backward(dh_out, cache):
    """Gradients of x, w and b from the gradient of every step's output."""
    x, w, gates, c, tc, h = cache
    T, B, I = x.shape
    H = h.shape[2]
    w_ht = w[I:].T
    dz = np.empty((T, B, 4 * H), np.float32)
    dh_next = np.zeros((B, H), np.float32)
    dc_next = np.zeros((B, H), np.float32)
    zeros = np.zeros((B, H), np.float32)
    for t in range(T - 1, -1, -1):
        g = gates[t]
        i, j, f, o = g[:, :H], g[:, H:2 * H], g[:, 2 * H:3 * H], g[:, 3 * H:]
        c_prev = c[t - 1] if t else zeros
        dh = dh_out[t] + dh_next
        dc = dh * o * (1 - tc[t] ** 2) + dc_next
        d = dz[t]
        d[:, :H] = dc * j * i * (1 - i)
        d[:, H:2 * H] = dc * i * (1 - j ** 2)
        d[:, 2 * H:3 * H] = dc * c_prev * f * (1 - f)
        d[:, 3 * H:] = dh * tc[t] * o * (1 - o)
        dc_next = dc * f
        dh_next = d @ w_ht
    dzf = dz.reshape(T * B, 4 * H)
    h_prev = np.concatenate([np.zeros((1, B, H), np.float32), h[:-1]])
    xh = np.concatenate([x, h_prev], axis=2).reshape(T * B, I + H)
    return (dzf @ w[:I].T).reshape(T, B, I), xh.T @ dzf, dzf.sum(axis=0)


def _numpy_lm_step(p, ids, targets, lr):
    """Forward, backward and SGD update of the language model; returns the loss."""
    emb = p["embedding"]
    x = emb[ids]                                               # [T, B, H]
    caches = []
    for w, b in p["layers"]:
        x, cache = _np_lstm_forward(x, w, b)
        caches.append(cache)
    n = STEPS * BATCH
    hf = x.reshape(n, HIDDEN)
    logits = hf @ p["softmax_w"] + p["softmax_b"]
    m = logits.max(axis=1, keepdims=True)
    e = np.exp(logits - m)
    s = e.sum(axis=1, keepdims=True)
    y = targets.reshape(n)
    loss = float(np.mean(np.log(s[:, 0]) + m[:, 0] - logits[np.arange(n), y]))
    d = e / s
    d[np.arange(n), y] -= 1
    d /= n
    grads_sm = (hf.T @ d, d.sum(axis=0))
    dx = (d @ p["softmax_w"].T).reshape(STEPS, BATCH, HIDDEN)
    layer_grads = []
    for cache in reversed(caches):
        dx, dw, db = _np_lstm_backward(dx, cache)
        layer_grads.append((dw, db))
    p["softmax_w"] -= lr * grads_sm[0]
    p["softmax_b"] -= lr * grads_sm[1]
    for (w, b), (dw, db) in zip(p["layers"], reversed(layer_grads)):
        w -= lr * dw
        b -= lr * db
    np.subtract.at(emb, ids.reshape(-1), lr * dx.reshape(n, HIDDEN))   # sparse update
    return loss


# ----------------------------------------------------------------------------------------------
# the tensorweave model
# ----------------------------------------------------------------------------------------------
def _tw_lm(tw, init, api: str = "fused"):
    """(graph, ids, targets, loss, train op, [(variable, initial value)]).  `api`: "fused"
    (contrib's `LSTMBlockFusedCell` per layer, time-major) or "tf1" (what most TF1 programs
    write: `dynamic_rnn` over a `MultiRNNCell` of `LSTMCell`s, batch-major, ids and targets
    fed transposed; one cell per layer, as the numpy baseline has one weight per layer)."""
    g = tw.Graph()
    with g.as_default():
        shape = [STEPS, BATCH] if api == "fused" else [BATCH, STEPS]
        ids = tw.placeholder(tw.int32, shape, name="ids")
        targets = tw.placeholder(tw.int32, shape, name="targets")
        emb = tw.get_variable("embedding", [VOCAB, HIDDEN])
        x = tw.nn.embedding_lookup(emb, ids)                   # [T, B, H] (fused) or [B, T, H]
        pairs = [(emb, init["embedding"])]
        if api == "tf1":
            cells = [tw.nn.rnn_cell.LSTMCell(HIDDEN) for _ in init["layers"]]
            x, _ = tw.nn.dynamic_rnn(tw.nn.rnn_cell.MultiRNNCell(cells), x, dtype=tw.float32)
            for cell, (w, b) in zip(cells, init["layers"]):
                pairs += list(zip(cell.variables, (w, b)))
        for k, (w, b) in enumerate(init["layers"] if api == "fused" else ()):
            cell = tw.nn.rnn_cell.LSTMBlockFusedCell(HIDDEN, name=f"lstm_{k}")
            x, _ = cell(x, dtype=tw.float32)
            pairs += list(zip(cell.variables, (w, b)))
        with tw.variable_scope("softmax"):
            sw = tw.get_variable("w", [HIDDEN, VOCAB])
            sb = tw.get_variable("b", [VOCAB], initializer=tw.zeros_initializer())
        pairs += [(sw, init["softmax_w"]), (sb, init["softmax_b"])]
        logits = tw.matmul(tw.reshape(x, [-1, HIDDEN]), sw) + sb
        loss = tw.reduce_mean(tw.nn.sparse_softmax_cross_entropy_with_logits(
            labels=tw.reshape(targets, [-1]), logits=logits))
        train = tw.train.GradientDescentOptimizer(LR).minimize(loss)
        init_op = tw.global_variables_initializer()
    return g, ids, targets, loss, train, init_op, pairs


# ----------------------------------------------------------------------------------------------
# context: the matmuls alone, and PyTorch
# ----------------------------------------------------------------------------------------------
def _matmul_floor(vocab=VOCAB, hidden=HIDDEN, steps=STEPS, batch=BATCH, layers=LAYERS):
    """A function running every matrix product of one training step of the LSTM language model
    (embedding of `hidden`, `layers` LSTM layers, softmax over `vocab`; shapes as the fused
    kernels and the numpy baseline use them) into preallocated float32 outputs."""
    rng = np.random.default_rng(0)
    n, h4 = steps * batch, 4 * hidden

    def pair(a, b):
        return (rng.standard_normal(a, dtype=np.float32), rng.standard_normal(b, dtype=np.float32),
                np.empty((a[0], b[1]), np.float32))
    per_layer = [
        (pair((h4, hidden), (hidden, n)), 1),                 # inputs of all steps
        (pair((h4, hidden), (hidden, batch)), steps),          # recurrent, forward
        (pair((hidden, h4), (h4, batch)), steps),              # recurrent, backward
        (pair((n, h4), (h4, hidden)), 1),                      # dx
        (pair((2 * hidden, n), (n, h4)), 1),                   # dW
    ]
    softmax = [(pair((n, hidden), (hidden, vocab)), 1),         # logits
               (pair((n, vocab), (vocab, hidden)), 1),          # d inputs
               (pair((hidden, n), (n, vocab)), 1)]              # dW
    work = per_layer * layers + softmax

    def run():
        for (a, b, out), times in work:
            for _ in range(times):
                np.matmul(a, b, out=out)
    return run


_TORCH_STEP = r"""
import sys, time, torch
V, H, T, B, L = (int(a) for a in sys.argv[1:6])
LR = float(sys.argv[6])
torch.manual_seed(0)
emb, lstm, lin = torch.nn.Embedding(V, H), torch.nn.LSTM(H, H, num_layers=L), torch.nn.Linear(H, V)
params = [*emb.parameters(), *lstm.parameters(), *lin.parameters()]
opt = torch.optim.SGD(params, lr=LR)
ids, tgt = torch.randint(0, V, (T, B)), torch.randint(0, V, (T, B))
def step():
    opt.zero_grad(set_to_none=True)
    y, _ = lstm(emb(ids))
    torch.nn.functional.cross_entropy(lin(y.reshape(-1, H)), tgt.reshape(-1)).backward()
    opt.step()
print(torch.__version__, flush=True)
for line in sys.stdin:
    times = []
    for _ in range(int(line)):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    print(" ".join(repr(t) for t in times), flush=True)
"""


def _torch_python() -> str | None:
    """A Python that can import torch: this one, or the one `TW_TORCH_PYTHON` names (torch is
    not a dependency; a separate environment keeps it out of ours)."""
    if importlib.util.find_spec("torch") is not None:
        return sys.executable
    return os.environ.get("TW_TORCH_PYTHON") or None


class _TorchSteps:
    """PyTorch's step of the same model in a child process; `run(k)` -> k step times (s)."""

    def __init__(self):
        env = dict(os.environ)
        self.proc = subprocess.Popen(
            [_torch_python(), "-c", _TORCH_STEP, *map(str, (VOCAB, HIDDEN, STEPS, BATCH, LAYERS,
                                                              LR))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        self.version = self._line()

    def _line(self) -> str:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the PyTorch child process exited ({self.proc.wait()})")
        return line.strip()

    def run(self, k: int) -> list[float]:
        self.proc.stdin.write(f"{k}\n")
        self.proc.stdin.flush()
        return [float(t) for t in self._line().split()]

    def close(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def bench_lstm_lm(quick: bool) -> list[Result]:
    import tensorweave as tw
    rng = np.random.RandomState(0)
    init = _lm_params(rng)
    ids_v = rng.randint(0, VOCAB, (STEPS, BATCH)).astype(np.int32)
    tgt_v = rng.randint(0, VOCAB, (STEPS, BATCH)).astype(np.int32)
    steps, first = [], []
    for api in ("fused", "tf1"):
        g, ids, targets, loss, train, init_op, pairs = _tw_lm(tw, init, api)
        sess = tw.Session(graph=g)
        sess.run(init_op)
        for v, value in pairs:
            v.load(value, sess)
        feed = {ids: ids_v, targets: tgt_v} if api == "fused" else \
            {ids: ids_v.T, targets: tgt_v.T}
        first.append(sess.run([loss, train], feed)[0])
        steps.append((sess, (lambda s, t, f: lambda: s.run(t, f))(sess, train, feed)))
    params = {"embedding": init["embedding"].copy(),
              "layers": [(w.copy(), b.copy()) for w, b in init["layers"]],
              "softmax_w": init["softmax_w"].copy(), "softmax_b": init["softmax_b"].copy()}
    l_tw, l_tf1 = first
    l_np = _numpy_lm_step(params, ids_v, tgt_v, LR)
    floor = _matmul_floor()
    torch_steps = _TorchSteps() if _torch_python() else None
    fns = [steps[0][1], steps[1][1], lambda: _numpy_lm_step(params, ids_v, tgt_v, LR), floor]
    try:
        for _ in range(2 if quick else 5):
            for f in fns:
                f()
        if torch_steps is not None:
            torch_steps.run(5)
        reps = 5 if quick else 25
        per_fn: list[list[float]] = [[] for _ in fns]
        t_torch: list[float] = []
        for _ in range(reps // 5):             # blocks of 5, PyTorch's between them
            for acc, t in zip(per_fn, _median_interleaved(fns, 5)):
                acc.append(t)
            if torch_steps is not None:
                t_torch += torch_steps.run(5)
    finally:
        for sess, _ in steps:
            sess.close()
        if torch_steps is not None:
            torch_steps.close()
    t_tw, t_tf1, t_np, t_mm = (float(np.median(v)) for v in per_fn)
    words = STEPS * BATCH
    target = "<= 52 ms (PyTorch 2.13 fused nn.LSTM: 52 ms, TF1 static unroll: 118 ms)"
    out = [Result("2-layer LSTM LM (hidden 256, 35 steps, batch 32, vocab 1000), one SGD step "
                  "(median)", t_tw * 1e3, "ms",
                  "hand-written numpy forward+backward+update", t_np * 1e3, target,
                  note=f"{words / t_tw:,.0f} words/s (tw) vs {words / t_np:,.0f} words/s "
                       f"(numpy); first-step loss {l_tw:.5f} (tw) vs {l_np:.5f} (numpy); "
                       "fused BlockLSTM op per layer"),
           Result("  the same step against its matrix products alone", t_tw * 1e3, "ms",
                  "every matmul of the step, numpy/OpenBLAS, same shapes", t_mm * 1e3,
                  "(context: no numpy step goes below the matmuls)"),
           Result("the TF1-API model: dynamic_rnn over MultiRNNCell([LSTMCell(256) for 2 "
                  "layers]), "
                  "batch-major, vs its matrix products", t_tf1 * 1e3, "ms",
                  "every matmul of the step, numpy/OpenBLAS, same shapes", t_mm * 1e3,
                  "(context; rewritten into one BlockLSTM op per layer)",
                  note=f"{words / t_tf1:,.0f} words/s; first-step loss {l_tf1:.5f}; "
                       f"{t_tf1 / t_tw:.2f}x the fused cells' step")]
    if t_torch:
        t_pt = float(np.median(t_torch))
        out.append(Result("  the fused-cell step against PyTorch", t_tw * 1e3, "ms",
                          f"PyTorch {torch_steps.version} nn.LSTM, same shapes", t_pt * 1e3,
                          "(context)", note=f"{words / t_pt:,.0f} words/s (PyTorch)"))
        out.append(Result("  the TF1-API step against PyTorch", t_tf1 * 1e3, "ms",
                          f"PyTorch {torch_steps.version} nn.LSTM, same shapes", t_pt * 1e3,
                          "<= 1.0x"))
    else:
        out.append(Result("  the TF1-API step against PyTorch (torch not importable: skipped)",
                          float("nan"), "ms", "PyTorch nn.LSTM", float("nan"), "<= 1.0x"))
    return out
