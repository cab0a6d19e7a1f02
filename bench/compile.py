"""XLA compile time per page on an empty compilation cache, and the page's compute once compiled.

    python bench/compile.py                  # every page at its default view
    python bench/compile.py --only 5_ 6_     # some pages
    python bench/compile.py --detail         # and the programs that took longest to compile

Each page runs in a fresh process (`--child`) whose persistent compilation cache is a new empty
folder (`BNJAX_COMPILATION_CACHE`), as a Community Cloud app meets a deep link after a sleep.
The page renders under Streamlit's AppTest at its default view (no query parameters); a
`jax.monitoring` listener sums the backend-compile durations (`/jax/core/compile/
backend_compile_duration`: XLA's own compile, one event per compiled program) and, apart, the
tracing and lowering that precede each compile. Then the results cache is cleared and the page
renders again in the same process: every program is compiled by then, so this second render is
the page's compute (training, probes, tables, charts) once compiled.

Columns: compile s (count) = sum of backend compiles; trace+lower s; first render s (wall, cold);
compute s = the second render (wall, programs compiled, results not cached); CPU s = this
process's CPU time (user + system) for the two renders, which a loaded machine moves less than
wall time (on 2 cores it can exceed wall time).
On a shared machine note the load average printed with the table: wall times grow with it,
compile and compute alike.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
BACKEND_COMPILE = "/jax/core/compile/backend_compile_duration"
TRACE = "/jax/core/compile/jaxpr_trace_duration"
LOWER = "/jax/core/compile/jaxpr_to_mlir_module_duration"


def child(page: str) -> dict:
    """In a fresh process: render `page` cold, then again with compiled programs."""
    root = os.environ.get("BNJAX_BENCH_ROOT", str(ROOT))
    sys.path.insert(0, root)
    for name in [m for m in sys.modules if m in ("tests", "ui", "bnjax") or m.startswith(
            ("tests.", "ui.", "bnjax."))]:
        del sys.modules[name]  # nothing of this checkout when measuring another
    from bnjax import runtime
    if hasattr(runtime, "configure"):
        runtime.configure()  # devices and the (empty) cache from the environment
    import jax
    from jax import monitoring

    events: list[tuple[str, float, str]] = []
    monitoring.register_event_duration_secs_listener(
        lambda event, seconds, **kw: events.append((event, seconds, str(kw.get("fun_name", "")))))

    import streamlit as st
    from tests.apphelp import render

    t0, c0 = time.perf_counter(), time.process_time()
    at = render(page, timeout=1800)
    first, cpu_first = time.perf_counter() - t0, time.process_time() - c0
    errors = [str(e.value) for e in at.exception]
    cold = list(events)
    st.cache_data.clear()
    t0, c0 = time.perf_counter(), time.process_time()
    at = render(page, timeout=1800)
    second, cpu_second = time.perf_counter() - t0, time.process_time() - c0
    errors += [str(e.value) for e in at.exception]
    compiles = [(s, f) for e, s, f in cold if e == BACKEND_COMPILE]
    again = [s for e, s, _ in events[len(cold):] if e == BACKEND_COMPILE]
    return {
        "page": page, "devices": len(jax.devices()),
        "compile_s": sum(s for s, _ in compiles), "compiles": len(compiles),
        "trace_lower_s": sum(s for e, s, _ in cold if e in (TRACE, LOWER)),
        "first_s": first, "compute_s": second, "compiles_again": len(again),
        "cpu_first_s": cpu_first, "cpu_compute_s": cpu_second,
        "top": sorted(compiles, reverse=True)[:8], "errors": errors,
    }


def measure(page: str, root: pathlib.Path = ROOT) -> dict:
    """`page` of the checkout at `root` (this one by default), cold, in a fresh process."""
    with tempfile.TemporaryDirectory(prefix="bnjax-cold-cache-") as cache:
        env = {**os.environ, "BNJAX_COMPILATION_CACHE": cache, "BNJAX_RSS_BUDGET_MB": "1e9",
               "PYTHONWARNINGS": "ignore", "BNJAX_BENCH_ROOT": str(root)}
        out = subprocess.run([sys.executable, __file__, "--child", page], cwd=root, env=env,
                             capture_output=True, text=True)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")]
    if out.returncode or not lines:
        raise RuntimeError(f"{page} failed:\n{out.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", help="page file prefixes, e.g. 5_ 6_ (or dashboard)")
    ap.add_argument("--detail", action="store_true", help="the slowest programs of each page")
    ap.add_argument("--compare", metavar="ROOT",
                    help="another checkout (e.g. a `git worktree` of the commit before): each "
                         "page measured there and here, alternately, under the same load")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print("RESULT " + json.dumps(child(args.child)), flush=True)
        return
    sys.path.insert(0, str(ROOT))
    from ui.frame import PAGES, page_exists
    pages = [p for p in PAGES if page_exists(p) and p.path != "dashboard.py"]
    if args.only:
        pages = [p for p in PAGES if page_exists(p)
                 and any(pathlib.Path(p.path).name.startswith(o) for o in args.only)]
    print(f"load average at start: {os.getloadavg()[0]:.2f} (2 cores)", flush=True)
    print(f"{'page':32s} {'compile s (count)':>18s} {'trace+lower s':>14s} {'first render s':>15s}"
          f" {'compute s':>10s} {'CPU s cold / compiled':>22s}", flush=True)
    total_c = total_n = 0
    roots = [(pathlib.Path(args.compare).resolve(), "before: "), (ROOT, "")] if args.compare \
        else [(ROOT, "")]
    for p in pages:
        for root, tag in roots:
            label = (tag + p.label)[:32]
            try:
                r = measure(p.path, root)
            except RuntimeError as err:  # one page failing does not hide the others
                print(f"{label:32s} FAILED: {str(err).splitlines()[-1]}", flush=True)
                continue
            if root == ROOT:
                total_c, total_n = total_c + r["compile_s"], total_n + r["compiles"]
            note = "" if not r["errors"] else f"  EXCEPTION: {r['errors']}"
            if r["compiles_again"]:
                note += f"  ({r['compiles_again']} compiles in the second render)"
            print(f"{label:32s} {r['compile_s']:11.1f} ({r['compiles']:3d}) "
                  f"{r['trace_lower_s']:14.1f} {r['first_s']:15.1f} {r['compute_s']:10.1f} "
                  f"{r.get('cpu_first_s', 0):11.1f} / {r.get('cpu_compute_s', 0):8.1f}{note}"
                  f"   (load {os.getloadavg()[0]:.1f})", flush=True)
            if args.detail:
                for s, name in r["top"]:
                    print(f"    {s:6.2f} s  {name}")
    print(f"{'all pages':32s} {total_c:11.1f} ({total_n:3d})")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
