"""Every page renders under AppTest; the Playground's URLs, presets and divergence."""
import json

import pytest

from tests.apphelp import charts, render, texts
from ui.frame import PAGES, page_exists

BUILT = [p.path for p in PAGES if page_exists(p)]
# Small, fast views for the pages whose defaults are exercised elsewhere.
FAST = {"pages/6_Playground.py": {"steps": "300"},
        "pages/5_Hyperparameter_landscape.py": {"steps": "100", "depth": "2", "width": "32",
                                                "n_seeds": "1"}}


@pytest.mark.parametrize("page", BUILT)
def test_every_page_renders(page):
    at = render(page, **FAST.get(page, {}))
    assert not at.exception, at.exception
    if page != "dashboard.py":
        assert charts(at), f"{page} drew no chart"
    labels = [link.proto.label for link in at.sidebar.get("page_link")]
    assert labels == [p.label for p in PAGES if page_exists(p)]


def test_all_six_pages_are_in_the_table():
    assert [p.path.split("/")[-1][:2] for p in PAGES[1:]] == ["1_", "2_", "3_", "4_", "5_", "6_"]


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
