"""bnjax against PyTorch and Flax NNX on the reference workload of DESIGN.md ("Budgets").

    python bench/run.py                    # all three sections, about 15 min on a quiet 2-core machine
    python bench/run.py --quick            # fewer repeats: a smoke check
    python bench/run.py --only single      # or: cold, landscape

Sections:
  single     one 2000-step run (MLP 64-100-100-100-100-10, BN or plain, batch 64, SGD momentum 0.9,
             lr 0.1), warm: bnjax (`init_carry` + `train_chunk`, one run, several chunk sizes), a
             PyTorch eager loop on 1 thread, the Flax NNX tutorial idiom (`@nnx.jit` step per batch).
  cold       a fresh process per contender: import + compile + the first 2000-step run, wall time.
  landscape  192 networks x 500 steps (12 lr x 8 gains x {BN, plain}): PyTorch in a pool of 2
             one-thread processes, PyTorch in one loop on 1 thread, bnjax (`bench/landscape_bnjax.py`).

Honest by construction: every contender gets the same standardized digits, the same pre-sampled
batch indices and the same initial weights (bnjax's, copied into the peers); each contender lives
in its own process (no framework shares a process with another); the contenders alternate within
every repeat (the order rotates) and the table reports medians with the min-max spread. The
sanity columns show each run's final training loss (mean of the last 100 steps) and test accuracy
(eval mode with running statistics), which must agree across contenders.
"""
from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import multiprocessing as mp
import os
import pickle
import platform
import statistics
import subprocess
import sys
import time
import traceback
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _p in (str(ROOT), str(HERE)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

STEPS, BATCH, LR, SEED = 2000, 64, 0.1, 0
CHUNKS = (250, 500, 1000, 2000)  # bnjax steps per compiled call, all measured
HEADLINE_CHUNK = 500  # the bnjax row the ratios use (measured fastest or tied, see README.md)
VARIANTS = (("BN", True), ("plain", False))
LAND_LRS = np.logspace(-3, 0, 12)
LAND_GAINS = np.logspace(-1, 1, 8)
LAND_STEPS = 500
GOOD = 0.9  # a landscape cell is "good" at this test accuracy

# ---------------------------------------------------------------------------- shared inputs


def load_data():
    """Digits as bnjax loads them, and the pre-sampled batch indices. `bnjax/data.py` imports only
    numpy (and scikit-learn inside the loader), so it is loaded by path: a PyTorch process never
    imports jax through `bnjax/__init__.py`."""
    spec = importlib.util.spec_from_file_location("_bnjax_data", ROOT / "bnjax" / "data.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    d = mod.load_digits()
    data = {k: np.array(v) for k, v in d._asdict().items()}
    n = len(data["x_train"])
    return data, mod.batch_indices(SEED, STEPS, BATCH, n), mod.batch_indices(SEED, LAND_STEPS, BATCH, n)


def landscape_cells():
    """(bn, lr, gain) for every network of the reference landscape, BN first."""
    return [(bn, float(lr), float(g)) for _, bn in VARIANTS for lr in LAND_LRS for g in LAND_GAINS]


# ---------------------------------------------------------------------------- bnjax, one run


@functools.cache
def _bnjax_init():
    from bnjax import runtime
    runtime.configure()  # before jax computes: 2 CPU devices, the compilation cache
    import jax

    from bnjax import train
    return jax.jit(lambda key, hp, config: train.init_carry(key, hp, config=config),
                   static_argnames="config")


class BnjaxTrainer:
    """bnjax as the app runs one network: `init_carry`, then `train_chunk` (a `lax.scan` of
    `chunk` steps per call, un-vmapped), the losses fetched after every chunk as `train_runs` does."""

    def __init__(self, data: dict, bn: bool, chunk: int = HEADLINE_CHUNK):
        from bnjax import runtime
        runtime.configure()  # before jax computes: 2 CPU devices, the compilation cache
        import jax.numpy as jnp

        from bnjax import train
        from bnjax.nn import MLPSpec
        self.train_mod, self.chunk = train, chunk
        self.config = train.TrainConfig(MLPSpec(depth=4, width=100, bn=bn), optimizer="momentum",
                                        batch_size=BATCH)
        self.hp = train.hparams(lr=LR)
        self.x, self.y = jnp.asarray(data["x_train"]), jnp.asarray(data["y_train"])
        self.x_test, self.y_test = jnp.asarray(data["x_test"]), jnp.asarray(data["y_test"])

    def init(self, weights=None, seed: int = SEED):
        """A fresh carry from `key(seed)`: these are the `weights` the peers were given."""
        import jax
        return jax.block_until_ready(_bnjax_init()(jax.random.key(seed), self.hp, self.config))

    def weights(self) -> dict:
        """The initial weights as numpy, for the peers to start from the same point."""
        p = self.init().params
        arr = lambda a: None if a is None else np.asarray(a)  # noqa: E731
        return {"hidden": [(arr(h.dense.w), arr(h.dense.b)) for h in p.hidden],
                "out": (arr(p.out.w), arr(p.out.b))}

    def train(self, carry, idx: np.ndarray):
        import jax.numpy as jnp
        losses = []
        for s in range(0, len(idx), self.chunk):
            carry, m = self.train_mod.train_chunk(carry, jnp.asarray(idx[s:s + self.chunk]),
                                                  self.hp, self.x, self.y, self.config)
            losses.append(np.asarray(m.loss))
        return carry, np.concatenate(losses)

    def test_acc(self, carry) -> float:
        acc, _ = self.train_mod.evaluate(carry.params, carry.state, self.x, self.x_test,
                                         self.y_test, self.config.spec, "running")
        return float(acc)


def make_trainer(contender: str, data: dict, bn: bool, chunk: int = HEADLINE_CHUNK):
    if contender == "torch":
        import torch_peer
        return torch_peer.Trainer(data, bn)
    if contender == "flax":
        import flax_peer
        return flax_peer.Trainer(data, bn)
    return BnjaxTrainer(data, bn, chunk)


def timed_run(trainer, weights, idx) -> dict:
    """One run from fresh weights: only `train` is timed; then the sanity numbers."""
    state = trainer.init(weights)
    t0, c0 = time.perf_counter(), time.process_time()
    state, loss = trainer.train(state, idx)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"seconds": seconds, "cpu": cpu, "loss": float(np.mean(loss[-100:])),
            "acc": trainer.test_acc(state)}


# ---------------------------------------------------------------------------- worker processes


def _serve(contender: str, conn, data: dict):
    """A long-lived process for one contender: it answers (op, kwargs) requests until None."""
    if contender == "torch":
        import torch
        torch.set_num_threads(1)
    trainers = {}

    def trainer(bn, chunk=HEADLINE_CHUNK):
        if (bn, chunk) not in trainers:
            trainers[bn, chunk] = make_trainer(contender, data, bn, chunk)
        return trainers[bn, chunk]

    while (msg := conn.recv()) is not None:
        op, kw = msg
        try:
            if op == "weights":
                out = trainer(kw["bn"]).weights()
            elif op == "single":
                out = timed_run(trainer(kw["bn"], kw.get("chunk", HEADLINE_CHUNK)), kw["weights"],
                                kw["idx"])
            elif op == "landscape_loop":
                out = _landscape_loop(data, kw["idx"], kw["weights"], kw["cells"])
            elif op == "landscape_bnjax":
                out = _landscape_bnjax(kw["cold"])
            else:
                raise ValueError(op)
            conn.send(("ok", out))
        except Exception:  # noqa: BLE001 - the parent prints it and carries on
            conn.send(("error", traceback.format_exc()))


class Worker:
    def __init__(self, contender: str, data: dict):
        self.name = contender
        self.conn, child = mp.Pipe()
        self.proc = mp.get_context("spawn").Process(target=_serve, args=(contender, child, data),
                                                     name=f"bench-{contender}")
        self.proc.start()

    def __call__(self, op: str, **kw):
        self.conn.send((op, kw))
        status, out = self.conn.recv()
        if status != "ok":
            raise RuntimeError(f"{self.name} {op} failed:\n{out}")
        return out

    def close(self):
        self.conn.send(None)
        self.proc.join(timeout=30)


# ---------------------------------------------------------------------------- (a) single run


def bench_single(workers: dict, weights: dict, idx, repeats: int) -> list:
    entries = [("bnjax", f"chunk {c}", c) for c in CHUNKS] + [("torch", "eager, 1 thread", None),
                                                             ("flax", "nnx.jit per step", None)]
    jobs = [(c, label, chunk, v, bn) for v, bn in VARIANTS for c, label, chunk in entries]
    results = {(c, label, v): [] for c, label, _, v, _ in jobs}
    print(f"single: warm-up (compiles), then {repeats} interleaved repeats of {len(jobs)} runs",
          flush=True)
    for c, label, chunk, v, bn in jobs:
        workers[c]("single", bn=bn, chunk=chunk, weights=weights[bn], idx=idx)
    for r in range(repeats):
        order = jobs[r % len(jobs):] + jobs[:r % len(jobs)]
        for c, label, chunk, v, bn in order:
            results[c, label, v].append(workers[c]("single", bn=bn, chunk=chunk,
                                                   weights=weights[bn], idx=idx))
        print(f"  repeat {r + 1}/{repeats} done", flush=True)
    rows = []
    for (c, label, v), runs in results.items():
        sps = [STEPS / run["seconds"] for run in runs]
        rows.append({"section": "single", "contender": c, "how": label, "variant": v,
                     "value": statistics.median(sps), "lo": min(sps), "hi": max(sps),
                     "cpu": statistics.median(STEPS / run["cpu"] for run in runs),
                     "unit": "steps/s", "loss": runs[-1]["loss"], "acc": runs[-1]["acc"]})
    for row in rows:  # ratios against the peers, for the bnjax rows
        if row["contender"] == "bnjax":
            for peer in ("torch", "flax"):
                ref = next(p for p in rows if p["contender"] == peer and p["variant"] == row["variant"])
                row[f"x_{peer}"] = row["value"] / ref["value"]
                row[f"cpu_x_{peer}"] = row["cpu"] / ref["cpu"]
    return rows


# ---------------------------------------------------------------------------- (b) cold start


def _cold_child(contender: str, variant: str):
    """In a fresh process: import, build, compile and run 2000 steps; the payload comes on stdin."""
    payload = pickle.load(sys.stdin.buffer)
    bn = dict(VARIANTS)[variant]
    t0 = time.perf_counter()
    trainer = make_trainer(contender, payload["data"], bn)  # imports the framework
    if contender == "torch":
        import torch
        torch.set_num_threads(1)
    t1 = time.perf_counter()
    state = trainer.init(payload["weights"][bn])
    state, loss = trainer.train(state, payload["idx"])
    acc = trainer.test_acc(state)
    t2 = time.perf_counter()
    print(json.dumps({"import": t1 - t0, "first_run": t2 - t1, "loss": float(np.mean(loss[-100:])),
                      "acc": acc}))


def bench_cold(data, weights, idx, repeats: int) -> list:
    payload = pickle.dumps({"data": data, "weights": weights, "idx": idx})
    jobs = [(c, v) for v, _ in VARIANTS for c in ("bnjax", "torch", "flax")]
    results = {job: [] for job in jobs}
    print(f"cold: {repeats} interleaved repeats of {len(jobs)} fresh processes", flush=True)
    for r in range(repeats):
        for c, v in jobs[r % len(jobs):] + jobs[:r % len(jobs)]:
            t0 = time.perf_counter()
            # Cold means cold: no persistent XLA compilation cache from an earlier process.
            out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child-cold", c, v],
                                 input=payload, capture_output=True, check=False,
                                 env={**os.environ, "BNJAX_COMPILATION_CACHE": "0"})
            wall = time.perf_counter() - t0
            if out.returncode != 0:
                raise RuntimeError(f"cold {c} {v} failed:\n{out.stderr.decode()[-3000:]}")
            res = json.loads(out.stdout.decode().strip().splitlines()[-1])
            results[c, v].append({**res, "wall": wall})
    rows = []
    for (c, v), runs in results.items():
        walls = [run["wall"] for run in runs]
        rows.append({"section": "cold", "contender": c, "variant": v, "unit": "s",
                     "how": "import {:.1f} s + first run {:.1f} s".format(
                         statistics.median(r["import"] for r in runs),
                         statistics.median(r["first_run"] for r in runs)),
                     "value": statistics.median(walls), "lo": min(walls), "hi": max(walls),
                     "loss": runs[-1]["loss"], "acc": runs[-1]["acc"]})
    for row in rows:
        if row["contender"] == "bnjax":
            for peer in ("torch", "flax"):
                ref = next(p for p in rows if p["contender"] == peer and p["variant"] == row["variant"])
                row[f"x_{peer}"] = ref["value"] / row["value"]  # > 1: bnjax starts faster
    return rows


