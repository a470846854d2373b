"""MonitoredSession, its hooks and MonitoredTrainingSession (TF1 `tf.train` training sessions).

The model everywhere is w <- w - 0.1 * d(w^2)/dw = 0.8 * w from w = 5, with the global step
incremented by the optimizer, so after n steps w = 5 * 0.8**n and the global step is n.
"""
from __future__ import annotations

import logging
import os
import threading
import time

import numpy as np
import pytest

import tensorweave as tw
from tensorweave.framework import errors

pytestmark = pytest.mark.timeout(60)


def _model():
    gs = tw.train.get_or_create_global_step()
    w = tw.Variable(np.float32(5.0), name="w")
    loss = tw.square(w, name="loss")
    train = tw.train.GradientDescentOptimizer(0.1).minimize(loss, global_step=gs)
    return gs, w, loss, train


def _w_after(n):
    w = np.float32(5.0)
    for _ in range(n):
        w = w - np.float32(0.1) * np.float32(2.0) * w
    return w


class _Recorder(tw.train.SessionRunHook):
    """Records every call; asks for `fetches` (and `feeds`) in each step."""

    def __init__(self, fetches=None, feeds=None):
        self.calls = []
        self.results = []
        self._fetches = fetches
        self._feeds = feeds

    def begin(self):
        self.calls.append("begin")

    def after_create_session(self, session, coord):
        self.calls.append("after_create_session")

    def before_run(self, run_context):
        self.calls.append("before_run")
        if self._fetches is None and self._feeds is None:
            return None
        return tw.train.SessionRunArgs(self._fetches, feed_dict=self._feeds)

    def after_run(self, run_context, run_values):
        self.calls.append("after_run")
        self.results.append(run_values.results)

    def end(self, session):
        self.calls.append("end")


# ---------------------------------------------------------------------------------------------
# hooks and the step
# ---------------------------------------------------------------------------------------------
def test_hook_call_order_and_merged_fetches():
    gs, w, loss, train = _model()
    x = tw.placeholder(tw.float32, [], name="x")
    hook = _Recorder(fetches={"w": w, "twice": x * 2.0}, feeds={x: 3.0})
    with tw.train.MonitoredSession(hooks=[hook]) as sess:
        assert hook.calls == ["begin", "after_create_session"]
        assert sess.graph.finalized
        out = sess.run([loss, train])
        np.testing.assert_allclose(out[0], 25.0)
        assert out[1] is None
        sess.run(train)
    assert hook.calls == ["begin", "after_create_session", "before_run", "after_run",
                          "before_run", "after_run", "end"]
    # the hook's fetches ran in the caller's step, with the hook's feed
    assert [r["twice"] for r in hook.results] == [6.0, 6.0]
    np.testing.assert_allclose(hook.results[1]["w"], _w_after(2), rtol=1e-6)
    assert not tw.get_default_graph().finalized  # un-finalized again at close
    assert sess.should_stop()


def test_feed_conflicts_raise_as_in_tf():
    x = tw.placeholder(tw.float32, [], name="x")
    y = x + 1.0
    with tw.train.MonitoredSession(hooks=[_Recorder(feeds={x: 1.0})]) as sess:
        with pytest.raises(RuntimeError, match="Same tensor is fed by a SessionRunHook and "
                                               "user.*x:0"):
            sess.run(y, feed_dict={x: 2.0})
    tw.reset_default_graph()
    x = tw.placeholder(tw.float32, [], name="x")
    y = x + 1.0
    hooks = [_Recorder(feeds={x: 1.0}), _Recorder(feeds={x: 2.0})]
    with tw.train.MonitoredSession(hooks=hooks) as sess:
        with pytest.raises(RuntimeError, match="Same tensor is fed by two hooks"):
            sess.run(y)


def test_feed_fn_hook_and_final_ops_hook():
    x = tw.placeholder(tw.float32, [], name="x")
    acc = tw.Variable(0.0, name="acc")
    add = tw.assign_add(acc, x)
    values = iter([1.0, 2.0, 4.0])
    final = tw.train.FinalOpsHook(acc * 10.0)
    with tw.train.MonitoredSession(
            hooks=[tw.train.FeedFnHook(lambda: {x: next(values)}), final]) as sess:
        for _ in range(3):
            sess.run(add)
    assert final.final_ops_values == 70.0


