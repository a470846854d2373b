"""Authenticated clusters (issue 10): CurveZMQ keys made by `python -m runner keys`, tasks that
admit only the public keys of their allow-list, clients and peers that prove theirs, and the
loopback-only rule of a task without keys.  A peer with an unknown key, or none, gets no
answer to any request (status, register_graph, run_graph, shutdown), cannot put a tensor into
a task, and the task keeps serving the clients it knows."""
from __future__ import annotations

import logging
import os
import shutil
import socket
import stat

import numpy as np
import pytest
import zmq
import zmq.auth

import tensorweave as tw
from tensorweave.runtime import curve, wire
from runner.__main__ import main as runner_main

from test_hostile_messages import _call


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture(scope="module")
def keydir(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("keys"))
    curve.make_keys(d, ["alice"])
    return d


@pytest.fixture(scope="module")
def keyed(keydir):
    cluster = tw.train.ClusterSpec({"worker": [f"localhost:{free_port()}",
                                               f"localhost:{free_port()}"]})
    cfg = tw.ConfigProto(experimental={"cluster_keys": keydir})
    servers = [tw.train.Server(cluster, "worker", i, config=cfg) for i in range(2)]
    yield servers, cfg
    for s in servers:
        s.stop()


def cross_task_graph():
    g = tw.Graph()
    with g.as_default():
        with tw.device("/job:worker/task:1"):
            v = tw.Variable(3.0, name="v")
            a = v * 2.0
        with tw.device("/job:worker/task:0"):
            b = a + 1.0
        init = tw.global_variables_initializer()
    return g, v, b, init


OPTS = tw.RunOptions(timeout_in_ms=20_000)


def test_keys_layout_and_modes(keydir):
    names = sorted(os.listdir(keydir))
    assert names == ["alice.key", "alice.key_secret", "authorized", "cluster.key",
                     "cluster.key_secret"]
    assert sorted(os.listdir(os.path.join(keydir, "authorized"))) == ["alice.key",
                                                                     "cluster.key"]
    for n in ("alice.key_secret", "cluster.key_secret"):
        assert stat.S_IMODE(os.stat(os.path.join(keydir, n)).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(keydir).st_mode) == 0o700
    before = open(os.path.join(keydir, "cluster.key_secret")).read()
    curve.make_keys(keydir)                       # again: existing keys are kept
    assert open(os.path.join(keydir, "cluster.key_secret")).read() == before


def test_the_keys_command(tmp_path, capsys):
    assert runner_main(["keys", str(tmp_path / "k"), "--client", "bob"]) == 0
    out = capsys.readouterr().out
    assert "bob.key_secret" in out and "cluster_keys" in out
    assert runner_main(["keys", str(tmp_path / "k"), "--client", "../x"]) == 2


def test_unusable_keys_are_named(tmp_path, keydir):
    with pytest.raises(tw.errors.NotFoundError, match="no cluster key"):
        curve.load_keys(str(tmp_path))
    with pytest.raises(tw.errors.NotFoundError, match="client 'carol'"):
        curve.load_keys(keydir, "carol")
    d = tmp_path / "open"
    curve.make_keys(str(d))
    os.chmod(d / "cluster.key_secret", 0o644)
    with pytest.raises(tw.errors.PermissionDeniedError, match="chmod 600"):
        curve.load_keys(str(d), serve=True)
    with pytest.raises(tw.errors.NotFoundError):
        tw.train.Server({"worker": [f"localhost:{free_port()}"]}, "worker", 0,
                        config=tw.ConfigProto(experimental={"cluster_keys": str(tmp_path)}))


def test_known_clients_run_steps_across_tasks(keyed, keydir):
    servers, cfg = keyed
    g, v, b, init = cross_task_graph()
    with g.as_default(), tw.Session(servers[0].target, config=cfg) as sess:
        sess.run(init, options=OPTS)
        assert sess.run(b, options=OPTS) == 7.0   # task 1 -> task 0 over an encrypted link
    alice = tw.ConfigProto(experimental={"cluster_keys": keydir, "client_key": "alice"})
    with g.as_default(), tw.Session(servers[1].target, config=alice) as sess:
        assert sess.run(b, options=OPTS) == 7.0


def _curve_dealer(ctx, endpoint, server_public, pair=None):
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    if server_public is not None:
        public, secret = pair or zmq.curve_keypair()
        s.curve_serverkey, s.curve_publickey, s.curve_secretkey = server_public, public, secret
    s.connect(endpoint)
    return s