# ---------------------------------------------------------------------------- (c) landscape


def _pool_init(data, idx, weights):
    import torch_peer
    torch_peer.landscape_init(data, idx, weights)


def _pool_cell(cell):
    import torch_peer
    return torch_peer.landscape_cell(cell)


def _landscape_loop(data, idx, weights, cells) -> dict:
    import torch_peer
    torch_peer.landscape_init(data, idx, weights)
    t0 = time.perf_counter()
    accs = [torch_peer.landscape_cell(cell) for cell in cells]
    return {"seconds": time.perf_counter() - t0, "accs": accs}


def _landscape_pool(pool) -> dict:
    t0 = time.perf_counter()
    accs = pool.map(_pool_cell, landscape_cells(), chunksize=1)
    return {"seconds": time.perf_counter() - t0, "accs": accs}


def _landscape_bnjax(cold: bool = False) -> dict | None:
    """bnjax's reference landscape, timed by `bench/landscape_bnjax.py` (None while it is missing)."""
    try:
        import landscape_bnjax
    except ImportError:
        return None
    return landscape_bnjax.bench_landscape(cold=cold, lrs=LAND_LRS, gains=LAND_GAINS,
                                           steps=LAND_STEPS)


def _land_cold_child():
    """In a fresh process: import bnjax, compile and train the whole landscape once."""
    t0 = time.perf_counter()
    import landscape_bnjax  # noqa: F401 - the import is part of the cold start

    from bnjax import runtime
    runtime.configure()
    t1 = time.perf_counter()
    out = _landscape_bnjax(cold=True)
    print(json.dumps({"import": t1 - t0, **out}))


