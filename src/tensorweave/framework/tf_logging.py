"""tensorweave's logging: the `tensorweave` logger, TF1's `tf.compat.v1.logging` API on it
(`tw.logging`), and the one-line record format in which worker processes hand their log records
to the process that started them.

Every diagnostic of the library is a record of a child of `logging.getLogger("tensorweave")`
(module loggers `tensorweave.runtime.transport`, ...; records forwarded from worker processes
arrive in `tensorweave.workers`), so applications filter and redirect them with the standard
`logging` module.  As TF1 does, importing tensorweave installs one handler on that logger and
sets its level to WARN (unless the application set one before):

* it writes to `sys.stderr` (the current one, looked up at each record) in glog's layout, as
  TF's and absl's loggers do: `W1202 10:11:12.345678 12345 master.py:123] message` -- severity
  letter, month and day, local time to the microsecond, the *process* id (a worker's records
  show the worker's pid), the file and line that logged it;
* it steps aside for the application: a record that some other handler will see (on the
  record's logger, `tensorweave`, or the root logger, e.g. after `logging.basicConfig`) is not
  written by it as well, so nothing is logged twice and redirecting is just configuring logging.

TF1's names and behaviour: `DEBUG INFO WARN WARNING ERROR FATAL`; `set_verbosity(level)` sets
the `tensorweave` logger's level and `get_verbosity()` returns its effective level; `debug info
warn warning error fatal log` log at their level (`fatal` logs at FATAL and does not exit, as in
TF1); `vlog(level, msg)` logs at `level` as a plain logging level (as TF1 does, so `vlog(1, ...)`
is below DEBUG); `log_if`, `log_every_n` (the 1st, n+1st, ... call of that line) and
`log_first_n` (its first n calls), counted per calling file and line; `TaskLevelStatusMessage(msg)`
logs at ERROR; `get_logger()` returns the logger.  Records name the caller's file and line, not
this module's.  One difference: TF1's `flush()` raises NotImplementedError; here it flushes the
handlers that `tensorweave`'s records reach.

Forwarding: a worker started by a master logs each record as one line on its stderr,
`tensorweave-record {json}` (`use_record_lines`); the master reads those lines and
`record_from_line` turns each back into a record at the worker's level, which it hands to
`tensorweave.workers`.  JSON, not pickle: a line read from a child never executes code.
"""
from __future__ import annotations

import json
import logging as _logging
import sys
import threading
import time
import warnings
from logging import DEBUG, ERROR, FATAL, INFO, WARN, WARNING

__all__ = ["DEBUG", "INFO", "WARN", "WARNING", "ERROR", "FATAL", "set_verbosity",
           "get_verbosity", "debug", "info", "warn", "warning", "error", "fatal", "log", "vlog",
           "log_if", "log_every_n", "log_first_n", "flush", "TaskLevelStatusMessage",
           "get_logger"]

_logger = _logging.getLogger("tensorweave")


def get_logger() -> _logging.Logger:
    """The `tensorweave` logger (the parent of every logger of the library)."""
    return _logger


# --- the default handler -----------------------------------------------------------------------
class GlogFormatter(_logging.Formatter):
    """`W1202 10:11:12.345678 12345 file.py:123] message` (glog's layout, the pid as the id)."""

    def format(self, record: _logging.LogRecord) -> str:
        t = time.localtime(record.created)
        us = int((record.created % 1.0) * 1e6)
        return (f"{(record.levelname or 'I')[0]}{t.tm_mon:02d}{t.tm_mday:02d} "
                f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}.{us:06d} "
                f"{record.process or 0:5d} {record.filename}:{record.lineno}] "
                + _message(record, self))


def _message(record: _logging.LogRecord, fmt: _logging.Formatter) -> str:
    """The record's message with its exception and stack text, if any."""
    s = record.getMessage()
    if record.exc_info and not record.exc_text:
        record.exc_text = fmt.formatException(record.exc_info)
    for extra in (record.exc_text, record.stack_info and fmt.formatStack(record.stack_info)):
        if extra:
            s = s.rstrip("\n") + "\n" + extra
    return s


class _DefaultHandler(_logging.StreamHandler):
    """Writes to the current `sys.stderr` the records no other handler will see."""

    def __init__(self):
        _logging.Handler.__init__(self)
        self.setFormatter(GlogFormatter())
        self.forward_all = False   # a worker process: write every record (see use_record_lines)

    @property
    def stream(self):
        return sys.stderr

    def handle(self, record: _logging.LogRecord):
        if not self.forward_all and self._seen_elsewhere(record):
            return False
        return super().handle(record)

    def _seen_elsewhere(self, record: _logging.LogRecord) -> bool:
        logger = _logging.getLogger(record.name) if record.name else _logging.getLogger()
        while logger is not None:
            if any(h is not self for h in logger.handlers):
                return True
            if not logger.propagate:
                return False
            logger = logger.parent
        return False


_handler = _DefaultHandler()
_logger.addHandler(_handler)
if _logger.level == _logging.NOTSET:  # an application that set a level first keeps it
    _logger.setLevel(WARN)


# --- TF1's API ---------------------------------------------------------------------------------
def set_verbosity(v) -> None:
    """Sets the threshold for what messages will be logged (a level: `tw.logging.INFO`, ...)."""
    _logger.setLevel(v)


def get_verbosity() -> int:
    """Return how much logging output will be produced (the logger's effective level)."""
    return _logger.getEffectiveLevel()


