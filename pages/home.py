"""Home: every section of the lecture mapped to the labs that turn it into experiments (or marked as coming),
each lab with a thumbnail, so a lecturer can navigate by slide."""

import streamlit as st

from models.core.registry import LECTURE_OUTLINE, labs_for
from pages import _ui

_ui.ensure_app_shell()
st.title("SeqLab: sequential models, live")
st.markdown(
    "Live experiments for the lecture *Sequential models: RNNs, attention & transformers*. Each lab trains or "
    "runs a small PyTorch model in front of you and shows what the slides describe. Every lab opens on a "
    "meaningful view, has a **Lecture** preset that reproduces its slide, and can be retrained live."
)

st.subheader("Navigate by slide")
for section in LECTURE_OUTLINE:
    covering = labs_for(section.slides)
    with st.container(border=True):
        st.markdown(f"**{section.title}**: {', '.join(section.slides)}")
        for lab in covering:
            thumbnail, text = st.columns([1, 4])
            screenshot = _ui.ASSETS / "screenshots" / f"{lab.key}.png"
            if screenshot.is_file():
                thumbnail.image(str(screenshot), width="stretch")
            text.page_link(lab.page, label=lab.title, icon=lab.icon)
            text.caption(lab.summary)
        if not covering:
            st.markdown(f":gray[Coming: {section.coming}.]")
