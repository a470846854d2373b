"""Kernels: random ops (numpy `Generator`s on the Philox bit generator, on the host).

A stateful random kernel is created once per session (the executor keeps it in
`ctx.stateful_kernels`), and owns the generator it seeds from the node's (`seed`, `seed2`) attrs:
runs in one session continue the stream, a new session starts it again.  (0, 0) means "not
seeded": the generator then draws fresh OS entropy.  Stateless kernels build a new generator from
their seed input on every call, so equal seeds give equal values.

Values are produced directly in the graph dtype (float16 uniforms from 10 random mantissa bits so
they stay below 1); inputs are never written to.  The streams are generated on the host, so every
device type draws the same numbers for the same seeds: shapes and parameters are read with
`ctx.to_host`, samples moved to the device with `ctx.to_device` (`RandomShuffle` draws its
permutation on the host and gathers on the device).
"""
from __future__ import annotations

import numpy as np

__all__ = ["KERNELS", "make_generator"]

_U64 = (1 << 64) - 1


def make_generator(seed: int = 0, seed2: int = 0) -> np.random.Generator:
    """A Philox generator keyed by (seed, seed2); fresh entropy when both are 0."""
    if not seed and not seed2:
        return np.random.Generator(np.random.Philox())
    key = np.array([int(seed) & _U64, int(seed2) & _U64], dtype=np.uint64)
    return np.random.Generator(np.random.Philox(key=key))


def _stateful_generator(node) -> np.random.Generator:
    return make_generator(node.attr.get("seed", 0) or 0, node.attr.get("seed2", 0) or 0)


def _stateless_generator(seed) -> np.random.Generator:
    s = np.asarray(seed).reshape(-1)
    if s.size != 2:
        raise ValueError(f"seed must have shape [2], not {list(np.shape(seed))}")
    key = np.array([int(v) & _U64 for v in s], dtype=np.uint64)
    return np.random.Generator(np.random.Philox(key=key))


def _dims(shape) -> tuple:
    dims = tuple(int(d) for d in np.asarray(shape).reshape(-1))
    if any(d < 0 for d in dims):
        raise ValueError(f"Shape {list(dims)} has a negative dimension")
    return dims


# --- samplers: (generator, dims, numpy dtype) -> array ------------------------------------------
def _normal(rng, dims, dt):
    if dt == np.float16:
        return rng.standard_normal(dims, dtype=np.float32).astype(np.float16)
    return rng.standard_normal(dims, dtype=dt)


def _uniform(rng, dims, dt):
    if dt == np.float16:  # k / 2**10 is exact in float16 and below 1
        return (rng.integers(0, 1 << 10, dims, dtype=np.int32) * np.float32(2.0 ** -10)
                ).astype(np.float16)
    return rng.random(dims, dtype=dt)


def _truncated(rng, dims, dt):
    work = np.float32 if dt == np.float16 else dt
    out = rng.standard_normal(dims, dtype=work)
    bad = np.flatnonzero(np.abs(out) > 2.0)
    flat = out.reshape(-1)
    while bad.size:  # P(|x| > 2) ~ 4.6%: a few rounds at most
        flat[bad] = rng.standard_normal(bad.size, dtype=work)
        bad = bad[np.abs(flat[bad]) > 2.0]
    return out.astype(dt, copy=False)


def _sampler_kernel(sample):
    def factory(node, ctx):
        rng = _stateful_generator(node)
        dt = node.out_dtypes[0].np
        to_host, to_device = ctx.to_host, ctx.to_device
        return lambda shape: to_device(sample(rng, _dims(to_host(shape)), dt))
    return factory


def _stateless_kernel(sample):
    def factory(node, ctx):
        dt = node.out_dtypes[0].np
        to_host, to_device = ctx.to_host, ctx.to_device
        return lambda shape, seed: to_device(sample(_stateless_generator(to_host(seed)),
                                                    _dims(to_host(shape)), dt))
    return factory


def _int_range(lo, hi):
    lo, hi = int(lo), int(hi)
    if not lo < hi:
        raise ValueError(f"Need minval < maxval: {lo} >= {hi}")
    return lo, hi


def _uniform_int(node, ctx):
    rng = _stateful_generator(node)
    dt = node.out_dtypes[0].np
    to_host, to_device = ctx.to_host, ctx.to_device

    def uniform_int(shape, minval, maxval):
        lo, hi = _int_range(to_host(minval), to_host(maxval))
        return to_device(rng.integers(lo, hi, _dims(to_host(shape)), dtype=dt))
    return uniform_int


def _stateless_uniform_int(node, ctx):
    dt = node.out_dtypes[0].np
    to_host, to_device = ctx.to_host, ctx.to_device

    def uniform_int(shape, seed, minval, maxval):
        lo, hi = _int_range(to_host(minval), to_host(maxval))
        rng = _stateless_generator(to_host(seed))
        return to_device(rng.integers(lo, hi, _dims(to_host(shape)), dtype=dt))
    return uniform_int


