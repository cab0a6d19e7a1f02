"""The server's start-up (ui/startup.py): `streamlit run dashboard.py` serves dashboard.py's
st.App, whose lifespan preloads what every page needs before the first viewer arrives.
(The browser tests run the whole app this way; these check the pieces on their own.)"""
import pathlib
import subprocess
import sys
import textwrap

from streamlit.web.server.app_discovery import discover_asgi_app

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_streamlit_run_finds_the_app_with_its_lifespan():
    found = discover_asgi_app(ROOT / "dashboard.py")
    assert found.is_asgi_app and found.import_string == "dashboard:app"


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300,
                          env={"BNJAX_COMPILATION_CACHE": "0", "PATH": "/usr/bin:/bin",
                               "HOME": str(pathlib.Path.home())})


def test_importing_dashboard_builds_the_app_and_runs_no_page():
    """What uvicorn does: import the module. The page (frame, cards, warm-up) must not run,
    and nothing may be computed or logged before the server's runtime exists."""
    done = _python("""
        import sys, threading
        import dashboard
        import streamlit as st
        assert isinstance(dashboard.app, st.App), type(dashboard.app)
        assert "jax" not in sys.modules and "ui" not in sys.modules, "work before the runtime"
        assert threading.active_count() == 1, threading.enumerate()
        print("ok")
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
    assert "No runtime found" not in done.stderr and "ScriptRunContext" not in done.stderr


def test_preload_loads_what_pages_use_and_compiles_the_draws():
    """After the preload a page's first training call finds the initial weights' program
    compiled: the only compiles it waits for are its own net's."""
    done = _python("""
        import sys
        from ui import startup
        seconds = startup.preload()
        import jax
        compiled = []
        jax.monitoring.register_event_duration_secs_listener(
            lambda event, d, **kw: compiled.append(kw.get("fun_name"))
            if event.endswith("backend_compile_duration") else None)
        for name in ("altair", "pandas", "bnjax.experiments.landscape",
                     "bnjax.narration.normalization", "ui.live"):
            assert name in sys.modules, name
        from bnjax import runs
        from bnjax.experiments.basics import BasicsConfig, run_basics, shrink
        run_basics(shrink(BasicsConfig(), steps=20))
        assert compiled and not any("draw" in str(n) for n in compiled), compiled
        print("ok", round(seconds, 1))
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok")


def test_a_failing_preload_still_lets_the_server_start(monkeypatch, caplog):
    from ui import startup

    def broken():
        raise RuntimeError("no JAX here")

    monkeypatch.setattr(startup, "preload", broken)
    startup.run()  # logs, never raises
    assert "preload failed" in caplog.text