def test_stop_at_step_hook_last_step_and_num_steps(tmp_path):
    gs, w, loss, train = _model()
    steps = 0
    with tw.train.MonitoredTrainingSession(
            checkpoint_dir=str(tmp_path), save_checkpoint_steps=100,
            hooks=[tw.train.StopAtStepHook(last_step=5)]) as sess:
        while not sess.should_stop():
            _, step = sess.run([train, gs])
            steps += 1
    assert steps == 5 and step == 5
    # restored at step 5 (the final checkpoint), num_steps counts from there
    steps = 0
    with tw.train.MonitoredTrainingSession(
            checkpoint_dir=str(tmp_path), save_checkpoint_steps=100,
            hooks=[tw.train.StopAtStepHook(num_steps=3)]) as sess:
        assert sess.run(gs) == 5
        while not sess.should_stop():
            _, step, wv = sess.run([train, gs, w])
            steps += 1
    assert steps == 3 and step == 8
    np.testing.assert_allclose(wv, _w_after(8), rtol=1e-6)
    with pytest.raises(ValueError, match="One of num_steps or last_step"):
        tw.train.StopAtStepHook()
    with pytest.raises(ValueError, match="Only one of"):
        tw.train.StopAtStepHook(num_steps=1, last_step=2)


def test_stop_at_step_hook_needs_a_global_step():
    tw.Variable(1.0, name="v")
    with pytest.raises(RuntimeError, match="Global step should be created to use "
                                           "StopAtStepHook"):
        tw.train.MonitoredSession(hooks=[tw.train.StopAtStepHook(num_steps=1)])


def test_checkpoint_saver_hook_steps_and_restore(tmp_path):
    gs, w, loss, train = _model()
    ckpt = str(tmp_path / "ckpt")
    hook = tw.train.CheckpointSaverHook(ckpt, save_steps=2)
    with tw.train.SingularMonitoredSession(hooks=[hook]) as sess:
        for _ in range(5):
            sess.run(train)
        raw = sess.raw_session()
        assert isinstance(raw, tw.Session)
        assert raw.run(gs) == 5
    state = tw.train.get_checkpoint_state(ckpt)
    steps = [int(p.rsplit("-", 1)[1]) for p in state.all_model_checkpoint_paths]
    assert steps == [0, 2, 4, 5]  # after creation, every 2 steps, and at the end
    assert tw.train.latest_checkpoint(ckpt) == os.path.join(ckpt, "model.ckpt-5")
    np.testing.assert_allclose(tw.train.load_variable(os.path.join(ckpt, "model.ckpt-4"), "w"),
                               _w_after(4), rtol=1e-6)
    # a new graph and session restores the variables and the global step
    tw.reset_default_graph()
    gs, w, loss, train = _model()
    with tw.train.MonitoredTrainingSession(checkpoint_dir=ckpt, save_checkpoint_steps=2,
                                           log_step_count_steps=None) as sess:
        assert sess.run(gs) == 5
        np.testing.assert_allclose(sess.run(w), _w_after(5), rtol=1e-6)
        sess.run(train)
        np.testing.assert_allclose(sess.run(w), _w_after(6), rtol=1e-6)
    assert tw.train.latest_checkpoint(ckpt).endswith("model.ckpt-6")
    with pytest.raises(ValueError, match="Can not provide both"):
        tw.train.CheckpointSaverHook(ckpt, save_secs=1, save_steps=1)


def test_checkpoint_saver_listener_can_stop_training(tmp_path):
    gs, w, loss, train = _model()

    class Listener(tw.train.CheckpointSaverListener):
        def __init__(self):
            self.saves = []

        def after_save(self, session, global_step_value):
            self.saves.append(global_step_value)
            return global_step_value >= 3

    listener = Listener()
    hook = tw.train.CheckpointSaverHook(str(tmp_path), save_steps=3, listeners=[listener])
    with tw.train.MonitoredSession(hooks=[hook]) as sess:
        n = 0
        while not sess.should_stop():
            sess.run(train)
            n += 1
    assert n == 3 and listener.saves == [0, 3]


