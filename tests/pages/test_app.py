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


def _scored_run_script():
    """A live panel whose ended run is scored once per run; the score counts its computations."""
    import streamlit as st

    from pages import _ui
    from tests.models.core.test_engine import make_trainer

    st.session_state.setdefault("computed", 0)

    def score(run):
        st.session_state["computed"] += 1
        return run.step

    _ui.live_training("a", lambda: make_trainer(steps=20), lambda run: st.write(f"a at {run.step}"))
    ended = _ui.current_run("a")
    if ended is not None and ended.done:
        st.metric("score", _ui.ended_run_value("a", "score", score))


def test_an_ended_run_is_scored_once_per_run_however_often_the_page_reruns():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_scored_run_script).run()
    for run in (1, 2):
        at.button(key="a_start").click().run()
        job_of(at, "a", until="ended")
        at.run().run()
        assert at.metric[0].value == "20" and at.session_state["computed"] == run  # a new run: scored again


def test_a_queued_run_shows_its_place_not_a_chart_and_redraws_the_page_once_it_starts():
    from streamlit.testing.v1 import AppTest

    from pages._ui import job_pool
    from tests.models.core.test_jobs import slow_trainer

    blockers = [job_pool().submit(slow_trainer(seconds=0.05)) for _ in range(job_pool().workers)]
    at = AppTest.from_function(_two_live_trainings_script).run()
    at.button(key="a_start").click().run()
    job = at.session_state["a_job"]
    assert job.state == "queued" and any("position 1 in the queue" in i.value for i in at.info)
    assert not any(m.value.startswith("a at") for m in at.markdown)
    for blocker in blockers:
        blocker.stop()
    job_of(at, "a", until="ended")
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
