"""A multilayer perceptron with a choice of normalization, as pure init/apply functions.

Teaches: batch norm as Ioffe & Szegedy 2015 define it, placed before the nonlinearity as in the
lecture, and layer norm (Ba et al. 2016) in the same place: the same formula, with the mean and
variance taken over each example's own units instead of over the batch; parameters and running
statistics as NamedTuple pytrees that go in and come out.
Leaves out on purpose: classes, mutable state, convolutions, anything but an MLP.

A hidden layer computes

    z = x @ w (+ b)                  # the linear bias is dropped under a norm: beta replaces it
    h = gamma * (z - mu_B) / sqrt(var_B + eps) + beta     norm "batch": over the batch, per unit
    h = gamma * (z - mu_i) / sqrt(var_i + eps) + beta     norm "layer": over the units, per example
    h = z                                                 norm "none" (the plain net)
    h = h + noise                    # optional: mean and scale redrawn every step (Santurkar 2018)
    a = act(h) * mask                # optional unit ablation (Morcos 2018)
    a = dropout(a)                   # optional, train mode only

and the output layer is a plain dense layer to 10 logits.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

# ---------------------------------------------------------------------------- pytrees


class DenseParams(NamedTuple):
    w: jax.Array  # (fan_in, fan_out)
    b: jax.Array | None  # (fan_out,), or None when batch norm follows


class BatchNormParams(NamedTuple):
    gamma: jax.Array  # (features,) scale, 1 at init
    beta: jax.Array  # (features,) shift, 0 at init


class BatchNormState(NamedTuple):
    mean: jax.Array  # (features,) running (or population) mean of z
    var: jax.Array  # (features,) running (or population) biased variance of z


class LayerNormParams(NamedTuple):
    gamma: jax.Array  # (features,) scale, 1 at init
    beta: jax.Array  # (features,) shift, 0 at init


class SwitchParams(NamedTuple):
    """A hidden layer that is batch norm or plain by a traced switch (norm "switch"): BN and
    plain nets of one shape then share every compiled program."""
    gamma: jax.Array  # (features,) BN scale, 1 at init
    beta: jax.Array  # (features,) BN shift, 0 at init
    on: jax.Array  # () 1.0: batch norm (the linear bias unused); 0.0: plain (gamma, beta unused)


class _HiddenFields(NamedTuple):
    dense: DenseParams
    norm: BatchNormParams | LayerNormParams | None  # None for a plain layer


class HiddenParams(_HiddenFields):
    """One hidden layer: its dense weights and its normalization's gamma and beta.

    `bn` is the older name of `norm` (every page before LayerNorm existed reads `h.bn`), kept as
    an alias: `h.bn` and `h._replace(bn=...)` read and write the same slot as `norm`.
    """
    __slots__ = ()

    @property
    def bn(self):
        return self.norm

    def _replace(self, **changes):
        if "bn" in changes:
            changes["norm"] = changes.pop("bn")
        return super()._replace(**changes)


class MLPParams(NamedTuple):
    hidden: tuple[HiddenParams, ...]  # one per hidden layer
    out: DenseParams  # (width, 10)


MLPState = tuple  # tuple[BatchNormState | None, ...], one per hidden layer (None: no state)

# The normalizations a hidden layer can have. "batch" keeps running statistics (state);
# "layer" needs none: it is the same function in train and eval mode.
NORMS = ("batch", "layer", "none")
# Not a normalization of its own: "switch" is batch norm or none by a traced value per net
# (`SwitchParams.on`, set by `set_switch`), so that BN and plain nets share their programs.
SWITCH = "switch"


def _norm_name(norm) -> str:
    """"batch" | "layer" | "none" from a name, or from the older bool switch (True = batch)."""
    if not isinstance(norm, str):  # a truth value (bool, numpy bool, 0/1)
        return "batch" if norm else "none"
    if norm not in NORMS + (SWITCH,):
        raise ValueError(f"unknown normalization {norm!r}; one of {NORMS}")
    return norm


class _SpecFields(NamedTuple):
    depth: int = 4  # hidden layers
    width: int = 100  # units per hidden layer
    activation: str = "relu"  # relu | tanh | sigmoid
    norm: str = "batch"  # a name in NORMS
    n_in: int = 64
    n_out: int = 10
    ghost: int = 0  # BN statistics over groups of this many examples; 0 = the whole batch
    eps: float = 1e-5  # BN and LN epsilon, inside the square root


class MLPSpec(_SpecFields):
    """The static shape of a network: changing any field compiles a new program.

    `norm` is "batch", "layer" or "none". The older switch `bn` still works everywhere:
    `MLPSpec(bn=True)` is `norm="batch"`, `MLPSpec(bn=False)` is `norm="none"`,
    `spec._replace(bn=...)` likewise, and `spec.bn` is True exactly for batch norm.

    >>> MLPSpec(bn=False).norm, MLPSpec(norm="layer").bn, MLPSpec().bn
    ('none', False, True)
    """
    __slots__ = ()

    def __new__(cls, depth=4, width=100, activation="relu", norm="batch", n_in=64, n_out=10,
                ghost=0, eps=1e-5, *, bn=None):
        if bn is not None:
            norm = _norm_name(bool(bn))
        return super().__new__(cls, depth, width, activation, _norm_name(norm), n_in, n_out,
                               ghost, eps)

    @property
    def bn(self) -> bool:
        """Batch norm on (the switch every page before LayerNorm used)."""
        return self.norm == "batch"

    @property
    def has_stats(self) -> bool:
        """The net keeps batch-norm statistics: norm "batch", or "switch" (BN or not is data)."""
        return self.norm in ("batch", SWITCH)

    def _replace(self, **changes):
        if "bn" in changes:
            changes["norm"] = _norm_name(bool(changes.pop("bn")))
        if "norm" in changes:
            changes["norm"] = _norm_name(changes["norm"])
        return super()._replace(**changes)


class RowGroups(NamedTuple):
    """Which rows of a train-mode batch share batch-norm statistics, as traced data: ghost
    groups and an effective batch size that change no compiled program (see `row_groups`).

    The batch's B rows form G blocks of B / G consecutive rows; groups are sets of blocks
    (`share`), so a group of rows is contiguous and its size a multiple of the block. Row i is
    normalized with the mean and biased variance of the rows of its group that have weight 1;
    rows of weight 0 count in no statistic (and, in `train.loss_fn`, in no loss): they pad a
    static batch shape down to a traced effective batch size. The block (B / G, static, from
    the shape of `share`) trades generality for speed: sums over a block are a reshape, sums
    over a group a (G, G) matmul."""
    share: jax.Array  # (G, G) float32: 1 where blocks i and j are in one group
    weight: jax.Array  # (B,) float32: 1 = the row counts, 0 = ignored (padding)


def row_groups(batch: int, ghost=0, rows=0, *, unit: int | None = None) -> RowGroups:
    """Consecutive groups of `ghost` rows (0: one group of every row), among which only the
    first `rows` rows of the batch count (0: all of them); `ghost` and `rows` may be traced.
    `unit` (static, divides `batch`; default `batch`: no ghost groups, only an effective batch)
    is the block: ghost sizes are multiples of it (another size rounds to whole blocks).

    >>> g = row_groups(6, ghost=2, rows=4, unit=2)
    >>> g.share.tolist(), g.weight.tolist()
    ([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], [1.0, 1.0, 1.0, 1.0, 0.0, 0.0])
    """
    unit = batch if unit is None else int(unit)
    if unit < 1 or batch % unit:
        raise ValueError(f"the block of {unit} rows does not divide the batch of {batch}")
    ghost = jnp.asarray(ghost).astype(jnp.int32)
    rows = jnp.asarray(rows).astype(jnp.int32)
    size = jnp.where(ghost > 0, jnp.maximum(ghost, unit), batch)  # () rows per group
    start = jnp.arange(batch // unit, dtype=jnp.int32) * unit  # (G,) first row of each block
    group = start // size  # (G,) the group of each block
    n = jnp.where(rows > 0, jnp.minimum(rows, batch), batch)  # () rows that count
    return RowGroups((group[:, None] == group[None, :]).astype(jnp.float32),
                     (jnp.arange(batch) < n).astype(jnp.float32))


def _group_stats(x, groups: RowGroups):
    """For a (B, features) batch: x minus each row's group mean, each row's group variance
    (biased, rows of weight 1 only), and the running-statistics update: the mean over the
    non-empty groups of their mean and variance (as the static ghost groups do)."""
    n_blocks = groups.share.shape[0]
    unit = x.shape[0] // n_blocks

    def per_block(v):  # (B, ...) -> (G, ...): sum over each block's rows
        return v.reshape((n_blocks, unit) + v.shape[1:]).sum(1)

    def to_rows(v):  # (G, features) -> (B, features): each row gets its block's value
        return jnp.broadcast_to(v[:, None], (n_blocks, unit, v.shape[-1])).reshape(x.shape)

    w = groups.weight[:, None]  # (B, 1)
    count = groups.share @ per_block(groups.weight)  # (G,) rows of weight 1 in each block's group
    per = (1.0 / jnp.maximum(count, 1.0))[:, None]  # (G, 1)
    mean_b = (groups.share @ per_block(w * x)) * per  # (G, features): the block's group mean
    d = x - to_rows(mean_b)  # (B, features)
    var_b = (groups.share @ per_block(w * d * d)) * per  # (G, features)
    # Each block weighs (its rows / its group's rows): a group's blocks add up to one group.
    frac = (per_block(groups.weight) / jnp.maximum(count, 1.0))[:, None]  # (G, 1)
    k = jnp.maximum(frac.sum(), 1.0)  # non-empty groups
    return d, to_rows(var_b), (frac * mean_b).sum(0) / k, (frac * var_b).sum(0) / k


class Trace(NamedTuple):
    """Per hidden layer, what the probes look at (each a tuple over layers)."""
    z: tuple  # (batch, width) linear output, before the norm
    h: tuple  # (batch, width) input to the nonlinearity (gamma * x_hat + beta under a norm)
    a: tuple  # (batch, width) activation, after mask and dropout


ACTIVATIONS = {"relu": jax.nn.relu, "tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid}
_HE_C = {"relu": 2.0, "tanh": 1.0, "sigmoid": 1.0}  # std = gain * sqrt(c / fan_in)

# ---------------------------------------------------------------------------- layers


def dense_init(key, fan_in: int, fan_out: int, *, gain=1.0, c: float = 2.0, bias: bool = True):
    """He-normal weights times `gain`: w ~ N(0, gain^2 * c / fan_in); zero bias.

    >>> p = dense_init(jax.random.key(0), 64, 100)
    >>> p.w.shape, p.b.shape
    ((64, 100), (100,))
    """
    w = gain * jnp.sqrt(c / fan_in) * jax.random.normal(key, (fan_in, fan_out), jnp.float32)
    return DenseParams(w, jnp.zeros((fan_out,), jnp.float32) if bias else None)


def init_std(spec: "MLPSpec", layer: int, gain=1.0):
    """The scale of layer `layer`'s initial weights in `mlp_init` (0-based; `spec.depth` is the
    output layer): gain * sqrt(c / fan_in) with c from the activation, the output layer without
    the gain and c = 1, computed as `dense_init` does, so that `init_std(spec, l, gain) *
    jax.random.normal(key_l, shape_l)` is mlp_init's layer l bit for bit (`runs.init_one`)."""
    if layer == spec.depth:
        return 1.0 * jnp.sqrt(1.0 / spec.width)
    fan_in = spec.n_in if layer == 0 else spec.width
    return gain * jnp.sqrt(_HE_C[spec.activation] / fan_in)


