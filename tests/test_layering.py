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
