"""XLA CPU compile options: compile time against run time, for the runner's programs.

    python bench/xla_options.py                   # every program, every option set
    python bench/xla_options.py --only train      # or: probe, init, noise
    python bench/xla_options.py --only train --options default --unroll 1 2   # runs.UNROLL

A program that runs briefly (a probe between chunks, an initialization) should compile cheaply;
one that trains for thousands of steps should run fast. For each program of `bnjax.runs` at the
lab's typical shapes and each option set, this prints the compile time (wall and this process's
CPU seconds; the persistent cache is off) and the run time of one call, median of several.
Option sets are XLA debug options passed as `jax.jit(..., compiler_options=...)`.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

OPTIONS = {
    "default": {},
    "O1": {"xla_backend_optimization_level": 1},
    "O0": {"xla_backend_optimization_level": 0},
    "O2": {"xla_backend_optimization_level": 2},
    "O3": {"xla_backend_optimization_level": 3},
    "no-expensive": {"xla_llvm_disable_expensive_passes": True},
    "O1+no-expensive": {"xla_backend_optimization_level": 1,
                        "xla_llvm_disable_expensive_passes": True},
    "no-unroll": {"xla_cpu_disable_loop_unrolling": True},
    "xnnpack": {"xla_cpu_use_xnnpack": True},
    "no-thunks": {"xla_cpu_use_thunk_runtime": False},
    "split4": {"xla_cpu_parallel_codegen_split_count": 4},
    "no-slp": {"xla_cpu_disable_slp_vectorizer": True},
    "size": {"xla_cpu_optimize_for_size": True},
}


def programs():
    """(kind, label, jitted-function builder, args, kwargs) of the programs to measure."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    from bnjax import probes, runs
    from bnjax.data import Dataset, load_digits
    from bnjax.nn import MLPSpec
    from bnjax.train import Hparams, TrainConfig

    data = load_digits()
    d = runs.devices()
    run_sh, rep_sh = NamedSharding(runs.mesh(d), P("runs")), NamedSharding(runs.mesh(d), P())
    arrays = Dataset(*(jax.device_put(jnp.asarray(a), rep_sh) for a in data))
    out = []
    configs = {
        "8x64 sgd BN": TrainConfig(MLPSpec(depth=8, width=64), "sgd"),
        "8x64 sgd plain": TrainConfig(MLPSpec(depth=8, width=64, bn=False), "sgd"),
        "8x64 sgd BN noise": TrainConfig(MLPSpec(depth=8, width=64), "sgd", stochastic="noise"),
        "4x100 momentum BN track": TrainConfig(MLPSpec(depth=4, width=100), "momentum",
                                               track=True),
        "3x128 momentum plain dropout": TrainConfig(MLPSpec(depth=3, width=128, bn=False),
                                                    "momentum", stochastic="dropout"),
        "3x64 momentum BN groups (page 4)": TrainConfig(MLPSpec(depth=3, width=64), "momentum",
                                                       192, groups=8),
        "3x64 momentum BN (page 4)": TrainConfig(MLPSpec(depth=3, width=64), "momentum", 192),
    }
    for label, config in configs.items():
        keys = np.stack([runs.key_data(s) for s in range(d)])
        hp = jax.device_put(Hparams(*(np.full(d, v, np.float32)
                                      for v in (0.05, 1.0, 0.25, 0.2, 1.0, 32, 0, 1))), run_sh)
        carry = runs.init_program(jax.device_put(keys, run_sh), hp,
                                  config=TrainConfig(config.spec, config.optimizer))
        idx = jax.device_put(np.random.default_rng(0).integers(
            0, len(data.x_train), (d, runs.CALL_STEPS, config.batch_size)).astype(np.int32),
            run_sh)
        kind = "noise" if config.stochastic else "train"
        count = jax.device_put(np.full(d, runs.CALL_STEPS, np.int32), run_sh)
        out.append((kind, label, runs.train_calls, (carry, idx, hp, count,
                                                     np.float32(0.9), arrays.x_train,
                                                     arrays.y_train),
                    {"config": config}))
        if label == "8x64 sgd BN":
            nxt = idx[:, 0]
            out.append(("probe", label + " test_accuracy", runs.probe_calls,
                        (carry, hp, nxt, arrays, (), np.float32(0.9)),
                        {"fns": (probes.test_accuracy,), "config": config}))
            out.append(("init", label + " init draws", runs.draw_calls,
                        (jax.device_put(keys, run_sh),),
                        {"bucket": runs._drawn_shape(config.spec)}))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", help="program kinds: train, noise, probe, init")
    ap.add_argument("--options", nargs="*", help=f"option sets, of {list(OPTIONS)}")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--unroll", nargs="*", type=int, default=None,
                    help="training steps per loop iteration of the runner (runs.UNROLL) to "
                         "compare, e.g. 1 2 (stochastic programs always take 1)")
    args = ap.parse_args()
    from bnjax import runtime
    runtime.configure(cache_dir=None)  # every compile is a real one
    import jax

    print(f"load average {os.getloadavg()[0]:.1f}; devices {len(jax.devices())}")
    print(f"{'program':42s} {'options':16s} {'compile s':>10s} {'CPU s':>7s} {'call ms':>9s}")
    for kind, label, fn, a, kw in programs():
        if args.only and kind not in args.only:
            continue
        for (name, opts), unroll in ((o, u) for o in OPTIONS.items()
                                     for u in (args.unroll or [None])):
            if args.options and name not in args.options:
                continue
            if unroll is not None:
                from bnjax import runs
                runs.UNROLL = unroll
                name = f"{name} unroll {unroll}"
            jitted = jax.jit(fn, static_argnames=list(kw), compiler_options=opts or None)
            lowered = jitted.lower(*a, **kw)
            jax.clear_caches()  # no compiled executable reused from memory
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                compiled = lowered.compile()
            except jax.errors.JaxRuntimeError as err:  # an option this XLA does not know
                print(f"{label:42s} {name:16s} not supported: {str(err)[:60]}", flush=True)
                continue
            secs, cpu = time.perf_counter() - t0, time.process_time() - c0
            jax.block_until_ready(compiled(*a))
            times = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                jax.block_until_ready(compiled(*a))
                times.append(time.perf_counter() - t0)
            print(f"{label:42s} {name:16s} {secs:10.2f} {cpu:7.2f} "
                  f"{1000 * statistics.median(times):9.2f}", flush=True)
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
