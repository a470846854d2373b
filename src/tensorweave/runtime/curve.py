"""Authenticated, encrypted cluster links: CurveZMQ keys, allow-lists and the loopback rule.

A cluster's key directory (made by `python -m runner keys DIR`) holds:

    DIR/cluster.key, DIR/cluster.key_secret   the cluster's key pair: every task serves with it
                                              (and uses it to reach its peers)
    DIR/NAME.key, DIR/NAME.key_secret         a client's own key pair (`keys DIR --client NAME`)
    DIR/authorized/*.key                      the allow-list: public keys that may connect

A task started with keys (`--keys DIR` of `python -m workers`; `tw.train.Server` passes it on)
makes its control and data sockets CURVE servers and runs a ZAP authenticator
(`zmq.auth.thread.ThreadAuthenticator`) that admits only the public keys in `authorized/`; a
peer without one never completes the handshake, so it cannot send the task a single message.
A client (`Master.connect`) or a peer connects as a CURVE client: it knows the cluster's public
key and proves its own.  Everything on those links is encrypted.  Secret key files must be
readable by their owner only.

A task started without keys binds loopback addresses only (`safe_bind`): it can serve this host
but nothing beyond it, and it says so in a warning.

Sessions and servers find the directory in `ConfigProto(experimental={"cluster_keys": DIR,
"client_key": NAME})`, else in the environment (`TENSORWEAVE_CLUSTER_KEYS`,
`TENSORWEAVE_CLIENT_KEY`); the client key defaults to the cluster's own pair.
"""
from __future__ import annotations

import ipaddress
import logging
import os
import shutil
import socket as pysocket
import stat
from dataclasses import dataclass

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from ..framework import errors

__all__ = ["CurveKeys", "make_keys", "load_keys", "keys_from_config", "safe_bind",
           "Authenticator", "CLUSTER"]

_log = logging.getLogger(__name__)

#: The name of the cluster's own key pair in a key directory.
CLUSTER = "cluster"
AUTHORIZED = "authorized"
ENV_KEYS, ENV_CLIENT = "TENSORWEAVE_CLUSTER_KEYS", "TENSORWEAVE_CLIENT_KEY"


@dataclass(frozen=True)
class CurveKeys:
    """What one process needs: the cluster's public key (the server key every task has), its
    own key pair (`public`, `secret`: the cluster's for a task, a client's own otherwise), the
    cluster's secret key when it serves, and the allow-list directory."""

    directory: str
    client: str               # the name of its own key pair (`CLUSTER` for a task)
    server_public: bytes
    public: bytes
    secret: bytes
    server_secret: bytes | None = None
    authorized: str | None = None

    def serve(self, sock: zmq.Socket) -> None:
        """Make `sock` (before it binds) a CURVE server with the cluster's key pair."""
        if self.server_secret is None:
            raise ValueError(f"the key directory {self.directory} has no cluster secret key: "
                             f"a client's keys cannot serve a task")
        sock.curve_secretkey = self.server_secret
        sock.curve_publickey = self.server_public
        sock.curve_server = True

    def connect(self, sock: zmq.Socket) -> None:
        """Make `sock` (before it connects) a CURVE client of the cluster, with our key pair."""
        sock.curve_serverkey = self.server_public
        sock.curve_publickey = self.public
        sock.curve_secretkey = self.secret


def _write_pair(directory: str, name: str) -> tuple[str, bool]:
    """Make key pair `name` in `directory` (the secret file owner-only); returns the public
    file's path and whether it was made now (an existing pair is kept)."""
    public = os.path.join(directory, f"{name}.key")
    secret = public + "_secret"
    if os.path.exists(secret):
        return public, False
    old = os.umask(0o077)
    try:
        zmq.auth.create_certificates(directory, name)
    finally:
        os.umask(old)
    os.chmod(secret, 0o600)
    return public, True


def make_keys(directory: str, clients=()) -> list[str]:
    """Make (or complete) a key directory: the cluster's pair, one pair per name in `clients`,
    and the public key of each pair made now in `authorized/` (a pair that exists is kept, and
    so is its absence from the allow-list: running this again does not undo a revocation).  A
    directory made here is owner-only; an existing one keeps its mode.  Returns the files made
    or kept."""
    if not zmq.has("curve"):
        raise RuntimeError("this libzmq was built without CURVE support")
    for name in clients:
        if not name or name == CLUSTER or os.sep in name or name.startswith("."):
            raise ValueError(f"bad client key name {name!r}")
    old = os.umask(0o077)
    try:
        os.makedirs(os.path.join(directory, AUTHORIZED), exist_ok=True)
    finally:
        os.umask(old)
    made = []
    for name in (CLUSTER, *clients):
        public, new = _write_pair(directory, name)
        allowed = os.path.join(directory, AUTHORIZED, f"{name}.key")
        if new:
            shutil.copyfile(public, allowed)
        made += [public, public + "_secret"] + ([allowed] if os.path.exists(allowed) else [])
    return made


