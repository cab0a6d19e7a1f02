"""Measurements of a network in training: the health monitors of Karpathy's BatchNorm lecture.

Teaches: look at every layer's activations (saturated? dead?), its weight gradients, and the
size of each update relative to the weights (about 1e-3 is healthy).
Leaves out: the page-specific probes, which live beside their experiments.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bnjax.nn import MLPSpec, mlp_apply
from bnjax.train import loss_fn


class Health(NamedTuple):
    a: tuple  # per hidden layer, (batch, width) activations
    grad_w: tuple  # per hidden layer, (fan_in, width) gradient of the loss with respect to w


def _health(params, state, x, y, spec: MLPSpec) -> Health:
    """Activations and weight gradients on the batch (x, y), BN in train mode."""
    _, _, trace = mlp_apply(params, state, x, spec=spec, train=True, with_trace=True)
    grads, _ = jax.grad(loss_fn, has_aux=True)(params, state, x, y, spec=spec)
    return Health(trace.a, tuple(h.dense.w for h in grads.hidden))


health = jax.jit(_health, static_argnames="spec")


def saturation(a: np.ndarray, activation: str) -> float:
    """Fraction of activations stuck where the gradient vanishes: |tanh| > 0.97, sigmoid < 0.03
    or > 0.97 (Karpathy's threshold), or exactly 0 for relu (a dead unit for that example)."""
    if activation == "tanh":
        return float(np.mean(np.abs(a) > 0.97))
    if activation == "sigmoid":
        return float(np.mean((a < 0.03) | (a > 0.97)))
    return float(np.mean(a <= 0.0))


def histogram(values: np.ndarray, bins: int = 40, lo=None, hi=None):
    """(centers, density) of finite values; empty arrays when nothing is finite."""
    v = np.asarray(values, np.float64).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        return np.zeros(0), np.zeros(0)
    lo = v.min() if lo is None else lo
    hi = v.max() if hi is None else hi
    if hi <= lo:
        hi = lo + 1e-12
    counts, edges = np.histogram(v, bins=bins, range=(lo, hi))
    return 0.5 * (edges[:-1] + edges[1:]), counts / max(v.size, 1)
