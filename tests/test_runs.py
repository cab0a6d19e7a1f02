"""The runner (bnjax/runs.py): one program per config whatever the runs, a run's numbers do not
depend on its neighbours, the divergence freeze, probes, partial results as chunks finish."""
import contextlib

import jax
import numpy as np
import pytest
from jax import monitoring

from bnjax import MLPSpec, TrainConfig, hparams, load_digits, probes, runs

SMALL = TrainConfig(MLPSpec(depth=2, width=16, bn=True), "sgd", 32)
PLAIN = SMALL._replace(spec=SMALL.spec._replace(bn=False))

_compiles: list = []
monitoring.register_event_duration_secs_listener(
    lambda event, secs, **kw: _compiles.append(kw.get("fun_name"))
    if event == "/jax/core/compile/backend_compile_duration" else None)


@contextlib.contextmanager
def compiled():
    """The names of the programs XLA compiled while the block ran."""
    first = len(_compiles)
    names: list = []
    yield names
    names.extend(_compiles[first:])


@pytest.fixture(scope="module")
def data():
    return load_digits()


def test_key_data_on_the_host_is_jax_key_data():
    for seed in (0, 1, 7, 2**31 - 1, -3):
        np.testing.assert_array_equal(runs.key_data(seed),
                                      np.asarray(jax.random.key_data(jax.random.key(seed))))


def test_one_program_whatever_the_runs_steps_chunks_and_hparams(data):
    runs.train(SMALL, hparams(lr=0.1), (0, 1, 2), 60, data, probe=probes.test_accuracy)
    with compiled() as names:
        runs.train(SMALL, hparams(lr=np.array([0.01, 0.3, 1.0, 3.0, 0.2]), gain=2.0),
                   (4, 5, 6, 7, 8), 37, data, chunk=10, probe=probes.test_accuracy)
        runs.train(SMALL, hparams(lr=0.5), (9,), 120, data, chunk=100,
                   probe=probes.test_accuracy, probe_every=200)
    assert names == []
    # the counter is live: a new width is a new shape, and each program compiles once (the
    # fresh runs are laid out on the devices as training leaves them); the initial draws are
    # shared by every net of their bucket (runs.DrawBucket)
    with compiled() as names:
        runs.train(SMALL._replace(spec=SMALL.spec._replace(width=24)), hparams(), (0, 1, 2), 120,
                   data, probe=probes.test_accuracy)
    assert sorted(names) == ["jit(build_calls)", "jit(probe_calls)", "jit(train_calls)"]


def test_a_runs_numbers_do_not_depend_on_its_neighbours(data):
    """Alone, among other seeds, beside another config, a step count that pads the last call,
    or advanced one wave at a time: the same run gives the same numbers, bit for bit."""
    alone = runs.train(SMALL, hparams(lr=0.2), (3,), 130, data, probe=probes.test_accuracy)
    crowd = runs.train(SMALL, hparams(lr=np.array([0.5, 0.2, 0.1])), (1, 3, 3), 150, data,
                       probe=probes.test_accuracy, together=1)
    both = runs.train_together({"bn": runs.Job(SMALL, hparams(lr=0.2), (3,)),
                                "plain": runs.Job(PLAIN, hparams(lr=0.2), (3,))}, 130, data)
    np.testing.assert_array_equal(alone.loss[0], crowd.loss[1, :130])
    np.testing.assert_array_equal(alone.loss[0], both["bn"].loss[0])
    np.testing.assert_array_equal(alone.probes[0][0, :3], crowd.probes[0][1, :3])
    for a, b in zip(jax.tree.leaves(alone.carry.params), jax.tree.leaves(both["bn"].carry.params)):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(both["bn"].loss, both["plain"].loss)
    assert np.isfinite(alone.loss).all() and alone.loss.shape == (1, 130)


def test_learns_and_probes_where_asked(data):
    r = runs.train(SMALL, hparams(lr=0.1), (0, 1), 200, data, chunk=50,
                   probe=(probes.test_accuracy, probes.weight_norms), probe_every=100)
    (acc, loss), w_norm = r.probes
    assert list(r.probe_steps) == [0, 100, 200]
    assert acc.shape == (2, 3) and w_norm.shape == (2, 3, 2)
    assert np.all(acc[:, 0] < 0.3) and np.all(acc[:, -1] > 0.85)  # trained from chance
    assert np.all(r.loss[:, -20:].mean(1) < 0.5 * r.loss[:, :5].mean(1))
    assert not r.divergence.any() and list(r.divergence.step) == [0, 0]


