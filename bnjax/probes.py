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


def _health_runs(params, state, x, y, spec: MLPSpec) -> Health:
    return jax.vmap(lambda p, s: _health(p, s, x, y, spec))(params, state)


# `health` for R runs at once (leaves with a leading (R,) axis): one program per network shape.
health_runs = jax.jit(_health_runs, static_argnames="spec")


# Where each activation is flat (its derivative about 0): Karpathy's thresholds for tanh and
# sigmoid; ReLU is flat at and below 0.
SATURATED = {"tanh": "|output| > 0.97", "sigmoid": "output < 0.03 or > 0.97", "relu": "output 0"}


def flat(a: np.ndarray, activation: str) -> np.ndarray:
    """Boolean mask of the outputs `a` in the flat part of `activation`, where almost no gradient
    passes back: |tanh| > 0.97, sigmoid < 0.03 or > 0.97, relu exactly 0."""
    a = np.asarray(a)
    if activation == "tanh":
        return np.abs(a) > 0.97
    if activation == "sigmoid":
        return (a < 0.03) | (a > 0.97)
    if activation == "relu":
        return a <= 0.0
    raise ValueError(f"unknown activation {activation!r}")


def saturation(a: np.ndarray, activation: str) -> float:
    """Fraction of the outputs in the flat part of the activation (Karpathy's saturation).

    For tanh and sigmoid this is the health monitor: outputs there pass almost no gradient. For
    relu it is the share of zero outputs, about half by design (each unit is off for the examples
    on one side of its hyperplane): not a sign of trouble; `dead_units` is the relu monitor."""
    return float(np.mean(flat(a, activation)))


def dead_units(a: np.ndarray, activation: str) -> float:
    """Fraction of units (columns of `a`, a (examples, units) batch) that are in the flat part of
    the activation on EVERY example: a dead relu (0 for every input), or a tanh/sigmoid unit
    saturated for every input. Such a unit passes no signal forward and no gradient back to its
    weights, so it cannot recover. Measure it on a large batch (here the whole training set): on
    a small one a unit can miss its few active examples by chance."""
    a = np.asarray(a)
    if a.ndim != 2 or a.shape[0] == 0:
        raise ValueError(f"dead_units wants (examples, units), got shape {a.shape}")
    return float(np.mean(flat(a, activation).all(axis=0)))


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


# ---------------------------------------------------------------------------- runner probes
# `bnjax.runs` measures every run between chunks with functions of the shape
# `probe(snapshot, config) -> arrays` (a `runs.Snapshot`: one run's params, state, hparams, next
# batch and the data). The runner compiles each probe apart from training, once per network
# shape, and runs it on one run per device; pages that measure different things still share
# the training program.


def test_accuracy(snap, config):
    """(test accuracy, test loss) in eval mode with the population statistics of the training
    set (Ioffe Alg. 2), the numbers every learning curve of the lab plots."""
    import optax  # noqa: PLC0415  (beside their only use)

    from bnjax.nn import population_state  # noqa: PLC0415

    spec = config.spec._replace(ghost=0)  # eval mode has no ghost groups
    params, state = snap.params, snap.state
    if spec.has_stats:
        state = population_state(params, snap.data.x_train, spec=spec)
    logits, _ = mlp_apply(params, state, snap.data.x_test, spec=spec, train=False)
    y = snap.data.y_test
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
    return (logits.argmax(-1) == y).mean(), loss


def weight_norms(snap, config):
    """(depth,) Frobenius norm of each hidden layer's weight matrix (under BN, the scale the
    effective learning rate divides by)."""
    return jnp.stack([jnp.sqrt(jnp.sum(h.dense.w ** 2)) for h in snap.params.hidden])


# ---------------------------------------------------------------------------- pages 1 and 2
# Page 1 (BatchNorm basics) and page 2 (covariate shift). The runner probes take
# `(snapshot, config)`; the programs after training (`test_time_program`, `perturb_runs`) run
# once per network, so they compile at LLVM level 1 like the initialization (the same bits:
# tests/test_basics.py and tests/test_covariate_shift.py compare them with level 2).

ONCE_COMPILER_OPTIONS = {"xla_backend_optimization_level": 1}


def _fresh_bn_state(spec: MLPSpec) -> tuple:
    """Running statistics at initialization (mean 0, variance 1); None for layers without BN.
    In train mode BN normalizes with the batch's own statistics, so these are never read."""
    from bnjax.nn import batchnorm_init  # noqa: PLC0415

    return tuple(batchnorm_init(spec.width)[1] if spec.has_stats else None
                 for _ in range(spec.depth))