def dense_apply(params: DenseParams, x):
    y = x @ params.w  # (batch, fan_out)
    return y if params.b is None else y + params.b[None, :]


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4))
def normalize(x, gamma, beta, axis: int, eps: float):
    """gamma * x_hat + beta, x_hat = (x - mean) / sqrt(var + eps), the mean and the biased
    variance taken along `axis`: the batch (axis 0) for batch norm, each example's units (-1)
    for layer norm. gamma and beta (one shape, x's number of dimensions) broadcast against x,
    size 1 where they are shared. Returns (y, mean, var), mean and var keeping `axis` as size
    1. `jax.custom_vjp`: for the gradient JAX calls `normalize_backward`, the backward pass
    written out, instead of differentiating this."""
    mean = x.mean(axis, keepdims=True)
    var = ((x - mean) ** 2).mean(axis, keepdims=True)
    x_hat = (x - mean) * jax.lax.rsqrt(var + eps)
    return gamma * x_hat + beta, mean, var


def _normalize_forward(x, gamma, beta, axis: int, eps: float):
    x, gamma, beta = x.value, gamma.value, beta.value  # (symbolic_zeros: wrapped primals)
    y, mean, var = normalize.fun(x, gamma, beta, axis, eps)
    return (y, mean, var), (x, gamma, mean, var)