def _shuffle(node, ctx):
    rng = _stateful_generator(node)
    xp = ctx.module_for(node.out_dtypes[0])
    # (the permutation is drawn on the host; device values are gathered with a device copy)
    to_device = ctx.to_device if xp is ctx.xp else (lambda perm: perm)

    def shuffle(value):
        value = xp.asarray(value)
        if value.ndim == 0 or value.shape[0] <= 1:
            return value.copy()
        return value[to_device(rng.permutation(value.shape[0]))]
    return shuffle


def _categorical(rng, logits, num_samples, dt):
    logits = np.asarray(logits, dtype=np.float64)
    n = int(num_samples)
    if logits.ndim != 2:
        raise ValueError(f"logits should be a matrix, got shape {list(logits.shape)}")
    batch, classes = logits.shape
    if n < 0:
        raise ValueError(f"num_samples should be nonnegative, got {n}")
    if classes == 0 and batch and n:
        raise ValueError("num_classes should be positive, got 0")
    out = np.empty((batch, n), dtype=dt)
    if not batch or not n:
        return out
    u = rng.random((batch, n))
    for b in range(batch):
        row = logits[b]
        finite = np.isfinite(row)
        if not finite.any():
            raise ValueError(f"logits row {b} has no finite entry")
        p = np.where(finite, np.exp(row - row[finite].max()), 0.0)
        cdf = np.cumsum(p)
        idx = np.searchsorted(cdf, u[b] * cdf[-1], side="right")
        np.minimum(idx, np.flatnonzero(p)[-1], out=idx)
        out[b] = idx
    return out


def _multinomial(node, ctx):
    rng = _stateful_generator(node)
    dt = node.out_dtypes[0].np
    to_host, to_device = ctx.to_host, ctx.to_device
    return lambda logits, num_samples: to_device(_categorical(rng, to_host(logits),
                                                              to_host(num_samples), dt))


def _stateless_multinomial(node, ctx):
    dt = node.out_dtypes[0].np
    to_host, to_device = ctx.to_host, ctx.to_device
    return lambda logits, num_samples, seed: to_device(_categorical(
        _stateless_generator(to_host(seed)), to_host(logits), to_host(num_samples), dt))


def _gamma(node, ctx):
    rng = _stateful_generator(node)
    dt = node.out_dtypes[0].np
    work = np.float32 if dt == np.float32 else np.float64
    to_host, to_device = ctx.to_host, ctx.to_device

    def gamma(shape, alpha):
        alpha = np.asarray(to_host(alpha))
        dims = _dims(to_host(shape)) + alpha.shape
        if np.any(alpha <= 0):
            raise ValueError("alpha must be positive")
        out = rng.standard_gamma(np.broadcast_to(alpha.astype(work), dims), dtype=work)
        # a tiny alpha can underflow to 0; keep samples positive (TF1 clamps to the tiniest
        # normal number of the dtype)
        return to_device(np.maximum(out, np.finfo(dt).tiny, out=out).astype(dt, copy=False))
    return gamma


def _poisson(node, ctx):
    rng = _stateful_generator(node)
    dt = node.out_dtypes[0].np
    to_host, to_device = ctx.to_host, ctx.to_device

    def poisson(shape, rate):
        rate = np.asarray(to_host(rate), dtype=np.float64)
        if np.any(rate < 0):
            raise ValueError("rate must be non-negative")
        return to_device(rng.poisson(rate, _dims(to_host(shape)) + rate.shape).astype(
            dt, copy=False))
    return poisson


def _orthogonal(node, ctx):
    rng = _stateful_generator(node)
    dt = node.out_dtypes[0].np
    work = np.float32 if dt == np.float16 else dt
    rows, cols = int(node.attr["num_rows"]), int(node.attr["num_cols"])
    tall = rows >= cols
    to_device = ctx.to_device

    def orthogonal():
        a = rng.standard_normal((rows, cols) if tall else (cols, rows), dtype=work)
        q, r = np.linalg.qr(a)
        q = q * np.sign(np.diagonal(r))  # makes the factorisation unique: Haar distributed
        return to_device((q if tall else q.T).astype(dt))
    return orthogonal


KERNELS = {
    "RandomOrthogonal": _orthogonal,
    "RandomStandardNormal": _sampler_kernel(_normal),
    "RandomUniform": _sampler_kernel(_uniform),
    "TruncatedNormal": _sampler_kernel(_truncated),
    "RandomUniformInt": _uniform_int,
    "RandomShuffle": _shuffle,
    "Multinomial": _multinomial,
    "RandomGamma": _gamma,
    "RandomPoissonV2": _poisson,
    "StatelessRandomNormal": _stateless_kernel(_normal),
    "StatelessRandomUniform": _stateless_kernel(_uniform),
    "StatelessTruncatedNormal": _stateless_kernel(_truncated),
    "StatelessRandomUniformInt": _stateless_uniform_int,
    "StatelessMultinomial": _stateless_multinomial,
}
