"""`python -m runner demo`: train a small MLP on the two-spirals problem and print the loss.

Everything a TF1 user writes is here: placeholders, variables from `get_variable` under variable
scopes, `tw.nn` ops, a loss, `AdamOptimizer.minimize`, `Session.run` with feeds; the demo ends by
checking the training accuracy it reached.
"""
from __future__ import annotations

import time

import numpy as np


def two_spirals(n: int, noise: float, rng) -> tuple[np.ndarray, np.ndarray]:
    t = np.sqrt(rng.rand(n)) * 3 * np.pi
    labels = rng.randint(0, 2, n)
    r = t / (3 * np.pi)
    sign = np.where(labels == 1, 1.0, -1.0)
    x = np.stack([sign * r * np.cos(t), sign * r * np.sin(t)], axis=1)
    x += rng.randn(n, 2) * noise
    return x.astype(np.float32), labels.astype(np.int32)


def build(tw, hidden: int = 64):
    x = tw.placeholder(tw.float32, [None, 2], name="x")
    y = tw.placeholder(tw.int32, [None], name="y")
    h = x
    for i in range(2):
        with tw.variable_scope(f"layer{i}"):
            w = tw.get_variable("w", [h.shape[1].value, hidden])
            b = tw.get_variable("b", [hidden], initializer=tw.zeros_initializer())
            h = tw.nn.tanh(tw.matmul(h, w) + b)
    with tw.variable_scope("out"):
        w = tw.get_variable("w", [hidden, 2])
        b = tw.get_variable("b", [2], initializer=tw.zeros_initializer())
        logits = tw.matmul(h, w) + b
    loss = tw.reduce_mean(tw.nn.sparse_softmax_cross_entropy_with_logits(labels=y,
                                                                        logits=logits))
    accuracy = tw.reduce_mean(tw.cast(tw.equal(tw.argmax(logits, 1, output_type=tw.int32), y),
                                      tw.float32))
    return x, y, loss, accuracy


def main(args) -> int:
    import tensorweave as tw
    steps = getattr(args, "steps", 1000)
    rng = np.random.RandomState(0)
    xs, ys = two_spirals(1000, 0.02, rng)
    tw.reset_default_graph()
    tw.set_random_seed(1)
    x, y, loss, accuracy = build(tw)
    global_step = tw.train.get_or_create_global_step()
    train = tw.train.AdamOptimizer(0.01).minimize(loss, global_step=global_step)
    print("tensorweave demo: 2-64-64-2 tanh MLP on two spirals (1000 points), full-batch Adam")
    t0 = time.perf_counter()
    with tw.Session() as sess:
        sess.run(tw.global_variables_initializer())
        for step in range(1, steps + 1):
            sess.run(train, {x: xs, y: ys})
            if step == 1 or step % 100 == 0:
                lv, acc = sess.run([loss, accuracy], {x: xs, y: ys})
                print(f"step {step:4d}  loss {lv:.4f}  accuracy {acc:.3f}", flush=True)
        lv, acc = sess.run([loss, accuracy], {x: xs, y: ys})
        gs = sess.run(global_step)
    dt = time.perf_counter() - t0
    print(f"done: {gs} steps in {dt:.2f} s, final loss {lv:.4f}, training accuracy {acc:.3f}")
    if acc < 0.9:
        print("demo: accuracy below 0.9 -- training did not converge")
        return 1
    return 0
