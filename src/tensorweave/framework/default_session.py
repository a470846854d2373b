"""The default-session stack: which session `Tensor.eval()` and `Operation.run()` use.

As in TF1, the stack lives beside the graph: each thread has its own list of sessions entered with
`with sess.as_default()` (an `InteractiveSession` pushes itself on construction).  The graph layer
only needs an object with `graph` and `run(fetches, feed_dict)`, so nothing here knows the
client's `Session` class.
"""
from __future__ import annotations

import threading

__all__ = ["get_default_session", "push_session", "pop_session", "clear_interactive_sessions",
           "run_using_default_session"]

_tls = threading.local()


def _stack() -> list:
    st = getattr(_tls, "stack", None)
    if st is None:
        st = _tls.stack = []
    return st


def get_default_session():
    """The innermost `with sess.as_default()` session of this thread, or None."""
    st = _stack()
    return st[-1] if st else None


def push_session(session) -> None:
    _stack().append(session)


def pop_session(session) -> None:
    """Remove `session` from this thread's stack (the innermost entry when it is on top)."""
    st = _stack()
    if st and st[-1] is session:
        st.pop()
    elif session in st:
        st.remove(session)


def clear_interactive_sessions() -> None:
    """Drop the interactive sessions (`tw.reset_default_graph()` does, as in TF1)."""
    st = _stack()
    st[:] = [s for s in st if not getattr(s, "_interactive", False)]


def run_using_default_session(fetches, feed_dict, graph, session=None):
    """`session.run(fetches, feed_dict)`, `session` defaulting to the default session; the
    fetches must belong to its graph."""
    if session is None:
        session = get_default_session()
        if session is None:
            raise ValueError("Cannot evaluate tensor using `eval()`: No default session is "
                             "registered. Use `with sess.as_default()` or pass an explicit "
                             "session to `eval(session=sess)`")
    if session.graph is not graph:
        raise ValueError("Cannot use the given session to evaluate tensor: the tensor's graph is "
                         "different from the session's graph.")
    return session.run(fetches, feed_dict)