def _log(level: int, msg, args, kwargs) -> None:
    """Log for the function of this module that the user called (the record names the user's
    line: two frames up from here)."""
    if _logger.isEnabledFor(level):
        kwargs["stacklevel"] = kwargs.get("stacklevel", 1) + 2
        _logger.log(level, msg, *args, **kwargs)


def log(level: int, msg, *args, **kwargs) -> None:
    _log(level, msg, args, kwargs)


def _at(level: int, name: str, note: str = ""):
    """TF1's function `name`: log 'msg % args' at `level`."""
    def log_at(msg, *args, **kwargs) -> None:
        _log(level, msg, args, kwargs)
    log_at.__name__ = log_at.__qualname__ = name
    log_at.__doc__ = f"Log 'msg % args' at {_logging.getLevelName(level)}{note}."
    return log_at


debug = _at(DEBUG, "debug")
info = _at(INFO, "info")
warn = _at(WARN, "warn")
warning = _at(WARNING, "warning")
error = _at(ERROR, "error")
fatal = _at(FATAL, "fatal", " (as in TF1, the program goes on)")


def vlog(level: int, msg, *args, **kwargs) -> None:
    """Log at `level`, a plain logging level (TF1 has no separate verbose levels)."""
    _log(level, msg, args, kwargs)


def TaskLevelStatusMessage(msg) -> None:  # noqa: N802 - TF1's name
    _log(ERROR, msg, (), {})


def log_if(level: int, msg, condition, *args) -> None:
    """Log 'msg % args' at level 'level' only if condition is fulfilled."""
    if condition:
        _log(level, msg, args, {})


_counts: dict = {}
_counts_lock = threading.Lock()


def _next_count() -> int:
    """How often the line calling our caller was here before (0 the first time)."""
    f = sys._getframe(2)
    token = (f.f_code.co_filename, f.f_lineno)
    with _counts_lock:
        n = _counts[token] = _counts.get(token, -1) + 1
    return n


def log_every_n(level: int, msg, n: int, *args) -> None:
    """Log 'msg % args' at level 'level' once per 'n' times (the 1st, n+1st, 2n+1st call)."""
    if _next_count() % n == 0:
        _log(level, msg, args, {})


def log_first_n(level: int, msg, n: int, *args) -> None:
    """Log 'msg % args' at level 'level' only the first 'n' times."""
    if _next_count() < n:
        _log(level, msg, args, {})


def flush() -> None:
    """Flush the handlers that records of the `tensorweave` logger reach."""
    logger = _logger
    while logger is not None:
        for h in logger.handlers:
            h.flush()
        logger = logger.parent if logger.propagate else None


# --- records between processes -----------------------------------------------------------------
RECORD_PREFIX = "tensorweave-record "


class RecordLineFormatter(_logging.Formatter):
    """One record as one line, `tensorweave-record {json}` (read back by `record_from_line`)."""

    def format(self, record: _logging.LogRecord) -> str:
        return RECORD_PREFIX + json.dumps({
            "level": record.levelno, "name": record.name, "msg": _message(record, self),
            "path": record.pathname or "", "line": record.lineno or 0,
            "func": record.funcName or "", "time": record.created, "pid": record.process or 0,
            "thread": record.threadName or ""})


def use_record_lines(level) -> None:
    """Make this process (a worker) write every record of `tensorweave` and its children, from
    `level` up, to stderr as one record line each, for the parent to forward.  Python warnings
    (a kernel's numerical warning) become WARNING records of `tensorweave.warnings` located
    where the warning says, so they reach the parent as one record each too."""
    _handler.forward_all = True
    _handler.setFormatter(RecordLineFormatter())
    _logger.setLevel(level)
    warnings.showwarning = _warning_as_record


def _warning_as_record(message, category, filename, lineno, file=None, line=None) -> None:
    log = _logging.getLogger("tensorweave.warnings")
    if log.isEnabledFor(WARNING):
        log.handle(log.makeRecord(log.name, WARNING, str(filename), int(lineno or 0),
                                  f"{category.__name__}: {message}", None, None))


_FIELDS = {"level": int, "name": str, "msg": str, "path": str, "line": int, "func": str,
           "time": (int, float), "pid": int, "thread": str}


def record_from_line(line: str, name: str, origin: str = "") -> _logging.LogRecord:
    """The record a child wrote as `line`, as a record of logger `name` at the child's level,
    its message prefixed with `origin` (who wrote it).  A line that is not a record line (a
    crash's traceback, a library's own output) becomes a WARNING with the line as message.
    The child's logger is kept as `record.origin_logger`."""
    fields = None
    if line.startswith(RECORD_PREFIX):
        try:
            fields = json.loads(line[len(RECORD_PREFIX):])
        except (ValueError, RecursionError):  # not JSON, or nested past the parser's depth
            pass
        if not (isinstance(fields, dict) and fields.keys() == _FIELDS.keys()
                and all(isinstance(fields[k], t) and not isinstance(fields[k], bool)
                        for k, t in _FIELDS.items())):
            fields = None
    prefix = f"{origin}: " if origin else ""
    if fields is None:
        record = _logging.LogRecord(name, WARNING, "", 0, prefix + line.rstrip("\n"), None, None)
        record.origin_logger = None
        return record
    record = _logging.LogRecord(name, fields["level"], fields["path"], fields["line"],
                                prefix + fields["msg"], None, None, func=fields["func"])
    record.created = float(fields["time"])
    record.msecs = (record.created % 1.0) * 1000.0
    record.process, record.threadName = fields["pid"], fields["thread"]
    record.processName = "worker"
    record.origin_logger = fields["name"]
    return record