def normalize_backward(axis: int, eps: float, saved, grads):
    """The backward pass of `normalize` (Ioffe & Szegedy 2015, Sec. 3, give its terms one by
    one; here they are combined): for the gradient g of the loss with respect to y, means
    taken along `axis`, h = gamma * g,

        dL/dbeta = sum(g)     dL/dgamma = sum(g * x_hat)     (over what gamma broadcasts on)
        dL/dx    = (h - mean(h) - x_hat * mean(h * x_hat)) / sqrt(var + eps)

    The same numbers as letting JAX differentiate `normalize`'s formula (to float rounding;
    tests/test_nn.py against Flax's BatchNorm and LayerNorm) in fewer passes over the batch: a
    BN training step is about an eighth faster (bench/README.md). The mean and variance, which
    only the running statistics use, get their own terms when a caller differentiates them:
    d mean / dx = 1 / n, d var / dx = 2 (x - mean) / n."""
    x, gamma, mean, var = saved
    g, g_mean, g_var = grads
    zero = jax.custom_derivatives.SymbolicZero  # a gradient nobody asked for: no work
    inv = jax.lax.rsqrt(var + eps)
    x_hat = (x - mean) * inv
    n = x.shape[axis]
    if isinstance(g, zero):  # only the statistics were differentiated: y gets no gradient
        g = jnp.zeros_like(x)
    g_x_hat = g * x_hat
    d_beta, d_gamma = _sum_to(g, gamma.shape), _sum_to(g_x_hat, gamma.shape)
    if gamma.shape[axis] == 1:  # batch norm: one gamma along the batch, h's means factor
        dx = gamma * inv * (g - g.mean(axis, keepdims=True)
                            - x_hat * g_x_hat.mean(axis, keepdims=True))
    else:  # layer norm: gamma differs along the units it normalizes over
        h = gamma * g
        dx = inv * (h - h.mean(axis, keepdims=True)
                    - x_hat * (h * x_hat).mean(axis, keepdims=True))
    if not isinstance(g_mean, zero):
        dx = dx + g_mean / n
    if not isinstance(g_var, zero):
        dx = dx + g_var * (2.0 / n) * (x - mean)
    return dx, d_gamma, d_beta


