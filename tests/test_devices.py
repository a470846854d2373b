"""This machine's devices: CPU core groups from the affinity mask, GPUs where cupy sees them, and
`python -m runner devices`."""
import argparse
import os
import pathlib
import subprocess
import sys
import types

import numpy as np
import pytest

from tensorweave.runtime import devices as devmod
from tensorweave.runtime.devices import available_cores, local_devices, make_device

ROOT = pathlib.Path(__file__).resolve().parents[1]
CORES = sorted(os.sched_getaffinity(0))


@pytest.fixture
def no_cupy(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)     # `import cupy` raises ImportError


def _fake_cupy(n, fail=False):
    def count():
        if fail:
            raise RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")
        return n

    def props(i):
        return {"name": f"Fake GPU {i}".encode(), "totalGlobalMem": (i + 1) * 2**30}

    runtime = types.SimpleNamespace(getDeviceCount=count, getDeviceProperties=props)
    return types.SimpleNamespace(cuda=types.SimpleNamespace(runtime=runtime))


def test_default_is_one_cpu_device_with_every_core(no_cupy):
    (d,) = local_devices()
    assert d.name == "/job:localhost/replica:0/task:0/device:CPU:0"
    assert (d.device_type, d.job, d.replica, d.task, d.index) == ("CPU", "localhost", 0, 0, 0)
    assert list(d.cores) == CORES == available_cores()
    assert d.memory_limit_bytes > 0 and not d.shares_cores
    assert str(d.spec) == d.name
    # one incarnation per device and process
    assert local_devices()[0].incarnation == d.incarnation != 0


def test_cpu_device_count_splits_the_cores(no_cupy):
    devs = local_devices({"CPU": 2})
    assert [d.name for d in devs] == [f"/job:localhost/replica:0/task:0/device:CPU:{i}"
                                      for i in range(2)]
    assert sorted(c for d in devs for c in d.cores) == CORES
    if len(CORES) >= 2:                    # this project's machine: one core each
        assert all(d.cores and not d.shares_cores for d in devs)
        assert not set(devs[0].cores) & set(devs[1].cores)
    assert devs[0].memory_limit_bytes == devs[1].memory_limit_bytes > 0


def test_more_cpu_devices_than_cores_share_them(no_cupy):
    n = len(CORES) + 1
    devs = local_devices({"CPU": n})
    assert len(devs) == n and all(d.shares_cores and len(d.cores) == 1 for d in devs)
    assert {c for d in devs for c in d.cores} == set(CORES)


def test_bad_device_count(no_cupy):
    with pytest.raises(ValueError, match="at least 1"):
        local_devices({"CPU": 0})
    with pytest.raises(ValueError, match="unknown device types \\['TPU'\\]"):
        local_devices({"TPU": 1})


@pytest.mark.parametrize("count, match", [
    ({"CPU": -2}, "device_count\\['CPU'\\] must be >= 0, got -2"),
    ({"CPU": 2.5}, "device_count\\['CPU'\\] must be an int, got 2.5"),
    ({"CPU": "2"}, "device_count\\['CPU'\\] must be an int, got '2'"),
    ({"CPU": True}, "device_count\\['CPU'\\] must be an int"),
    ({"GPU": -1}, "device_count\\['GPU'\\] must be >= 0, got -1"),
    ({"GPU": 1.0}, "device_count\\['GPU'\\] must be an int"),
])
def test_a_device_count_that_is_not_a_non_negative_int_raises_naming_the_field(no_cupy, count,
                                                                                match):
    with pytest.raises(ValueError, match=match):
        local_devices(count)
    assert len(local_devices({"CPU": np.int64(2)})) == 2


