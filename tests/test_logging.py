"""`tw.logging` (TF1's `tf.compat.v1.logging` on the `tensorweave` logger), the default stderr
handler, filtering and redirecting with the standard `logging` module, and worker records
forwarded into the parent's `tensorweave.workers` logger."""
import io
import logging
import re
import subprocess
import sys
import textwrap
import time

import numpy as np
import psutil
import pytest
import zmq

import tensorweave as tw
from tensorweave.framework import tf_logging
from tensorweave.runtime.master import _drain_stderr

HERE = "test_logging.py"


@pytest.fixture(autouse=True)
def _keep_verbosity():
    logger = logging.getLogger("tensorweave")
    level = logger.level
    yield
    logger.setLevel(level)


def _records(caplog, name="tensorweave"):
    return [r for r in caplog.records if r.name == name]


def test_tf1_names_and_levels():
    assert (tw.logging.DEBUG, tw.logging.INFO, tw.logging.WARN, tw.logging.WARNING,
            tw.logging.ERROR, tw.logging.FATAL) == (10, 20, 30, 30, 40, 50)
    for name in ("set_verbosity", "get_verbosity", "debug", "info", "warn", "warning", "error",
                 "fatal", "log", "vlog", "log_if", "log_every_n", "log_first_n", "flush",
                 "TaskLevelStatusMessage", "get_logger"):
        assert callable(getattr(tw.logging, name)), name
    assert tw.logging.get_logger() is logging.getLogger("tensorweave")


def test_default_verbosity_is_warn_and_set_verbosity_changes_it(caplog):
    assert tw.logging.get_verbosity() == tw.logging.WARN
    tw.logging.info("not shown")
    tw.logging.warning("shown %d", 1)
    tw.logging.set_verbosity(tw.logging.INFO)
    assert tw.logging.get_verbosity() == logging.INFO
    tw.logging.debug("not shown either")
    tw.logging.info("now shown")
    tw.logging.set_verbosity(tw.logging.ERROR)
    tw.logging.warn("hidden again")
    tw.logging.error("an error")
    assert [(r.levelname, r.getMessage()) for r in _records(caplog)] == [
        ("WARNING", "shown 1"), ("INFO", "now shown"), ("ERROR", "an error")]


def test_records_name_the_callers_line(caplog):
    tw.logging.warning("here")
    line = sys._getframe().f_lineno - 1
    tw.logging.log_if(tw.logging.WARN, "there", True)
    (a, b) = _records(caplog)
    assert (a.filename, a.lineno, a.funcName) == (HERE, line, "test_records_name_the_callers_line")
    assert (b.filename, b.lineno) == (HERE, line + 2)


def test_log_vlog_fatal_task_status_and_conditional_logging(caplog):
    tw.logging.set_verbosity(tw.logging.DEBUG)
    tw.logging.log(tw.logging.INFO, "log %s", "info")
    tw.logging.vlog(tw.logging.DEBUG, "vlog debug")
    tw.logging.vlog(1, "vlog 1 is below DEBUG, as in TF1")
    tw.logging.fatal("fatal, and the program goes on")
    tw.logging.TaskLevelStatusMessage("status")
    tw.logging.log_if(tw.logging.INFO, "if %d", False, 1)
    tw.logging.log_if(tw.logging.INFO, "if %d", True, 2)
    for i in range(7):
        tw.logging.log_every_n(tw.logging.INFO, "every %d", 3, i)
    for i in range(5):
        tw.logging.log_first_n(tw.logging.INFO, "first %d", 2, i)
    tw.logging.flush()
    assert [(r.levelno, r.getMessage()) for r in _records(caplog)] == [
        (20, "log info"), (10, "vlog debug"), (50, "fatal, and the program goes on"),
        (40, "status"), (20, "if 2"), (20, "every 0"), (20, "every 3"), (20, "every 6"),
        (20, "first 0"), (20, "first 1")]


def test_users_filter_and_redirect_records_with_standard_logging(caplog):
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(name)s|%(levelname)s|%(message)s"))
    logger = logging.getLogger("tensorweave")
    logger.addHandler(handler)
    transport = logging.getLogger("tensorweave.runtime.transport")
    try:
        transport.warning("a dropped message")           # a library module's record
        transport.setLevel(logging.ERROR)                  # the application silences it
        transport.warning("not wanted")
        handler.addFilter(lambda r: "secret" not in r.getMessage())
        tw.logging.warning("a secret")
        tw.logging.warning("public")
    finally:
        transport.setLevel(logging.NOTSET)
        logger.removeHandler(handler)
    assert out.getvalue().splitlines() == [
        "tensorweave.runtime.transport|WARNING|a dropped message", "tensorweave|WARNING|public"]


def test_the_default_handler_writes_glog_lines_to_stderr_until_the_application_configures():
    script = textwrap.dedent("""
        import logging, sys
        import tensorweave as tw
        tw.logging.warning("plain %d", 1)
        tw.logging.info("below WARN")
        logging.getLogger("tensorweave").setLevel(logging.ERROR)
        tw.logging.warning("filtered")
        tw.logging.set_verbosity(tw.logging.WARN)
        logging.basicConfig(stream=sys.stdout, format="app %(name)s %(levelname)s %(message)s")
        tw.logging.warning("redirected")
    """)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert re.fullmatch(r"W\d{4} \d\d:\d\d:\d\d\.\d{6} +\d+ <string>:4\] plain 1\n", r.stderr), \
        r.stderr
    assert r.stdout == "app tensorweave WARNING redirected\n"  # once, not on stderr too