def test_divergence_is_one_flagged_result(data):
    r = runs.train(PLAIN._replace(spec=PLAIN.spec._replace(depth=4, width=100)),
                   hparams(lr=np.array([3.0, 0.05])), (0, 0), 200, data,
                   probe=probes.test_accuracy)
    assert list(r.divergence.flag) == [True, False] and r.divergence.of(["a", "b"]) == ["a"]
    first = int(np.argmax(~np.isfinite(r.loss[0])))
    assert r.divergence.step[0] == first + 1 and r.divergence.step[1] == 0
    assert np.isfinite(r.loss[0, :first]).all() and np.isnan(r.loss[0, first:]).all()
    acc = r.probes[0]
    after = r.probe_steps >= r.divergence.step[0]
    assert np.isnan(acc[0, after]).all() and np.isfinite(acc[1]).all()
    # the last finite parameters are kept
    assert all(np.isfinite(w).all() for w in jax.tree.leaves(r.carry.params))


def test_a_diverged_runs_device_rests_and_its_partner_is_unchanged(data, monkeypatch):
    """Once the runner has read that a run diverged, its device takes no more steps (it would
    only repeat the frozen state); the run beside it trains exactly as alone."""
    config = PLAIN._replace(spec=PLAIN.spec._replace(depth=4, width=100))
    counts = []
    program = runs.chunk_program

    def spy(carry, idx, hp, n, *args, **kw):
        counts.append(np.asarray(n).tolist())
        return program(carry, idx, hp, n, *args, **kw)
    monkeypatch.setattr(runs, "chunk_program", spy)
    pair = runs.train(config, hparams(lr=np.array([3.0, 0.05])), (0, 0), 300, data, chunk=50)
    monkeypatch.setattr(runs, "chunk_program", program)
    alone = runs.train(config, hparams(lr=0.05), (0,), 300, data, chunk=50)
    assert pair.divergence.flag.tolist() == [True, False]
    # The chunk it diverged in is read once the next one is under way: both devices train
    # up to that one, then only the partner's.
    known = int(np.ceil(pair.divergence.step[0] / 50)) + 1
    assert len(counts) == 6 and known < 6
    assert counts == [[50, 50]] * known + [[0, 50]] * (6 - known), counts
    np.testing.assert_array_equal(pair.loss[1], alone.loss[0])
    assert np.isnan(pair.loss[0, pair.divergence.step[0] - 1:]).all()


def test_partial_results_arrive_chunk_by_chunk(data):
    seen = []

    def on_chunk(partials):
        p = partials["bn"]
        seen.append((p.steps_done.copy(), np.isfinite(p.loss).sum(1), p.probed().copy(),
                     np.isfinite(partials["plain"].loss).sum(1)))
    jobs = {"bn": runs.Job(SMALL, hparams(lr=0.1), (0, 1, 2)),
            "plain": runs.Job(PLAIN, hparams(lr=0.1), (0, 1, 2))}
    out = runs.train_together(jobs, 120, data, chunk=50, probe=probes.test_accuracy,
                              on_chunk=on_chunk)
    done = [int(s.min()) for s, *_ in seen]
    assert done == [0, 50, 100, 120]  # the fresh nets first, then every chunk
    for steps_done, finite, probed, plain in seen:
        assert list(finite) == list(steps_done) and list(plain) == list(steps_done)
        assert probed.sum() == 1 + int(np.ceil(steps_done.min() / 50))
    assert out["bn"].done and np.isfinite(out["bn"].probes[0]).all()


def test_grid_keeps_its_shape_and_order(data):
    from bnjax.grid import train_grid
    calls = []
    g = train_grid(PLAIN, [0.1, 1e4], [1.0, 2.0], [0, 1], 40, data, every=10,
                   progress=lambda f, m: calls.append((f, m)))
    assert list(g.gain[:3]) == [1.0, 1.0, 2.0] and list(g.seed[:3]) == [0, 1, 0]
    assert g.loss.shape == (8, 40) and g.test_acc.shape == (8, 4) and g.w_norm.shape == (8, 4, 2)
    assert list(g.eval_steps) == [10, 20, 30, 40]
    assert calls[-1] == (1.0, "8 of 8 networks trained")
    assert not g.diverged[:4].any() and g.diverged[4:].any()  # a dead ReLU net stays finite
    assert np.isnan(g.test_acc[g.diverged, -1]).all() and np.isfinite(g.test_acc[:4]).all()


def test_fresh_runs_are_init_carry_bit_for_bit():
    """The runner initializes each run on its device at LLVM level 1: the same parameters, bit
    for bit, as `train.init_carry` at the default level."""
    from bnjax.train import init_carry
    config = TrainConfig(MLPSpec(depth=3, width=24, bn=False, activation="tanh"), "adam")
    seeds, gains = (0, 5, 911), np.array([0.25, 1.0, 3.7], np.float32)
    r = runs.train(config, hparams(gain=gains, lr=0.0), seeds, 1, load_digits())
    ref = jax.jit(lambda key, hp: init_carry(key, hp, config=config))
    for i, (seed, gain) in enumerate(zip(seeds, gains)):
        one = ref(jax.random.key(seed), hparams(gain=gain))
        for a, b in zip(jax.tree.leaves(one.params), jax.tree.leaves(r.carry.params)):
            np.testing.assert_array_equal(np.asarray(a), b[i])  # lr 0: one step moves nothing