def test_cpu_devices_are_capped_at_four_per_core(no_cupy, monkeypatch):
    cap = devmod.CPU_DEVICES_PER_CORE * len(CORES)
    assert devmod.CPU_DEVICES_PER_CORE == 4
    assert len(local_devices({"CPU": cap})) == cap
    with pytest.raises(ValueError, match=f"device_count\\['CPU'\\] is {cap + 1}, more than "
                                         f"the cap of {cap} CPU devices \\(4 per core"):
        local_devices({"CPU": cap + 1})
    monkeypatch.setattr(devmod, "available_cores", lambda: [0, 1])
    with pytest.raises(ValueError, match="is 500, more than the cap of 8 CPU devices"):
        local_devices({"CPU": 500})


def test_a_session_with_too_many_cpu_devices_starts_no_worker(no_cupy):
    import psutil

    import tensorweave as tw
    before = set(psutil.Process().children(recursive=True))
    cfg = tw.ConfigProto(device_count={"CPU": 4 * len(CORES) + 1})
    with pytest.raises(ValueError, match="more than the cap"):
        tw.Session(config=cfg)
    with pytest.raises(ValueError, match="device_count\\['CPU'\\] must be >= 0"):
        tw.Session(config=tw.ConfigProto(device_count={"CPU": -2}))
    assert set(psutil.Process().children(recursive=True)) <= before


def test_job_prefix(no_cupy):
    devs = local_devices({"CPU": 2}, job_prefix="/job:worker/task:3")
    assert devs[1].name == "/job:worker/replica:0/task:3/device:CPU:1"
    assert (devs[1].job, devs[1].task) == ("worker", 3)
    with pytest.raises(ValueError, match="must name a job"):
        make_device("CPU", 0, job_prefix="/job:w/device:CPU:0")


def test_no_gpus_without_cupy(no_cupy):
    assert devmod.gpu_properties() == []
    assert [d.device_type for d in local_devices({"GPU": 4})] == ["CPU"]


def test_gpus_where_cupy_sees_them(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(2))
    devs = local_devices()
    gpus = [d for d in devs if d.device_type == "GPU"]
    assert [d.name for d in gpus] == [f"/job:localhost/replica:0/task:0/device:GPU:{i}"
                                      for i in range(2)]
    assert gpus[1].memory_limit_bytes == 2 * 2**30 and gpus[1].description == "Fake GPU 1"
    assert [d.device_type for d in local_devices({"GPU": 1})] == ["CPU", "GPU"]
    assert [d.device_type for d in local_devices({"GPU": 0})] == ["CPU"]


def test_a_cuda_error_means_no_gpus(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(1, fail=True))
    assert [d.device_type for d in local_devices()] == ["CPU"]


def test_runner_devices_prints_each_device(no_cupy, capsys):
    from runner.devices import main
    assert main(argparse.Namespace(cpus=2, gpus=None, job=None)) == 0
    out = capsys.readouterr().out
    assert f"{len(CORES)} CPU core" in out
    for i, d in enumerate(local_devices({"CPU": 2})):
        assert f"{d.name}  CPU  cores {','.join(map(str, d.cores))}  " in out
        assert "MiB" in out.splitlines()[1 + i]
    assert "no GPU: cupy is not installed or sees no CUDA device" in out
    assert main(argparse.Namespace(cpus=0, gpus=None, job=None)) == 2
    assert "at least 1" in capsys.readouterr().err


def test_runner_devices_lists_gpus(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(1))
    from runner.devices import main
    assert main(argparse.Namespace(cpus=None, gpus=None, job="/job:worker/task:1")) == 0
    out = capsys.readouterr().out
    assert "/job:worker/replica:0/task:1/device:GPU:0  GPU  Fake GPU 0  1,024 MiB" in out
    assert "no GPU" not in out
    assert main(argparse.Namespace(cpus=None, gpus=0, job=None)) == 0
    out = capsys.readouterr().out
    assert "GPU:0" not in out and "no GPU: none asked for (--gpus 0)" in out