def running_gap(snap, config):
    """Page 1: how far this net's running averages (the BN state training keeps, with decay
    `config.decay`) are from the population statistics of the training set, and the test
    accuracy in eval mode with each.

    The gap of one unit is the root-mean-square change of x̂ over the training set when the
    running (μ_r, σ²_r) replace the population (μ_p, σ²_p): with x̂_p of mean 0 and variance 1,
    x̂_r = (σ_p x̂_p + μ_p − μ_r) / σ_r, so  gap² = (σ_p / σ_r − 1)² + ((μ_p − μ_r) / σ_r)².
    Returns (gap, acc_running, acc_population), scalars; the gap is the mean over units and
    layers."""
    from bnjax.nn import population_state  # noqa: PLC0415

    spec = config.spec._replace(ghost=0)
    params, data = snap.params, snap.data
    pop = population_state(params, data.x_train, spec=spec)
    gaps = []
    for p, r in zip(pop, snap.state):
        sd_p, sd_r = jnp.sqrt(p.var + spec.eps), jnp.sqrt(r.var + spec.eps)
        g2 = (sd_p / sd_r - 1.0) ** 2 + ((p.mean - r.mean) / sd_r) ** 2
        gaps.append(jnp.sqrt(g2).mean(-1))

    def acc(state):
        logits, _ = mlp_apply(params, state, data.x_test, spec=spec, train=False)
        return (logits.argmax(-1) == data.y_test).mean()
    return jnp.stack(gaps).mean(0), acc(snap.state), acc(pop)


def batch_preactivations(snap, config):
    """Page 1: (depth, B, width), every hidden layer's pre-activation z on the mini-batch
    `snap.args` (B, n_in) in train mode (each BN layer on that batch's own statistics): the
    batch the page takes through BN step by step."""
    spec = config.spec
    _, _, trace = mlp_apply(snap.params, _fresh_bn_state(spec), snap.args, spec=spec,
                            train=True, with_trace=True)
    return jnp.stack(trace.z)


def _train_mode_logits(params, x, spec: MLPSpec, group: int):
    """Logits in train mode with the statistics of consecutive groups of `group` examples (BN's
    own batch statistics at test batch size `group`); a remainder forms one smaller batch."""
    state = _fresh_bn_state(spec)
    n = x.shape[0]
    full = n - n % group
    parts = []
    if full:
        g = spec._replace(ghost=group if group < full else 0)
        parts.append(mlp_apply(params, state, x[:full], spec=g, train=True)[0])
    if n - full:
        parts.append(mlp_apply(params, state, x[full:], spec=spec, train=True)[0])
    return jnp.concatenate(parts, 0)  # (n, n_out)


def test_time(params, running, x_train, x_test, y_test, perm, *, spec: MLPSpec,
              batch_sizes: tuple, split: int):
    """Page 1: every test-time choice for one trained BN net, in one program.

    `running` holds running statistics with a leading axis (one per decay), `perm` permutes
    the test set. Returns accuracies in train mode at each test batch size in `batch_sizes`
    (batches of consecutive examples of the permuted test set: `train_batch`, in that order)
    and on the whole test set (`train_full`); in eval mode with each running average
    (`eval_running`) and with the population statistics (`eval_population`); the largest logit
    change when the permuted test set is split into batches of `split` examples, in eval and
    in train mode (`logit_diff_eval`, `logit_diff_train`); and the population statistics."""
    from bnjax.nn import population_state  # noqa: PLC0415

    xp, yp = x_test[perm], y_test[perm]
    acc = lambda logits, y: (logits.argmax(-1) == y).mean()  # noqa: E731
    train_full = _train_mode_logits(params, x_test, spec, x_test.shape[0])
    out = {"train_batch": jnp.stack([acc(_train_mode_logits(params, xp, spec, b), yp)
                                     for b in batch_sizes]),
           "train_full": acc(train_full, y_test)}
    out["eval_running"] = jax.vmap(  # one pass per running average (a smaller program)
        lambda state: acc(mlp_apply(params, state, x_test, spec=spec, train=False)[0], y_test))(
        running)
    pop = population_state(params, x_train, spec=spec)
    eval_full = mlp_apply(params, pop, x_test, spec=spec, train=False)[0]
    out["eval_population"] = acc(eval_full, y_test)
    # Permute and split: batches of `split`, run one by one, put back in the original order.
    inv = jnp.argsort(perm)
    batches = xp.reshape(-1, split, xp.shape[-1])
    eval_split = jax.vmap(lambda xb: mlp_apply(params, pop, xb, spec=spec, train=False)[0])(
        batches).reshape(xp.shape[0], -1)[inv]
    train_split = _train_mode_logits(params, xp, spec, split)[inv]
    out["logit_diff_eval"] = jnp.abs(eval_split - eval_full).max()
    out["logit_diff_train"] = jnp.abs(train_split - train_full).max()
    out["population"] = pop
    return out


test_time_program = jax.jit(test_time, static_argnames=("spec", "batch_sizes", "split"),
                            compiler_options=ONCE_COMPILER_OPTIONS)


