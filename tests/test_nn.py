"""Batch norm and layer norm against Flax's, their defining properties, and the MLP's shapes,
normalization choice and options."""
import flax.linen as fnn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bnjax.nn import (NORMS, BatchNormParams, LayerNormParams, MLPSpec, batchnorm_apply,
                      batchnorm_init, layernorm_apply, layernorm_init, mlp_apply, mlp_init,
                      normalize, population_state, row_groups)

DECAY, EPS = 0.9, 1e-5


def _x(key, n=32, f=7):
    return 3.0 + 2.5 * jax.random.normal(key, (n, f))


@pytest.fixture
def flax_bn():
    return fnn.BatchNorm(momentum=DECAY, epsilon=EPS)


def test_train_mode_matches_flax(key, flax_bn):
    x = _x(key)
    variables = flax_bn.init(key, x, use_running_average=False)
    y_flax, updated = flax_bn.apply(variables, x, use_running_average=False, mutable=["batch_stats"])
    params, state = batchnorm_init(7)
    y, new_state = batchnorm_apply(params, state, x, train=True, decay=DECAY, eps=EPS)
    np.testing.assert_allclose(y, y_flax, atol=1e-5)
    np.testing.assert_allclose(new_state.mean, updated["batch_stats"]["mean"], atol=1e-5)
    np.testing.assert_allclose(new_state.var, updated["batch_stats"]["var"], atol=1e-5)


def test_eval_mode_matches_flax_and_keeps_state(key, flax_bn):
    k1, k2, k3 = jax.random.split(key, 3)
    mean, var = jax.random.normal(k1, (7,)), jnp.exp(jax.random.normal(k2, (7,)))
    gamma, beta = 1.0 + 0.1 * jnp.arange(7.0), -0.2 * jnp.arange(7.0)
    x = _x(k3)
    variables = {"params": {"scale": gamma, "bias": beta},
                 "batch_stats": {"mean": mean, "var": var}}
    y_flax = flax_bn.apply(variables, x, use_running_average=True)
    params, state = batchnorm_init(7)
    params, state = params._replace(gamma=gamma, beta=beta), state._replace(mean=mean, var=var)
    y, same = batchnorm_apply(params, state, x, train=False, decay=DECAY, eps=EPS)
    np.testing.assert_allclose(y, y_flax, atol=1e-5)
    assert same is state


@pytest.mark.parametrize("train", [True, False])
def test_gradients_match_flax(key, flax_bn, train):
    k1, k2 = jax.random.split(key)
    x, w = _x(k1), jax.random.normal(k2, (32, 7))  # w: a random readout so no gradient is trivial
    gamma, beta = 1.0 + 0.1 * jnp.arange(7.0), 0.3 * jnp.ones(7)
    stats = {"mean": jnp.full((7,), 2.0), "var": jnp.full((7,), 5.0)}

    def ours(x, gamma, beta):
        params, state = batchnorm_init(7)
        state = state._replace(mean=stats["mean"], var=stats["var"])
        y, _ = batchnorm_apply(params._replace(gamma=gamma, beta=beta), state, x, train=train,
                               decay=DECAY, eps=EPS)
        return (y * w).sum()

    def theirs(x, gamma, beta):
        v = {"params": {"scale": gamma, "bias": beta}, "batch_stats": stats}
        y = flax_bn.apply(v, x, use_running_average=not train, mutable=["batch_stats"])[0] \
            if train else flax_bn.apply(v, x, use_running_average=True)
        return (y * w).sum()

    for g, g_flax in zip(jax.grad(ours, (0, 1, 2))(x, gamma, beta),
                         jax.grad(theirs, (0, 1, 2))(x, gamma, beta)):
        np.testing.assert_allclose(g, g_flax, atol=1e-5, rtol=1e-5)


def test_train_mode_output_is_standardized(key):
    x = _x(key, n=256, f=16)
    y, _ = batchnorm_apply(*batchnorm_init(16), x, train=True)
    np.testing.assert_allclose(y.mean(0), 0.0, atol=1e-5)
    np.testing.assert_allclose(y.std(0), 1.0, atol=1e-3)


