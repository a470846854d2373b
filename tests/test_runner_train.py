"""`python -m runner train digits` (issue 11): sync (in-graph towers) and async (between-graph,
ps tasks) data-parallel training of the digits CNN, checkpoints and resuming, bad input."""
from __future__ import annotations

import os
import re

import pytest

import tensorweave as tw
from runner.__main__ import main as runner_main


def run(capsys, *argv):
    rc = runner_main(["train", "digits", *argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


def accuracy(out):
    return float(re.search(r"test accuracy (\d\.\d+)", out).group(1))


def test_sync_towers_learn_checkpoint_and_resume(capsys, tmp_path):
    d = str(tmp_path / "run")
    rc, out, err = run(capsys, "--workers", "2", "--steps", "150", "--logdir", d,
                       "--checkpoint-steps", "100")
    assert rc == 0, err
    assert accuracy(out) > 0.85              # 10 classes: chance is 0.1
    assert tw.train.latest_checkpoint(d).endswith("model.ckpt-150")
    assert f"checkpoints: {d}" in out and os.path.exists(os.path.join(d, "train.log"))
    # the same directory again, further: it resumes at step 150
    rc, out, err = run(capsys, "--workers", "2", "--steps", "170", "--logdir", d)
    assert rc == 0, err
    assert "150/170" in err                  # the progress bar starts where the run left off
    assert tw.train.latest_checkpoint(d).endswith("model.ckpt-170")


def test_async_between_graph_training_on_a_local_cluster(capsys, tmp_path):
    d = str(tmp_path / "async")
    rc, out, err = run(capsys, "--workers", "2", "--ps", "1", "--mode", "async",
                       "--steps", "150", "--logdir", d)
    assert rc == 0, err
    assert accuracy(out) > 0.7
    assert "(async, 2 workers, 1 ps)" in out
    assert tw.train.latest_checkpoint(d) is not None


@pytest.mark.parametrize("argv,message", [
    (["--mode", "sync", "--ps", "1"], "takes no --ps tasks"),
    (["--mode", "async", "--ps", "0"], "needs at least one --ps task"),
    (["--workers", "0"], "--workers must be at least 1"),
    (["--logdir", "/proc/no-such-dir"], "cannot write to --logdir"),
])
def test_bad_input_is_a_clear_error_at_the_start(capsys, argv, message):
    rc, out, err = run(capsys, *argv)
    assert rc == 2 and message in err


def test_an_unknown_data_set(capsys):
    assert runner_main(["train", "cifar"]) == 2
    assert "unknown data set 'cifar'" in capsys.readouterr().err
