"""AppTest: the app and its home page, every registered lab runs, and the shared live-training panel."""

import pytest

from models.core.registry import LABS
from tests.conftest import APP_TIMEOUT, assert_clean, job_of, open_page


def test_home_maps_the_lecture_to_every_lab():
    at = open_page()
    assert_clean(at)
    text = " ".join(m.value for m in at.markdown)
    assert "Navigate by slide" in " ".join(s.value for s in at.subheader)
    assert "Positional encoding" in text
    assert at.sidebar.toggle(key="presenter") is not None and at.sidebar.number_input(key="seed").value == 0


@pytest.mark.parametrize("lab", LABS, ids=[lab.key for lab in LABS])
def test_every_lab_page_runs(lab):
    at = open_page(lab.page)
    assert_clean(at)
    assert at.title[0].value == lab.title


def _two_live_trainings_script():
    """Two live panels, each training a small regression; the button of panel "b" sits below panel "a"."""
    import streamlit as st

    from pages import _ui
    from tests.models.core.test_engine import make_trainer

    _ui.live_training("a", lambda: make_trainer(steps=20), lambda run: st.write(f"a at {run.step}"))
    _ui.live_training("b", lambda: make_trainer(steps=20), lambda run: st.write(f"b at {run.step}"), "Start b")


def test_a_run_ending_between_reruns_does_not_swallow_another_click():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_two_live_trainings_script).run()
    at.button(key="a_start").click().run()
    assert job_of(at, "a").wait(APP_TIMEOUT)  # "a" ends in the pool, unseen by the page
    at.button(key="b_start").click().run()
    assert "b_job" in at.session_state and at.session_state["a_refresh"]  # the end is redrawn on the next tick
    assert any(m.value == "a at 20" for m in at.markdown)


def test_the_home_page_maps_every_section_including_those_without_a_lab():
    from models.core.registry import LECTURE_OUTLINE

    at = open_page()
    text = " ".join(m.value for m in at.markdown)
    for section in LECTURE_OUTLINE:
        assert section.title in text
    assert "Coming: TransUNet and SETR" not in text  # the segmentation lab shows them
    assert "Hybrid transformers for segmentation" in text


def test_user_text_is_escaped_for_markdown_and_nothing_else_changes():
    from pages._ui import literal

    text = "![p](http://x/b.png) <img src=x> :red[hi] *a* `c` $x$ plain words"
    escaped = literal(text)
    specials = [i for i, ch in enumerate(escaped) if ch in "![]()<>*`$:."]  # markup, LaTeX, autolinks
    assert specials and all(escaped[i - 1] == "\\" for i in specials)
    assert escaped.replace("\\", "") == text
    assert literal("plain words 12") == "plain words 12"
