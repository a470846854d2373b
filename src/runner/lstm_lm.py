"""The model-parallel LSTM language model: `python -m runner train lstm` (a character-level model
of tiny Shakespeare, `examples/char_lm.py`) and the model that `bench modelparallel` times.

The model is written as a TF1 program would write it (`tf` is tensorweave):

* an embedding on the first device;
* `layers` LSTM layers, `MultiRNNCell([DeviceWrapper(LSTMCell(hidden), device_k) ...])` run by
  `dynamic_rnn` (time-major): layer k on device k (round robin).  tensorweave runs such a stack
  as one fused `BlockLSTM` op per layer and time chunk, and since the layers are on several
  devices the chunks pipeline: layer k+1 works on chunk c while layer k works on chunk c+1
  (`tensorweave.ops.rnn.PIPELINE_CHUNKS_PER_DEVICE`);
* the softmax split by vocabulary columns across the devices (`sharded_softmax_cross_entropy`):
  device j holds columns `[off_j, off_j + n_j)` of the weights and computes its logits, their
  maximum, their sum of exponentials and the logit of the labels in its range; only these
  per-position vectors cross devices, and the loss is the exact cross entropy of the full
  softmax.

Training draws random windows of `steps + 1` characters (inputs and the next characters), starts
each from the zero state, and updates with Adam on gradients clipped by global norm; the
validation loss is the mean cross entropy (nats per character) over fixed windows of the held-out
last 10% of the text; at the end the model samples text one character at a time.
"""
from __future__ import annotations

import gzip
import os
import time

import numpy as np

from tensorweave.ops.op_util import even_sizes

__all__ = ["load_shakespeare", "sharded_softmax_cross_entropy", "build_lm", "train"]

SHAKESPEARE_PATH = os.path.join(os.path.dirname(__file__), "data", "tinyshakespeare",
                                "input.txt.gz")


def load_shakespeare() -> str:
    """Tiny Shakespeare (see data/tinyshakespeare/README.md) as one string."""
    with gzip.open(SHAKESPEARE_PATH, "rt", encoding="utf-8") as f:
        return f.read()


def sharded_softmax_cross_entropy(tf, h, labels, vocab: int, devices, scope="softmax"):
    """The softmax cross entropy of `labels [n]` under logits `h @ w + b` whose vocabulary
    columns are split across `devices` (shard j: variables `{scope}/w_j`, `{scope}/b_j` on
    devices[j]); returns (the loss per position [n], the logit shards).  Exact: the log-sum-exp
    is combined from each shard's maximum and sum of exponentials."""
    sizes = even_sizes(vocab, len(devices))
    hidden = h.shape[1].value
    logits, maxima = [], []
    with tf.variable_scope(scope):
        for j, (dev, n) in enumerate(zip(devices, sizes)):
            with tf.device(dev):
                w = tf.get_variable(f"w_{j}", [hidden, n])
                b = tf.get_variable(f"b_{j}", [n], initializer=tf.zeros_initializer())
                z = tf.matmul(h, w) + b
                logits.append(z)
                maxima.append(tf.stop_gradient(tf.reduce_max(z, 1)))
        m = tf.reduce_max(tf.stack(maxima), 0)
        sums, picked, off = [], [], 0
        for dev, z, n in zip(devices, logits, sizes):
            with tf.device(dev):
                sums.append(tf.reduce_sum(tf.exp(z - m[:, None]), 1))
                hot = tf.one_hot(labels - off, n, dtype=z.dtype)   # zeros outside the shard
                picked.append(tf.reduce_sum(z * hot, 1))
            off += n
        loss = tf.log(tf.add_n(sums)) + m - tf.add_n(picked)
    return loss, logits


