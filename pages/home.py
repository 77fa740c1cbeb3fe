"""Home: the lecture's outline mapped to the labs, so a lecturer can navigate by slide."""

import streamlit as st

from models.core.registry import LABS, LECTURE_OUTLINE, labs_for
from pages import _ui

_ui.ensure_app_shell()
st.title("SeqLab: sequential models, live")
st.markdown(
    "Live experiments for the lecture *Sequential models: RNNs, attention & transformers*. Each lab trains or "
    "runs a small PyTorch model in front of you and shows what the slides describe. Every lab opens on a "
    "meaningful view, has a **Lecture figure** preset that reproduces its slide, and can be retrained live."
)

st.subheader("Navigate by slide")
for section, slides in LECTURE_OUTLINE:
    covering = labs_for(slides)
    if not covering:
        continue
    with st.container(border=True):
        st.markdown(f"**{section}** — slides: {', '.join(slides)}")
        for lab in covering:
            st.page_link(lab.page, label=f"{lab.title}: {lab.summary}", icon=lab.icon)

st.subheader("All labs")
for lab in LABS:
    st.page_link(lab.page, label=lab.title, icon=lab.icon)