def test_python_m_runner_devices():
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src") + os.pathsep + str(ROOT))
    r = subprocess.run([sys.executable, "-m", "runner", "devices", "--cpus", "2"],
                       capture_output=True, text=True, timeout=60, env=env, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert "/job:localhost/replica:0/task:0/device:CPU:1" in r.stdout
    listing = subprocess.run([sys.executable, "-m", "runner"], capture_output=True, text=True,
                             timeout=60, env=env, cwd=ROOT)
    assert "devices" in listing.stdout


class _OnDevice(np.ndarray):
    """What a fake device's allocator hands its kernels: a marked array."""


def test_a_worker_moves_tensors_with_its_device_types_allocator(tmp_path):
    # a fake GPU type whose allocator marks device arrays: what a worker receives reaches its
    # kernels on the device, what it sends leaves as host memory
    import threading

    from tensorweave import kernels
    from workers.service import WorkerService

    moved = []

    def to_host(v):
        moved.append("to_host")
        return np.array(v)

    cpu = kernels.get_backend("CPU")
    alloc = kernels.Allocator("marked", empty=np.empty, to_host=to_host,
                              to_device=lambda v: np.asarray(v).view(_OnDevice))
    kernels.register_backend("GPU", cpu.kernels, priority=1, array_module=np, allocator=alloc)
    dev = "/job:localhost/replica:0/task:0/device:GPU:0"
    svc = None
    try:
        svc = WorkerService(dev, f"ipc://{tmp_path}/w")
        svc.kctx.step = threading.local()
        svc.kctx.step.peers = {dev: (svc.transport.endpoint, True)}  # a tensor to itself
        key = (1, dev, dev, "x:0")
        svc._send(dev, key, np.arange(3.0).view(_OnDevice))
        assert moved == ["to_host"]
        assert type(svc.rendezvous._steps[1].values[key]) is np.ndarray  # host memory between
        got = svc._recv(key)
        assert type(got) is _OnDevice and got.tolist() == [0.0, 1.0, 2.0]
        with pytest.raises(TypeError, match="allocator must be"):
            kernels.register_backend("GPU", cpu.kernels, priority=1, array_module=np,
                                     allocator=np)
    finally:
        if svc is not None:
            svc.close()
        kernels._BACKENDS.pop("GPU", None)


def test_a_device_view_of_a_kept_buffer_is_not_sent_zero_copy(tmp_path, monkeypatch):
    # a device whose arrays live in host memory (on_host: its to_host may return a view, not a
    # copy): a buffer the step keeps must still leave as a snapshot
    import threading

    from tensorweave import kernels
    from tensorweave.runtime.rendezvous import Rendezvous
    from tensorweave.runtime.transport import Transport
    from workers.service import WorkerService

    cpu = kernels.get_backend("CPU")
    alloc = kernels.Allocator("marked", empty=np.empty, to_host=np.asarray,
                              to_device=lambda v: np.asarray(v).view(_OnDevice), on_host=True)
    kernels.register_backend("GPU", cpu.kernels, priority=1, array_module=np, allocator=alloc)
    dev = "/job:localhost/replica:0/task:0/device:GPU:0"
    svc = peer = None
    try:
        svc = WorkerService(dev, f"ipc://{tmp_path}/w")
        peer = Transport(Rendezvous())
        svc.kctx.step = threading.local()
        svc.kctx.step.peers = {"/peer": (peer.endpoint, False)}  # (frames, as to another host)
        frames = []
        send = svc.transport._send
        monkeypatch.setattr(svc.transport, "_send",
                            lambda ep, msg, t: (frames.append(msg[1]), send(ep, msg, t))[1])
        x = np.arange(1 << 15, dtype=np.float32).view(_OnDevice)   # 128 KiB, kept by the step
        svc._send("/peer", (1, dev, "/peer", "x:0"), x, owned=False)
        assert not np.may_share_memory(frames[0], x)
        np.testing.assert_array_equal(peer.rendezvous.recv((1, dev, "/peer", "x:0"), 10.0), x)
    finally:
        for o in (svc, peer):
            if o is not None:
                o.close()
        kernels._BACKENDS.pop("GPU", None)