def build_lm(tf, vocab: int, hidden: int, layers: int, steps: int, batch: int, devices,
             learning_rate: float = 0.002, optimizer: str = "adam", clip_norm: float = 5.0,
             dtype=None, init_seed=None, rnn: str = "dynamic") -> dict:
    """The language model in the default graph: placeholders `ids`, `targets` ([steps, batch],
    time-major), `loss` (mean nats per position), `train_op`, and a one-step sampling graph
    on the same variables (`sample_ids` [1, 1], `sample_state` placeholders, `sample_probs`,
    `sample_next_state`).  `devices`: layer k on devices[k % n], softmax shard j on
    devices[j] ("" for no device scope); `init_seed`: the op seed of the weights' uniform
    initializer (None: derived from the graph seed); `rnn`: "dynamic" (`dynamic_rnn` over a
    `MultiRNNCell` of `DeviceWrapper`s) or "static" (one `static_rnn` per layer under
    `tf.device`, the other way TF1 programs place layers; no sampling graph)."""
    dtype = dtype or tf.float32
    devices = list(devices)
    ids = tf.placeholder(tf.int32, [steps, batch], name="ids")
    targets = tf.placeholder(tf.int32, [steps, batch], name="targets")
    init = tf.random_uniform_initializer(-0.08, 0.08, seed=init_seed)
    with tf.variable_scope("lm", initializer=init, dtype=dtype):
        with tf.device(devices[0]):
            emb = tf.get_variable("embedding", [vocab, hidden])
            x = tf.nn.embedding_lookup(emb, ids)
        if rnn == "static":
            xs = tf.unstack(x)
            for k in range(layers):
                with tf.device(devices[k % len(devices)]):
                    xs, _ = tf.nn.static_rnn(tf.nn.rnn_cell.LSTMCell(hidden), xs, dtype=dtype,
                                             scope=f"layer_{k}")
            out = tf.stack(xs)
        else:
            cell = tf.nn.rnn_cell.MultiRNNCell([
                tf.nn.rnn_cell.DeviceWrapper(tf.nn.rnn_cell.LSTMCell(hidden),
                                             devices[k % len(devices)]) for k in range(layers)])
            out, _ = tf.nn.dynamic_rnn(cell, x, time_major=True, dtype=dtype)
        per_pos, _ = sharded_softmax_cross_entropy(
            tf, tf.reshape(out, [-1, hidden]), tf.reshape(targets, [-1]), vocab, devices)
        loss = tf.reduce_mean(per_pos)
        global_step = tf.train.get_or_create_global_step()
        params = tf.trainable_variables()
        grads = tf.gradients(loss, params)
        if clip_norm:
            grads, _ = tf.clip_by_global_norm(grads, clip_norm)
        opt = (tf.train.AdamOptimizer(learning_rate) if optimizer == "adam"
               else tf.train.GradientDescentOptimizer(learning_rate))
        train_op = opt.apply_gradients(list(zip(grads, params)), global_step=global_step)
        model = {"ids": ids, "targets": targets, "loss": loss, "train_op": train_op,
                 "global_step": global_step, "hidden": hidden, "layers": layers}
        if rnn == "static":
            return model
        # one step of the same model on the same variables, for sampling
        sample_ids = tf.placeholder(tf.int32, [1, 1], name="sample_ids")
        state = tuple(tf.nn.rnn_cell.LSTMStateTuple(
            tf.placeholder(dtype, [1, hidden], name=f"sample_c{k}"),
            tf.placeholder(dtype, [1, hidden], name=f"sample_h{k}")) for k in range(layers))
        with tf.device(devices[0]):
            x1 = tf.nn.embedding_lookup(emb, sample_ids)
        out1, next_state = tf.nn.dynamic_rnn(cell, x1, initial_state=state, time_major=True)
        with tf.variable_scope(tf.get_variable_scope(), reuse=True):
            _, shards = sharded_softmax_cross_entropy(
                tf, tf.reshape(out1, [1, hidden]), tf.zeros([1], tf.int32), vocab, devices)
        probs = tf.nn.softmax(tf.concat(shards, 1))
    model.update(sample_ids=sample_ids, sample_state=state, sample_probs=probs,
                 sample_next_state=next_state)
    return model


