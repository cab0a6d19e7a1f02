"""Training: it learns, it compiles once across slider values, it is deterministic, it flags
divergence instead of crashing."""
import contextlib
import json
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bnjax import MLPSpec, TrainConfig, hparams, load_digits, train_runs
from bnjax.train import _broadcast, init_carry, init_runs

SMALL = TrainConfig(MLPSpec(depth=2, width=32, bn=True), "momentum", 64)


_backend_compiles: list = []
jax.monitoring.register_event_duration_secs_listener(
    lambda event, secs, **kw: _backend_compiles.append(kw.get("fun_name", "?"))
    if event == "/jax/core/compile/backend_compile_duration" else None)


@contextlib.contextmanager
def count_compiles():
    """The programs XLA compiled while the block ran, in any thread (the runner compiles a
    call's programs ahead in threads of its own)."""
    first = len(_backend_compiles)
    records: list = []
    yield records
    records.extend(_backend_compiles[first:])


def _compiles(records):
    return list(records)


@pytest.fixture(scope="module")
def data():
    return load_digits()


def test_loss_decreases_and_nets_learn(data):
    for bn in (True, False):
        runs = train_runs(SMALL._replace(spec=SMALL.spec._replace(bn=bn)), hparams(lr=0.05),
                          (0, 1), 400, data)
        assert np.all(runs.loss[:, -50:].mean(1) < 0.25 * runs.loss[:, :10].mean(1))
        assert np.all(runs.test_acc[:, -1] > 0.9) and not runs.diverged.any()


def test_slider_values_compile_nothing_new(data):
    train_runs(SMALL, hparams(lr=0.1), (0, 1), 100, data)  # warm-up: compiles
    with count_compiles() as records:
        for lr, gain, noise, dropout in [(0.03, 1.0, 0.0, 0.0), (0.5, 2.0, 0.0, 0.0)]:
            train_runs(SMALL, hparams(lr=lr, gain=gain, noise=noise, dropout=dropout), (0, 1), 100,
                       data)
    assert _compiles(records) == []
    stochastic = SMALL._replace(stochastic=True)
    train_runs(stochastic, hparams(lr=0.1, noise=0.1, dropout=0.1), (0, 1), 100, data)
    with count_compiles() as records:
        train_runs(stochastic, hparams(lr=0.2, noise=0.3, dropout=0.4), (0, 1), 100, data)
    assert _compiles(records) == []
    # The counter is live: a new depth is a new shape and must compile.
    with count_compiles() as records:
        train_runs(SMALL._replace(spec=SMALL.spec._replace(depth=3)), hparams(lr=0.1), (0, 1), 20,
                   data)
    assert _compiles(records) != []


def test_same_seed_same_numbers_in_a_fresh_process(data):
    code = ("import json; from bnjax import runtime; runtime.configure(); from bnjax import *; "
            "r = train_runs(TrainConfig(MLPSpec(depth=2, width=32), 'momentum', 64, True), "
            "hparams(lr=0.1, dropout=0.1, noise=0.1), (3,), 200, load_digits()); "
            "print(json.dumps([r.loss[0].tolist(), r.test_acc[0].tolist()]))")
    # One fresh process (which imports, compiles and trains from scratch) against this one.
    outs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True).stdout]
    here = train_runs(TrainConfig(MLPSpec(depth=2, width=32), "momentum", 64, True),
                      hparams(lr=0.1, dropout=0.1, noise=0.1), (3,), 200, data)
    loss, _ = json.loads(outs[0])
    np.testing.assert_allclose(here.loss[0], loss, rtol=1e-6)


def test_a_different_seed_gives_different_numbers(data):
    a = train_runs(SMALL, hparams(lr=0.1), (0,), 100, data)
    b = train_runs(SMALL, hparams(lr=0.1), (1,), 100, data)
    assert not np.allclose(a.loss, b.loss)


def test_divergence_is_a_flagged_result(data):
    plain = SMALL._replace(spec=SMALL.spec._replace(bn=False, depth=4, width=100))
    runs = train_runs(plain, hparams(lr=3.0), (0, 1), 300, data)
    assert runs.diverged.all()
    first = np.argmax(~np.isfinite(runs.loss), axis=1)
    assert np.all(np.isfinite(runs.loss[0, :first[0]]))  # finite until it diverged
    assert np.isnan(runs.test_acc).all()
    # The last finite parameters are kept: nothing inside is NaN.
    w = runs.carry.params.hidden[0].dense.w
    assert np.isfinite(np.asarray(w)).all()


def test_per_run_hyperparameters(data):
    runs = train_runs(SMALL, hparams(lr=np.array([0.0, 0.1])), (0, 0), 100, data)
    assert np.allclose(runs.loss[0, 0], runs.loss[1, 0])  # same seed, same first batch
    w0 = runs.carry.params.hidden[0].dense.w
    assert not np.allclose(w0[0], w0[1])  # lr 0 left run 0 where it started; run 1 moved


def test_update_ratio_tracked(data):
    runs = train_runs(SMALL._replace(track=True), hparams(lr=0.1), (0,), 100, data)
    assert runs.update_ratio.shape == (1, 100, 2)
    assert np.all((runs.update_ratio > 1e-5) & (runs.update_ratio < 1.0))


