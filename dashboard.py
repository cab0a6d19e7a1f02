"""The Overview: the four student questions, one card each, linking to the pages that answer them."""
import streamlit as st

import ui

ui.frame("Overview")
st.title("Why does batch norm work? Four claims, tested live")
ui.explain("After the lecture *Why does batch norm work?* students ask for a concrete example of "
           "each claim. Every page trains real networks in JAX while you wait, batch norm and no "
           "batch norm side by side on the same seeds, and puts what the lecture claims next to "
           "what the run measured and what the research papers found.")

cols = st.columns(2)
for i, page in enumerate(ui.PAGES[2:6]):
    with cols[i % 2].container(border=True):
        st.markdown(f"**{page.label}**")
        st.markdown(f"“{page.question}”")
        if ui.page_exists(page):
            st.page_link(page.path, label="Open the experiment", icon=page.icon)
        else:
            st.caption("This page is coming.")
st.markdown("**Also:**")
for page in (ui.PAGES[1], ui.PAGES[6]):
    if ui.page_exists(page):
        st.page_link(page.path, label=f"{page.label}: {page.question}", icon=page.icon)
    else:
        st.caption(f"{page.label}: coming.")