def last_layer_input(snap, config):
    """Page 2 (1a): (n_train, width), the last hidden layer's input to the nonlinearity (γx̂ + β
    under BN) for every training example, the whole set as one batch (BN on its statistics).
    Its percentiles are taken on the host: numpy's selection is several times faster than
    XLA's sort on a CPU."""
    spec = config.spec._replace(ghost=0)
    _, _, trace = mlp_apply(snap.params, _fresh_bn_state(spec), snap.data.x_train, spec=spec,
                            train=True, with_trace=True)
    return trace.h[-1]


def _full_pass(params, x, y, spec: MLPSpec):
    """Train-mode pass over the whole set (BN on its statistics): (loss, logits, h per layer)."""
    import optax  # noqa: PLC0415

    logits, _, trace = mlp_apply(params, _fresh_bn_state(spec), x, spec=spec, train=True,
                                 with_trace=True)
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), logits, trace.h


def perturbation_draws(key, shape: tuple):
    """The random part of a change of layer 1 whose weights have `shape` (n_in, width): a
    rescale exponent u ~ U(−1, 1) and a shift sign per unit, and a Gaussian direction R."""
    k_s, k_sign, k_r = jax.random.split(key, 3)
    width = shape[1]
    u = jax.random.uniform(k_s, (width,), minval=-1.0, maxval=1.0)
    sign = jnp.where(jax.random.bernoulli(k_sign, 0.5, (width,)), 1.0, -1.0)
    return u, sign, jax.random.normal(k_r, shape)


def perturb_layer1(params, draws, x, y, spec: MLPSpec, sizes: tuple):
    """Page 2 (1b) on one trained net: change layer 1 and measure what reaches the later layers.

    Affine change of layer 1: W1 -> W1 diag(s), s = 2 ** (size * u) per unit, and a shift of
    size * 0.5 * std(z1) per unit with the drawn sign. Random change: W1 -> W1 + R', R' along
    the drawn direction with ||R'|| = ||W1 diag(s) - W1||. Returns, per size, the loss changes
    (affine, random), each layer's relative change ||h' - h|| / ||h|| of its input to the
    nonlinearity (the values it sees, (size, depth)), the relative change of that input's
    per-unit mean and std over the set ((||mu' - mu|| + ||sd' - sd||) / ||sd||: its
    distribution's first two moments, (size, depth)); and the max |logit change| when W1 is
    scaled by 3."""
    from bnjax.nn import DenseParams  # noqa: PLC0415

    u, sign, r = draws
    w1, b1 = params.hidden[0].dense.w, params.hidden[0].dense.b  # (n_in, width), (width,)|None
    width, k = w1.shape[1], len(sizes)
    b0 = jnp.zeros((width,), jnp.float32) if b1 is None else b1
    std1 = (x @ w1).std(0)  # (width,) spread of layer 1's linear output
    size = jnp.asarray(sizes, jnp.float32)[:, None]  # (k, 1)
    w_aff = w1[None] * (2.0 ** (size * u[None, :]))[:, None, :]  # (k, n_in, width)
    b_aff = b0[None] + size * 0.5 * std1[None] * sign[None]  # (k, width)
    step = jnp.sqrt(((w_aff - w1[None]) ** 2).sum((1, 2)))  # (k,) norm of the affine change
    w_rand = w1[None] + r[None] * (step / jnp.linalg.norm(r))[:, None, None]
    # One batched pass over every version of layer 1: original, k affine, k random, W1 x 3.
    ws = jnp.concatenate([w1[None], w_aff, w_rand, 3.0 * w1[None]])  # (2k + 2, n_in, width)
    bs = jnp.concatenate([b0[None], b_aff, jnp.broadcast_to(b0, (k, width)), b0[None]])

    def with_layer1(w, b):  # b may be added even under BN: a no-op
        first = params.hidden[0]._replace(dense=DenseParams(w, b))
        return params._replace(hidden=(first,) + tuple(params.hidden[1:]))
    loss, logits, h = jax.vmap(lambda w, b: _full_pass(with_layer1(w, b), x, y, spec))(ws, bs)
    rel = jnp.stack([jnp.sqrt(((a - a[:1]) ** 2).sum((1, 2)) / ((a[0] ** 2).sum() + 1e-24))
                     for a in h], 1)  # (2k + 2, depth)

    def moments(a):  # (2k + 2, n, width) -> (2k + 2,)
        mu, sd = a.mean(1), a.std(1)
        norm = lambda v: jnp.sqrt((v ** 2).sum(-1))  # noqa: E731
        return (norm(mu - mu[:1]) + norm(sd - sd[:1])) / (norm(sd[:1]) + 1e-12)

    mom = jnp.stack([moments(a) for a in h], 1)  # (2k + 2, depth)
    dloss = loss - loss[0]
    dlogit3 = jnp.abs(logits[-1] - logits[0]).max()
    return (dloss[1:k + 1], dloss[k + 1:2 * k + 1], rel[1:k + 1], rel[k + 1:2 * k + 1], dlogit3,
            mom[1:k + 1], mom[k + 1:2 * k + 1])