def test_checkpoint_dir_that_cannot_be_written_is_a_clear_error_at_the_start(tmp_path):
    gs, w, loss, train = _model()
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(errors.PermissionDeniedError, match="cannot create the checkpoint "
                                                           "directory.*file/ckpt"):
        tw.train.MonitoredTrainingSession(checkpoint_dir=str(tmp_path / "file" / "ckpt"))
    assert not tw.get_default_graph().finalized


def test_preempted_session_is_recreated_from_the_last_checkpoint(tmp_path):
    gs, w, loss, train = _model()

    class Preempt(_Recorder):
        def before_run(self, run_context):
            super().before_run(run_context)
            if self.calls.count("before_run") == 4:
                raise errors.AbortedError(None, None, "task /job:ps/task:0 restarted")

    hook = Preempt()
    with tw.train.MonitoredTrainingSession(checkpoint_dir=str(tmp_path),
                                           save_checkpoint_steps=2, hooks=[hook]) as sess:
        for _ in range(3):
            sess.run(train)
        # the 4th step fails: the session is recreated (restored at step 2) and the step rerun
        _, step, wv = sess.run([train, gs, w])
    assert hook.calls.count("after_create_session") == 2
    assert step == 3
    np.testing.assert_allclose(wv, _w_after(3), rtol=1e-6)
    # a SingularMonitoredSession does not recover
    tw.reset_default_graph()
    gs, w, loss, train = _model()
    with pytest.raises(errors.AbortedError):
        with tw.train.SingularMonitoredSession(hooks=[Preempt()]) as sess:
            for _ in range(4):
                sess.run(train)


def test_monitored_training_session_checkpoint_defaults(tmp_path):
    gs, w, loss, train = _model()
    sess = tw.train.MonitoredTrainingSession(checkpoint_dir=str(tmp_path))
    kinds = [type(h).__name__ for h in sess._hooks]
    assert kinds == ["StepCounterHook", "CheckpointSaverHook"]
    assert sess._hooks[1]._timer._every_secs == 600  # TF1's default: every 600 s
    sess.close()
    sess = tw.train.MonitoredTrainingSession(checkpoint_dir=str(tmp_path),
                                             save_checkpoint_steps=7)
    assert sess._hooks[1]._timer._every_steps == 7 and sess._hooks[1]._timer._every_secs is None
    sess.close()
    sess = tw.train.MonitoredTrainingSession(checkpoint_dir=None)
    assert sess._hooks == []
    sess.close()
    with pytest.raises(RuntimeError, match="Session is already closed"):
        sess.run(train)


@pytest.mark.filterwarnings("ignore:invalid value encountered in sqrt")
def test_nan_tensor_hook():
    w = tw.Variable(-1.0, name="w")
    loss = tw.sqrt(w)
    with tw.train.MonitoredSession(hooks=[tw.train.NanTensorHook(loss)]) as sess:
        with pytest.raises(tw.train.NanLossDuringTrainingError, match="NaN loss during"):
            sess.run(loss)
    with tw.train.MonitoredSession(
            hooks=[tw.train.NanTensorHook(loss, fail_on_nan_loss=False)]) as sess:
        assert np.isnan(sess.run(loss))
        assert sess.should_stop()
    ok = tw.sqrt(tw.abs(w))
    with tw.train.MonitoredSession(hooks=[tw.train.NanTensorHook(ok)]) as sess:
        assert sess.run(ok) == 1.0 and not sess.should_stop()


