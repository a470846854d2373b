"""A second device type for tests: "MARKED", whose arrays refuse to mix with host arrays.

Its tensors are `MarkedArray`s: a wrapper around a numpy array that behaves the way CuPy's
arrays do towards numpy, so a kernel that would break on a GPU breaks here first:

* mixing a `MarkedArray` with a plain `numpy.ndarray` (of any rank) in an operator, a numpy
  function, a ufunc, an index or an item assignment raises `TypeError` naming the operation;
  numpy scalars and Python scalars mix freely;
* `numpy.asarray(marked)` raises (CuPy's "implicit conversion to a NumPy array is not allowed"):
  host values come from the allocator's `to_host`;
* numpy functions and ufuncs called on `MarkedArray`s dispatch (`__array_function__`,
  `__array_ufunc__`) and return `MarkedArray`s, as CuPy's do; a scalar result is a 0-d array;
* views (indexing, reshape, transpose, ...) keep their base array referenced (`base`), so a
  kernel's buffer pool sees them in reference counts.

`XP` is the device's array module: numpy's namespace (submodules included) whose functions
refuse plain `numpy.ndarray` inputs and return `MarkedArray`s; dtype objects, classes and
constants pass through.  `ALLOCATOR.to_device` wraps a copy of a host array (string arrays and
Python lists, which live on the host on every device type, are left as they are) and
`to_host` returns a fresh numpy array.

`install()` registers the device type with the CPU's kernel table (idempotent).  The test suite
runs the op tests on it (`tests/conftest.py`).
"""
from __future__ import annotations

import types

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin

from ..kernels import Allocator, backends, get_backend, register_backend

__all__ = ["MarkedArray", "XP", "ALLOCATOR", "DEVICE_TYPE", "install"]

DEVICE_TYPE = "MARKED"


def _refuse(what: str, host) -> TypeError:
    return TypeError(f"{what}: got a host numpy.ndarray (shape {list(host.shape)}, dtype "
                     f"{host.dtype}) where {DEVICE_TYPE} device arrays are expected: "
                     "move host values with ctx.to_device, read device values with the "
                     "allocator's to_host")


class _Call:
    """The unwrapping of one call's arguments: device arrays become their numpy arrays, host
    arrays are refused, and the device arrays met are remembered (to find a view's base)."""

    __slots__ = ("what", "seen")

    def __init__(self, what: str):
        self.what = what
        self.seen: list = []

    def unwrap(self, x):
        t = type(x)
        if t is MarkedArray:
            self.seen.append(x)
            return x._a
        if t is list or t is tuple:
            return t(self.unwrap(v) for v in x)
        if isinstance(x, np.ndarray):
            raise _refuse(self.what, x)
        return x

    def unwrap_kwargs(self, kwargs: dict) -> dict:
        return {k: self.unwrap(v) for k, v in kwargs.items()}

    def wrap(self, r):
        if isinstance(r, np.ndarray):
            for m in self.seen:
                if r is m._a:
                    return m          # the same array (asarray of a device array, out=)
            if r.dtype == object:
                raise TypeError(f"{self.what}: {DEVICE_TYPE} arrays cannot hold dtype object "
                                "(strings live on the host)")
            base = None
            if r.base is not None:
                for m in self.seen:
                    if np.may_share_memory(r, m._a):
                        base = m._base if m._base is not None else m
                        break
            return MarkedArray(r, base)
        if isinstance(r, np.generic) and not isinstance(r, (np.str_, np.bytes_, np.void)):
            return MarkedArray(np.asarray(r))
        if type(r) is tuple or type(r) is list:
            return type(r)(self.wrap(v) for v in r)
        if isinstance(r, tuple) and hasattr(r, "_fields"):   # a namedtuple (linalg results)
            return type(r)(*(self.wrap(v) for v in r))
        return r


def _apply(what: str, fn, args, kwargs):
    call = _Call(what)
    out = kwargs.get("out")
    args = call.unwrap(args)
    kwargs = call.unwrap_kwargs(kwargs)
    r = fn(*args, **kwargs)
    if out is not None:   # return the caller's device arrays, not new wrappers
        if type(out) is tuple:
            return out[0] if len(out) == 1 else out
        return out
    return call.wrap(r)


def _wrap_view(owner, r):
    """`r` (computed from `owner`'s array) as a device array, a view of `owner` if it is one."""
    call = _Call("view")
    call.seen.append(owner)
    return call.wrap(r)