# Vmapped over runs. The draws depend on the layer's shape only, so BN and plain nets share
# their program (threefry is a lot of code to compile).
def _draws_runs(keys, shape: tuple):
    return jax.vmap(lambda k: perturbation_draws(k, shape))(keys)


perturbation_draws_runs = jax.jit(_draws_runs, static_argnums=1,
                                  compiler_options=ONCE_COMPILER_OPTIONS)
perturb_layer1_runs = jax.jit(jax.vmap(perturb_layer1, in_axes=(0, 0, None, None, None, None)),
                              static_argnames=("spec", "sizes"),
                              compiler_options=ONCE_COMPILER_OPTIONS)


def _draws_seeds(raw_keys, shape: tuple):
    keys = jax.vmap(lambda k: jax.random.fold_in(jax.random.wrap_key_data(k), 1))(raw_keys)
    return _draws_runs(keys, shape)


# The same draws from the seeds' raw key data (`runs.key_data`), each change drawn from
# fold_in(key(seed), 1) inside the program: no small eager programs for the keys.
perturbation_draws_seeds = jax.jit(_draws_seeds, static_argnums=1,
                                   compiler_options=ONCE_COMPILER_OPTIONS)


def perturb_seeds(params, raw_keys, x, y, spec: MLPSpec, sizes: tuple):
    """`perturb_runs` with run r's change drawn from fold_in(key(seed_r), 1), given the seeds'
    raw key data (R, 2) (`runs.key_data(seed)`): pages 2 and 3."""
    draws = perturbation_draws_seeds(raw_keys, tuple(params.hidden[0].dense.w.shape[1:]))
    return perturb_layer1_runs(params, draws, x, y, spec, sizes)


def perturb_runs(params, keys, x, y, spec: MLPSpec, sizes: tuple):
    """`perturb_layer1` on R trained nets (params with a leading (R,) axis), run r's change
    drawn from `keys[r]`: the outputs of `perturb_layer1`, each with a leading (R,) axis."""
    draws = perturbation_draws_runs(keys, tuple(params.hidden[0].dense.w.shape[1:]))
    return perturb_layer1_runs(params, draws, x, y, spec, sizes)


# ---------------------------------------------------------------------------- page 5
# Page 5 (hyperparameter landscape): 4a to 4c measure with `test_accuracy` and `weight_norms`;
# 4d (Santurkar et al. 2018, Fig. 4) looks along the gradient.


def along_gradient(snap, config):
    """Page 5 (4d): along the gradient g of the run's next batch, for each step size s of
    `snap.args` (S,): L(θ - s·g) and ‖g - ∇L(θ - s·g)‖ (train-mode BN on that batch, the running
    statistics untouched). Returns (losses (S,), grad_change (S,), ‖g‖)."""
    x, y = snap.batch
    spec, state, params = config.spec, snap.state, snap.params
    grad = jax.grad(lambda p: loss_fn(p, state, x, y, spec=spec)[0])
    g = grad(params)
    norm = lambda t: jnp.sqrt(sum(jnp.sum(v ** 2) for v in jax.tree.leaves(t)))  # noqa: E731

    def at(s):
        p = jax.tree.map(lambda a, b: a - s * b, params, g)
        loss, _ = loss_fn(p, state, x, y, spec=spec)
        diff = jax.tree.map(lambda a, b: a - b, grad(p), g)
        return loss, norm(diff)

    losses, change = jax.lax.map(at, snap.args)
    return losses, change, norm(g)


# ---------------------------------------------------------------------------- page 4
# Page 4 (regularization noise). These run once on trained nets, after the runner: vmapped over
# runs (params with a leading (R,) axis), one program per network shape. The brief ones compile
# at LLVM level 1 as the initialization does (half the compile time, the same bits).

from bnjax.train import INIT_COMPILER_OPTIONS as _ONCE_OPTIONS  # noqa: E402


def subset_scores(params, x_sub, y_sub, x_test, y_test, *, spec: MLPSpec):
    """Page 4 (section 1): (train acc, train loss, test acc, test loss) of one net in eval mode
    with the population statistics of its own training subset `x_sub` (no ghost groups)."""
    import optax  # noqa: PLC0415

    from bnjax.nn import population_state  # noqa: PLC0415

    spec = spec._replace(ghost=0)
    pop = population_state(params, x_sub, spec=spec) if spec.has_stats else \
        tuple(None for _ in params.hidden)
    out = []
    for x, y in ((x_sub, y_sub), (x_test, y_test)):
        logits, _ = mlp_apply(params, pop, x, spec=spec, train=False)
        out += [(logits.argmax(-1) == y).mean(),
                optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()]
    return jnp.stack(out)


