"""Packaging and entry points: package list, `python -m runner`, `python -m workers`."""
import configparser
import os
import pathlib
import subprocess
import sys

import msgpack
import pytest
import zmq

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_setup_cfg_lists_every_package():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    listed = {p.strip() for p in cfg["options"]["packages"].split() if p.strip()}
    found = {"workers"}
    for py in (ROOT / "src").rglob("*.py"):
        rel = py.parent.relative_to(ROOT / "src")
        if "egg-info" not in str(rel):
            found.add(".".join(rel.parts))
    for d in found - {"workers"}:
        assert (ROOT / "src" / d.replace(".", "/") / "__init__.py").exists(), \
            f"package {d} has no __init__.py"
    assert found <= listed, f"packages missing from setup.cfg: {sorted(found - listed)}"


def _run(*args, timeout=60):
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src") + os.pathsep + str(ROOT))
    return subprocess.run([sys.executable, *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT)


def test_runner_without_arguments_lists_subcommands():
    r = _run("-m", "runner")
    assert r.returncode == 0
    assert "demo" in r.stdout and "bench" in r.stdout


def test_runner_unknown_subcommand():
    r = _run("-m", "runner", "frobnicate")
    assert r.returncode == 2 and "unknown subcommand" in r.stderr


@pytest.fixture
def worker_process():
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src") + os.pathsep + str(ROOT))
    p = subprocess.Popen([sys.executable, "-m", "workers", "--bind", "tcp://127.0.0.1:0"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        yield p
    finally:
        if p.poll() is None:
            p.kill()
        p.wait(timeout=10)
        p.stdout.close()
        p.stderr.close()


def test_worker_answers_ping_and_survives_garbage(worker_process):
    line = worker_process.stdout.readline()
    assert line.startswith("workers: serving "), line
    endpoint = line.split("control=")[1].split()[0]
    ctx = zmq.Context()
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.connect(endpoint)
    try:
        def request(payload):
            s.send(payload)
            assert s.poll(5000), "worker did not answer within 5 s"
            return msgpack.unpackb(s.recv(), raw=False)
        assert request(msgpack.packb({"op": "ping", "id": 1})) == {
            "op": "reply", "id": 1, "ok": True, "status": {"pid": worker_process.pid}}
        s.send(os.urandom(64) + b"\xc1")                           # not msgpack
        s.send(msgpack.packb({"op": "ping", "id": 2, "extra": 1}))  # unknown field
        s.send(msgpack.packb({"op": "frobnicate", "id": 3}))        # unknown op
        rep = request(msgpack.packb({"op": "status", "id": 4}))
        assert rep["id"] == 4 and rep["ok"] and rep["status"]["pid"] == worker_process.pid
        assert request(msgpack.packb({"op": "shutdown", "id": 5}))["ok"] is True
        assert worker_process.wait(timeout=10) == 0
        err = worker_process.stderr.read()
        assert err.count("rejected a malformed message") == 3
    finally:
        s.close(0)
        ctx.term()


def test_worker_reports_a_busy_address():
    with zmq.Context() as ctx:
        s = ctx.socket(zmq.REP)
        s.setsockopt(zmq.LINGER, 0)
        port = s.bind_to_random_port("tcp://127.0.0.1")
        try:
            r = _run("-m", "workers", "--bind", f"tcp://127.0.0.1:{port}", timeout=30)
        finally:
            s.close(0)
    assert r.returncode == 2 and "cannot bind" in r.stderr