class _Flags:
    """CuPy's `ndarray.flags`: contiguity and ownership only (no `writeable`)."""

    __slots__ = ("c_contiguous", "f_contiguous", "owndata")

    def __init__(self, a: np.ndarray, owndata: bool):
        self.c_contiguous = a.flags.c_contiguous
        self.f_contiguous = a.flags.f_contiguous
        self.owndata = owndata


class MarkedArray(NDArrayOperatorsMixin):
    """A device array of the MARKED test device (see the module docstring)."""

    __slots__ = ("_a", "_base", "__weakref__")
    __hash__ = None

    def __init__(self, a: np.ndarray, base: MarkedArray | None = None):
        if type(a) is not np.ndarray:
            raise TypeError(f"MarkedArray wraps a numpy.ndarray, not {type(a).__name__}")
        self._a = a
        self._base = base

    # --- numpy protocols ------------------------------------------------------------------
    def __array__(self, dtype=None, copy=None):
        raise TypeError(f"Implicit conversion of a {DEVICE_TYPE} device array to a numpy "
                        "array is not allowed (as with CuPy); read it with the allocator's "
                        "to_host")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if getattr(np, ufunc.__name__, None) is not ufunc:
            return NotImplemented   # not a numpy ufunc (frompyfunc, ...): CuPy has no such one
        name = f"numpy.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
        return _apply(name, getattr(ufunc, method), inputs, kwargs)

    def __array_function__(self, func, types_, args, kwargs):
        return _apply(f"numpy.{func.__name__}", func, args, kwargs)

    # --- attributes -----------------------------------------------------------------------
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    base = property(lambda self: self._base)
    flags = property(lambda self: _Flags(self._a, self._base is None))
    T = property(lambda self: _wrap_view(self, self._a.T))

    @property
    def real(self):
        return _wrap_view(self, self._a.real)

    @real.setter
    def real(self, value):
        self._a.real = _Call(".real =").unwrap(value)

    @property
    def imag(self):
        return _wrap_view(self, self._a.imag)

    @imag.setter
    def imag(self, value):
        self._a.imag = _Call(".imag =").unwrap(value)

    # --- indexing -------------------------------------------------------------------------
    def __getitem__(self, index):
        call = _Call("indexing")
        call.seen.append(self)
        return call.wrap(self._a[call.unwrap(index)])

    def __setitem__(self, index, value):
        call = _Call("item assignment")
        self._a[call.unwrap(index)] = call.unwrap(value)

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        for i in range(len(self._a)):
            yield self[i]

    # --- conversions of 0-d / size-1 arrays (a device-to-host read, as CuPy allows) --------
    def __bool__(self):
        return bool(self._a)

    def __int__(self):
        return int(self._a)

    def __float__(self):
        return float(self._a)

    def __complex__(self):
        return complex(self._a)

    def __index__(self):
        return self._a.__index__()

    def item(self, *args):
        return self._a.item(*args)

    def tolist(self):
        return self._a.tolist()

    def __repr__(self):
        return f"marked({self._a!r})"

    def __str__(self):
        return str(self._a)

    def __format__(self, spec):
        return format(self._a, spec)

    def __copy__(self):
        return MarkedArray(self._a.copy())

    def __deepcopy__(self, memo):
        return MarkedArray(self._a.copy())

    def __reduce__(self):
        raise TypeError(f"{DEVICE_TYPE} device arrays are not picklable; move them with "
                        "to_host")


#: ndarray methods a device array offers (each unwraps its arguments and wraps its result)
_METHODS = ("all", "any", "argmax", "argmin", "argsort", "astype", "clip", "conj", "conjugate",
            "copy", "cumprod", "cumsum", "diagonal", "dot", "fill", "flatten", "max", "mean",
            "min", "nonzero", "prod", "ravel", "repeat", "reshape", "round", "sort", "squeeze",
            "std", "sum", "swapaxes", "take", "trace", "transpose", "var", "view")


def _method(name: str):
    what = f"ndarray.{name}"

    def method(self, *args, **kwargs):
        call = _Call(what)
        call.seen.append(self)
        out = kwargs.get("out")
        r = getattr(self._a, name)(*call.unwrap(args), **call.unwrap_kwargs(kwargs))
        return out if out is not None else call.wrap(r)
    method.__name__ = name
    return method


for _name in _METHODS:
    setattr(MarkedArray, _name, _method(_name))