def _sum_to(v, shape):
    """v summed over the axes that broadcasting added to an array of `shape`."""
    axes = tuple(i for i, (a, b) in enumerate(zip(v.shape, shape)) if a != b)
    return v.sum(axes, keepdims=True) if axes else v


normalize.defvjp(_normalize_forward, normalize_backward, symbolic_zeros=True)


def batchnorm_init(features: int):
    """gamma = 1, beta = 0; running mean 0 and variance 1. Returns (params, state)."""
    ones, zeros = jnp.ones((features,), jnp.float32), jnp.zeros((features,), jnp.float32)
    return BatchNormParams(ones, zeros), BatchNormState(zeros, ones)


def batchnorm_apply(params: BatchNormParams, state: BatchNormState, x, *, train: bool,
                    decay: float = 0.9, eps: float = 1e-5, ghost: int = 0,
                    groups: RowGroups | None = None):
    """Batch normalization (Ioffe & Szegedy 2015, Alg. 1).

        x_hat = (x - mean) / sqrt(var + eps);   y = gamma * x_hat + beta

    Train mode: mean and biased variance over the batch axis 0, and
    `running = decay * running + (1 - decay) * batch` for both. Eval mode: the mean and
    variance in `state` (running EMA or population statistics); `state` comes back unchanged.
    `ghost > 0` computes train-mode statistics over groups of `ghost` examples (Hoffer et al.
    2017); the running statistics then average the groups' statistics. `groups` does the
    same with the groups as traced data (`RowGroups`: any ghost size, and rows of weight 0
    left out of every statistic, in one compiled program); one group of every row is
    ordinary BN (to float rounding: the sums run in another order).

    Args:
      params: BatchNormParams(gamma, beta), each (features,).
      state: BatchNormState(mean, var), each (features,).
      x: (batch, features).
      train: batch statistics (True) or the statistics in `state` (False).
      decay: weight of the old running value. Flax calls this `momentum`; we do not.
      eps: added to the variance inside the square root.
    Returns:
      (y, new_state), y of the shape of x.

    >>> p, s = batchnorm_init(3)
    >>> y, s2 = batchnorm_apply(p, s, jnp.arange(12.0).reshape(4, 3), train=True)
    >>> [round(float(v), 3) for v in y.mean(0)], [round(float(v), 3) for v in s2.mean]
    ([0.0, 0.0, 0.0], [0.45, 0.55, 0.65])
    """
    gamma, beta = params.gamma[None, :], params.beta[None, :]  # (1, features)
    if not train:
        x_hat = (x - state.mean[None, :]) / jnp.sqrt(state.var[None, :] + eps)
        return gamma * x_hat + beta, state
    if groups is not None:  # traced groups (`RowGroups`)
        d, var_r, mean, var = _group_stats(x, groups)
        y = gamma * (d / jnp.sqrt(var_r + eps)) + beta
    elif ghost and ghost < x.shape[0]:  # ghost batches: each group of `ghost` rows on its own
        g = x.reshape(-1, ghost, x.shape[-1])  # (groups, ghost, features)
        y, mean, var = normalize(g, gamma[None], beta[None], 1, eps)
        y, mean, var = y.reshape(x.shape), mean.mean((0, 1)), var.mean((0, 1))
    else:  # the batch's mean and biased variance per unit, each (1, features)
        y, mean, var = normalize(x, gamma, beta, 0, eps)
        mean, var = mean[0], var[0]
    new_state = BatchNormState(decay * state.mean + (1 - decay) * mean,
                               decay * state.var + (1 - decay) * var)
    return y, new_state