def _land_cold_bnjax() -> dict | None:
    """Wall time of a fresh process training the landscape: interpreter, imports, compiles, runs."""
    if importlib.util.find_spec("landscape_bnjax") is None:
        return None
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child-land-cold"],
                         capture_output=True, check=False,
                         env={**os.environ, "BNJAX_COMPILATION_CACHE": "0"})
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise RuntimeError(f"bnjax cold landscape failed:\n{out.stderr.decode()[-3000:]}")
    return {**json.loads(out.stdout.decode().strip().splitlines()[-1]), "seconds": wall}


def _grid_stats(accs) -> dict:
    """Per variant: good cells (test acc >= GOOD) and diverged cells."""
    accs = np.asarray(accs, float).reshape(len(VARIANTS), -1)
    out = {}
    for (v, _), a in zip(VARIANTS, accs):
        out[v] = f"{int(np.sum(a >= GOOD))} good, {int(np.sum(np.isnan(a)))} diverged"
    return out


def bench_landscape(workers, data, weights, idx, repeats: int) -> list:
    ctx = mp.get_context("spawn")
    print(f"landscape: {len(landscape_cells())} networks x {LAND_STEPS} steps, {repeats} "
          "interleaved repeats", flush=True)
    cold = {"bnjax": _land_cold_bnjax()}  # a fresh process, alone on the machine (as far as ours go)
    have_bnjax = cold["bnjax"] is not None
    t0 = time.perf_counter()
    with ctx.Pool(2, initializer=_pool_init, initargs=(data, idx, weights)) as pool:
        cold["pool"] = _landscape_pool(pool)  # the first map: spawning 2 processes, importing torch
        cold["pool"]["seconds"] = time.perf_counter() - t0
        contenders = ["pool", "loop"] + (["bnjax"] if have_bnjax else [])
        results = {c: [] for c in contenders}
        if have_bnjax:  # the warm-up: compiles in the long-lived bnjax process
            workers["bnjax"]("landscape_bnjax", cold=False)
        for r in range(repeats):
            for c in contenders[r % len(contenders):] + contenders[:r % len(contenders)]:
                if c == "pool":
                    results[c].append(_landscape_pool(pool))
                elif c == "loop":
                    results[c].append(workers["torch"]("landscape_loop", idx=idx, weights=weights,
                                                       cells=landscape_cells()))
                else:
                    results[c].append(workers["bnjax"]("landscape_bnjax", cold=False))
            print(f"  repeat {r + 1}/{repeats} done", flush=True)
    labels = {"pool": ("torch", "pool of 2 x 1 thread"), "loop": ("torch", "loop, 1 thread"),
              "bnjax": ("bnjax", "grid.train_grid, 2 devices")}
    rows = []
    for c in contenders:
        secs = [run["seconds"] for run in results[c]]
        stats = _grid_stats(results[c][-1]["accs"])
        rows.append({"section": "landscape", "contender": labels[c][0], "how": labels[c][1],
                     "variant": "warm", "value": statistics.median(secs), "lo": min(secs),
                     "hi": max(secs), "unit": "s", "sanity": "; ".join(
                         f"{v}: {s}" for v, s in stats.items())})
        if c in cold:
            rows.append({"section": "landscape", "contender": labels[c][0], "how": labels[c][1],
                         "variant": "cold", "value": cold[c]["seconds"], "lo": None, "hi": None,
                         "unit": "s", "sanity": "fresh processes: interpreter, imports, compiles"})
    if not have_bnjax:
        rows.append({"section": "landscape", "contender": "bnjax", "how": "", "variant": "",
                     "value": None, "unit": "", "sanity": "bnjax landscape: not available yet"})
    for row in rows:
        if row["contender"] == "bnjax" and row["value"] is not None:
            for peer in ("pool", "loop"):
                ref = next((p for p in rows if p["how"] == labels[peer][1]
                            and p["variant"] == row["variant"]), None)
                if ref is not None:
                    row[f"x_{peer}"] = ref["value"] / row["value"]
    return rows


