"""The model-parallel benchmark (`python -m runner bench modelparallel`): one SGD step of the
2-layer LSTM language model of `lstm_lm.py` (hidden 512, 35 steps, batch 64, vocabulary 1000),
layer k on device k and the softmax split by vocabulary columns, against the same model on one
device, in the same run (sessions in turn, in blocks: `bench._median_blocks`).

* 2 devices = two worker processes of one core each (`device_count={"CPU": 2}`); 1 device = the
  same graph with every node on /cpu:0 (one worker, one core); in-process = no device scopes,
  the client process with BLAS on both cores.
* `dynamic_rnn` over `MultiRNNCell([DeviceWrapper(LSTMCell(512), "/cpu:k")])`, and the other
  way TF1 programs place layers, one `static_rnn` per layer under `tf.device`.
* the step's matrix products alone (numpy, both cores, same shapes): `bench_rnn._matmul_floor`.
* GPipe (`tw.train.pipeline`, M micro-batches over 2 stages: embedding + layer 1 on /cpu:0,
  layer 2 + the softmax on /cpu:1): tokens/s, and each device's idle fraction in a traced step
  (`tw.client.step_stats_summary`) beside GPipe's (S-1)/(M+S-1).
"""
from __future__ import annotations

import contextlib
import os

import numpy as np

from .bench import Result, _median_blocks

__all__ = ["bench_lstm_model_parallel", "bench_gpipe"]

VOCAB, HIDDEN, STEPS, BATCH, LAYERS, LR = 1000, 512, 35, 64, 2, 0.1
TWO = ["/cpu:0", "/cpu:1"]


def _feed(model):
    rng = np.random.RandomState(0)
    shape = model["ids"].shape.as_list()
    return {model["ids"]: rng.randint(0, VOCAB, shape).astype(np.int32),
            model["targets"]: rng.randint(0, VOCAB, shape).astype(np.int32)}


def _session(tw, stack, build, config):
    """(session, step fn, model) for the model that `build(tw)` makes in a new graph."""
    g = tw.Graph()
    with g.as_default():
        tw.set_random_seed(0)
        model = build(tw)
        init = tw.global_variables_initializer()
    sess = stack.enter_context(tw.Session(graph=g, config=config))
    sess.run(init)
    feed = _feed(model)
    train = model["train_op"]

    def step():
        sess.run(train, feed)
    step()
    return sess, step, model


def _lm(devices, rnn="dynamic"):
    from .lstm_lm import build_lm

    def build(tw):
        return build_lm(tw, VOCAB, HIDDEN, LAYERS, STEPS, BATCH, devices, learning_rate=LR,
                        optimizer="sgd", clip_norm=0.0, rnn=rnn)
    return build


def _needs_two_cores(name):
    if len(os.sched_getaffinity(0)) < 2:
        return [Result(f"{name} (needs 2 cores: skipped)", float("nan"), "tokens/s", "-",
                       float("nan"), "-")]
    return None


def bench_lstm_model_parallel(quick: bool) -> list[Result]:
    import tensorweave as tw
    from .bench_rnn import _matmul_floor
    skipped = _needs_two_cores("2-layer LSTM LM on two devices")
    if skipped:
        return skipped
    two = tw.ConfigProto(device_count={"CPU": 2})
    rounds = 2 if quick else 5
    with contextlib.ExitStack() as stack:
        runs = {"2dev": _session(tw, stack, _lm(TWO), two),
                "1dev": _session(tw, stack, _lm(["/cpu:0"] * 2), two),
                "inproc": _session(tw, stack, _lm(["", ""]), None),
                "2dev_static": _session(tw, stack, _lm(TWO, "static"), two),
                "inproc_static": _session(tw, stack, _lm(["", ""], "static"), None)}
        floor = _matmul_floor(VOCAB, HIDDEN, STEPS, BATCH, LAYERS)
        floor()
        names = list(runs)
        times = _median_blocks([runs[n][1] for n in names] + [floor], rounds)
    t = dict(zip(names + ["floor"], times))
    tok = STEPS * BATCH

    def rate(name):
        return tok / t[name]
    what = f"2-layer LSTM LM (hidden {HIDDEN}, {STEPS} steps, batch {BATCH}, vocab {VOCAB})"
    return [
        Result(f"{what}, dynamic_rnn + DeviceWrapper: 2 devices (one core each)", rate("2dev"),
               "tokens/s", "1 device (one core)", rate("1dev"), ">= 1.6x",
               note=f"step {t['2dev'] * 1e3:.0f} ms vs {t['1dev'] * 1e3:.0f} ms"),
        Result("  the same, 2 devices vs the in-process session on both cores", rate("2dev"),
               "tokens/s", "in-process, BLAS on 2 cores", rate("inproc"), ">= 1.0x",
               note=f"in-process step {t['inproc'] * 1e3:.0f} ms"),
        Result("  static_rnn per layer under tf.device: 2 devices vs in-process, both cores",
               rate("2dev_static"), "tokens/s", "in-process static_rnn, BLAS on 2 cores",
               rate("inproc_static"), ">= 1.0x",
               note=f"steps {t['2dev_static'] * 1e3:.0f} ms vs "
                    f"{t['inproc_static'] * 1e3:.0f} ms"),
        Result("  the 2-device step (dynamic_rnn) vs its matrix products alone",
               t["2dev"] * 1e3, "ms", "every matmul of the step, numpy, both cores",
               t["floor"] * 1e3, "<= 1.2x", ratio=t["2dev"] / t["floor"]),
        Result("  the 2-device step (static_rnn) vs its matrix products alone",
               t["2dev_static"] * 1e3, "ms", "every matmul of the step, numpy, both cores",
               t["floor"] * 1e3, "<= 1.2x", ratio=t["2dev_static"] / t["floor"]),
        Result("  the in-process step (dynamic_rnn) vs its matrix products alone",
               t["inproc"] * 1e3, "ms", "every matmul of the step, numpy, both cores",
               t["floor"] * 1e3, "(context)", ratio=t["inproc"] / t["floor"]),
    ]