def test_a_peer_without_a_known_key_gets_nothing_done(keyed, keydir, tmp_path):
    servers, cfg = keyed
    g, v, b, init = cross_task_graph()
    with g.as_default(), tw.Session(servers[0].target, config=cfg) as sess:
        sess.run(init, options=OPTS)
        sess.run(v.assign(5.0), options=OPTS)
    keys = curve.load_keys(keydir)
    ctx = zmq.Context()
    try:
        known = _curve_dealer(ctx, "tcp://" + servers[1]._address, keys.server_public,
                              (keys.public, keys.secret))
        status = _call(known, {"op": "status", "id": 1})["status"]
        # a stranger: the right server key, a key pair of its own that no task allows; and a
        # plain socket with no CURVE at all
        strangers = [_curve_dealer(ctx, "tcp://" + servers[1]._address, keys.server_public),
                     _curve_dealer(ctx, "tcp://" + servers[1]._address, None)]
        gd = tw.Graph()
        with gd.as_default():
            tw.constant(1.0, name="c")
        requests = [{"op": "status", "id": 2},
                    {"op": "register_graph", "id": 3,
                     "graph": gd.as_graph_def().SerializeToString(), "feeds": [],
                     "fetches": ["c:0"], "targets": [], "peers": {}, "session": "x"},
                    {"op": "run_graph", "id": 4, "handle": 1, "step": 1, "feeds": []},
                    {"op": "reset", "id": 5}, {"op": "shutdown", "id": 6}]
        for s in strangers:
            for r in requests:
                s.send_multipart(wire.pack(r))
        for s in strangers:
            assert not s.poll(1500), "a stranger got an answer"
        # nor can a stranger put a tensor into the task's data socket
        for server_public in (keys.server_public, None):
            push = ctx.socket(zmq.PUSH)
            push.setsockopt(zmq.LINGER, 0)
            if server_public is not None:
                push.curve_serverkey = server_public
                push.curve_publickey, push.curve_secretkey = zmq.curve_keypair()
            push.connect(status["data"])
            meta, frames = wire.encode_tensor(np.ones(1000, np.float32))
            push.send_multipart(wire.pack({"op": "tensor", "key": [2**50, "/a", "/b", "t"],
                                           "t": meta}, frames), zmq.NOBLOCK)
            push.close(0)
        after = _call(known, {"op": "status", "id": 7})["status"]
        assert after["pid"] == status["pid"]
        assert after["unclaimed"]["bytes"] == 0 and after["dropped"] == status["dropped"]
    finally:
        ctx.destroy(0)
    # the task still serves, with its variable as the known client left it
    with g.as_default(), tw.Session(servers[0].target, config=cfg) as sess:
        assert sess.run(b, options=OPTS) == 11.0


def test_a_client_with_an_unknown_key_is_told_what_to_check(keyed, keydir, tmp_path):
    servers, _ = keyed
    other = tmp_path / "other"
    curve.make_keys(str(other), ["mallory"])
    # mallory knows the cluster's public key, but her own is in no task's allow-list
    shutil.copyfile(os.path.join(keydir, "cluster.key"), other / "cluster.key")
    cfg = tw.ConfigProto(experimental={"cluster_keys": str(other), "client_key": "mallory"})
    with tw.Graph().as_default():
        with tw.device("/job:worker/task:0"):
            c = tw.constant(1.0)
        with pytest.raises(tw.errors.UnavailableError, match="client key .mallory. of .*other"):
            with tw.Session(servers[0].target, config=cfg) as sess:
                sess.run(c)


def test_a_task_without_keys_listens_on_loopback_only_and_says_so(caplog):
    port = free_port()
    caplog.set_level(logging.WARNING)
    server = tw.train.Server({"worker": [f"0.0.0.0:{port}"]}, "worker", 0)
    try:
        ctx = zmq.Context()
        try:
            s = _curve_dealer(ctx, f"tcp://127.0.0.1:{port}", None)
            st = _call(s, {"op": "status", "id": 1})["status"]
        finally:
            ctx.destroy(0)
        assert st["control"] == f"tcp://127.0.0.1:{port}"
        assert st["data"].startswith("tcp://127.0.0.1:")
        said = " ".join(r.getMessage() for r in caplog.records)
        assert "no cluster keys: listening on 127.0.0.1" in said and "0.0.0.0" in said
    finally:
        server.stop()


def test_safe_bind():
    assert curve.safe_bind("tcp://127.0.0.1:5", None) == "tcp://127.0.0.1:5"
    assert curve.safe_bind("tcp://localhost:5", None) == "tcp://localhost:5"
    assert curve.safe_bind("tcp://0.0.0.0:5", None, say=False) == "tcp://127.0.0.1:5"
    assert curve.safe_bind("tcp://*:*", None, say=False) == "tcp://127.0.0.1:*"
    assert curve.safe_bind("ipc:///tmp/x", None) == "ipc:///tmp/x"
    assert curve.safe_bind("tcp://0.0.0.0:5", object()) == "tcp://0.0.0.0:5"


def test_keys_again_do_not_undo_a_revocation_and_loose_allow_lists_are_refused(tmp_path):
    d = tmp_path / "k"
    curve.make_keys(str(d), ["bob"])
    os.unlink(d / "authorized" / "bob.key")          # bob revoked
    curve.make_keys(str(d), ["bob", "carol"])
    assert sorted(os.listdir(d / "authorized")) == ["carol.key", "cluster.key"]
    os.chmod(d / "authorized", 0o777)
    with pytest.raises(tw.errors.PermissionDeniedError, match="may be written by others"):
        curve.load_keys(str(d), serve=True)


def test_a_keyless_task_refuses_transports_beyond_the_host_and_its_target_is_loopback():
    with pytest.raises(OSError, match="without cluster keys serves only"):
        curve.safe_bind("tipc://{5560,0,0}", None)
    port = free_port()
    server = tw.train.Server({"worker": [f"0.0.0.0:{port}"]}, "worker", 0, start=False)
    assert server.target == f"tw://127.0.0.1:{port}"