def _windows(data: np.ndarray, steps: int, batch: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """`batch` random windows: inputs and next characters, time-major [steps, batch]."""
    start = rng.randint(0, len(data) - steps - 1, batch)
    idx = start[None, :] + np.arange(steps + 1)[:, None]
    w = data[idx]
    return w[:-1], w[1:]


def _validation_loss(sess, m, data, steps, batch, n_batches: int = 8) -> float:
    rng = np.random.RandomState(1234)          # the same windows every time
    losses = [sess.run(m["loss"], dict(zip((m["ids"], m["targets"]),
                                           _windows(data, steps, batch, rng))))
              for _ in range(n_batches)]
    return float(np.mean(losses))


def _sample(sess, m, chars, start: str, n: int, temperature: float, rng) -> str:
    index = {c: i for i, c in enumerate(chars)}
    hidden, layers = m["hidden"], m["layers"]
    state = [(np.zeros((1, hidden), np.float32), np.zeros((1, hidden), np.float32))
             for _ in range(layers)]
    out = list(start)
    probs = None
    for k, ch in enumerate(start + "\0" * n):
        if k >= len(start):
            p = np.log(np.maximum(probs[0].astype(np.float64), 1e-30)) / temperature
            p = np.exp(p - p.max())
            ch = chars[rng.choice(len(chars), p=p / p.sum())]
            out.append(ch)
            if k == len(start) + n - 1:
                break
        feed = {m["sample_ids"]: [[index[ch]]]}
        for (c_ph, h_ph), (c, h) in zip(m["sample_state"], state):
            feed[c_ph], feed[h_ph] = c, h
        probs, nxt = sess.run([m["sample_probs"], m["sample_next_state"]], feed)
        state = [(s.c, s.h) for s in nxt]
    return "".join(out)


def train(args) -> int:
    """`python -m runner train lstm`: train the character model, report, sample."""
    import tensorweave as tf
    from .train import _Progress
    text = load_shakespeare()
    chars = sorted(set(text))
    data = np.searchsorted(np.array(chars), np.array(list(text))).astype(np.int32)
    split = int(len(data) * 0.9)
    train_data, val_data = data[:split], data[split:]
    devices = [d if d.startswith("/") else "/" + d for d in args.devices.split(",")]
    if args.mode == "single":
        devices = devices[:1]
    tf.reset_default_graph()
    tf.set_random_seed(args.seed)
    m = build_lm(tf, len(chars), args.hidden, args.layers, args.seq, args.batch, devices,
                 learning_rate=args.learning_rate)
    n_cpu = max(int(d.rsplit(":", 1)[1]) for d in devices) + 1
    config = tf.ConfigProto(device_count={"CPU": n_cpu})
    rng = np.random.RandomState(args.seed)
    where = ", ".join(devices)
    print(f"char LM on tiny Shakespeare ({len(text):,} chars, vocab {len(chars)}): "
          f"{args.layers} LSTM layers of {args.hidden}, {args.seq} steps x batch {args.batch}, "
          f"mode {args.mode} on {where}", flush=True)
    with tf.Session(config=config) as sess:
        sess.run(tf.global_variables_initializer())
        val0 = _validation_loss(sess, m, val_data, args.seq, args.batch)
        bar = _Progress(args.steps, args.seq * args.batch, 0, rate="chars_s")
        t0 = time.monotonic()
        try:
            for step in range(1, args.steps + 1):
                x, y = _windows(train_data, args.seq, args.batch, rng)
                loss, _ = sess.run([m["loss"], m["train_op"]], {m["ids"]: x, m["targets"]: y})
                bar.update(step, float(loss))
        finally:
            bar.close()
        elapsed = time.monotonic() - t0
        val = _validation_loss(sess, m, val_data, args.seq, args.batch)
        rate = args.steps * args.seq * args.batch / elapsed
        print(f"trained {args.steps} steps in {elapsed:.1f} s ({rate:,.0f} chars/s); "
              f"validation loss {val0:.3f} -> {val:.3f} nats/char", flush=True)
        if args.sample:
            text_out = _sample(sess, m, chars, "ROMEO:\n", args.sample, 0.8,
                               np.random.RandomState(args.seed))
            print("--- sample ---\n" + text_out + "\n---", flush=True)
    if args.expect_val_loss is not None and not val <= args.expect_val_loss:
        print(f"validation loss {val:.3f} is above the expected {args.expect_val_loss}",
              flush=True)
        return 1
    return 0