def test_logging_tensor_hook(caplog):
    gs, w, loss, train = _model()
    hook = tw.train.LoggingTensorHook({"loss": loss, "step": gs}, every_n_iter=2, at_end=True)
    with caplog.at_level(logging.INFO, logger="tensorweave"):
        with tw.train.MonitoredSession(hooks=[hook]) as sess:
            for _ in range(5):
                sess.run(train)
    lines = [r.getMessage() for r in caplog.records
             if r.name == "tensorweave.train.basic_session_run_hooks"]
    # iterations 0, 2 and 4, then at the end; in a step the loss is read before the update,
    # the global step after its increment
    assert [line.split(" (")[0] for line in lines] == [
        f"loss = {np.float32(_w_after(n)) ** 2}, step = {n + 1}" for n in (0, 2, 4)] + [
        f"loss = {np.float32(_w_after(5)) ** 2}, step = 5"]
    assert lines[1].endswith(" sec)")
    with pytest.raises(ValueError, match="exactly one of every_n_iter and every_n_secs"):
        tw.train.LoggingTensorHook([loss])


def test_logging_tensor_hook_names_and_formatter(caplog):
    x = tw.constant([1.0, 2.0], name="x")
    hook = tw.train.LoggingTensorHook(["x"], every_n_iter=1,
                                      formatter=lambda v: f"sum={v['x'].sum()}")
    with caplog.at_level(logging.INFO, logger="tensorweave"):
        with tw.train.MonitoredSession(hooks=[hook]) as sess:
            sess.run(x)
    assert "sum=3.0" in [r.getMessage() for r in caplog.records]


def test_step_counter_hook(caplog):
    gs, w, loss, train = _model()
    with caplog.at_level(logging.INFO, logger="tensorweave"):
        with tw.train.MonitoredSession(
                hooks=[tw.train.StepCounterHook(every_n_steps=2)]) as sess:
            for _ in range(6):
                sess.run(train)
    rates = [r.getMessage() for r in caplog.records if "global_step/sec" in r.getMessage()]
    assert len(rates) in (2, 3)  # steps 2->4, 4->6 (and 0->2 when the clock ticked)
    assert float(rates[-1].split(": ")[1]) > 0
    with pytest.raises(NotImplementedError, match="summaries are not supported"):
        tw.train.StepCounterHook(summary_writer=object())
    with pytest.raises(ValueError, match="exactly one of"):
        tw.train.StepCounterHook(every_n_steps=None)


def test_second_or_step_timer():
    t = tw.train.SecondOrStepTimer(every_steps=3)
    assert t.should_trigger_for_step(0)
    assert t.update_last_triggered_step(0) == (None, None)
    assert not t.should_trigger_for_step(0) and not t.should_trigger_for_step(2)
    assert t.should_trigger_for_step(3)
    assert t.update_last_triggered_step(3)[1] == 3 and t.last_triggered_step() == 3
    with pytest.raises(ValueError, match="Either every_secs or every_steps"):
        tw.train.SecondOrStepTimer()


# ---------------------------------------------------------------------------------------------
# ending the loop
# ---------------------------------------------------------------------------------------------
def test_out_of_range_error_is_swallowed_and_hooks_end(tmp_path):
    gs, w, loss, train = _model()
    hook = _Recorder()
    with tw.train.MonitoredTrainingSession(checkpoint_dir=str(tmp_path),
                                           hooks=[hook]) as sess:
        for i in range(10):
            if i == 3:
                raise errors.OutOfRangeError(None, None, "End of sequence")
            sess.run(train)
    assert hook.calls[-1] == "end"
    assert tw.train.latest_checkpoint(str(tmp_path)).endswith("model.ckpt-3")  # final save


def test_other_errors_propagate_without_end():
    gs, w, loss, train = _model()
    hook = _Recorder()
    with pytest.raises(KeyboardInterrupt):
        with tw.train.MonitoredSession(hooks=[hook]) as sess:
            sess.run(train)
            raise KeyboardInterrupt
    assert "end" not in hook.calls and sess.should_stop()  # closed, hooks not ended (as TF1)
    with pytest.raises(RuntimeError, match="Session is already closed"):
        sess.run(train)


