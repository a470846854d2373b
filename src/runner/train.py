"""`python -m runner train digits`: data-parallel training of a CNN on the handwritten digits.

    python -m runner train digits [--workers N] [--ps K] [--mode sync|async] [--steps S]
                                  [--batch B] [--logdir DIR] [--seed N]
                                  [--checkpoint-steps N] [--expect-accuracy A]

* `--mode sync` (default) with `--ps 0` (default): in-graph replication on this machine
  (`tw.train.replicate_model`): one worker process per device, each running a tower on
  `--batch` examples of every step's mini-batch of `--workers * --batch`, the gradients
  averaged and applied once: the same update as one device on the whole mini-batch.
* `--ps K` (K >= 1): between-graph replication on a local cluster of `K` ps tasks and
  `--workers` worker tasks (`tw.train.Server`s); one client thread per worker task builds its
  own graph under `replica_device_setter` and trains with `MonitoredTrainingSession` (task 0 is
  the chief: it initialises or restores and checkpoints; the others wait for it) until the
  global step reaches `--steps`.  `--mode sync` wraps the optimizer in `SyncReplicasOptimizer`
  (every update averages one gradient of each task, each on its `--batch` of the global
  step's examples); `--mode async` applies each task's gradients to the ps tasks as soon as
  they are computed.  A supervisor thread restarts a task whose process exits (it says so);
  the sessions' recovery reconnects and restores from the last checkpoint.

Each shows a tqdm progress bar (loss, examples/s, step), checkpoint to `--logdir` (a fresh
temporary directory by default; a run with an existing one resumes from its last checkpoint),
log to `DIR/train.log`, and print the test accuracy and where the logs and checkpoints went
(`--expect-accuracy A`: exit with status 1 below it).
The model is the digits CNN of `examples/digits_cnn.py` (conv-pool-conv-pool-dense).
"""
from __future__ import annotations

import logging
import os
import socket
import sys
import tempfile
import threading
import time

import numpy as np

from .datasets import load_digits

__all__ = ["main"]

_log = logging.getLogger("tensorweave.runner.train")


def _cnn(tw, images, labels):
    """(loss, accuracy) of the digits CNN on `images` (n, 8, 8) and `labels` (n,)."""
    def conv(x, cin, cout, name):
        with tw.variable_scope(name):
            w = tw.get_variable("w", [3, 3, cin, cout],
                                initializer=tw.truncated_normal_initializer(stddev=0.1))
            b = tw.get_variable("b", [cout], initializer=tw.constant_initializer(0.1))
            h = tw.nn.relu(tw.nn.bias_add(tw.nn.conv2d(x, w, [1, 1, 1, 1], "SAME"), b))
            return tw.nn.max_pool(h, [1, 2, 2, 1], [1, 2, 2, 1], "SAME")
    h = tw.reshape(images, [-1, 8, 8, 1])
    h = conv(h, 1, 16, "conv1")
    h = tw.reshape(conv(h, 16, 32, "conv2"), [-1, 2 * 2 * 32])
    with tw.variable_scope("fc"):
        w = tw.get_variable("w", [128, 64])
        b = tw.get_variable("b", [64], initializer=tw.zeros_initializer())
        h = tw.nn.relu(tw.matmul(h, w) + b)
    with tw.variable_scope("out"):
        w = tw.get_variable("w", [64, 10])
        b = tw.get_variable("b", [10], initializer=tw.zeros_initializer())
        logits = tw.matmul(h, w) + b
    loss = tw.reduce_mean(tw.nn.sparse_softmax_cross_entropy_with_logits(labels=labels,
                                                                         logits=logits))
    correct = tw.equal(tw.argmax(logits, 1, output_type=tw.int32), labels)
    return loss, tw.reduce_mean(tw.cast(correct, tw.float32))