def layernorm_init(features: int):
    """gamma = 1, beta = 0. Returns (params, state); layer norm keeps no state, so state is None.

    >>> p, s = layernorm_init(3)
    >>> p.gamma.tolist(), p.beta.tolist(), s
    ([1.0, 1.0, 1.0], [0.0, 0.0, 0.0], None)
    """
    ones, zeros = jnp.ones((features,), jnp.float32), jnp.zeros((features,), jnp.float32)
    return LayerNormParams(ones, zeros), None


def layernorm_apply(params: LayerNormParams, state, x, *, train: bool = True, eps: float = 1e-5,
                    **_ignored):
    """Layer normalization (Ba, Kiros & Hinton 2016), over the feature axis of each example.

        x_hat = (x - mean_i) / sqrt(var_i + eps);   y = gamma * x_hat + beta

    mean_i and the biased variance var_i are taken over the last axis (the units) of each
    example i on its own, so an example's output never depends on the rest of the batch, and
    train and eval mode compute the same function: no running statistics. gamma and beta are
    per feature, as in batch norm. The signature mirrors `batchnorm_apply` so that the MLP can
    call either (`train`, `decay`, `ghost` change nothing here).

    Args:
      params: LayerNormParams(gamma, beta), each (features,).
      state: ignored (None): layer norm has no state.
      x: (batch, features).
      eps: added to the variance inside the square root.
    Returns:
      (y, state), y of the shape of x; `state` comes back as it came (None).

    >>> p, s = layernorm_init(3)
    >>> y, _ = layernorm_apply(p, s, jnp.array([[1.0, 2.0, 3.0], [10.0, 10.0, 40.0]]))
    >>> [round(float(v), 3) for v in y.mean(1)], [round(float(v), 3) for v in y.std(1)]
    ([0.0, 0.0], [1.0, 1.0])
    """
    # mean and variance (batch, 1): one per example
    y, _, _ = normalize(x, params.gamma[None, :], params.beta[None, :], -1, eps)
    return y, state


def _switch_init(features: int):
    """A switch layer: batch norm's gamma, beta and statistics, switched on (see `set_switch`)."""
    p, state = batchnorm_init(features)
    return SwitchParams(p.gamma, p.beta, jnp.ones((), jnp.float32)), state


def set_switch(params: "MLPParams", on) -> "MLPParams":
    """The same net with every switch layer set to batch norm (`on` 1.0) or plain (0.0); `on`
    may be traced. Layers of another kind are left as they are."""
    on = jnp.asarray(on, jnp.float32)
    hidden = tuple(h._replace(norm=h.norm._replace(on=on)) if isinstance(h.norm, SwitchParams)
                   else h for h in params.hidden)
    return params._replace(hidden=hidden)