@pytest.mark.parametrize("spec, optimizer", [
    (MLPSpec(depth=8, width=64, norm="switch"), "sgd"),  # page 3
    (MLPSpec(depth=3, width=128, norm="switch"), "momentum"),  # page 4's ablation
    (MLPSpec(depth=4, width=64, activation="sigmoid"), "momentum"),
    (MLPSpec(depth=1, width=100, norm="layer", activation="tanh"), "adam"),
    (MLPSpec(depth=2, width=200, bn=False), "sgd"),  # a larger bucket
])
def test_one_draw_program_for_nets_of_many_shapes_bit_for_bit(data, spec, optimizer):
    """The initial draws come from one program per bucket (`runs.DrawBucket`: depth, width,
    normalization, activation all free within it), and every shape's weights are still
    `train.init_carry`'s, bit for bit, at any gain."""
    from bnjax.train import init_carry
    config = TrainConfig(spec, optimizer)
    seeds, gains = (3, 40), np.array([0.7, 3.7], np.float32)
    runs.train(TrainConfig(MLPSpec(depth=2, width=16), "sgd"), hparams(), (0,), 1, data)
    with compiled() as names:
        r = runs.train(config, hparams(gain=gains, lr=0.0), seeds, 1, data)
    if runs._drawn_shape(spec) == runs._drawn_shape(MLPSpec(depth=2, width=16)):
        assert "jit(draw_calls)" not in names
    ref = jax.jit(lambda key, hp: init_carry(key, hp, config=config))
    for i, (seed, gain) in enumerate(zip(seeds, gains)):
        one = ref(jax.random.key(seed), hparams(gain=gain, bn=1.0))
        for a, b in zip(jax.tree.leaves(one.params), jax.tree.leaves(r.carry.params)):
            np.testing.assert_array_equal(np.asarray(a), b[i])


def test_nets_of_one_shape_share_their_random_draws(data):
    """BN, LayerNorm and plain nets of one shape (and any optimizer) share the program that draws
    the initial weights; each only assembles its own structure (no random numbers)."""
    shape = MLPSpec(depth=2, width=20, activation="sigmoid")
    runs.train(TrainConfig(shape, "sgd"), hparams(), (0,), 5, data)
    with compiled() as names:
        for spec, opt in ((shape._replace(bn=False), "momentum"), (shape._replace(norm="layer"),
                                                                    "adam")):
            runs.train(TrainConfig(spec, opt), hparams(), (0,), 5, data)
    assert "jit(draw_calls)" not in names and names.count("jit(build_calls)") == 2


def test_nets_that_differ_only_in_their_running_average_decay_share_programs(data):
    """The decay of BN's running statistics is data, not a new program: it changes nothing in
    training (train mode normalizes with the batch), only what the running statistics average."""
    base = TrainConfig(MLPSpec(depth=2, width=12), "sgd", 32)
    jobs = {d: runs.Job(base._replace(decay=d), hparams(lr=0.1), (0,)) for d in (0.9, 0.999)}
    out = runs.train_together(jobs, 40, data, probe=probes.test_accuracy)
    with compiled() as names:
        again = runs.train_together({0.99: runs.Job(base._replace(decay=0.99), hparams(lr=0.1),
                                                    (0,))}, 40, data, probe=probes.test_accuracy)
    assert names == []
    np.testing.assert_array_equal(out[0.9].loss, out[0.999].loss)  # the same training
    np.testing.assert_array_equal(out[0.9].loss, again[0.99].loss)
    slow, fast = out[0.999].carry.state[0].var[0], out[0.9].carry.state[0].var[0]
    assert np.abs(slow - 1.0).mean() < np.abs(fast - 1.0).mean()  # the slow average lags


def test_a_cold_call_reports_while_it_compiles_and_stops_when_asked(data):
    """While its programs compile, the runner reports progress every runs.BEAT seconds: a page
    shows it, and a page whose viewer left stops there (its progress callback raises) instead
    of after the compile."""
    class Left(Exception):
        pass

    seen = []

    def progress(fraction, message):
        seen.append(message)
        raise Left

    cold = TrainConfig(MLPSpec(depth=3, width=28, activation="tanh"), "momentum")  # not compiled
    with pytest.raises(Left):
        runs.train(cold, hparams(), (0,), 100, data, progress=progress)
    assert len(seen) == 1 and "compiling" in seen[0]