# (R, 4) for R runs, each with its own subset (R, N, n_in): every ghost size and both arms of
# section 1 share it (eval mode has no groups).
subset_scores_runs = jax.jit(
    lambda params, x_sub, y_sub, x_test, y_test, spec: jax.vmap(
        lambda p, xs, ys: subset_scores(p, xs, ys, x_test, y_test, spec=spec))(
        params, x_sub, y_sub),
    static_argnames="spec", compiler_options=_ONCE_OPTIONS)


def x0_in_batch(params, state, x_train, y0, idx, *, spec: MLPSpec, layer: int):
    """Page 4 (batch-noise meter): train-mode forward of the batch x_train[idx], x0 in row 0.
    Returns x0's x̂ at hidden layer `layer` (0-based), (width,), and the predicted probability
    of x0's class."""
    xb = x_train[idx]  # (B, n_in)
    logits, _, trace = mlp_apply(params, state, xb, spec=spec, train=True, with_trace=True)
    z = trace.z[layer]  # (B, width), the linear output BN normalizes
    mean, var = z.mean(0), z.var(0)  # batch statistics, biased variance as in BN
    x_hat = (z[0] - mean) / jnp.sqrt(var + spec.eps)
    return x_hat, jax.nn.softmax(logits[0])[y0]


# Batches per step of the meter's loop over batches: all of them at once held every layer's
# activations for 300 batches of every size (page 4's default view: 0.44 GB at the peak).
BATCHES_AT_ONCE = 60


def _noise_probe(params, state, x_train, y0, idx, spec: MLPSpec, layer: int):
    f = lambda p, s, i: x0_in_batch(p, s, x_train, y0, i, spec=spec, layer=layer)  # noqa: E731
    return jax.vmap(lambda p, s, i: jax.lax.map(lambda b: f(p, s, b), i,
                                                batch_size=BATCHES_AT_ONCE))(params, state, idx)


# `x0_in_batch` over runs and batches: idx (R, N, B) -> x̂ (R, N, width), p (R, N). One program
# per batch size B, shared by every example and seed.
noise_probe = jax.jit(_noise_probe, static_argnames=("spec", "layer"))


def _noise_probe_sizes(params, state, x_train, y0, idx: tuple, spec: MLPSpec, layer: int):
    return tuple(_noise_probe(params, state, x_train, y0, i, spec, layer) for i in idx)


def _x0_offset(params, x_train, i0, spec: MLPSpec, layer: int):
    from bnjax.nn import population_state  # noqa: PLC0415

    pop = population_state(params, x_train, spec=spec)
    _, _, trace = mlp_apply(params, pop, x_train[i0][None, :], spec=spec, train=False,
                            with_trace=True)
    z = trace.z[layer][0]
    return jnp.abs((z - pop[layer].mean) / jnp.sqrt(pop[layer].var + spec.eps)).mean()


def _noise_meter(params, state, x_train, y0, idx: tuple, i0, spec: MLPSpec, layer: int,
                 with_p: tuple):
    """Page 4's noise meter in one program: `noise_probe` for every batch size (idx a tuple of
    (R, N_k, B_k) arrays: the meter's 8 batch sizes compile once, not 8 times) and (R,) mean
    |x̂| of x0 under the population statistics (how far x0 sits from the mean). x0's class
    probability only for the batch sizes marked in `with_p` (page 4 shows it for its two
    strips): for the others XLA drops every layer after `layer`, a smaller program with less to
    compute, and they are (x_hat, None). What it returns has the same bits whatever `with_p`
    (keep the full set's: without it XLA fuses that size's statistics otherwise and its spread
    of ~1e-9 moves by ~1e-7)."""
    offset = jax.vmap(lambda p: _x0_offset(p, x_train, i0, spec, layer))(params)
    sizes = _noise_probe_sizes(params, state, x_train, y0, idx, spec, layer)
    return tuple((x_hat, p if keep else None) for (x_hat, p), keep in zip(sizes, with_p)), \
        offset


# Once per view: LLVM level 1 (compile 1.5 -> 1.2 CPU s under load, the same bits); page 4's
# `with_p` (its strips and the full set) compiles 1.3 -> 0.9 CPU s and runs ~40% faster than
# every size's probability (under load, A/B).
noise_meter = jax.jit(_noise_meter, static_argnames=("spec", "layer", "with_p"),
                      compiler_options=_ONCE_OPTIONS)


def masked_accuracy(params, state, x_test, y_test, masks, *, spec: MLPSpec):
    """Page 4 (ablation): test accuracy with the hidden units where `masks` (depth, width) is 0
    ablated, the BN statistics in `state` frozen."""
    logits, _ = mlp_apply(params, state, x_test, spec=spec, train=False,
                          masks=tuple(masks[i] for i in range(spec.depth)))
    return (logits.argmax(-1) == y_test).mean()


def masked_accuracy_recomputed(params, x_train, x_test, y_test, masks, *, spec: MLPSpec):
    """The same, with the BN statistics recomputed on the training set with the ablation."""
    from bnjax.nn import population_state  # noqa: PLC0415

    m = tuple(masks[i] for i in range(spec.depth))
    state = population_state(params, x_train, spec=spec, masks=m)
    logits, _ = mlp_apply(params, state, x_test, spec=spec, train=False, masks=m)
    return (logits.argmax(-1) == y_test).mean()