def _switch_apply(layer: "HiddenParams", state, x, *, train: bool, decay, eps: float,
                  groups: RowGroups | None = None):
    """One switch layer: (z, h, new_state). BN on: z = x W (the bias left out, as a BN layer has
    none), h = BN(z). Off: z = x W + b, h = z, the statistics kept. The unused branch gets
    zeros as input (so a plain net's huge values cannot overflow inside it and reach the
    gradient as NaN), and `where` passes it no gradient: a BN net trains bit for bit as with
    norm "batch", a plain one as "none" (tests/test_nn.py)."""
    p = layer.norm
    on = p.on > 0.5
    xw = x @ layer.dense.w  # (batch, width)
    z = xw + jnp.where(on, 0.0, layer.dense.b)[None, :]
    h_bn, bn_state = batchnorm_apply(BatchNormParams(p.gamma, p.beta), state,
                                     jnp.where(on, xw, 0.0), train=train, decay=decay, eps=eps,
                                     groups=groups)
    new_state = jax.tree.map(lambda a, b: jnp.where(on, a, b), bn_state, state)
    return z, jnp.where(on, h_bn, z), new_state


# What each normalization's init and apply are; "none" has neither.
_NORM_INIT = {"batch": batchnorm_init, "layer": layernorm_init, SWITCH: _switch_init}


def _norm_apply(spec: "MLPSpec", params, state, z, *, train: bool, decay: float,
                groups: RowGroups | None = None):
    if spec.norm == "batch":
        return batchnorm_apply(params, state, z, train=train, decay=decay, eps=spec.eps,
                               ghost=spec.ghost, groups=groups)
    return layernorm_apply(params, state, z, train=train, eps=spec.eps)


# ---------------------------------------------------------------------------- the MLP


def mlp_init(key, spec: MLPSpec, gain=1.0):
    """Parameters and BN state of an MLP (state None for a layer without batch norm). `gain` may
    be a traced scalar. Returns (params, state).

    >>> params, state = mlp_init(jax.random.key(0), MLPSpec(depth=2, width=8))
    >>> [h.dense.w.shape for h in params.hidden], params.out.w.shape
    ([(64, 8), (8, 8)], (8, 10))
    """
    keys = jax.random.split(key, spec.depth + 1)
    c = _HE_C[spec.activation]
    hidden, state, fan_in = [], [], spec.n_in
    for k in keys[:-1]:
        norm = spec.norm != "none"  # every norm here has a beta, which replaces the bias
        # (a switch layer keeps both: which one acts is data)
        dense = dense_init(k, fan_in, spec.width, gain=gain, c=c,
                           bias=not norm or spec.norm == SWITCH)
        norm_params, norm_state = _NORM_INIT[spec.norm](spec.width) if norm else (None, None)
        hidden.append(HiddenParams(dense, norm_params))
        state.append(norm_state)
        fan_in = spec.width
    # The output layer gets the plain He/Glorot scale without the gain: the gain studies hidden layers.
    out = dense_init(keys[-1], fan_in, spec.n_out, c=1.0)
    return MLPParams(tuple(hidden), out), tuple(state)


def _layer_noise(key, shape, scale):
    """Noise whose mean and scale are redrawn every call: mean ~ U(-s, s), std ~ U(0, s) per unit,
    then mean + std * N(0, 1) per example (Santurkar et al. 2018, Sec. 2.1). `shape` is
    (depth, batch, width): every layer's noise from ONE draw of normals (threefry is a lot of
    code to compile), the uniforms from two rows of them through the normal CDF
    (Phi(n) ~ U(0, 1)). A scale of 0 draws nothing (a traced branch) and adds exactly 0."""
    depth, batch, width = shape

    def draw():
        n = jax.random.normal(key, (depth, batch + 2, width))
        mu = jax.scipy.special.erf(n[:, :1] / jnp.sqrt(2.0)) * scale  # U(-s, s) per unit
        sd = 0.5 * (1.0 + jax.scipy.special.erf(n[:, 1:2] / jnp.sqrt(2.0))) * scale  # U(0, s)
        return mu + sd * n[:, 2:]  # (depth, batch, width)
    return jax.lax.cond(scale > 0, draw, lambda: jnp.zeros(shape, jnp.float32))


