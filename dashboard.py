"""The Overview: the four student questions and one more (why not LayerNorm?), one card
each, with each page's short answer and
headline numbers at its default view, measured live, and how to use the lab in a lecture."""
import contextlib
import logging

import streamlit as st

_log = logging.getLogger("bnjax.overview")


def _page(card):
    return next(p for p in ui.PAGES if p.path == card.page)


def _card(card, container):
    """Draw the card's question and link now; return where its answer goes."""
    from bnjax.experiments import overview  # imported once the frame is on screen
    page = _page(card)
    with container.container(border=True):
        st.markdown(f"##### {page.label}")
        st.markdown(f"**“{page.question}”**")
        answer = st.empty()  # the page's short answer and numbers, once the runs are in
        ready = overview.exists(card)
        answer.caption("Measuring live at the page's default view…" if ready
                       else "The experiment behind this page is coming.")
        if ui.page_exists(page):
            st.page_link(page.path, label="Open the experiment", icon=page.icon)
        else:
            st.caption("This page is coming.")
    return answer, ready


def _fill(card, answer, ready):
    """Compute (or fetch from the cache) the card's runs; write the page's answer and numbers."""
    from bnjax.experiments import overview
    runs = overview.available(card) if ready else None
    if runs is None:
        return
    with answer.container():
        results = [ui.run(fn, config, what=f"{_page(card).label}, default view")
                   for fn, config in runs]
        if any(r is None for r in results):
            return
        try:
            text = card.text(results)
        except Exception:  # noqa: BLE001  one page's broken narration must not hide the others
            _log.exception("card of %s", card.page)
            st.error("This page's answer could not be built; open the page.",
                     icon=":material/error:")
            return
        st.markdown(text.answer)
        for col, m in zip(st.columns(len(text.metrics)), text.metrics):
            col.metric(m.label, m.value, delta=m.spread or None, delta_color="off",
                       delta_arrow="off", help=m.help or None)
        if text.note:  # what the numbers are and which way is "more", readable without hovering
            st.caption(text.note)


def _overview() -> None:
    """The page, as a viewer's session runs it."""
    ui.frame("Overview")
    st.title("Why does batch norm work? The lecture's claims, tested live")
    ui.explain("After the lecture *Why does batch norm work?* students ask for a concrete "
               "example of each claim. Every page trains real networks in JAX while you wait, "
               "batch norm and no batch norm side by side on the same seeds and the same "
               "batches, and puts what the lecture claims next to what the run measured and "
               "what the research papers found. Each card below gives its page's short answer, "
               "measured live at the page's default view: every number is a mean over seeds, "
               "with the range over the seeds under it.")

    # The card table; the experiment modules behind it are imported only when their numbers are
    # measured, below, after every card is on screen.
    from bnjax.experiments import overview

    # Once per server process, a background thread computes every page's default view into the
    # shared cache, so a viewer who opens a page straight away finds it ready (or nearly).
    overview.warm_up(ui.panels.warm)  # draws nothing; yields to every viewer


    st.markdown("#### Start here")
    basics = _card(overview.BASICS, st)
    st.markdown("#### The four questions, and one more: why not LayerNorm?")
    # Two cards a row: on a phone the rows stack in reading order (2, 3, 4, 5, ...), where two
    # long columns would stack as 2, 4, 7, 3, 5.
    rows = [st.columns(2) for _ in range((len(overview.CARDS) + 1) // 2)]
    cards = [(c, *_card(c, rows[i // 2][i % 2])) for i, c in enumerate(overview.CARDS)]
    # The Playground has no single answer: a link.
    playground = next(p for p in ui.PAGES if p.path.endswith("6_Playground.py"))
    if ui.page_exists(playground):  # the question as text: a link's label is cut on a phone
        st.markdown(f"**{playground.label}**: “{playground.question}”")
        st.page_link(playground.path, label="Open the playground", icon=playground.icon)

    # The words the cards' answers use, explained once (the pages explain the rest).
    ui.glossary("batch norm (BN)", "plain", "seed", "seed spread", "mini-batch", "x̂", "γ and β",
                "train mode", "eval mode", "population statistics", "drift", "affine", "W1",
                "gradient", "cosine similarity", "test accuracy", "training loss", "batch noise",
                "train/test gap", "confidence interval", "dropout", "ablation", "learning rate",
                "init gain", "good cell", label="Words on these cards")

    if not ui.lecture_mode():  # for the instructor, not for the projector
        st.markdown("#### How to use this in a lecture")
        st.markdown(
            "- **Ask first, then reveal.** Each card is one question students ask after the "
            "lecture. Let the room predict (\"what accuracy does a BN net get on test batches of "
            "one image?\"), then open the page.\n"
            "- **Presets are links.** Every page lists its comparisons as links under the "
            "controls: one click sets all the controls.\n"
            "- **The URL is the experiment.** Every control and the seed live in the address bar. "
            "Paste a page's URL into your slides and the same view, with the same numbers, comes "
            "back.\n"
            "- **Lecture mode** (sidebar) hides the narration and enlarges fonts and marks for "
            "screen-sharing.\n"
            "- **The first view of a setting trains live** (a progress bar shows it), on this "
            "server's CPUs; after that it is cached for everyone. Opening this Overview warms "
            "every page's default view in the background.\n"
            "- **A suggested path:** 1 (what BN computes, and what a test batch of one image does "
            "to it), 2 (the Ioffe & Szegedy figure, live), 3 (a concrete example of coupling, "
            "then Santurkar's gradient measure), 5 (the learning-rate × init landscape), 4 "
            "(batch noise on and off, and BN beside dropout), then the playground for "
            "questions from the floor.")

    # The numbers last: everything above is already on screen while they are measured.
    _fill(overview.BASICS, *basics)
    for card, answer, ready in cards:
        _fill(card, answer, ready)


@contextlib.asynccontextmanager
async def _server_lifespan(_app):
    """Once per server: after Streamlit's runtime starts, before the server answers anyone."""
    from ui import startup  # not at import time: `ui` creates caches, which need the runtime
    startup.run()  # imports JAX, Altair, the digits...: the first viewer doesn't wait for them
    yield


if __name__ == "__main__":  # a viewer's session: Streamlit runs this file as __main__
    import ui
    _overview()
else:  # `streamlit run dashboard.py` first imports this file to find the app it serves
    app = st.App(__file__, lifespan=_server_lifespan)