# ---------------------------------------------------------------------------- report


def _fmt(row) -> str:
    if row.get("value") is None:
        return f"{row['contender']:<7} {row['sanity']}"
    spread = "" if row.get("lo") is None else f"({row['lo']:,.0f}-{row['hi']:,.0f})" \
        if row["unit"] == "steps/s" else f"({row['lo']:.1f}-{row['hi']:.1f})"
    value = f"{row['value']:,.0f}" if row["unit"] == "steps/s" else f"{row['value']:.1f}"
    ratios = "  ".join(f"{row[k]:.2f}x {k[2:]}" for k in ("x_torch", "x_flax", "x_pool", "x_loop")
                       if k in row)
    cpu = f"{row['cpu']:>7,.0f}" if "cpu" in row else ""
    if "cpu_x_torch" in row:
        cpu += f" ({row['cpu_x_torch']:.2f}x torch, {row['cpu_x_flax']:.2f}x flax)"
    sanity = row.get("sanity") or f"loss {row['loss']:.2g}, test acc {row['acc']:.3f}"
    return (f"{row['contender']:<7} {row['how']:<32} {row['variant']:<6} "
            f"{value:>8} {row['unit']:<8} {spread:<15} {ratios:<26} {sanity}"
            + (f"  | steps/cpu-s {cpu}" if cpu else ""))