def _gpipe_lm(m: int):
    """The language model as two pipeline stages over `m` micro-batches (batch-major ids)."""
    def build(tw):
        ids = tw.placeholder(tw.int32, [BATCH, STEPS], name="ids")
        targets = tw.placeholder(tw.int32, [BATCH, STEPS], name="targets")
        init = tw.random_uniform_initializer(-0.08, 0.08)

        def stage0(x, y):
            emb = tw.get_variable("embedding", [VOCAB, HIDDEN], initializer=init)
            h, _ = tw.nn.dynamic_rnn(tw.nn.rnn_cell.LSTMCell(HIDDEN, initializer=init),
                                     tw.nn.embedding_lookup(emb, x), dtype=tw.float32)
            return h, y

        def stage1(h, y):
            h, _ = tw.nn.dynamic_rnn(tw.nn.rnn_cell.LSTMCell(HIDDEN, initializer=init), h,
                                     dtype=tw.float32)
            w = tw.get_variable("softmax_w", [HIDDEN, VOCAB], initializer=init)
            b = tw.get_variable("softmax_b", [VOCAB], initializer=tw.zeros_initializer())
            logits = tw.matmul(tw.reshape(h, [-1, HIDDEN]), w) + b
            loss = tw.nn.sparse_softmax_cross_entropy_with_logits(
                labels=tw.reshape(y, [-1]), logits=logits)
            return tw.reshape(loss, [-1, STEPS])       # per example and step
        per_example = tw.train.pipeline([stage0, stage1], [ids, targets], m, devices=TWO)
        loss = tw.reduce_mean(per_example)
        train = tw.train.GradientDescentOptimizer(LR).minimize(loss)
        return {"ids": ids, "targets": targets, "loss": loss, "train_op": train}
    return build


def _idle_fractions(tw, sess, model) -> dict:
    opts = tw.RunOptions(trace_level=tw.RunOptions.FULL_TRACE)
    md = tw.RunMetadata()
    sess.run(model["train_op"], _feed(model), options=opts, run_metadata=md)
    return {dev.rsplit("/", 1)[-1]: 1.0 - s.busy_fraction
            for dev, s in tw.client.step_stats_summary(md).items()}


def bench_gpipe(quick: bool) -> list[Result]:
    import tensorweave as tw
    skipped = _needs_two_cores("GPipe micro-batches on two devices")
    if skipped:
        return skipped
    two = tw.ConfigProto(device_count={"CPU": 2})
    rounds = 2 if quick else 4
    ms = (4, 8)
    with contextlib.ExitStack() as stack:
        runs = [_session(tw, stack, _gpipe_lm(m), two) for m in ms]
        base = _session(tw, stack, _lm(["/cpu:0"] * 2), two)
        times = _median_blocks([r[1] for r in runs] + [base[1]], rounds)
        idle = [_idle_fractions(tw, s, model) for s, _, model in runs]
    tok = STEPS * BATCH
    out = []
    for m, t, frac in zip(ms, times, idle):
        measured = ", ".join(f"{d} {v:.0%}" for d, v in frac.items())
        out.append(Result(f"GPipe, 2 stages (emb + layer 1 | layer 2 + softmax), M = {m}",
                          tok / t, "tokens/s", "1 device (one core), not pipelined",
                          tok / times[-1], "(reported)",
                          note=f"step {t * 1e3:.0f} ms; idle per device in a traced step: "
                               f"{measured}; GPipe's (S-1)/(M+S-1) = "
                               f"{tw.train.bubble_fraction(2, m):.0%}"))
    return out
