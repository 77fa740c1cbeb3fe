"""AppTest of the attention lab: it renders, its widgets work, bad input gives a message, not a traceback."""

from __future__ import annotations

import pytest

from tests.conftest import assert_clean, job_of, open_page

PAGE = "pages/attention.py"


@pytest.fixture(scope="module")
def page():
    return open_page(PAGE)


def test_page_renders_every_tab(page):
    assert_clean(page)
    assert len(page.get("plotly_chart")) >= 10
    assert any("16 x 16" in m.value or "36" in m.value for m in page.markdown)


def test_bad_tokens_show_a_message():
    at = open_page(PAGE, attn_words="one")
    assert not at.exception
    assert any("between 2 and 12 tokens" in e.value for e in at.error)


def test_task_switch_and_bad_sequence():
    at = open_page(PAGE, attn_task="sort", attn_tokens_sort="1 2 x")
    assert not at.exception
    assert any("type exactly" in e.value for e in at.error)


def test_live_training_starts():
    at = open_page(PAGE, attn_train_steps=50)
    at.button(key="attn_start").click().run()
    assert_clean(at)
    assert job_of(at, "attn").snapshot.step > 0


def test_heads_that_do_not_divide_d_model_give_a_message():
    at = open_page(PAGE, attn_train_heads=3)
    at.button(key="attn_start").click().run()
    assert not at.exception
    assert any("must divide d_model" in e.value.replace("\\", "") for e in at.error)  # as rendered
    assert "attn_job" not in at.session_state


def test_lecture_figure_button_restores_the_slide_example():
    at = open_page(PAGE, attn_words="a b")
    at.button[0].click().run()
    assert_clean(at)
    assert at.session_state["attn_words"] == "the cat sat on the mat"


def test_the_heads_tab_names_the_per_head_scale_and_shows_how_heads_combine():
    at = open_page(PAGE)
    at.button(key="attn_p_multi-head attention").click().run()
    assert_clean(at)
    assert at.session_state["attn_task"] == "sort"
    text = " ".join(m.value for m in at.markdown)
    assert "\\sqrt{d_{head}}" in text and "d_{head} = d / h = 32 / 2 = 16" in text
    assert "differ by **0." in text  # the measured head difference, stated
    titles = " ".join(chart.proto.spec for chart in at.get("plotly_chart"))
    assert "concatenated (8 x 32)" in titles and "W_o (32 x 32)" in titles


def test_repeated_words_keep_their_own_rows():
    at = open_page(PAGE)
    titles = " ".join(chart.proto.spec for chart in at.get("plotly_chart"))
    assert "X  (6 x 4)" in titles and "1: the" in titles and "5: the" in titles
