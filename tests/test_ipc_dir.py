"""The ipc directory of a local session's workers (`rpc.endpoint_dir`): a fresh directory of
this user with mode 0700, whatever was left (or planted) under its name `tw-ipc-<pid>`.

Each case runs in a child process, so the name it plants is that process's own."""
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

CHILD = r"""
import json, os, stat, sys, tempfile
import tensorweave as tw

case, evil = sys.argv[1], sys.argv[2]
fixed = os.path.join(tempfile.gettempdir(), f"tw-ipc-{os.getpid()}")
if case == "open":        # our own directory, but open to everyone, with something planted
    os.mkdir(fixed)
    os.chmod(fixed, 0o777)
    open(os.path.join(fixed, "planted"), "w").close()
elif case == "symlink":   # a symlink to a directory somebody else reads
    os.symlink(evil, fixed)
elif case == "file":
    open(fixed, "w").close()
elif case == "foreign":   # another user's directory (we are root here)
    os.mkdir(fixed, 0o700)
    os.chown(fixed, 65534, 65534)
with tw.device("/cpu:0"):
    a = tw.constant([1.0, 2.0])
with tw.device("/cpu:1"):
    b = a * 3.0
with tw.Session(config=tw.ConfigProto(device_count={"CPU": 2})) as s:
    out = s.run(b).tolist()
    eps = [e[len("ipc://"):] for w in s._master.workers.values()
           for e in (w.client.endpoint, w.data)]
    dirs = sorted({os.path.dirname(e) for e in eps})
    info = []
    for d in dirs:
        st = os.lstat(d)
        info.append({"dir": d, "real": os.path.realpath(d), "isdir": stat.S_ISDIR(st.st_mode),
                     "mode": stat.S_IMODE(st.st_mode), "uid": st.st_uid,
                     "planted": os.path.exists(os.path.join(d, "planted")),
                     "socks": [stat.S_ISSOCK(os.lstat(e).st_mode) for e in eps]})
print(json.dumps({"out": out, "info": info, "euid": os.geteuid(), "fixed": fixed,
                  "pid": os.getpid()}))
"""


def _run_child(case: str, evil: str) -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    p = subprocess.run([sys.executable, "-c", CHILD, case, evil], env=env, cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])


CASES = ["fresh", "open", "symlink", "file"]
if os.geteuid() == 0:
    CASES.append("foreign")


@pytest.mark.parametrize("case", CASES)
def test_a_sessions_sockets_are_in_a_private_directory_of_ours(case, tmp_path):
    evil = tmp_path / "evil"
    evil.mkdir()
    evil.chmod(0o777)
    r = _run_child(case, str(evil))
    try:
        assert r["out"] == [3.0, 6.0]
        (info,) = r["info"]                          # one directory for every socket
        assert info["isdir"] and info["real"] == info["dir"]   # not through a symlink
        assert info["mode"] == 0o700 and info["uid"] == r["euid"]
        assert all(info["socks"]) and len(info["socks"]) == 4
        assert not info["planted"]                   # not the directory that was there
        assert not list(evil.iterdir())
        name = os.path.basename(info["dir"])
        if case == "foreign":                        # left alone; a fresh private one instead
            assert name.startswith(f"tw-ipc-{r['pid']}-")
            assert os.lstat(r["fixed"]).st_uid == 65534
        else:                                        # ours: removed, made anew
            assert info["dir"] == r["fixed"]
        assert not os.path.lexists(info["dir"])      # removed when the session closed
    finally:
        if os.path.lexists(r["fixed"]):
            if os.path.isdir(r["fixed"]) and not os.path.islink(r["fixed"]):
                shutil.rmtree(r["fixed"], ignore_errors=True)
            else:
                os.unlink(r["fixed"])


def test_stale_directories_of_dead_processes_are_removed_and_others_kept(tmp_path,
                                                                         monkeypatch):
    from tensorweave.runtime import rpc
    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(tmp_path))
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    dead = tmp_path / f"tw-ipc-{p.pid}"
    dead_tmp = tmp_path / f"tw-ipc-{p.pid}-ab_12cd"
    alive = tmp_path / f"tw-ipc-{os.getppid()}"
    other = tmp_path / "tw-ipc-x"
    for d in (dead, dead_tmp, alive, other):
        d.mkdir()
    d = rpc.endpoint_dir()
    try:
        assert d == str(tmp_path / f"tw-ipc-{os.getpid()}")
        assert not dead.exists() and not dead_tmp.exists()
        assert alive.exists() and other.exists()
        assert rpc.endpoint_dir(create=False) == d == rpc.endpoint_dir()
    finally:
        os.rmdir(d)
