"""The layering rules of STYLE.md: the core never loads UI libraries; pages never compile JAX."""
import ast
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_core_imports_no_ui_libraries():
    code = ("import sys, bnjax, bnjax.nn, bnjax.train, bnjax.data, bnjax.probes; "
            "print(sorted(m for m in ('streamlit', 'altair', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=ROOT).stdout.strip()
    assert out == "[]"


def _imports(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


def test_pages_and_ui_never_import_jax():
    files = [ROOT / "dashboard.py", *(ROOT / "pages").glob("*.py"), *(ROOT / "ui").glob("*.py")]
    bad = {str(f.relative_to(ROOT)): m for f in files for m in _imports(f)
           if m.split(".")[0] in ("jax", "jaxlib", "optax")}
    assert bad == {}


def test_bnjax_never_imports_streamlit():
    bad = [str(f.relative_to(ROOT)) for f in (ROOT / "bnjax").rglob("*.py")
           if any(m.split(".")[0] == "streamlit" for m in _imports(f))]
    assert bad == []


def test_every_page_file_is_in_the_page_table():
    sys.path.insert(0, str(ROOT))
    from ui.frame import PAGES
    listed = {p.path for p in PAGES}
    on_disk = {f"pages/{f.name}" for f in (ROOT / "pages").glob("*.py")}
    assert on_disk <= listed


def test_importing_bnjax_changes_no_process_state():
    """`import bnjax` and every module under it set no flags and start no JAX backend; the
    runtime's `configure` does, explicitly (the pages through ui.frame, the tests, the bench)."""
    code = (
        "import os, sys, pkgutil, importlib, json\n"
        "before = {k: v for k, v in os.environ.items() if k.startswith(('XLA', 'JAX'))}\n"
        "import bnjax, bnjax.experiments\n"
        "for m in pkgutil.walk_packages(bnjax.__path__, 'bnjax.'):\n"
        "    importlib.import_module(m.name)\n"
        "import jax\n"
        "from jax._src import xla_bridge\n"
        "after = {k: v for k, v in os.environ.items() if k.startswith(('XLA', 'JAX'))}\n"
        "print(json.dumps([xla_bridge.backends_are_initialized(), after == before,\n"
        "                  jax.config.jax_compilation_cache_dir, jax.config.jax_num_cpu_devices]))\n"
        "from bnjax import runtime\n"
        "s = runtime.configure(devices=2, cache_dir='/tmp/bnjax-test-cache')\n"
        "print(json.dumps([len(jax.devices()), jax.config.jax_compilation_cache_dir, list(s)]))\n")
    env = {k: v for k, v in __import__("os").environ.items()
           if not k.startswith(("XLA", "JAX", "BNJAX"))}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT, env=env).stdout.splitlines()
    import json
    assert json.loads(out[0]) == [False, True, None, -1]
    assert json.loads(out[1]) == [2, "/tmp/bnjax-test-cache", [2, "/tmp/bnjax-test-cache"]]


def test_configure_before_jax_loads_costs_no_jax_import():
    """The frame of every page calls `configure` first: it must not wait for JAX to load, yet
    JAX must find the settings when it does."""
    code = ("import sys\n"
            "from bnjax import runtime\n"
            "runtime.configure(devices=2, cache_dir='/tmp/bnjax-test-cache')\n"
            "print('jax' in sys.modules)\n"
            "import jax\n"
            "print(len(jax.devices()), jax.config.jax_compilation_cache_dir)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout.split()
    assert out == ["False", "2", "/tmp/bnjax-test-cache"]