def report(rows, header: str):
    print("\n" + header)
    titles = {"single": "(a) one 2000-step run, warm: steps/s (median, min-max); ratio = bnjax / peer; "
                        "last, steps per CPU-second of the contender's process (robust to load)",
              "cold": "(b) cold start, fresh process (import + compile + first 2000-step run): "
                      "wall s; ratio = peer time / bnjax time",
              "landscape": "(c) reference landscape, 192 networks x 500 steps: s; "
                           "ratio = peer time / bnjax time"}
    for section, title in titles.items():
        sec = [r for r in rows if r["section"] == section]
        if not sec:
            continue
        print(f"\n{title}")
        print(f"{'who':<7} {'how':<32} {'var':<6} {'value':>8} {'unit':<8} {'spread':<15} "
              f"{'ratio':<26} sanity")
        for row in sec:
            print(_fmt(row))
    print()


def sanity_notes(rows) -> list:
    """Contenders that do not agree: a run that did not train, or accuracies apart by > 0.03."""
    notes = []
    for v, _ in VARIANTS:
        sec = [r for r in rows if r["section"] in ("single", "cold") and r["variant"] == v]
        accs = [r["acc"] for r in sec]
        if accs and max(accs) - min(accs) > 0.03:
            notes.append(f"{v}: test accuracies differ by {max(accs) - min(accs):.3f}")
        notes += [f"{r['contender']} {r['how']} {v}: final loss {r['loss']:.3g} (did it train?)"
                  for r in sec if not r["loss"] < 0.1]
    return notes


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats: a smoke check")
    ap.add_argument("--only", choices=("single", "cold", "landscape"))
    ap.add_argument("--child-cold", nargs=2, metavar=("CONTENDER", "VARIANT"), help=argparse.SUPPRESS)
    ap.add_argument("--child-land-cold", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_cold:
        return _cold_child(*args.child_cold)
    if args.child_land_cold:
        return _land_cold_child()
    missing = [m for m in ("torch", "flax") if importlib.util.find_spec(m) is None]
    if missing:  # the peers run in child processes, which would fail one by one
        sys.exit(f"bench/run.py needs the peers ({', '.join(missing)} missing): pip install -r "
                 "bench/requirements.txt --extra-index-url https://download.pytorch.org/whl/cpu")
    sections = [args.only] if args.only else ["single", "cold", "landscape"]
    reps = {"single": 3 if args.quick else 9, "cold": 1 if args.quick else 3,
            "landscape": 1 if args.quick else 3}
    load0 = os.getloadavg()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    data, idx, land_idx = load_data()
    workers = {c: Worker(c, data) for c in ("bnjax", "torch", "flax")}
    rows = []
    try:
        weights = {bn: workers["bnjax"]("weights", bn=bn) for _, bn in VARIANTS}
        for section in sections:  # each section's table as soon as it is done, all of them at the end
            if section == "single":
                new = bench_single(workers, weights, idx, reps["single"])
            elif section == "cold":
                new = bench_cold(data, weights, idx, reps["cold"])
            else:
                new = bench_landscape(workers, data, weights, land_idx, reps["landscape"])
            rows += new
            if len(sections) > 1:
                report(new, f"{section} done (load average {os.getloadavg()[0]:.1f})")
    finally:
        for w in workers.values():
            w.close()
    versions = _versions()
    header = (f"bnjax bench, {started}, {platform.node()}, {os.cpu_count()} CPUs, load average "
              f"{load0[0]:.1f} at start, {os.getloadavg()[0]:.1f} at end; {versions}")
    report(rows, header)
    for note in sanity_notes(rows):
        print("SANITY:", note)


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version
    out = []
    for pkg in ("jax", "optax", "torch", "flax"):
        try:
            out.append(f"{pkg} {version(pkg)}")
        except PackageNotFoundError:
            out.append(f"{pkg} missing")
    return ", ".join(out)


if __name__ == "__main__":
    main()
