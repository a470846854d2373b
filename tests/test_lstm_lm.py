"""The model-parallel LSTM language model (runner/lstm_lm.py, `python -m runner train lstm`):
the vocabulary-sharded softmax is the exact cross entropy, and training with the layers and
the softmax on two worker processes gives the single-device parameters (float64)."""
import numpy as np
import pytest

import tensorweave as tw
from runner import lstm_lm
from runner.__main__ import main as runner_main

pytestmark = pytest.mark.timeout(180)


@pytest.mark.parametrize("shards", [1, 2, 3])
def test_sharded_softmax_is_the_cross_entropy(shards):
    rng = np.random.RandomState(0)
    vocab, hidden, n = 11, 5, 7
    h_v = rng.randn(n, hidden)
    labels_v = rng.randint(0, vocab, n).astype(np.int32)
    labels_v[0], labels_v[1] = 0, vocab - 1          # both ends of the vocabulary
    h = tw.constant(h_v)
    labels = tw.constant(labels_v)
    with tw.variable_scope("s", initializer=tw.random_uniform_initializer(-1, 1, seed=1),
                           dtype=tw.float64):
        loss, logits = lstm_lm.sharded_softmax_cross_entropy(
            tw, h, labels, vocab, [""] * shards)
    full = tw.concat(logits, 1)
    ref = tw.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=full)
    shard_vars = tw.trainable_variables()
    assert len(shard_vars) == 2 * shards
    assert sum(v.shape[-1].value for v in shard_vars[::2]) == vocab
    g = tw.gradients(tw.reduce_sum(loss * np.arange(1.0, n + 1)), [h] + shard_vars)
    g_ref = tw.gradients(tw.reduce_sum(ref * np.arange(1.0, n + 1)), [h] + shard_vars)
    with tw.Session() as s:
        s.run(tw.global_variables_initializer())
        a, b, ga, gb = s.run([loss, ref, g, g_ref])
    np.testing.assert_allclose(a, b, rtol=1e-12)
    for u, v in zip(ga, gb):
        np.testing.assert_allclose(u, v, rtol=1e-10, atol=1e-12)


def _trained(devices, steps=2):
    g = tw.Graph()
    with g.as_default():
        tw.set_random_seed(3)
        m = lstm_lm.build_lm(tw, vocab=9, hidden=6, layers=3, steps=5, batch=4, devices=devices,
                             learning_rate=0.5, optimizer="sgd", dtype=tw.float64,
                             init_seed=7)
        rng = np.random.RandomState(0)
        data = rng.randint(0, 9, 200).astype(np.int32)
        config = tw.ConfigProto(device_count={"CPU": 2}) if devices[0] else None
        with tw.Session(config=config) as s:
            s.run(tw.global_variables_initializer())
            losses = []
            for _ in range(steps):
                x, y = lstm_lm._windows(data, 5, 4, rng)
                losses.append(s.run([m["loss"], m["train_op"]],
                                    {m["ids"]: x, m["targets"]: y})[0])
            variables = {v.op.name: (v.device, s.run(v)) for v in tw.trainable_variables()}
    return losses, variables


def test_model_parallel_training_equals_single_device_float64():
    losses1, vars1 = _trained(["", ""])         # the same model, no device scopes
    losses2, vars2 = _trained(["/cpu:0", "/cpu:1"])
    np.testing.assert_allclose(losses2, losses1, rtol=1e-10)
    assert sorted(vars1) == sorted(vars2)
    for name, (_, value) in vars1.items():
        np.testing.assert_allclose(vars2[name][1], value, rtol=1e-9, atol=1e-12, err_msg=name)
    devs = {n: d for n, (d, _) in vars2.items()}
    assert devs["lm/embedding"] == "/device:CPU:0"
    assert devs["lm/rnn/multi_rnn_cell/cell_1/lstm_cell/kernel"] == "/device:CPU:1"
    assert devs["lm/rnn/multi_rnn_cell/cell_2/lstm_cell/kernel"] == "/device:CPU:0"
    assert devs["lm/softmax/w_0"] == "/device:CPU:0" and devs["lm/softmax/w_1"] == "/device:CPU:1"


@pytest.mark.parametrize("mode", ["model-parallel", "single"])
def test_runner_train_lstm(capsys, mode):
    rc = runner_main(["train", "lstm", "--mode", mode, "--steps", "3", "--hidden", "16",
                      "--seq", "8", "--batch", "4", "--sample", "20"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "validation loss" in out and "--- sample ---" in out
    before, after = (float(v) for v in
                     out.split("validation loss ")[1].split(" nats")[0].split(" -> "))
    assert np.isfinite(after) and after < before       # 3 Adam steps from a uniform guess


def test_runner_train_lstm_bad_arguments(capsys):
    assert runner_main(["train", "lstm", "--devices", "gpu0"]) == 2
    assert "--devices must be a list like cpu:0,cpu:1" in capsys.readouterr().err
    assert runner_main(["train", "lstm", "--mode", "async"]) == 2
    assert "--mode must be model-parallel or single" in capsys.readouterr().err
    assert runner_main(["train", "digits", "--mode", "model-parallel"]) == 2
    assert "--mode must be sync or async" in capsys.readouterr().err