def test_ghost_batches_normalize_each_group(key):
    x = _x(key, n=64, f=5)
    y, _ = batchnorm_apply(*batchnorm_init(5), x, train=True, ghost=8)
    groups = y.reshape(8, 8, 5)
    np.testing.assert_allclose(groups.mean(1), 0.0, atol=1e-5)
    assert not np.allclose(y, batchnorm_apply(*batchnorm_init(5), x, train=True)[0])


# ---------------------------------------------------------------------------- traced row groups


def _bn_out(x, **kw):
    """(y, new_state) of a BN layer with non-trivial gamma, beta and running statistics."""
    p, s = batchnorm_init(x.shape[1])
    p = p._replace(gamma=1.0 + 0.1 * jnp.arange(float(x.shape[1])), beta=0.3 * jnp.ones(x.shape[1]))
    s = s._replace(mean=jnp.full((x.shape[1],), 0.5), var=jnp.full((x.shape[1],), 2.0))
    return batchnorm_apply(p, s, x, train=True, decay=DECAY, eps=EPS, **kw)


def test_one_group_of_every_row_is_ordinary_bn_and_flax(key, flax_bn):
    """Traced groups with one group of all rows: today's BN (and Flax's), output, running
    statistics and gradients, to float rounding (the sums run in another order)."""
    k1, k2 = jax.random.split(key)
    x, w = _x(k1, n=64), jax.random.normal(k2, (64, 7))
    one = row_groups(64)
    for a, b in zip(jax.tree.leaves(_bn_out(x)), jax.tree.leaves(_bn_out(x, groups=one))):
        np.testing.assert_allclose(a, b, atol=1e-6, rtol=1e-6)
    variables = flax_bn.init(key, x, use_running_average=False)
    y_flax, _ = flax_bn.apply(variables, x, use_running_average=False, mutable=["batch_stats"])
    y, _ = batchnorm_apply(*batchnorm_init(7), x, train=True, decay=DECAY, eps=EPS, groups=one)
    np.testing.assert_allclose(y, y_flax, atol=1e-5)
    grad = lambda **kw: jax.grad(lambda x: (_bn_out(x, **kw)[0] * w).sum())(x)  # noqa: E731
    np.testing.assert_allclose(grad(groups=one), grad(), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("ghost", [4, 8, 32])
def test_traced_groups_are_the_static_ghost_groups(key, ghost):
    x = _x(key, n=128, f=5)
    for a, b in zip(jax.tree.leaves(_bn_out(x, ghost=ghost)),
                    jax.tree.leaves(_bn_out(x, groups=row_groups(128, ghost, unit=4)))):
        np.testing.assert_allclose(a, b, atol=2e-6, rtol=1e-6)


def test_rows_of_weight_zero_count_in_no_statistic(key):
    """An effective batch of 40 rows in a batch of 128: the first 40 rows come out as a batch
    of those 40 alone would, and whatever the other 88 hold changes nothing of theirs."""
    k1, k2 = jax.random.split(key)
    x = _x(k1, n=128, f=6)
    rows = row_groups(128, rows=40)
    y, state = _bn_out(x, groups=rows)
    y40, state40 = _bn_out(x[:40])
    np.testing.assert_allclose(y[:40], y40, atol=1e-6)
    for a, b in zip(state, state40):
        np.testing.assert_allclose(a, b, atol=1e-6)
    other = x.at[40:].set(100.0 * jax.random.normal(k2, (88, 6)))
    np.testing.assert_allclose(_bn_out(other, groups=rows)[0][:40], y[:40], atol=1e-6)
    # ghost groups inside the effective batch: groups of 8 among the first 40 rows
    y8, _ = _bn_out(x, groups=row_groups(128, 8, 40, unit=8))
    np.testing.assert_allclose(y8[:40], _bn_out(x[:40], ghost=8)[0], atol=2e-6)
    # the running statistics average the 5 groups that hold counted rows, not the 16 blocks
    for a, b in zip(_bn_out(x, groups=row_groups(128, 8, 40, unit=8))[1],
                    _bn_out(x[:40], ghost=8)[1]):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_row_groups_are_data_one_program_for_every_size(key):
    """The ghost size and the effective batch size are traced: one compiled program."""
    x = _x(key, n=64, f=5)
    f = jax.jit(lambda x, g, b: _bn_out(x, groups=row_groups(64, g, b, unit=2))[0])
    outs = [f(x, g, b) for g, b in [(0, 0), (8, 0), (4, 32), (2, 10)]]
    assert f._cache_size() == 1
    np.testing.assert_allclose(outs[1].reshape(8, 8, 5).mean(1), 0.3, atol=1e-5)  # beta
    assert not np.allclose(outs[0], outs[1])


# ---------------------------------------------------------------------------- the BN switch


@pytest.mark.parametrize("train", [True, False])
def test_a_switch_net_is_the_bn_net_or_the_plain_net(key, train):
    """norm "switch": with `on` 1 the net computes what the BN net (norm "batch") computes,
    with `on` 0 what the plain net computes, bit for bit: outputs, statistics, gradients."""
    from bnjax.nn import set_switch
    from bnjax.train import loss_fn

    k1, k2 = jax.random.split(key)
    x, y = _x(k1, n=32, f=64), jax.random.randint(k2, (32,), 0, 10)
    switch = MLPSpec(depth=3, width=16, norm="switch")
    sw, sw_state = mlp_init(key, switch)
    assert sw.hidden[0].dense.b is not None and sw.hidden[0].norm.on == 1.0
    for bn in (True, False):
        spec = switch._replace(norm="batch" if bn else "none")
        ref, ref_state = mlp_init(key, spec)
        # the plain net's biases and BN's gamma, beta made non-trivial, the same in both nets
        ref = ref._replace(hidden=tuple(
            h._replace(dense=h.dense._replace(b=None if bn else 0.1 * h.dense.w[0]),
                       norm=h.norm._replace(gamma=1.0 + h.dense.w[1], beta=h.dense.w[2])
                       if bn else None) for h in ref.hidden))
        mine = set_switch(sw._replace(hidden=tuple(
            s._replace(dense=s.dense._replace(w=r.dense.w, b=0.1 * r.dense.w[0]),
                       norm=s.norm._replace(gamma=1.0 + r.dense.w[1], beta=r.dense.w[2]))
            for s, r in zip(sw.hidden, ref.hidden)), out=ref.out), 1.0 if bn else 0.0)
        (l1, (st1, _)), g1 = jax.value_and_grad(loss_fn, has_aux=True)(
            ref, ref_state, x, y, spec=spec, train=train)
        (l2, (st2, _)), g2 = jax.value_and_grad(loss_fn, has_aux=True)(
            mine, sw_state, x, y, spec=switch, train=train)
        assert l1 == l2
        for a, b in zip(jax.tree.leaves(st1), jax.tree.leaves(st2) if bn else []):
            np.testing.assert_array_equal(a, b)
        for a, b in zip(g1.hidden, g2.hidden):
            np.testing.assert_array_equal(a.dense.w, b.dense.w)
            if bn:  # the unused bias of a BN net gets no gradient at all
                assert float(jnp.abs(b.dense.b).max()) == 0.0
                np.testing.assert_array_equal(a.norm.gamma, b.norm.gamma)
            else:  # nor do a plain net's unused gamma and beta
                np.testing.assert_array_equal(a.dense.b, b.dense.b)
                assert float(jnp.abs(b.norm.gamma).max() + jnp.abs(b.norm.beta).max()) == 0.0


# ---------------------------------------------------------------------------- layer norm


def _ln_params(f=7):
    return LayerNormParams(1.0 + 0.1 * jnp.arange(float(f)), -0.2 * jnp.arange(float(f)))


@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("stats", [False, True])
def test_the_written_out_backward_pass_is_the_formulas_gradient(key, axis, stats):
    """`normalize_backward` against JAX differentiating the forward formula: every input's
    gradient, with gamma shared along the normalized axis (BN, ghost groups) or not (LN), the
    mean's and variance's own terms when a caller differentiates them, vmapped as the runner
    trains runs side by side."""
    k = jax.random.split(key, 4)
    x = 1.0 + 3.0 * jax.random.normal(k[0], (2, 16, 6, 9))  # (runs, ...) for the vmap
    shape = [1, 6, 9] if axis == 0 else [16, 6, 1] if axis == 1 else [1, 1, 9]
    gamma = 1.0 + 0.3 * jax.random.normal(k[1], (2, *shape))
    beta = jax.random.normal(k[2], (2, *shape))
    w = jax.random.normal(k[3], x.shape)

    def formula(x, gamma, beta, axis, eps):
        mean, var = x.mean(axis, keepdims=True), x.var(axis, keepdims=True)
        return gamma * (x - mean) / jnp.sqrt(var + eps) + beta, mean, var

    def loss(fn):
        def f(x, gamma, beta, w):
            y, mean, var = fn(x, gamma, beta, axis, EPS)
            return (jnp.tanh(y) * w).sum() + ((mean ** 2).sum() + var.sum() if stats else 0.0)
        return jax.vmap(jax.grad(f, argnums=(0, 1, 2)))

    for ours, theirs in zip(loss(normalize)(x, gamma, beta, w),
                            loss(formula)(x, gamma, beta, w)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5,
                                   atol=1e-5 * float(jnp.abs(theirs).max()))


def test_layernorm_matches_flax(key):
    x = _x(key)  # (32, 7), mean 3 and std 2.5: the mean and scale must really be removed
    p = _ln_params()
    flax_ln = fnn.LayerNorm(epsilon=EPS)
    y_flax = flax_ln.apply({"params": {"scale": p.gamma, "bias": p.beta}}, x)
    y, state = layernorm_apply(p, None, x, eps=EPS)
    np.testing.assert_allclose(y, y_flax, atol=1e-5)
    assert state is None


def test_layernorm_gradients_match_flax(key):
    k1, k2 = jax.random.split(key)
    x, w = _x(k1), jax.random.normal(k2, (32, 7))  # w: a random readout, no trivial gradient
    p = _ln_params()
    flax_ln = fnn.LayerNorm(epsilon=EPS)

    def ours(x, gamma, beta):
        return (layernorm_apply(LayerNormParams(gamma, beta), None, x, eps=EPS)[0] * w).sum()

    def theirs(x, gamma, beta):
        return (flax_ln.apply({"params": {"scale": gamma, "bias": beta}}, x) * w).sum()

    for g, g_flax in zip(jax.grad(ours, (0, 1, 2))(x, p.gamma, p.beta),
                         jax.grad(theirs, (0, 1, 2))(x, p.gamma, p.beta)):
        np.testing.assert_allclose(g, g_flax, atol=1e-5, rtol=1e-5)
        assert float(jnp.abs(g).max()) > 1e-3  # not trivially zero


def test_layernorm_standardizes_each_example_and_ignores_the_batch(key):
    x = _x(key, n=16, f=64)
    p, s = layernorm_init(64)
    y, _ = layernorm_apply(p, s, x)
    np.testing.assert_allclose(y.mean(1), 0.0, atol=1e-5)
    np.testing.assert_allclose(y.std(1), 1.0, atol=1e-3)
    # One example alone, or in another batch: bit for bit the same output.
    alone, _ = layernorm_apply(p, s, x[3:4])
    np.testing.assert_array_equal(alone[0], y[3])
    # Invariant to scaling a whole example (up to eps), not to a per-feature rescale.
    scaled, _ = layernorm_apply(p, s, 3.0 * x)
    np.testing.assert_allclose(scaled, y, atol=1e-5)
    per_unit, _ = layernorm_apply(p, s, x * jnp.linspace(0.5, 2.0, 64)[None, :])
    assert float(jnp.abs(per_unit - y).max()) > 0.1


def test_layernorm_mlp_is_the_same_in_train_and_eval_mode(key):
    spec = MLPSpec(depth=3, width=16, norm="layer")
    params, state = mlp_init(key, spec)
    assert state == (None, None, None)
    x = _x(key, n=20, f=64)
    train, s_train = mlp_apply(params, state, x, spec=spec, train=True)
    eval_, s_eval = mlp_apply(params, state, x, spec=spec, train=False)
    np.testing.assert_array_equal(train, eval_)
    assert s_train == s_eval == state
    assert population_state(params, x, spec=spec) == state
    # Per example: the first 5 rows alone give the same logits.
    np.testing.assert_allclose(mlp_apply(params, state, x[:5], spec=spec, train=True)[0],
                               train[:5], atol=1e-6)


@pytest.mark.parametrize("norm,kind", [("batch", BatchNormParams), ("layer", LayerNormParams),
                                       ("none", type(None))])
def test_each_norm_drops_the_bias_it_replaces(key, norm, kind):
    spec = MLPSpec(depth=2, width=8, norm=norm)
    params, state = mlp_init(key, spec)
    assert all(isinstance(h.norm, kind) and h.bn is h.norm for h in params.hidden)
    assert all((h.dense.b is None) == (norm != "none") for h in params.hidden)
    assert all((s is None) == (norm != "batch") for s in state)


def test_the_old_bn_switch_still_works():
    assert MLPSpec(bn=True).norm == "batch" and MLPSpec(bn=False).norm == "none"
    assert MLPSpec().bn and not MLPSpec(norm="layer").bn and not MLPSpec(bn=False).bn
    spec = MLPSpec(depth=2, width=8, norm="layer")
    assert spec._replace(bn=True) == MLPSpec(depth=2, width=8, bn=True)
    assert spec._replace(bn=False).norm == "none" and spec._replace(norm="batch").bn
    assert MLPSpec(2, 8, "relu", False) == MLPSpec(depth=2, width=8, norm="none")
    assert hash(MLPSpec(bn=True)) == hash(MLPSpec(norm="batch"))  # one compiled program
    with pytest.raises(ValueError, match="unknown normalization"):
        MLPSpec(norm="group")
    assert set(NORMS) >= {"batch", "layer", "none"}


# ---------------------------------------------------------------------------- the MLP


@pytest.mark.parametrize("depth,width,activation,bn", [
    (1, 8, "relu", True), (3, 16, "tanh", False), (4, 100, "sigmoid", True)])
def test_mlp_shapes(key, depth, width, activation, bn):
    spec = MLPSpec(depth=depth, width=width, activation=activation, bn=bn)
    params, state = mlp_init(key, spec)
    assert len(params.hidden) == depth and params.out.w.shape == (width, 10)
    assert all((h.dense.b is None) == bn and (h.bn is not None) == bn for h in params.hidden)
    x = jnp.ones((5, 64))
    logits, new_state, trace = mlp_apply(params, state, x, spec=spec, train=True, with_trace=True)
    assert logits.shape == (5, 10) and len(new_state) == depth
    assert all(t.shape == (5, width) for t in trace.z + trace.h + trace.a)


def test_gain_scales_the_init(key):
    spec = MLPSpec(depth=2, width=50)
    p1, _ = mlp_init(key, spec, 1.0)
    p3, _ = mlp_init(key, spec, 3.0)
    np.testing.assert_allclose(p3.hidden[0].dense.w, 3.0 * p1.hidden[0].dense.w, rtol=1e-6)
    std = float(p1.hidden[0].dense.w.std())
    assert abs(std - np.sqrt(2 / 64)) < 0.02  # He-normal


def test_population_state_is_the_full_batch_statistics(key):
    spec = MLPSpec(depth=2, width=16)
    params, state = mlp_init(key, spec)
    x = _x(key, n=100, f=64)
    pop = population_state(params, x, spec=spec)
    z1 = x @ params.hidden[0].dense.w
    np.testing.assert_allclose(pop[0].mean, z1.mean(0), atol=1e-5)
    np.testing.assert_allclose(pop[0].var, z1.var(0), rtol=1e-4)
    # Eval with population statistics = train mode on the whole set.
    train_logits, _ = mlp_apply(params, state, x, spec=spec, train=True)
    eval_logits, _ = mlp_apply(params, pop, x, spec=spec, train=False)
    np.testing.assert_allclose(eval_logits, train_logits, atol=1e-4)


def test_masks_ablate_units(key):
    spec = MLPSpec(depth=2, width=8, bn=False)
    params, state = mlp_init(key, spec)
    masks = (jnp.zeros(8).at[:4].set(1.0), jnp.ones(8))
    _, _, trace = mlp_apply(params, state, jnp.ones((3, 64)), spec=spec, train=False,
                            masks=masks, with_trace=True)
    assert float(jnp.abs(trace.a[0][:, 4:]).max()) == 0.0


def test_noise_and_dropout_act_only_in_train_mode_with_a_key(key):
    spec = MLPSpec(depth=2, width=16)
    params, state = mlp_init(key, spec)
    x = _x(key, n=16, f=64)
    clean, _ = mlp_apply(params, state, x, spec=spec, train=True)
    noisy, _ = mlp_apply(params, state, x, spec=spec, train=True, key=key, noise=0.5, dropout=0.3)
    zero, _ = mlp_apply(params, state, x, spec=spec, train=True, key=key, noise=0.0, dropout=0.0)
    assert not np.allclose(clean, noisy)
    np.testing.assert_allclose(clean, zero, atol=1e-6)