def _check_private(path: str) -> None:
    """`PermissionDeniedError` unless only its owner may write to directory `path` (anyone
    who can write an allow-list can admit a key of their own)."""
    st = os.stat(path)
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH) or st.st_uid != os.getuid():
        raise errors.PermissionDeniedError(
            None, None, f"{path} may be written by others (mode {stat.S_IMODE(st.st_mode):o}, "
                        f"owner uid {st.st_uid}): a task reads its allow-list only from a "
                        f"directory of its own user that nobody else may write")


def _load(path: str, secret: bool) -> tuple[bytes, bytes | None]:
    if secret:
        st = os.stat(path)
        if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise errors.PermissionDeniedError(
                None, None, f"the secret key {path} may be read by others (mode "
                            f"{stat.S_IMODE(st.st_mode):o}): chmod 600 it")
    try:
        public, sec = zmq.auth.load_certificate(path)
    except (OSError, ValueError) as e:
        raise errors.InvalidArgumentError(None, None, f"cannot read the key {path}: {e}") \
            from None
    return public, sec


def load_keys(directory: str, client: str | None = None, serve: bool = False) -> CurveKeys:
    """The keys of a process from `directory`: a task's (`serve`: the cluster's pair and the
    allow-list) or a client's (its pair `client`, default the cluster's, and the cluster's
    public key).  Raises `NotFoundError` / `PermissionDeniedError` / `InvalidArgumentError`
    naming the file."""
    directory = os.path.abspath(directory)
    pub_path = os.path.join(directory, f"{CLUSTER}.key")
    if not os.path.exists(pub_path):
        raise errors.NotFoundError(None, None, f"no cluster key in {directory} (make one with "
                                               f"`python -m runner keys {directory}`)")
    server_public, _ = _load(pub_path, False)
    server_secret = None
    if serve:
        _, server_secret = _load(pub_path + "_secret", True) if os.path.exists(
            pub_path + "_secret") else (None, None)
        if server_secret is None:
            raise errors.NotFoundError(None, None, f"a task needs the cluster's secret key "
                                                   f"{pub_path}_secret")
        authorized = os.path.join(directory, AUTHORIZED)
        if not os.path.isdir(authorized):
            raise errors.NotFoundError(None, None, f"no allow-list directory {authorized}")
        _check_private(directory)
        _check_private(authorized)
        return CurveKeys(directory, CLUSTER, server_public, server_public, server_secret,
                         server_secret, authorized)
    name = client or CLUSTER
    path = os.path.join(directory, f"{name}.key_secret")
    if not os.path.exists(path):
        raise errors.NotFoundError(None, None, f"no secret key {path} for client {name!r} "
                                               f"(make one with `python -m runner keys "
                                               f"{directory} --client {name}`)")
    public, secret = _load(path, True)
    return CurveKeys(directory, name, server_public, public, secret)


def keys_from_config(config, serve: bool = False) -> CurveKeys | None:
    """The keys a session's or a server's `ConfigProto` names (`experimental`: `cluster_keys`,
    `client_key`), else the environment's; None when neither names any."""
    exp = dict(getattr(config, "experimental", None) or {})
    directory = exp.get("cluster_keys") or os.environ.get(ENV_KEYS)
    if not directory:
        return None
    if not isinstance(directory, str):
        raise errors.InvalidArgumentError(None, None, f"ConfigProto.experimental"
                                                      f"['cluster_keys'] must be a directory "
                                                      f"path, got {directory!r}")
    return load_keys(directory, exp.get("client_key") or os.environ.get(ENV_CLIENT),
                     serve=serve)


def _is_loopback(host: str) -> bool:
    try:
        return all(ipaddress.ip_address(info[4][0]).is_loopback
                   for info in pysocket.getaddrinfo(host, None))
    except (OSError, ValueError):
        return False


def safe_bind(bind: str, keys: CurveKeys | None, say: bool = True) -> str:
    """`bind` itself, unless there are no keys and it could be reached from beyond this host:
    a TCP address beyond loopback becomes the same port on 127.0.0.1, with a warning saying so
    (`say`); another transport than tcp://, ipc:// and inproc:// raises `OSError`."""
    if keys is not None or bind.startswith(("ipc://", "inproc://")):
        return bind
    if not bind.startswith("tcp://"):
        raise OSError(f"{bind}: a task without cluster keys serves only tcp:// on loopback, "
                      f"ipc:// and inproc:// addresses")
    host, port = bind[len("tcp://"):].rsplit(":", 1)
    if _is_loopback(host.strip("[]")):
        return bind
    if say:
        _log.warning("no cluster keys: listening on 127.0.0.1:%s only, not on %s (other hosts "
                     "cannot reach this task; to serve them safely, make keys with `python -m "
                     "runner keys DIR` and start the task with them)", port, host)
    return f"tcp://127.0.0.1:{port}"


class Authenticator:
    """The ZAP handler of a serving context: admits the public keys in `keys.authorized`."""

    def __init__(self, ctx: zmq.Context, keys: CurveKeys):
        self._auth = ThreadAuthenticator(ctx, log=logging.getLogger(__name__ + ".zap"))
        self._auth.start()
        self._auth.configure_curve(domain="*", location=keys.authorized)
        allowed = getattr(self._auth, "certs", {}).get("*", {})
        _log.info("CURVE: %d public keys allowed (from %s)", len(allowed), keys.authorized)

    def stop(self) -> None:
        self._auth.stop()
