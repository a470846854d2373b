"""Starting worker processes: a `workers.py` or `workers/` in the user's working directory (or
reached through an empty or a `.` `PYTHONPATH` entry) cannot stand in for the worker program, while
`PYTHONPATH` and the installed package still find the real one; nothing is left behind."""
import os
import subprocess
import sys
import tempfile
import textwrap

import psutil
import pytest

from tensorweave.runtime import shm

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SHADOW = 'raise SystemExit("the shadowing {} of the working directory was imported")\n'

CLIENT = textwrap.dedent("""
    import os
    import numpy as np
    import psutil
    import tensorweave as tw
    with tw.device("/cpu:1"):
        a = tw.constant(np.arange(4, dtype=np.float32)) * 3.0
    with tw.device("/cpu:0"):
        b = a + 1.0                                    # crosses from CPU:1 to CPU:0
    with tw.Session(config=tw.ConfigProto(device_count={"CPU": 2})) as s:
        kids = [p.pid for p in psutil.Process().children()]
        print("kids", *kids, flush=True)
        print("result", *s.run(b).tolist(), flush=True)
""")


@pytest.fixture
def shadowed_cwd(tmp_path):
    """A working directory whose `workers.py` and `workers/` fail loudly when imported."""
    (tmp_path / "workers.py").write_text(SHADOW.format("workers.py"))
    pkg = tmp_path / "workers"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(SHADOW.format("workers/__init__.py"))
    (pkg / "__main__.py").write_text(SHADOW.format("workers/__main__.py"))
    (tmp_path / "client.py").write_text(CLIENT)
    return tmp_path


def _python_path(kind: str) -> dict:
    env = dict(os.environ)
    if kind == "empty entry":   # `PYTHONPATH=$PYTHONPATH:...` with it unset: '' = the cwd
        env["PYTHONPATH"] = os.pathsep.join(["", *filter(None, [env.get("PYTHONPATH")]),
                                             os.path.join(ROOT, "src"), ROOT])
    if kind == "dot entry":     # `PYTHONPATH=.`: the working directory, named
        env["PYTHONPATH"] = os.pathsep.join([".", *filter(None, [env.get("PYTHONPATH")])])
    return env


@pytest.mark.parametrize("python_path", ["as is", "empty entry", "dot entry"])
def test_a_workers_module_in_the_working_directory_does_not_replace_the_worker(shadowed_cwd,
                                                                                python_path):
    p = subprocess.Popen([sys.executable, "client.py"], cwd=shadowed_cwd,
                         env=_python_path(python_path), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate(timeout=10)
    assert p.returncode == 0, err
    assert "shadowing" not in err
    lines = dict(line.split(" ", 1) for line in out.splitlines())
    assert lines["result"].split() == ["1.0", "4.0", "7.0", "10.0"]
    kids = [int(k) for k in lines["kids"].split()]
    assert len(kids) == 2
    # nothing left behind: worker processes, their socket directory, shared memory
    assert not [k for k in kids if psutil.pid_exists(k)
                and psutil.Process(k).status() != psutil.STATUS_ZOMBIE]
    assert not os.path.exists(os.path.join(tempfile.gettempdir(), f"tw-ipc-{p.pid}"))
    assert not [n for n in shm.segment_files() if int(n.split("-")[1]) in {p.pid, *kids}]