def _optimizer(tw, global_step, steps: int):
    lr = tw.train.exponential_decay(0.05, global_step, max(steps // 2, 1), 0.5, staircase=True)
    return tw.train.MomentumOptimizer(lr, 0.9)


#: The epochs of distinct example orders a sync run cycles through.
ORDER_EPOCHS = 8


def _order(n: int, seed: int) -> np.ndarray:
    """`ORDER_EPOCHS` `seed`ed permutations of the `n` examples in a row: step k's batch is the
    `batch` indices from `k * batch` on, wrapping round (a bounded constant, whatever the run's
    length)."""
    rng = np.random.RandomState(seed)
    return np.concatenate([rng.permutation(n) for _ in range(ORDER_EPOCHS)]).astype(np.int32)


def _batches(x, y, batch: int, seed: int):
    """Endless mini-batches of `batch` examples, in an order fixed by `seed`."""
    rng = np.random.RandomState(seed)
    while True:
        idx = rng.randint(0, len(x), batch)
        yield x[idx], y[idx]


def _batch_of_step(tw, gs, x_train, y_train, seed: int, per_step: int, first: int,
                   size: int):
    """Graph tensors of the `size` examples from `first` on of the `per_step` examples of the
    step at global step `gs` (in the order `_order` fixes): a run that resumes from a
    checkpoint sees the same data in the same order as one that never stopped."""
    order = _order(len(x_train), seed)
    pos = (tw.cast(gs, tw.int32) * per_step + first + tw.range(size)) % len(order)
    idx = tw.gather(tw.constant(order, name="order"), pos)
    return (tw.gather(tw.constant(x_train, name="train_images"), idx),
            tw.gather(tw.constant(y_train, name="train_labels"), idx))


class _Progress:
    """The tqdm bar of a run: the global step, loss, examples/s."""

    def __init__(self, total: int, examples_per_step: int, start: int, rate: str = "ex_s"):
        from tqdm import tqdm
        self._bar = tqdm(total=total, initial=start, unit="step", dynamic_ncols=True,
                         file=sys.stderr)
        self._per_step = examples_per_step
        self._rate = rate
        self._t0, self._step0, self._last = time.monotonic(), start, start

    def update(self, step: int, loss: float) -> None:
        if step > self._last:
            self._bar.update(step - self._last)
            self._last = step
        rate = (step - self._step0) * self._per_step / max(time.monotonic() - self._t0, 1e-9)
        self._bar.set_postfix({"loss": f"{loss:.4f}", self._rate: f"{rate:.0f}"},
                              refresh=False)

    def close(self) -> None:
        self._bar.close()


def _sync(tw, args, data, extra_hooks=()) -> float:
    x_train, y_train, x_test, y_test = data
    devices = [f"/cpu:{i}" for i in range(args.workers)]
    batch = args.batch * args.workers
    g = tw.Graph()
    with g.as_default():
        tw.set_random_seed(args.seed)
        gs = tw.train.get_or_create_global_step()
        # the step's mini-batch is taken in the graph from the global step, so a run that
        # resumes from a checkpoint (after a worker was lost) sees the same data in the same
        # order as one that never stopped
        with tw.device("/cpu:0"):
            bx, by = _batch_of_step(tw, gs, x_train, y_train, args.seed, batch, 0, batch)
        r = tw.train.replicate_model(lambda b: _cnn(tw, *b)[0], (bx, by), devices,
                                     _optimizer(tw, gs, args.steps), global_step=gs)
    config = tw.ConfigProto(device_count={"CPU": args.workers})
    with g.as_default():
        hooks = [tw.train.StopAtStepHook(last_step=args.steps)] + list(extra_hooks)
        with tw.train.MonitoredTrainingSession(
                checkpoint_dir=args.logdir, hooks=hooks, config=config,
                save_checkpoint_steps=args.checkpoint_steps, log_step_count_steps=0) as sess:
            bar = _Progress(args.steps, batch, sess.run(gs))
            try:
                while not sess.should_stop():
                    _, loss, step = sess.run([r.train_op, r.loss, gs])
                    bar.update(step, loss)
            finally:
                bar.close()
    return _test_accuracy(tw, args.logdir, x_test, y_test)


def _test_accuracy(tw, logdir: str, x_test, y_test) -> float:
    """The test accuracy of the model in the last checkpoint in `logdir`, in this process (the
    run's worker processes and ps tasks are gone with it)."""
    g = tw.Graph()
    with g.as_default():
        x = tw.placeholder(tw.float32, [None, 8, 8], name="x")
        y = tw.placeholder(tw.int32, [None], name="y")
        _, accuracy = _cnn(tw, x, y)
        saver = tw.train.Saver(tw.trainable_variables())
        with tw.Session() as s:
            saver.restore(s, tw.train.latest_checkpoint(logdir))
            return float(s.run(accuracy, {x: x_test, y: y_test}))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _supervise(servers, stop: threading.Event, period_s: float = 0.5) -> None:
    """Restart any task whose worker process exits before `stop` is set (a sessions' recovery
    then restores what the task held from the last checkpoint)."""
    while not stop.wait(period_s):
        for server in servers:
            dead = server.poll()
            if dead is not None and not stop.is_set():
                pid, status = dead
                task = server.device.split("/device:")[0]
                _log.warning("task %s (pid %d) exited with status %s: restarting it", task,
                             pid, status)
                print(f"runner train: task {task} (pid {pid}) exited with status {status}: "
                      f"restarting it", file=sys.stderr)
                try:
                    server.restart()
                except Exception as e:  # noqa: BLE001 - said, and tried again next round
                    _log.error("could not restart task %s: %s", task, e)
                    print(f"runner train: could not restart task {task}: {e}",
                          file=sys.stderr)


def _cluster(tw, args, data, extra_hooks=None) -> float:
    """Between-graph training on a local cluster (`--ps` >= 1): sync with
    `SyncReplicasOptimizer`, or async."""
    x_train, y_train, x_test, y_test = data
    sync = args.mode == "sync"
    spec = {"ps": [f"127.0.0.1:{_free_port()}" for _ in range(args.ps)],
            "worker": [f"127.0.0.1:{_free_port()}" for _ in range(args.workers)]}
    cluster = tw.train.ClusterSpec(spec)
    servers = [tw.train.Server(cluster, "ps", i) for i in range(args.ps)]
    servers += [tw.train.Server(cluster, "worker", i) for i in range(args.workers)]
    workers = servers[args.ps:]
    errors: list = []
    failed = threading.Event()

    def build(task):
        g = tw.Graph()
        with g.as_default():
            tw.set_random_seed(args.seed)
            setter = tw.train.replica_device_setter(
                cluster=cluster, worker_device=f"/job:worker/task:{task}",
                ps_strategy=tw.train.GreedyLoadBalancingStrategy(args.ps))
            with tw.device(setter):
                x = tw.placeholder(tw.float32, [None, 8, 8], name="x")
                y = tw.placeholder(tw.int32, [None], name="y")
                gs = tw.train.get_or_create_global_step()
                opt = _optimizer(tw, gs, args.steps)
                if sync:  # task k takes the k-th `--batch` of the global step's examples
                    bx, by = _batch_of_step(tw, gs, x_train, y_train, args.seed,
                                            args.batch * args.workers, task * args.batch,
                                            args.batch)
                    loss, _ = _cnn(tw, bx, by)
                    opt = tw.train.SyncReplicasOptimizer(opt, args.workers, args.workers)
                else:
                    loss, _ = _cnn(tw, x, y)
                train_op = opt.minimize(loss, global_step=gs)
        # (no initial tokens: each task gives exactly one gradient to every update, computed
        # from the same parameters, so the update is the one of the whole batch)
        hooks = [opt.make_session_run_hook(task == 0, num_tokens=0)] if sync else []
        return g, x, y, gs, loss, train_op, hooks

    def work(task):
        try:
            g, x, y, gs, loss, train_op, hooks = build(task)
            chief = task == 0
            batches = None if sync else _batches(x_train, y_train, args.batch, args.seed + task)
            with g.as_default():
                with tw.train.MonitoredTrainingSession(
                        master=workers[task].target, is_chief=chief,
                        checkpoint_dir=args.logdir if chief else None,
                        hooks=hooks + [tw.train.StopAtStepHook(last_step=args.steps)]
                        + (list(extra_hooks(task, servers)) if extra_hooks else []),
                        save_checkpoint_steps=args.checkpoint_steps, log_step_count_steps=0,
                        max_wait_secs=120,
                        # (the chief's sync queue runner ends blocked on the gradients of a
                        # step no task runs: the session's close cancels it, after this wait)
                        stop_grace_period_secs=5) as sess:
                    bar = _Progress(args.steps, args.batch * args.workers,
                                    sess.run(gs)) if chief else None
                    try:
                        while not sess.should_stop():
                            feed = None
                            if batches is not None:
                                bx, by = next(batches)
                                feed = {x: bx, y: by}
                            _, lv, step = sess.run([train_op, loss, gs], feed)
                            if bar is not None:
                                bar.update(step, lv)
                    finally:
                        if bar is not None:
                            bar.close()
        except BaseException as e:  # noqa: BLE001 - reported by the main thread
            errors.append((task, e))
            failed.set()

    threads = [threading.Thread(target=work, args=(i,), name=f"tw-train-worker-{i}",
                                daemon=True)  # (a stuck one must not keep the process)
               for i in range(args.workers)]
    stop = threading.Event()
    supervisor = threading.Thread(target=_supervise, args=(servers, stop),
                                  name="tw-train-supervisor", daemon=True)
    try:
        supervisor.start()
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            if failed.wait(0.5):  # the others may wait for it (sync): end the cluster
                break
    finally:
        stop.set()
        supervisor.join(10)
        for s in servers:
            s.stop()
        for t in threads:  # (a task's session gives up on a cluster that is gone)
            t.join(60)
    if errors:
        task, e = errors[0]
        raise RuntimeError(f"worker task {task} failed: {type(e).__name__}: {e}") from e
    return _test_accuracy(tw, args.logdir, x_test, y_test)


def _lstm(args) -> int:
    """`train lstm`: the model-parallel character LSTM (see lstm_lm.py)."""
    from . import lstm_lm
    args.mode = args.mode or "model-parallel"
    args.steps = 300 if args.steps is None else args.steps
    problems = []
    if args.mode not in ("model-parallel", "single"):
        problems.append(f"--mode must be model-parallel or single, got {args.mode}")
    devices = args.devices.split(",")
    if not all(d.strip().lower().lstrip("/").startswith("cpu:") and
               d.rsplit(":", 1)[1].isdigit() for d in devices):
        problems.append(f"--devices must be a list like cpu:0,cpu:1, got {args.devices!r}")
    for name in ("steps", "batch", "layers", "hidden", "seq"):
        if getattr(args, name) < 1:
            problems.append(f"--{name} must be at least 1")
    if problems:
        for p in problems:
            print(f"runner train lstm: {p}", file=sys.stderr)
        return 2
    args.devices = ",".join(d.strip().lower() for d in devices)
    return lstm_lm.train(args)


def main(args) -> int:
    if args.dataset not in ("digits", "lstm"):
        print(f"runner train: unknown model {args.dataset!r} (known: digits, lstm)",
              file=sys.stderr)
        return 2
    if args.dataset == "lstm":
        return _lstm(args)
    args.mode = args.mode or "sync"
    args.steps = 600 if args.steps is None else args.steps
    if args.mode not in ("sync", "async"):
        print(f"runner train digits: --mode must be sync or async, got {args.mode}",
              file=sys.stderr)
        return 2
    problems = []
    if args.workers < 1:
        problems.append(f"--workers must be at least 1, got {args.workers}")
    if args.mode == "async" and args.ps < 1:
        problems.append("--mode async needs at least one --ps task for the parameters")
    if args.steps < 1 or args.batch < 1:
        problems.append("--steps and --batch must be at least 1")
    if problems:
        for p in problems:
            print(f"runner train: {p}", file=sys.stderr)
        return 2
    if args.logdir is None:
        args.logdir = tempfile.mkdtemp(prefix="tw-train-digits-")
    try:
        os.makedirs(args.logdir, exist_ok=True)
        probe = os.path.join(args.logdir, ".tw-write-probe")
        with open(probe, "w"):
            pass
        os.unlink(probe)
    except OSError as e:
        print(f"runner train: cannot write to --logdir {args.logdir}: {e}", file=sys.stderr)
        return 2
    log_path = os.path.join(args.logdir, "train.log")
    handler = logging.FileHandler(log_path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("tensorweave")
    root.addHandler(handler)
    if root.getEffectiveLevel() > logging.INFO:
        handler.setLevel(logging.INFO)
        root.setLevel(logging.INFO)
        for h in root.handlers:           # (the console keeps showing warnings only)
            if h is not handler and h.level < logging.WARNING:
                h.setLevel(logging.WARNING)
    import tensorweave as tw
    data = load_digits()
    _log.info("training the digits CNN: %s mode, %d workers, %d ps, %d steps of %d examples "
              "per worker", args.mode, args.workers, args.ps, args.steps, args.batch)
    t0 = time.monotonic()
    try:
        acc = (_sync if args.mode == "sync" and not args.ps else _cluster)(tw, args, data)
    finally:
        root.removeHandler(handler)
        handler.close()
    seconds = time.monotonic() - t0
    latest = tw.train.latest_checkpoint(args.logdir)
    print(f"test accuracy {acc:.4f} after {args.steps} steps ({args.mode}, {args.workers} "
          f"workers{f', {args.ps} ps' if args.ps else ''}) in {seconds:.1f} s")
    print(f"checkpoints: {args.logdir} (latest: {os.path.basename(latest or '-')})")
    print(f"log: {log_path}")
    if args.expect_accuracy is not None and acc < args.expect_accuracy:
        print(f"runner train: test accuracy {acc:.4f} is below the expected "
              f"{args.expect_accuracy}", file=sys.stderr)
        return 1
    return 0