def test_a_probe_measured_after_training_compiles_once_the_first_chunk_is_reported(data):
    """A probe first measured after training (`probe_at_start=False`, `probe_every=steps`)
    compiles in a background thread once the first chunk is reported: the first chunk, a live
    chart's first data, does not share the cores with it; the measurement finds it compiled
    (one compile), and the numbers are those of a run whose probe compiled up front."""
    import threading

    events = []
    listener = (lambda event, secs, **kw: events.append(
        (kw.get("fun_name"), threading.current_thread().name))
        if event == "/jax/core/compile/backend_compile_duration" else None)
    monitoring.register_event_duration_secs_listener(listener)
    cold = TrainConfig(MLPSpec(depth=2, width=44), "sgd", 32)  # no other test's shape
    reports = []
    late = runs.train(cold, hparams(lr=0.1), (0, 1), 60, data, chunk=20,
                      probe=probes.test_accuracy, probe_every=60, probe_at_start=False,
                      progress=lambda f, m: reports.append((f, len(events))))
    first_report = next(n for f, n in reports if f > 0)
    probes_compiled = [(i, t) for i, (name, t) in enumerate(events)
                       if name == "jit(probe_calls)"]
    assert len(probes_compiled) == 1, events
    (at, thread), = probes_compiled
    assert at >= first_report and thread.startswith("bnjax-compile"), (events, reports)
    early = runs.train(cold, hparams(lr=0.1), (0, 1), 60, data, chunk=20,
                       probe=probes.test_accuracy, probe_every=60, probe_at_start=True)
    np.testing.assert_array_equal(late.loss, early.loss)
    for a, b in zip(jax.tree.leaves(late.probes), jax.tree.leaves(early.probes)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b)[:, 1:])


def test_a_lagging_probe_lets_reports_go_first_and_measures_the_same_numbers(data):
    """`probe_lag`: a report does not wait for the probe's program. It compiles after the
    training program (not beside it), training goes on meanwhile, and the states it missed are
    measured once it is in: every report's `probed()` columns hold finished measurements, and
    the result is bit for bit that of a run whose probe was compiled up front, diverged runs'
    NaN included."""
    import threading

    events = []
    listener = (lambda event, secs, **kw: events.append(kw.get("fun_name"))
                if event == "/jax/core/compile/backend_compile_duration" else None)
    monitoring.register_event_duration_secs_listener(listener)

    def accuracy(snap, config):  # a probe no other test compiled: its program is cold
        return probes.test_accuracy(snap, config)

    cold = PLAIN._replace(spec=PLAIN.spec._replace(depth=3, width=52))  # no other test's shape
    hp = hparams(lr=np.array([0.05, 40.0, 0.1]))  # the second run diverges
    seen = []

    def on_chunk(p):
        measured = p.probed()
        acc = p.probes[0][0] if p.probes is not None else None  # (a tuple while training)
        ok = ~p.divergence.flag
        seen.append((int(p.steps_done.min()), measured.copy(), len(events),
                     acc is None or bool(np.isfinite(acc[ok][:, measured]).all()),
                     threading.current_thread().name))
    lagged = runs.train(cold, hp, (0, 1, 2), 200, data, chunk=20, probe=accuracy,
                        probe_every=40, probe_lag=True, on_chunk=on_chunk)
    assert events.index("jit(train_calls)") < events.index("jit(probe_calls)"), events
    assert seen[0][0] > 0 and not seen[0][1].any(), seen[0]  # training's report came first
    assert all(finite for *_, finite, _ in seen)  # a column counts once every run is in
    assert seen[-1][1].all() and not lagged.owed.any()
    assert lagged.divergence.flag.tolist() == [False, True, False]
    upfront = runs.train(cold, hp, (0, 1, 2), 200, data, chunk=20, probe=accuracy,
                         probe_every=40)
    np.testing.assert_array_equal(lagged.loss, upfront.loss)
    np.testing.assert_array_equal(lagged.divergence.step, upfront.divergence.step)
    for a, b in zip(jax.tree.leaves(lagged.probes), jax.tree.leaves(upfront.probes)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_a_cold_call_without_progress_still_tells_its_waiters(data, monkeypatch):
    """An experiment that passes the runner no `progress` (most do: they report per chunk)
    still calls `while_compiling`'s callback while its programs compile: there the dashboard's
    background warm-up steps aside for a viewer who just arrived, before its first chunk."""
    class Viewer(Exception):
        pass

    heard = []

    def waiter():
        heard.append(1)
        raise Viewer

    monkeypatch.setattr(runs, "BEAT", 0.001)  # any compile outlasts it
    cold = TrainConfig(MLPSpec(depth=2, width=36, activation="tanh"), "momentum")  # not compiled
    with runs.while_compiling(waiter), pytest.raises(Viewer):
        runs.train(cold, hparams(), (0,), 100, data)
    assert heard == [1]
    runs.train(cold, hparams(), (0,), 10, data)  # outside the block: nobody is told
    assert heard == [1]
