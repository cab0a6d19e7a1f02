"""Who computes when (ui/work.py, ui.panels.run/warm): viewers before the warm-up, a paused
warm-up resumes, a view computed elsewhere is watched, live drawings from the first chunk."""
import threading
import time

import pytest

from ui.work import Board, Gate, Update


def test_a_viewer_never_waits_behind_background_work():
    """A background run pauses at its next unit of work while a viewer waits, and carries on
    once no viewer waits or runs; the order of events says who ran when."""
    gate, events = Gate(), []
    started, go = threading.Event(), threading.Event()

    def background():
        with gate.hold(background=True):
            started.set()
            for unit in range(50):
                events.append(("bg", unit))
                time.sleep(0.01)
                gate.yield_to_viewers()
                if unit == 2:
                    go.set()

    t = threading.Thread(target=background)
    t.start()
    started.wait(5)
    go.wait(5)
    t0 = time.monotonic()
    with gate.hold(background=False):
        waited = time.monotonic() - t0
        events.append(("viewer", 0))
        assert gate.paused() == 1
        time.sleep(0.05)
        events.append(("viewer", 1))
    t.join(10)
    assert waited < 0.5  # one unit of background work (10 ms), not the 50 units
    i = events.index(("viewer", 0))
    assert events[i + 1] == ("viewer", 1)  # nothing of the background ran in between
    assert [e for e in events if e[0] == "bg"] == [("bg", u) for u in range(50)]  # all of it
    assert gate.paused() == 0


def test_background_waits_while_a_viewer_runs_and_a_viewer_who_leaves_is_forgotten():
    gate, order = Gate(), []
    def background():
        with gate.hold(background=True):
            order.append("bg")

    with gate.hold():
        t = threading.Thread(target=background)
        t.start()
        time.sleep(0.2)
        assert order == []  # still waiting for the viewer
    t.join(5)
    assert order == ["bg"]

    # A viewer waiting behind a run leaves (Streamlit stops its script at on_wait):
    class Left(Exception):
        pass

    gate2 = Gate()

    def leave():
        raise Left

    with gate2.hold():
        with pytest.raises(Left):
            with gate2.hold(on_wait=leave, poll=0.01):
                pass
        assert gate2.viewers_waiting() == 0  # a background run is not blocked forever


def test_board_shows_runs_in_progress_only():
    board = Board()
    assert board.get("k") is None
    with board.computing("k") as publish:
        assert board.get("k").message == "starting"
        publish(Update(0.5, "half way", partial="p"))
        assert board.get("k") == Update(0.5, "half way", partial="p")
    assert board.get("k") is None


SEEN: list = []  # what the live drawer of the AppTest script below saw


def _live_script():
    import streamlit as st

    import ui
    from bnjax.experiments import playground as exp
    from ui import live

    drawer = live.training_curves()

    def draw(update):
        live.SEEN_BY_TEST.append(tuple((name, int(r.steps_done.min()))
                                       for name, r in update.runs.items())
                                 if update.runs else None)
        drawer(update)

    result = ui.run(exp.run_playground, exp.PlaygroundConfig(steps=300, depth=2, width=16,
                                                             seed=11), live=draw)
    st.write(f"done {result.summary['acc_bn']:.3f}")


def test_live_charts_grow_chunk_by_chunk_and_a_cached_view_draws_at_once(
        monkeypatch, clear_streamlit_cache):
    """The Playground's experiment drawn live through the runner's partial results: the BN
    and plain nets' curves side by side from the first chunk on; the live chart gives way to
    the page's own output; a second viewer gets the cached result at once."""
    from streamlit.testing.v1 import AppTest

    import ui.live
    import ui.panels
    monkeypatch.setattr(ui.panels, "LIVE_EVERY", 0.0)
    monkeypatch.setattr(ui.panels, "LIVE_COST_SHARE", 0.0)
    monkeypatch.setattr(ui.live, "SEEN_BY_TEST", SEEN, raising=False)  # the script's recorder
    SEEN.clear()
    at = AppTest.from_function(_live_script, default_timeout=300)
    at.run()
    assert not at.exception, at.exception
    # BN and plain nets train side by side as one job (switch nets, 3 seeds each)
    assert SEEN[0] == (("BN and plain", 0),)  # the fresh nets, before any training
    steps = [dict(s)["BN and plain"] for s in SEEN]
    assert steps == sorted(steps) and steps[-1] == 300 and len(steps) >= 4  # every chunk
    assert not at.get("vega_lite_chart") and not at.get("arrow_vega_lite_chart")  # emptied
    assert any("done" in m.value for m in at.markdown)
    SEEN.clear()
    again = AppTest.from_function(_live_script, default_timeout=300)
    again.run()
    assert not again.exception and SEEN == []  # the cached view: nothing to draw live