def test_run_after_stop_requested_raises_and_run_step_fn():
    gs, w, loss, train = _model()
    with tw.train.MonitoredSession(hooks=[tw.train.StopAtStepHook(last_step=1)]) as sess:
        sess.run(train)
        assert sess.should_stop()
        with pytest.raises(RuntimeError, match="Run called even after should_stop"):
            sess.run(train)
    tw.reset_default_graph()
    gs, w, loss, train = _model()
    with tw.train.MonitoredSession() as sess:
        def step_fn(step_context):
            step_context.run_with_hooks(train)
            if step_context.session.run(gs) >= 2:
                step_context.request_stop()
            return "ran"
        assert sess.run_step_fn(step_fn) == "ran"
        with pytest.raises(StopIteration):
            sess.run_step_fn(step_fn)
        assert sess.should_stop()
        with pytest.raises(ValueError, match="step_context"):
            sess.run_step_fn(lambda ctx: None)


def test_scaffold_defaults_and_collections():
    gs, w, loss, train = _model()
    local = tw.Variable(3.0, name="local", collections=[tw.GraphKeys.LOCAL_VARIABLES])
    scaffold = tw.train.Scaffold()
    assert scaffold.finalize() is scaffold and tw.get_default_graph().finalized
    assert tw.get_collection(tw.GraphKeys.INIT_OP) == [scaffold.init_op]
    assert tw.get_collection(tw.GraphKeys.SAVERS) == [scaffold.saver]
    tw.get_default_graph()._unsafe_unfinalize()
    copy = tw.train.Scaffold(copy_from_scaffold=scaffold)
    assert copy.init_op is scaffold.init_op and copy.saver is scaffold.saver
    calls = []
    with tw.train.SingularMonitoredSession(
            scaffold=tw.train.Scaffold(init_fn=lambda sc, s: calls.append(sc))) as sess:
        assert sess.run(local) == 3.0 and sess.run(gs) == 0
    assert len(calls) == 1
    with pytest.raises(TypeError, match="not a Scaffold"):
        tw.train.Scaffold(copy_from_scaffold=object())


# ---------------------------------------------------------------------------------------------
# clusters: the chief initialises, the others wait
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cluster():
    workers, ps = tw.test.create_local_cluster(1, 0)
    yield workers[0]
    for s in workers + ps:
        s.stop()


def test_non_chief_without_chief_times_out_clearly(cluster):
    tw.Session.reset(cluster.target)
    gs, w, loss, train = _model()
    start = time.monotonic()
    with pytest.raises(errors.DeadlineExceededError) as e:
        tw.train.MonitoredTrainingSession(master=cluster.target, is_chief=False,
                                          max_wait_secs=1.0)
    assert time.monotonic() - start < 15
    msg = str(e.value)
    assert "not ready after waiting 1 secs" in msg and cluster.target in msg
    assert "w" in msg.split("Variables not initialized: ")[1] and "global_step" in msg
    assert not tw.get_default_graph().finalized


def test_non_chief_waits_for_the_chief_then_runs(cluster, tmp_path):
    tw.Session.reset(cluster.target)
    graph = tw.Graph()
    with graph.as_default():
        gs, w, loss, train = _model()
    result = {}
    started = threading.Event()

    def worker():
        try:
            with graph.as_default():
                started.set()
                with tw.train.MonitoredTrainingSession(master=cluster.target, is_chief=False,
                                                       max_wait_secs=30) as sess:
                    result["w0"] = sess.run(w)
                    result["step"] = sess.run([train, gs])[1]
        except BaseException as e:  # noqa: BLE001 - reported by the test below
            result["error"] = e

    t = threading.Thread(target=worker, daemon=True)
    t.start()
    assert started.wait(10)
    time.sleep(1.5)  # the worker polls at least once before the chief initialises
    assert "w0" not in result and "error" not in result
    with graph.as_default():
        with tw.train.MonitoredTrainingSession(master=cluster.target, is_chief=True,
                                               checkpoint_dir=str(tmp_path)) as chief:
            chief.run(train)
            t.join(30)
            assert not t.is_alive()
            assert "error" not in result, result.get("error")
            assert result["step"] >= 1
            assert chief.run(gs) == 2
            np.testing.assert_allclose(chief.run(w), _w_after(2), rtol=1e-6)
    # the chief saved the cluster's variables at the start and at the end
    assert tw.train.latest_checkpoint(str(tmp_path)).endswith("model.ckpt-2")
    np.testing.assert_allclose(tw.train.load_variable(str(tmp_path), "w"), _w_after(2),
                               rtol=1e-6)