# ----------------------------------------------------------------------------------------------
# the array module
# ----------------------------------------------------------------------------------------------
class _Ufunc:
    """A numpy ufunc as the device offers it: refuses host arrays, returns device arrays."""

    def __init__(self, ufunc: np.ufunc):
        self._u = ufunc
        self.__name__ = ufunc.__name__
        self.nin, self.nout, self.nargs = ufunc.nin, ufunc.nout, ufunc.nargs
        self.identity = ufunc.identity

    def __call__(self, *args, **kwargs):
        return _apply(f"xp.{self.__name__}", self._u, args, kwargs)

    def _method(self, method, args, kwargs):
        return _apply(f"xp.{self.__name__}.{method}", getattr(self._u, method), args, kwargs)

    def reduce(self, *args, **kwargs):
        return self._method("reduce", args, kwargs)

    def accumulate(self, *args, **kwargs):
        return self._method("accumulate", args, kwargs)

    def reduceat(self, *args, **kwargs):
        return self._method("reduceat", args, kwargs)

    def outer(self, *args, **kwargs):
        return self._method("outer", args, kwargs)

    def at(self, *args, **kwargs):
        return self._method("at", args, kwargs)

    def __repr__(self):
        return f"<{DEVICE_TYPE} ufunc {self.__name__!r}>"


def _function(fn, qualname: str):
    def device_function(*args, **kwargs):
        return _apply(qualname, fn, args, kwargs)
    device_function.__name__ = getattr(fn, "__name__", qualname)
    device_function.__qualname__ = qualname
    device_function.__doc__ = getattr(fn, "__doc__", None)
    return device_function


#: numpy names that CuPy lacks and that are host-side state anyway: kernels use numpy's
_HOST_ONLY = {"errstate", "seterr", "geterr", "frompyfunc", "vectorize"}


class _Namespace:
    """numpy's namespace (or one of its submodules) for device arrays (see the docstring)."""

    def __init__(self, module: types.ModuleType, name: str):
        self._module = module
        self.__name__ = name

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        if name in _HOST_ONLY:
            raise AttributeError(f"the {DEVICE_TYPE} array module has no {name!r} (CuPy has "
                                 "none): it is host-side numpy state; use numpy's")
        v = getattr(self._module, name)
        qual = f"{self.__name__}.{name}"
        if v is np.ndarray:
            out = MarkedArray
        elif isinstance(v, types.ModuleType):
            out = _Namespace(v, qual)
        elif isinstance(v, np.ufunc):
            out = _Ufunc(v)
        elif isinstance(v, type) or not callable(v):
            out = v                # dtypes, classes (finfo, iinfo), constants
        else:
            out = _function(v, qual)
        setattr(self, name, out)   # looked up once
        return out

    def __repr__(self):
        return f"<{DEVICE_TYPE} array module over {self._module.__name__}>"


XP = _Namespace(np, "xp")


# ----------------------------------------------------------------------------------------------
# the allocator
# ----------------------------------------------------------------------------------------------
def _is_host_only(v) -> bool:
    """Strings and lists (TensorArray values) stay host values on every device type."""
    if isinstance(v, (list, str, bytes, np.str_, np.bytes_)):
        return True
    return isinstance(v, np.ndarray) and v.dtype.kind in "OSU"


def to_device(value):
    """A copy of a host value in device memory (a device array or a host-only value as is)."""
    if type(value) is MarkedArray or value is None or _is_host_only(value):
        return value
    if isinstance(value, (np.ndarray, np.generic, bool, int, float, complex)):
        return MarkedArray(np.array(value))
    raise TypeError(f"{DEVICE_TYPE} to_device: cannot move a {type(value).__name__}")


def to_host(value):
    """A fresh numpy array holding a device array's values (host values come back as is)."""
    if type(value) is MarkedArray:
        return value._a.copy()
    if isinstance(value, (np.generic, bool, int, float, complex)):
        return np.asarray(value)
    return value


def _empty(shape, dtype=float):
    return MarkedArray(np.empty(shape, dtype))


ALLOCATOR = Allocator("marked", empty=_empty, to_device=to_device, to_host=to_host,
                      array_type=MarkedArray, on_host=False)


def install():
    """Register the MARKED device type (the CPU's kernels on `XP`), once; return its Backend."""
    known = backends().get(DEVICE_TYPE)
    if known is not None and known.allocator is ALLOCATOR:
        return known
    return register_backend(DEVICE_TYPE, get_backend("CPU").kernels, priority=-1, array_module=XP,
                            allocator=ALLOCATOR)