# Masks per step of the ablation's loop: a vmap over all of them held every net's activations
# for every mask at once (3 x 179 masks x 1257 x 128 floats per layer): 2 GB at the peak on
# page 4's default view, over Community Cloud's 1 GB.
MASKS_AT_ONCE = 16


def _over_masks(f, masks):
    """f(mask) for every mask (M, ...): (M,), MASKS_AT_ONCE at a time. The masks are padded to
    a multiple of it with copies of the first (dropped from the result): a remainder would be
    a second copy of the loop's body in the program (compile 0.7 -> 1.2 s at page 4's 179)."""
    m = masks.shape[0]
    pad = -m % MASKS_AT_ONCE
    masks = jnp.concatenate([masks, jnp.broadcast_to(masks[:1], (pad,) + masks.shape[1:])])
    return jax.lax.map(f, masks, batch_size=MASKS_AT_ONCE)[:m]


def _ablation_frozen(params, state, x_test, y_test, masks, spec: MLPSpec):
    f = lambda p, s, m: masked_accuracy(p, s, x_test, y_test, m, spec=spec)  # noqa: E731
    return jax.vmap(lambda p, s: _over_masks(lambda m: f(p, s, m), masks))(params, state)


def _ablation_recomputed(params, x_train, x_test, y_test, masks, spec: MLPSpec):
    f = lambda p, m: masked_accuracy_recomputed(p, x_train, x_test, y_test, m,  # noqa: E731
                                                spec=spec)
    return jax.vmap(lambda p: _over_masks(lambda m: f(p, m), masks))(params)


def _population_runs(params, x_train, spec: MLPSpec):
    from bnjax.nn import population_state  # noqa: PLC0415

    return jax.vmap(lambda p: population_state(p, x_train, spec=spec))(params)


def _ablation_nets(params, bn_params, x_train, x_test, y_test, masks, spec: MLPSpec):
    """Page 4's ablation of every net in one program: frozen statistics for all of `params`
    (R, each net's population statistics of `x_train`; a plain net of norm "switch" reads no
    statistics, so its numbers are those of its own state) and recomputed statistics for the
    BN nets `bn_params` (R_bn). Returns (frozen (R, M), recomputed (R_bn, M))."""
    return (_ablation_frozen(params, _population_runs(params, x_train, spec), x_test, y_test,
                             masks, spec),
            _ablation_recomputed(bn_params, x_train, x_test, y_test, masks, spec))


# Once per view: LLVM level 1 (compile 1.15 -> 1.0 CPU s, the same bits, no slower; level 0
# compiles in half that but runs ~2x slower).
ablation_nets = jax.jit(_ablation_nets, static_argnames="spec", compiler_options=_ONCE_OPTIONS)


# ---------------------------------------------------------------------------- page 3
# Page 3 (layer decoupling). 2a's Def. 2.1 probe runs in the runner between chunks (`def21`);
# the concrete example (W1 -> c * W1) runs once on the trained nets (`rescale_runs`, LLVM
# level 1 like the other programs after training: the same numbers, tests/test_decoupling.py).


def ics(params, state, x, y, lr, spec: MLPSpec):
    """Santurkar et al. 2018, Def. 2.1, on one batch, for layers 2..depth.

    G_i = dL/dW_i at theta_t; theta' = theta_t with the weights W_j of layers j < i moved by
    -lr * G_j (plain SGD); G'_i = dL/dW_i at theta' on the same batch (train-mode BN).
    Returns (cos(G, G'), ||G - G'|| / ||G||), each (depth - 1,).
    """
    def grads(p):
        return jax.grad(lambda q: loss_fn(q, state, x, y, spec=spec, train=True)[0])(p)

    g = grads(params)
    layers = jnp.arange(1, spec.depth)  # i (0-based) for layers 2..depth

    def lookahead(i):  # G' for every layer at once, with layers j < i moved
        moved = tuple(h._replace(dense=h.dense._replace(
            w=h.dense.w - jnp.where(j < i, lr, 0.0) * gh.dense.w))
            for j, (h, gh) in enumerate(zip(params.hidden, g.hidden)))
        return grads(params._replace(hidden=moved))

    # One batched backward pass for all i (one small program instead of depth - 1 copies).
    g2 = jax.vmap(lookahead)(layers)
    cos, rel = [], []
    for i in range(1, spec.depth):
        g1, gp = g.hidden[i].dense.w, g2.hidden[i].dense.w[i - 1]
        n1, n2 = jnp.linalg.norm(g1), jnp.linalg.norm(gp)
        cos.append(jnp.vdot(g1, gp) / (n1 * n2 + 1e-30))
        rel.append(jnp.linalg.norm(g1 - gp) / (n1 + 1e-30))
    return jnp.stack(cos), jnp.stack(rel)


