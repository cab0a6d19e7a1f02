"""Every page renders under AppTest; lecture mode; the Playground's URLs, presets, divergence."""
import json

import pytest

from tests.apphelp import charts, palette_problems, render, rendered, texts
from ui.frame import PAGES, page_exists

BUILT = [p.path for p in PAGES if page_exists(p)]
# Small, fast views for the pages whose defaults are exercised elsewhere.
FAST = {"pages/6_Playground.py": {"steps": "300"},
        "pages/5_Hyperparameter_landscape.py": {"steps": "100", "depth": "2", "width": "32",
                                                "n_seeds": "1"}}


# The Overview renders in tests/test_overview.py, on small results served by name: here it would
# train every page's default view (and its warm-up every one again), minutes of the suite.
@pytest.mark.parametrize("page", [p for p in BUILT if p != "dashboard.py"])
def test_every_page_renders(page):
    at = rendered(page, **FAST.get(page, {}))
    assert not at.exception, at.exception
    assert charts(at), f"{page} drew no chart"
    for c in charts(at):  # one colour-blind-safe palette on every chart of every page
        spec = json.loads(c.proto.spec)
        assert not palette_problems(spec), (page, spec.get("title"), palette_problems(spec))
    labels = [link.proto.label for link in at.sidebar.get("page_link")]
    assert labels == [p.label for p in PAGES if page_exists(p)]


def _folded(at) -> list:
    """The expanders that hold a page's controls in lecture mode (ui.controls_area)."""
    return [e for e in at.main.expander if e.icon == ":material/tune:"]


def _keys(nodes) -> set:
    return {n.key for block in nodes for n in block if getattr(n, "key", None)
            and not n.key.startswith("$$")}


def _presets(nodes) -> int:
    return sum(1 for block in nodes for n in block
               if n.type == "markdown" and n.value.startswith("**Presets:**"))


@pytest.mark.parametrize("page", [p for p in BUILT if p != "dashboard.py"])
def test_lecture_mode_folds_the_controls_and_keeps_the_charts(page):
    """Lecture mode: the seed, the experiment's controls and every preset line sit in closed
    expanders, so the first screen is the claim and a chart; the same charts are drawn."""
    normal = rendered(page, **FAST.get(page, {}))
    lecture = render(page, lecture="true", **FAST.get(page, {}))
    assert not normal.exception and not lecture.exception, lecture.exception
    assert not _folded(normal) and _presets([normal.main]) >= 1
    boxes = _folded(lecture)
    assert boxes, f"{page}: no folded controls in lecture mode"
    assert all(not b.proto.expanded for b in boxes)
    assert "seed" in _keys(boxes)
    assert _presets(boxes) == _presets([lecture.main]) == _presets([normal.main])
    # Lecture mode hides narration, not charts.
    assert len(charts(lecture)) == len(charts(normal)) > 0


def test_lecture_mode_folded_controls_still_bind_to_the_url():
    at = render("pages/6_Playground.py", lecture="true", steps="300", depth="2", lr="0.3")
    assert not at.exception
    assert "steps" in _keys(_folded(at))
    assert (at.slider(key="steps").value, at.slider(key="depth").value) == (300, 2)
    assert at.select_slider(key="lr").value == 0.3
    at.slider(key="depth").set_value(3).run()  # a folded widget still drives the run
    assert not at.exception and at.slider(key="depth").value == 3


def test_the_palette_check_catches_bad_colours():
    """The checker itself: red vs green fails for deuteranopes, BN in red is flagged."""
    bad = {"encoding": {"color": {"type": "nominal", "scale": {
        "domain": ["BN", "plain"], "range": ["#d62728", "#2ca02c"]}}}}
    found = " ".join(palette_problems(bad))
    assert "ΔE" in found and "BN drawn in" in found
    from bnjax.charts import variant_color
    import altair as alt
    import pandas as pd
    good = alt.Chart(pd.DataFrame({"variant": ["BN", "plain"], "v": [1, 2]})).mark_line().encode(
        x="v:Q", color=variant_color(domain=["BN", "plain", "noisy BN", "noisy plain"])).to_dict()
    assert palette_problems(good) == []


def test_all_six_pages_are_in_the_table():
    assert [p.path.split("/")[-1][:2] for p in PAGES[1:]] == ["1_", "2_", "3_", "4_", "5_", "6_",
                                                              "7_"]


def test_playground_default_view():
    at = render("pages/6_Playground.py")
    assert not at.exception
    text = texts(at)
    assert "BN net:" in text and "plain net:" in text and "test accuracy" in text
    spec = json.loads(charts(at)[0].proto.spec)
    assert "layer" in spec or "vconcat" in spec or "hconcat" in spec or "mark" in spec


def test_playground_plain_diverges_at_lr_3():
    at = render("pages/6_Playground.py", lr="3.0", steps="300")
    assert not at.exception
    warnings = " ".join(w.value for w in at.warning)
    assert "Diverged" in warnings and "plain net" in warnings
    assert "diverged on every seed" in texts(at)
    assert charts(at)


@pytest.mark.parametrize("params,expect", [
    ({"lr": "abc"}, "lr=abc"),
    ({"depth": "-4"}, "using the default 4"),
    ({"steps": "1e12"}, "using the default 2000"),
    ({"width": "nan"}, "not a finite number"),
    ({"activation": "<script>alert(1)</script>"}, "not one of"),
    ({"seed": "inf"}, "not a finite number"),
])
def test_playground_malformed_url_gives_a_note(params, expect):
    at = render("pages/6_Playground.py", timeout=600, **{**params, "steps": params.get("steps", "100")})
    assert not at.exception
    assert expect in " ".join(w.value for w in at.warning)


def test_playground_seed_changes_the_numbers():
    a = texts(render("pages/6_Playground.py", steps="200", seed="0"))
    b = texts(render("pages/6_Playground.py", steps="200", seed="7"))
    line = lambda t: [x for x in t.splitlines() if "BN net:" in x]  # noqa: E731
    assert line(a) and line(a) != line(b)


def test_the_chart_code_preload_names_streamlits_own_modules():
    """Every page's frame loads the browser code of Streamlit's charts while the server
    computes: the script names modules that exist in this Streamlit's static folder, relative
    to its entry module (so a path prefix, as on Community Cloud, still works)."""
    from pathlib import Path

    import streamlit as st

    from ui.frame import _chart_code_preload
    script = _chart_code_preload()
    folder = Path(st.__file__).parent / "static" / "static" / "js"
    names = [n for n in script.split("'")[1::2] if n.endswith(".js")]
    assert {n.split(".")[0] for n in names} == {"embed", "ArrowVegaLiteChart"}
    assert all((folder / n).is_file() for n in names)
    assert "new URL(n, base)" in script and script.startswith("<script>")
