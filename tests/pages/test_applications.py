"""AppTest of the RNN applications lab page: the pretrained views at once, bad inputs as messages, the lecture presets,
settings without a checkpoint, links, presenter mode and live training."""

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import APP_TIMEOUT, ROOT, assert_clean, job_of

PAGE = ROOT / "pages" / "applications.py"


def open_lab(query: dict | None = None, **session_state) -> AppTest:
    """The page on its own (its views do not depend on the app's other pages), with a link's query and a state."""
    at = AppTest.from_file(str(PAGE), default_timeout=APP_TIMEOUT)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    for key, value in session_state.items():
        at.session_state[key] = value
    return at.run()


def _text(at) -> str:
    return " ".join(str(m.value) for m in [*at.markdown, *at.info, *at.caption])


def _charts(at) -> int:
    return len(at.get("plotly_chart"))


@pytest.fixture(scope="module")
def default_page() -> AppTest:
    return open_lab()


def test_the_page_opens_on_the_pretrained_models_of_all_three_experiments(default_page):
    at = default_page
    assert_clean(at)
    infos = [i.value for i in at.info]
    assert len(infos) == 3 and all("pretrained (" in i for i in infos)
    assert _charts(at) >= 13
    words = at.dataframe[0].value
    assert len(words) == 12 and set(words["in the lexicon?"]) <= {"training word", "held-out lexicon word", "new"}
    assert "(greedy): 'four two seven one nine' -> **42719**, right" in _text(at)
    for anchor in ("#language-model", "#encoder-decoder", "#convlstm"):
        assert f"]({anchor})" in _text(at)
    assert sum("How to read this" in c.value for c in at.caption) >= 10


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("app_lm_prefix", "ab1", "letters a-z"),
        ("app_lm_prefix", "日本", "letters a-z"),
        ("app_lm_prefix", "x" * 40, "at most"),
        ("app_lm_word", "", "type a word"),
        ("app_s2s_text", "", "type some digits"),
        ("app_s2s_text", "fünf", "ASCII"),
        ("app_s2s_text", "four twelve", "not: twelve"),
        ("app_s2s_text", "one " * 20, "at most"),
    ],
)
def test_a_bad_input_gets_a_message_and_the_rest_of_the_page_stays(default_page, key, value, message):
    at = default_page
    before = _charts(at)
    at.text_input(key=key).input(value).run()
    assert not at.exception
    assert any(message in e.value.replace("\\", "") for e in at.error), [e.value for e in at.error]  # as rendered
    assert _charts(at) >= before - 3  # only the views fed by that input are missing
    at.text_input(key=key).input({"app_lm_word": "learning", "app_s2s_text": "four two"}.get(key, "")).run()
    assert_clean(at)


def test_the_bottleneck_preset_shows_the_plain_model_failing_where_attention_succeeds():
    at = open_lab()
    at.button(key="app_p_many-to-many: the bottleneck").click().run()
    assert_clean(at)
    text = _text(at)
    assert "**encoder-decoder with attention** (greedy): 'three one four one five nine two six five three' -> " in text
    assert "**3141592653**, right" in text
    assert "**plain encoder-decoder** (greedy)" in text and "wrong (expected 3141592653)" in text
    at.radio(key="app_s2s_decode").set_value("teacher forcing").run()
    assert_clean(at)
    assert "(teacher forcing)" in _text(at)


def test_settings_without_a_checkpoint_show_fresh_models_scored_on_the_test_set():
    at = open_lab(app_vid_channels=4, app_vid_frames=6, app_lm_cell="gru", app_lm_hidden=16)
    assert_clean(at)
    infos = [i.value for i in at.info]
    assert "untrained" in infos[0] and "GRU" in infos[0] and "untrained" in infos[2]
    assert at.slider(key="app_vid_t").max == 5  # the scrubber stops where frame t + 1 exists


def test_a_link_sets_the_views_and_presenter_mode_keeps_the_page_whole():
    at = open_lab({"app_s2s_decode": "teacher forcing", "app_vid_video": "3"}, presenter=True)
    assert_clean(at)
    assert at.session_state["app_vid_video"] == 3
    assert "(teacher forcing)" in _text(at)
    assert _charts(at) >= 13


@pytest.mark.parametrize(
    ("prefix", "settings"),
    [
        ("app_lm", {"app_lm_hidden": 16, "app_lm_steps": 100}),
        ("app_s2s", {"app_s2s_hidden": 16, "app_s2s_steps": 100}),
        ("app_vid", {"app_vid_channels": 2, "app_vid_steps": 50}),
    ],
)
def test_live_training_starts_from_the_controls(prefix, settings):
    at = open_lab(**settings)
    at.button(key=f"{prefix}_start").click().run()
    assert_clean(at)
    trainer = job_of(at, prefix).snapshot
    assert trainer.step > 0 and trainer.config.steps == settings[f"{prefix}_steps"]
