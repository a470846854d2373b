"""The backend protocol: the MARKED test device's arrays behave as CuPy's do towards numpy (they
refuse host arrays, dispatch numpy functions, move only through the allocator), and a kernel
that leaks a host array is caught on that device."""
import sys
import types

import numpy as np
import pytest

import tensorweave as tw
from tensorweave.framework.op_registry import register_op, registered_ops
from tensorweave.kernels import get_backend
from tensorweave.kernels.context import KernelContext
from tensorweave.test import marked_backend
from tensorweave.test.marked_backend import ALLOCATOR, XP, MarkedArray

BACKEND = marked_backend.install()
to_device, to_host = ALLOCATOR.to_device, ALLOCATOR.to_host
MARKED_CONFIG = tw.ConfigProto(device_count={"CPU": 0, "MARKED": 1})


def dev(*args, **kw):
    return to_device(np.array(*args, **kw))


# ----------------------------------------------------------------------------------------------
# the wrapper
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("host", [np.ones(3), np.ones((1, 3)), np.array(2.0)],
                         ids=["vector", "matrix", "0-d"])
@pytest.mark.parametrize("what,mix", [
    ("numpy.add", lambda m, h: m + h),
    ("numpy.add", lambda m, h: h + m),
    ("numpy.multiply", lambda m, h: np.multiply(m, h)),
    ("xp.maximum", lambda m, h: XP.maximum(m, h)),
    ("numpy.concatenate", lambda m, h: np.concatenate([m.reshape(-1), h.reshape(-1)])),
    ("xp.where", lambda m, h: XP.where(m > 0, m, h)),
    ("xp.add", lambda m, h: XP.add(m, 1, out=h)),
])
def test_mixing_a_host_array_with_a_device_array_raises_naming_the_operation(what, mix, host):
    m = dev([1.0, 2.0, 3.0])
    with pytest.raises(TypeError, match=rf"^{what}: got a host numpy.ndarray \(shape "):
        mix(m, host)