def test_live_curves_name_each_net_as_the_palette_does():
    """The live drawer's variant of a runner job: LayerNorm nets are LayerNorm (page 7's live
    chart), not plain; a switch job is named by its traced switch elsewhere."""
    from bnjax.nn import MLPSpec
    from bnjax.train import TrainConfig
    from ui.live import variant_of

    names = {norm: variant_of(TrainConfig(MLPSpec(norm=norm), "sgd"))
             for norm in ("batch", "layer", "none")}
    assert names == {"batch": "BN", "layer": "LayerNorm", "none": "plain"}
    assert variant_of(TrainConfig(MLPSpec(norm="batch"), "sgd", stochastic="noise")) == \
        "noisy BN"


@pytest.mark.parametrize("every, share", [(1000.0, 0.0), (0.0, 1e9)],
                         ids=["spaced in seconds", "spaced by drawing cost"])
def test_the_first_live_chart_is_never_held_back(monkeypatch, clear_streamlit_cache, every,
                                                 share):
    """Live drawings are spaced LIVE_EVERY seconds apart and LIVE_COST_SHARE times the last
    drawing's cost, but a drawing that put no chart on the page (the fresh nets: nothing to
    plot yet) does not count: the first chunk's chart is drawn at once, however soon it comes;
    after it, the spacing holds."""
    from streamlit.testing.v1 import AppTest

    import ui.live
    import ui.panels
    monkeypatch.setattr(ui.panels, "LIVE_EVERY", every)
    monkeypatch.setattr(ui.panels, "LIVE_COST_SHARE", share)
    monkeypatch.setattr(ui.live, "SEEN_BY_TEST", SEEN, raising=False)
    SEEN.clear()
    at = AppTest.from_function(_live_script, default_timeout=300)
    at.run()
    assert not at.exception, at.exception
    steps = [dict(s)["BN and plain"] for s in SEEN]
    assert steps[0] == 0 and len(steps) == 2 and 0 < steps[1] < 300, steps


def test_a_viewer_moving_to_another_page_keeps_the_way_clear():
    """Between one viewer's run and their next (a page switch takes a moment), the warm-up
    does not slip in: it starts only Gate.GRACE seconds after the last viewer's run."""
    gate, order = Gate(), []
    with gate.hold():
        pass  # a viewer's run ends...

    def background():
        with gate.hold(background=True):
            order.append(("bg", time.monotonic()))

    t = threading.Thread(target=background)
    t0 = time.monotonic()
    t.start()
    time.sleep(0.3)  # ...and their next run starts 0.3 s later
    with gate.hold():
        order.append(("viewer", time.monotonic()))
    t.join(10)
    assert [who for who, _ in order] == ["viewer", "bg"]
    assert order[1][1] - t0 >= Gate.GRACE


def test_a_background_run_a_viewer_waits_for_does_not_wait_out_the_grace():
    """A viewer who opens a view the warm-up is computing watches that run: it goes on at once
    (the grace keeps the way clear for viewers, not from them)."""
    gate, board = Gate(), Board()
    with gate.hold():
        pass  # a viewer's run just ended
    with board.watching("view"):
        t0 = time.monotonic()
        with gate.hold(background=True, watched=lambda: board.watched("view")):
            assert time.monotonic() - t0 < Gate.GRACE / 2
    assert not board.watched("view")
