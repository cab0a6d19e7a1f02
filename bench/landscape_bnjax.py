"""bnjax's side of the reference landscape (DESIGN.md, "Budgets"): 12 learning rates in
logspace(-3, 0) x 8 init gains in logspace(-1, 1) x {BN, plain}, 500 steps each; MLP
64-100-100-100-100-10, batch 64, SGD momentum 0.9, batch indices pre-sampled (seed 0), trained by
`bnjax.grid.train_grid` (one run per XLA CPU device per call, both devices in one program).

`bench/run.py` calls `bench_landscape(cold=..., lrs=..., gains=..., steps=...)`, interleaved with
the PyTorch peers. As a script it measures the grid's options (runs per device per call, and
chunk length) so the fastest can be kept in `bnjax.grid.GROUP`:

    python bench/landscape_bnjax.py                       # warm and cold seconds, default group
    python bench/landscape_bnjax.py --groups 1,2,4,8,48   # the group-size sweep
    BNJAX_DEVICES=1 python bench/landscape_bnjax.py       # one device, for comparison
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

LRS = np.logspace(-3, 0, 12)
GAINS = np.logspace(-1, 1, 8)
STEPS = 500
SEED = 0


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def bench_landscape(cold: bool = False, lrs=LRS, gains=GAINS, steps: int = STEPS,
                    group: int | None = None, chunk: int | None = None) -> dict:
    """Train the whole landscape once. Returns {"seconds", "cpu_seconds", "accs"}: wall and
    process CPU time of both grids, and the final test accuracy of every network in the order
    (BN first, then plain; lr-major, then gain), NaN for a diverged one.

    `cold=True` drops every compiled program first and bypasses the persistent compilation
    cache, so the time includes compiling (imports are already done)."""
    from bnjax import runtime
    runtime.configure()  # before jax computes: 2 CPU devices, the compilation cache
    import jax

    from bnjax import MLPSpec, TrainConfig, load_digits
    from bnjax.grid import GROUP, train_grid

    group = group or GROUP
    data = load_digits()
    if cold:
        jax.clear_caches()
        jax.config.update("jax_enable_compilation_cache", False)
    try:
        t0, c0 = time.perf_counter(), _cpu()
        accs = []
        for bn in (True, False):
            config = TrainConfig(MLPSpec(depth=4, width=100, bn=bn), optimizer="momentum")
            g = train_grid(config, lrs, gains, (SEED,), steps, data, every=steps,
                           chunk=chunk or steps, group=group)
            acc = np.where(g.diverged, np.nan, g.test_acc[:, -1])
            accs.extend(float(a) for a in acc)
        seconds, cpu = time.perf_counter() - t0, _cpu() - c0
    finally:
        if cold:
            jax.config.update("jax_enable_compilation_cache", True)
    return {"seconds": seconds, "cpu_seconds": cpu, "accs": accs}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--groups", default="", help="comma-separated runs per device per call")
    ap.add_argument("--chunks", default="", help="comma-separated steps per call")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    from bnjax import runtime
    runtime.configure()  # before jax computes: 2 CPU devices, the compilation cache
    import jax

    from bnjax.grid import GROUP
    print(f"devices: {len(jax.devices())}  (BNJAX_DEVICES={os.environ.get('BNJAX_DEVICES', '2')}),"
          f" load average {os.getloadavg()[0]:.1f}", flush=True)
    groups = [int(g) for g in args.groups.split(",") if g] or [GROUP]
    chunks = [int(c) for c in args.chunks.split(",") if c] or [STEPS]
    for group in groups:
        for chunk in chunks:
            cold = bench_landscape(cold=True, group=group, chunk=chunk)
            warm = [bench_landscape(group=group, chunk=chunk) for _ in range(args.repeats)]
            secs = sorted(w["seconds"] for w in warm)
            accs = np.array(warm[-1]["accs"]).reshape(2, -1)
            good = [int(np.sum(a >= 0.9)) for a in accs]
            div = [int(np.sum(np.isnan(a))) for a in accs]
            print(f"group {group:3d}/device  chunk {chunk:4d}: warm {secs[len(secs) // 2]:6.2f} s "
                  f"(min {secs[0]:.2f}, CPU {warm[-1]['cpu_seconds']:.1f} s)  cold "
                  f"{cold['seconds']:6.2f} s   good cells BN {good[0]}, plain {good[1]};"
                  f" diverged BN {div[0]}, plain {div[1]}; load {os.getloadavg()[0]:.1f}",
                  flush=True)


if __name__ == "__main__":
    main()