def test_host_arrays_are_refused_as_indices_values_and_array_module_inputs():
    m = dev([[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(TypeError, match="^indexing: got a host numpy.ndarray"):
        m[np.array([0, 1])]
    with pytest.raises(TypeError, match="^item assignment: got a host numpy.ndarray"):
        m[0] = np.array([5.0, 6.0])
    with pytest.raises(TypeError, match="^xp.asarray: got a host"):
        XP.asarray(np.ones(2))
    with pytest.raises(TypeError, match=r"^xp.add.at: got a host"):
        XP.add.at(m, np.array([0]), 1.0)
    with pytest.raises(TypeError, match="^ndarray.reshape: got a host"):
        m.reshape(np.array([4]))
    with pytest.raises(TypeError, match="^xp.linalg.qr: got a host"):
        XP.linalg.qr(np.eye(2))


def test_implicit_conversion_to_numpy_raises_as_with_cupy():
    m = dev([1.0, 2.0])
    with pytest.raises(TypeError, match="Implicit conversion of a MARKED device array"):
        np.asarray(m)
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.float32(m[0])
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.vectorize(lambda v: v)(m)          # numpy's host-side helpers see it as foreign
    with pytest.raises(TypeError, match="not picklable"):
        import pickle
        pickle.dumps(m)


def test_scalars_mix_freely_and_size_one_arrays_convert():
    m = dev([1.0, 2.0], dtype=np.float32)
    for v in (m + 1, 2.5 * m, np.float32(3) - m, m / 2, m ** 2, -m, abs(m)):
        assert type(v) is MarkedArray and v.dtype == np.float32
    assert to_host(m * np.float32(2)).tolist() == [2.0, 4.0]
    s = m[1]
    assert type(s) is MarkedArray and s.shape == ()          # a 0-d array, not a numpy scalar
    assert float(s) == 2.0 and int(s) == 2 and bool(s) and s.item() == 2.0
    assert f"{s:.1f}" == "2.0" and [0, 1, 2][dev(1)] == 1  # __format__, __index__
    assert len(m) == 2 and [float(v) for v in m] == [1.0, 2.0]
    with pytest.raises(TypeError):
        int(m)                                                    # not size 1


def test_numpy_functions_and_ufuncs_dispatch_and_return_device_arrays():
    m = dev(np.arange(6.0).reshape(2, 3))
    results = [np.sum(m), np.sum(m, axis=0), np.concatenate([m, m]), np.transpose(m),
               np.add.reduce(m, axis=1), np.maximum(m, 2.0), m.sum(), m.astype(np.int32),
               XP.zeros((2, 2)), XP.arange(3), XP.asarray(1.5), XP.einsum("ij->j", m),
               *XP.linalg.qr(m @ m.T), *XP.split(m, 3, axis=1)]
    assert all(type(r) is MarkedArray for r in results), [type(r) for r in results]
    assert to_host(np.sum(m, axis=0)).tolist() == [3.0, 5.0, 7.0]
    assert np.shape(m) == (2, 3) and np.ndim(m) == 2 and np.size(m) == 6   # metadata
    out = XP.empty((2, 3))
    assert XP.multiply(m, 2, out=out) is out and np.add(m, 1, out=out) is out
    XP.add.at(out, dev([0, 0]), 1.0)                       # unbuffered, device indices
    assert to_host(out)[0].tolist() == [3.0, 4.0, 5.0]
    assert XP.asarray(m) is m and XP.ascontiguousarray(m) is m


def test_numpy_ufuncs_that_are_not_numpys_are_refused():
    erf = np.frompyfunc(lambda v: v, 1, 1)
    with pytest.raises(TypeError):
        erf(dev([1.0]))


def test_the_array_module_passes_dtypes_and_constants_and_lacks_host_only_state():
    assert XP.float32 is np.float32 and XP.dtype is np.dtype and XP.pi == np.pi
    assert XP.ndarray is MarkedArray and XP.iinfo is np.iinfo and XP.newaxis is None
    assert XP.add.nin == 2 and XP.add.nout == 1 and XP.add is XP.add
    for name in ("errstate", "frompyfunc", "vectorize"):
        with pytest.raises(AttributeError, match="CuPy has none"):
            getattr(XP, name)


def test_views_keep_their_base_referenced_and_flags_are_cupys():
    m = XP.zeros((4, 3))
    before = sys.getrefcount(m)
    views = [m.T, m[1:], m.reshape(12), XP.transpose(m), m[1:].T[0],
             XP.lib.stride_tricks.as_strided(m, (2, 2), m.strides)]
    assert all(v.base is m for v in views)
    assert sys.getrefcount(m) == before + len(views)       # what a buffer pool counts on
    assert m.copy().base is None and (m + 1).base is None
    assert m.flags.c_contiguous and m.flags.owndata and not m.T.flags.owndata
    assert not hasattr(m.flags, "writeable")


def test_allocator_round_trip_copies_and_keeps_host_only_values():
    host = np.arange(6, dtype=np.int16).reshape(2, 3)
    d = to_device(host)
    host[0, 0] = 99                                       # to_device copied
    assert type(d) is MarkedArray and d.dtype == np.int16 and d.shape == (2, 3)
    back = to_host(d)
    assert type(back) is np.ndarray and back.tolist() == [[0, 1, 2], [3, 4, 5]]
    back[0, 0] = 7                                        # to_host gave a fresh array
    assert int(d[0, 0]) == 0
    assert type(to_device(np.float32(2.5))) is MarkedArray and to_device(np.float32(2)).ndim == 0
    strings = np.array([b"a", b"b"], dtype=object)
    assert to_device(strings) is strings and to_host(strings) is strings
    variant = [d, None]
    assert to_device(variant) is variant and to_device(None) is None
    assert to_device(d) is d and type(ALLOCATOR.empty((2,), np.float32)) is MarkedArray
    with pytest.raises(TypeError, match="cannot move a object"):
        to_device(object())
    with pytest.raises(TypeError, match="cannot hold dtype object"):
        XP.empty(2, dtype=object)


def test_install_is_idempotent_and_shares_the_cpu_kernel_table():
    assert marked_backend.install() is BACKEND is get_backend("MARKED")
    assert BACKEND.kernels is get_backend("CPU").kernels
    assert BACKEND.array_module is XP and BACKEND.allocator.array_type is MarkedArray
    assert BACKEND.priority < get_backend("CPU").priority and not BACKEND.allocator.on_host


# ----------------------------------------------------------------------------------------------
# kernels on the device
# ----------------------------------------------------------------------------------------------
def _node(op_type, out_dtypes, out_shapes=None, attr=None, const_inputs=None, donatable=()):
    return types.SimpleNamespace(
        name=op_type.lower(), op=op_type, attr=attr or {}, inputs=[], out_dtypes=out_dtypes,
        out_shapes=out_shapes or [tw.TensorShape(None)] * len(out_dtypes),
        const_inputs=const_inputs or {}, donatable=frozenset(donatable), ref_vars={},
        key=op_type.lower(), device="")


def test_cpu_kernels_compute_on_the_marked_device():
    ctx = KernelContext("/device:MARKED:0", BACKEND)
    kernels = BACKEND.kernels
    a, b = dev([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32), dev([[1.0], [1.0]], dtype=np.float32)
    mm = kernels["MatMul"](_node("MatMul", [tw.float32], attr={"transpose_a": True}), ctx)
    total = kernels["Sum"](_node("Sum", [tw.float32], const_inputs={1: np.array([0])}), ctx)
    rng = kernels["Range"](_node("Range", [tw.int32]), ctx)
    add = kernels["Add"](_node("Add", [tw.float32], [tw.TensorShape([2, 2])], {"T": tw.float32},
                               donatable=[0]), ctx)
    erf = kernels["Erf"](_node("Erf", [tw.float32]), ctx)
    outs = [mm(a, b), total(a, dev([0])), rng(dev(1, np.int32), dev(7, np.int32),
                                             dev(2, np.int32)), erf(a)]
    assert all(type(o) is MarkedArray for o in outs)
    assert to_host(outs[0]).tolist() == [[4.0], [6.0]]
    assert to_host(outs[1]).tolist() == [4.0, 6.0] and to_host(outs[2]).tolist() == [1, 3, 5]
    np.testing.assert_allclose(to_host(outs[3]), [[0.8427008, 0.9953223], [0.9999779, 1.0]],
                               rtol=1e-6)
    c = a.copy()
    assert add(c, b) is c and to_host(c).tolist() == [[2.0, 3.0], [4.0, 5.0]]  # donated, in place


def test_folding_calls_kernels_with_a_plain_cpu_context():
    # build-time constant folding calls kernel factories with KernelContext("", CPU backend)
    ctx = KernelContext("", get_backend("CPU"))
    k = get_backend("CPU").kernels
    i32 = tw.int32
    cases = [
        ("Reshape", [np.arange(6, dtype=np.int32), np.array([2, 3])], {}, [[0, 1, 2], [3, 4, 5]]),
        ("Fill", [np.array([2]), np.array(7, np.int32)], {}, [7, 7]),
        ("GatherV2", [np.array([5, 6, 7], np.int32), np.array([2, 0]), np.array(0)], {}, [7, 5]),
        ("Tile", [np.array([1, 2], np.int32), np.array([2])], {}, [1, 2, 1, 2]),
        ("Transpose", [np.array([[1, 2]], np.int32), np.array([1, 0])], {}, [[1], [2]]),
        ("StridedSlice", [np.array([4, 5, 6], np.int32), np.array([1]), np.array([3]),
                          np.array([1])], {}, [5, 6]),
    ]
    for op, vals, attr, want in cases:
        node = _node(op, [i32], attr={"T": i32, **attr}, const_inputs=dict(enumerate(vals)))
        assert np.asarray(k[op](node, ctx)(*vals)).tolist() == want, op


# --- a kernel that leaks host arrays -----------------------------------------------------------
if "TestLeakHostResult" not in registered_ops():
    @register_op("TestLeakHostResult")
    @register_op("TestLeakHostOperand")
    def _leak_shape(op):
        return [(tw.float32, op.inputs[0].shape)]


def _returns_a_host_array(node, ctx):
    return lambda x: np.zeros(np.shape(x), np.float32)      # numpy, not ctx.xp


def _mixes_in_a_host_array(node, ctx):
    xp = ctx.xp
    return lambda x: xp.add(x, np.ones(np.shape(x), np.float32))


get_backend("CPU").kernels.update(TestLeakHostResult=_returns_a_host_array,
                                  TestLeakHostOperand=_mixes_in_a_host_array)


def _leak(op_type, config):
    from tensorweave.ops.op_util import op1
    x = tw.placeholder(tw.float32, [2])
    y = op1(op_type, [x], None, "leak")
    with tw.Session(config=config) as s:
        return s.run(y, {x: np.ones(2, np.float32)})


def test_a_kernel_returning_a_host_array_is_caught_on_the_marked_device():
    assert _leak("TestLeakHostResult", None).tolist() == [0.0, 0.0]      # fine on the CPU
    with pytest.raises(tw.errors.InternalError,
                       match=r"(?s)is a numpy.ndarray, not an array of the MARKED backend.*"
                             r"node leak\S* \(op TestLeakHostResult\)"):
        _leak("TestLeakHostResult", MARKED_CONFIG)


def test_a_kernel_mixing_in_a_host_array_is_caught_on_the_marked_device():
    assert _leak("TestLeakHostOperand", None).tolist() == [2.0, 2.0]     # fine on the CPU
    with pytest.raises(tw.errors.InvalidArgumentError,
                       match=r"(?s)xp.add: got a host numpy.ndarray.*node leak"):
        _leak("TestLeakHostOperand", MARKED_CONFIG)


def test_a_backend_with_part_of_the_kernel_table_keeps_other_ops_off_its_device():
    # a device type whose table has Add but not Mul: a single-device session on it runs Add,
    # and a step needing Mul gets TF1's placement error naming the node (soft placement
    # cannot help: no device of the session has the kernel)
    from tensorweave import kernels
    from tensorweave.kernels import cpu
    marked_backend.install()
    marked = kernels.get_backend("MARKED")
    kernels.register_backend("HALF", {"Add": cpu.KERNELS["Add"]}, priority=-2,
                             array_module=marked.array_module, allocator=marked.allocator)
    try:
        x = tw.placeholder(tw.float32, [2], name="x")
        added = tw.add(x, x, name="added")
        doubled = tw.multiply(x, 2.0, name="doubled")
        cfg = tw.ConfigProto(device_count={"CPU": 0, "HALF": 1}, allow_soft_placement=True)
        with tw.Session(config=cfg) as s:
            assert s.run(added, {x: [1.0, 2.0]}).tolist() == [2.0, 4.0]
            with pytest.raises(tw.errors.InvalidArgumentError,
                               match=r"Cannot assign a device for operation doubled \(Mul.*"
                                     r"no available device has a kernel for Mul"):
                s.run(doubled, {x: [1.0, 2.0]})
    finally:
        kernels._BACKENDS.pop("HALF", None)