def test_record_lines_round_trip_and_other_lines_become_warnings():
    logger = logging.getLogger("tensorweave.workers.service")
    rec = logger.makeRecord(logger.name, logging.ERROR, "/w/service.py", 214, "bad %s\nline 2",
                            ("thing",), None, func="_service")
    line = tf_logging.RecordLineFormatter().format(rec)
    assert line.startswith("tensorweave-record ") and "\n" not in line
    back = tf_logging.record_from_line(line + "\n", "tensorweave.workers", "/cpu:1")
    assert (back.name, back.levelno, back.levelname) == ("tensorweave.workers", 40, "ERROR")
    assert back.getMessage() == "/cpu:1: bad thing\nline 2"
    assert (back.pathname, back.filename, back.lineno, back.funcName) == (
        "/w/service.py", "service.py", 214, "_service")
    assert (back.created, back.process, back.origin_logger) == (
        rec.created, rec.process, "tensorweave.workers.service")
    for junk in ("Traceback (most recent call last):\n", "tensorweave-record {not json\n",
                 'tensorweave-record {"level": true}\n',
                 line.replace('"level": 40', '"level": "40"')):
        other = tf_logging.record_from_line(junk, "tensorweave.workers", "/cpu:1")
        assert other.levelno == logging.WARNING and other.origin_logger is None
        assert other.getMessage() == "/cpu:1: " + junk.rstrip("\n")


def test_drain_hands_worker_lines_to_the_workers_logger_at_their_level(caplog):
    logger = logging.getLogger("tensorweave.workers.service")
    fmt = tf_logging.RecordLineFormatter()
    lines = [fmt.format(logger.makeRecord(logger.name, level, "service.py", 1, msg, (), None))
             for level, msg in ((logging.INFO, "info"), (logging.ERROR, "error"))]

    class Proc:
        stderr = io.StringIO("\n".join([*lines, "", "a plain line"]) + "\n")
    _drain_stderr(Proc(), "/job:localhost/replica:0/task:0/device:CPU:1")
    assert [(r.levelname, r.getMessage()) for r in _records(caplog, "tensorweave.workers")] == [
        ("ERROR", "/job:localhost/replica:0/task:0/device:CPU:1: error"),  # INFO < WARN
        ("WARNING", "/job:localhost/replica:0/task:0/device:CPU:1: a plain line")]


def test_a_workers_diagnostics_arrive_as_records_of_the_parent(caplog):
    tw.logging.set_verbosity(tw.logging.INFO)         # the workers log from INFO up too
    cpu1 = "/job:localhost/replica:0/task:0/device:CPU:1"
    with tw.device("/cpu:1"):
        y = tw.constant(np.arange(3, dtype=np.float32)) * 2.0
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    try:
        with tw.Session(config=tw.ConfigProto(device_count={"CPU": 2})) as s:
            w = s._master.workers[cpu1]
            cmd = psutil.Process(w.proc.pid).cmdline()
            assert cmd[1:4] == ["-P", "-m", "workers"]
            assert cmd[cmd.index("--log-level") + 1] == "20" and "--log-records" in cmd
            sock.connect(w.client.endpoint)
            sock.send(b"\xc1")                            # not msgpack
            deadline = time.monotonic() + 30
            while not _records(caplog, "tensorweave.workers") and time.monotonic() < deadline:
                time.sleep(0.01)
            np.testing.assert_allclose(s.run(y), [0, 2, 4])  # and the worker keeps serving
    finally:
        sock.close(0)
        ctx.term()
    (r,) = _records(caplog, "tensorweave.workers")
    assert r.levelname == "WARNING" and r.process == w.proc.pid
    assert r.getMessage().startswith(f"{cpu1}: rejected a malformed message: ")
    assert r.filename == "service.py" and r.origin_logger == "tensorweave.workers.service"


def test_garbage_from_a_worker_is_one_warning_and_draining_goes_on(caplog):
    import types

    from tensorweave.framework import tf_logging
    from tensorweave.runtime.master import _drain_stderr
    deep = tf_logging.RECORD_PREFIX + "[" * 100000 + "\n"
    rec = tf_logging.record_from_line(deep, "tensorweave.workers")
    assert rec.levelno == logging.WARNING       # not a record: the line, as a warning
    lines = [deep, "\ufffd bad bytes\n", "last words\n"]
    with caplog.at_level(logging.WARNING, logger="tensorweave.workers"):
        _drain_stderr(types.SimpleNamespace(stderr=iter(lines)), "/device:CPU:1")
    got = [r.getMessage() for r in caplog.records if r.name == "tensorweave.workers"]
    assert len(got) == 3 and got[-1] == "/device:CPU:1: last words"


def test_a_warning_on_a_worker_arrives_as_one_record_naming_the_node(caplog):
    import numpy as np
    import tensorweave as tw
    x = tw.placeholder(tw.float32, [2])
    with tw.device("/cpu:1"):
        y = tw.divide(1.0, x, name="ratio")
    with caplog.at_level(logging.WARNING, logger="tensorweave.workers"):
        with tw.Session(config=tw.ConfigProto(device_count={"CPU": 2})) as s:
            s.run(y, {x: np.array([0.0, 1.0], np.float32)})
    got = [r for r in caplog.records if r.name == "tensorweave.workers"
           and "RuntimeWarning" in r.getMessage()]
    assert len(got) == 1
    assert "[[node ratio (op RealDiv) on /job:localhost/replica:0/task:0/device:CPU:1" in \
        got[0].getMessage()
    assert got[0].pathname == __file__