@pytest.mark.parametrize("bn,lr", [(True, 0.1), (False, 3.0)])
def test_single_run_program_matches_the_vmapped_one(data, bn, lr):
    """`train_chunk` (one run, a `cond` freezes divergence) agrees with `train_runs` (vmapped
    runs, a select freezes it), on a healthy run and on one that diverges."""
    import jax.numpy as jnp
    from bnjax.data import batch_indices
    from bnjax.train import init_carry, train_chunk
    config = SMALL._replace(spec=SMALL.spec._replace(bn=bn, depth=4, width=100))
    hp = hparams(lr=lr)
    runs = train_runs(config, hp, (5,), 200, data, chunk=100)
    carry = init_carry(jax.random.key(5), hp, config=config)
    idx = batch_indices(5, 200, 64, len(data.x_train))
    losses = []
    for start in (0, 100):
        carry, m = train_chunk(carry, jnp.asarray(idx[start:start + 100]), hp,
                               jnp.asarray(data.x_train), jnp.asarray(data.y_train), config)
        losses.append(np.asarray(m.loss))
    # Same math, different op order: rounding differences only (a wrong step would be O(1)),
    # across the chunk boundary at step 100. Later steps are compared loosely: at lr 0.1 the
    # healthy run is chaotic (changing its lr by 1e-7 moved its loss by 9% by step 160).
    single = np.concatenate(losses)
    np.testing.assert_allclose(single[:110], runs.loss[0, :110], rtol=1e-3, atol=1e-5)
    if bn:  # (the plain run diverges: NaN after that, and the flag below says so)
        np.testing.assert_allclose(single[-50:].mean(), runs.loss[0, -50:].mean(), rtol=0.25)
    assert bool(carry.diverged) == bool(runs.diverged[0]) == (not bn)


def test_init_programs_compiled_faster_give_the_same_bits():
    """`init_runs` compiles at LLVM level 1 (`INIT_COMPILER_OPTIONS`, half the compile time):
    the same parameters, bit for bit, as `init_carry` jitted at the default level."""
    ref = jax.jit(lambda key, hp, config: init_carry(key, hp, config=config),
                  static_argnames="config")
    seeds, gains = (0, 5, 911), (0.25, 1.0, 3.7)
    # (the runner's own initialization: tests/test_runs.py, for other shapes and optimizers)
    for config in (TrainConfig(MLPSpec(depth=4, width=100)),):
        keys = jnp.stack([jax.random.key(s) for s in seeds])
        runs = init_runs(keys, _broadcast(hparams(gain=gains), 3), config)
        for i, (seed, gain) in enumerate(zip(seeds, gains)):
            one = ref(jax.random.key(seed), hparams(gain=gain), config)
            for a, b in zip(jax.tree.leaves(one.params), jax.tree.leaves(runs.params)):
                np.testing.assert_array_equal(np.asarray(a), np.asarray(b)[i])


def test_an_effective_batch_is_the_smaller_batch(data):
    """`TrainConfig(groups=...)`: the first `batch` rows of a static batch count, the rest are
    padding. Loss and gradient are those of the smaller batch alone, to float rounding."""
    from bnjax.nn import mlp_init, row_groups
    from bnjax.train import loss_fn

    for norm in ("batch", "layer", "none"):
        spec = MLPSpec(depth=2, width=16, norm=norm)
        params, state = mlp_init(jax.random.key(0), spec)
        x, y = jnp.asarray(data.x_train[:64]), jnp.asarray(data.y_train[:64])
        grad = jax.grad(loss_fn, has_aux=True)
        g24, _ = grad(params, state, x[:24], y[:24], spec=spec)
        g64, _ = grad(params, state, x, y, spec=spec, groups=row_groups(64, rows=24))
        for a, b in zip(jax.tree.leaves(g24), jax.tree.leaves(g64)):
            np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-4)


def test_ghost_and_batch_sizes_are_data_one_program(data):
    """Ghost sizes and effective batch sizes of a groups config compile nothing new; ghost 0
    (one group) trains as ordinary BN does, to float rounding amplified by a few steps."""
    grouped = TrainConfig(MLPSpec(depth=2, width=32), "momentum", 64, groups=4)
    train_runs(grouped, hparams(lr=0.1, ghost=8), (0, 1), 100, data)
    with count_compiles() as records:
        r = train_runs(grouped, hparams(lr=0.1, ghost=np.array([0.0, 4.0, 16.0, 0.0]),
                                        batch=np.array([0.0, 0.0, 0.0, 12.0])),
                       (0, 0, 0, 0), 100, data)
    assert _compiles(records) == []
    plain_bn = train_runs(TrainConfig(MLPSpec(depth=2, width=32), "momentum", 64),
                          hparams(lr=0.1), (0,), 100, data)
    np.testing.assert_allclose(r.loss[0, :20], plain_bn.loss[0, :20], rtol=1e-4)
    assert not np.allclose(r.loss[1], r.loss[0])  # ghost groups of 4: another run
    assert np.all(r.test_acc[:, -1] > 0.8) and not r.diverged.any()
