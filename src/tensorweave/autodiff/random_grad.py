"""Gradients of random ops: none of them is differentiable with respect to its inputs (shapes,
seeds, logits of a sampled index).  `RandomGamma` is left unregistered: TF1 differentiates it with
respect to `alpha` (implicit reparameterisation), which tensorweave does not implement yet, so
`gradients` through it raises `LookupError` naming the node instead of silently giving None."""
from __future__ import annotations

from .registry import NoGradient

for _op_type in ("RandomStandardNormal", "RandomUniform", "TruncatedNormal", "RandomUniformInt",
                 "RandomShuffle", "RandomOrthogonal",
                 "Multinomial", "RandomPoissonV2", "StatelessRandomNormal",
                 "StatelessRandomUniform", "StatelessTruncatedNormal",
                 "StatelessRandomUniformInt", "StatelessMultinomial"):
    NoGradient(_op_type)
