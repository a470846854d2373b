"""`python -m runner train digits` (issue 11): sync (in-graph towers, or between-graph with
SyncReplicasOptimizer) and async (between-graph, ps tasks) data-parallel training of the digits
CNN, checkpoints and resuming, a killed task, bad input."""
from __future__ import annotations

import os
import re

import numpy as np
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


@pytest.mark.parametrize("mode", ["async", "sync"])
def test_between_graph_training_on_a_local_cluster(capsys, tmp_path, mode):
    d = str(tmp_path / mode)
    rc, out, err = run(capsys, "--workers", "2", "--ps", "1", "--mode", mode,
                       "--steps", "150", "--logdir", d)
    assert rc == 0, err
    assert accuracy(out) > 0.7
    assert f"({mode}, 2 workers, 1 ps)" in out
    last = int(tw.train.latest_checkpoint(d).rsplit("-", 1)[1])
    # (async: both tasks may take a step from 149, so the last can be past 150)
    assert last == 150 if mode == "sync" else 150 <= last <= 151
    assert "restarting it" not in err


def test_a_task_that_fails_ends_a_sync_cluster_run_instead_of_hanging(tmp_path):
    # the chief's updates wait for every task's gradient: a task whose client fails must not
    # leave the others waiting forever
    import argparse

    from runner.datasets import load_digits
    from runner.train import _cluster

    class Fail(tw.train.SessionRunHook):
        def after_run(self, run_context, run_values):
            raise ValueError("task 1 gave up")

    args = argparse.Namespace(workers=2, ps=1, mode="sync", steps=100, batch=16,
                              logdir=str(tmp_path), checkpoint_steps=50, seed=0)
    with pytest.raises(RuntimeError, match="worker task 1 failed: ValueError: task 1 gave up"):
        _cluster(tw, args, load_digits(),
                 extra_hooks=lambda task, servers: [Fail()] if task == 1 else [])


@pytest.mark.parametrize("argv,message", [
    (["--mode", "async", "--ps", "0"], "needs at least one --ps task"),
    (["--workers", "0"], "--workers must be at least 1"),
    (["--logdir", "/proc/no-such-dir"], "cannot write to --logdir"),
])
def test_bad_input_is_a_clear_error_at_the_start(capsys, argv, message):
    rc, out, err = run(capsys, *argv)
    assert rc == 2 and message in err


def test_an_unknown_data_set(capsys):
    assert runner_main(["train", "cifar"]) == 2
    assert "unknown model 'cifar'" in capsys.readouterr().err


def test_a_worker_killed_mid_run_is_replaced_and_the_run_ends_as_if_it_had_not_been(tmp_path,
                                                                                     caplog):
    # sync mode: the lost worker fails the step naming it, the MonitoredSession makes a new
    # session (new worker processes) from the last checkpoint, and since every step's batch is
    # taken from the global step, the final parameters equal those of a run never interrupted
    import argparse
    import logging
    import signal

    from runner.datasets import load_digits
    from runner.train import _sync

    class KillOnce(tw.train.SessionRunHook):
        killed = None

        def after_create_session(self, session, coord):
            self.workers = session._master.workers

        def before_run(self, run_context):
            return tw.train.SessionRunArgs(tw.train.get_global_step())

        def after_run(self, run_context, run_values):
            if run_values.results == 30 and KillOnce.killed is None:
                (w,) = [w for d, w in self.workers.items() if d.endswith("CPU:1")]
                os.kill(w.pid, signal.SIGKILL)
                KillOnce.killed = w.pid

    def args(d):
        return argparse.Namespace(workers=2, ps=0, mode="sync", steps=50, batch=16, logdir=d,
                                  checkpoint_steps=20, seed=3)
    data = load_digits()
    caplog.set_level(logging.INFO, logger="tensorweave")
    a, b = str(tmp_path / "killed"), str(tmp_path / "whole")
    _sync(tw, args(a), data, extra_hooks=[KillOnce()])
    assert KillOnce.killed is not None
    said = " ".join(r.getMessage() for r in caplog.records)
    assert f"pid {KillOnce.killed}" in said and "new session will be created" in said
    _sync(tw, args(b), data)
    ca, cb = tw.train.latest_checkpoint(a), tw.train.latest_checkpoint(b)
    assert ca.endswith("-50") and cb.endswith("-50")
    names = [n for n, _ in tw.train.list_variables(cb)]
    assert "conv1/w" in names and "global_step" in names
    for n in names:
        np.testing.assert_array_equal(tw.train.load_variable(ca, n),
                                      tw.train.load_variable(cb, n), err_msg=n)


@pytest.mark.parametrize("mode", ["async", "sync"])
def test_a_killed_worker_task_is_restarted_and_training_finishes(tmp_path, capsys, mode):
    # (between-graph: the parameters live on the ps task, which the restarted worker task's
    # new session finds initialised; in sync mode the chief's updates wait for it)
    import argparse
    import signal

    from runner.datasets import load_digits
    from runner.train import _cluster

    killed = []

    class KillTask1(tw.train.SessionRunHook):
        def __init__(self, servers):
            self.servers = servers

        def before_run(self, run_context):
            return tw.train.SessionRunArgs(tw.train.get_global_step())

        def after_run(self, run_context, run_values):
            if run_values.results >= 40 and not killed:
                task1 = self.servers[-1]                  # (worker task 1)
                killed.append(task1.pids[0])
                os.kill(task1.pids[0], signal.SIGKILL)

    def hooks(task, servers):
        return [KillTask1(servers)] if task == 0 else []
    args = argparse.Namespace(workers=2, ps=1, mode=mode, steps=150, batch=32,
                              logdir=str(tmp_path / "a"), checkpoint_steps=20, seed=0)
    acc = _cluster(tw, args, load_digits(), extra_hooks=hooks)
    assert killed
    err = capsys.readouterr().err
    assert f"(pid {killed[0]}) exited with status -9: restarting it" in err
    assert acc > 0.7
    assert tw.train.latest_checkpoint(args.logdir) is not None