def mlp_apply(params: MLPParams, state: MLPState, x, *, spec: MLPSpec, train: bool,
              key=None, dropout=None, noise=None, masks=None, decay: float = 0.9,
              with_trace: bool = False, groups: RowGroups | None = None):
    """Forward pass. Returns (logits, new_state), or (logits, new_state, Trace) with `with_trace`.

    Args:
      params, state: from `mlp_init`.
      x: (batch, 64) inputs.
      spec: the static shape (`MLPSpec`).
      train: BN on batch statistics (and updates the running ones), dropout and noise active.
        Layer norm is the same in both modes.
      key: randomness for dropout and noise; needed when either is non-zero in train mode.
      dropout: rate in [0, 1), a traced scalar (inverted dropout after the activation); None
        (the default) builds no dropout at all; a rate of 0 draws no mask and changes nothing.
      noise: scale s of the per-step noise added after the norm (after the linear layer when
        plain); a traced scalar; active in train mode; None builds none; 0 draws none.
      masks: optional tuple of (width,) 0/1 arrays, one per hidden layer: unit ablation,
        applied after the activation.
      decay: running-statistics decay.
      groups: train-mode BN statistics over traced row groups (`RowGroups`, see
        `batchnorm_apply`); None: over the whole batch (or `spec.ghost` groups).
    """
    act = ACTIVATIONS[spec.activation]
    use_noise = train and key is not None and noise is not None
    use_dropout = train and key is not None and dropout is not None
    k_noise, k_drop = (jax.random.split(key) if use_noise and use_dropout else (key, key))
    if use_noise:  # every layer's noise in one draw
        layer_noise = _layer_noise(k_noise, (spec.depth, x.shape[0], spec.width), noise)
    if use_dropout:  # every layer's dropout mask in one draw: keep with probability 1 - rate
        shape = (spec.depth, x.shape[0], spec.width)
        keep_all = jax.lax.cond(  # a rate of 0 draws nothing (a traced branch), keeps all
            dropout > 0, lambda: jax.random.uniform(k_drop, shape) < 1.0 - dropout,
            lambda: jnp.ones(shape, bool))
    new_state, zs, hs, as_ = [], [], [], []
    for i, (layer, bn_state) in enumerate(zip(params.hidden, state)):
        if isinstance(layer.norm, SwitchParams):
            z, h, bn_state = _switch_apply(layer, bn_state, x, train=train, decay=decay,
                                           eps=spec.eps, groups=groups)
        elif layer.norm is not None:
            z = dense_apply(layer.dense, x)  # (batch, width)
            h, bn_state = _norm_apply(spec, layer.norm, bn_state, z, train=train, decay=decay,
                                      groups=groups)
        else:
            z = dense_apply(layer.dense, x)  # (batch, width)
            h = z
        if use_noise:
            h = h + layer_noise[i]  # noise = 0 adds exactly 0
        a = act(h)
        if masks is not None:
            a = a * jnp.reshape(masks[i], (1, -1))
        if use_dropout:
            a = jnp.where(keep_all[i], a / (1.0 - dropout), 0.0)
        new_state.append(bn_state)
        zs.append(z), hs.append(h), as_.append(a)
        x = a
    logits = dense_apply(params.out, x)  # (batch, 10)
    if with_trace:
        return logits, tuple(new_state), Trace(tuple(zs), tuple(hs), tuple(as_))
    return logits, tuple(new_state)


def population_state(params: MLPParams, x, *, spec: MLPSpec, masks=None):
    """BN statistics of the whole set `x`, layer by layer (Ioffe Alg. 2, step 10, with biased
    variance): the eval-mode statistics the experiments use unless they study the EMA.
    A train-mode pass on the full set computes exactly these; ghost groups are turned off.
    Layers without batch norm (plain, layer norm) have no statistics: None."""
    full = spec._replace(ghost=0)
    state = tuple(batchnorm_init(spec.width)[1] if spec.has_stats else None
                  for _ in params.hidden)
    _, new = mlp_apply(params, state, x, spec=full, train=True, masks=masks, decay=0.0)
    return new  # decay 0: the "running" statistics are exactly this pass's statistics
