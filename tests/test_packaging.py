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
    for init in (ROOT / "src").rglob("__init__.py"):
        rel = init.parent.relative_to(ROOT / "src")
        found.add(".".join(rel.parts))
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
    assert line.startswith("workers: serving on "), line
    endpoint = line.split()[-1]
    ctx = zmq.Context()
    try:
        def request(payload):
            s = ctx.socket(zmq.REQ)
            s.setsockopt(zmq.LINGER, 0)
            s.connect(endpoint)
            try:
                s.send(payload)
                assert s.poll(5000), "worker did not answer within 5 s"
                return msgpack.unpackb(s.recv(), raw=False)
            finally:
                s.close(0)
        assert request(msgpack.packb({"op": "ping"})) == {"ok": True, "op": "pong"}
        rep = request(os.urandom(64) + b"\xc1")
        assert rep["ok"] is False and "malformed" in rep["error"]
        rep = request(msgpack.packb({"op": "ping", "extra": 1}))
        assert rep["ok"] is False
        assert request(msgpack.packb({"op": "ping"}))["ok"] is True
        assert request(msgpack.packb({"op": "shutdown"}))["op"] == "bye"
        assert worker_process.wait(timeout=10) == 0
    finally:
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
    assert r.returncode != 0 and "cannot bind" in r.stderr