def def21(snap, config):
    """Page 3 (2a), a runner probe: `ics` on the batch of the run's next step, with the run's
    own learning rate: (cos (depth - 1,), rel (depth - 1,))."""
    x, y = snap.batch
    return ics(snap.params, snap.state, x, y, snap.hp.lr, config.spec)


def rescale_layer1(params, state, x, y, factors, spec: MLPSpec):
    """Page 3, the concrete example of coupling, on one trained net: W1 -> c * W1 for each c in
    `factors` (traced: any c, one compiled program).

    Over the whole set (x, y) as one batch (train mode: BN on the set's statistics), for every
    hidden layer i: its input to the nonlinearity h_i and the gradient G_i = dL/dW_i, before and
    after the change. With BN (layer 1 has no bias) c * W1 x normalizes to the same values, so
    for i >= 2 nothing changes, exactly, if BN's eps scales with c too: evaluate with eps = 0
    and a power-of-two c changes no bit. Without BN every later value moves.

    Returns, with a leading (F,) axis: ||h' - h|| / ||h|| and ||G' - G|| / ||G|| (F, depth), the
    norm ratios ||G'|| / ||G|| (F, depth), and the gradient of layer `spec.depth // 2 + 1` (the
    example layer) before (width, width) and after (F, width, width).
    """
    import optax  # noqa: PLC0415

    w1 = params.hidden[0].dense.w  # (n_in, width)

    def measure(c):
        first = params.hidden[0]._replace(dense=params.hidden[0].dense._replace(w=c * w1))
        p = params._replace(hidden=(first,) + tuple(params.hidden[1:]))

        def loss(q):
            logits, _, trace = mlp_apply(q, state, x, spec=spec, train=True, with_trace=True)
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), trace.h

        g, h = jax.grad(loss, has_aux=True)(p)
        return h, tuple(layer.dense.w for layer in g.hidden)

    # c = 1 (the trained net) and every factor in one batched pass.
    cs = jnp.concatenate([jnp.ones((1,), jnp.float32), jnp.asarray(factors, jnp.float32)])
    h, g = jax.vmap(measure)(cs)  # leading axis F + 1

    def norm(a):  # (F + 1, ...) -> (F + 1,)
        return jnp.sqrt((a ** 2).sum(tuple(range(1, a.ndim))))

    def rel(a):  # (F + 1, ...) -> (F,): ||a_c - a_1|| / ||a_1||
        return norm(a[1:] - a[:1]) / (norm(a[:1]) + 1e-30)

    rel_h = jnp.stack([rel(a) for a in h], 1)  # (F, depth)
    rel_g = jnp.stack([rel(a) for a in g], 1)  # (F, depth)
    ratio_g = jnp.stack([norm(a)[1:] / (norm(a)[:1] + 1e-30) for a in g], 1)  # (F, depth)
    mid = g[spec.depth // 2]  # (F + 1, width, width): layer depth // 2 + 1
    return rel_h, rel_g, ratio_g, mid[0], mid[1:]


# `rescale_layer1` over R trained nets (params and state with a leading (R,) axis); it runs
# once per trained net: LLVM level 1.
rescale_runs = jax.jit(jax.vmap(rescale_layer1, in_axes=(0, 0, None, None, None, None)),
                       static_argnames="spec", compiler_options=_ONCE_OPTIONS)


def affine_change(params, draws, x, spec: MLPSpec, sizes: tuple):
    """Page 3 (2c) on one trained net: the part of `perturb_layer1` it shows, with the same
    arithmetic: each layer's relative change ||h' - h|| / ||h|| of its input to the
    nonlinearity under the affine change of layer 1 at each of `sizes`, (len(sizes), depth).
    (No random change, moments, losses or logits: a smaller program.)"""
    from bnjax.nn import DenseParams  # noqa: PLC0415

    u, sign, _ = draws
    w1, b1 = params.hidden[0].dense.w, params.hidden[0].dense.b
    width, k = w1.shape[1], len(sizes)
    b0 = jnp.zeros((width,), jnp.float32) if b1 is None else b1
    std1 = (x @ w1).std(0)
    size = jnp.asarray(sizes, jnp.float32)[:, None]
    w_aff = w1[None] * (2.0 ** (size * u[None, :]))[:, None, :]
    b_aff = b0[None] + size * 0.5 * std1[None] * sign[None]
    ws = jnp.concatenate([w1[None], w_aff])
    bs = jnp.concatenate([b0[None], b_aff])

    def with_layer1(w, b):
        first = params.hidden[0]._replace(dense=DenseParams(w, b))
        return params._replace(hidden=(first,) + tuple(params.hidden[1:]))

    def inputs(w, b):  # train mode on the whole set: each layer's input to the nonlinearity
        p = with_layer1(w, b)
        return mlp_apply(p, _fresh_bn_state(spec), x, spec=spec, train=True,
                         with_trace=True)[2].h
    h = jax.vmap(inputs)(ws, bs)
    rel = jnp.stack([jnp.sqrt(((a - a[:1]) ** 2).sum((1, 2)) / ((a[0] ** 2).sum() + 1e-24))
                     for a in h], 1)  # (k + 1, depth)
    return rel[1:k + 1]


def _decoupling_after(params, state, draws, x, y, factors, spec: MLPSpec,
                            example: MLPSpec, sizes: tuple):
    """Page 3's measurements of R trained nets, in one program: the relative change of every
    layer's input under page 2's affine change of layer 1 at each of `sizes` (2c:
    `affine_change`, (R, len(sizes), depth)), its draws (u, sign) given, each (R, width)
    (`perturbation_draws_host`: no threefry to compile here), and the concrete example
    W1 -> c * W1 with spec `example` (`rescale_runs`' outputs)."""
    u, sign = draws
    rel = jax.vmap(affine_change, in_axes=(0, 0, None, None, None))(
        params, (u, sign, u), x, spec, sizes)  # (affine_change reads no third draw)
    rescaled = jax.vmap(rescale_layer1, in_axes=(0, 0, None, None, None, None))(
        params, state, x, y, factors, example)
    return rel, rescaled


# Runs once per trained net: one program for page 2's change of layer 1 and the example (its
# draws come from the host), at LLVM level 0: a third less compile time than level 1 (2.7 ->
# 1.8 CPU s under load), no slower to run here. Not the same bits as level 1: the changes of
# 2c and the example's gradients move by ~1e-8 (seeds 0, 10, 20: no statement changes; the
# example's input and gradient changes are the same to the bit).
AFTER_COMPILER_OPTIONS = {"xla_backend_optimization_level": 0}
decoupling_runs = jax.jit(_decoupling_after, static_argnames=("spec", "example", "sizes"),
                          compiler_options=AFTER_COMPILER_OPTIONS)


def _threefry2x32_host(key, x1, x2):
    """JAX's threefry2x32 hash on the host (numpy uint32), as `jax.random` computes it."""
    k1, k2 = np.uint32(key[0]), np.uint32(key[1])
    ks = (k1, k2, k1 ^ k2 ^ np.uint32(0x1BD11BDA))
    rotations = ((13, 15, 26, 6), (17, 29, 16, 24))
    x = [np.asarray(x1, np.uint32) + ks[0], np.asarray(x2, np.uint32) + ks[1]]
    for i in range(5):
        for r in rotations[i % 2]:
            x[0] = x[0] + x[1]
            x[1] = ((x[1] << np.uint32(r)) | (x[1] >> np.uint32(32 - r))) ^ x[0]
        x[0] = x[0] + ks[(i + 1) % 3]
        x[1] = x[1] + ks[(i + 2) % 3] + np.uint32(i + 1)
    return x


def _uniform_host(key, n: int, low: float, high: float) -> np.ndarray:
    """`jax.random.uniform(key, (n,), float32, low, high)` on the host."""
    b1, b2 = _threefry2x32_host(key, np.zeros(n, np.uint32), np.arange(n, dtype=np.uint32))
    f = (((b1 ^ b2) >> np.uint32(9)) | np.float32(1.0).view(np.uint32)).view(np.float32)
    f = f - np.float32(1.0)
    return np.maximum(np.float32(low), f * (np.float32(high) - np.float32(low))
                      + np.float32(low))


def perturbation_draws_host(raw_keys, width: int):
    """`perturbation_draws_seeds`' u and sign (R, width) for the seeds' raw key data (R, 2),
    computed with numpy: bit for bit JAX's (threefry, partitionable counters, the default;
    tests/test_decoupling.py), so no program compiles threefry for them. Another PRNG setting
    falls back to `perturbation_draws_seeds`."""
    raw_keys = np.asarray(raw_keys, np.uint32)
    if jax.config.jax_default_prng_impl != "threefry2x32" \
            or not jax.config.jax_threefry_partitionable:
        u, sign, _ = perturbation_draws_seeds(raw_keys, (width, width))
        return np.asarray(u), np.asarray(sign)
    us, signs = [], []
    with np.errstate(over="ignore"):
        for raw in raw_keys:
            o1, o2 = _threefry2x32_host(raw, np.zeros(1, np.uint32), np.ones(1, np.uint32))
            key = (o1[0], o2[0])  # fold_in(key, 1)
            b1, b2 = _threefry2x32_host(key, np.zeros(3, np.uint32),
                                        np.arange(3, dtype=np.uint32))  # split(key, 3)
            us.append(_uniform_host((b1[0], b2[0]), width, -1.0, 1.0))
            signs.append(np.where(_uniform_host((b1[1], b2[1]), width, 0.0, 1.0)
                                  < np.float32(0.5), np.float32(1.0), np.float32(-1.0)))
    return np.stack(us), np.stack(signs)
