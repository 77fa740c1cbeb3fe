"""SeqLab's entry point: page config, the navigation built from the lab registry, the shared sidebar."""

import gc

import streamlit as st

from models.core.registry import LABS
from pages import _ui
from pages._controls import CURRENT_PAGE

st.set_page_config(
    page_title="SeqLab",
    page_icon=":material/timeline:",
    layout="wide",
    initial_sidebar_state="collapsed" if _ui.presenter_mode() else "auto",
)

# Once per server, what is imported by now (torch, plotly, streamlit: 300 000 objects) leaves the collector's
# sight: a full collection (0.1-0.4 s with the GIL held, every page waiting) scans only what sessions made since,
# and forked training children do not copy those pages by collecting them.
if not gc.get_freeze_count():
    gc.freeze()
home = st.Page("pages/home.py", title="Lecture map", icon=":material/map:", default=True)
labs = [st.Page(lab.page, title=lab.title, icon=lab.icon, url_path=lab.key) for lab in LABS]
navigation = st.navigation({"SeqLab": [home], "Labs": labs})
_ui.sidebar()
st.session_state[CURRENT_PAGE] = navigation
navigation.run()
